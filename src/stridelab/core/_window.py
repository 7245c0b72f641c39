"""The sliding window that convolution and pooling share, and the argument checks around it.

Everything spatial is computed in three spatial dimensions (D, H, W): a 2-D op is its 3-D form
with depth 1, a 1-D op the 2-D form with height 1. Two helpers carry the window:

* :func:`windows` views every (KD, KH, KW) window of a padded input without copying
  (``np.lib.stride_tricks.as_strided``); convolution and pooling both read through it.
* :func:`fold` is its adjoint: it adds a gradient per window element back onto the input
  position it was read from, looping over the KD·KH·KW kernel taps (never over pixels).

The checks take each op's own arguments (a 1-D op's kernel is one number, its padding
``(left, right)``) and word their errors in the op's own terms; :func:`to_3d` then lifts shapes
and arguments to three dimensions.

Shapes use fixed letters: N batch, C channels, F filters, D, H, W depth, height and width,
KD, KH, KW the kernel, OD, OH, OW the output, G groups.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from stridelab.core import parallel
from stridelab.core.tensor import Tensor

# How a padding tuple of each length is read, by number of spatial dimensions (for errors).
PADDING_FORMS = {
    1: "an int, (left, right)",
    2: "an int, a pair, (top, bottom, left, right)",
    3: "an int, a triple, (front, back, top, bottom, left, right)",
}
_TUPLE_NAMES = {2: "a pair", 3: "a triple"}


def as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# ---------------------------------------------------------------------- argument checks


def int_tuple(value, n: int, name: str, op: str, minimum: int = 1) -> tuple[int, ...]:
    """An int, or a tuple of ``n`` ints, each >= ``minimum``, as a tuple of ``n`` ints."""
    is_int = lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)
    if n == 1:
        if isinstance(value, (tuple, list)) and len(value) == 1:
            value = value[0]
        if not is_int(value) or value < minimum:
            raise ValueError(f"{op}: {name} must be an int >= {minimum}, got {name}={value!r}")
        return (int(value),)
    values = (value,) * n if is_int(value) else tuple(value) if isinstance(
        value, (tuple, list)) else ()
    if len(values) != n or not all(is_int(v) for v in values):
        raise ValueError(
            f"{op}: {name} must be an int or {_TUPLE_NAMES[n]} of ints, got {name}={value!r}")
    if min(values) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {name}={value!r}")
    return tuple(int(v) for v in values)


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


def resolve_padding(padding, size, kernel, stride, dilation, op: str,
                    allow_same: bool = True) -> tuple[int, ...]:
    """Padding as (before, after) per spatial axis, flattened: 2·len(size) ints.

    ``padding`` is an int (every side), one int per axis (both sides), an explicit
    (before, after) per axis, ``"valid"`` or ``"same"`` (TensorFlow/Keras rule).
    """
    d = len(size)
    forms = PADDING_FORMS[d] + (", 'valid' or 'same'" if allow_same else " or 'valid'")
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * (2 * d)
        if padding == "same" and allow_same:
            return tuple(p for i in range(d)
                         for p in same_padding(size[i], kernel[i], stride[i], dilation[i]))
        raise ValueError(f"{op}: padding must be {forms}, got padding={padding!r}")
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        pads = (padding,) * (2 * d)
    elif isinstance(padding, (tuple, list)) and len(padding) in (d, 2 * d):
        pads = tuple(padding)
        if len(pads) == d:                              # one value per axis: both sides
            pads = tuple(p for p in pads for _ in range(2))
    else:
        raise ValueError(f"{op}: padding must be {forms}, got padding={padding!r}")
    if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pads) \
            or min(pads) < 0:
        raise ValueError(f"{op}: padding must hold ints >= 0, got padding={padding!r}")
    return tuple(int(p) for p in pads)


def check_finite(t: Tensor, name: str, op: str) -> None:
    if not np.isfinite(t.data).all():
        raise ValueError(f"{op}: {name} contains NaN or Inf ({name} shape {t.shape})")


def _size(t) -> str:
    return "x".join(str(n) for n in t)


def check_window_fits(op: str, x_shape, pads, kernel, dilation, what: str) -> None:
    """Raise if the dilated kernel is larger than the padded input (each in the op's dims)."""
    d = len(kernel)
    padded = tuple(x_shape[-d + i] + pads[2 * i] + pads[2 * i + 1] for i in range(d))
    effective = tuple(dl * (k - 1) + 1 for k, dl in zip(kernel, dilation))
    if any(e > p for e, p in zip(effective, padded)):
        raise ValueError(
            f"{op}: the {what} spans {_size(effective)} (dilation included), more than the padded "
            f"input {_size(padded)} (x shape {tuple(x_shape)}, padding {tuple(pads)}); "
            "pad more or use a smaller kernel"
        )


def to_3d(values, fill: int) -> tuple[int, ...]:
    """One value per spatial axis of a 1-D or 2-D op, lifted to (D, H, W) with ``fill`` first."""
    return (fill,) * (3 - len(values)) + tuple(values)


def pads_to_3d(pads) -> tuple[int, ...]:
    """(before, after) pairs of a 1-D or 2-D op, lifted to (front, back, top, bottom, left,
    right) with zeros first."""
    return (0,) * (6 - len(pads)) + tuple(pads)


def shape_to_3d(shape, d: int) -> tuple[int, ...]:
    """(N, C, *spatial) of a d-dimensional op as (N, C, D, H, W)."""
    return (*shape[:2], *(1,) * (3 - d), *shape[2:])


# ---------------------------------------------------------------------- sliding windows


def out_size(padded, kernel, stride, dilation) -> tuple[int, ...]:
    """Window positions along each axis of a padded input (floor rule)."""
    return tuple((p - dl * (k - 1) - 1) // s + 1
                 for p, k, s, dl in zip(padded, kernel, stride, dilation))


def windows(xp: np.ndarray, kernel, stride, dilation) -> np.ndarray:
    """Every window of a padded input, as a read-only view (no copy).

    xp: (N, C, Dp, Hp, Wp) -> (N, C, OD, OH, OW, KD, KH, KW) with
    ``[n, c, i, j, k, a, b, e] = xp[n, c, i·sd + a·dd, j·sh + b·dh, k·sw + e·dw]``.
    """
    N, C = xp.shape[:2]
    O = out_size(xp.shape[2:], kernel, stride, dilation)
    sN, sC, *sS = xp.strides
    strides = (sN, sC, *(st * s for st, s in zip(sS, stride)),
               *(st * dl for st, dl in zip(sS, dilation)))
    return as_strided(xp, shape=(N, C, *O, *kernel), strides=strides, writeable=False)


def fold(dwin: np.ndarray, padded_shape, stride, dilation) -> np.ndarray:
    """Adjoint of :func:`windows`: sum each window element's gradient onto its input position.

    dwin: (A, B, OD, OH, OW, KD, KH, KW) -> (A, B, Dp, Hp, Wp); (A, B) is (N, C) or (C, N).
    Overlapping windows add up. The loop runs over the KD·KH·KW kernel taps; each step adds
    one (A, B, OD, OH, OW) slab. With a stride, tap t lands on the positions t·d + s·i, which
    share the phase (t·d mod s) with other taps: each phase's taps are summed densely into that
    phase's own grid (position (t·d div s) + i), and each phase is then written into every s-th
    position once, instead of every tap adding into every s-th position. The larger leading
    axis is cut over the engine's threads (:mod:`stridelab.core.parallel`): windows of
    different samples (channels) never meet.
    """
    A, B, *O = dwin.shape[:5]
    K = dwin.shape[5:]
    dxp = np.zeros(padded_shape, dtype=dwin.dtype)                   # (A, B, Dp, Hp, Wp)
    by_first = A >= B
    phases: dict[tuple, list] = {}
    for tap in np.ndindex(*K):
        phase = tuple(t * dl % s for t, dl, s in zip(tap, dilation, stride))
        phases.setdefault(phase, []).append(tap)
    strided = any(s > 1 for s in stride)

    def work(part: slice) -> None:
        index = (part,) if by_first else (slice(None), part)
        dst, src = dxp[index], dwin[index]
        for phase, taps in phases.items():
            # this phase's positions φ, φ + s, … of every padded axis, as a dense grid
            grid = dst[(slice(None), slice(None), *(slice(f, None, s) for f, s in
                                                       zip(phase, stride)))]
            acc = np.zeros(grid.shape, dtype=dst.dtype) if strided else grid
            for tap in taps:
                spots = tuple(slice(t * dl // s, t * dl // s + o)
                              for t, dl, s, o in zip(tap, dilation, stride, O))
                acc[(slice(None), slice(None), *spots)] += src[(Ellipsis, *tap)]
            if strided:
                grid[...] = acc

    parallel.parallel_for(work, A if by_first else B, dwin.size)
    return dxp


def pad(x: np.ndarray, pads, value: float = 0.0) -> np.ndarray:
    """Pad (N, C, D, H, W) by (front, back, top, bottom, left, right)."""
    if not any(pads):
        return x
    N, C, *S = x.shape
    padded = [s + pads[2 * i] + pads[2 * i + 1] for i, s in enumerate(S)]
    xp = np.full((N, C, *padded), value, dtype=x.dtype)
    xp[(slice(None), slice(None), *interior(S, pads))] = x
    return xp


def interior(size, pads) -> tuple[slice, ...]:
    """The slices of a padded array that hold the unpadded data of spatial ``size``."""
    return tuple(slice(pads[2 * i], pads[2 * i] + s) for i, s in enumerate(size))


def unpad(xp: np.ndarray, pads) -> np.ndarray:
    """The unpadded view of a padded (N, C, Dp, Hp, Wp) array."""
    size = [p - pads[2 * i] - pads[2 * i + 1] for i, p in enumerate(xp.shape[2:])]
    return xp[(slice(None), slice(None), *interior(size, pads))]


# ---------------------------------------------------------------------- batch chunks


# Convolutions run over chunks of the batch whose im2col matrix holds about this many numbers
# (2 MB in float32), so that each chunk's columns are still in cache when the GEMM reads them
# (measured on one thread of an AVX-512 EPYC: 2 MB beat 4 MB by 2-8% on cases (a), (c) and (d)
# of benchmarks/engine_vs_torch.py, 0.5 MB lost by 10-20%). With several threads every GEMM
# call and every hand-over to the copy threads is a point where all threads wait for the
# slowest, which on cores shared with other work costs a scheduler tick each: chunks are then
# ``THREADED_CHUNK_FACTOR`` times larger (measured on 2 busy cores: 2-3x faster). The
# temporaries are reused either way (:func:`scratch`).
CHUNK_ELEMENTS = 1 << 19
THREADED_CHUNK_FACTOR = 4

_scratch_space = threading.local()


def scratch(name: str, shape, dtype) -> np.ndarray:
    """A reusable temporary of ``shape``: the same memory every time ``name`` is asked for.

    Fresh multi-MB arrays cost page faults on every step (glibc hands big blocks straight back
    to the kernel), more than the copies that fill them. Each thread keeps one buffer per
    name, grown as needed (at most a chunk's worth, see ``CHUNK_ELEMENTS``); the array is
    valid until the next request for the same name, so it must never leave the function that
    asked for it.
    """
    dtype = np.dtype(dtype)
    size = math.prod(shape) * dtype.itemsize
    buffers = _scratch_space.__dict__
    buf = buffers.get(name)
    if buf is None or buf.size < size:
        buf = buffers[name] = np.empty(max(size, 1), dtype=np.uint8)
    return buf[:size].view(dtype).reshape(shape)


def batch_chunks(n_samples: int, per_sample: int) -> list[slice]:
    """Consecutive slices of the batch, each holding about a chunk budget of numbers."""
    budget = CHUNK_ELEMENTS * (1 if parallel.get_num_threads() == 1 else THREADED_CHUNK_FACTOR)
    step = max(1, budget // max(per_sample, 1))
    return [slice(i, min(i + step, n_samples)) for i in range(0, n_samples, step)]
