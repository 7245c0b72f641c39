"""Output shapes and parameter counts of a chain of layers, with every formula filled in.

Shapes are channel-last as the sheets write them: H x W x C for images, L x C for sequences
(conv1d), N for flat vectors. Per spatial axis a convolution or pooling window gives
floor((n + 2p - d(k - 1) - 1) / s) + 1 outputs; p=same pads to ceil(n / s) (the extra
zero, for even windows, at the bottom/right) and p=valid means p=0. A conv layer with N
filters has N*(k*k*C + 1) parameters (weights plus one bias per filter; b=0 drops the bias).

A layer that is given no n= (conv, conv1d, dwsep, dense) keeps its filter or unit count as a
symbol n (n1, n2, ... when several do): its output depth is n and its parameters are a formula
in n, carried on by later layers (a dense layer after flatten sees 49*49*n inputs).

layers (options in brackets have defaults):
  conv:k=K[,n=N,s=1,p=0,d=1,b=1]      2-D convolution, N filters of K x K x C (alias conv2d)
  conv1d:k=K[,n=N,s=1,p=0,d=1,b=1]    1-D convolution over an L x C input
  dwsep:k=K[,n=N,s=1,p=0,d=1,b=1,db=b] depthwise-separable: one K x K filter per channel, then
                                      N pointwise 1 x 1 x C filters: C*(K*K + 1) + N*(C + 1)
                                      (db=0 drops the depthwise bias, as Keras' SeparableConv2D)
  depthwise:k=K[,m=1,s,p,d,b=1]       depthwise convolution, m filters per channel
  pool:k=K[,s=K,p=0]                  max pooling (alias maxpool); avgpool: average pooling
  gap / gmp                           global average / max pooling -> C
  upsample:f=2                        nearest-neighbour upsampling by f (s= is the same)
  flatten                             H x W x C -> H*W*C
  reshape:HxWxC                       a flat (or any) input rearranged, channel last (alias
                                      unflatten); H*W*C must equal the input's size
  dense[:n=N,b=1]                     fully connected (aliases fc, linear); needs a flat input
  bn                                  batch normalisation: 2*C trainable parameters (gamma, beta)
  relu, sigmoid, tanh, softmax, dropout   no parameters, shape unchanged

--check SHAPE[,params=P] compares a student's output shape (and total parameter count) with
the computed one and names the most likely slip: padding forgotten or put on one side only,
the +1 forgotten, ceil used for floor, the bias left out of the count, channels miscounted
(in every layer, or in one of the first 8 windowed or dense layers; chains of up to 60 layers).

limits: at most 1,000 layers; sizes, channel and filter counts up to 1,000,000,000; kernel,
stride, dilation, padding and upsampling factors up to 10,000.

examples:
  stridelab shape --input 50x50x1 conv:k=4,s=1,p=1,n=8 pool:k=2,s=2 flatten dense:n=10
  stridelab shape --input 50x50x1 conv:k=4,s=1,p=1 --check 49x49xn,params=17n
  stridelab shape --input 32x32x3 conv:k=3,p=same,n=16 relu dwsep:k=3,n=32 gap dense:n=10
  stridelab shape --input 2 dense:n=392 reshape:7x7x8 upsample:f=2 conv:k=3,p=1,n=4
  stridelab shape --input 100x4 conv1d:k=5,s=2,n=8 pool:k=2 flatten dense:n=1 --json
"""


from __future__ import annotations

import argparse

from stridelab.worked._render import add_format_arguments, emit
from stridelab.worked.shape.answer import ShapeAnswer, solve

# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--input",
        required=True,
        metavar="HxWxC",
        help="input shape, channel last: 50x50x1, 32x32x3; LxC for conv1d; N flat",
    )
    parser.add_argument(
        "layers",
        nargs="*",
        metavar="LAYER",
        help="layer specs such as conv:k=4,s=1,p=1,n=8 pool:k=2 flatten dense:n=10",
    )
    parser.add_argument(
        "--check",
        metavar="SHAPE[,params=P]",
        help="a student's output shape (and total parameter count) to check, e.g. 49x49x8 or "
        "49x49x8,params=136 (49x49xn,params=17n with an open filter count)",
    )
    add_format_arguments(parser)


def answer_from_args(args: argparse.Namespace) -> ShapeAnswer:
    """The answer for parsed ``add_arguments`` args (with the student check); prints nothing."""
    answer = solve(args.input, list(args.layers or []))
    if getattr(args, "check", None):
        answer.student_check = answer.check(args.check)
    return answer


def main(args: argparse.Namespace) -> int:
    answer = answer_from_args(args)
    emit(answer, args)
    return 0
