"""Max and average pooling in one, two and three dimensions, and max unpooling.

Pooling reads through the same sliding window as convolution (:func:`_window.windows`), in
three spatial dimensions: a 2-D pool is the 3-D one with depth 1, a 1-D pool the 2-D one with
height 1. The options are PyTorch's:

* ``padding``: at most half the kernel per side, so that no window lies entirely in the
  padding; padded positions hold −inf (max) or 0 (average). Besides PyTorch's int or one
  int per axis, the explicit (before, after) of every axis and "same" are accepted, as for
  convolutions.
* ``ceil_mode``: the output size rounds up, so a last, partial window covers the input's end
  (but a window that would start in the end padding is dropped, as in PyTorch).
* ``dilation`` (max): the window's taps are ``dilation`` apart.
* ``count_include_pad`` (average): whether padded positions count in the divisor. Positions
  beyond the padding that a ``ceil_mode`` window reaches never count.
* ``return_indices`` (max): also return, per output, the flat index of its maximum within
  the input's (D, H, W) plane (``h·W + w`` in 2-D), which :func:`max_unpool2d` reads.

Integer inputs are taken as PyTorch takes them: max pooling accepts them (the engine holds
them as float64, exactly: the maxima are the integers PyTorch returns); average pooling
accepts int64 and truncates the mean toward zero as PyTorch's integer kernel does, and refuses
the other integer types, as PyTorch does; boolean inputs are refused. (PyTorch's max_pool1d
lacks an integer kernel unless ``return_indices=True``; the engine accepts them either way.)
NaN and ±inf pass through max pooling as in PyTorch: a NaN is the maximum of its window.
"""

from __future__ import annotations

import math

import numpy as np

from stridelab.core import _window
from stridelab.core.tensor import Tensor

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "max_unpool1d", "max_unpool2d", "max_unpool3d"]

_SPATIAL = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


# ---------------------------------------------------------------------- arguments


def _input(x, op: str, kind: str) -> tuple[Tensor, bool]:
    """x as a Tensor, and whether PyTorch would pool it as int64 (average pooling truncates)."""
    if isinstance(x, Tensor):
        return x, False
    arr = np.asarray(x)
    if arr.dtype == bool:
        raise ValueError(f"{op}: x is boolean; pooling takes numbers (as PyTorch's does)")
    truncate = False
    if np.issubdtype(arr.dtype, np.integer) and kind == "avg":
        if arr.dtype != np.int64:
            raise ValueError(
                f"{op}: x has dtype {arr.dtype}; average pooling of integers is defined for "
                "int64 only (PyTorch refuses the others); convert x to float or int64")
        truncate = True
    return Tensor(arr), truncate


def _pool_size(n: int, k: int, s: int, before: int, after: int, d: int, ceil: bool) -> int:
    """Window positions along one axis (PyTorch's pooling_output_shape, any padding)."""
    span = d * (k - 1) + 1
    out = (n + before + after - span + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + before:       # a last window starting in the end padding
        out -= 1
    return out


class _Pool:
    """A checked pooling geometry in the op's own dims, with its 3-D form.

    ``pads`` are the padding (before, after) per axis; ``reach`` adds, at the end of each
    axis, the positions that ``ceil_mode`` windows read beyond the padding.
    """

    def __init__(self, op: str, d: int, x: Tensor, kernel_size, stride, padding, dilation,
                 ceil_mode: bool):
        if x.ndim != d + 2:
            raise ValueError(f"{op}: x must have shape {_SPATIAL[d]}, got x shape {x.shape}")
        kernel = _window.int_tuple(kernel_size, d, "kernel_size", op)
        stride = kernel if stride is None else _window.int_tuple(stride, d, "stride", op)
        dilation = _window.int_tuple(dilation, d, "dilation", op)
        pads = _window.resolve_padding(padding, x.shape[2:], kernel, stride, dilation, op)
        if any(pads[2 * i] > kernel[i] // 2 or pads[2 * i + 1] > kernel[i] // 2
               for i in range(d)):
            raise ValueError(
                f"{op}: padding {pads} must be at most half the kernel {kernel} on every "
                "side, so that no window lies entirely in the padding (PyTorch's rule)")
        _window.check_window_fits(op, x.shape, pads, kernel, dilation, f"kernel {kernel}")
        size = x.shape[2:]
        self.out = tuple(_pool_size(size[i], kernel[i], stride[i], pads[2 * i], pads[2 * i + 1],
                                    dilation[i], bool(ceil_mode)) for i in range(d))
        reach = [max(0, (o - 1) * s + dl * (k - 1) + 1 - (n + b + a))
                 for o, s, dl, k, n, b, a in zip(self.out, stride, dilation, kernel, size,
                                                 pads[0::2], pads[1::2])]
        self.d, self.size, self.pads = d, tuple(size), pads
        self.kernel3 = _window.to_3d(kernel, 1)
        self.stride3 = _window.to_3d(stride, 1)
        self.dilation3 = _window.to_3d(dilation, 1)
        self.pads3 = _window.pads_to_3d(pads)
        self.reach3 = _window.pads_to_3d([p for r in reach for p in (0, r)])
        # the padding as applied: the end padding grows by the ceil-mode reach
        self.applied3 = tuple(p + r for p, r in zip(self.pads3, self.reach3))
        self.size3 = _window.to_3d(size, 1)

    def x3(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(_window.shape_to_3d(x.shape, self.d))        # (N, C, D, H, W)

    def own(self, a: np.ndarray) -> np.ndarray:
        """A (N, C, OD, OH, OW) array in the op's own dims."""
        return a.reshape(a.shape[:2] + a.shape[5 - self.d:])


# ---------------------------------------------------------------------- max pooling


def _max_pool(op: str, d: int, x, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices):
    x, _ = _input(x, op, "max")
    pool = _Pool(op, d, x, kernel_size, stride, padding, dilation, ceil_mode)
    xp = _window.pad(pool.x3(x.data), pool.applied3, value=-np.inf)    # (N, C, Dp, Hp, Wp)
    win = _window.windows(xp, pool.kernel3, pool.stride3, pool.dilation3)
    N, C, *O = win.shape[:5]
    flat = win.reshape(N, C, *O, -1)                                    # copy: (…, KD·KH·KW)
    tap = flat.argmax(axis=-1)                                          # (N, C, OD, OH, OW)
    value = np.take_along_axis(flat, tap[..., None], axis=-1)[..., 0]
    coords = _winner_coords(tap, pool)                                  # padded (d, h, w)
    out = Tensor._make(pool.own(value), (x,), op)

    def _backward(g):                                                   # g: (N, C, *out)
        # each window's gradient goes to its maximum; overlapping windows add up
        Dp, Hp, Wp = xp.shape[2:]
        at = (np.arange(N * C).reshape(N, C, 1, 1, 1) * Dp + coords[0]) * Hp + coords[1]
        at = at * Wp + coords[2]
        dxp = np.bincount(at.ravel(), weights=g.ravel(), minlength=xp.size)
        dx = _window.unpad(dxp.reshape(xp.shape), pool.applied3)
        x._add_grad(dx.reshape(x.shape).astype(x.dtype, copy=False))

    out._backward = _backward
    if not return_indices:
        return out
    D, H, W = pool.size3
    index = ((coords[0] - pool.pads3[0]) * H + coords[1] - pool.pads3[2]) * W \
        + coords[2] - pool.pads3[4]
    return out, pool.own(index.astype(np.int64))


def _winner_coords(tap: np.ndarray, pool: _Pool) -> list[np.ndarray]:
    """Padded (d, h, w) coordinates of each window's chosen tap.

    A window whose maximum is −inf may have chosen a padded position; PyTorch's index (and
    gradient) then goes to the window's first position inside the input, and so does ours.
    """
    taps = np.unravel_index(tap, pool.kernel3)
    coords, first, inside = [], [], np.ones(tap.shape, bool)
    for axis in range(3):
        s, dl, k = pool.stride3[axis], pool.dilation3[axis], pool.kernel3[axis]
        before, n = pool.pads3[2 * axis], pool.size3[axis]
        start = np.arange(tap.shape[2 + axis]) * s                      # window starts
        shape = [1] * 5
        shape[2 + axis] = -1
        start = start.reshape(shape)
        c = start + taps[axis] * dl
        inside &= (c >= before) & (c < before + n)
        # the first tap of the window that lands inside the input along this axis
        t0 = np.clip(-(-(before - start) // dl), 0, k - 1)
        coords.append(c)
        first.append(start + t0 * dl)
    if not inside.all():
        coords = [np.where(inside, c, np.broadcast_to(f, c.shape)) for c, f in zip(coords, first)]
    return [np.broadcast_to(c, tap.shape) for c in coords]


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Maximum over each (KH, KW) window.

    Parameters
    ----------
    x : Tensor or ndarray of shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), default kernel_size
    padding : int, pair, (top, bottom, left, right), "valid" or "same"; padded positions
        hold −inf, so they are never the maximum. At most half the kernel per side.
    dilation : int or (int, int)
        Distance between the window's taps.
    ceil_mode : bool
        Round the output size up (see the module docstring).
    return_indices : bool
        Also return the (N, C, OH, OW) int64 array of each maximum's flat index ``h·W + w``.

    Returns
    -------
    Tensor of shape (N, C, OH, OW), and the indices if asked for. The gradient goes to the
    first maximum of each window (PyTorch's choice too).
    """
    return _max_pool("max_pool2d", 2, x, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Maximum over each window of length K: :func:`max_pool2d` on inputs of height 1.

    x: (N, C, L) -> (N, C, OL); padding is an int, (left, right), "valid" or "same"; indices
    index the length.
    """
    return _max_pool("max_pool1d", 1, x, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Maximum over each (KD, KH, KW) window: x (N, C, D, H, W) -> (N, C, OD, OH, OW).

    Arguments as in :func:`max_pool2d`, one value per axis (padding also (pd, ph, pw) or the
    explicit (front, back, top, bottom, left, right)); indices are ``d·H·W + h·W + w``.
    """
    return _max_pool("max_pool3d", 3, x, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


# ---------------------------------------------------------------------- average pooling


def _avg_pool(op: str, d: int, x, kernel_size, stride, padding, ceil_mode,
              count_include_pad) -> Tensor:
    x, truncate = _input(x, op, "avg")
    _window.check_finite(x, "x", op)
    pool = _Pool(op, d, x, kernel_size, stride, padding, 1, ceil_mode)
    xp = _window.pad(pool.x3(x.data), pool.applied3)                    # (N, C, Dp, Hp, Wp)
    win = _window.windows(xp, pool.kernel3, pool.stride3, (1, 1, 1))    # (N, C, O…, K…)
    divisor = _divisor(pool, bool(count_include_pad)).astype(xp.dtype)  # (OD, OH, OW)
    mean = win.sum(axis=(5, 6, 7)) / divisor
    if truncate:
        mean = np.trunc(mean)                       # PyTorch's int64 mean rounds toward zero
    out = Tensor._make(pool.own(mean), (x,), op)

    def _backward(g):                                                   # g: (N, C, *out)
        share = (g.reshape(mean.shape) / divisor)[..., None, None, None]
        dwin = np.broadcast_to(share, win.shape)                        # (N, C, O…, K…)
        dxp = _window.fold(dwin, xp.shape, pool.stride3, (1, 1, 1))
        x._add_grad(_window.unpad(dxp, pool.applied3).reshape(x.shape))

    out._backward = _backward
    return out


def _divisor(pool: _Pool, count_include_pad: bool) -> np.ndarray:
    """How many positions each window averages over: (OD, OH, OW).

    Along each axis, a window counts the positions inside the padded input (with
    ``count_include_pad``) or inside the input itself; the divisor is the product.
    """
    counts = []
    for axis in range(3):
        k, s, n = pool.kernel3[axis], pool.stride3[axis], pool.size3[axis]
        before, after = pool.pads3[2 * axis], pool.pads3[2 * axis + 1]
        lo, hi = (0, before + n + after) if count_include_pad else (before, before + n)
        o = _window.out_size((pool.size3[axis] + sum(pool.applied3[2 * axis:2 * axis + 2]),),
                             (k,), (s,), (1,))[0]
        start = np.arange(o) * s
        counts.append(np.minimum(start + k, hi) - np.maximum(start, lo))
    return counts[0][:, None, None] * counts[1][None, :, None] * counts[2][None, None, :]


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over each (KH, KW) window.

    Padded positions count as zeros and, by default, in the divisor (PyTorch's
    ``count_include_pad=True``); with ``count_include_pad=False`` a window divides by the
    number of its positions inside the input. Arguments and shapes as in :func:`max_pool2d`.
    """
    return _avg_pool("avg_pool2d", 2, x, kernel_size, stride, padding, ceil_mode,
                     count_include_pad)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over each window of length K: x (N, C, L) -> (N, C, OL); see :func:`avg_pool2d`."""
    return _avg_pool("avg_pool1d", 1, x, kernel_size, stride, padding, ceil_mode,
                     count_include_pad)


def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over each (KD, KH, KW) window: x (N, C, D, H, W) -> (N, C, OD, OH, OW)."""
    return _avg_pool("avg_pool3d", 3, x, kernel_size, stride, padding, ceil_mode,
                     count_include_pad)


# ---------------------------------------------------------------------- max unpooling


def _max_unpool(op: str, d: int, x, indices, kernel_size, stride, padding,
                output_size) -> Tensor:
    if not isinstance(x, Tensor):
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"{op}: x has dtype {arr.dtype}; max unpooling takes floating "
                             "point values (as PyTorch's does)")
        x = Tensor(arr)
    if x.ndim != d + 2:
        raise ValueError(f"{op}: x must have shape {_SPATIAL[d]}, got x shape {x.shape}")
    indices = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if not np.issubdtype(indices.dtype, np.integer) or indices.shape != x.shape:
        raise ValueError(
            f"{op}: indices must be an integer array of x's shape {x.shape} (as max pooling "
            f"returns them), got dtype {indices.dtype} and shape {indices.shape}")
    kernel = _window.int_tuple(kernel_size, d, "kernel_size", op)
    stride = kernel if stride is None else _window.int_tuple(stride, d, "stride", op)
    pads = _window.int_tuple(padding, d, "padding", op, minimum=0)
    default = tuple((n - 1) * s - 2 * p + k
                    for n, s, p, k in zip(x.shape[2:], stride, pads, kernel))
    if output_size is None:
        size = default
    else:
        size = tuple(output_size)[-d:] if len(output_size) in (d, d + 2) else ()
        if len(size) != d or not all(
                isinstance(v, (int, np.integer)) and lo < v < hi
                for v, lo, hi in zip(size, (m - s for m, s in zip(default, stride)),
                                     (m + s for m, s in zip(default, stride)))):
            raise ValueError(
                f"{op}: output_size must give {d} sizes, each within stride of the default "
                f"{default} (exclusive), got output_size={output_size!r}")
    plane = math.prod(size)
    N, C = x.shape[:2]
    at = indices.reshape(N, C, -1).astype(np.intp)                      # (N, C, Min)
    if at.size and (at.min() < 0 or at.max() >= plane):
        raise ValueError(
            f"{op}: indices must lie in [0, {plane}) for an output of size {size}, got "
            f"values from {at.min()} to {at.max()}")
    y = np.zeros((N, C, plane), dtype=x.dtype)
    np.put_along_axis(y, at, x.data.reshape(N, C, -1), axis=2)
    out = Tensor._make(y.reshape(N, C, *size), (x,), op)

    def _backward(g):                                                   # g: (N, C, *size)
        x._add_grad(np.take_along_axis(g.reshape(N, C, plane), at, axis=2).reshape(x.shape))

    out._backward = _backward
    return out


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of :func:`max_pool2d`: each value back where its maximum was.

    Parameters
    ----------
    x : Tensor or ndarray of shape (N, C, H, W)
        Pooled values.
    indices : ndarray of int of shape (N, C, H, W)
        The flat positions ``h·W_out + w`` that ``max_pool2d(..., return_indices=True)``
        returned.
    kernel_size, stride, padding : as given to the pooling (stride defaults to kernel_size)
    output_size : (H_out, W_out) or (N, C, H_out, W_out), optional
        Default ``(H − 1)·stride − 2·padding + kernel_size`` per axis; a size within one
        stride of it (exclusive) recovers an input that pooling cut short.

    Returns
    -------
    Tensor of shape (N, C, H_out, W_out), zero where no index points. The gradient of each
    value is the gradient at its position.
    """
    return _max_unpool("max_unpool2d", 2, x, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool1d(x, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """:func:`max_unpool2d` for (N, C, L) inputs and the indices of :func:`max_pool1d`."""
    return _max_unpool("max_unpool1d", 1, x, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool3d(x, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """:func:`max_unpool2d` for (N, C, D, H, W) inputs and the indices of :func:`max_pool3d`."""
    return _max_unpool("max_unpool3d", 3, x, indices, kernel_size, stride, padding,
                       output_size)
