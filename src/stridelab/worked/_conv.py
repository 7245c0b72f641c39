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
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked._answer import Answer
from stridelab.worked._args import positive_int, shorten
from stridelab.worked._figures import check_figure_path, save_figure
from stridelab.worked._limits import (
    MAX_CELLS,
    MAX_CHECK_DETAILS,
    MAX_DIGITS,
    MAX_EXACT_CELLS,
    MAX_EXACT_DIGITS,
    MAX_EXACT_PADDED_CELLS,
    MAX_EXACT_PRODUCTS,
    MAX_EXPLAIN_TERMS,
    MAX_IMAGE_PRODUCTS,
    MAX_WINDOW,
    check_limit,
)
from stridelab.worked._numbers import (
    Matrix,
    Number,
    all_exact,
    approx,
    exact_from_array,
    fmt,
    fmt_latex,
    is_exact,
    latex_matrix,
    normalize,
    ordinal,
    paren,
    parse_channels,
    parse_number,
    plural,
    read_text_file,
    to_exact_str,
    to_json,
)
from stridelab.worked._render import add_format_arguments, emit
from stridelab.worked.kernels import KERNELS, Kernel, kernel_from_array, parse_kernel

MODES = ("correlate", "convolve")
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh")
_TIMES = "\u00d7"
_MINUS = "\u2212"


# ---------------------------------------------------------------- padding and sizes


@dataclass(frozen=True)
class Padding:
    """Zero padding actually applied: rows on top/bottom, columns left/right."""

    spec: str  # as requested: "valid", "same", "1", "1,2" or "0,1,0,1"
    top: int
    bottom: int
    left: int
    right: int

    @property
    def total(self) -> tuple[int, int]:
        """Zeros added along (rows, columns)."""
        return (self.top + self.bottom, self.left + self.right)

    @property
    def any(self) -> bool:
        return (self.top, self.bottom, self.left, self.right) != (0, 0, 0, 0)

    def describe(self, ndim: int = 2) -> str:
        """``"1 zero on every side"`` (2-D) or ``"1 zero at each end"`` (1-D)."""
        if ndim == 1:
            if self.left == self.right:
                if self.left == 0:
                    return "no padding"
                return f"{plural(self.left, 'zero')} at each end"
            return f"{plural(self.left, 'zero')} on the left, {self.right} on the right"
        if self.top == self.bottom == self.left == self.right:
            if self.top == 0:
                return "no padding"
            return f"{plural(self.top, 'zero')} on every side"
        return (
            f"{plural(self.top, 'row')} of zeros on top, {self.bottom} at the bottom, "
            f"{plural(self.left, 'column')} on the left, {self.right} on the right"
        )


def output_size(n: int, k: int, stride: int = 1, dilation: int = 1, pad_total: int = 0) -> int:
    """floor((n + pad_total - dilation*(k - 1) - 1) / stride) + 1; <= 0 if k does not fit."""
    return (n + pad_total - dilation * (k - 1) - 1) // stride + 1


def _same_pad(n: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    # TensorFlow/Keras rule: output ceil(n / s); the odd leftover goes to the bottom/right.
    extent = dilation * (k - 1) + 1
    total = max((math.ceil(n / stride) - 1) * stride + extent - n, 0)
    return total // 2, total - total // 2


def resolve_padding(
    spec: str | int,
    in_hw: tuple[int, int],
    k_hw: tuple[int, int],
    stride: int,
    dilation: int,
    *,
    ndim: int = 2,
) -> Padding:
    """Turn ``"valid"``, ``"same"``, ``N``, ``"PH,PW"`` or ``"T,B,L,R"`` into a :class:`Padding`.

    For a 1-D input (``ndim=1``) ``N`` puts N zeros at each end and ``"L,R"`` L on the left
    and R on the right; no rows are added. Each number must be at most ``MAX_WINDOW``.
    """
    s = str(spec).strip().lower()
    if s == "valid":
        return Padding("valid", 0, 0, 0, 0)
    if s == "same":
        top, bottom = (0, 0) if ndim == 1 else _same_pad(in_hw[0], k_hw[0], stride, dilation)
        left, right = _same_pad(in_hw[1], k_hw[1], stride, dilation)
        return Padding("same", top, bottom, left, right)
    v = padding_numbers(s)
    if ndim == 1:
        if len(v) == 1:
            return Padding(s, 0, 0, v[0], v[0])
        if len(v) == 2:
            return Padding(s, 0, 0, v[0], v[1])
        raise ConfigError(
            f"padding {shorten(spec)} has {len(v)} numbers but the input is 1-D; use valid, "
            "same, N (zeros at each end) or 'left,right'"
        )
    if len(v) == 1:
        return Padding(s, v[0], v[0], v[0], v[0])
    if len(v) == 2:
        return Padding(s, v[0], v[0], v[1], v[1])
    return Padding(s, *v)


def padding_numbers(spec: str | int) -> list[int]:
    """The numbers of an explicit padding (``"1"``, ``"1,2"``, ``"0,1,0,1"``), each checked
    against ``MAX_WINDOW``; ``valid``/``same`` give ``[]``."""
    s = str(spec).strip().lower()
    if s in ("valid", "same"):
        return []
    parts = [p for p in re.split(r"[,\s]+", s) if p]
    if len(parts) in (1, 2, 4) and all(re.fullmatch(r"[0-9]{1,100}", p) for p in parts):
        v = [int(p) for p in parts]
        for n in v:
            check_limit(n, MAX_WINDOW, what="--padding")
        return v
    raise ConfigError(
        f"padding {shorten(spec)} not understood; use valid, same, a number of zeros N >= 0, "
        "'PH,PW' or 'top,bottom,left,right' (1-D: N or 'left,right')"
    )


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


def _activate_array(z: np.ndarray, name: str) -> np.ndarray:
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
            f"kernel {shorten(kernel.name)} spans {ext[0]}{_TIMES}{ext[1]} but the padded input "
            f"is {Hp}{_TIMES}{Wp}; use a smaller kernel or dilation, or --padding same"
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


def _dilate(w: np.ndarray, dilation: int) -> np.ndarray:
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
    wd = _dilate(np.asarray(w, dtype=np.float64), dilation)
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
    wd = _dilate(np.asarray(w, dtype=np.float64), dilation)  # (C, KH', KW')
    Xp = np.pad(
        np.asarray(X, dtype=np.float64),
        ((0, 0), (padding.top, padding.bottom), (padding.left, padding.right)),
    )
    win = sliding_window_view(Xp, wd.shape[1:], axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("chwij,cij->hw", win, wd)  # (H_out, W_out)


def _check(
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
    a_route = _activate_array(z_route, activation)
    err = float(np.max(np.abs(a_route - ref))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    if exact_z is not None:
        ref_z = np.array(exact_z, dtype=np.float64)
        err = max(err, float(np.max(np.abs(z_route - ref_z))))
        scale = max(scale, float(np.max(np.abs(ref_z))))
    tol = 1e-9 * max(1.0, scale)
    return {"route": name, "max_abs_error": err, "passed": bool(err <= tol)}


# ---------------------------------------------------------------- inputs and limits


def _depth(v) -> int:
    d = 0
    while isinstance(v, (list, tuple)):
        if not v:
            return d + 1
        v, d = v[0], d + 1
    return d


def as_channels(X, *, channels_first: bool = False, what: str = "the input") -> list[Matrix]:
    """Any accepted input form -> (C, H, W) nested lists of exact numbers.

    A vector (L,) is one channel of one row, (1, 1, L); a matrix (H, W) is one channel, or
    with ``channels_first`` C = H channels of one row each, (H, 1, W); (C, H, W) is kept.
    NumPy arrays are accepted; floats must be finite.
    """
    values = exact_from_array(X, what=what)
    depth = _depth(values)
    if depth == 1 and values and not isinstance(values[0], list):
        values = [[values]]
    elif depth == 2:
        values = [[row] for row in values] if channels_first else [values]
    elif depth != 3:
        raise DataError(f"{what} must be a vector, a matrix or (C, H, W) channels")
    if not values or not values[0] or not values[0][0]:
        raise DataError(f"{what} is empty; give rows separated by ';', e.g. \"1 2; 3 4\"")
    H, W = len(values[0]), len(values[0][0])
    for c, ch in enumerate(values):
        if len(ch) != H or any(len(row) != W for row in ch):
            raise DataError(f"{what}: channel {c} is not {H}{_TIMES}{W} like channel 0")
    cells = len(values) * H * W
    if cells > MAX_EXACT_CELLS:
        raise DataError(
            f"{what} has {cells:,} values, above the limit of {MAX_EXACT_CELLS:,} for exact "
            "arithmetic; use --image for a photo"
        )
    return values


def _as_kernel(k, channels_first: bool) -> Kernel:
    if isinstance(k, Kernel):
        return k
    if isinstance(k, str):
        return parse_kernel(k, channels_first=channels_first)
    return kernel_from_array(k, channels_first=channels_first)


def parse_biases(values) -> list[Number] | None:
    """``--bias`` values (each a number or a comma/space list) -> one number per kernel."""
    if values is None:
        return None
    if isinstance(values, (int, float, Fraction)) and not isinstance(values, bool):
        return [exact_from_array(values, what="--bias")]
    if isinstance(values, str):
        values = [values]
    out: list[Number] = []
    for v in values:
        if isinstance(v, (list, tuple)) and not v:
            v = ""  # argparse hands `--bias=--` over as an empty list: as empty as ""
        if isinstance(v, str):
            toks = [t for t in re.split(r"[,;\s]+", v.strip()) if t]
            if not toks:
                raise DataError("--bias is empty; give one number per kernel, e.g. --bias 0.5")
            out += [parse_number(t, what="--bias") for t in toks]
        else:
            value = exact_from_array(v, what="--bias")
            if isinstance(value, list):
                raise DataError("--bias takes one number per kernel, e.g. --bias 0.5,-1; "
                                "got a nested list")
            out.append(value)
    if len(out) > MAX_EXACT_CELLS:
        raise DataError(f"--bias has {len(out):,} values, above the limit of {MAX_EXACT_CELLS:,}")
    return out or None


def parse_cells(
    text: str, *, one_based: bool = False, ndim: int = 2
) -> list[tuple[int, int]] | str:
    """``"0,1"`` or ``"0,1; 2,2"`` -> 0-based cells; ``"all"`` -> ``"all"``.

    For a 1-D output (``ndim=1``) cells are positions: ``"2"``, ``"0;2"`` or ``"0,2"`` give
    ``[(0, 2)]``-style cells (row 0).
    """
    t = text.strip().lower()
    if t in ("", "all"):
        return "all"
    base = 1 if one_based else 0
    cells = []
    if ndim == 1:
        for part in re.split(r"[;,\s]+", t):
            if not part:
                continue
            if not re.fullmatch(r"\(?\[?[0-9]{1,12}\]?\)?", part):
                raise ConfigError(
                    f"--explain position {shorten(part)} not understood; write positions such "
                    "as '2' or '0;2' (or 'all')"
                )
            k = int(part.strip("()[]"))
            if k < base:
                raise ConfigError(f"--explain position {k}: with --one-based, positions start at 1")
            cells.append((0, k - base))
        return cells
    for part in re.split(r"[;\s]+", t):
        if not part:
            continue
        m = re.fullmatch(r"\(?\[?([0-9]{1,12}),([0-9]{1,12})\]?\)?", part)
        if not m:
            raise ConfigError(
                f"--explain cell {shorten(part)} not understood; write row,col pairs such as "
                "'0,1' or '0,1;2,2' (or 'all')"
            )
        i, j = int(m.group(1)), int(m.group(2))
        if one_based:
            if i < 1 or j < 1:
                raise ConfigError(
                    f"--explain cell {part!r}: with --one-based, rows and columns start at 1"
                )
            i, j = i - 1, j - 1
        cells.append((i, j))
    return cells


def _precheck_sizes(
    C: int, H: int, W: int, kernels: list[Kernel], pads: list[Padding], stride: int,
    dilation: int, explain,
) -> None:
    """Refuse, before any arithmetic, work beyond the documented exact-arithmetic limits."""
    products = explained = 0
    for kernel, pad in zip(kernels, pads):
        Hp, Wp = H + pad.top + pad.bottom, W + pad.left + pad.right
        if C * Hp * Wp > MAX_EXACT_PADDED_CELLS:
            raise ConfigError(
                f"the zero-padded input is {C}{_TIMES}{Hp}{_TIMES}{Wp} = {C * Hp * Wp:,} cells, "
                f"above the limit of {MAX_EXACT_PADDED_CELLS:,} for exact arithmetic; use less "
                "padding (or --image for a photo)"
            )
        KH, KW = kernel.size
        H_out = max(output_size(Hp, KH, stride, dilation), 0)
        W_out = max(output_size(Wp, KW, stride, dilation), 0)
        products += H_out * W_out * C * KH * KW
        if isinstance(explain, list):
            explained += len(explain) * C * KH * KW
        elif explain == "all":
            explained += H_out * W_out * C * KH * KW
    if products > MAX_EXACT_PRODUCTS:
        raise ConfigError(
            f"this needs {products:,} exact products, above the limit of "
            f"{MAX_EXACT_PRODUCTS:,}; use a smaller input, kernel or padding, or a larger stride"
        )
    if explained > MAX_EXPLAIN_TERMS:
        raise ConfigError(
            f"--explain would write out {explained:,} products, above the limit of "
            f"{MAX_EXPLAIN_TERMS:,}; name a few cells, e.g. --explain 0,1"
        )


def _fraction_fallback(res: KernelResult) -> bool:
    """Turn outputs whose exact fractions outgrow ``MAX_EXACT_DIGITS`` into floats."""
    big = 10**MAX_EXACT_DIGITS

    def grown(v) -> bool:
        if type(v) is int:
            return abs(v) >= big
        return isinstance(v, Fraction) and (abs(v.numerator) >= big or v.denominator >= big)

    if not any(grown(v) for m in (res.output, res.z, res.raw) for row in m for v in row):
        return False
    for m in {id(res.output): res.output, id(res.z): res.z, id(res.raw): res.raw}.values():
        for row in m:
            row[:] = [float(v) for v in row]
    return True


# ---------------------------------------------------------------- solve


def solve(
    X,
    kernels: list,
    *,
    padding: str | int = "valid",
    stride: int = 1,
    dilation: int = 1,
    mode: str = "correlate",
    explain: list[tuple[int, int]] | str | None = None,
    one_based: bool = False,
    bias=None,
    activation: str = "linear",
    channels_first: bool = False,
    ndim: int | None = None,
) -> ConvAnswer:
    """Apply each kernel to ``X`` exactly and check the result by independent routes.

    Parameters
    ----------
    X : a vector (L,), a matrix (H, W), or channels (C, H, W); nested lists or an ndarray.
        ints/Fractions are kept exact. With ``channels_first`` a matrix is (C, L): C channels
        of a 1-D signal.
    kernels : :class:`Kernel` objects, strings (names such as ``"sobel_x"`` or literals) or
        arrays, (K,), (KH, KW) or (C, KH, KW); with ``channels_first`` a matrix is (C, K).
    padding : ``"valid"``, ``"same"``, ``N``, ``"PH,PW"`` or ``"top,bottom,left,right"``
        (1-D: ``N`` zeros at each end or ``"left,right"``).
    explain : 0-based cells ``[(i, j), ...]`` (1-D: ``[(0, k), ...]``), a string such as
        ``"0,1"``, ``"all"``, or ``None`` for no step-by-step.
    bias : one number per kernel (or a single number for one kernel), ``None`` for none.
    activation : ``"linear"``, ``"relu"``, ``"sigmoid"`` or ``"tanh"``: a = sigma(z).
    ndim : 1 or 2; ``None`` decides: 1-D when ``X`` is a vector (or ``channels_first``) and
        every kernel is one row, else 2-D (a (1, W) matrix stays a 2-D input).

    Returns
    -------
    ConvAnswer whose ``output`` is (F, H', W') for 2-D and (F, L') for 1-D input.
    """
    if mode not in MODES:
        raise ConfigError(f"mode {shorten(mode)} not understood; use correlate or convolve")
    activation = check_activation(activation)
    stride = positive_int(stride, name="--stride", maximum=MAX_WINDOW)
    dilation = positive_int(dilation, name="--dilation", maximum=MAX_WINDOW)
    padding_numbers(padding)  # refuses a bad or huge padding before anything is read
    vector = channels_first or (X.ndim if isinstance(X, np.ndarray) else _depth(X)) == 1
    X = as_channels(X, channels_first=channels_first)
    if not kernels:
        raise ConfigError("give at least one --kernel (a name such as sobel_x or a literal)")
    ks = [_as_kernel(k, channels_first) for k in kernels]
    C, H, W = len(X), len(X[0]), len(X[0][0])
    if ndim is None:
        ndim = 1 if vector and all(k.size[0] == 1 for k in ks) else 2
    if ndim not in (1, 2):
        raise ConfigError(f"ndim must be 1 or 2, got {ndim!r}")
    if ndim == 1 and (H != 1 or any(k.size[0] != 1 for k in ks)):
        raise ConfigError("a 1-D convolution needs one-row inputs and kernels")
    biases = parse_biases(bias)
    if biases is not None and len(biases) != len(ks):
        raise ConfigError(
            f"--bias gives {plural(len(biases), 'value')} but there "
            f"{'is' if len(ks) == 1 else 'are'} {plural(len(ks), 'kernel')}; give one per "
            "kernel, e.g. --bias 0.5" + (",-1" if len(ks) == 2 else "")
        )
    if isinstance(explain, str):
        explain = parse_cells(explain, one_based=one_based, ndim=ndim)
    if isinstance(explain, list):
        explain = [tuple(c) for c in explain]
    prepared = []
    for kernel in ks:
        broadcast = False
        if kernel.channels != C:
            if kernel.channels != 1:
                sep = "one row per channel" if channels_first else "separated by '|'"
                raise ConfigError(
                    f"kernel {shorten(kernel.name)} has {kernel.channels} channels but the "
                    f"input has {C}; give one kernel slice per input channel, {sep}"
                )
            kernel, broadcast = kernel.broadcast(C), True
        pad = resolve_padding(padding, (H, W), kernel.size, stride, dilation, ndim=ndim)
        prepared.append((kernel, broadcast, pad))
    _precheck_sizes(C, H, W, [k for k, _, _ in prepared], [p for _, _, p in prepared], stride,
                    dilation, explain)
    results = []
    grown = False
    for f, (kernel, broadcast, pad) in enumerate(prepared):
        b = biases[f] if biases is not None else 0
        slid = kernel.flipped() if mode == "convolve" else kernel
        res = correlate_exact(X, slid, pad, stride, dilation, bias=b, activation=activation)
        res.kernel, res.slid, res.broadcast = kernel, slid, broadcast
        grown |= _fraction_fallback(res)
        w = np.array(kernel.weights, dtype=np.float64)  # (C, KH, KW), unflipped
        dim = "" if ndim == 1 else "2d"
        fn = "conv1d" if ndim == 1 else "conv2d"
        routes = [
            ("scipy.signal." + ("correlate" if mode == "correlate" else "convolve") + dim,
             conv_scipy),
            (f"stridelab.core.functional.{fn}", conv_engine),
        ]
        Xf = np.array(X, dtype=np.float64)
        for name, route in routes:
            other = route(Xf, w, pad, stride, dilation, mode, ndim=ndim)
            chk = _check(name, res.output, other, bias=b, activation=activation,
                         exact_z=res.pre)
            if chk is not None:
                res.checks.append(chk)
        failed = [c for c in res.checks if not c["passed"]]
        if failed:  # a bug in stridelab, not in the user's input
            raise RuntimeError(f"conv check failed for kernel {kernel.name!r}: {failed}")
        results.append(res)
    if isinstance(explain, list):
        for res in results:
            H_out, W_out = res.output_shape
            for i, j in explain:
                if not (0 <= i < H_out and 0 <= j < W_out):
                    base = 1 if one_based else 0
                    where = _cell_name((i, j), ndim, one_based)
                    size = (f"output of {plural(W_out, 'value')}" if ndim == 1
                            else f"{H_out}{_TIMES}{W_out} output")
                    raise ConfigError(
                        f"--explain {'position' if ndim == 1 else 'cell'} {where} is outside "
                        f"the {size} of kernel {shorten(res.kernel.label)} "
                        f"({'positions' if ndim == 1 else 'rows and columns'} count from {base})"
                    )
    answer = ConvAnswer(
        X, str(padding), stride, dilation, mode, results, explain, one_based,
        ndim=ndim, activation=activation, layer=biases is not None or activation != "linear",
        channels_first=channels_first, has_bias=biases is not None,
    )
    exact_in = all_exact(X) and all(all_exact(r.kernel.weights) for r in results)
    exact_in = exact_in and all(is_exact(r.bias) for r in results)
    if not exact_in:
        answer.notes.append(
            f"Some values have more than {MAX_EXACT_DIGITS} digits or were given as floats, so "
            "this answer is computed in float64, not exactly."
        )
    if grown:
        answer.notes.append(
            f"Exact fractions of the output would have more than {MAX_EXACT_DIGITS} digits; "
            "they are shown in float64."
        )
    return answer


def _cell_name(cell: tuple[int, int], ndim: int, one_based: bool) -> str:
    i, j = cell
    base = 1 if one_based else 0
    return f"{j + base}" if ndim == 1 else f"{i + base},{j + base}"


# ---------------------------------------------------------------- the answer


@dataclass
class ConvAnswer(Answer):
    """Everything a model answer shows: ``to_markdown``, ``to_dict``, ``output``, ``check``.

    ``X`` is (C, H, W) exact numbers; a 1-D input is kept as (C, 1, L) with ``ndim = 1``.
    """

    X: list[Matrix]  # (C, H, W)
    padding_spec: str
    stride: int
    dilation: int
    mode: str
    results: list[KernelResult]
    explain: list[tuple[int, int]] | str | None  # 0-based cells, "all", or None
    one_based: bool = False
    ndim: int = 2  # 1: a vector (or channels of one), written with z_k, w_m, x_{k+m}
    activation: str = "linear"
    layer: bool = False  # a bias was given or the activation is not linear
    channels_first: bool = False
    has_bias: bool = False  # --bias was given: the formulas write "+ b"
    digits: int = 6  # significant digits of non-exact numbers in to_markdown
    figure: str | None = None
    student_checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (len(self.X), len(self.X[0]), len(self.X[0][0]))

    @property
    def outputs(self) -> list[np.ndarray]:
        """One float64 array per kernel: (H', W'), or (L',) for a 1-D input."""
        arrs = [np.array(r.output, dtype=np.float64) for r in self.results]
        return [a[0] for a in arrs] if self.ndim == 1 else arrs

    @property
    def output(self) -> np.ndarray | list[np.ndarray]:
        """The result a = sigma(z) as float64: (F, H', W') for 2-D, (F, L') for 1-D input.

        Kernels of different sizes give outputs of different sizes: then a list of F arrays.
        """
        arrs = self.outputs
        if len({a.shape for a in arrs}) == 1:
            return np.stack(arrs)
        return arrs

    def to_markdown(self, digits: int | None = None) -> str:
        """The model answer as Markdown with LaTeX."""
        return _conv_markdown(self, self.digits if digits is None else digits)

    def to_dict(self) -> dict:
        """The machine-readable answer (exact integers stay integers)."""
        return _conv_dict(self)

    def check(self, student, kernel: int = 0) -> CheckResult:
        """Compare a student's result for kernel ``kernel`` (0-based) with the right one.

        ``student`` is a matrix literal (``"8 5 -8; 19 5 -19; 22 -1 -22"``), a file name, or
        nested lists / an array; for a 1-D input a vector. See :class:`CheckResult`.
        """
        if not 0 <= kernel < len(self.results):
            raise ConfigError(
                f"--check {kernel + 1} has no kernel to compare with: there "
                f"{'is' if len(self.results) == 1 else 'are'} "
                f"{plural(len(self.results), 'kernel')}"
            )
        return _check_student(self, kernel, student)


# ---------------------------------------------------------------- a student's answer


SLIPS = {
    "flipped": "kernel flipped",
    "shifted": "window off by one",
    "padding": "padding",
    "stride": "stride",
    "dilation": "dilation",
    "sign": "sign error",
    "product_sign": "one product's sign",
    "omitted": "a product left out",
    "bias": "bias left out",
    "activation": "activation not applied",
    "transposed": "rows and columns swapped",
    "shape": "wrong shape",
    "arithmetic": "arithmetic slip",
}


@dataclass
class WrongCell:
    """One cell of a student's answer that differs from the right one."""

    cell: tuple[int, int]  # 0-based (row, column); (0, k) in 1-D
    student: Number
    correct: Number
    slip: str  # a key of SLIPS
    detail: str  # what the slip was, one sentence (Markdown)
    terms: CellTerms  # the correct products and their sum


@dataclass
class CheckResult(Answer):
    """A student's result compared with the computed one.

    ``correct`` is true when every cell matches (a decimal is accepted when it is the right
    value rounded to the places written). ``wrong_cells`` lists each differing cell with the
    correct products and sum and the slip that best reproduces the student's value; ``slip``
    is the most likely slip overall (a key of :data:`SLIPS`), ``message`` says it in words.
    """

    kernel: str
    ndim: int
    one_based: bool
    correct: bool
    expected_shape: tuple[int, ...]
    student_shape: tuple[int, ...]
    n_cells: int
    wrong_cells: list[WrongCell]
    slip: str | None
    message: str
    compared_with: str = "the output"
    n_wrong: int = 0  # wrong cells in all; only the first MAX_CHECK_DETAILS are in wrong_cells
    answer: ConvAnswer | None = field(default=None, repr=False)  # what was compared against
    index: int = 0  # kernel number in ``answer`` (0-based)
    number: int = 1  # the kernel's number in the task (1-based), for the heading

    def to_markdown(self, digits: int | None = None) -> str:
        digits = (self.answer.digits if self.answer else 6) if digits is None else digits
        return _check_markdown(self, digits)

    def to_dict(self) -> dict:
        base = 1 if self.one_based else 0
        out = {
            "kernel": self.kernel,
            "correct": self.correct,
            "expected_shape": list(self.expected_shape),
            "student_shape": list(self.student_shape),
            "compared_with": self.compared_with,
            "slip": self.slip,
            "message": self.message,
            "n_wrong": self.n_wrong,
            "wrong_cells": [],
        }
        for wc in self.wrong_cells:
            cell = [wc.cell[1] + base] if self.ndim == 1 else [wc.cell[0] + base,
                                                               wc.cell[1] + base]
            out["wrong_cells"].append({
                "cell": cell,
                "student": to_json(wc.student),
                "correct": to_json(wc.correct),
                "slip": wc.slip,
                "detail": wc.detail,
                "products": [
                    [to_json(w), to_json(x)] for ch in wc.terms.terms for w, x, _ in ch
                ],
                "sum": to_json(wc.terms.z),
            })
        return out


def _student_matrix(student, ndim: int) -> Matrix:
    """A student's answer -> (rows, cols) exact numbers; a 1-D vector is one row."""
    if isinstance(student, str):
        text = student
        if _looks_like_path(text):
            text = read_text_file(text, what="--check")
        chans = parse_channels(text, what="--check", max_cells=MAX_EXACT_CELLS)
        if len(chans) > 1:
            raise DataError("--check takes one matrix per kernel; repeat --check for more kernels")
        m = chans[0]
    else:
        chans = as_channels(student, what="--check")
        if len(chans) > 1:
            raise DataError("--check takes one matrix per kernel; check each kernel on its own")
        m = chans[0]
    if ndim == 1 and len(m) > 1 and all(len(r) == 1 for r in m):
        m = [[r[0] for r in m]]  # a column typed for a vector
    return m


def _places(v: Number) -> int | None:
    """Decimal places of a terminating decimal (``5.44`` -> 2), None otherwise."""
    if isinstance(v, int):
        return 0
    if not isinstance(v, Fraction):
        return None
    d, twos, fives = v.denominator, 0, 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    return max(twos, fives) if d == 1 else None


def same_value(student: Number, correct: Number) -> bool:
    """Whether a student's value counts as ``correct``.

    Equal values always do. A decimal with p >= 1 places counts when it is within half a unit
    of its last place (``5.44`` for 49/9); an integer must be exact unless the right value is
    a float (sigmoid, tanh) within 1e-9 of it.
    """
    if student == correct:
        return True
    s, c = float(student), float(correct)
    places = _places(student)
    tol = 1e-9 * max(1.0, abs(c))
    if places is not None and places >= 1:
        tol = max(tol, 0.5 * 10.0 ** (-places) * (1 + 1e-9))
    return abs(s - c) <= tol


def _alternative(answer: ConvAnswer, index: int, **changes) -> KernelResult:
    """Kernel ``index`` of ``answer`` recomputed with ``changes`` (exact, no checks kept)."""
    res = answer.results[index]
    mode = changes.get("mode", answer.mode)
    pad_spec = changes.get("padding", answer.padding_spec)
    stride = changes.get("stride", answer.stride)
    dilation = changes.get("dilation", answer.dilation)
    H, W = answer.input_shape[1:]
    kernel = res.kernel
    pad = resolve_padding(pad_spec, (H, W), kernel.size, stride, dilation, ndim=answer.ndim)
    slid = kernel.flipped() if mode == "convolve" else kernel
    bias = changes.get("bias", res.bias)
    act = changes.get("activation", answer.activation)
    return correlate_exact(answer.X, slid, pad, stride, dilation, bias=bias, activation=act)


def _float_alternative(res: KernelResult, answer: ConvAnswer, *, di: int = 0, dj: int = 0,
                       edge: bool = False) -> np.ndarray:
    """The output with every window shifted by (di, dj), or with edge-replicated padding.

    Float64 (the comparison allows for it): (H_out, W_out).
    """
    from numpy.lib.stride_tricks import sliding_window_view

    p, s, d = res.padding, answer.stride, answer.dilation
    X = np.array(answer.X, dtype=np.float64)  # (C, H, W)
    mode = "edge" if edge else "constant"
    Xp = np.pad(X, ((0, 0), (p.top, p.bottom), (p.left, p.right)), mode=mode)  # (C, Hp, Wp)
    ey = 0 if answer.ndim == 1 else 1
    Xq = np.pad(Xp, ((0, 0), (ey, ey), (1, 1)))  # one more zero all round, for the shifts
    w = _dilate(np.array(res.slid.weights, dtype=np.float64), d)  # (C, KH', KW')
    win = sliding_window_view(Xq, w.shape[1:], axis=(1, 2))  # (C, Hq', Wq', KH', KW')
    full = np.einsum("chwij,cij->hw", win, w)  # (Hq', Wq') every stride-1 window
    H_out, W_out = res.output_shape
    rows = np.arange(H_out) * s + di + ey
    cols = np.arange(W_out) * s + dj + 1
    z = full[np.ix_(rows, cols)] + float(res.bias)
    return _activate_array(z, answer.activation)


def _touches_padding(ct: CellTerms) -> bool:
    return any(p for ch in ct.terms for _, _, p in ch)


def _shift_words(di: int, dj: int, ndim: int) -> str:
    if ndim == 1:
        return "one position to the right" if dj > 0 else "one position to the left"
    parts = []
    if di:
        parts.append("one row lower" if di > 0 else "one row higher")
    if dj:
        parts.append("one column to the right" if dj > 0 else "one column to the left")
    return " and ".join(parts)


def _check_student(answer: ConvAnswer, index: int, student) -> CheckResult:
    res = answer.results[index]
    S = _student_matrix(student, answer.ndim)
    E = res.output
    shape_s = (len(S), len(S[0]))
    label = res.kernel.label
    if shape_s != res.output_shape:
        return _check_shape(answer, index, S, shape_s)
    cells = [(i, j) for i in range(len(E)) for j in range(len(E[0]))]
    n = len(cells)
    wrong = [c for c in cells if not same_value(S[c[0]][c[1]], E[c[0]][c[1]])]
    shape = _dims(res.output_shape, answer.ndim)
    n_wrong = len(wrong)
    listed = wrong[:MAX_CHECK_DETAILS]
    if not wrong:
        return CheckResult(label, answer.ndim, answer.one_based, True, shape, shape, n, [], None,
                           f"All correct: every one of the {plural(n, 'value')} matches.",
                           answer=answer, index=index, number=index + 1)
    hyps = _hypotheses(answer, index)
    # 1. one slip made everywhere: the student's whole matrix is an alternative output
    for key, detail, alt in hyps:
        if all(same_value(S[i][j], alt[i][j]) for i, j in cells):
            wcs = [_wrong(S, E, res, c, key, "") for c in listed]
            msg = (f"{_count_differ(len(wrong), n)} Most likely slip — {SLIPS[key]}: {detail}; "
                   "this reproduces every value you wrote." + _listed(n_wrong))
            return CheckResult(label, answer.ndim, answer.one_based, False, shape, shape, n, wcs,
                               key, msg, answer=answer, index=index, number=index + 1,
                               n_wrong=n_wrong)
    # 2. cell by cell: which slip reproduces each wrong value
    wcs = [_diagnose_cell(answer, res, S, c, hyps) for c in listed]
    counts = Counter(wc.slip for wc in wcs)
    key, k = counts.most_common(1)[0]
    n_border = int(border_mask(res, answer.input_shape[1:], answer.stride, answer.dilation).sum())
    border = (res.padding.any and all(_touches_padding(res.cells[c]) for c in wrong)
              and len(wrong) >= max(2, n_border / 2))
    if border and key in ("arithmetic", "padding"):
        key, k = "padding", len(wcs)
        detail = (
            "every wrong cell's window reaches into the zero padding and every other cell is "
            "right: the padding zeros were not used as zeros there"
        )
    else:
        detail = next(wc.detail for wc in wcs if wc.slip == key)
        if k > 1:
            detail = _generic_detail(key, detail)
    share = "" if k == len(wcs) else f" ({k} of the {len(wcs)} wrong values diagnosed)"
    msg = (f"{_count_differ(len(wrong), n)} Most likely slip — {SLIPS[key]}{share}: {detail}."
           + _listed(n_wrong))
    return CheckResult(label, answer.ndim, answer.one_based, False, shape, shape, n, wcs, key,
                       msg, answer=answer, index=index, number=index + 1, n_wrong=n_wrong)


def _listed(n_wrong: int) -> str:
    if n_wrong <= MAX_CHECK_DETAILS:
        return ""
    return f" The first {MAX_CHECK_DETAILS} wrong values are shown."


def _count_differ(k: int, n: int) -> str:
    return f"{k} of {plural(n, 'value')} {'differs' if k == 1 else 'differ'}."


def _generic_detail(key: str, detail: str) -> str:
    return {
        "sign": "these values have the wrong sign",
        "product_sign": "in each of these, one product entered with the wrong sign",
        "omitted": "in each of these, one product was left out of the sum",
        "arithmetic": "the products are right but their sums are not",
    }.get(key, detail)


def _dims(shape: tuple[int, int], ndim: int) -> tuple[int, ...]:
    return (shape[1],) if ndim == 1 else shape


def _wrong(S, E, res, c, key, detail) -> WrongCell:
    i, j = c
    return WrongCell(c, S[i][j], E[i][j], key, detail, res.cells[c])


def _hypotheses(answer: ConvAnswer, index: int) -> list[tuple[str, str, Matrix]]:
    """(slip, what it was, the output it gives) for every slip made over the whole matrix."""
    res = answer.results[index]
    k = res.kernel
    hyps: list[tuple[str, str, Matrix]] = []
    other = "convolve" if answer.mode == "correlate" else "correlate"
    if k.flipped().table != k.table:
        alt = _alternative(answer, index, mode=other).output
        if answer.mode == "correlate":
            detail = ("the kernel was rotated by 180° first: this is the convolution, not the "
                      "cross-correlation the task asks for")
        else:
            detail = ("the kernel was not rotated by 180°: this is the cross-correlation, not "
                      "the convolution the task asks for")
        if k.flipped().table == k.negated().table:
            detail += " (for this kernel the rotation is the same as changing every sign)"
        hyps.append(("flipped", detail, alt))
    shifts = [(0, -1), (0, 1)] if answer.ndim == 1 else [
        (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)]
    for di, dj in shifts:
        alt = _float_alternative(res, answer, di=di, dj=dj).tolist()
        hyps.append(("shifted", f"every window was placed {_shift_words(di, dj, answer.ndim)}",
                     alt))
    if res.padding.any:
        alt = _float_alternative(res, answer, edge=True).tolist()
        hyps.append(("padding", "the input was padded by repeating its edge values instead of "
                     "with zeros", alt))
    if res.bias != 0:
        alt = _alternative(answer, index, bias=0).output
        hyps.append(("bias", f"the bias b = {fmt(res.bias)} was left out", alt))
    if answer.activation != "linear":
        hyps.append(("activation", f"{answer.activation} was not applied: these are the z "
                     "values", res.z))
    H, W = res.output_shape
    if answer.ndim == 2 and H == W and H > 1:
        hyps.append(("transposed", "rows and columns were swapped (the transpose)",
                     [list(r) for r in zip(*res.output)]))
    hyps.append(("sign", "every value has the wrong sign",
                 [[normalize(-v) for v in row] for row in res.output]))
    return hyps


def _diagnose_cell(answer: ConvAnswer, res: KernelResult, S: Matrix, c, hyps) -> WrongCell:
    i, j = c
    s_val, e_val = S[i][j], res.output[i][j]
    ct = res.cells[c]
    scale, act = res.kernel.scale, answer.activation
    if res.padding.any and _touches_padding(ct) and s_val == 0:
        return _wrong(S, res.output, res, c, "padding",
                      "this window reaches into the padding and was left as 0")
    if e_val != 0 and same_value(s_val, normalize(-e_val)):
        return _wrong(S, res.output, res, c, "sign", "the sign is wrong")
    z = ct.z
    products = [(w, x) for ch in ct.terms for w, x, _ in ch if w * x != 0]
    for w, x in products:
        p = scale * w * x
        if same_value(s_val, activate(normalize(z - 2 * p), act)):
            return _wrong(S, res.output, res, c, "product_sign",
                          f"the product {_prod_text(w, x)} = {fmt(normalize(w * x))} entered "
                          "with the wrong sign")
    for w, x in products:
        p = scale * w * x
        if same_value(s_val, activate(normalize(z - p), act)):
            return _wrong(S, res.output, res, c, "omitted",
                          f"the product {_prod_text(w, x)} = {fmt(normalize(w * x))} was left "
                          "out of the sum")
    for key, detail, alt in hyps:
        if key == "sign":
            continue
        if same_value(s_val, alt[i][j]):
            if key == "padding" and not _touches_padding(ct):
                continue
            return _wrong(S, res.output, res, c, key, detail)
    diff = normalize(s_val - e_val)
    return _wrong(S, res.output, res, c, "arithmetic",
                  f"the products sum to {fmt(e_val)}, not {fmt(s_val)} (off by {fmt(diff)})")


def _prod_text(w: Number, x: Number) -> str:
    return f"{paren(fmt(w))}·{paren(fmt(x))}"


def _check_shape(answer: ConvAnswer, index: int, S: Matrix, shape_s) -> CheckResult:
    """The student's matrix has another shape: find the setting that gives that shape."""
    res = answer.results[index]
    label, ndim = res.kernel.label, answer.ndim
    exp_shape = _dims(res.output_shape, ndim)
    stu_shape = _dims(shape_s, ndim) if not (ndim == 1 and shape_s[0] != 1) else shape_s
    spec = str(answer.padding_spec).strip().lower()
    KH, KW = res.kernel.size
    full = f"{KH - 1},{KW - 1}" if ndim == 2 else f"{KW - 1}"
    candidates = []
    if spec != "valid":
        candidates.append(("padding", dict(padding="valid"), "the 'valid' output (no padding)",
                           "the padding was left out"))
    if spec != "same":
        candidates.append(("padding", dict(padding="same"), "the 'same' output",
                           f"padding was added, but the task's padding is `{answer.padding_spec}`"))
    candidates.append(("padding", dict(padding=full), "the 'full' output (k − 1 zeros on every "
                       "side)", f"the task's padding is `{answer.padding_spec}`"))
    if answer.stride > 1:
        candidates.append(("stride", dict(stride=1), "the stride-1 output",
                           f"the stride of {answer.stride} was not applied"))
    if answer.dilation > 1:
        candidates.append(("dilation", dict(dilation=1), "the output without dilation",
                           f"the dilation of {answer.dilation} was not applied"))
    H, W = answer.input_shape[1:]
    for key, change, name, why in candidates:
        try:
            pad = resolve_padding(change.get("padding", answer.padding_spec), (H, W),
                                  res.kernel.size, change.get("stride", answer.stride),
                                  change.get("dilation", answer.dilation), ndim=ndim)
        except ConfigError:
            continue
        Hp, Wp = H + pad.top + pad.bottom, W + pad.left + pad.right
        s, d = change.get("stride", answer.stride), change.get("dilation", answer.dilation)
        shape_alt = (output_size(Hp, KH, s, d), output_size(Wp, KW, s, d))
        if shape_alt != shape_s or answer.input_shape[0] * Hp * Wp > MAX_EXACT_PADDED_CELLS:
            continue
        alt = solve(
            answer.X, [res.kernel], padding=change.get("padding", answer.padding_spec),
            stride=s, dilation=d, mode=answer.mode, bias=[res.bias] if answer.has_bias else None,
            activation=answer.activation, one_based=answer.one_based, ndim=ndim,
        )
        sub = alt.check(S)
        head = (f"Your answer is {_shape_text(stu_shape)} but the output is "
                f"{_shape_text(exp_shape)}: {_shape_text(stu_shape)} is the size of {name}, "
                f"so {why}.")
        if sub.correct:
            msg = head + f" Every value matches {name}."
        else:
            msg = head + f" Compared with {name}: " + sub.message
        return CheckResult(label, ndim, answer.one_based, False, exp_shape, stu_shape,
                           sub.n_cells, sub.wrong_cells, key, msg, compared_with=name,
                           answer=alt, index=0, number=index + 1, n_wrong=sub.n_wrong)
    msg = (f"Your answer is {_shape_text(stu_shape)} but the output is "
           f"{_shape_text(exp_shape)} ({_size_sentence(answer, res)}); no padding, stride or "
           "dilation slip gives your size.")
    return CheckResult(label, ndim, answer.one_based, False, exp_shape, stu_shape,
                       0, [], "shape", msg, answer=answer, index=index, number=index + 1)


def _shape_text(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return plural(shape[0], "value")
    return _TIMES.join(str(s) for s in shape)


def _size_sentence(answer: ConvAnswer, res: KernelResult) -> str:
    H, W = answer.input_shape[1:]
    KH, KW = res.kernel.size
    pt, s, d = res.padding.total, answer.stride, answer.dilation
    if answer.ndim == 1:
        return f"L_out = {_size_plain(W, KW, pt[1], s, d)}"
    return f"H_out = {_size_plain(H, KH, pt[0], s, d)}, W_out = {_size_plain(W, KW, pt[1], s, d)}"


def _size_plain(n: int, k: int, p: int, s: int, d: int) -> str:
    ext = d * (k - 1) + 1
    return f"floor(({n} + {p} - {ext})/{s}) + 1 = {output_size(n, k, s, d, p)}"


def _check_markdown(cr: CheckResult, digits: int) -> str:
    out = [f"### Your answer for {'filter' if cr.ndim == 1 else 'kernel'} {cr.number}: "
           f"`{cr.kernel}`", ""]
    if cr.correct:
        out += ["**All correct**: " + cr.message.removeprefix("All correct: "), ""]
    else:
        out += [cr.message, ""]
    if cr.wrong_cells and cr.answer is not None:
        res = cr.answer.results[cr.index]
        for wc in cr.wrong_cells:
            where = _cell_name(wc.cell, cr.ndim, cr.one_based)
            why = f": {wc.detail}" if wc.detail else ""
            out.append(
                f"- {'Position' if cr.ndim == 1 else 'Cell'} {where}: you wrote "
                f"{fmt(wc.student, digits)}, the right value is {fmt(wc.correct, digits)}{why}."
            )
            out += ["", _explain_line(cr.answer, res, wc.terms, digits), ""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- images (float path)


@dataclass
class ImageAnswer(Answer):
    """Filters applied to an image in float64 (too large to write out cell by cell)."""

    name: str
    X: np.ndarray  # (C, H, W) float64 in [0, 1]
    padding_spec: str
    stride: int
    dilation: int
    mode: str
    kernels: list[Kernel]
    paddings: list[Padding]
    outputs: list[np.ndarray]  # each (H_out, W_out): a = sigma(z)
    checks: list[list[dict]]
    figure: str | None = None
    biases: list[float] | None = None
    activation: str = "linear"
    digits: int = 6

    @property
    def output(self) -> np.ndarray | list[np.ndarray]:
        """(F, H', W') float64; a list of F arrays when the kernels' outputs differ in size."""
        if len({y.shape for y in self.outputs}) == 1:
            return np.stack(self.outputs)
        return list(self.outputs)

    def to_markdown(self, digits: int | None = None) -> str:
        return _image_markdown(self)

    def to_dict(self) -> dict:
        return _image_dict(self)


def solve_image(
    image: np.ndarray,
    kernels: list,
    *,
    name: str = "image",
    padding: str | int = "same",
    stride: int = 1,
    dilation: int = 1,
    mode: str = "correlate",
    bias=None,
    activation: str = "linear",
) -> ImageAnswer:
    """Apply each kernel to an image (H, W) or (H, W, C) in float64, checked by a second route.

    Refused up front (one line each): a padded channel over ``MAX_CELLS`` cells, or a kernel
    needing over ``MAX_IMAGE_PRODUCTS`` multiply-adds.
    """
    if mode not in MODES:
        raise ConfigError(f"mode {shorten(mode)} not understood; use correlate or convolve")
    activation = check_activation(activation)
    stride = positive_int(stride, name="--stride", maximum=MAX_WINDOW)
    dilation = positive_int(dilation, name="--dilation", maximum=MAX_WINDOW)
    padding_numbers(padding)
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = img[None]  # (1, H, W)
    elif img.ndim == 3:
        img = np.moveaxis(img, -1, 0)  # (C, H, W)
    else:
        raise DataError(f"image {name!r} has shape {img.shape}; expected (H, W) or (H, W, C)")
    if not np.all(np.isfinite(img)):
        raise DataError(f"image {name!r} holds NaN or Inf values")
    if not kernels:
        raise ConfigError("give at least one --kernel (a name such as sobel_x or a literal)")
    C, H, W = img.shape
    ks = [_as_kernel(k, False) for k in kernels]
    biases = parse_biases(bias)
    if biases is not None and len(biases) != len(ks):
        raise ConfigError(
            f"--bias gives {plural(len(biases), 'value')} for {plural(len(ks), 'kernel')}; "
            "give one per kernel"
        )
    prepared = []
    for kernel in ks:
        if kernel.channels not in (1, C):
            raise ConfigError(
                f"kernel {shorten(kernel.name)} has {kernel.channels} channels but image "
                f"{name!r} has {C}; use a 2-D kernel or one per channel separated by '|'"
            )
        kernel = kernel.broadcast(C)
        pad = resolve_padding(padding, (H, W), kernel.size, stride, dilation)
        Hp, Wp = H + pad.top + pad.bottom, W + pad.left + pad.right
        if Hp * Wp > MAX_CELLS:
            raise ConfigError(
                f"the padded image is {Hp}{_TIMES}{Wp} = {Hp * Wp:,} cells, above the limit of "
                f"{MAX_CELLS:,}; use less padding or a smaller image"
            )
        KH, KW = kernel.size
        H_out, W_out = output_size(Hp, KH, stride, dilation), output_size(Wp, KW, stride, dilation)
        if H_out < 1 or W_out < 1:
            raise ConfigError(
                f"kernel {shorten(kernel.name)} is larger than the padded {Hp}{_TIMES}{Wp} image; "
                "use --padding same or a smaller kernel"
            )
        if H_out * W_out * C * KH * KW > MAX_IMAGE_PRODUCTS:
            raise ConfigError(
                f"kernel {shorten(kernel.label)} on this image needs "
                f"{H_out * W_out * C * KH * KW:,} multiply-adds, above the limit of "
                f"{MAX_IMAGE_PRODUCTS:,}; use a smaller kernel, less dilation or a larger stride"
            )
        prepared.append((kernel, pad))
    pads, outs, checks = [], [], []
    for f, (kernel, pad) in enumerate(prepared):
        w = np.array(kernel.weights, dtype=np.float64)  # (C, KH, KW)
        b = float(biases[f]) if biases is not None else 0.0
        y = conv_scipy(img, w, pad, stride, dilation, mode)  # (H_out, W_out)
        other = conv_engine(img, w, pad, stride, dilation, mode)
        route = "stridelab.core.functional.conv2d"
        if other is None:
            other, route = conv_windows(img, w, pad, stride, dilation, mode), "numpy sliding windows"
        a = _activate_array(y + b, activation)
        chk = _check(route, a.tolist(), other, bias=b, activation=activation,
                     exact_z=(y + b).tolist())
        if not chk["passed"]:
            raise RuntimeError(f"conv check failed for kernel {kernel.name!r}: {chk}")
        pads.append(pad)
        outs.append(a)
        checks.append([chk])
    return ImageAnswer(
        name, img, str(padding), stride, dilation, mode, [k for k, _ in prepared], pads, outs,
        checks, biases=[float(b) for b in biases] if biases is not None else None,
        activation=activation,
    )


# ---------------------------------------------------------------- Markdown


def _idx(i: int, j: int, one_based: bool) -> str:
    return f"{i + 1},{j + 1}" if one_based else f"{i},{j}"


def _shape(*dims: int) -> str:
    return _TIMES.join(str(d) for d in dims)


_ACT_LATEX = {"relu": r"\mathrm{relu}", "sigmoid": r"\sigma", "tanh": r"\tanh"}


def _symbols(answer: ConvAnswer, f: int) -> dict[str, str]:
    """LaTeX names of output, activation, bias and kernel for kernel ``f``."""
    F = len(answer.results)
    sup = f"^{{({f})}}" if F > 1 else ""
    if answer.ndim == 1:
        return {"z": "z" + sup, "a": "a" + sup, "b": "b" + sup, "w": "w" + sup, "x": "x"}
    if answer.layer:
        return {"z": "Z" + sup, "a": "A" + sup, "b": "b" + sup, "w": "K", "x": "X"}
    return {"z": "Y", "a": "Y", "b": "b", "w": "K", "x": "X"}


def _result_index(answer: ConvAnswer, res: KernelResult) -> int:
    return next((n for n, r in enumerate(answer.results) if r is res), 0)


def _idx1d(s: int, d: int, one_based: bool) -> str:
    if one_based:
        if s == d == 1:
            return "k+m-1"
        ks = "(k-1)" if s == 1 else f"{s}(k-1)"
        ms = "(m-1)" if d == 1 else f"{d}(m-1)"
        return f"{ks}+{ms}+1"
    return ("k" if s == 1 else f"{s}k") + "+" + ("m" if d == 1 else f"{d}m")


def _definition(answer: ConvAnswer) -> str:
    if answer.ndim == 1:
        return _definition_1d(answer)
    s, d = answer.stride, answer.dilation
    C = answer.input_shape[0]
    csum, cidx = (r"\sum_{c}", "c,") if C > 1 else ("", "")
    if answer.one_based:
        rows = r"s(i-1)+d(m-1)+1,\; s(j-1)+d(n-1)+1"
        sums = r"\sum_{m=1}^{k_h}\sum_{n=1}^{k_w}"
    else:
        rows = r"s\,i+d\,m,\; s\,j+d\,n"
        sums = r"\sum_{m=0}^{k_h-1}\sum_{n=0}^{k_w-1}"
    K = r"K^{\mathrm{rot}}" if answer.mode == "convolve" else "K"
    xpad = r"X^{\mathrm{pad}}"
    Y = "Z" if answer.layer else "Y"
    bias = " + b" if answer.has_bias else ""
    act = ""
    if answer.activation != "linear":
        act = f",\\qquad A_{{i,j}} = {_ACT_LATEX[answer.activation]}(Z_{{i,j}})"
    lines = [
        f"$${Y}_{{i,j}} = {csum}{sums} {K}_{{{cidx}m,n}}\\, {xpad}_{{{cidx}{rows}}}{bias}{act}$$",
        "",
    ]
    base = "1-based" if answer.one_based else "0-based"
    text = (
        f"with stride s = {s} and dilation d = {d}. Indices are {base} (row, column); "
        r"$X^{\mathrm{pad}}$ is the input with its zero padding"
    )
    if answer.has_bias:
        text += "; b is the kernel's bias"
    if answer.mode == "convolve":
        text += (
            r". Convolution slides the kernel rotated by 180°, "
            r"$K^{\mathrm{rot}}_{m,n} = K_{k_h-1-m,\,k_w-1-n}$"
        )
    else:
        text += " (cross-correlation: the kernel is slid as written, not flipped)"
    lines.append(text + ".")
    return "\n".join(lines)


def _definition_1d(answer: ConvAnswer) -> str:
    s, d = answer.stride, answer.dilation
    C, F = answer.input_shape[0], len(answer.results)
    fs = "^{(f)}" if F > 1 else ""
    sup = "f,c" if F > 1 and C > 1 else ("c" if C > 1 else ("f" if F > 1 else ""))
    sup = f"({sup})" if sup else ""
    if answer.mode == "convolve":
        sup = r"\mathrm{rot}" + ("," + sup if sup else "")
    w = "w" + (f"^{{{sup}}}" if sup else "")
    x = "x^{(c)}" if C > 1 else "x"
    csum = r"\sum_{c}" if C > 1 else ""
    msum = r"\sum_{m=1}^{M}" if answer.one_based else r"\sum_{m=0}^{M-1}"
    bias = f" + b{fs}" if answer.has_bias else ""
    z = f"z{fs}_k"
    rel = f"{z} = {csum}{msum} {w}_m\\, {x}_{{{_idx1d(s, d, answer.one_based)}}}{bias}"
    if answer.activation != "linear":
        rel += f",\\qquad a{fs}_k = {_ACT_LATEX[answer.activation]}({z})"
    elif answer.layer:
        rel += f",\\qquad a{fs}_k = {z}"
    Ms = sorted({r.kernel.size[1] for r in answer.results})
    M = " or ".join(str(m) for m in Ms)
    base = "1" if answer.one_based else "0"
    parts = [f"M = {M} filter taps, stride s = {s}, dilation d = {d}; k counts output positions "
             f"from {base}"]
    if any(r.padding.any for r in answer.results):
        parts.append("x is the input with its zero padding")
    if C > 1:
        parts.append(f"the sum runs over the {C} input channels c")
    if answer.has_bias:
        parts.append("b is the filter's bias")
    if answer.activation == "linear" and answer.layer:
        parts.append("the activation is linear, so a = z")
    text = "; ".join(parts)
    if answer.mode == "convolve":
        text += r". Convolution slides the filter reversed, $w^{\mathrm{rot}}_m = w_{M-1-m}$"
    else:
        text += " (cross-correlation: the filter is slid as written, not reversed)"
    return f"$${rel}$$\n\nwith {text}."


def _size_formula(n: int, k: int, p_total: int, s: int, d: int) -> str:
    if d == 1:
        inner = f"{n} + {p_total} - {k}" if p_total else f"{n} - {k}"
    else:
        inner = (
            f"{n} + {p_total} - {d}\\cdot({k}-1) - 1"
            if p_total
            else (f"{n} - {d}\\cdot({k}-1) - 1")
        )
    out = output_size(n, k, s, d, p_total)
    return f"\\left\\lfloor \\frac{{{inner}}}{{{s}}} \\right\\rfloor + 1 = {out}"


def _term_latex(w: Number, x: Number, is_pad: bool, digits: int) -> str:
    xs = r"\underline{0}" if is_pad else paren(fmt_latex(x, digits))
    return f"{paren(fmt_latex(w, digits))}\\cdot {xs}"


def _explain_line(answer: ConvAnswer, res: KernelResult, ct: CellTerms, digits: int) -> str:
    """``$$Y_{0,1} = ... = -5$$``; for a layer z = ... + b and, for σ, a second formula."""
    f = _result_index(answer, res)
    sym = _symbols(answer, f)
    cell = _cell_name(ct.cell, answer.ndim, answer.one_based)
    groups = [" + ".join(_term_latex(w, x, p, digits) for w, x, p in ch) for ch in ct.terms]
    if len(groups) == 1:
        body = groups[0]
        steps = []
    else:
        body = " + ".join(f"\\left({g}\\right)_{{c={c}}}" for c, g in enumerate(groups))
        partial = [normalize(sum(w * x for w, x, _ in ch)) for ch in ct.terms]
        steps = [" + ".join(paren(fmt_latex(p, digits)) for p in partial)]
    b = f" + {paren(fmt_latex(res.bias, digits))}" if answer.has_bias else ""
    scale = res.kernel.scale
    lhs = f"{sym['z']}_{{{cell}}}"
    if scale != 1:
        sl = fmt_latex(Fraction(scale), digits)
        line = f"{lhs} = {sl}\\left({body}\\right){b}"
        line += "".join(f" = {sl}\\left({st}\\right){b}" for st in steps)
        line += f" = {sl}\\cdot {paren(fmt_latex(ct.raw, digits))}{b}"
    else:
        line = f"{lhs} = {body}{b}" + "".join(f" = {st}{b}" for st in steps)
        if b and not steps and len(ct.terms[0]) > 1:
            line += f" = {fmt_latex(ct.raw, digits)}{b}"
    z = ct.z
    line += f" = {fmt_latex(z, digits)}"
    ap = approx(z)
    if ap is not None:
        line += f" \\approx {ap}"
    out = f"$${line}$$"
    act = answer.activation
    if act != "linear":
        a_lhs = f"{sym['a']}_{{{cell}}}"
        zs = fmt_latex(z, digits)
        if act == "relu":
            a_line = f"\\max(0,\\ {zs}) = {fmt_latex(ct.value, digits)}"
        elif act == "sigmoid":
            a_line = (f"\\frac{{1}}{{1 + e^{{{fmt_latex(normalize(-z), digits)}}}}} \\approx "
                      f"{fmt_latex(ct.value, digits)}")
        else:
            a_line = f"\\tanh({zs}) \\approx {fmt_latex(ct.value, digits)}"
        out += f"\n\n$${a_lhs} = {_ACT_LATEX[act]}({lhs}) = {a_line}$$"
    return out


def _vec(m: Matrix, digits: int) -> str:
    return latex_matrix(m, digits)


def _output_latex(answer: ConvAnswer, res: KernelResult, digits: int) -> str:
    """``$$Y = ...$$`` (z and, for σ, a = σ(z))."""
    sym = _symbols(answer, _result_index(answer, res))
    z = res.z
    b = f" + {paren(fmt_latex(res.bias, digits))}" if answer.has_bias else ""
    if res.kernel.scale != 1:
        sl = fmt_latex(Fraction(res.kernel.scale), digits)
        s = f"{sym['z']} = {sl}{_vec(res.raw, digits)}{b}"
        if any(approx(v) is not None for row in z for v in row):
            s += " \\approx " + latex_matrix([[float(v) for v in r] for r in z], 4)
        else:
            s += " = " + latex_matrix(z, digits)
    elif b:
        s = f"{sym['z']} = {_vec(res.raw, digits)}{b} = {_vec(z, digits)}"
    else:
        s = f"{sym['z']} = {_vec(z, digits)}"
    out = f"$${s}$$"
    if answer.activation != "linear":
        rel = "=" if answer.activation == "relu" and all_exact(res.output) else "\\approx"
        out += (f"\n\n$${sym['a']} = {_ACT_LATEX[answer.activation]}({sym['z']}) {rel} "
                f"{_vec(res.output, digits)}$$")
    return out


def _channels_latex(sym: str, chans: list[Matrix], digits: int) -> str:
    if len(chans) == 1:
        return f"$${sym} = {latex_matrix(chans[0], digits)}$$"
    return (
        "$$"
        + ",\\quad ".join(
            f"{sym}_{{c={c}}} = {latex_matrix(ch, digits)}" for c, ch in enumerate(chans)
        )
        + "$$"
    )


def _vectors_latex(sym: str, chans: list[Matrix], digits: int, f: str = "") -> str:
    """1-D channels (C, 1, L) as ``x = [...]`` or ``x^{(0)} = [...], x^{(1)} = ...``."""
    if len(chans) == 1:
        name = f"{sym}^{{({f})}}" if f else sym
        return f"$${name} = {latex_matrix(chans[0], digits)}$$"
    names = [f"{sym}^{{({f + ',' if f else ''}{c})}}" for c in range(len(chans))]
    return "$$" + ",\\quad ".join(
        f"{n} = {latex_matrix(ch, digits)}" for n, ch in zip(names, chans)
    ) + "$$"


def _stride_relation_1d(answer: ConvAnswer, s: int) -> str:
    """``z_k = \\sum_m w_m x_{2k+m} + b`` for stride ``s`` (dilation and rotation as given)."""
    w = r"w^{\mathrm{rot}}" if answer.mode == "convolve" else "w"
    b = " + b" if answer.has_bias else ""
    C = answer.input_shape[0]
    csum, x = (r"\sum_{c}", "x^{(c)}") if C > 1 else ("", "x")
    idx = _idx1d(s, answer.dilation, answer.one_based)
    return f"$z_k = {csum}\\sum_m {w}_m\\, {x}_{{{idx}}}{b}$"


def _fewer(n1: int, n2: int) -> str:
    """``"9 values instead of 25, about 2.8 times fewer"``, from the two counts."""
    if n1 == n2:
        return f"the same {plural(n2, 'value')}"
    ratio = n1 / n2
    times = f"{ratio:.0f}" if ratio == int(ratio) else f"about {ratio:.2g}"
    return f"{plural(n2, 'value')} instead of {n1}, {times} times fewer"


def _stride_note(answer: ConvAnswer) -> str:
    res = answer.results[0]
    H, W = answer.input_shape[1:]
    KH, KW = res.kernel.size
    p, s, d = res.padding, answer.stride, answer.dilation
    ph, pw = p.total
    one_d = answer.ndim == 1
    spec = str(answer.padding_spec).strip().lower()
    this = f"this padding ({spec}" + ("" if spec == "valid" else f": {p.describe(answer.ndim)}")
    this += ")"
    H1, W1 = output_size(H, KH, 1, d, ph), output_size(W, KW, 1, d, pw)
    if s == 1:
        h2, w2 = output_size(H, KH, 2, d, ph), output_size(W, KW, 2, d, pw)
        ext = d * (KW - 1) + 1
        if (h2 * w2 if not one_d else w2) == (H1 * W1 if not one_d else W1):
            formula = (f"$L_{{out}} = \\lfloor ({W} + {pw} - {ext})/2 \\rfloor + 1 = {w2}$"
                       if one_d else
                       f"$\\lfloor ({H} + {ph} - {d * (KH - 1) + 1})/2 \\rfloor + 1 = {h2}$ by "
                       f"$\\lfloor ({W} + {pw} - {ext})/2 \\rfloor + 1 = {w2}$")
            size = plural(w2, "value") if one_d else _shape(h2, w2)
            text = (
                f"**Stride.** A larger stride skips positions, but this output is too small for "
                f"that to show: with {this}, stride 2 gives {formula}, the same {size} as "
                "stride 1."
            )
        elif one_d:
            text = (
                f"**Stride.** With stride 1 the filter visits every position, giving "
                f"{plural(W1, 'value')}. A larger stride skips positions: with {this}, stride 2 "
                f"would give $L_{{out}} = \\lfloor ({W} + {pw} - {ext})/2 \\rfloor + 1 = {w2}$ "
                f"({_stride_relation_1d(answer, 2)}): every {ordinal(2)} position of the "
                f"stride-1 output, {_fewer(W1, w2)}, a cheaper but coarser signal that may step "
                "over short features."
            )
        else:
            exth = d * (KH - 1) + 1
            text = (
                f"**Stride.** With stride 1 the kernel visits every position, giving "
                f"{_shape(*res.output_shape)}. A larger stride skips positions: with {this}, "
                f"stride 2 would give "
                f"$\\lfloor ({H} + {ph} - {exth})/2 \\rfloor + 1 = {h2}$ "
                f"{'row' if h2 == 1 else 'rows'} and {plural(w2, 'column')} ({_shape(h2, w2)}), "
                f"exactly every {ordinal(2)} row and column of "
                f"the stride-1 output: {_fewer(H1 * W1, h2 * w2)}, a cheaper but coarser map "
                "that may step over thin features."
            )
        if spec == "same":
            p2 = resolve_padding("same", (H, W), (KH, KW), 2, d, ndim=answer.ndim)
            if p2 != p and p2.total != p.total:
                n2 = (plural(output_size(W, KW, 2, d, p2.total[1]), "value") if one_d else
                      _shape(output_size(H, KH, 2, d, p2.total[0]),
                             output_size(W, KW, 2, d, p2.total[1])))
                text += (f" ('same' padding worked out for stride 2 would instead put "
                         f"{p2.describe(answer.ndim)} and give {n2}.)")
        return text
    n_out = res.output_shape[0] * res.output_shape[1]
    if n_out == H1 * W1:
        size = plural(n_out, "value") if one_d else _shape(*res.output_shape)
        return (
            f"**Stride.** Stride {s} moves the window {s} {'positions' if one_d else 'cells'} at "
            f"a time, but this output is too small for that to show: it is {size}, the same as "
            f"with stride 1 and {this}."
        )
    if one_d:
        kept = list(range(0, W1, s))
        idx = ", ".join(str(k) for k in kept[:4]) + (", …" if len(kept) > 4 else "")
        L_out = res.output_shape[1]
        return (
            f"**Stride.** Stride {s} moves the window {s} positions at a time "
            f"({_stride_relation_1d(answer, s)}), so the output has {plural(L_out, 'value')} "
            f"instead of {W1} with stride 1 and {this}: it keeps every {ordinal(s)} position of "
            f"the stride-1 output (positions {idx}), {_fewer(W1, L_out)}."
        )
    return (
        f"**Stride.** Stride {s} moves the window {s} cells at a time, so the output is "
        f"{_shape(*res.output_shape)} instead of {_shape(H1, W1)} with stride 1 and {this}: it "
        f"keeps every {ordinal(s)} row and column of the stride-1 output "
        f"({_fewer(H1 * W1, res.output_shape[0] * res.output_shape[1])}), downsampling the map "
        "and skipping positions in between."
    )


def _checks_text(checks: list[dict]) -> str:
    if not checks:
        return ""
    parts = [f"`{c['route']}` agrees (max $|\\Delta|$ = {c['max_abs_error']:.3g})" for c in checks]
    return "Checked: " + "; ".join(parts) + "."


def _kernel_label(k: Kernel) -> str:
    if k.named:
        return f"`{k.name}`"
    if k.alias:
        return f"literal, = `{k.label}`"
    return "literal"


def _conv_markdown(answer: ConvAnswer, digits: int) -> str:
    C, H, W = answer.input_shape
    F = len(answer.results)
    one_d = answer.ndim == 1
    title = "Convolution" if answer.mode == "convolve" else "Cross-correlation"
    if answer.layer:
        title += " layer"
    if one_d:
        head = f"## {title}: {plural(F, 'filter')} on a 1-D input of length {W}"
    else:
        head = f"## {title}: {plural(F, 'kernel')} on a {_shape(H, W)} input"
    head += f" with {C} channels" if C > 1 else ""
    if answer.activation != "linear":
        head += f", {answer.activation} activation"
    out = [head, "", _definition(answer), ""]
    out += [note for n in answer.notes for note in (n, "")]
    x_latex = (_vectors_latex("x", answer.X, digits) if one_d
               else _channels_latex("X", answer.X, digits))
    out += ["**Input**", "", x_latex, ""]
    shown_pad = None
    for r, res in enumerate(answer.results, start=1):
        k = res.kernel
        KH, KW = k.size
        sym = _symbols(answer, r - 1)
        if one_d:
            out += [f"### Filter {r}: {_kernel_label(k)} (length {KW})", ""]
        else:
            out += [f"### Kernel {r}: {_kernel_label(k)} ({_shape(KH, KW)})", ""]
        if k.description:
            out += [k.description, ""]
        if res.broadcast:
            what = "1-D filter" if one_d else "2-D kernel"
            out += [
                f"The {what} is applied to each of the {C} input channels and the "
                "responses are summed (one filter with identical slices).",
                "",
            ]
        kern = [[[normalize(w) for w in row] for row in ch] for ch in k.table]
        if one_d:
            f = str(r - 1) if F > 1 else ""
            out += [_vectors_latex("w", kern if not res.broadcast else kern[:1], digits, f), ""]
        else:
            kname = "K" if k.scale == 1 else f"K = {fmt_latex(Fraction(k.scale), digits)}\\,T,\\; T"
            out += [_channels_latex(kname, kern, digits), ""]
        if answer.mode == "convolve":
            rot = [[list(row) for row in ch] for ch in res.slid.table]
            if one_d:
                out += ["Reversed for convolution:", "",
                        _vectors_latex(r"w^{\mathrm{rot}}", rot, digits), ""]
            else:
                rs = r"K^{\mathrm{rot}}" if k.scale == 1 else r"T^{\mathrm{rot}}"
                out += ["Rotated by 180° for convolution:", "", _channels_latex(rs, rot, digits),
                        ""]
        if answer.has_bias:
            out += [f"Bias ${sym['b']} = {fmt_latex(res.bias, digits)}$.", ""]
        p = res.padding
        out.append(f"**Padding** `{p.spec}`: {p.describe(answer.ndim)}.")
        if p.any:
            xp = r"x^{\mathrm{pad}}" if one_d else r"X^{\mathrm{pad}}"
            if res.X_pad == shown_pad:
                out[-1] += f" ${xp}$ as above."
            else:
                pad_latex = (_vectors_latex(xp, res.X_pad, digits) if one_d
                             else _channels_latex(xp, res.X_pad, digits))
                out += ["", pad_latex]
                shown_pad = res.X_pad
        s, d = answer.stride, answer.dilation
        if one_d:
            out += [
                "",
                "**Output length** $\\lfloor (L + p_{total} - d(M-1) - 1)/s \\rfloor + 1$ "
                "($p_{total}$ = zeros added at both ends): "
                f"$L_{{out}} = {_size_formula(W, KW, p.total[1], s, d)}$.",
                "",
            ]
        else:
            out += [
                "",
                "**Output size** $\\lfloor (n + p_{total} - d(k-1) - 1)/s \\rfloor + 1$ "
                "($p_{total}$ = zeros added along the axis): "
                f"$H_{{out}} = {_size_formula(H, KH, p.total[0], s, d)}$, "
                f"$W_{{out}} = {_size_formula(W, KW, p.total[1], s, d)}$.",
                "",
            ]
        out += [_output_latex(answer, res, digits), ""]
        if answer.explain is not None:
            cells = sorted(res.cells) if answer.explain == "all" else answer.explain
            out += [
                "**Step by step**" + (r" ($\underline{0}$ = padding)" if p.any else ""),
                "",
            ]
            for cell in cells:
                out += [_explain_line(answer, res, res.cells[cell], digits), ""]
        chk = _checks_text(res.checks)
        if chk:
            out += [chk, ""]
    out += [_stride_note(answer), ""]
    for cr in answer.student_checks:
        out += [cr.to_markdown(digits), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _image_markdown(a: ImageAnswer) -> str:
    C, H, W = a.X.shape
    out = [
        f"## Filters on image `{a.name}` ({_shape(H, W)}"
        + (f", {C} channels" if C > 1 else "")
        + ", values in [0, 1])",
        "",
    ]
    setting = f"Mode {a.mode}, padding `{a.padding_spec}`, stride {a.stride}, dilation {a.dilation}"
    if a.biases is not None:
        setting += ", bias " + ", ".join(fmt(b) for b in a.biases)
    if a.activation != "linear":
        setting += f", activation {a.activation} (a = {a.activation}(z) is shown)"
    out += [setting + ".", ""]
    out += [
        "| kernel | output | min | max | mean abs | what it detects |",
        "|---|---|---|---|---|---|",
    ]
    for k, y in zip(a.kernels, a.outputs):
        desc = k.description or "a literal kernel"
        out.append(
            f"| `{k.label}` | {_shape(*y.shape)} | {y.min():.4g} | {y.max():.4g} | "
            f"{np.abs(y).mean():.4g} | {desc} |"
        )
    out.append("")
    errs = ", ".join(f"{c['max_abs_error']:.3g}" for cs in a.checks for c in cs)
    route = a.checks[0][0]["route"]
    out += [
        f"Computed with `scipy.signal` and checked against `{route}`: max $|\\Delta|$ = "
        f"{errs} (one per kernel).",
        "",
    ]
    if a.figure:
        out += [f"Figure: `{a.figure}`", ""]
    return "\n".join(out)


def to_markdown(answer: ConvAnswer | ImageAnswer, digits: int = 6) -> str:
    """The model answer as Markdown with LaTeX (the same as ``answer.to_markdown(digits)``)."""
    return answer.to_markdown(digits)


# ---------------------------------------------------------------- JSON


def _nest(chans: list, C: int):
    return chans[0] if C == 1 else chans


def _vector_form(answer: ConvAnswer, m):
    """A (C, 1, L) or (1, L) nested list as the user sees it in 1-D: (L,) or (C, L)."""
    if answer.ndim != 1:
        return m
    if m and isinstance(m[0], list) and m[0] and isinstance(m[0][0], list):
        return [ch[0] for ch in m] if len(m) > 1 else m[0][0]
    return m[0]


def _conv_dict(answer: ConvAnswer) -> dict:
    C = answer.input_shape[0]
    padding: str | int = answer.padding_spec
    if isinstance(padding, str) and padding.isdigit():
        padding = int(padding)
    one_d = answer.ndim == 1
    d = {
        "input": to_json(_vector_form(answer, answer.X) if one_d else _nest(answer.X, C)),
        "ndim": answer.ndim,
        "padding": padding,
        "stride": answer.stride,
        "dilation": answer.dilation,
        "mode": answer.mode,
        "activation": answer.activation,
        "index_base": 1 if answer.one_based else 0,
        "results": [],
    }
    for res in answer.results:
        k = res.kernel
        weights = _vector_form(answer, k.weights) if one_d else _nest(k.weights, C)
        out_m = res.output[0] if one_d else res.output
        r = {
            "kernel": k.name,
            "weights": to_json(weights),
            "output": to_json(out_m),
            "output_shape": [res.output_shape[1]] if one_d else list(res.output_shape),
            "padding": {
                "top": res.padding.top,
                "bottom": res.padding.bottom,
                "left": res.padding.left,
                "right": res.padding.right,
            },
        }
        if k.alias:
            r["alias"] = k.alias
        if k.description:
            r["description"] = k.description
        if answer.has_bias:
            r["bias"] = to_json(res.bias)
        if answer.activation != "linear":
            r["pre_activation"] = to_json(res.z[0] if one_d else res.z)
        if k.scale != 1:
            r["scale"] = f"{k.scale.numerator}/{k.scale.denominator}"
            r["table"] = to_json(_nest([[list(row) for row in ch] for ch in k.table], C))
        exact = all_exact(res.output)
        if exact and any(isinstance(normalize(v), Fraction) for row in res.output for v in row):
            r["output_exact"] = to_exact_str(out_m)
        r["exact"] = exact
        if answer.explain is not None:
            cells = sorted(res.cells) if answer.explain == "all" else answer.explain
            base = 1 if answer.one_based else 0
            r["explain"] = [
                {
                    "cell": [j + base] if one_d else [i + base, j + base],
                    "terms": [
                        [
                            {"weight": to_json(w), "input": to_json(x), "padding": p}
                            for w, x, p in ch
                        ]
                        for ch in res.cells[(i, j)].terms
                    ],
                    "value": to_json(res.cells[(i, j)].value),
                    **({"z": to_json(res.cells[(i, j)].z)} if answer.layer else {}),
                }
                for i, j in cells
            ]
        r["check"] = res.checks
        d["results"].append(r)
    if answer.notes:
        d["notes"] = list(answer.notes)
    if answer.student_checks:
        d["student_check"] = [cr.to_dict() for cr in answer.student_checks]
    if answer.figure:
        d["figure"] = answer.figure
    return d


def _image_dict(a: ImageAnswer) -> dict:
    C, H, W = a.X.shape
    d = {
        "image": a.name,
        "input_shape": [H, W] if C == 1 else [H, W, C],
        "padding": a.padding_spec,
        "stride": a.stride,
        "dilation": a.dilation,
        "mode": a.mode,
        "activation": a.activation,
        "results": [
            {
                "kernel": k.name,
                **({"alias": k.alias} if k.alias else {}),
                "weights": to_json(_nest(k.weights, C)),
                "output_shape": list(y.shape),
                "min": float(y.min()),
                "max": float(y.max()),
                "mean_abs": float(np.abs(y).mean()),
                "check": chk,
            }
            for k, y, chk in zip(a.kernels, a.outputs, a.checks)
        ],
        "figure": a.figure,
    }
    if a.biases is not None:
        d["bias"] = a.biases
    return d


def to_dict(answer: ConvAnswer | ImageAnswer) -> dict:
    """The machine-readable answer (the same as ``answer.to_dict()``)."""
    return answer.to_dict()


# ---------------------------------------------------------------- figures


def _panel(fig, ax, data: np.ndarray, title: str, annotate: bool, is_input: bool) -> None:
    if is_input:
        im = ax.imshow(data, cmap="gray", interpolation="nearest")
    else:
        lim = float(np.max(np.abs(data))) or 1.0
        signed = float(np.min(data)) < 0
        cmap = "RdBu_r" if signed else "viridis"
        vmin = -lim if signed else float(np.min(data))
        im = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=lim, interpolation="nearest")
    one_row = data.shape[0] == 1
    if annotate:
        H, W = data.shape
        ax.set_xticks(range(W))
        ax.set_yticks([] if one_row else range(H))
        for (i, j), v in np.ndenumerate(data):
            r, g, b, _ = im.cmap(im.norm(v))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # luminance of the cell colour
            ax.text(
                j,
                i,
                f"{v:.3g}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if dark else "black",
            )
    ax.set_title(title, fontsize=10)
    if one_row:
        ax.set_xlabel("position k")
    else:
        ax.set_xlabel("column (x)")
        ax.set_ylabel("row (y)")
    label = "intensity" if is_input else "response"
    if one_row:  # below the position labels, not over them
        fig.colorbar(im, ax=ax, fraction=0.08, pad=0.45, label=label, orientation="horizontal")
    else:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)


def plot(answer: ConvAnswer | ImageAnswer, path: str | Path) -> Path:
    """Input and every output side by side, with colorbars; written atomically."""
    return save_figure(figure(answer), path)


def figure(answer: ConvAnswer | ImageAnswer):
    """The matplotlib figure of :func:`plot` (input and outputs side by side)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if isinstance(answer, ImageAnswer):
        X = answer.X
        inputs = [X.mean(axis=0)] if X.shape[0] > 1 else [X[0]]
        in_titles = [f"input `{answer.name}`" + (" (channel mean)" if X.shape[0] > 1 else "")]
        outs, labels = answer.outputs, [k.label for k in answer.kernels]
        annotate = False
    else:
        inputs = [np.array(ch, dtype=np.float64) for ch in answer.X]
        sym = "x" if answer.ndim == 1 else "X"
        in_titles = [
            f"input {sym}" + (f" channel {c}" if len(inputs) > 1 else "")
            for c in range(len(inputs))
        ]
        outs = [np.array(r.output, dtype=np.float64) for r in answer.results]
        labels = [
            r.kernel.label if (r.kernel.named or r.kernel.alias)
            else f"{'filter' if answer.ndim == 1 else 'kernel'} {i + 1}"
            for i, r in enumerate(answer.results)
        ]
        annotate = max(a.size for a in inputs + outs) <= 144
    setting = f"{answer.mode}, padding {answer.padding_spec}, stride {answer.stride}"
    if answer.activation != "linear":
        setting += f", {answer.activation}"
    n = len(inputs) + len(outs)
    one_d = not isinstance(answer, ImageAnswer) and answer.ndim == 1
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.0 if one_d else 4.0), squeeze=False)
    for ax, data, title in zip(axes[0], inputs, in_titles):
        _panel(fig, ax, data, title, annotate, True)
    for ax, data, label in zip(axes[0][len(inputs) :], outs, labels):
        _panel(fig, ax, data, f"output: {label}", annotate, False)
    fig.suptitle(f"Filters applied ({setting})")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- command line


_NUMERIC = re.compile(r"[\d\s.,;|/+\-\u2212\u2013eE#]*")


def _looks_like_path(text: str) -> bool:
    """A file name rather than a literal matrix such as "1/9 2/9; 0.5 -1".

    Text made only of numbers and separators is a literal, whatever its length (a 10×10
    matrix is over 255 characters, too long for a file name); a name the system cannot take
    as a path is simply not a file.
    """
    t = text.strip()
    if not t:  # Path("") is the current directory; an empty argument is an empty matrix
        return False
    if _NUMERIC.fullmatch(t):  # only numbers and separators
        return False
    if ";" in t or "\n" in t or "|" in t:  # rows or channels: a literal (with a typo)
        return False
    try:
        if Path(t).exists():
            return True
    except (OSError, ValueError):  # too long, or an embedded NUL byte: not an existing file
        pass
    return bool(re.search(r"\.(csv|tsv|txt|dat)$", t, re.I)) or "/" in t or "\\" in t


def is_vector_text(text: str) -> bool:
    """Whether a literal (or a file's text) is one row per channel: no ';' or line breaks
    between rows, so ``"1 2 3 4 5"`` and ``"1 2 3 | 4 5 6"`` are 1-D, ``"1 2 3;"`` is not."""
    blocks = [b for b in re.split(r"\||\n[ \t]*\n", text) if b.strip()]
    return bool(blocks) and all(len(re.findall(r"[;\n]", b.strip())) == 0 for b in blocks)


def read_input(values: list[str], *, channels_first: bool = False) -> list[Matrix]:
    """Literal matrices or CSV/whitespace files (channels: '|' or blank lines) -> (C, H, W).

    With ``channels_first`` every row is one channel of a 1-D input: (rows, 1, L).
    """
    chans: list[Matrix] = []
    for v in values:
        if _looks_like_path(v):
            text = read_text_file(v, what="--input")
            got = parse_channels(text, what=f"input file {shorten(v)}", max_cells=MAX_EXACT_CELLS)
        else:
            got = parse_channels(v, what="--input", max_cells=MAX_EXACT_CELLS)
        if channels_first:
            if len(got) > 1:
                raise DataError(
                    "--input: with --channels-first write one channel per row separated by ';' "
                    "(not '|')"
                )
            got = [[row] for row in got[0]]  # (rows, 1, L)
        chans += got
    for c, ch in enumerate(chans[1:], start=1):
        if (len(ch), len(ch[0])) != (len(chans[0]), len(chans[0][0])):
            raise DataError(
                f"--input channel {c} is {_shape(len(ch), len(ch[0]))} but channel 0 is "
                f"{_shape(len(chans[0]), len(chans[0][0]))}; every channel needs the same size"
            )
    cells = sum(len(ch) * len(ch[0]) for ch in chans)
    if cells > MAX_EXACT_CELLS:
        raise DataError(
            f"--input has {cells:,} values, above the limit of {MAX_EXACT_CELLS:,} for exact "
            "arithmetic; use --image for a photo"
        )
    return chans


def _load_image(name: str) -> np.ndarray:
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
            _load_image(image), kernels, name=image, **common
        )
        answer.figure = str(plot(answer, fig_path))
    else:
        if not inputs:
            raise ConfigError('give --input "8 2 9; 3 4 6; 5 9 3" (or a file), or --image NAME')
        X = read_input(inputs, channels_first=channels_first)
        kernels = [parse_kernel(k, channels_first=channels_first) for k in kernel_specs]
        vector = channels_first or all(
            is_vector_text(read_text_file(v, what="--input") if _looks_like_path(v) else v)
            for v in inputs
        )
        answer = solve(
            X,
            kernels,
            ndim=1 if vector and all(k.size[0] == 1 for k in kernels) else 2,
            explain=getattr(args, "explain", None),
            one_based=bool(getattr(args, "one_based", False)),
            **common,
        )
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


__all__ = [
    "ACTIVATIONS",
    "CheckResult",
    "ConvAnswer",
    "ImageAnswer",
    "KernelResult",
    "Padding",
    "WrongCell",
    "activate",
    "add_arguments",
    "answer_from_args",
    "correlate_exact",
    "figure",
    "main",
    "output_size",
    "parse_biases",
    "plot",
    "read_input",
    "resolve_padding",
    "same_value",
    "solve",
    "solve_image",
    "to_dict",
    "to_markdown",
]
