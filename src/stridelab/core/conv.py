"""Convolution and transposed convolution in one, two and three dimensions.

There are two primitives, each the other's gradient:

* :func:`_convolve`: ``z = x ⋆ w``, the cross-correlation every deep-learning library calls
  convolution. Its input gradient ∂J/∂x is a *full* convolution of ∂J/∂z with the flipped
  filter, which is the transposed convolution of ∂J/∂z: that is what the backward pass calls.
* :func:`_convolve_transpose`: ``y = conv_transpose(x, w)``, the adjoint of a convolution
  (each input pixel spreads a copy of the filter, scaled by its value, onto the output). Its
  input gradient is the convolution of ∂J/∂y with the same filter.

Both compute with the same plan (:mod:`stridelab.core._conv_paths`): the convolution whose input
has the shape of x (for ``_convolve``) or of y (for ``_convolve_transpose``). conv1d is
conv2d with height 1 and conv2d is conv3d with depth 1; so are the transposed forms.

Padding
-------
``padding`` may be an int (all sides), one int per axis (both sides of it), the explicit
(before, after) of every axis — ``(top, bottom, left, right)`` in 2-D, ``(left, right)`` in 1-D,
``(front, back, top, bottom, left, right)`` in 3-D — ``"valid"`` (none) or ``"same"``. "same"
follows the TensorFlow/Keras rule for every kernel size, stride and dilation: along a side of
length n the output has ``ceil(n / stride)`` positions, the total padding is
``max((ceil(n / stride) − 1)·stride + dilation·(k − 1) + 1 − n, 0)`` and when it is odd the
extra row (column) goes to the bottom (right). A transposed convolution's padding crops its
output instead (as PyTorch's does), and has no "same".
"""

from __future__ import annotations

import numpy as np

from stridelab.core import _conv_paths, _window
from stridelab.core._window import as_tensor
from stridelab.core.tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d"]

_SPATIAL = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
_KERNEL = {1: "K", 2: "KH, KW", 3: "KD, KH, KW"}


# ---------------------------------------------------------------------- the two primitives


def _convolve(x: Tensor, w: Tensor, bias: Tensor | None, plan, op: str) -> Tensor:
    """z = x ⋆ w (+ bias) for x (N, C, D, H, W), w (F, C/G, KD, KH, KW) -> (N, F, OD, OH, OW).

    ``z[n, f, i] = bias[f] + Σ_{c, t} w[f, c, t] · xp[n, g·C/G + c, i·s + t·d]`` over the kernel
    taps t, with xp the padded x and g the group of filter f.
    """
    L = plan.prepare(x.data)                                            # x padded, GEMM-ready
    wm = plan.weight_matrix(w.data)                                     # (G, F/G, C/G·KD·KH·KW)
    z = np.empty(plan.out_shape, dtype=np.result_type(x.data, w.data))  # (N, F, OD, OH, OW)
    b = None if bias is None else bias.data
    for part in plan.chunks:
        plan.correlate_into(wm, plan.blocks(L, part), z[part], b)
    out = Tensor._make(z, (x, w) if bias is None else (x, w, bias), op)

    def _backward(g):                                                   # g: (N, F, OD, OH, OW)
        if bias is not None:
            bias._add_grad(g.sum(axis=(0, 2, 3, 4)))                    # (F,)
        dw = np.zeros((plan.G, plan.K, plan.F // plan.G), z.dtype) if w.requires_grad else None
        dL = plan.input_buffer() if x.requires_grad else None
        for part in plan.chunks:
            gm = plan.dz(g, part)
            if dw is not None:      # ∂J/∂w: the input correlated with ∂J/∂z
                dw += plan.weight_grad(plan.cols(L, part), gm)
            if dL is not None:      # ∂J/∂x: ∂J/∂z through the transposed convolution
                plan.transpose_into(gm, w.data, dL, part)
        if dw is not None:
            w._add_grad(dw.transpose(0, 2, 1).reshape(w.shape))         # (F, C/G, KD, KH, KW)
        if dL is not None:
            x._add_grad(plan.finish(dL))                                # (N, C, D, H, W)

    out._backward = _backward
    return out


def _convolve_transpose(x: Tensor, w: Tensor, bias: Tensor | None, plan, op: str) -> Tensor:
    """y = the transposed convolution of x with w (+ bias): the adjoint of ``plan``.

    ``plan`` is the convolution from y's shape (N, C, D, H, W) to x's shape (N, F, OD, OH,
    OW) with kernel w (F, C/G, KD, KH, KW) (PyTorch's layout for a transposed convolution:
    input channels first). ``yp[n, g·C/G + c, i·s + t·d] += w[f, c, t] · x[n, f, i]`` for every
    input position i, filter f and tap t; y is yp cropped by the padding.
    """
    xe = _extend(x.data, plan.out)                                      # (N, F, OD, OH, OW)
    buf = plan.input_buffer()
    for part in plan.chunks:
        plan.transpose_into(plan.dz(xe, part), w.data, buf, part)
    y = plan.finish(buf)                                                # (N, C, D, H, W)
    y = np.ascontiguousarray(y) if bias is None else y + bias.data.reshape(1, -1, 1, 1, 1)
    out = Tensor._make(y, (x, w) if bias is None else (x, w, bias), op)

    def _backward(g):                                                   # g: (N, C, D, H, W)
        if bias is not None:
            bias._add_grad(g.sum(axis=(0, 2, 3, 4)))                    # (C,)
        L = plan.prepare(g)
        wm = plan.weight_matrix(w.data)
        dx = np.empty(plan.out_shape, dtype=g.dtype) if x.requires_grad else None
        dw = np.zeros((plan.G, plan.K, plan.F // plan.G), g.dtype) if w.requires_grad else None
        for part in plan.chunks:
            cols = plan.cols(L, part) if dw is not None or plan.blocks_are_cols else None
            if dx is not None:      # ∂J/∂x: ∂J/∂y convolved with w
                blocks = cols if plan.blocks_are_cols else plan.blocks(L, part)
                plan.correlate_into(wm, blocks, dx[part], None)
            if dw is not None:      # ∂J/∂w: ∂J/∂y correlated with x
                dw += plan.weight_grad(cols, plan.dz(xe, part))
        plan.forget(L)
        if dx is not None:
            x._add_grad(dx[tuple(slice(0, n) for n in x.shape)])
        if dw is not None:
            w._add_grad(dw.transpose(0, 2, 1).reshape(w.shape))

    out._backward = _backward
    return out


def _extend(x: np.ndarray, size) -> np.ndarray:
    """x (N, F, *S) zero-extended at the end of each axis to spatial ``size`` (>= S).

    A transposed convolution whose output padding is at least its stride (allowed when the
    dilation is larger) has inputs that no output position of its convolution reads.
    """
    if tuple(x.shape[2:]) == tuple(size):
        return x
    out = np.zeros((*x.shape[:2], *size), dtype=x.dtype)
    out[tuple(slice(0, n) for n in x.shape)] = x
    return out


# ---------------------------------------------------------------------- checks


def _check_args(op: str, x: Tensor, w: Tensor, bias: Tensor | None, d: int, groups,
                transposed: bool) -> None:
    """The checks every convolution shares, on the op's own (unreshaped) shapes."""
    what = "(C, F/groups, " if transposed else "(F, C/groups, "
    if x.ndim != d + 2:
        raise ValueError(f"{op}: x must have shape {_SPATIAL[d]}, got x shape {x.shape}")
    if w.ndim != d + 2:
        raise ValueError(f"{op}: w must have shape {what}{_KERNEL[d]}), got w shape {w.shape}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be an int >= 1, got groups={groups!r}")
    C = x.shape[1]
    if transposed:
        F = w.shape[1] * groups
        if C % groups:
            raise ValueError(f"{op}: groups={groups} must divide the input channels C={C} "
                             f"(x shape {x.shape})")
        if w.shape[0] != C:
            raise ValueError(
                f"{op}: channel mismatch: x has C={C} channels (x shape {x.shape}) but w has "
                f"{w.shape[0]} input channels (w shape {w.shape}; a transposed convolution's "
                "w is (C, F/groups, ...))")
    else:
        F, Cg = w.shape[0], w.shape[1]
        if C % groups or F % groups:
            raise ValueError(
                f"{op}: groups={groups} must divide the input channels C={C} (x shape "
                f"{x.shape}) and the filters F={F} (w shape {w.shape})")
        if Cg * groups != C:
            raise ValueError(
                f"{op}: channel mismatch: x has C={C} channels (x shape {x.shape}) but w "
                f"expects C/groups={Cg} x groups={groups} = {Cg * groups} (w shape {w.shape})")
    if bias is not None and bias.shape != (F,):
        raise ValueError(
            f"{op}: bias must have shape ({F},), one value per output channel, got bias shape "
            f"{bias.shape} (w shape {w.shape})")
    for name, t in (("x", x), ("w", w), ("bias", bias)):
        if t is not None:
            _window.check_finite(t, name, op)


def _args(x, w, bias):
    return as_tensor(x), as_tensor(w), None if bias is None else as_tensor(bias)


# ---------------------------------------------------------------------- convolution


def _conv(op: str, d: int, x, w, bias, stride, padding, dilation, groups, mode) -> Tensor:
    """A d-dimensional convolution, checked, computed in three dimensions."""
    x, w, bias = _args(x, w, bias)
    if mode not in ("correlate", "convolve"):
        raise ValueError(f"{op}: mode must be 'correlate' or 'convolve', got mode={mode!r}")
    _check_args(op, x, w, bias, d, groups, transposed=False)
    stride = _window.int_tuple(stride, d, "stride", op)
    dilation = _window.int_tuple(dilation, d, "dilation", op)
    kernel = w.shape[2:]
    pads = _window.resolve_padding(padding, x.shape[2:], kernel, stride, dilation, op)
    _window.check_window_fits(op, x.shape, pads, kernel, dilation, f"kernel (w shape {w.shape})")
    if mode == "convolve":
        w = w[(Ellipsis, *(slice(None, None, -1),) * d)]
    x3 = x.reshape(_window.shape_to_3d(x.shape, d))                     # (N, C, D, H, W)
    w3 = w.reshape(_window.shape_to_3d(w.shape, d))                     # (F, C/G, KD, KH, KW)
    plan = _conv_paths.plan(x3.shape, w3.shape, _window.pads_to_3d(pads),
                            _window.to_3d(stride, 1), _window.to_3d(dilation, 1), int(groups),
                            np.result_type(x.data, w.data))
    out = _convolve(x3, w3, bias, plan, op)                             # (N, F, OD, OH, OW)
    return out.reshape(out.shape[:2] + out.shape[5 - d:])


def conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, groups: int = 1,
           mode: str = "correlate") -> Tensor:
    """2-D convolution layer (cross-correlation, as in every deep-learning library).

    ``out[n, f, i, j] = bias[f] + Σ_{c, a, b} w[f, c, a, b] · xp[n, g·C/G + c, i·sh + a·dh,
    j·sw + b·dw]`` where xp is x padded and g the group of filter f.

    Parameters
    ----------
    x : Tensor or ndarray of shape (N, C, H, W)
    w : Tensor or ndarray of shape (F, C/groups, KH, KW)
    bias : Tensor or ndarray of shape (F,), optional
    stride, dilation : int or (int, int), each >= 1
    padding : int, (ph, pw), (top, bottom, left, right), "valid" or "same"
        "same" is the TensorFlow/Keras rule (see the module docstring).
    groups : int
        Input and output channels are split into this many independent groups;
        ``groups = C`` with F = C·m is a depthwise convolution.
    mode : {"correlate", "convolve"}
        "convolve" flips the kernel (a true convolution).

    Returns
    -------
    Tensor of shape (N, F, OH, OW), ``OH = (H + top + bottom − dh·(KH − 1) − 1) // sh + 1``.

    Notes
    -----
    Backward is itself made of convolutions:

    * dW is the padded input cross-correlated with dZ (dZ plays the kernel, its dilation is the
      stride): ``dW[f, c, a, b] = Σ_{n,i,j} xp[n, c, i·sh + a·dh, j·sw + b·dw] · dZ[n, f, i, j]``;
    * dX is dZ (spread out by the stride) fully convolved with the flipped kernel, with the
      roles of F and C exchanged: ``dXp[n, c, p, q] = Σ_{f,a,b} W[f, c, a, b] ·
      dZ[n, f, (p − a·dh)/sh, (q − b·dw)/sw]`` (terms with non-integer indices are zero).
      That is the transposed convolution of dZ with W: ``dX = conv_transpose2d(dZ, W,
      stride, padding, dilation=dilation, groups=groups)`` with the output padding that
      gives back x's size, and it is what the engine computes.

    The engine computes dW with one GEMM on the im2col matrix of the input, and dX with one
    GEMM followed by a sum over the kernel taps (:mod:`stridelab.core._conv_paths`); all run
    over chunks of the batch. The naive loops in :mod:`stridelab.core.reference` write both out
    literally and the tests check that all of them agree.

    Raises
    ------
    ValueError
        On a channel mismatch, groups not dividing the channels, a kernel larger than the
        padded input, stride or dilation < 1, a bad padding or NaN/Inf in an input.
    """
    return _conv("conv2d", 2, x, w, bias, stride, padding, dilation, groups, mode)


def conv1d(x, w, bias=None, stride=1, padding=0, dilation=1, groups: int = 1,
           mode: str = "correlate") -> Tensor:
    """1-D convolution layer: :func:`conv2d` on inputs of height 1.

    Parameters
    ----------
    x : Tensor or ndarray of shape (N, C, L)
    w : Tensor or ndarray of shape (F, C/groups, K)
    bias : Tensor or ndarray of shape (F,), optional
    stride, dilation : int >= 1
    padding : int, (left, right), "valid" or "same" (TensorFlow/Keras rule)
    groups, mode : as in :func:`conv2d`

    Returns
    -------
    Tensor of shape (N, F, OL), ``OL = (L + left + right − d·(K − 1) − 1) // stride + 1``.
    """
    return _conv("conv1d", 1, x, w, bias, stride, padding, dilation, groups, mode)


def conv3d(x, w, bias=None, stride=1, padding=0, dilation=1, groups: int = 1,
           mode: str = "correlate") -> Tensor:
    """3-D convolution layer, for volumes and video clips (depth = frames).

    ``out[n, f, i, j, k] = bias[f] + Σ_{c,e,a,b} w[f, c, e, a, b] · xp[n, g·C/G + c,
    i·sd + e·dd, j·sh + a·dh, k·sw + b·dw]``.

    Parameters
    ----------
    x : Tensor or ndarray of shape (N, C, D, H, W)
    w : Tensor or ndarray of shape (F, C/groups, KD, KH, KW)
    bias : Tensor or ndarray of shape (F,), optional
    stride, dilation : int or (int, int, int), each >= 1
    padding : int, (pd, ph, pw), (front, back, top, bottom, left, right), "valid" or "same"
    groups, mode : as in :func:`conv2d`

    Returns
    -------
    Tensor of shape (N, F, OD, OH, OW), each size as in :func:`conv2d`.
    """
    return _conv("conv3d", 3, x, w, bias, stride, padding, dilation, groups, mode)


# ---------------------------------------------------------------------- transposed convolution


def _conv_transpose(op: str, d: int, x, w, bias, stride, padding, output_padding, groups,
                    dilation) -> Tensor:
    """A d-dimensional transposed convolution, checked, computed in three dimensions."""
    x, w, bias = _args(x, w, bias)
    _check_args(op, x, w, bias, d, groups, transposed=True)
    stride = _window.int_tuple(stride, d, "stride", op)
    dilation = _window.int_tuple(dilation, d, "dilation", op)
    output_padding = _window.int_tuple(output_padding, d, "output_padding", op, minimum=0)
    kernel = w.shape[2:]
    crop = _window.resolve_padding(padding, x.shape[2:], kernel, stride, dilation, op,
                                   allow_same=False)
    for i in range(d):
        if output_padding[i] >= max(stride[i], dilation[i]):
            raise ValueError(
                f"{op}: output_padding must be smaller than the stride or the dilation on "
                f"every axis, got output_padding={output_padding}, stride={stride}, "
                f"dilation={dilation}")
    # The output is the input of the convolution that this op is the adjoint of.
    size = tuple((x.shape[2 + i] - 1) * stride[i] - crop[2 * i] - crop[2 * i + 1]
                 + dilation[i] * (kernel[i] - 1) + output_padding[i] + 1 for i in range(d))
    if min(size) < 1:
        raise ValueError(
            f"{op}: the output would have size {_window._size(size)} (x shape {x.shape}, "
            f"kernel {tuple(kernel)}, stride {stride}, padding {crop}); crop less")
    groups = int(groups)
    F_out = w.shape[1] * groups
    x3 = x.reshape(_window.shape_to_3d(x.shape, d))                     # (N, C, D, H, W)
    w3 = w.reshape(_window.shape_to_3d(w.shape, d))                     # (C, F/G, KD, KH, KW)
    y_shape = _window.shape_to_3d((x.shape[0], F_out, *size), d)
    plan = _conv_paths.plan(y_shape, w3.shape, _window.pads_to_3d(crop),
                            _window.to_3d(stride, 1), _window.to_3d(dilation, 1), groups,
                            np.result_type(x.data, w.data))
    out = _convolve_transpose(x3, w3, bias, plan, op)
    return out.reshape(out.shape[:2] + out.shape[5 - d:])


_TRANSPOSE_DOC = """{d}-D transposed convolution (PyTorch's ``conv_transpose{d}d``).

    The adjoint of :func:`conv{d}d`: every input position spreads a copy of the kernel,
    scaled by its value, onto the output, ``stride`` apart; overlapping copies add. It is what
    a convolution's input gradient is (∂J/∂x is ∂J/∂z transposed-convolved with w, see
    :func:`conv2d`) and what convolutional decoders upsample with.

    Parameters
    ----------
    x : Tensor or ndarray of shape {x_shape}
    w : Tensor or ndarray of shape (C, F/groups, {kernel})
        PyTorch's layout: input channels first.
    bias : Tensor or ndarray of shape (F,), optional
    stride, dilation : int or one int per axis, each >= 1
    padding : int, one int per axis, or (before, after) per axis
        Rows and columns cropped from the output (a transposed convolution undoes the padding
        of the convolution it transposes); "valid" is 0.
    output_padding : int or one int per axis, each smaller than the stride or the dilation
        Extra positions at the end of each axis, to reach an output size that a strided
        convolution maps onto the same input size.
    groups : int

    Returns
    -------
    Tensor of shape (N, F, {out_names}), along each axis ``(n − 1)·stride − before − after
    + dilation·(k − 1) + output_padding + 1``.
    """


def conv_transpose1d(x, w, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Tensor:
    return _conv_transpose("conv_transpose1d", 1, x, w, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose2d(x, w, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Tensor:
    return _conv_transpose("conv_transpose2d", 2, x, w, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose3d(x, w, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Tensor:
    return _conv_transpose("conv_transpose3d", 3, x, w, bias, stride, padding, output_padding,
                           groups, dilation)


for _d, _fn in ((1, conv_transpose1d), (2, conv_transpose2d), (3, conv_transpose3d)):
    _fn.__doc__ = _TRANSPOSE_DOC.format(d=_d, x_shape=_SPATIAL[_d], kernel=_KERNEL[_d],
                                        out_names={1: "OL", 2: "OH, OW", 3: "OD, OH, OW"}[_d])
