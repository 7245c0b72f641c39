"""Apply filters to a vector, a matrix or an image, with every product and sum written out.

Computes Y = X * K exactly (integers stay integers, 0.1 is 1/10) for each --kernel, prints
the padded input, the output size formula with the numbers substituted, the output, and
with --explain the products behind chosen output cells. Every answer is checked against
scipy.signal (and the NumPy engine) before it is printed.

Conventions: cross-correlation by default (what exercise sheets call "applying a filter");
--mode convolve rotates the kernel by 180 degrees first. Indices are (row, column), 0-based
unless --one-based. --padding same pads so that the output has ceil(n / stride) rows and
columns, the extra row/column (even kernels) going to the bottom/right.

1-D convolution: an input of one row ("1 2 3 4 5", no ';') with kernels of one row ("1 0 -1")
is a 1-D convolution, written in the TU Wien sheet's notation, z_k = sum_m w_m x_{k+m} + b
(x input, w filter, z output, b bias). Several channels of a 1-D input: --channels-first
reads each row as one channel, for the input and for literal kernels alike ("1 2 3; 4 5 6"
is 2 channels of length 3, "1 0; 0 1" a filter with 2 channels of length 2); "1 2 3 | 4 5 6"
says the same without the flag. Padding N puts N zeros at each end; 'L,R' zeros on the left
and right. --explain takes positions: 2 or '0;2'.

A convolution layer: --bias B (one per kernel, repeatable or comma list; a negative one as
--bias=-1) and --activation linear|relu|sigmoid|tanh give z = sum w*x + b and a = sigma(z);
linear and relu stay exact, sigmoid and tanh show the exact z and a float64 a.

Check your own answer: --check "MATRIX" (one per kernel, repeatable) compares a result you
computed with the right one cell by cell; for each wrong cell it shows the correct products
and their sum and the most likely slip (kernel flipped, window off by one, padding forgotten,
a sign, a product left out, ...). Decimals you round are accepted to the places you write.

Numbers: integers, decimals and fractions (3, -0.5, 1/9, 2e-3), finite and inside float64's
range; nan, inf and 1e400 are refused, as is a literal over 400 characters. Values with more
than 60 digits are read as float64 and the answer says it is not exact. Sizes are limited
(the refusal names the limit): 10,000 values per typed matrix, 20,000 cells of padded input,
200,000 products, 20,000 explained products; stride, dilation and padding <= 10,000; an
--image channel <= 4,194,304 padded cells and 40,000,000 multiply-adds per kernel.

Named kernels: sobel_x, sobel_y, prewitt_x, prewitt_y, laplace4, laplace8, gaussian5
(1-4-7-4-1 table / 273), box3, identity, sharpen. sobel_x = [-1 0 1; -2 0 2; -1 0 1] is
positive where the image gets brighter to the right, sobel_y where it gets brighter downwards.
A literal equal to one of them up to sign is named so ("1 0 -1; 2 0 -2; 1 0 -1" is -sobel_x).

examples:
  stridelab conv --input "8 2 9; 3 4 6; 5 9 3" --kernel "1 0 -1; 2 0 -2; 1 0 -1"
  stridelab conv --input "8 2 9; 3 4 6; 5 9 3" --kernel sobel_x --padding same --explain 0,1
  stridelab conv --input grid.csv --kernel laplace4 --stride 2 --padding 1 --json
  stridelab conv --input "1 2; 3 4 | 5 6; 7 8" --kernel "1 0; 0 1 | 0 1; 1 0"
  stridelab conv --input "1 2 3 4 5" --kernel "1 0 -1" --kernel "1 1 1" --bias 0,-1 \\
                 --activation relu --explain
  stridelab conv --input "1 2 3 4; 4 3 2 1" --channels-first --kernel "1 -1; 0 1" \\
                 --activation sigmoid --stride 2 --explain
  stridelab conv --input "8 2 9; 3 4 6; 5 9 3" --kernel sobel_x --padding same \\
                 --check "8 5 -8; 19 -5 -19; 22 -1 -22"
  stridelab conv --image camera --kernel sobel_x --kernel sobel_y --out edges.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked._args import positive_int, shorten
from stridelab.worked._figures import check_figure_path
from stridelab.worked._render import add_format_arguments, emit
from stridelab.worked.conv.answer import ConvAnswer
from stridelab.worked.conv.compute import ACTIVATIONS, check_activation
from stridelab.worked.conv.figure import plot
from stridelab.worked.conv.image import ImageAnswer, solve_image
from stridelab.worked.conv.inputs import read_input
from stridelab.worked.conv.padding import padding_numbers
from stridelab.worked.conv.solve import solve
from stridelab.worked.kernels import KERNELS, parse_kernel
from stridelab.worked.limits import MAX_DIGITS, MAX_WINDOW
from stridelab.worked.numbers import plural
from stridelab.worked.values import is_vector_text, read_text

# ---------------------------------------------------------------- command line


def load_image(name: str) -> np.ndarray:
    try:
        from stridelab.data.images import load_image
    except ImportError:
        raise ConfigError("--image needs stridelab.data.images, which is not installed") from None
    try:
        return np.asarray(load_image(name, gray=True), dtype=np.float64)
    except OSError as e:
        raise DataError(f"--image {shorten(name)}: cannot read it ({e.strerror or e})") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--input",
        action="append",
        metavar="MATRIX|FILE",
        help='rows split by ";", e.g. "8 2 9; 3 4 6; 5 9 3", or a CSV/whitespace file; '
        'channels split by "|" (or blank lines in a file); repeat for more channels. '
        'One row ("1 2 3 4 5") with one-row kernels is a 1-D convolution',
    )
    parser.add_argument(
        "--channels-first",
        action="store_true",
        help='1-D with channels: each row of --input and of a literal --kernel is one channel '
        '("1 2 3; 4 5 6" = 2 channels of length 3)',
    )
    parser.add_argument(
        "--image",
        metavar="NAME|PATH",
        help="an image instead of a matrix: a skimage.data name such as camera "
        "or astronaut, or a file; converted to gray in [0, 1]",
    )
    parser.add_argument(
        "--kernel",
        action="append",
        metavar="NAME|MATRIX",
        help='repeatable, one filter each: a literal such as "1 0 -1; 2 0 -2; 1 0 -1" '
        '(1-D: "1 0 -1") or a name: ' + ", ".join(KERNELS),
    )
    parser.add_argument(
        "--bias",
        action="append",
        metavar="B",
        help="a conv layer's bias, one per --kernel: repeatable or a comma list "
        "(a negative one as --bias=-1 or --bias=-1,0.5)",
    )
    parser.add_argument(
        "--activation",
        default="linear",
        metavar="|".join(ACTIVATIONS),
        help="a = sigma(z) after the bias (default linear); relu stays exact, sigmoid and tanh "
        "are float64",
    )
    parser.add_argument(
        "--padding",
        default="valid",
        metavar="valid|same|N",
        help="zero padding: valid (none, default), same (output ceil(n/stride)), "
        "N zeros per side, 'PH,PW' or 'top,bottom,left,right' (1-D: N at each end or "
        f"'left,right'); at most {MAX_WINDOW:,}",
    )
    parser.add_argument(
        "--stride", default="1", metavar="S",
        help=f"step of the window (default 1, at most {MAX_WINDOW:,})",
    )
    parser.add_argument(
        "--dilation", default="1", metavar="D",
        help=f"spacing between kernel taps (default 1, at most {MAX_WINDOW:,})",
    )
    parser.add_argument(
        "--mode",
        default="correlate",
        metavar="correlate|convolve",
        help="correlate (default: slide the kernel as written) or convolve "
        "(rotate it by 180 degrees first)",
    )
    parser.add_argument(
        "--explain",
        nargs="?",
        const="all",
        metavar="CELLS",
        help="write out the products for output cells, e.g. 0,1 or '0,1;2,2' (1-D: positions "
        "such as 2 or '0;2'); without a value: all cells",
    )
    parser.add_argument(
        "--one-based", action="store_true", help="count rows and columns from 1, as some sheets do"
    )
    parser.add_argument(
        "--check",
        action="append",
        metavar="MATRIX|FILE",
        help="your own result for the 1st --kernel (repeat for the next ones): each wrong "
        "value is shown with the right products and sum and the most likely slip",
    )
    parser.add_argument(
        "--out",
        metavar="FILE.png",
        help="write a figure of the input and outputs with colorbars "
        "(--image default: conv_<image>.png)",
    )
    parser.add_argument(
        "--digits",
        default="6",
        metavar="N",
        help=f"significant digits for non-exact numbers (default 6, at most {MAX_DIGITS})",
    )
    add_format_arguments(parser)


def answer_from_args(args: argparse.Namespace) -> ConvAnswer | ImageAnswer:
    """Build the answer from parsed ``add_arguments`` options; write the ``--out`` figure.

    Prints nothing: ``main`` (or a solution sheet) renders the returned answer. Every problem
    with the options is a one-line :class:`~stridelab.errors.StridelabError`, raised before
    any computation (paths and sizes are checked first).
    """
    digits = positive_int(getattr(args, "digits", 6), name="--digits", maximum=MAX_DIGITS)
    image, inputs = getattr(args, "image", None), getattr(args, "input", None)
    out = getattr(args, "out", None)
    checks = getattr(args, "check", None) or []
    channels_first = bool(getattr(args, "channels_first", False))
    if image and inputs:
        raise ConfigError("give either --input or --image, not both")
    if out:
        check_figure_path(out)
    common = dict(
        padding=getattr(args, "padding", "valid"),
        stride=getattr(args, "stride", 1),
        dilation=getattr(args, "dilation", 1),
        mode=str(getattr(args, "mode", "correlate")).strip().lower(),
        bias=getattr(args, "bias", None),
        activation=check_activation(getattr(args, "activation", "linear")),
    )
    kernel_specs = getattr(args, "kernel", None) or []
    if image:
        for flag, given in (("--check", checks), ("--channels-first", channels_first),
                            ("--explain", getattr(args, "explain", None) is not None)):
            if given:
                raise ConfigError(f"{flag} works on a typed --input matrix, not on --image")
        positive_int(common["stride"], name="--stride", maximum=MAX_WINDOW)
        positive_int(common["dilation"], name="--dilation", maximum=MAX_WINDOW)
        padding_numbers(common["padding"])  # before the image is loaded
        fig_path = out or f"conv_{Path(image).stem}.png"
        check_figure_path(fig_path)
        kernels = [parse_kernel(k) for k in kernel_specs]
        answer: ConvAnswer | ImageAnswer = solve_image(
            load_image(image), kernels, name=image, **common
        )
        answer.figure = str(plot(answer, fig_path))
    else:
        if not inputs:
            raise ConfigError('give --input "8 2 9; 3 4 6; 5 9 3" (or a file), or --image NAME')
        notes: list[str] = []
        X = read_input(inputs, channels_first=channels_first, notes=notes)
        kernels = [parse_kernel(k, channels_first=channels_first) for k in kernel_specs]
        vector = channels_first or all(is_vector_text(read_text(v, what="--input")[0])
                                       for v in inputs)
        answer = solve(
            X,
            kernels,
            ndim=1 if vector and all(k.size[0] == 1 for k in kernels) else 2,
            explain=getattr(args, "explain", None),
            one_based=bool(getattr(args, "one_based", False)),
            **common,
        )
        answer.notes[:0] = notes
        if len(checks) > len(answer.results):
            raise ConfigError(
                f"{len(checks)} --check values for {plural(len(answer.results), 'kernel')}: "
                "give one --check per --kernel, in order"
            )
        answer.student_checks = [answer.check(c, kernel=i) for i, c in enumerate(checks)]
        if out:
            answer.figure = str(plot(answer, out))
    answer.digits = digits
    return answer


def main(args: argparse.Namespace) -> int:
    answer = answer_from_args(args)
    extra = None
    if isinstance(answer, ConvAnswer) and answer.figure:
        extra = [f"Figure: `{answer.figure}`"]
    emit(answer, args, extra_lines=extra)
    return 0


__all__ = ["add_arguments", "answer_from_args", "main", "read_input"]
