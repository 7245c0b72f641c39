"""The exact sums of products behind every output cell, and the independent routes that check them.

:func:`correlate_exact` slides a kernel over zero-padded channels in exact arithmetic (integers
and fractions); :func:`conv_scipy`, :func:`conv_engine` and :func:`conv_windows` compute the same
output in float64 by other code, and :func:`check_route` compares the two.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked._args import shorten
from stridelab.worked.conv.padding import Padding, output_size
from stridelab.worked.kernels import Kernel
from stridelab.worked.numbers import Matrix, Number, normalize

MODES = ("correlate", "convolve")
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh")


# ---------------------------------------------------------------- activations


def activate(z: Number, name: str) -> Number:
    """sigma(z): linear and relu keep exact numbers exact; sigmoid and tanh give a float."""
    if name == "linear":
        return z
    if name == "relu":
        return z if z > 0 else 0
    x = float(z)
    if name == "sigmoid":  # the form that never overflows
        if x >= 0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)
    if name == "tanh":
        return math.tanh(x)
    raise ConfigError(f"activation {name!r} not understood; use one of {', '.join(ACTIVATIONS)}")


def activate_array(z: np.ndarray, name: str) -> np.ndarray:
    """The NumPy/SciPy twin of :func:`activate`, used by the independent check."""
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        from scipy.special import expit

        return expit(z)
    if name == "tanh":
        return np.tanh(z)
    return z


def check_activation(name: object) -> str:
    s = str(name or "linear").strip().lower()
    if s not in ACTIVATIONS:
        raise ConfigError(
            f"--activation {shorten(name)} not understood; use one of {', '.join(ACTIVATIONS)}"
        )
    return s


# ---------------------------------------------------------------- exact computation


@dataclass
class CellTerms:
    """The products behind one output cell: per channel, (weight, input, is_padding)."""

    cell: tuple[int, int]  # (row, column); (0, k) for a 1-D output
    terms: list[list[tuple[Number, Number, bool]]]  # (C, KH*KW)
    raw: Number  # sum of table weights times inputs (before the kernel's scale)
    value: Number  # the output a = sigma(scale * raw + b); scale * raw without a layer
    pre: Number | None = None  # z = scale * raw + b (None: the same as value)

    @property
    def z(self) -> Number:
        return self.value if self.pre is None else self.pre


@dataclass
class KernelResult:
    kernel: Kernel  # as given (broadcast over the input channels)
    slid: Kernel  # what is slid over the input: rotated by 180 degrees for convolve
    padding: Padding
    X_pad: list[Matrix]  # (C, H + top + bottom, W + left + right)
    raw: Matrix  # (H_out, W_out) before the kernel's scale
    output: Matrix  # (H_out, W_out): a = sigma(z)
    cells: Mapping[tuple[int, int], CellTerms]  # products of a cell, built when read
    broadcast: bool = False  # one 2-D kernel repeated over several input channels
    checks: list[dict] = field(default_factory=list)
    bias: Number = 0
    pre: Matrix | None = None  # (H_out, W_out): z = scale * raw + b (None: same as output)

    @property
    def output_shape(self) -> tuple[int, int]:
        return (len(self.output), len(self.output[0]))

    @property
    def z(self) -> Matrix:
        return self.output if self.pre is None else self.pre


def _pad(ch: Matrix, p: Padding) -> Matrix:
    width = len(ch[0]) + p.left + p.right
    rows = [[0] * width for _ in range(p.top)]
    rows += [[0] * p.left + list(r) + [0] * p.right for r in ch]
    rows += [[0] * width for _ in range(p.bottom)]
    return rows


class _Cells(Mapping):
    """Cell -> :class:`CellTerms`, each built when first asked for.

    Listing every product of every cell would cost more than the whole sum; an answer needs
    them only for the cells it explains or a student got wrong.
    """

    def __init__(self, shape: tuple[int, int], build):
        self._shape, self._build, self._cache = shape, build, {}

    def __getitem__(self, key) -> CellTerms:
        i, j = key
        if not (0 <= i < self._shape[0] and 0 <= j < self._shape[1]):
            raise KeyError(key)
        if key not in self._cache:
            self._cache[key] = self._build(i, j)
        return self._cache[key]

    def __iter__(self):
        return ((i, j) for i in range(self._shape[0]) for j in range(self._shape[1]))

    def __len__(self) -> int:
        return self._shape[0] * self._shape[1]


def _common_denominator(values) -> int | None:
    """The lcm of the denominators of exact ``values``; None with a float or a huge lcm."""
    d = 1
    for v in values:
        if type(v) is int:
            continue
        if not isinstance(v, Fraction):
            return None
        d = d * v.denominator // math.gcd(d, v.denominator)
        if d > 10**30:
            return None
    return d


def _exact_sums(
    X_pad: list[Matrix], table, out_hw: tuple[int, int], stride: int, dilation: int
) -> Matrix:
    """sum_{c,m,n} table[c][m][n] * X_pad[c][s*i + d*m][s*j + d*n] for every output cell.

    Exact: inputs and weights are scaled to integers over their common denominators and summed
    as int64 (or Python ints in an object array when int64 could overflow); with a float among
    them, float64. Shape (H_out, W_out).
    """
    H_out, W_out = out_hw
    flat_x = [v for ch in X_pad for row in ch for v in row]
    flat_w = [w for ch in table for row in ch for w in row]
    dx, dw = _common_denominator(flat_x), _common_denominator(flat_w)
    if dx is None or dw is None:
        Xa = np.array(X_pad, dtype=np.float64)  # (C, Hp, Wp)
        Wa = np.array(table, dtype=np.float64)  # (C, KH, KW)
        scale: int | None = None
    else:
        xi = [[[int(v * dx) for v in row] for row in ch] for ch in X_pad]
        wi = [[[int(w * dw) for w in row] for row in ch] for ch in table]
        mx = max((abs(v) for ch in xi for row in ch for v in row), default=0)
        mw = max((abs(w) for ch in wi for row in ch for w in row), default=0)
        bound = mx * mw * len(flat_w)
        dtype = np.int64 if bound < 2**62 else object
        Xa, Wa, scale = np.array(xi, dtype=dtype), np.array(wi, dtype=dtype), dx * dw
    C, KH, KW = Wa.shape
    acc = np.zeros((H_out, W_out), dtype=Xa.dtype)
    if acc.dtype == object:
        acc[...] = 0
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below
        for c in range(C):
            for m in range(KH):
                for n in range(KW):
                    w = Wa[c, m, n]
                    if w == 0:
                        continue
                    r0, c0 = m * dilation, n * dilation
                    window = Xa[c, r0 : r0 + stride * (H_out - 1) + 1 : stride,
                                c0 : c0 + stride * (W_out - 1) + 1 : stride]  # (H_out, W_out)
                    acc = acc + window * w
    sums = acc.tolist()
    if scale is None:
        return sums
    if scale == 1:
        return [[int(v) for v in row] for row in sums]
    return [[normalize(Fraction(int(v), scale)) for v in row] for row in sums]


def correlate_exact(
    X: list[Matrix],
    kernel: Kernel,
    padding: Padding,
    stride: int = 1,
    dilation: int = 1,
    *,
    bias: Number = 0,
    activation: str = "linear",
) -> KernelResult:
    """Slide ``kernel`` over the zero-padded ``X`` (C, H, W): exact sums of products.

    Returns z = scale * sum(w * x) + bias and a = activation(z) for every output cell; the
    products behind a cell are listed when ``result.cells[(i, j)]`` is first read.
    """
    C, H, W = len(X), len(X[0]), len(X[0][0])
    KH, KW = kernel.size
    X_pad = [_pad(ch, padding) for ch in X]  # (C, Hp, Wp)
    Hp, Wp = H + padding.top + padding.bottom, W + padding.left + padding.right
    H_out = output_size(Hp, KH, stride, dilation)
    W_out = output_size(Wp, KW, stride, dilation)
    if H_out < 1 or W_out < 1:
        ext = (dilation * (KH - 1) + 1, dilation * (KW - 1) + 1)
        raise ConfigError(
            f"kernel {shorten(kernel.name)} spans {ext[0]}×{ext[1]} but the padded input "
            f"is {Hp}×{Wp}; use a smaller kernel or dilation, or --padding same"
        )
    layer = bias != 0 or activation != "linear"
    raw = _exact_sums(X_pad, kernel.table, (H_out, W_out), stride, dilation)  # (H_out, W_out)
    scale = kernel.scale
    pre: Matrix = [[normalize(scale * v + bias) for v in row] for row in raw]
    output: Matrix = [[normalize(activate(z, activation)) for z in row] for row in pre]
    _refuse_overflow(pre)
    top, left = padding.top, padding.left
    res: KernelResult

    def build(i: int, j: int) -> CellTerms:
        terms = []
        for c in range(C):
            ch_terms = []
            for m in range(KH):
                r = i * stride + m * dilation
                row_pad = not (top <= r < top + H)
                for n in range(KW):
                    q = j * stride + n * dilation
                    is_pad = row_pad or not (left <= q < left + W)
                    ch_terms.append((kernel.table[c][m][n], X_pad[c][r][q], is_pad))
            terms.append(ch_terms)
        # read from the result, so a float fallback of the outputs shows here too
        z = res.z[i][j]
        return CellTerms((i, j), terms, res.raw[i][j], res.output[i][j], z if layer else None)

    res = KernelResult(
        kernel, kernel, padding, X_pad, raw, output, _Cells((H_out, W_out), build), bias=bias,
        pre=pre if layer else None,
    )
    return res


def border_mask(res: KernelResult, in_hw: tuple[int, int], stride: int, dilation: int):
    """(H_out, W_out) booleans: whether a cell's window reaches into the zero padding."""
    H, W = in_hw
    KH, KW = res.kernel.size
    H_out, W_out = res.output_shape
    p = res.padding
    r0 = np.arange(H_out) * stride
    c0 = np.arange(W_out) * stride
    rows = (r0 < p.top) | (r0 + dilation * (KH - 1) >= p.top + H)
    cols = (c0 < p.left) | (c0 + dilation * (KW - 1) >= p.left + W)
    return rows[:, None] | cols[None, :]


def _refuse_overflow(values: Matrix) -> None:
    for row in values:
        for v in row:
            if isinstance(v, float) and not math.isfinite(v):
                raise DataError(
                    "the output overflows float64 (|value| > 1.8e308); give smaller values"
                )


# ---------------------------------------------------------------- independent routes


def dilate(w: np.ndarray, dilation: int) -> np.ndarray:
    """(C, KH, KW) -> (C, d(KH-1)+1, d(KW-1)+1) with zeros between the taps."""
    if dilation == 1:
        return w
    C, KH, KW = w.shape
    out = np.zeros((C, dilation * (KH - 1) + 1, dilation * (KW - 1) + 1), dtype=w.dtype)
    out[:, ::dilation, ::dilation] = w
    return out


def conv_scipy(
    X: np.ndarray,
    w: np.ndarray,
    padding: Padding,
    stride: int,
    dilation: int,
    mode: str,
    *,
    ndim: int = 2,
) -> np.ndarray:
    """scipy.signal route: X (C, H, W), w (C, KH, KW) unflipped -> (H_out, W_out) float64.

    With ``ndim=1`` (H = KH = 1) it uses the 1-D ``scipy.signal.correlate``/``convolve``.
    """
    from scipy.signal import convolve, convolve2d, correlate, correlate2d

    Xp = np.pad(
        np.asarray(X, dtype=np.float64),
        ((0, 0), (padding.top, padding.bottom), (padding.left, padding.right)),
    )
    wd = dilate(np.asarray(w, dtype=np.float64), dilation)
    if ndim == 1:
        op1 = correlate if mode == "correlate" else convolve
        full = sum(
            op1(Xp[c, 0], wd[c, 0], mode="valid", method="direct") for c in range(Xp.shape[0])
        )  # (Lp - K' + 1,)
        return np.asarray(full)[None, ::stride]
    op = correlate2d if mode == "correlate" else convolve2d
    full = sum(op(Xp[c], wd[c], mode="valid") for c in range(Xp.shape[0]))  # (Hp-KH+1, Wp-KW+1)
    return full[::stride, ::stride]


def conv_engine(
    X: np.ndarray,
    w: np.ndarray,
    padding: Padding,
    stride: int,
    dilation: int,
    mode: str,
    *,
    ndim: int = 2,
) -> np.ndarray | None:
    """The NumPy engine's conv2d (conv1d for ``ndim=1``), or ``None`` when it is absent."""
    try:
        from stridelab.core.functional import conv1d, conv2d
    except ImportError:
        return None
    X = np.asarray(X, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if ndim == 1:
        y = conv1d(
            X[None, :, 0, :],  # (1, C, L)
            w[None, :, 0, :],  # (1, C, K)
            stride=stride,
            padding=(padding.left, padding.right),
            dilation=dilation,
            mode=mode,
        )
        return np.asarray(getattr(y, "data", y))[0]  # (1, L_out)
    y = conv2d(
        X[None],  # (1, C, H, W)
        w[None],  # (1, C, KH, KW)
        stride=stride,
        padding=(padding.top, padding.bottom, padding.left, padding.right),
        dilation=dilation,
        mode=mode,
    )
    return np.asarray(getattr(y, "data", y))[0, 0]


def conv_windows(
    X: np.ndarray, w: np.ndarray, padding: Padding, stride: int, dilation: int, mode: str
) -> np.ndarray:
    """A NumPy sliding-window route: X (C, H, W), w (C, KH, KW) -> (H_out, W_out)."""
    from numpy.lib.stride_tricks import sliding_window_view

    if mode == "convolve":
        w = w[:, ::-1, ::-1]
    wd = dilate(np.asarray(w, dtype=np.float64), dilation)  # (C, KH', KW')
    Xp = np.pad(
        np.asarray(X, dtype=np.float64),
        ((0, 0), (padding.top, padding.bottom), (padding.left, padding.right)),
    )
    win = sliding_window_view(Xp, wd.shape[1:], axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("chwij,cij->hw", win, wd)  # (H_out, W_out)


def check_route(
    name: str,
    exact: Matrix,
    other: np.ndarray | None,
    *,
    bias: Number = 0,
    activation: str = "linear",
    exact_z: Matrix | None = None,
) -> dict | None:
    """Compare a route's sum of products (plus bias, through the activation) with ours."""
    if other is None:
        return None
    ref = np.array(exact, dtype=np.float64)
    z_route = np.asarray(other, dtype=np.float64) + float(bias)
    if z_route.shape != ref.shape:
        return {"route": name, "max_abs_error": None, "passed": False}
    a_route = activate_array(z_route, activation)
    err = float(np.max(np.abs(a_route - ref))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    if exact_z is not None:
        ref_z = np.array(exact_z, dtype=np.float64)
        err = max(err, float(np.max(np.abs(z_route - ref_z))))
        scale = max(scale, float(np.max(np.abs(ref_z))))
    tol = 1e-9 * max(1.0, scale)
    return {"route": name, "max_abs_error": err, "passed": bool(err <= tol)}


def nest(chans: list, C: int):
    """A single channel unwrapped (its matrix), several kept as a list: the JSON form's layout."""
    return chans[0] if C == 1 else chans
