"""Convolution, pooling, upsampling, dropout and activations on :class:`Tensor` (or ndarray).

Everything spatial rests on two helpers:

* :func:`_windows` views every (KH, KW) window of a padded input without copying
  (``np.lib.stride_tricks.as_strided``); convolution and pooling both read through it.
* :func:`_fold` is its adjoint: it adds a gradient per window element back onto the input
  position it was read from, looping over the KH·KW kernel offsets (never over pixels).

``conv1d`` is ``conv2d`` on inputs of height 1. Convolution has a second, faster route for
stride 1 that unfolds contiguous runs of a channel-major padded copy of the input (the "rows"
path, see the comment above :func:`_conv2d_rows`); both routes give the same sums. Their GEMMs
run on BLAS's threads and their copies on the engine's (:mod:`stridelab.core.parallel`).

Shapes use fixed letters: N batch, C input channels, F filters (output channels),
H, W height and width, L length, KH, KW (or K) kernel size, OH, OW output size, G groups.

Padding
-------
``padding`` may be an int (all sides), a pair ``(ph, pw)`` (top = bottom = ph,
left = right = pw), an explicit ``(top, bottom, left, right)``, ``"valid"`` (none) or
``"same"``. ``"same"`` follows the TensorFlow/Keras rule for every kernel size, stride and
dilation: along a side of length n the output has ``ceil(n / stride)`` positions, the total
padding is ``max((ceil(n / stride) − 1)·stride + dilation·(k − 1) + 1 − n, 0)`` and when it is
odd the extra row (column) goes to the bottom (right). For conv1d a pair means
``(left, right)``.
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from stridelab.core import parallel
from stridelab.core.tensor import Tensor, concat, stack

__all__ = [
    "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "upsample", "dropout", "flatten",
    "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "concat", "stack",
    "same_padding",
]


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# ---------------------------------------------------------------------- argument checks


def _int_pair(value, name: str, op: str) -> tuple[int, int]:
    """An int or a pair of ints, each >= 1."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {name}={value!r}")
    if min(pair) < 1:
        raise ValueError(f"{op}: {name} must be >= 1, got {name}={value!r}")
    return int(pair[0]), int(pair[1])


def same_padding(n: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Padding (before, after) of one side of length ``n`` under the TensorFlow/Keras "same" rule.

    The output has ``ceil(n / stride)`` positions; the extra row or column of an odd total
    goes after (bottom/right).

    Examples
    --------
    >>> same_padding(28, 5, stride=2)   # out 14: (14 − 1)·2 + 5 − 28 = 3
    (1, 2)
    >>> same_padding(14, 4)             # even kernel, stride 1: total 3
    (1, 2)
    """
    n_out = -(-n // stride)
    total = max((n_out - 1) * stride + dilation * (kernel_size - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def _resolve_padding(padding, size, kernel, stride, dilation, op: str) -> tuple[int, ...]:
    """Padding as (top, bottom, left, right) for an input of spatial ``size`` (H, W)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            return (*same_padding(size[0], kernel[0], stride[0], dilation[0]),
                    *same_padding(size[1], kernel[1], stride[1], dilation[1]))
        raise ValueError(
            f"{op}: padding must be an int, a tuple, 'valid' or 'same', got padding={padding!r}"
        )
    if isinstance(padding, (int, np.integer)):
        pads = (padding,) * 4
    else:
        pads = tuple(padding)
        if len(pads) == 2:
            pads = (pads[0], pads[0], pads[1], pads[1])
        elif len(pads) != 4:
            raise ValueError(
                f"{op}: padding must be an int, a pair, (top, bottom, left, right), 'valid' "
                f"or 'same', got padding={padding!r}"
            )
    if not all(isinstance(p, (int, np.integer)) for p in pads) or min(pads) < 0:
        raise ValueError(f"{op}: padding must hold ints >= 0, got padding={padding!r}")
    return tuple(int(p) for p in pads)


def _check_finite(t: Tensor, name: str, op: str) -> None:
    if not np.isfinite(t.data).all():
        raise ValueError(f"{op}: {name} contains NaN or Inf ({name} shape {t.shape})")


def _check_window_fits(op: str, x_shape, pads, kernel, dilation, what: str) -> None:
    """Raise if the dilated kernel is larger than the padded input.

    ``pads``, ``kernel`` and ``dilation`` are 2-D (height, width); an x of shape (N, C, L) is
    treated as height 1 and reported in 1-D terms.
    """
    padded = (x_shape[-2] + pads[0] + pads[1] if len(x_shape) == 4 else 1,
              x_shape[-1] + pads[2] + pads[3])
    effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if effective[0] > padded[0] or effective[1] > padded[1]:
        if len(x_shape) == 3:
            effective, padded, pads = effective[1:], padded[1:], pads[2:]
        size = lambda t: "x".join(str(n) for n in t)
        raise ValueError(
            f"{op}: the {what} spans {size(effective)} (dilation included), more than the padded "
            f"input {size(padded)} (x shape {tuple(x_shape)}, padding {pads}); "
            "pad more or use a smaller kernel"
        )


# ---------------------------------------------------------------------- sliding windows


def _windows(xp: np.ndarray, kernel, stride, dilation) -> np.ndarray:
    """Every window of a padded input, as a read-only view (no copy).

    xp: (N, C, Hp, Wp) -> (N, C, OH, OW, KH, KW) with
    ``[n, c, i, j, a, b] = xp[n, c, i·sh + a·dh, j·sw + b·dw]``.
    """
    N, C, Hp, Wp = xp.shape
    (KH, KW), (sh, sw), (dh, dw) = kernel, stride, dilation
    OH = (Hp - dh * (KH - 1) - 1) // sh + 1
    OW = (Wp - dw * (KW - 1) - 1) // sw + 1
    sN, sC, sH, sW = xp.strides
    return as_strided(xp, shape=(N, C, OH, OW, KH, KW),
                      strides=(sN, sC, sH * sh, sW * sw, sH * dh, sW * dw), writeable=False)


def _fold(dwin: np.ndarray, padded_shape, stride, dilation) -> np.ndarray:
    """Adjoint of :func:`_windows`: sum each window element's gradient onto its input position.

    dwin: (N, C, OH, OW, KH, KW) -> (N, C, Hp, Wp); the two leading axes may be any pair.
    Overlapping windows add up. The loop runs over the KH·KW kernel offsets; each step adds
    one strided (N, C, OH, OW) slab. The larger leading axis is cut over the engine's threads
    (:mod:`stridelab.core.parallel`): windows of different samples (channels) never meet.
    """
    N, C, OH, OW, KH, KW = dwin.shape
    (sh, sw), (dh, dw) = stride, dilation
    dxp = np.zeros(padded_shape, dtype=dwin.dtype)                      # (N, C, Hp, Wp)
    by_first = N >= C

    def work(part: slice) -> None:
        index = (part,) if by_first else (slice(None), part)
        dst, src = dxp[index], dwin[index]
        for a in range(KH):
            for b in range(KW):
                rows = slice(a * dh, a * dh + sh * (OH - 1) + 1, sh)
                cols = slice(b * dw, b * dw + sw * (OW - 1) + 1, sw)
                dst[:, :, rows, cols] += src[:, :, :, :, a, b]

    parallel.parallel_for(work, N if by_first else C, dwin.size)
    return dxp


def _pad(x: np.ndarray, pads, value: float = 0.0) -> np.ndarray:
    """Pad (N, C, H, W) by (top, bottom, left, right)."""
    if not any(pads):
        return x
    top, bottom, left, right = pads
    N, C, H, W = x.shape
    xp = np.full((N, C, top + H + bottom, left + W + right), value, dtype=x.dtype)
    xp[:, :, top:top + H, left:left + W] = x
    return xp


def _unpad(xp: np.ndarray, pads) -> np.ndarray:
    top, bottom, left, right = pads
    return xp[:, :, top:xp.shape[2] - bottom, left:xp.shape[3] - right]


# ---------------------------------------------------------------------- convolution
#
# Two paths compute the same sums. Both unfold the input into columns (one column per output
# position, one row per (channel, kernel tap)) and make every product one GEMM per group; the
# GEMMs run on BLAS's threads, the copies around them on the engine's threads
# (:mod:`stridelab.core.parallel`).
#
# * Rows (stride 1, :func:`_conv2d_rows`): the padded input is held channel-major, each
#   channel's images back to back, every image row P elements apart, where P >= W + max(left,
#   right): the zeros after one row serve as the right padding of that row and the left
#   padding of the next. With stride 1, tap (a, b) of a whole sample then reads one
#   contiguous run of that buffer, OH rows of P, starting at a·dh·P + b·dw. Columns are
#   computed at every position of the run: the last P − OW of each row are junk, dropped
#   (forward) or met with zeros (backward). Unfolding copies long runs instead of OW-long
#   pieces, for P/OW more GEMM work (15/14 for a 3x3 "same" kernel on 14x14); the path is
#   taken when that ratio is at most ``_MAX_ROW_WASTE``. For dX, wide 2-D kernels unfold dZ
#   over the KW horizontal taps, so that one GEMM sums over filters and horizontal taps and
#   only the KH vertical taps are folded; others fold all KH·KW taps of Wᵀ·dZ.
# * Windows (any stride, :func:`_conv2d_windows`): im2col over the strided window view, fold
#   tap by tap with :func:`_fold`.


# Convolutions run over chunks of the batch whose im2col matrix holds about this many numbers
# (4 MB in float32), so that each chunk's columns are still in cache when the GEMM reads them
# (measured on one thread: 4 MB beats 8 and 16 MB). With several threads every GEMM call and
# every hand-over to the copy threads is a point where all threads wait for the slowest, which
# on cores shared with other work costs a scheduler tick each: chunks are then
# ``_THREADED_CHUNK_FACTOR`` times larger (measured on 2 busy cores: 2-3x faster). The
# temporaries are reused either way (:func:`_scratch`).
_CHUNK_ELEMENTS = 1 << 20
_THREADED_CHUNK_FACTOR = 4

# The rows path pays for short rows; from this output width on, the windows path copies runs
# as long as the rows path's and computes no junk columns (measured: conv1d with L = 256).
_ROWS_MAX_WIDTH = 64

# The rows path computes P columns per output row for OW useful ones; above this ratio the
# windows path's exact GEMMs are cheaper than the rows path's cheaper copies.
_MAX_ROW_WASTE = 1.25

_scratch_space = threading.local()


def _scratch(name: str, shape, dtype) -> np.ndarray:
    """A reusable temporary of ``shape``: the same memory every time ``name`` is asked for.

    Fresh multi-MB arrays cost page faults on every step (glibc hands big blocks straight back
    to the kernel), more than the copies that fill them. Each thread keeps one buffer per
    name, grown as needed (at most a chunk's worth, see ``_CHUNK_ELEMENTS``); the array is
    valid until the next request for the same name, so it must never leave the function that
    asked for it.
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    buffers = _scratch_space.__dict__
    buf = buffers.get(name)
    if buf is None or buf.size < size:
        buf = buffers[name] = np.empty(max(size, 1), dtype=np.uint8)
    return buf[:size].view(dtype).reshape(shape)


def _batch_chunks(n_samples: int, per_sample: int) -> list[slice]:
    """Consecutive slices of the batch, each holding about a chunk budget of numbers."""
    budget = _CHUNK_ELEMENTS * (1 if parallel.get_num_threads() == 1 else _THREADED_CHUNK_FACTOR)
    step = max(1, budget // max(per_sample, 1))
    return [slice(i, min(i + step, n_samples)) for i in range(0, n_samples, step)]


def _out_size(padded_shape, kernel, stride, dilation) -> tuple[int, int]:
    Hp, Wp = padded_shape[2:]
    return ((Hp - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1,
            (Wp - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1)


# ---------------------------------------------------------------------- rows path (stride 1)


class _RowsGeometry:
    """Sizes of a stride-1 convolution on the rows layout (see :func:`_to_rows`).

    x_shape (N, C, H, W), w_shape (F, C/G, KH, KW), pads (top, bottom, left, right).
    """

    def __init__(self, x_shape, w_shape, pads, dilation):
        N, self.C, self.H, self.W = x_shape
        self.F, Cg, self.KH, self.KW = w_shape
        self.dh, self.dw = dilation
        self.top, bottom, self.left, right = pads
        self.Hp = self.H + self.top + bottom
        self.OH = self.Hp - self.dh * (self.KH - 1)
        self.OW = self.W + self.left + right - self.dw * (self.KW - 1)
        # Row pitch: the gap after a row's data must hold its right padding and the next
        # row's left padding (both zeros), and a row must hold OW columns.
        self.P = max(self.W + max(self.left, right), self.OW)
        self.tail = self.dw * (self.KW - 1)         # the last tap's reach past Hp·P
        self.image = self.Hp * self.P + self.tail   # elements per sample, zero gap included
        self.run = self.OH * self.P                 # columns per sample, junk included

    def pays(self) -> bool:
        return self.P <= _MAX_ROW_WASTE * self.OW and self.OW < _ROWS_MAX_WIDTH

    def spread_pays(self, groups: int) -> bool:
        """Whether dX is cheaper by :func:`_conv_transpose_rows` than by :func:`_fold_rows`.

        Per output column, spreading copies F·KW numbers and folds C·KH; the plain fold
        writes and folds C·KH·KW (an add costs about two copies). The spread's GEMM has only
        C/G·KH rows, which BLAS runs slowly below a few dozen.
        """
        Cg = self.C // groups
        spread = self.F * self.KW + 2 * self.C * self.KH
        return Cg * self.KH >= 32 and spread < 2 * self.C * self.KH * self.KW

    def offsets(self):
        """((a, b), start of tap (a, b)'s run inside an image) for every tap."""
        return [((a, b), a * self.dh * self.P + b * self.dw)
                for a in range(self.KH) for b in range(self.KW)]

    def data(self, rows: np.ndarray) -> np.ndarray:
        """The unpadded (C, N, H, W) view of a rows buffer (C, N·image)."""
        C, N = rows.shape[0], rows.shape[1] // self.image
        body = rows.reshape(C, N, self.image)[:, :, :self.Hp * self.P]
        body = body.reshape(C, N, self.Hp, self.P)                        # (C, N, Hp, P)
        return body[..., self.top:self.top + self.H, self.left:self.left + self.W]


def _to_rows(x: np.ndarray, geo: _RowsGeometry) -> np.ndarray:
    """Pad and lay out channel-major: (N, C, H, W) -> (C, N·image), image = Hp·P + tail.

    Row c holds channel c of every sample back to back, each image Hp rows of pitch P with its
    data at rows top… and columns left…, then ``tail`` zeros that the last taps reach into.
    """
    N, C = x.shape[:2]
    rows = np.zeros((C, N * geo.image), dtype=x.dtype)                 # (C, N·image)
    parallel.assign(geo.data(rows), x.transpose(1, 0, 2, 3))
    return rows


def _tap_runs(rows: np.ndarray, offset: int, n0: int, n: int, image: int, run: int):
    """View (C', n, run) of ``rows[c, (n0 + k)·image + offset :][:run]`` for k < n (no copy)."""
    item = rows.itemsize
    return as_strided(rows[:, n0 * image + offset:], shape=(rows.shape[0], n, run),
                      strides=(rows.strides[0], image * item, item))


def _im2col_rows(rows: np.ndarray, n0: int, n: int, geo: _RowsGeometry) -> np.ndarray:
    """Columns of samples n0 … n0 + n − 1: (C, N·image) -> (C, KH, KW, n, OH·P).

    ``cols[c, a, b, k, i·P + j] = xp[n0 + k, c, i + a·dh, j + b·dw]`` for j < OW (xp the
    padded input); the columns j >= OW are junk. Channels (or, with fewer channels than
    samples, samples) are cut over the engine's threads.
    """
    C = rows.shape[0]
    cols = _scratch("cols", (C, geo.KH, geo.KW, n, geo.run), rows.dtype)
    by_channel = C >= n
    item = rows.itemsize
    # Every tap at once: tap (a, b) starts a·dh·P + b·dw further into the image.
    taps = as_strided(rows[:, n0 * geo.image:],
                      shape=(C, geo.KH, geo.KW, n, geo.run),
                      strides=(rows.strides[0], geo.dh * geo.P * item, geo.dw * item,
                               geo.image * item, item), writeable=False)

    def work(part: slice) -> None:
        index = (part,) if by_channel else (slice(None), slice(None), slice(None), part)
        cols[index] = taps[index]

    parallel.parallel_for(work, C if by_channel else n, cols.size)
    return cols


def _conv_transpose_rows(gr: np.ndarray, wh: np.ndarray, drows: np.ndarray, n0: int,
                         geo: _RowsGeometry) -> None:
    """Adjoint of :func:`_im2col_rows` times W: add dX of samples n0 … onto ``drows``.

    gr: (F, n, OH·P) dZ on the run grid, zero in the junk columns; wh: (G, C/G·KH, F/G·KW)
    with ``wh[g, (c, a), (f, b)] = W[g·F/G + f, c, a, b]``; drows: (C, N·image), updated in
    place. Spread dZ over the horizontal taps, ``spread[f, b, k, p] = dZ[f, k, p − b·dw]``
    (run + tail long); one GEMM then gives, per vertical tap a, the gradient of the input run
    that tap read, ``V[c, a, k, p] = Σ_{f,b} W[f, c, a, b]·spread[f, b, k, p]``, which is added
    at a·dh·P. Everything lands inside the sample's own image (the zero tail included).
    """
    F, n = gr.shape[0], gr.shape[1]
    G = wh.shape[0]
    run, span, dw = geo.run, geo.run + geo.tail, geo.dw
    spread = _scratch("dz_taps", (F, geo.KW, n, span), gr.dtype)       # (F, KW, n, run + tail)

    def shift(fs: slice) -> None:
        for b in range(geo.KW):
            spread[fs, b, :, :b * dw] = 0
            spread[fs, b, :, b * dw:b * dw + run] = gr[fs]
            spread[fs, b, :, b * dw + run:] = 0

    parallel.parallel_for(shift, F, spread.size)
    v = np.matmul(wh, spread.reshape(G, F // G * geo.KW, n * span),
                  out=_scratch("dcols", (G, wh.shape[1], n * span), gr.dtype))
    v = v.reshape(geo.C, geo.KH, n, span)                                # (C, KH, n, run + tail)
    # The KH vertical taps add onto the same images: a few channels at a time, so that their
    # images stay in the core's cache (about 256 kB) across the taps.
    block = max(1, (1 << 18) // (n * geo.image * drows.itemsize))

    def fold(part: slice) -> None:
        for c0 in range(part.start, part.stop, block):
            cs = slice(c0, min(c0 + block, part.stop))
            dst = drows[cs]
            for a in range(geo.KH):
                _tap_runs(dst, a * geo.dh * geo.P, n0, n, geo.image, span)[...] += v[cs, a]

    parallel.parallel_for(fold, geo.C, v.size)


def _fold_rows(dcols: np.ndarray, drows: np.ndarray, n0: int, geo: _RowsGeometry) -> None:
    """Adjoint of :func:`_im2col_rows`: add each tap's columns onto the run it was read from.

    dcols: (C, KH, KW, n, OH·P), zero in the junk columns; drows: (C, N·image), updated in
    place. Each run stays inside its sample's image (the zero tail included).
    """
    C, n = dcols.shape[0], dcols.shape[3]
    # All KH·KW taps add onto the same images: a few channels at a time, so that their
    # images stay in the core's cache (about 256 kB) across the taps.
    block = max(1, (1 << 18) // (n * geo.image * drows.itemsize))

    def work(part: slice) -> None:
        for c0 in range(part.start, part.stop, block):
            cs = slice(c0, min(c0 + block, part.stop))
            dst = drows[cs]
            for (a, b), offset in geo.offsets():
                _tap_runs(dst, offset, n0, n, geo.image, geo.run)[...] += dcols[cs, a, b]

    parallel.parallel_for(work, C, dcols.size)


def _conv2d_rows(x: Tensor, w: Tensor, bias: Tensor | None, geo: _RowsGeometry,
                 groups: int) -> Tensor:
    """Stride-1 convolution on the rows layout; arguments as in :func:`_conv2d_windows`.

    Forward, per batch chunk: cols (C·KH·KW, n·OH·P) by contiguous copies, one GEMM per
    group, the valid columns copied out. Backward, per chunk: dZ is laid out (F, n·OH·P)
    with zeros in the junk columns; dW = cols · dZᵀ (the input unfolded again) and dX by
    :func:`_conv_transpose_rows` or, where that does not pay, dX = fold(Wᵀ · dZ), every tap's
    (C, n·OH·P) block added onto its runs (:func:`_fold_rows`).
    """
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape
    G = groups
    OH, OW, P, run = geo.OH, geo.OW, geo.P, geo.run
    rows = _to_rows(x.data, geo)                                        # (C, N·image)
    wm = w.data.reshape(G, F // G, Cg * KH * KW)                        # (G, F/G, Cg·KH·KW)
    dtype = np.result_type(x.data, w.data)
    chunks = _batch_chunks(N, C * KH * KW * run)
    z = np.empty((N, F, OH, OW), dtype=dtype)                           # (N, F, OH, OW)
    b = None if bias is None else bias.data.reshape(F, 1, 1)
    for part in chunks:
        n = part.stop - part.start
        cols = _im2col_rows(rows, part.start, n, geo).reshape(G, Cg * KH * KW, n * run)
        zr = np.matmul(wm, cols, out=_scratch("z", (G, F // G, n * run), dtype))
        zr = zr.reshape(F, n, OH, P)                                    # (F, n, OH, P)
        zpart = z[part]

        def put(fs: slice, zr=zr, zpart=zpart) -> None:
            valid = zr[fs, :, :, :OW].transpose(1, 0, 2, 3)             # (n, F', OH, OW)
            if b is None:
                zpart[:, fs] = valid
            else:
                np.add(valid, b[fs], out=zpart[:, fs])

        parallel.parallel_for(put, F, zr.size)
    parents = (x, w) if bias is None else (x, w, bias)
    out = Tensor._make(z, parents, "conv2d")

    def _backward(g):                                                   # g: (N, F, OH, OW)
        db = np.zeros(F, dtype=dtype) if bias is not None else None
        dw = np.zeros((G, Cg * KH * KW, F // G), dtype=dtype) if w.requires_grad else None
        drows = np.zeros(rows.shape, dtype=dtype) if x.requires_grad else None
        spread = drows is not None and geo.spread_pays(G)
        if spread:                                                      # (G, Cg·KH, F/G·KW)
            wh = w.data.reshape(G, F // G, Cg, KH, KW).transpose(0, 2, 3, 1, 4)
            wh = wh.reshape(G, Cg * KH, F // G * KW)
        for part in chunks:
            n = part.stop - part.start
            gr = _scratch("dz", (F, n, OH, P), dtype)                   # (F, n, OH, P)
            gpart = g[part]

            def lay_out(fs: slice, gr=gr, gpart=gpart) -> None:
                gr[fs, :, :, :OW] = gpart[:, fs].transpose(1, 0, 2, 3)
                gr[fs, :, :, OW:] = 0                                   # junk columns

            parallel.parallel_for(lay_out, F, gr.size)
            gm = gr.reshape(G, F // G, n * run)                         # (G, F/G, n·OH·P)
            if db is not None:
                db += gr.reshape(F, n * run).sum(axis=1)
            if dw is not None:
                cols = _im2col_rows(rows, part.start, n, geo)
                dw += np.matmul(cols.reshape(G, Cg * KH * KW, n * run),
                                gm.transpose(0, 2, 1))                  # (G, Cg·KH·KW, F/G)
            if spread:
                _conv_transpose_rows(gr.reshape(F, n, run), wh, drows, part.start, geo)
            elif drows is not None:
                dcols = np.matmul(wm.transpose(0, 2, 1), gm,            # (G, Cg·KH·KW, n·OH·P)
                                  out=_scratch("dcols", (G, Cg * KH * KW, n * run), dtype))
                _fold_rows(dcols.reshape(C, KH, KW, n, run), drows, part.start, geo)
        if db is not None:
            bias._add_grad(db)                                          # (F,)
        if dw is not None:
            w._add_grad(dw.transpose(0, 2, 1).reshape(F, Cg, KH, KW))   # (F, C/G, KH, KW)
        if drows is not None:
            dx = np.empty((N, C, H, W), dtype=dtype)
            parallel.assign(dx, geo.data(drows).transpose(1, 0, 2, 3), axis=1)
            x._add_grad(dx)                                             # (N, C, H, W)

    out._backward = _backward
    return out


# ---------------------------------------------------------------------- windows path


def _im2col(xp: np.ndarray, kernel, stride, dilation, groups: int) -> np.ndarray:
    """Unfold every window into a column: (N, C, Hp, Wp) -> (G, C/G·KH·KW, N·OH·OW).

    The copy is cut over the engine's threads along channels, or samples if there are more.
    """
    win = _windows(xp, kernel, stride, dilation)                         # (N, C, OH, OW, KH, KW)
    N, C, OH, OW, KH, KW = win.shape
    cols = np.empty((C, KH, KW, N, OH, OW), dtype=xp.dtype)             # (C, KH, KW, N, OH, OW)
    parallel.assign(cols, win.transpose(1, 4, 5, 0, 2, 3), axis=0 if C >= N else 3)
    return cols.reshape(groups, C // groups * KH * KW, N * OH * OW)


def _correlate(xp: np.ndarray, w: np.ndarray, stride, dilation, groups: int) -> np.ndarray:
    """The windows path's convolution kernel: im2col, then one GEMM per group.

    xp: (N, C, Hp, Wp) already padded, w: (F, C/G, KH, KW) -> (N, F, OH, OW), a transposed
    view of the (F, N, OH, OW) result.
    """
    N = xp.shape[0]
    F, Cg, KH, KW = w.shape
    G = groups
    cols = _im2col(xp, (KH, KW), stride, dilation, G)                    # (G, Cg·KH·KW, N·OH·OW)
    wm = w.reshape(G, F // G, Cg * KH * KW)                              # (G, F/G, Cg·KH·KW)
    z = np.matmul(wm, cols)                                              # (G, F/G, N·OH·OW)
    OH, OW = _out_size(xp.shape, (KH, KW), stride, dilation)
    return z.reshape(F, N, OH, OW).transpose(1, 0, 2, 3)                 # (N, F, OH, OW)


def _correlate_input_with_dz(xp: np.ndarray, gm: np.ndarray, kernel, stride, dilation,
                             groups: int) -> np.ndarray:
    """dW = the input correlated with dZ.

    Weight (f, c, a, b) met the input ``xp[n, c, i·sh + a·dh, j·sw + b·dw]`` at every output
    (n, f, i, j), so its gradient sums those inputs times ``dZ[n, f, i, j]``: slide dZ over xp as
    a kernel whose taps are ``stride`` apart. The im2col columns hold exactly those inputs.

    xp: (N, C, Hp, Wp), gm: (G, F/G, N·OH·OW) -> (G, C/G·KH·KW, F/G).
    """
    cols = _im2col(xp, kernel, stride, dilation, groups)                 # (G, Cg·KH·KW, N·OH·OW)
    return np.matmul(cols, gm.transpose(0, 2, 1))                        # (G, Cg·KH·KW, F/G)


def _conv_transpose(gm: np.ndarray, w: np.ndarray, out_shape, stride, dilation,
                    groups: int) -> np.ndarray:
    """dX = dZ fully convolved with the flipped W: the adjoint of :func:`_correlate`.

    As a convolution: spread dZ out by the stride (stride − 1 zeros between entries), pad it by
    the dilated kernel size − 1 on every side and cross-correlate it with W rotated by 180°,
    F and C exchanged. Pixel p of the padded input then receives
    ``Σ_{f,a,b} W[f, c, a, b] · dZ[n, f, (p − a·dh)/sh, (q − b·dw)/sw]`` over the taps (a, b)
    that land on it. We evaluate that sum tap by tap, which never multiplies the zeros the
    stride spread in: one GEMM applies every tap's W[:, :, a, b]ᵀ at once, then :func:`_fold`
    adds the KH·KW shifted results.

    gm: (G, F/G, N·OH·OW) the gradient, w: (F, C/G, KH, KW) -> (N, C, Hp, Wp) = ``out_shape``.
    """
    N, C, Hp, Wp = out_shape
    F, Cg, KH, KW = w.shape
    G = groups
    OH, OW = _out_size(out_shape, (KH, KW), stride, dilation)
    wm = w.reshape(G, F // G, Cg * KH * KW)                              # (G, F/G, Cg·KH·KW)
    dcols = np.matmul(wm.transpose(0, 2, 1), gm)                         # (G, Cg·KH·KW, N·OH·OW)
    return _fold_cols(dcols, out_shape, (KH, KW), stride, dilation)


def _fold_cols(dcols: np.ndarray, out_shape, kernel, stride, dilation) -> np.ndarray:
    """Fold im2col-ordered gradients (G, C/G·KH·KW, N·OH·OW) onto (N, C, Hp, Wp)."""
    N, C, Hp, Wp = out_shape
    KH, KW = kernel
    OH, OW = _out_size(out_shape, kernel, stride, dilation)
    # Fold with C ahead of N, the order dcols is stored in, so that every tap streams through
    # memory; the caller's copy into (N, C, ...) order undoes the transpose.
    dwin = dcols.reshape(C, KH, KW, N, OH, OW).transpose(0, 3, 4, 5, 1, 2)  # (C, N, OH, OW, KH, KW)
    dxp = _fold(dwin, (C, N, Hp, Wp), stride, dilation)                  # (C, N, Hp, Wp)
    return dxp.transpose(1, 0, 2, 3)                                     # (N, C, Hp, Wp)


def _conv2d_windows(x: Tensor, w: Tensor, bias: Tensor | None, stride, pads, dilation,
                    groups: int) -> Tensor:
    """Cross-correlation of valid arguments over the strided window view (any stride).

    Forward and backward run over chunks of the batch (see ``_CHUNK_ELEMENTS``); backward
    unfolds the input again rather than keep the whole im2col matrix alive between the passes.
    When one sample's products are small (``_SMALL_GEMM``), every GEMM is done sample by
    sample, the samples cut over the engine's threads (:func:`_per_sample`).
    """
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape
    G = groups
    xp = _pad(x.data, pads)                                              # (N, C, Hp, Wp)
    OH, OW = _out_size(xp.shape, (KH, KW), stride, dilation)
    chunks = _batch_chunks(N, C * KH * KW * OH * OW)
    z = np.empty((N, F, OH, OW), dtype=np.result_type(x.data, w.data))   # (N, F, OH, OW)
    K, M = Cg * KH * KW, OH * OW                                         # per group and sample
    small = F // G * K * M <= _SMALL_GEMM
    wm = w.data.reshape(G, F // G, K)                                    # (G, F/G, Cg·KH·KW)
    for part in chunks:
        if small:
            cols = _im2col(xp[part], (KH, KW), stride, dilation, G).reshape(G, K, -1, M)
            zs = z[part].reshape(-1, G, F // G, M)                       # (n, G, F/G, OH·OW)
            _per_sample(lambda k, cols=cols, zs=zs: np.matmul(wm, cols[:, :, k], out=zs[k]),
                        zs.shape[0], zs.size * K)
        else:
            parallel.assign(z[part], _correlate(xp[part], w.data, stride, dilation, G), axis=1)
    if bias is not None:
        z += bias.data.reshape(1, F, 1, 1)
    parents = (x, w) if bias is None else (x, w, bias)
    out = Tensor._make(z, parents, "conv2d")

    def _backward(g):                                                    # g: (N, F, OH, OW)
        if bias is not None:
            bias._add_grad(g.sum(axis=(0, 2, 3)))                        # (F,)
        dw = np.zeros((G, Cg * KH * KW, F // G), dtype=z.dtype) if w.requires_grad else None
        dxp = np.empty(xp.shape, dtype=z.dtype) if x.requires_grad else None
        for part in chunks:
            n = g[part].shape[0]
            if small:
                _backward_per_sample(g[part], part, dw, dxp)
                continue
            gm = np.empty((F, n, OH, OW), dtype=z.dtype)                 # (F, n, OH, OW)
            parallel.assign(gm, g[part].transpose(1, 0, 2, 3))
            gm = gm.reshape(G, F // G, n * OH * OW)
            if dw is not None:
                dw += _correlate_input_with_dz(xp[part], gm, (KH, KW), stride, dilation, G)
            if dxp is not None:
                parallel.assign(dxp[part], _conv_transpose(gm, w.data, (n, *xp.shape[1:]),
                                                           stride, dilation, G), axis=1)
        if dw is not None:
            w._add_grad(dw.transpose(0, 2, 1).reshape(F, Cg, KH, KW))   # (F, C/G, KH, KW)
        if dxp is not None:
            x._add_grad(_unpad(dxp, pads))                               # (N, C, H, W)

    def _backward_per_sample(gpart, part, dw, dxp):
        gs = np.ascontiguousarray(gpart).reshape(-1, G, F // G, M)       # (n, G, F/G, OH·OW)
        n = gs.shape[0]
        cols = _im2col(xp[part], (KH, KW), stride, dilation, G).reshape(G, K, n, M)
        if dw is not None:
            sums = {}                                                    # one partial per slice

            def dw_slice(ks: slice) -> None:
                acc = np.zeros(dw.shape, dtype=dw.dtype)                 # (G, Cg·KH·KW, F/G)
                for k in range(ks.start, ks.stop):
                    acc += np.matmul(cols[:, :, k], gs[k].transpose(0, 2, 1))
                sums[ks.start] = acc

            parallel.parallel_for(dw_slice, n, gs.size * K)
            for start in sorted(sums):
                dw += sums[start]
        if dxp is not None:
            dcols = np.empty((G, K, n, M), dtype=dxp.dtype)              # (G, Cg·KH·KW, n, OH·OW)
            wt = wm.transpose(0, 2, 1)                                   # (G, Cg·KH·KW, F/G)
            _per_sample(lambda k: np.matmul(wt, gs[k], out=dcols[:, :, k]), n, gs.size * K)
            parallel.assign(dxp[part], _fold_cols(dcols.reshape(G, K, n * M),
                                                  (n, *xp.shape[1:]), (KH, KW), stride,
                                                  dilation), axis=1)

    out._backward = _backward
    return out


# One sample's product (F/G)·(C/G·KH·KW)·(OH·OW) up to this size is done sample by sample:
# BLAS runs products this small on one thread (OpenBLAS below 2^18), so the samples can be
# spread over the engine's threads instead. One multi-threaded GEMM over a whole batch of
# such thin products stops its threads at every block of the long dimension, which on cores
# shared with other work costs a scheduler tick each time.
_SMALL_GEMM = 1 << 18


def _per_sample(product, n_samples: int, n_flops: int) -> None:
    """Call ``product(k)`` for k < n_samples, the samples cut over the engine's threads."""
    def work(ks: slice) -> None:
        for k in range(ks.start, ks.stop):
            product(k)

    parallel.parallel_for(work, n_samples, n_flops)


def _conv2d(x: Tensor, w: Tensor, bias: Tensor | None, stride, pads, dilation,
            groups: int) -> Tensor:
    """Cross-correlation of valid arguments (the public functions check them).

    x: (N, C, H, W), w: (F, C/G, KH, KW), bias: (F,) or None, pads (top, bottom, left,
    right) -> (N, F, OH, OW). Stride 1 takes the rows path when its junk columns are few
    (``_RowsGeometry.pays``), everything else the windows path; both give the same sums.
    """
    if tuple(stride) == (1, 1):
        geo = _RowsGeometry(x.shape, w.shape, pads, dilation)
        if geo.pays():
            return _conv2d_rows(x, w, bias, geo, groups)
    return _conv2d_windows(x, w, bias, stride, pads, dilation, groups)


def _check_conv(op: str, x: Tensor, w: Tensor, bias: Tensor | None, groups, mode) -> None:
    """Checks shared by conv1d and conv2d, on their own (unreshaped) shapes."""
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be an int >= 1, got groups={groups!r}")
    if mode not in ("correlate", "convolve"):
        raise ValueError(f"{op}: mode must be 'correlate' or 'convolve', got mode={mode!r}")
    C, F, Cg = x.shape[1], w.shape[0], w.shape[1]
    if C % groups or F % groups:
        raise ValueError(
            f"{op}: groups={groups} must divide the input channels C={C} (x shape {x.shape}) "
            f"and the filters F={F} (w shape {w.shape})"
        )
    if Cg * groups != C:
        raise ValueError(
            f"{op}: channel mismatch: x has C={C} channels (x shape {x.shape}) but w expects "
            f"C/groups={Cg} x groups={groups} = {Cg * groups} (w shape {w.shape})"
        )
    if bias is not None and bias.shape != (F,):
        raise ValueError(
            f"{op}: bias must have shape ({F},), one value per filter, got bias shape "
            f"{bias.shape} (w shape {w.shape})"
        )
    for name, t in (("x", x), ("w", w), ("bias", bias)):
        if t is not None:
            _check_finite(t, name, op)


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

    The fast paths compute dW with one GEMM on the im2col matrix of the input
    (``_correlate_input_with_dz``, or the rows path's unfolded runs), and dX with one GEMM
    followed by a sum over the kernel taps (``_conv_transpose``, ``_fold_rows``,
    ``_conv_transpose_rows``); all run over chunks of the batch. The naive loops in
    :mod:`stridelab.core.reference` write both out literally and the tests check that all of
    them agree.

    Raises
    ------
    ValueError
        On a channel mismatch, groups not dividing the channels, a kernel larger than the
        padded input, stride or dilation < 1, a bad padding or NaN/Inf in an input.
    """
    op = "conv2d"
    x, w = _as_tensor(x), _as_tensor(w)
    bias = None if bias is None else _as_tensor(bias)
    if x.ndim != 4:
        raise ValueError(f"{op}: x must have shape (N, C, H, W), got x shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"{op}: w must have shape (F, C/groups, KH, KW), got w shape {w.shape}")
    stride, dilation = _int_pair(stride, "stride", op), _int_pair(dilation, "dilation", op)
    _check_conv(op, x, w, bias, groups, mode)
    kernel = w.shape[2:]
    pads = _resolve_padding(padding, x.shape[2:], kernel, stride, dilation, op)
    _check_window_fits(op, x.shape, pads, kernel, dilation, f"kernel (w shape {w.shape})")
    if mode == "convolve":
        w = w[:, :, ::-1, ::-1]
    return _conv2d(x, w, bias, stride, pads, dilation, int(groups))


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
    op = "conv1d"
    x, w = _as_tensor(x), _as_tensor(w)
    bias = None if bias is None else _as_tensor(bias)
    if x.ndim != 3:
        raise ValueError(f"{op}: x must have shape (N, C, L), got x shape {x.shape}")
    if w.ndim != 3:
        raise ValueError(f"{op}: w must have shape (F, C/groups, K), got w shape {w.shape}")
    for name, value in (("stride", stride), ("dilation", dilation)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{op}: {name} must be an int >= 1, got {name}={value!r}")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(
                f"{op}: padding must be an int, (left, right), 'valid' or 'same', "
                f"got padding={padding!r}"
            )
        padding = (0, 0, *padding)
    elif isinstance(padding, (int, np.integer)):
        padding = (0, 0, padding, padding)
    _check_conv(op, x, w, bias, groups, mode)
    N, C, L = x.shape
    F, Cg, K = w.shape
    stride2, dilation2 = (1, int(stride)), (1, int(dilation))
    pads = _resolve_padding(padding, (1, L), (1, K), stride2, dilation2, op)
    _check_window_fits(op, x.shape, pads, (1, K), dilation2, f"kernel (w shape {w.shape})")
    x2 = x.reshape(N, C, 1, L)                                          # (N, C, 1, L)
    w2 = w.reshape(F, Cg, 1, K)                                         # (F, C/G, 1, K)
    if mode == "convolve":
        w2 = w2[:, :, :, ::-1]
    out = _conv2d(x2, w2, bias, stride2, pads, dilation2, int(groups))  # (N, F, 1, OL)
    return out.reshape(N, F, out.shape[3])


# ---------------------------------------------------------------------- pooling


def _pool_args(op, x, kernel_size, stride, padding):
    if x.ndim != 4:
        raise ValueError(f"{op}: x must have shape (N, C, H, W), got x shape {x.shape}")
    kernel = _int_pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None else _int_pair(stride, "stride", op)
    pads = _resolve_padding(padding, x.shape[2:], kernel, stride, (1, 1), op)
    if pads[0] > kernel[0] // 2 or pads[1] > kernel[0] // 2 or pads[2] > kernel[1] // 2 \
            or pads[3] > kernel[1] // 2:
        raise ValueError(
            f"{op}: padding {pads} must be at most half the kernel {kernel} on every side, "
            "so that no window lies entirely in the padding"
        )
    _check_finite(x, "x", op)
    _check_window_fits(op, x.shape, pads, kernel, (1, 1), f"kernel {kernel}")
    return kernel, stride, pads


def max_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Maximum over each (KH, KW) window.

    Parameters
    ----------
    x : Tensor or ndarray of shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), default kernel_size
    padding : int, pair, (top, bottom, left, right), "valid" or "same"; padded positions
        hold −inf, so they are never the maximum. At most half the kernel per side.

    Returns
    -------
    Tensor of shape (N, C, OH, OW). The gradient goes to the first maximum of each window.
    """
    x = _as_tensor(x)
    kernel, stride, pads = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    xp = _pad(x.data, pads, value=-np.inf)                              # (N, C, Hp, Wp)
    win = _windows(xp, kernel, stride, (1, 1))                          # (N, C, OH, OW, KH, KW)
    N, C, OH, OW, KH, KW = win.shape
    flat = win.reshape(N, C, OH, OW, KH * KW)                           # copy: (…, KH·KW)
    idx = flat.argmax(axis=-1)                                          # (N, C, OH, OW)
    out = Tensor._make(np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0],
                       (x,), "max_pool2d")

    def _backward(g):                                                   # g: (N, C, OH, OW)
        winner = idx[..., None] == np.arange(KH * KW)                   # (N, C, OH, OW, KH·KW)
        dwin = (g[..., None] * winner).reshape(N, C, OH, OW, KH, KW)
        x._add_grad(_unpad(_fold(dwin, xp.shape, stride, (1, 1)), pads))

    out._backward = _backward
    return out


def avg_pool2d(x, kernel_size, stride=None, padding=0) -> Tensor:
    """Mean over each (KH, KW) window.

    Padded positions count as zeros and the divisor is always KH·KW (PyTorch's default
    ``count_include_pad=True``). Arguments and shapes as in :func:`max_pool2d`.
    """
    x = _as_tensor(x)
    kernel, stride, pads = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    xp = _pad(x.data, pads)                                             # (N, C, Hp, Wp)
    win = _windows(xp, kernel, stride, (1, 1))                          # (N, C, OH, OW, KH, KW)
    out = Tensor._make(win.mean(axis=(4, 5)), (x,), "avg_pool2d")

    def _backward(g):                                                   # g: (N, C, OH, OW)
        share = (g / (kernel[0] * kernel[1]))[..., None, None]           # (N, C, OH, OW, 1, 1)
        dwin = np.broadcast_to(share, win.shape)                        # (N, C, OH, OW, KH, KW)
        x._add_grad(_unpad(_fold(dwin, xp.shape, stride, (1, 1)), pads))

    out._backward = _backward
    return out


# ---------------------------------------------------------------------- other layers


def upsample(x, scale_factor=2) -> Tensor:
    """Nearest-neighbour upsampling: each pixel becomes an (sh, sw) block.

    x: (N, C, H, W) -> (N, C, H·sh, W·sw). The gradient of a pixel is the sum over its block.
    """
    x = _as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"upsample: x must have shape (N, C, H, W), got x shape {x.shape}")
    sh, sw = _int_pair(scale_factor, "scale_factor", "upsample")
    N, C, H, W = x.shape
    out = Tensor._make(x.data.repeat(sh, axis=2).repeat(sw, axis=3), (x,), "upsample")

    def _backward(g):                                                   # g: (N, C, H·sh, W·sw)
        x._add_grad(g.reshape(N, C, H, sh, W, sw).sum(axis=(3, 5)))

    out._backward = _backward
    return out


def dropout(x, p: float = 0.5, training: bool = True, rng=None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 − p)``.

    Inverted dropout: the expected value is unchanged, so evaluation (``training=False``)
    is the identity. ``rng`` is a ``np.random.Generator``, a seed, or None (fresh entropy).
    """
    x = _as_tensor(x)
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got p={p!r}")
    if not training or p == 0:
        return x
    rng = np.random.default_rng(rng)
    keep = (rng.random(x.shape) >= p).astype(x.dtype) / x.dtype.type(1 - p)
    return x * keep


def flatten(x, start_dim: int = 1) -> Tensor:
    """Merge the axes from ``start_dim`` on: (N, C, H, W) -> (N, C·H·W)."""
    x = _as_tensor(x)
    return x.reshape(x.shape[:start_dim] + (-1,))


def relu(x) -> Tensor:
    return _as_tensor(x).relu()


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    return _as_tensor(x).leaky_relu(negative_slope)


def sigmoid(x) -> Tensor:
    return _as_tensor(x).sigmoid()


def tanh(x) -> Tensor:
    return _as_tensor(x).tanh()


def softmax(x, axis: int = -1) -> Tensor:
    return _as_tensor(x).softmax(axis)


def log_softmax(x, axis: int = -1) -> Tensor:
    return _as_tensor(x).log_softmax(axis)
