"""Apply filters to a small matrix or an image, with every product and sum written out.

Computes Y = X * K exactly (integers stay integers, 0.1 is 1/10) for each --kernel, prints
the padded input, the output size formula with the numbers substituted, the output, and
with --explain the products behind chosen output cells. Every answer is checked against
scipy.signal (and the NumPy engine) before it is printed.

Conventions: cross-correlation by default (what exercise sheets call "applying a filter");
--mode convolve rotates the kernel by 180 degrees first. Indices are (row, column), 0-based
unless --one-based. --padding same pads so that the output has ceil(n / stride) rows and
columns, the extra row/column (even kernels) going to the bottom/right.

Named kernels: sobel_x, sobel_y, prewitt_x, prewitt_y, laplace4, laplace8, gaussian5
(1-4-7-4-1 table / 273), box3, identity, sharpen. sobel_x = [-1 0 1; -2 0 2; -1 0 1] is
positive where the image gets brighter to the right, sobel_y where it gets brighter downwards.

examples:
  stridelab conv --input "8 2 9; 3 4 6; 5 9 3" --kernel "1 0 -1; 2 0 -2; 1 0 -1"
  stridelab conv --input "8 2 9; 3 4 6; 5 9 3" --kernel sobel_x --padding same --explain 0,1
  stridelab conv --input grid.csv --kernel laplace4 --stride 2 --padding 1 --json
  stridelab conv --input "1 2; 3 4 | 5 6; 7 8" --kernel "1 0; 0 1 | 0 1; 1 0"
  stridelab conv --image camera --kernel sobel_x --kernel sobel_y --out edges.png
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked._args import positive_int
from stridelab.worked._figures import check_figure_path, save_figure
from stridelab.worked._numbers import (
    Matrix,
    Number,
    all_exact,
    approx,
    dumps_json,
    fmt_latex,
    latex_matrix,
    normalize,
    paren,
    parse_channels,
    read_text_file,
    to_exact_str,
    to_json,
)
from stridelab.worked.kernels import KERNELS, Kernel, parse_kernel

MODES = ("correlate", "convolve")
_TIMES = "\u00d7"


# ---------------------------------------------------------------- padding and sizes


@dataclass(frozen=True)
class Padding:
    """Zero padding actually applied: rows on top/bottom, columns left/right."""

    spec: str  # as requested: "valid", "same", "1", "1,2" or "0,1,0,1"
    top: int
    bottom: int
    left: int
    right: int

    def describe(self) -> str:
        if self.top == self.bottom == self.left == self.right:
            if self.top == 0:
                return "no padding"
            return f"{self.top} zero{'s' if self.top > 1 else ''} on every side"
        return (
            f"{self.top} row(s) of zeros on top, {self.bottom} at the bottom, "
            f"{self.left} column(s) on the left, {self.right} on the right"
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
    spec: str | int, in_hw: tuple[int, int], k_hw: tuple[int, int], stride: int, dilation: int
) -> Padding:
    """Turn ``"valid"``, ``"same"``, ``N``, ``"PH,PW"`` or ``"T,B,L,R"`` into a :class:`Padding`."""
    s = str(spec).strip().lower()
    if s == "valid":
        return Padding("valid", 0, 0, 0, 0)
    if s == "same":
        top, bottom = _same_pad(in_hw[0], k_hw[0], stride, dilation)
        left, right = _same_pad(in_hw[1], k_hw[1], stride, dilation)
        return Padding("same", top, bottom, left, right)
    parts = [p for p in re.split(r"[,\s]+", s) if p]
    if len(parts) in (1, 2, 4) and all(p.isdigit() for p in parts):
        v = [int(p) for p in parts]
        if len(v) == 1:
            return Padding(s, v[0], v[0], v[0], v[0])
        if len(v) == 2:
            return Padding(s, v[0], v[0], v[1], v[1])
        return Padding(s, *v)
    raise ConfigError(
        f"padding {spec!r} not understood; use valid, same, a number of zeros N >= 0, "
        "'PH,PW' or 'top,bottom,left,right'"
    )


# ---------------------------------------------------------------- exact computation


@dataclass
class CellTerms:
    """The products behind one output cell: per channel, (weight, input, is_padding)."""

    cell: tuple[int, int]
    terms: list[list[tuple[Number, Number, bool]]]  # (C, KH*KW)
    raw: Number  # sum of table weights times inputs (before the kernel's scale)
    value: Number  # scale * raw


@dataclass
class KernelResult:
    kernel: Kernel  # as given (broadcast over the input channels)
    slid: Kernel  # what is slid over the input: rotated by 180 degrees for convolve
    padding: Padding
    X_pad: list[Matrix]  # (C, H + top + bottom, W + left + right)
    raw: Matrix  # (H_out, W_out) before the kernel's scale
    output: Matrix  # (H_out, W_out)
    cells: dict[tuple[int, int], CellTerms]
    broadcast: bool = False  # one 2-D kernel repeated over several input channels
    checks: list[dict] = field(default_factory=list)

    @property
    def output_shape(self) -> tuple[int, int]:
        return (len(self.output), len(self.output[0]))


@dataclass
class ConvAnswer:
    """Everything a model answer shows; rendered by :func:`to_markdown` and :func:`to_dict`."""

    X: list[Matrix]  # (C, H, W)
    padding_spec: str
    stride: int
    dilation: int
    mode: str
    results: list[KernelResult]
    explain: list[tuple[int, int]] | str | None  # 0-based cells, "all", or None
    one_based: bool = False

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (len(self.X), len(self.X[0]), len(self.X[0][0]))


def _pad(ch: Matrix, p: Padding) -> Matrix:
    width = len(ch[0]) + p.left + p.right
    rows = [[0] * width for _ in range(p.top)]
    rows += [[0] * p.left + list(r) + [0] * p.right for r in ch]
    rows += [[0] * width for _ in range(p.bottom)]
    return rows


def correlate_exact(
    X: list[Matrix], kernel: Kernel, padding: Padding, stride: int = 1, dilation: int = 1
) -> KernelResult:
    """Slide ``kernel`` over the zero-padded ``X`` (C, H, W): exact sums of products."""
    C, H, W = len(X), len(X[0]), len(X[0][0])
    KH, KW = kernel.size
    X_pad = [_pad(ch, padding) for ch in X]
    Hp, Wp = H + padding.top + padding.bottom, W + padding.left + padding.right
    H_out = output_size(Hp, KH, stride, dilation)
    W_out = output_size(Wp, KW, stride, dilation)
    if H_out < 1 or W_out < 1:
        ext = (dilation * (KH - 1) + 1, dilation * (KW - 1) + 1)
        raise ConfigError(
            f"kernel {kernel.name!r} spans {ext[0]}{_TIMES}{ext[1]} but the padded input is "
            f"{Hp}{_TIMES}{Wp}; use a smaller kernel or dilation, or --padding same"
        )
    raw: Matrix = [[0] * W_out for _ in range(H_out)]
    output: Matrix = [[0] * W_out for _ in range(H_out)]
    cells: dict[tuple[int, int], CellTerms] = {}
    for i in range(H_out):
        for j in range(W_out):
            terms = []
            for c in range(C):
                ch_terms = []
                for m in range(KH):
                    for n in range(KW):
                        r, q = i * stride + m * dilation, j * stride + n * dilation
                        is_pad = not (
                            padding.top <= r < padding.top + H
                            and padding.left <= q < padding.left + W
                        )
                        ch_terms.append((kernel.table[c][m][n], X_pad[c][r][q], is_pad))
                terms.append(ch_terms)
            total = normalize(sum(w * x for ch in terms for w, x, _ in ch))
            raw[i][j] = total
            output[i][j] = normalize(kernel.scale * total)
            cells[(i, j)] = CellTerms((i, j), terms, total, output[i][j])
    return KernelResult(kernel, kernel, padding, X_pad, raw, output, cells)


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
    X: np.ndarray, w: np.ndarray, padding: Padding, stride: int, dilation: int, mode: str
) -> np.ndarray:
    """scipy.signal route: X (C, H, W), w (C, KH, KW) unflipped -> (H_out, W_out) float64."""
    from scipy.signal import convolve2d, correlate2d

    op = correlate2d if mode == "correlate" else convolve2d
    Xp = np.pad(
        np.asarray(X, dtype=np.float64),
        ((0, 0), (padding.top, padding.bottom), (padding.left, padding.right)),
    )
    wd = _dilate(np.asarray(w, dtype=np.float64), dilation)
    full = sum(op(Xp[c], wd[c], mode="valid") for c in range(Xp.shape[0]))  # (Hp-KH+1, Wp-KW+1)
    return full[::stride, ::stride]


def conv_engine(
    X: np.ndarray, w: np.ndarray, padding: Padding, stride: int, dilation: int, mode: str
) -> np.ndarray | None:
    """The NumPy engine's conv2d, or ``None`` when ``stridelab.core.functional`` is absent."""
    try:
        from stridelab.core.functional import conv2d
    except ImportError:
        return None
    y = conv2d(
        np.asarray(X, dtype=np.float64)[None],  # (1, C, H, W)
        np.asarray(w, dtype=np.float64)[None],  # (1, C, KH, KW)
        stride=stride,
        padding=(padding.top, padding.bottom, padding.left, padding.right),
        dilation=dilation,
        mode=mode,
    )
    return np.asarray(getattr(y, "data", y))[0, 0]


def _check(name: str, exact: Matrix, other: np.ndarray | None) -> dict | None:
    if other is None:
        return None
    ref = np.array(exact, dtype=np.float64)
    if other.shape != ref.shape:
        return {"route": name, "max_abs_error": None, "passed": False}
    err = float(np.max(np.abs(other - ref))) if ref.size else 0.0
    tol = 1e-9 * max(1.0, float(np.max(np.abs(ref))))
    return {"route": name, "max_abs_error": err, "passed": bool(err <= tol)}


# ---------------------------------------------------------------- solve


def parse_cells(text: str, *, one_based: bool = False) -> list[tuple[int, int]] | str:
    """``"0,1"`` or ``"0,1; 2,2"`` -> 0-based cells; ``"all"`` -> ``"all"``."""
    t = text.strip().lower()
    if t in ("", "all"):
        return "all"
    cells = []
    for part in re.split(r"[;\s]+", t):
        if not part:
            continue
        m = re.fullmatch(r"\(?\[?(\d+),(\d+)\]?\)?", part)
        if not m:
            raise ConfigError(
                f"--explain cell {part!r} not understood; write row,col pairs such as "
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


def solve(
    X: list[Matrix] | Matrix,
    kernels: list[Kernel | str],
    *,
    padding: str | int = "valid",
    stride: int = 1,
    dilation: int = 1,
    mode: str = "correlate",
    explain: list[tuple[int, int]] | str | None = None,
    one_based: bool = False,
) -> ConvAnswer:
    """Apply each kernel to ``X`` exactly and check the result by independent routes.

    Parameters
    ----------
    X : list of matrices (C, H, W), or one matrix (H, W); ints/Fractions are kept exact.
    kernels : :class:`Kernel` objects or strings (names such as ``"sobel_x"`` or literals).
    padding : ``"valid"``, ``"same"``, ``N``, ``"PH,PW"`` or ``"top,bottom,left,right"``.
    explain : 0-based cells ``[(i, j), ...]``, ``"all"``, or ``None`` for no step-by-step.
    """
    if X and not isinstance(X[0][0], list):
        X = [X]  # (H, W) -> (1, H, W)
    if not X or not X[0] or not X[0][0]:
        raise DataError("the input is empty; give rows separated by ';', e.g. \"1 2; 3 4\"")
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r} not understood; use correlate or convolve")
    stride = positive_int(stride, name="stride")
    dilation = positive_int(dilation, name="dilation")
    if not kernels:
        raise ConfigError("give at least one --kernel (a name such as sobel_x or a literal)")
    C, H, W = len(X), len(X[0]), len(X[0][0])
    results = []
    for k in kernels:
        kernel = parse_kernel(k) if isinstance(k, str) else k
        broadcast = False
        if kernel.channels != C:
            if kernel.channels != 1:
                raise ConfigError(
                    f"kernel {kernel.name!r} has {kernel.channels} channels but the input has "
                    f"{C}; give one 2-D kernel per input channel, separated by '|'"
                )
            kernel, broadcast = kernel.broadcast(C), True
        slid = kernel.flipped() if mode == "convolve" else kernel
        pad = resolve_padding(padding, (H, W), kernel.size, stride, dilation)
        res = correlate_exact(X, slid, pad, stride, dilation)
        res.kernel, res.broadcast = kernel, broadcast
        w = np.array(kernel.weights, dtype=np.float64)  # (C, KH, KW), unflipped
        routes = [
            (
                "scipy.signal." + ("correlate2d" if mode == "correlate" else "convolve2d"),
                conv_scipy,
            ),
            ("stridelab.core.functional.conv2d", conv_engine),
        ]
        for name, route in routes:
            other = route(np.array(X, dtype=np.float64), w, pad, stride, dilation, mode)
            chk = _check(name, res.output, other)
            if chk is not None:
                res.checks.append(chk)
        failed = [c for c in res.checks if not c["passed"]]
        if failed:  # a bug in stridelab, not in the user's input
            raise RuntimeError(f"conv check failed for kernel {kernel.name!r}: {failed}")
        results.append(res)
    if isinstance(explain, str):
        explain = parse_cells(explain, one_based=one_based)
    if isinstance(explain, list):
        explain = [tuple(c) for c in explain]
        for res in results:
            H_out, W_out = res.output_shape
            for i, j in explain:
                if not (0 <= i < H_out and 0 <= j < W_out):
                    shown = (i + 1, j + 1) if one_based else (i, j)
                    base = 1 if one_based else 0
                    raise ConfigError(
                        f"--explain cell {shown[0]},{shown[1]} is outside the "
                        f"{H_out}{_TIMES}{W_out} output of kernel {res.kernel.name!r} "
                        f"(rows and columns count from {base})"
                    )
    return ConvAnswer(X, str(padding), stride, dilation, mode, results, explain, one_based)


# ---------------------------------------------------------------- images (float path)


@dataclass
class ImageAnswer:
    """Filters applied to an image in float64 (too large to write out cell by cell)."""

    name: str
    X: np.ndarray  # (C, H, W) float64 in [0, 1]
    padding_spec: str
    stride: int
    dilation: int
    mode: str
    kernels: list[Kernel]
    paddings: list[Padding]
    outputs: list[np.ndarray]  # each (H_out, W_out)
    checks: list[list[dict]]
    figure: str | None = None


def conv_windows(
    X: np.ndarray, w: np.ndarray, padding: Padding, stride: int, dilation: int, mode: str
) -> np.ndarray:
    """A NumPy sliding-window route: X (C, H, W), w (C, KH, KW) -> (H_out, W_out)."""
    from numpy.lib.stride_tricks import sliding_window_view

    if mode == "convolve":
        w = w[:, ::-1, ::-1]
    wd = _dilate(np.asarray(w, dtype=np.float64), dilation)  # (C, KH', KW')
    Xp = np.pad(X, ((0, 0), (padding.top, padding.bottom), (padding.left, padding.right)))
    win = sliding_window_view(Xp, wd.shape[1:], axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("chwij,cij->hw", win, wd)  # (H_out, W_out)


def solve_image(
    image: np.ndarray,
    kernels: list[Kernel | str],
    *,
    name: str = "image",
    padding: str | int = "same",
    stride: int = 1,
    dilation: int = 1,
    mode: str = "correlate",
) -> ImageAnswer:
    """Apply each kernel to an image (H, W) or (H, W, C) in float64, checked by a second route."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = img[None]  # (1, H, W)
    elif img.ndim == 3:
        img = np.moveaxis(img, -1, 0)  # (C, H, W)
    else:
        raise DataError(f"image {name!r} has shape {image.shape}; expected (H, W) or (H, W, C)")
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r} not understood; use correlate or convolve")
    stride = positive_int(stride, name="stride")
    dilation = positive_int(dilation, name="dilation")
    if not kernels:
        raise ConfigError("give at least one --kernel (a name such as sobel_x or a literal)")
    C, H, W = img.shape
    ks, pads, outs, checks = [], [], [], []
    for k in kernels:
        kernel = parse_kernel(k) if isinstance(k, str) else k
        if kernel.channels not in (1, C):
            raise ConfigError(
                f"kernel {kernel.name!r} has {kernel.channels} channels but image {name!r} has "
                f"{C}; use a 2-D kernel or one per channel separated by '|'"
            )
        kernel = kernel.broadcast(C)
        pad = resolve_padding(padding, (H, W), kernel.size, stride, dilation)
        Hp, Wp = H + pad.top + pad.bottom, W + pad.left + pad.right
        KH, KW = kernel.size
        if output_size(Hp, KH, stride, dilation) < 1 or output_size(Wp, KW, stride, dilation) < 1:
            raise ConfigError(
                f"kernel {kernel.name!r} is larger than the padded {Hp}{_TIMES}{Wp} image; "
                "use --padding same or a smaller kernel"
            )
        w = np.array(kernel.weights, dtype=np.float64)  # (C, KH, KW)
        y = conv_scipy(img, w, pad, stride, dilation, mode)
        other = conv_engine(img, w, pad, stride, dilation, mode)
        route = "stridelab.core.functional.conv2d"
        if other is None:
            other, route = (
                conv_windows(img, w, pad, stride, dilation, mode),
                "numpy sliding windows",
            )
        chk = _check(route, y.tolist(), other)
        if not chk["passed"]:
            raise RuntimeError(f"conv check failed for kernel {kernel.name!r}: {chk}")
        ks.append(kernel)
        pads.append(pad)
        outs.append(y)
        checks.append([chk])
    return ImageAnswer(name, img, str(padding), stride, dilation, mode, ks, pads, outs, checks)


# ---------------------------------------------------------------- Markdown


def _idx(i: int, j: int, one_based: bool) -> str:
    return f"{i + 1},{j + 1}" if one_based else f"{i},{j}"


def _shape(*dims: int) -> str:
    return _TIMES.join(str(d) for d in dims)


def _definition(answer: ConvAnswer) -> str:
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
    lines = [f"$$Y_{{i,j}} = {csum}{sums} {K}_{{{cidx}m,n}}\\, {xpad}_{{{cidx}{rows}}}$$", ""]
    base = "1-based" if answer.one_based else "0-based"
    text = (
        f"with stride s = {s} and dilation d = {d}. Indices are {base} (row, column); "
        r"$X^{\mathrm{pad}}$ is the input with its zero padding"
    )
    if answer.mode == "convolve":
        text += (
            r". Convolution slides the kernel rotated by 180°, "
            r"$K^{\mathrm{rot}}_{m,n} = K_{k_h-1-m,\,k_w-1-n}$"
        )
    else:
        text += " (cross-correlation: the kernel is slid as written, not flipped)"
    lines.append(text + ".")
    return "\n".join(lines)


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


def _explain_line(res: KernelResult, ct: CellTerms, one_based: bool, digits: int) -> str:
    i, j = ct.cell
    groups = [" + ".join(_term_latex(w, x, p, digits) for w, x, p in ch) for ch in ct.terms]
    if len(groups) == 1:
        body = groups[0]
        steps = []
    else:
        body = " + ".join(f"\\left({g}\\right)_{{c={c}}}" for c, g in enumerate(groups))
        partial = [normalize(sum(w * x for w, x, _ in ch)) for ch in ct.terms]
        steps = [" + ".join(paren(fmt_latex(p, digits)) for p in partial)]
    scale = res.kernel.scale
    if scale != 1:
        sl = fmt_latex(Fraction(scale), digits)
        line = f"Y_{{{_idx(i, j, one_based)}}} = {sl}\\left({body}\\right)"
        line += "".join(f" = {sl}\\left({st}\\right)" for st in steps)
        line += f" = {sl}\\cdot {paren(fmt_latex(ct.raw, digits))}"
    else:
        line = f"Y_{{{_idx(i, j, one_based)}}} = {body}" + "".join(f" = {st}" for st in steps)
    line += f" = {fmt_latex(ct.value, digits)}"
    ap = approx(ct.value)
    if ap is not None:
        line += f" \\approx {ap}"
    return f"$${line}$$"


def _output_latex(res: KernelResult, digits: int) -> str:
    out = res.output
    if res.kernel.scale != 1:
        sl = fmt_latex(Fraction(res.kernel.scale), digits)
        s = f"Y = {sl}{latex_matrix(res.raw, digits)}"
        if any(approx(v) is not None for row in out for v in row):
            return s + " \\approx " + latex_matrix([[float(v) for v in r] for r in out], 4)
        return s + " = " + latex_matrix(out, digits)
    return "Y = " + latex_matrix(out, digits)


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


def _stride_note(answer: ConvAnswer) -> str:
    res = answer.results[0]
    H, W = answer.input_shape[1:]
    KH, KW = res.kernel.size
    p, s, d = res.padding, answer.stride, answer.dilation
    ph, pw = p.top + p.bottom, p.left + p.right
    if s == 1:
        s2 = 2
        h2, w2 = output_size(H, KH, s2, d, ph), output_size(W, KW, s2, d, pw)
        return (
            f"**Stride.** With stride 1 the kernel visits every position, giving "
            f"{_shape(*res.output_shape)}. A larger stride skips positions: with the same "
            f"padding, stride 2 would give "
            f"$\\lfloor ({H} + {ph} - {d * (KH - 1) + 1})/2 \\rfloor + 1 = {h2}$ rows and "
            f"{w2} columns ({_shape(h2, w2)}), exactly every 2nd row and column of the stride-1 "
            "output: about 4 times fewer values, a cheaper but coarser map that may step over "
            "thin features."
        )
    h1, w1 = output_size(H, KH, 1, d, ph), output_size(W, KW, 1, d, pw)
    return (
        f"**Stride.** Stride {s} moves the window {s} cells at a time, so the output is "
        f"{_shape(*res.output_shape)} instead of {_shape(h1, w1)} with stride 1 and the same "
        f"padding: it keeps every {s}th row and column of the stride-1 output (about {s * s} "
        "times fewer values), downsampling the map and skipping positions in between."
    )


def _checks_text(checks: list[dict]) -> str:
    if not checks:
        return ""
    parts = [f"`{c['route']}` agrees (max $|\\Delta|$ = {c['max_abs_error']:.3g})" for c in checks]
    return "Checked: " + "; ".join(parts) + "."


def to_markdown(answer: ConvAnswer | ImageAnswer, digits: int = 6) -> str:
    """The model answer as Markdown with LaTeX."""
    if isinstance(answer, ImageAnswer):
        return _image_markdown(answer)
    C, H, W = answer.input_shape
    title = "Convolution" if answer.mode == "convolve" else "Cross-correlation"
    out = [
        f"## {title}: {len(answer.results)} kernel(s) on a {_shape(H, W)} input"
        + (f" with {C} channels" if C > 1 else ""),
        "",
    ]
    out += [_definition(answer), ""]
    out += ["**Input**", "", _channels_latex("X", answer.X, digits), ""]
    shown_pad = None
    for r, res in enumerate(answer.results, start=1):
        k = res.kernel
        label = f"`{k.name}`" if k.named else "literal"
        out += [f"### Kernel {r}: {label} ({_shape(*k.size)})", ""]
        if k.description:
            out += [k.description, ""]
        if res.broadcast:
            out += [
                f"The 2-D kernel is applied to each of the {C} input channels and the "
                "responses are summed (one filter with identical slices).",
                "",
            ]
        kern = [[[normalize(w) for w in row] for row in ch] for ch in k.table]
        kname = "K" if k.scale == 1 else f"K = {fmt_latex(Fraction(k.scale), digits)}\\,T,\\; T"
        out += [_channels_latex(kname, kern, digits), ""]
        if answer.mode == "convolve":
            rot = [[list(row) for row in ch] for ch in res.slid.table]
            sym = r"K^{\mathrm{rot}}" if k.scale == 1 else r"T^{\mathrm{rot}}"
            out += ["Rotated by 180° for convolution:", "", _channels_latex(sym, rot, digits), ""]
        p = res.padding
        out.append(f"**Padding** `{p.spec}`: {p.describe()}.")
        if (p.top, p.bottom, p.left, p.right) != (0, 0, 0, 0):
            if res.X_pad == shown_pad:
                out[-1] += r" $X^{\mathrm{pad}}$ as above."
            else:
                out += ["", _channels_latex(r"X^{\mathrm{pad}}", res.X_pad, digits)]
                shown_pad = res.X_pad
        KH, KW = k.size
        s, d = answer.stride, answer.dilation
        out += [
            "",
            "**Output size** $\\lfloor (n + p_{total} - d(k-1) - 1)/s \\rfloor + 1$ "
            "($p_{total}$ = zeros added along the axis): "
            f"$H_{{out}} = {_size_formula(H, KH, p.top + p.bottom, s, d)}$, "
            f"$W_{{out}} = {_size_formula(W, KW, p.left + p.right, s, d)}$.",
            "",
            f"$${_output_latex(res, digits)}$$",
            "",
        ]
        if answer.explain is not None:
            cells = sorted(res.cells) if answer.explain == "all" else answer.explain
            out += [
                "**Step by step**"
                + (
                    r" ($\underline{0}$ = padding)"
                    if (p.top, p.bottom, p.left, p.right) != (0,) * 4
                    else ""
                ),
                "",
            ]
            for cell in cells:
                out += [_explain_line(res, res.cells[cell], answer.one_based, digits), ""]
        chk = _checks_text(res.checks)
        if chk:
            out += [chk, ""]
    out += [_stride_note(answer), ""]
    return "\n".join(out)


def _image_markdown(a: ImageAnswer) -> str:
    C, H, W = a.X.shape
    out = [
        f"## Filters on image `{a.name}` ({_shape(H, W)}"
        + (f", {C} channels" if C > 1 else "")
        + ", values in [0, 1])",
        "",
    ]
    out += [
        f"Mode {a.mode}, padding `{a.padding_spec}`, stride {a.stride}, dilation {a.dilation}.",
        "",
    ]
    out += [
        "| kernel | output | min | max | mean abs | what it detects |",
        "|---|---|---|---|---|---|",
    ]
    for k, y in zip(a.kernels, a.outputs):
        desc = k.description or "a literal kernel"
        out.append(
            f"| `{k.name}` | {_shape(*y.shape)} | {y.min():.4g} | {y.max():.4g} | "
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


# ---------------------------------------------------------------- JSON


def _nest(chans: list, C: int):
    return chans[0] if C == 1 else chans


def to_dict(answer: ConvAnswer | ImageAnswer) -> dict:
    """The machine-readable answer (exact integers stay integers)."""
    if isinstance(answer, ImageAnswer):
        return _image_dict(answer)
    C = answer.input_shape[0]
    padding: str | int = answer.padding_spec
    if isinstance(padding, str) and padding.isdigit():
        padding = int(padding)
    d = {
        "input": to_json(_nest(answer.X, C)),
        "padding": padding,
        "stride": answer.stride,
        "dilation": answer.dilation,
        "mode": answer.mode,
        "index_base": 1 if answer.one_based else 0,
        "results": [],
    }
    for res in answer.results:
        k = res.kernel
        r = {
            "kernel": k.name,
            "weights": to_json(_nest(k.weights, C)),
            "output": to_json(res.output),
            "output_shape": list(res.output_shape),
            "padding": {
                "top": res.padding.top,
                "bottom": res.padding.bottom,
                "left": res.padding.left,
                "right": res.padding.right,
            },
        }
        if k.description:
            r["description"] = k.description
        if k.scale != 1:
            r["scale"] = f"{k.scale.numerator}/{k.scale.denominator}"
            r["table"] = to_json(_nest([[list(row) for row in ch] for ch in k.table], C))
        exact = all_exact(res.output)
        if exact and any(isinstance(normalize(v), Fraction) for row in res.output for v in row):
            r["output_exact"] = to_exact_str(res.output)
        r["exact"] = exact
        if answer.explain is not None:
            cells = sorted(res.cells) if answer.explain == "all" else answer.explain
            base = 1 if answer.one_based else 0
            r["explain"] = [
                {
                    "cell": [i + base, j + base],
                    "terms": [
                        [
                            {"weight": to_json(w), "input": to_json(x), "padding": p}
                            for w, x, p in ch
                        ]
                        for ch in res.cells[(i, j)].terms
                    ],
                    "value": to_json(res.cells[(i, j)].value),
                }
                for i, j in cells
            ]
        r["check"] = res.checks
        d["results"].append(r)
    return d


def _image_dict(a: ImageAnswer) -> dict:
    C, H, W = a.X.shape
    return {
        "image": a.name,
        "input_shape": [H, W] if C == 1 else [H, W, C],
        "padding": a.padding_spec,
        "stride": a.stride,
        "dilation": a.dilation,
        "mode": a.mode,
        "results": [
            {
                "kernel": k.name,
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
    if annotate:
        H, W = data.shape
        ax.set_xticks(range(W))
        ax.set_yticks(range(H))
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
    ax.set_xlabel("column (x)")
    ax.set_ylabel("row (y)")
    label = "intensity" if is_input else "response"
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
        outs, labels = answer.outputs, [k.name for k in answer.kernels]
        annotate = False
        setting = f"{answer.mode}, padding {answer.padding_spec}, stride {answer.stride}"
    else:
        inputs = [np.array(ch, dtype=np.float64) for ch in answer.X]
        in_titles = [
            "input X" + (f" channel {c}" if len(inputs) > 1 else "") for c in range(len(inputs))
        ]
        outs = [np.array(r.output, dtype=np.float64) for r in answer.results]
        labels = [
            r.kernel.name if r.kernel.named else f"kernel {i + 1}"
            for i, r in enumerate(answer.results)
        ]
        annotate = max(a.size for a in inputs + outs) <= 144
        setting = f"{answer.mode}, padding {answer.padding_spec}, stride {answer.stride}"
    n = len(inputs) + len(outs)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.0), squeeze=False)
    for ax, data, title in zip(axes[0], inputs, in_titles):
        _panel(fig, ax, data, title, annotate, True)
    for ax, data, label in zip(axes[0][len(inputs) :], outs, labels):
        _panel(fig, ax, data, f"output: {label}", annotate, False)
    fig.suptitle(f"Filters applied ({setting})")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- command line


def _looks_like_path(text: str) -> bool:
    """A file name rather than a literal matrix such as "1/9 2/9; 0.5 -1"."""
    t = text.strip()
    if not t:  # Path("") is the current directory; an empty argument is an empty matrix
        return False
    if Path(t).exists():
        return True
    if re.fullmatch(r"[\d\s.,;|/+\-\u2212eE]*", t):  # only numbers and separators
        return False
    return bool(re.search(r"\.(csv|tsv|txt|dat)$", t, re.I)) or "/" in t or "\\" in t


def read_input(values: list[str]) -> list[Matrix]:
    """Literal matrices or CSV/whitespace files (channels: '|' or blank lines) -> (C, H, W)."""
    chans: list[Matrix] = []
    for v in values:
        if _looks_like_path(v):
            text = read_text_file(v, what="--input")
            chans += parse_channels(text, what=f"input file {v!r}")
        else:
            chans += parse_channels(v, what="--input")
    for c, ch in enumerate(chans[1:], start=1):
        if (len(ch), len(ch[0])) != (len(chans[0]), len(chans[0][0])):
            raise DataError(
                f"--input channel {c} is {_shape(len(ch), len(ch[0]))} but channel 0 is "
                f"{_shape(len(chans[0]), len(chans[0][0]))}; every channel needs the same size"
            )
    return chans


def _load_image(name: str) -> np.ndarray:
    try:
        from stridelab.data.images import load_image
    except ImportError:
        raise ConfigError("--image needs stridelab.data.images, which is not installed") from None
    return np.asarray(load_image(name, gray=True), dtype=np.float64)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--input",
        action="append",
        metavar="MATRIX|FILE",
        help='rows split by ";", e.g. "8 2 9; 3 4 6; 5 9 3", or a CSV/whitespace file; '
        'channels split by "|" (or blank lines in a file); repeat for more channels',
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
        help='repeatable: a literal such as "1 0 -1; 2 0 -2; 1 0 -1" or a name: '
        + ", ".join(KERNELS),
    )
    parser.add_argument(
        "--padding",
        default="valid",
        metavar="valid|same|N",
        help="zero padding: valid (none, default), same (output ceil(n/stride)), "
        "N zeros per side, 'PH,PW' or 'top,bottom,left,right'",
    )
    parser.add_argument("--stride", default="1", metavar="S", help="step of the window (default 1)")
    parser.add_argument(
        "--dilation", default="1", metavar="D", help="spacing between kernel taps (default 1)"
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
        help="write out the products for output cells, e.g. 0,1 or '0,1;2,2' (default: all cells)",
    )
    parser.add_argument(
        "--one-based", action="store_true", help="count rows and columns from 1, as some sheets do"
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
        help="significant digits for non-exact numbers (default 6)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")


def main(args: argparse.Namespace) -> int:
    digits = positive_int(args.digits, name="--digits")
    if args.image and args.input:
        raise ConfigError("give either --input or --image, not both")
    if args.out:
        check_figure_path(args.out)
    common = dict(
        padding=args.padding,
        stride=args.stride,
        dilation=args.dilation,
        mode=str(args.mode).lower(),
    )
    if args.image:
        kernels = [parse_kernel(k) for k in (args.kernel or [])]
        answer: ConvAnswer | ImageAnswer = solve_image(
            _load_image(args.image), kernels, name=args.image, **common
        )
        out = args.out or f"conv_{Path(args.image).stem}.png"
        answer.figure = str(plot(answer, out))
    else:
        if not args.input:
            raise ConfigError('give --input "8 2 9; 3 4 6; 5 9 3" (or a file), or --image NAME')
        kernels = [parse_kernel(k) for k in (args.kernel or [])]
        answer = solve(
            read_input(args.input),
            kernels,
            explain=args.explain,
            one_based=args.one_based,
            **common,
        )
        if args.out:
            plot(answer, args.out)
    if args.json:
        d = to_dict(answer)
        if args.out and isinstance(answer, ConvAnswer):
            d["figure"] = str(args.out)
        print(dumps_json(d))
    else:
        print(to_markdown(answer, digits))
        if args.out and isinstance(answer, ConvAnswer):
            print(f"Figure: `{args.out}`")
    return 0


__all__ = [
    "ConvAnswer",
    "ImageAnswer",
    "KernelResult",
    "Padding",
    "add_arguments",
    "correlate_exact",
    "main",
    "output_size",
    "plot",
    "figure",
    "resolve_padding",
    "solve",
    "solve_image",
    "to_dict",
    "to_markdown",
]
