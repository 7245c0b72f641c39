"""Derivations of the backpropagation results of the course, verified by SymPy and by autodiff.

Each topic is derived step by step in LaTeX and in plain text. SymPy verifies the identities
symbolically on small sizes. Without values, the final formulas are evaluated at random points
and compared with PyTorch autograd (float64); with your values (--z, --y, --X, ...), the answer
is computed with those numbers (exactly where the arithmetic allows it) and checked a second
way at exactly those numbers (autograd, scikit-learn or SciPy).

topics (the values each one takes):
  softmax-jacobian        d softmax(z)_i / d z_j = y_hat_i (delta_ij - y_hat_j)      --z
  softmax-cross-entropy   dL/dz = y_hat - y for L = -sum_k y_k ln y_hat_k           --z --y
  sigmoid-cross-entropy   why delta = a - y for a sigmoid unit                      --z --y
  cross-entropy-minimum   C = -[y ln a + (1-y) ln(1-a)] is least at a = y, even
                          for y in (0, 1); its value there                          --y
  cross-entropy-swapped   why -[a ln y + (1-a) ln(1-y)] breaks at y in {0, 1}
                          and the usual form does not                               --a [--y]
  softmax-name            where the name comes from: softmax(c z) -> one-hot of
                          arg max z as c grows                                      [--z]
  ridge                   closed-form minimiser of (1/n) sum_i (y_hat_i - y_i)^2
                          + lambda ||w||^2, checked against scikit-learn            --X --y --lam
  conv1d                  1-D layer z_k = sum_m w_m x_(k+m) + b, J = (1/K) sum_k
                          (y_k - z_k)^2 (the TU Wien sheet's names): dJ/dw is a
                          cross-correlation, dJ/dx a full convolution    --x --w [--b --y ...]
  conv2d                  the 2-D relation for one filter and its gradients --x --w [--b --y ...]
  mlp-update              update rules of a 2-layer sigmoid network with biases
  linear-backprop         the backpropagation equations when sigma(z) = z
  neuron-f                one neuron with a general activation f instead of sigma
  all                     every topic; list: the topics with one line each

values: a literal ("1 2 3", rows of a matrix split by ';': "1 2; 3 4 | 5 6; 7 8" for two
channels) or a text/CSV file; integers, decimals and fractions (1/3) are read exactly.
conv1d/conv2d also take --b, --stride and --activation linear|sigmoid|tanh; without --y they
give the output and the gradients as sums over dJ/dz_k.

limits (refused up front, one line): --points at most 1,000; a vector at most 1,000 values,
a matrix at most 10,000 cells, a number literal at most 400 characters, values finite in
float64 (|v| < 1.8e308); ridge at most 200 features; a convolution at most 200,000
products; the softmax Jacobian at most 100 logits; a file at most 4 MiB.

examples:
  stridelab derive softmax-jacobian --z "1 2 3"
  stridelab derive softmax-cross-entropy --z "1 2 3" --y "0 0 1"
  stridelab derive ridge --X "1 2; 3 4; 5 6" --y "1 2 2" --lam 0.1
  stridelab derive conv1d --x "1 2 3 4 5" --w "1 0 -1" --b 0 --y "0 1 0"
  stridelab derive cross-entropy-minimum --y 0.3
  stridelab derive cross-entropy-swapped --a 0.7
  stridelab derive all --seed 1 --points 10
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked._answer import Answer
from stridelab.worked._args import positive_int
from stridelab.worked._limits import (
    MAX_EXACT_CELLS,
    MAX_EXACT_DIGITS,
    MAX_LITERAL_CHARS,
    MAX_POINTS,
    MAX_WINDOW,
    check_limit,
)
from stridelab.worked._numbers import (
    all_exact,
    fmt,
    fmt_latex,
    is_exact,
    latex_matrix,
    normalize,
    paren,
    parse_channels,
    parse_matrix,
    read_text_file,
    text_matrix,
    to_exact_str,
)
from stridelab.worked._render import add_format_arguments, emit

# limits of this command beyond the shared ones in _limits (documented in --help above)
_MAX_VALUES = 1_000  # values in one vector (logits, targets, a 1-D input)
_MAX_FEATURES = 200  # ridge: columns of X (X^T X is d x d)
_MAX_PRODUCTS = 200_000  # conv: multiply-adds of the forward pass (exact arithmetic)
_MAX_LOGITS_JACOBIAN = 100  # softmax-jacobian: n x n entries <= MAX_EXACT_CELLS
_MAX_FILE_BYTES = 4 * 2**20
_MAX_EXPONENT = 400  # |e| in 1e400: beyond it the literal is refused before it is expanded
_MAX_EXACT_SOFTMAX = 6  # logits for which exact SymPy forms are written out
_MAX_SHOWN = 12  # rows/columns written into the Markdown (all of them go to --json)
_FLOAT_MAX = Fraction(sys.float_info.max)

# every value option: its flag and what it holds (for messages and --help)
VALUE_OPTIONS: dict[str, str] = {
    "z": "--z",
    "y": "--y",
    "X": "--X",
    "lam": "--lam",
    "x": "--x",
    "w": "--w",
    "b": "--b",
    "stride": "--stride",
    "activation": "--activation",
    "a": "--a",
}


# ---------------------------------------------------------------- answers


@dataclass
class Step:
    """One step of a derivation: prose (plain Unicode) and the equation in LaTeX and text."""

    text: str
    latex: str | None = None
    plain: str | None = None


@dataclass(eq=False)
class Derivation(Answer):
    """One derived topic.

    ``steps`` are the derivation's steps; ``symbolic`` the identities SymPy verified;
    ``check`` the numerical check (``check["at"]`` is ``"random points"`` or ``"your values"``).
    With user values, ``output`` is the headline array (the Jacobian (n, n), the gradient
    ∂L/∂z (n,), the ridge weights (d,), ∂J/∂w (C, M) or (C, KH, KW) for conv — the output z
    when no target y was given), ``values`` every computed array by name (float64),
    ``exact`` the same quantities as exact strings (``"41/91"``, SymPy's ``"exp(-2)/S"``)
    where they were computed exactly, and ``inputs`` the values as read.
    """

    topic: str
    title: str
    steps: list[Step]
    symbolic: list[str]  # identities SymPy verified, in words
    check: dict = field(default_factory=dict)
    output: np.ndarray | None = None
    values: dict[str, np.ndarray] = field(default_factory=dict)
    exact: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def latex(self) -> str:
        return "\n".join(s.latex for s in self.steps if s.latex)

    @property
    def text(self) -> str:
        lines = []
        for s in self.steps:
            if s.text:
                lines.append(s.text)
            if s.plain:
                lines.append("    " + s.plain.replace("\n", "\n    "))
        return "\n".join(lines)

    def to_markdown(self) -> str:
        out = [f"## {self.title} (`{self.topic}`)", ""]
        for note in self.notes:
            out += [f"*Note.* {note}", ""]
        for s in self.steps:
            if s.text:
                out += [s.text, ""]
            if s.latex:
                out += [f"$${s.latex}$$", ""]
        c = self.check
        verdict = "passed" if c["passed"] else "FAILED"
        out += ["**Check.** SymPy verified symbolically: " + "; ".join(self.symbolic) + "."]
        details = "; ".join(
            f"{x['quantity']}: max |error| = {x['max_abs_error']:.3g}" for x in c["details"]
        )
        if c.get("at", "random points") != "random points":
            where = f"Numerically at {c['at']}, route {c['route']}"
        else:
            where = (
                f"Numerically at {c['points']} random point(s) (seed {c['seed']}), route "
                f"{c['route']}"
            )
        out += [
            "",
            f"{where}: {details} — **{verdict}** (max_abs_error = {c['max_abs_error']:.3g}).",
            "",
        ]
        out += ["**Plain text**", "", "```text", self.text, "```", ""]
        return "\n".join(out)

    def to_dict(self) -> dict:
        doc = {
            "topic": self.topic,
            "title": self.title,
            "latex": self.latex,
            "text": self.text,
            "steps": [{"text": s.text, "latex": s.latex, "plain": s.plain} for s in self.steps],
            "symbolic": self.symbolic,
            "check": self.check,
        }
        if self.inputs:
            doc["inputs"] = self.inputs
        if self.output is not None:
            doc["output"] = _json_array(self.output)
            doc["values"] = {k: _json_array(v) for k, v in self.values.items()}
        if self.exact:
            doc["exact"] = self.exact
        if self.notes:
            doc["notes"] = self.notes
        return doc


@dataclass(eq=False)
class DerivationSet(Answer):
    """Several derivations (``derive all``), shown one after the other."""

    derivations: list[Derivation]

    @property
    def check(self) -> dict:
        return {
            "passed": all(d.check["passed"] for d in self.derivations),
            "max_abs_error": max(d.check["max_abs_error"] for d in self.derivations),
        }

    def to_markdown(self) -> str:
        return "\n".join(d.to_markdown() for d in self.derivations)

    def to_dict(self) -> dict:
        return {
            "topics": [d.topic for d in self.derivations],
            "check": self.check,
            "derivations": [d.to_dict() for d in self.derivations],
        }


@dataclass(eq=False)
class TopicList(Answer):
    """``derive list``: every topic with one line and the values it takes."""

    def to_markdown(self) -> str:
        rows = ["| topic | what | values |", "|---|---|---|"]
        for name, t in TOPICS.items():
            opts = " ".join(f"`{VALUE_OPTIONS[o]}`" for o in t.options) or "–"
            rows.append(f"| `{name}` | {t.summary} | {opts} |")
        return "\n".join(rows) + "\n"

    def to_dict(self) -> dict:
        return {name: t.summary for name, t in TOPICS.items()}

    def to_text(self, width: int = 100) -> str:
        return "\n".join(f"{name:24s}{t.summary}" for name, t in TOPICS.items())


def _json_array(a) -> object:
    """A float array as JSON: nested lists, with inf/nan as strings (JSON has neither)."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        v = float(arr)
        return v if math.isfinite(v) else str(v)
    return [_json_array(v) for v in arr]


# ---------------------------------------------------------------- SymPy helpers


@functools.cache
def _sympy():
    import sympy as sp

    class sig(sp.Function):
        """The logistic sigmoid as SymPy sees it: sig' = sig (1 - sig)."""

        def fdiff(self, argindex=1):
            return sig(self.args[0]) * (1 - sig(self.args[0]))

        def _latex(self, printer, exp=None):
            s = rf"\sigma\left({printer._print(self.args[0])}\right)"
            return s if exp is None else rf"{s}^{{{exp}}}"

    class sigp(sp.Function):
        """sigma' of an unspecified activation sigma (kept symbolic)."""

        def _latex(self, printer, exp=None):
            return rf"\sigma'\left({printer._print(self.args[0])}\right)"

    class act(sp.Function):
        """An unspecified activation sigma with derivative sigp."""

        def fdiff(self, argindex=1):
            return sigp(self.args[0])

        def _latex(self, printer, exp=None):
            s = rf"\sigma\left({printer._print(self.args[0])}\right)"
            return s if exp is None else rf"{s}^{{{exp}}}"

    class fp(sp.Function):
        def _latex(self, printer, exp=None):
            return rf"f'\left({printer._print(self.args[0])}\right)"

    class f(sp.Function):
        """A general activation f with derivative fp."""

        def fdiff(self, argindex=1):
            return fp(self.args[0])

    return sp, sig, act, sigp, f, fp


def _is_zero(expr) -> bool:
    """True when ``expr`` (or every entry of a SymPy matrix) simplifies to 0."""
    sp = _sympy()[0]
    if isinstance(expr, sp.MatrixBase):
        return all(_is_zero(e) for e in expr)
    e = sp.expand(expr)
    if e == 0:
        return True
    e = sp.cancel(sp.together(e))  # rational functions (of exp(z), sigma(u), ...) cancel fast
    return e == 0 or sp.simplify(e) == 0


def _verify(claims: list[tuple[str, object]]) -> list[str]:
    """Each claim is (description, lhs - rhs); every difference must simplify to 0."""
    for desc, diff in claims:
        if not _is_zero(diff):
            raise RuntimeError(f"symbolic check failed: {desc}")
    return [desc for desc, _ in claims]


def _check_matrix_zero(desc: str, M) -> tuple[str, object]:
    """A claim that every entry of the SymPy matrix ``M`` is zero."""
    return desc, M


def _rational(v):
    """An exact int/Fraction as a SymPy Rational."""
    sp = _sympy()[0]
    v = Fraction(v)
    return sp.Rational(v.numerator, v.denominator)


# ---------------------------------------------------------------- numeric helpers


def _torch():
    import torch

    return torch


def _T(a, grad: bool = False):
    torch = _torch()
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def _err(a, b) -> float:
    """max |a - b|; equal infinities count as agreement, a NaN as disagreement."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.where(a == b, 0.0, np.abs(a - b))
    d = np.where(np.isnan(d), np.inf, d)
    return float(np.max(d))


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _f(v) -> float:
    """float(v), with an overflow as ±inf (a Fraction beyond float64 raises instead)."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _farr(a) -> np.ndarray:
    """Nested exact numbers -> float64 array (overflow to ±inf)."""
    if isinstance(a, (list, tuple)):
        return np.array([_farr(v) for v in a], dtype=np.float64)
    return np.float64(_f(a))


def _digits(v) -> int:
    """Decimal digits of the larger of numerator and denominator (no str() of huge ints)."""
    v = Fraction(v)
    bits = max(abs(v.numerator).bit_length(), v.denominator.bit_length())
    return int(bits * 0.30103) + 1


def _exact_fits(values) -> bool:
    """True when every exact number in ``values`` (nested) stays printable (MAX_EXACT_DIGITS)."""
    if isinstance(values, (list, tuple)):
        return all(_exact_fits(v) for v in values)
    return is_exact(values) and _digits(values) <= MAX_EXACT_DIGITS


def _result(details: list[tuple[str, float, float]], points: int, route: str) -> dict:
    """details: (quantity, max_abs_error, tolerance)."""
    return {
        "passed": all(e <= tol for _, e, tol in details),
        "max_abs_error": max(e for _, e, _ in details),
        "route": route,
        "points": points,
        "at": "random points",
        "details": [{"quantity": q, "max_abs_error": e, "tolerance": tol} for q, e, tol in details],
    }


def _result_at_values(
    details: list[tuple[str, float, float]], route: str, at: str = "your values"
) -> dict:
    c = _result(details, 1, route)
    c["at"] = at
    return c


# --- showing numbers


def _num_latex(v) -> str:
    if is_exact(v) and _digits(v) > MAX_EXACT_DIGITS:
        v = _f(v)
    return fmt_latex(v)


def _num_text(v) -> str:
    if is_exact(v) and _digits(v) > MAX_EXACT_DIGITS:
        v = _f(v)
    return fmt(v)


def _vec_latex(v: list) -> str:
    """A row vector as ``(v_1, v_2, …)``; long vectors are cut (every value is in --json)."""
    cells = [_num_latex(x) for x in v[:_MAX_SHOWN]]
    if len(v) > _MAX_SHOWN:
        cells.append(r"\dots")
    return r"\left(" + ",\\ ".join(cells) + r"\right)"


def _vec_text(v: list) -> str:
    cells = [_num_text(x) for x in v[:_MAX_SHOWN]]
    if len(v) > _MAX_SHOWN:
        cells.append("…")
    return "(" + ", ".join(cells) + ")"


def _cut(m: list[list]) -> list[list]:
    return [row[:_MAX_SHOWN] for row in m[:_MAX_SHOWN]]


def _mat_latex(m: list[list]) -> str:
    shown = [[(_f(v) if is_exact(v) and _digits(v) > MAX_EXACT_DIGITS else v) for v in row]
             for row in _cut(m)]
    s = latex_matrix(shown)
    if len(m) > _MAX_SHOWN or (m and len(m[0]) > _MAX_SHOWN):
        s += rf"\ (\text{{first }}{_MAX_SHOWN}\times{_MAX_SHOWN})"
    return s


def _mat_text(m: list[list]) -> str:
    shown = [[(_f(v) if is_exact(v) and _digits(v) > MAX_EXACT_DIGITS else v) for v in row]
             for row in _cut(m)]
    return text_matrix(shown)


def _exact_json(v):
    """Exact strings for JSON when they stay printable, else None."""
    return to_exact_str(v) if _exact_fits(v) else None


def _products_latex(pairs: list[tuple[object, object]]) -> str:
    """``a_1\\cdot b_1 + a_2\\cdot b_2 + …`` for (coefficient, value) pairs."""
    if not pairs:
        return "0"
    return " + ".join(f"{paren(_num_latex(a))}\\cdot {paren(_num_latex(b))}" for a, b in pairs)


def _products_text(pairs: list[tuple[object, object]]) -> str:
    if not pairs:
        return "0"
    return " + ".join(f"{paren(_num_text(a))}·{paren(_num_text(b))}" for a, b in pairs)


# ---------------------------------------------------------------- reading user values

# characters a number literal can contain; anything else suggests a file name
_LITERAL_CHARS = re.compile(r"[\s0-9eE+\-\u2212\u2013.,;/#|]*")
_TOKENS = re.compile(r"[,;|\s]+")
_EXPONENT = re.compile(r"[eE]([+-]?\d+)$")


def _check_literal_text(text: str, what: str) -> None:
    """Refuse, before parsing, text that would be slow or huge to expand exactly."""
    tokens = []
    for line in re.split(r"[;\n]", text):
        tokens += [t for t in _TOKENS.split(line.split("#", 1)[0]) if t]
        if len(tokens) > MAX_EXACT_CELLS:
            raise DataError(
                f"{what} has more than {MAX_EXACT_CELLS:,} values, above the limit of "
                f"{MAX_EXACT_CELLS:,}"
            )
    for t in tokens:
        if len(t) > MAX_LITERAL_CHARS:
            raise DataError(
                f"{what}: a number of {len(t):,} characters is longer than the limit of "
                f"{MAX_LITERAL_CHARS}; values must be finite float64 numbers"
            )
        m = _EXPONENT.search(t)
        if m and len(m.group(1).lstrip("+-")) < 6 and abs(int(m.group(1))) <= _MAX_EXPONENT:
            continue
        if m:
            raise DataError(
                f"{what}: {t[:40]!r} has an exponent beyond ±{_MAX_EXPONENT}; values must be "
                "finite float64 numbers (|v| < 1.8e308)"
            )


def _check_range(rows, what: str) -> None:
    for row in rows:
        for v in row:
            if abs(v) > _FLOAT_MAX:
                raise DataError(
                    f"{what}: a value of about 1e{_digits(v) - 1} is outside the float64 range; "
                    "values must be finite float64 numbers (|v| < 1.8e308)"
                )


def _text_of(raw: str, what: str) -> tuple[str, str | None]:
    """(text, file name or None): ``raw`` is a literal, or the name of a text/CSV file."""
    t = raw.strip()
    if _LITERAL_CHARS.fullmatch(t):
        return t, None
    looks_like_name = not re.search(r"[\s;]", t)
    if len(t) < 4096 and "\0" not in t:
        p = Path(t)
        try:
            exists = p.exists()
        except (OSError, ValueError):
            exists = False
        if exists:
            if p.is_dir():
                raise DataError(f"{what}: {t!r} is a directory; give a text or CSV file")
            if not p.is_file():
                raise DataError(f"{what}: {t!r} is not a regular file; give a text or CSV file")
            size = p.stat().st_size
            if size > _MAX_FILE_BYTES:
                raise DataError(
                    f"{what}: {t!r} is {size:,} bytes, above the limit of "
                    f"{_MAX_FILE_BYTES:,} for a values file"
                )
            return read_text_file(p, what=what), t
    if looks_like_name:
        raise DataError(
            f"{what}: {t[:60]!r} is neither a file nor numbers; give a text/CSV file or "
            'values such as "1 2 3" (rows split by \';\')'
        )
    return t, None


def _parse_rows(text: str, what: str, *, channels: bool) -> list:
    _check_literal_text(text, what)
    if channels:
        chans = parse_channels(text, what=what)
    else:
        chans = [parse_matrix(text, what=what)]
    for ch in chans:
        _check_range(ch, what)
    return chans


def _from_number(v, what: str):
    if isinstance(v, (bool, np.bool_)):
        raise DataError(f"{what}: {v!r} is not a number")
    if isinstance(v, (int, np.integer)):
        v = int(v)
    elif isinstance(v, Fraction):
        pass
    elif isinstance(v, (float, np.floating)):
        if not math.isfinite(float(v)):
            raise DataError(f"{what}: {v!r} is not a finite number; values must be finite")
        v = Fraction(repr(float(v)))  # 0.1 means 1/10, as when typed
    else:
        raise DataError(f"{what}: {v!r} is not a number")
    if abs(v) > _FLOAT_MAX:
        raise DataError(f"{what}: a value is outside the float64 range")
    return normalize(v)


def _from_array(value, what: str) -> list:
    """A number, list, nested list or ndarray -> channels (C, H, W) of exact numbers."""
    def depth(v):
        return 1 + depth(v[0]) if isinstance(v, (list, tuple, np.ndarray)) and len(v) else (
            1 if isinstance(v, (list, tuple, np.ndarray)) else 0)

    if isinstance(value, np.ndarray):
        value = value.tolist()
    d = depth(value)
    if d == 0:
        value = [[[value]]]
    elif d == 1:
        value = [[value]]
    elif d == 2:
        value = [value]
    elif d > 3:
        raise DataError(f"{what}: {d} dimensions; give a number, a vector or a matrix")
    chans = []
    for ch in value:
        if not isinstance(ch, (list, tuple)) or not ch:
            raise DataError(f"{what} is empty or ragged; give rows of equal length")
        rows = []
        for row in ch:
            if not isinstance(row, (list, tuple)) or not row:
                raise DataError(f"{what} is empty or ragged; give rows of equal length")
            rows.append([_from_number(v, what) for v in row])
        if any(len(r) != len(rows[0]) for r in rows):
            raise DataError(f"{what}: rows of different lengths; every row needs the same")
        chans.append(rows)
    if any((len(c), len(c[0])) != (len(chans[0]), len(chans[0][0])) for c in chans):
        raise DataError(f"{what}: channels of different sizes; every channel needs the same")
    if sum(len(c) * len(c[0]) for c in chans) > MAX_EXACT_CELLS:
        raise DataError(f"{what} has more than {MAX_EXACT_CELLS:,} values, above the limit")
    return chans


def _read(raw, what: str, *, channels: bool = False) -> tuple[list, str | None]:
    """(channels (C, H, W) of exact numbers, a note on the file read or None)."""
    if not isinstance(raw, str):
        return _from_array(raw, what), None
    text, path = _text_of(raw, what)
    if path is None:
        return _parse_rows(text, what, channels=channels), None
    label = f"{what} file {path!r}"
    try:
        return _parse_rows(text, label, channels=channels), f"{what}: read from {path!r}."
    except DataError:
        lines = [ln for ln in text.splitlines() if ln.split("#", 1)[0].strip()]
        if len(lines) < 2:
            raise
        # a CSV header line: read the rest, and say so
        chans = _parse_rows("\n".join(lines[1:]), label, channels=channels)
        return chans, (f"{what}: read from {path!r}; its first line is not numbers and was "
                       "skipped as a header.")


def _vector(raw, what: str, notes: list[str] | None = None) -> list:
    """A vector (one row or one column) of exact numbers, at most _MAX_VALUES long."""
    chans, note = _read(raw, what)
    _add_note(notes, note)
    if len(chans) != 1:
        raise DataError(f"{what} must be a vector, got {len(chans)} channels")
    m = chans[0]
    if len(m) == 1:
        v = m[0]
    elif len(m[0]) == 1:
        v = [row[0] for row in m]
    else:
        raise DataError(f"{what} must be a vector (one row or one column), got a "
                        f"{len(m)}×{len(m[0])} matrix")
    if len(v) > _MAX_VALUES:
        raise DataError(f"{what} has {len(v):,} values, above the limit of {_MAX_VALUES:,}")
    return v


def _matrix(raw, what: str, notes: list[str] | None = None) -> list[list]:
    chans, note = _read(raw, what)
    _add_note(notes, note)
    if len(chans) != 1:
        raise DataError(f"{what} must be one matrix, got {len(chans)} channels")
    return chans[0]


def _channels(raw, what: str, notes: list[str] | None = None) -> list:
    chans, note = _read(raw, what, channels=True)
    _add_note(notes, note)
    return chans


def _scalar(raw, what: str):
    if isinstance(raw, str):
        v = _vector(raw, what)
    else:
        v = [x for ch in _from_array(raw, what) for row in ch for x in row]
    if len(v) != 1:
        raise DataError(f"{what} must be one number, got {len(v)} values")
    return v[0]


def _add_note(notes: list[str] | None, note: str | None) -> None:
    if notes is not None and note:
        notes.append(note)


def _one_of(raw, what: str, choices: tuple[str, ...]) -> str:
    v = str(raw).strip().lower()
    if v not in choices:
        raise ConfigError(f"{what} must be one of {', '.join(choices)}, got {str(raw)[:40]!r}")
    return v


# ---------------------------------------------------------------- softmax


def _shifted(z: list) -> list:
    """t = z − max z, exactly: softmax(z) = softmax(t), and every e^{t_k} ≤ 1 (no overflow)."""
    m = max(z)
    return [normalize(Fraction(v) - Fraction(m)) for v in z]


def _softmax_float(t: list) -> tuple[np.ndarray, float]:
    """(ŷ, ln S) in float64 from the shifted logits t (max t = 0, so S ≥ 1)."""
    tf = _farr(t)
    e = np.exp(tf)  # (n,) each in [0, 1]
    S = float(e.sum())
    return e / S, math.log(S)


def _softmax_exact(t: list):
    """(E, S): SymPy e^{t_k} and S = Σ_k e^{t_k}, or None when the forms would be unwieldy."""
    if len(t) > _MAX_EXACT_SOFTMAX:
        return None
    for v in t:
        v = Fraction(v)
        if abs(v) > 10_000 or v.denominator > 10**6:
            return None
    E = [_sympy()[0].exp(_rational(v)) for v in t]
    return E, sum(E)


def _exact_note(n: int) -> str:
    return (
        f"Exact forms are written for at most {_MAX_EXACT_SOFTMAX} logits whose differences are "
        f"small rationals; these {n} are given in float64 only."
    )


def _logit_steps(z: list, t: list, p: np.ndarray, ex) -> list[Step]:
    """The user's logits, shifted, and ŷ exact (where written) and in float64."""
    sp = _sympy()[0]
    steps = [
        Step(
            f"Your logits (n = {len(z)}). Softmax is unchanged when the same number is "
            "subtracted from every logit, so with t = z − max z every e^{t_k} ≤ 1 and "
            "S = Σ_k e^{t_k} ≥ 1:",
            rf"z = {_vec_latex(z)},\quad t = z - \max_k z_k = {_vec_latex(t)}",
            f"z = {_vec_text(z)},   t = z − max z = {_vec_text(t)}",
        )
    ]
    if ex is not None:
        E, S = ex
        yl = r",\ ".join(sp.latex(e / sp.Symbol("S")) for e in E)
        yp = ", ".join(sp.sstr(e / sp.Symbol("S")) for e in E)
        steps.append(
            Step(
                "Exactly, and in float64:",
                rf"S = {sp.latex(S)} \approx {fmt_latex(float(sp.N(S, 20)))},\quad"
                rf" \hat y = \left({yl}\right) \approx {_vec_latex(list(p))}",
                f"S = {sp.sstr(S)} ≈ {fmt(float(sp.N(S, 20)))},   ŷ = ({yp}) ≈ {_vec_text(list(p))}",
            )
        )
    else:
        steps.append(
            Step("In float64:", rf"\hat y = {_vec_latex(list(p))}", f"ŷ = {_vec_text(list(p))}")
        )
    return steps


@functools.cache
def _softmax_jacobian_symbolic() -> tuple[tuple[str, ...], str, str]:
    sp = _sympy()[0]
    n = 3
    z = sp.symbols("z1:4")
    S = sum(sp.exp(v) for v in z)
    yh = [sp.exp(v) / S for v in z]
    J = sp.Matrix(n, n, lambda i, j: sp.diff(yh[i], z[j]))
    formula = sp.Matrix(n, n, lambda i, j: yh[i] * (int(i == j) - yh[j]))
    symbolic = _verify(
        [
            ("d y_hat_1 / d z_1 = y_hat_1 (1 - y_hat_1)", J[0, 0] - yh[0] * (1 - yh[0])),
            ("d y_hat_1 / d z_2 = -y_hat_1 y_hat_2", J[0, 1] + yh[0] * yh[1]),
            _check_matrix_zero("J = diag(y_hat) - y_hat y_hat^T for n = 3", J - formula),
            _check_matrix_zero("every column of J sums to 0", sp.ones(1, n) * J),
            _check_matrix_zero("J 1 = 0 (shifting all logits changes nothing)", J * sp.ones(n, 1)),
        ]
    )
    s = sp.symbols(r"\hat{y}_1:4")
    Js = sp.Matrix(n, n, lambda i, j: s[i] * (1 - s[i]) if i == j else -s[i] * s[j])
    return tuple(symbolic), sp.latex(Js), sp.sstr(Js)


def _softmax_jacobian(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic, js_latex, js_plain = _softmax_jacobian_symbolic()
    steps = [
        Step(
            "Softmax turns logits z = (z_1, …, z_n) into probabilities:",
            r"\hat y_i = \frac{e^{z_i}}{S},\qquad S = \sum_{k=1}^{n} e^{z_k}",
            "ŷ_i = e^{z_i} / S,   S = Σ_k e^{z_k}",
        ),
        Step(
            "Diagonal entries (i = j): quotient rule, with ∂S/∂z_i = e^{z_i}:",
            r"\frac{\partial \hat y_i}{\partial z_i} = \frac{e^{z_i}S - e^{z_i}e^{z_i}}{S^2}"
            r" = \hat y_i - \hat y_i^2 = \hat y_i(1 - \hat y_i)",
            "∂ŷ_i/∂z_i = (e^{z_i} S − e^{z_i} e^{z_i}) / S² = ŷ_i − ŷ_i² = ŷ_i (1 − ŷ_i)",
        ),
        Step(
            "Off-diagonal entries (i ≠ j): the numerator e^{z_i} does not depend on z_j:",
            r"\frac{\partial \hat y_i}{\partial z_j} = \frac{0\cdot S - e^{z_i}e^{z_j}}{S^2}"
            r" = -\hat y_i\,\hat y_j",
            "∂ŷ_i/∂z_j = (0·S − e^{z_i} e^{z_j}) / S² = −ŷ_i ŷ_j",
        ),
        Step(
            "Both cases in one formula (δ_ij is the Kronecker delta) and in matrix form:",
            r"\frac{\partial \hat y_i}{\partial z_j} = \hat y_i(\delta_{ij} - \hat y_j),\qquad"
            r" J = \operatorname{diag}(\hat y) - \hat y\,\hat y^\top",
            "∂ŷ_i/∂z_j = ŷ_i (δ_ij − ŷ_j),   J = diag(ŷ) − ŷ ŷᵀ",
        ),
        Step("For n = 3 (computed by SymPy):", "J = " + js_latex, "J = " + js_plain),
        Step(
            "Properties: J is symmetric and positive semi-definite; its rows and columns sum to "
            "0 because Σ_i ŷ_i = 1 and adding the same constant to every logit leaves ŷ "
            "unchanged, so J·1 = 0 and J is singular.",
        ),
    ]
    torch = _torch()
    d = Derivation("softmax-jacobian", "The softmax Jacobian", steps, list(symbolic))
    if "z" not in v:
        # all points in one batch (P, 5); row i of every Jacobian from one backward pass
        zt = rng.normal(scale=2.0, size=(points, 5))
        p = np.exp(zt - zt.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        J = p[:, :, None] * (np.eye(5)[None] - p[:, None, :])  # (P, 5, 5)
        u = _T(zt, grad=True)
        out = torch.softmax(u, 1)
        ref = np.stack(
            [torch.autograd.grad(out[:, i].sum(), u, retain_graph=True)[0].numpy()
             for i in range(5)], axis=1
        )  # (P, 5, 5): samples are independent, so each sum's gradient is one row per sample
        d.check = _result(
            [("Jacobian vs torch.autograd, row by row", _err(J, ref), 1e-12)],
            points,
            "torch.autograd",
        )
        return d

    # --- with the user's logits
    z = _vector(v["z"], "--z", d.notes)
    n = len(z)
    check_limit(n, _MAX_LOGITS_JACOBIAN, what="--z for softmax-jacobian (logits)")
    t = _shifted(z)
    p, _ = _softmax_float(t)
    J = np.diag(p) - np.outer(p, p)  # (n, n)
    ex = _softmax_exact(t)
    steps += _logit_steps(z, t, p, ex)
    details = []
    if ex is not None:
        sp = _sympy()[0]
        E, S_val = ex
        S = sp.Symbol("S")
        Jx = [[E[i] * (S * int(i == j) - E[j]) / S**2 for j in range(n)] for i in range(n)]
        body = r" \\ ".join(" & ".join(sp.latex(e) for e in row) for row in Jx)
        steps.append(
            Step(
                "The Jacobian exactly, J_ij = e^{t_i}(S δ_ij − e^{t_j})/S², with S as above:",
                rf"J = \begin{{bmatrix}} {body} \end{{bmatrix}}",
                "J = " + sp.sstr(sp.Matrix(Jx)),
            )
        )
        Jx_num = np.array([[float(sp.N(e.subs(S, S_val), 30)) for e in row] for row in Jx])
        details.append(("exact forms evaluated to 30 digits vs the float64 J", _err(Jx_num, J),
                        1e-15))
        d.exact["jacobian"] = [[sp.sstr(e) for e in row] for row in Jx]
        d.exact["S"] = sp.sstr(S_val)
        d.exact["y_hat"] = [sp.sstr(e / S) for e in E]
    else:
        d.notes.append(_exact_note(n))
    rows = float(np.max(np.abs(J.sum(axis=1))))
    steps += [
        Step(
            "In float64:",
            rf"J = \operatorname{{diag}}(\hat y) - \hat y\,\hat y^\top \approx {_mat_latex(J.tolist())}",
            "J = diag(ŷ) − ŷŷᵀ ≈\n" + _mat_text(J.tolist()),
        ),
        Step(
            f"Every row of J sums to 0 (the largest |row sum| in float64 here: {rows:.2g}), J is "
            "symmetric, and its diagonal ŷ_i(1 − ŷ_i) is at most 1/4 (here at most "
            f"{fmt(float(np.max(np.diag(J))), 4)})."
        ),
    ]
    ref = torch.autograd.functional.jacobian(lambda u: torch.softmax(u, 0), _T(_farr(z))).numpy()
    details.append(("J vs torch.autograd.functional.jacobian at your z", _err(J, ref), 1e-12))
    d.check = _result_at_values(details, "torch.autograd" + (" + SymPy" if ex else ""))
    d.output, d.values = J, {"y_hat": p, "jacobian": J}
    d.inputs = {"z": _exact_json(z)}
    return d


@functools.cache
def _softmax_cross_entropy_symbolic() -> tuple[str, ...]:
    sp = _sympy()[0]
    z = sp.symbols("z1:4")
    y1, y2, y3 = sp.symbols("y1 y2 y3")
    S = sum(sp.exp(v) for v in z)
    yh = [sp.exp(v) / S for v in z]
    y = [y1, y2, 1 - y1 - y2]  # targets sum to 1
    L = -sum(t * sp.log(p) for t, p in zip(y, yh))
    yg = [y1, y2, y3]  # any targets
    Lg = -sum(t * sp.log(p) for t, p in zip(yg, yh))
    claims = [
        (
            f"dL/dz_{j + 1} = y_hat_{j + 1} - y_{j + 1} (n = 3, y_3 = 1 - y_1 - y_2)",
            sp.diff(L, z[j]) - (yh[j] - y[j]),
        )
        for j in range(3)
    ]
    claims.append(
        (
            "for any targets, dL/dz_1 = y_hat_1 (y_1 + y_2 + y_3) - y_1",
            sp.diff(Lg, z[0]) - (yh[0] * (y1 + y2 + y3) - y1),
        )
    )
    return tuple(_verify(claims))


def _softmax_cross_entropy(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _softmax_cross_entropy_symbolic()
    steps = [
        Step(
            "Cross-entropy of a softmax output ŷ = softmax(z) against a target distribution y "
            "(one-hot or soft, Σ_k y_k = 1):",
            r"L = -\sum_k y_k \ln \hat y_k",
            "L = −Σ_k y_k ln ŷ_k",
        ),
        Step(
            "Chain rule through every ŷ_k (each depends on every z_j), with the softmax "
            "Jacobian ∂ŷ_k/∂z_j = ŷ_k(δ_kj − ŷ_j):",
            r"\frac{\partial L}{\partial z_j} = \sum_k \frac{\partial L}{\partial \hat y_k}"
            r"\frac{\partial \hat y_k}{\partial z_j} = \sum_k \left(-\frac{y_k}{\hat y_k}\right)"
            r"\hat y_k(\delta_{kj} - \hat y_j) = -y_j + \hat y_j\sum_k y_k",
            "∂L/∂z_j = Σ_k (∂L/∂ŷ_k)(∂ŷ_k/∂z_j) = Σ_k (−y_k/ŷ_k) ŷ_k (δ_kj − ŷ_j)"
            " = −y_j + ŷ_j Σ_k y_k",
        ),
        Step(
            "The targets sum to 1, so:",
            r"\frac{\partial L}{\partial z_j} = \hat y_j - y_j,\qquad \nabla_z L = \hat y - y",
            "∂L/∂z_j = ŷ_j − y_j,   ∇_z L = ŷ − y",
        ),
        Step(
            "The same from the log-sum-exp form ln ŷ_k = z_k − ln Σ_m e^{z_m}:",
            r"L = -\sum_k y_k z_k + \ln\sum_m e^{z_m}\;\Rightarrow\;"
            r"\frac{\partial L}{\partial z_j} = -y_j + \frac{e^{z_j}}{\sum_m e^{z_m}}"
            r" = \hat y_j - y_j",
            "L = −Σ_k y_k z_k + ln Σ_m e^{z_m}  ⇒  ∂L/∂z_j = −y_j + e^{z_j}/Σ_m e^{z_m} = ŷ_j − y_j",
        ),
        Step(
            "So the output delta of a softmax classifier is simply δ = ŷ − y: bounded in "
            "[−1, 1], zero only when the prediction equals the target, and it never vanishes "
            "because of a saturated unit. Libraries fuse softmax and cross-entropy "
            "(log-softmax) for this reason and for numerical stability.",
        ),
    ]
    d = Derivation(
        "softmax-cross-entropy",
        "Softmax with cross-entropy: ∂L/∂z = ŷ − y",
        steps,
        list(symbolic),
    )
    torch = _torch()
    if not v:
        zt = rng.normal(scale=2.0, size=(points, 5))
        yt = rng.dirichlet(np.ones(5), size=points)  # (P, 5), rows sum to 1
        u = _T(zt, grad=True)
        (-(_T(yt) * torch.log_softmax(u, 1)).sum()).backward()
        p = np.exp(zt - zt.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        d.check = _result(
            [("dL/dz vs autograd of -sum y log_softmax(z)", _err(p - yt, u.grad.numpy()),
              1e-12)],
            points,
            "torch.autograd",
        )
        return d

    # --- with the user's logits and targets
    _need(v, ("z", "y"), "softmax-cross-entropy")
    z = _vector(v["z"], "--z", d.notes)
    y = _vector(v["y"], "--y", d.notes)
    if len(y) != len(z):
        raise DataError(f"--y has {len(y)} values but --z has {len(z)}; give one target per logit")
    n = len(z)
    t = _shifted(z)
    p, log_S = _softmax_float(t)
    ex = _softmax_exact(t)
    s = normalize(sum(Fraction(u) for u in y))
    yf, tf = _farr(y), _farr(t)
    grad = _f(s) * p - yf  # (n,)
    with np.errstate(invalid="ignore"):
        L = float(-np.sum(np.where(yf == 0, 0.0, yf * (tf - log_S))))
    steps += _logit_steps(z, t, p, ex)
    if s == 1:
        steps.append(
            Step(
                f"Your targets y = {_vec_text(y)} sum to 1, so ∂L/∂z = ŷ − y:",
                rf"y = {_vec_latex(y)},\quad \sum_k y_k = 1",
                f"y = {_vec_text(y)},   Σ_k y_k = 1",
            )
        )
    else:
        steps.append(
            Step(
                f"Your targets y = {_vec_text(y)} sum to {_num_text(s)}, not 1, so the last "
                "simplification does not hold: the general form ∂L/∂z_j = ŷ_j Σ_k y_k − y_j "
                f"applies, here ∂L/∂z = {_num_text(s)}·ŷ − y (and ŷ − y would be wrong).",
                rf"y = {_vec_latex(y)},\quad \sum_k y_k = {_num_latex(s)},\quad"
                rf" \nabla_z L = {paren(_num_latex(s))}\,\hat y - y",
                f"y = {_vec_text(y)},   Σ_k y_k = {_num_text(s)},   ∇_z L = {_num_text(s)}·ŷ − y",
            )
        )
        if any(u < 0 for u in y):
            d.notes.append(
                "y has negative entries, so it is not a probability distribution: L then has no "
                "minimum (it falls without bound as ŷ_k → 0 for a negative y_k); the gradient "
                "formula holds all the same."
            )
        elif s > 0:
            d.notes.append(
                f"y sums to {_num_text(s)}: L = {_num_text(s)}·H(y/{_num_text(s)}, ŷ), so it is "
                f"least at ŷ = y/{_num_text(s)}, where its gradient is 0."
            )
    if ex is not None:
        sp = _sympy()[0]
        E, S_val = ex
        S = sp.Symbol("S")
        gx = [_rational(s) * e / S - _rational(u) for e, u in zip(E, y)]
        Lx = -sum(_rational(u) * _rational(tk) for u, tk in zip(y, t)) + _rational(s) * sp.log(
            S_val
        )
        steps.append(
            Step(
                "Exactly (S as above):",
                r"\nabla_z L = \left(" + r",\ ".join(sp.latex(g) for g in gx)
                + rf"\right),\quad L = {sp.latex(Lx)}",
                "∇_z L = (" + ", ".join(sp.sstr(g) for g in gx) + f"),   L = {sp.sstr(Lx)}",
            )
        )
        g_num = np.array([float(sp.N(g.subs(S, S_val), 30)) for g in gx])
        exact_err = _err(g_num, grad)
        d.exact["grad"] = [sp.sstr(g) for g in gx]
        d.exact["loss"] = sp.sstr(Lx)
    else:
        exact_err = None
        d.notes.append(_exact_note(n))
    steps.append(
        Step(
            "In float64:",
            rf"\nabla_z L \approx {_vec_latex(list(grad))},\qquad L \approx {fmt_latex(L)}",
            f"∇_z L ≈ {_vec_text(list(grad))},   L ≈ {fmt(L)}",
        )
    )
    u = _T(_farr(z), grad=True)
    Lt = -(_T(yf) * torch.log_softmax(u, 0)).sum()
    Lt.backward()
    tol = 1e-12 * (1.0 + float(np.max(np.abs(yf))) * n)
    details = [
        ("∂L/∂z vs autograd of −Σ y log_softmax(z) at your values", _err(grad, u.grad.numpy()),
         tol),
        ("L vs torch", _err(L, float(Lt.detach())), 1e-12 * (1.0 + abs(L)) if
         math.isfinite(L) else 0.0),
    ]
    if exact_err is not None:
        details.append(("exact ∇_z L evaluated to 30 digits vs float64", exact_err, tol))
    d.check = _result_at_values(details, "torch.autograd" + (" + SymPy" if ex else ""))
    d.output, d.values = grad, {"y_hat": p, "grad": grad, "loss": np.float64(L)}
    d.inputs = {"z": _exact_json(z), "y": _exact_json(y)}
    return d


def _need(v: dict, names: tuple[str, ...], topic: str) -> None:
    """All of ``names`` must be given together."""
    missing = [VALUE_OPTIONS[k] for k in names if k not in v]
    if missing:
        given = " ".join(VALUE_OPTIONS[k] for k in v)
        raise ConfigError(
            f"{topic} with {given} also needs {' '.join(missing)}; give "
            + " ".join(VALUE_OPTIONS[k] for k in names)
        )


# ---------------------------------------------------------------- sigmoid and cross-entropy


@functools.cache
def _sigmoid_cross_entropy_symbolic() -> tuple[str, ...]:
    sp = _sympy()[0]
    zs, ys, a = sp.symbols("z y a", real=True)
    sigma = 1 / (1 + sp.exp(-zs))
    L = -(ys * sp.log(sigma) + (1 - ys) * sp.log(1 - sigma))
    Lt = -(a * sp.log(ys) + (1 - a) * sp.log(1 - ys))
    grad_swapped = sp.diff(Lt, a)
    lim_grad = sp.limit(sp.log(1 - ys) - sp.log(ys), ys, 1, "-")
    lim_loss = sp.limit(Lt.subs(a, sp.Rational(1, 2)), ys, 1, "-")
    symbolic = _verify(
        [
            ("sigma'(z) = sigma(z)(1 - sigma(z))", sp.diff(sigma, zs) - sigma * (1 - sigma)),
            ("dL/dz = sigma(z) - y for the binary cross-entropy", sp.diff(L, zs) - (sigma - ys)),
            (
                "swapped loss: dL~/da = ln(1 - y) - ln y",
                grad_swapped - (sp.log(1 - ys) - sp.log(ys)),
            ),
        ]
    )
    if lim_grad != -sp.oo or lim_loss != sp.oo:
        raise RuntimeError("symbolic check failed: limits of the swapped loss at y -> 1")
    return tuple(symbolic + ["ln(1 - y) - ln y -> -oo as y -> 1", "L~(a = 1/2) -> +oo as y -> 1"])


def _bce_float(zf: np.ndarray, yf: np.ndarray) -> np.ndarray:
    """−[y ln σ(z) + (1 − y) ln(1 − σ(z))] per entry, stable for large |z| (softplus form)."""
    return np.maximum(zf, 0) - yf * zf + np.log1p(np.exp(-np.abs(zf)))


def _targets01(raw, what: str, notes: list[str]) -> list:
    y = _vector(raw, what, notes)
    bad = [u for u in y if u < 0 or u > 1]
    if bad:
        raise DataError(
            f"{what}: {_num_text(bad[0])} is outside [0, 1]; a binary cross-entropy target is a "
            "probability (outside [0, 1] the loss has no minimum)"
        )
    return y


def _sigmoid_cross_entropy(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _sigmoid_cross_entropy_symbolic()
    torch = _torch()
    # what autodiff makes of the swapped loss at a one-hot label
    at = _T([0.3], grad=True)
    yt = _T([1.0])
    Ltv = -(at * torch.log(yt) + (1 - at) * torch.log(1 - yt)).sum()
    Ltv.backward()
    swapped_value, swapped_grad = float(Ltv.detach()), float(at.grad[0])

    steps = [
        Step(
            "A sigmoid unit a = σ(z) = 1/(1 + e^{−z}) predicts P(y = 1); the binary "
            "cross-entropy for a target y ∈ [0, 1] is:",
            r"L = -\left[y\ln a + (1 - y)\ln(1 - a)\right]",
            "L = −[y ln a + (1 − y) ln(1 − a)]",
        ),
        Step(
            "Derivative of the sigmoid:",
            r"\sigma'(z) = \frac{e^{-z}}{(1 + e^{-z})^2} = \sigma(z)\,(1 - \sigma(z)) = a(1 - a)",
            "σ'(z) = e^{−z} / (1 + e^{−z})² = σ(z)(1 − σ(z)) = a(1 − a)",
        ),
        Step(
            "Derivative of the loss with respect to the output:",
            r"\frac{\partial L}{\partial a} = -\frac{y}{a} + \frac{1 - y}{1 - a}"
            r" = \frac{a - y}{a(1 - a)}",
            "∂L/∂a = −y/a + (1 − y)/(1 − a) = (a − y) / (a(1 − a))",
        ),
        Step(
            "Chain rule: σ'(z) cancels the denominator exactly, so the error signal is the "
            "plain difference:",
            r"\delta = \frac{\partial L}{\partial z} = \frac{\partial L}{\partial a}\,\sigma'(z)"
            r" = \frac{a - y}{a(1 - a)}\cdot a(1 - a) = a - y",
            "δ = ∂L/∂z = (∂L/∂a) σ'(z) = (a − y)/(a(1 − a)) · a(1 − a) = a − y",
        ),
        Step(
            "Compare the squared error ½(a − y)²: there δ = (a − y)·a(1 − a), which is almost 0 "
            "when the unit saturates (a ≈ 0 or a ≈ 1) even if the answer is completely wrong, "
            "so learning stalls; with cross-entropy δ = a − y stays large while the output is "
            "wrong.",
            r"\text{squared error: }\ \delta = (a - y)\,a(1 - a)\ \to 0\ \text{ as } a \to 0"
            r"\text{ or } 1",
            "squared error: δ = (a − y) a(1 − a) → 0 as a → 0 or 1",
        ),
        Step(
            "What goes wrong with the arguments swapped, L̃ = −[a ln y + (1 − a) ln(1 − y)]: for a "
            "label y ∈ {0, 1} one of ln y, ln(1 − y) is ln 0 = −∞. For y = 1, L̃ = −(1 − a)·ln 0 "
            "= +∞ for every a < 1 (and 0·∞ is undefined at a = 1); for y = 0, L̃ = −a·ln 0 = +∞ "
            f"for every a > 0. PyTorch indeed returns L̃ = {swapped_value} and "
            f"∂L̃/∂a = {swapped_grad} at a = 0.3, y = 1 (topic cross-entropy-swapped has more).",
            r"\tilde L = -\left[a\ln y + (1 - a)\ln(1 - y)\right],\qquad y = 1:\ "
            r"\tilde L = -(1 - a)\ln 0 = +\infty",
            "L̃ = −[a ln y + (1 − a) ln(1 − y)],   y = 1:  L̃ = −(1 − a) ln 0 = +∞",
        ),
        Step(
            "Its gradient does not depend on the prediction a at all: L̃ is linear in a, has no "
            "minimum at a = y, and its gradient is +∞ for y = 0 and −∞ for y = 1. Cross-entropy "
            "H(p, q) = −Σ p ln q takes the logarithm of the model's prediction q = a, which lies "
            "in (0, 1), never of the 0/1 label.",
            r"\frac{\partial \tilde L}{\partial a} = \ln(1 - y) - \ln y = \ln\frac{1 - y}{y}"
            r"\ \xrightarrow{\;y \to 1\;}\ -\infty",
            "∂L̃/∂a = ln(1 − y) − ln y = ln((1 − y)/y) → −∞ as y → 1",
        ),
    ]
    d = Derivation(
        "sigmoid-cross-entropy",
        "Sigmoid with binary cross-entropy: δ = a − y",
        steps,
        list(symbolic),
    )
    if not v:
        zt = rng.normal(scale=3.0, size=(points, 4))
        yt = rng.uniform(size=(points, 4))
        u = _T(zt, grad=True)
        torch.nn.functional.binary_cross_entropy_with_logits(
            u, _T(yt), reduction="sum"
        ).backward()
        d.check = _result(
            [("delta = sigmoid(z) - y vs autograd of BCE-with-logits",
              _err(_sigmoid(zt) - yt, u.grad.numpy()), 1e-12)],
            points,
            "torch.autograd",
        )
        return d

    # --- with the user's pre-activations and targets (one per example)
    _need(v, ("z", "y"), "sigmoid-cross-entropy")
    z = _vector(v["z"], "--z", d.notes)
    y = _targets01(v["y"], "--y", d.notes)
    if len(y) != len(z):
        raise DataError(f"--y has {len(y)} values but --z has {len(z)}; give one target per z")
    zf, yf = _farr(z), _farr(y)
    a = _sigmoid(zf)
    delta = a - yf
    loss = _bce_float(zf, yf)
    steps.append(
        Step(
            f"With your values ({len(z)} example(s), one z and one target y each):",
            rf"z = {_vec_latex(z)},\quad y = {_vec_latex(y)},\quad a = \sigma(z) \approx"
            rf" {_vec_latex(list(a))}",
            f"z = {_vec_text(z)},   y = {_vec_text(y)},   a = σ(z) ≈ {_vec_text(list(a))}",
        )
    )
    steps.append(
        Step(
            "The error signal of each example and its loss:",
            rf"\delta = a - y \approx {_vec_latex(list(delta))},\quad L \approx"
            rf" {_vec_latex(list(loss))}",
            f"δ = a − y ≈ {_vec_text(list(delta))},   L ≈ {_vec_text(list(loss))}",
        )
    )
    u = _T(zf, grad=True)
    Lt = torch.nn.functional.binary_cross_entropy_with_logits(u, _T(yf), reduction="none")
    Lt.sum().backward()
    d.check = _result_at_values(
        [
            ("δ = σ(z) − y vs autograd of BCE-with-logits at your values",
             _err(delta, u.grad.numpy()), 1e-12),
            ("L vs torch BCE-with-logits", _err(loss, Lt.detach().numpy()),
             1e-12 * (1.0 + float(np.max(np.abs(loss))))),
        ],
        "torch.autograd",
    )
    d.output, d.values = delta, {"a": a, "delta": delta, "loss": loss}
    d.inputs = {"z": _exact_json(z), "y": _exact_json(y)}
    return d


# ---------------------------------------------------------------- cross-entropy: minimum


@functools.cache
def _cross_entropy_minimum_symbolic() -> tuple[str, ...]:
    sp = _sympy()[0]
    a, y = sp.symbols("a y", positive=True)
    z = sp.Symbol("z", real=True)
    C = -(y * sp.log(a) + (1 - y) * sp.log(1 - a))
    H = -(y * sp.log(y) + (1 - y) * sp.log(1 - y))
    sigma = 1 / (1 + sp.exp(-z))
    Cz = C.subs(a, sigma)
    z_star = sp.log(y / (1 - y))
    kl = y * sp.log(y / a) + (1 - y) * sp.log((1 - y) / (1 - a))
    return tuple(
        _verify(
            [
                ("dC/da = (a - y) / (a (1 - a))", sp.diff(C, a) - (a - y) / (a * (1 - a))),
                (
                    "d2C/da2 = y/a^2 + (1 - y)/(1 - a)^2 (> 0 on (0, 1))",
                    sp.diff(C, a, 2) - (y / a**2 + (1 - y) / (1 - a) ** 2),
                ),
                ("dC/dz = sigma(z) - y", sp.diff(Cz, z) - (sigma - y)),
                ("sigma(ln(y / (1 - y))) = y", sigma.subs(z, z_star) - y),
                ("C(a = y) = -[y ln y + (1 - y) ln(1 - y)]", C.subs(a, y) - H),
                (
                    "C(a) - C(y) = y ln(y/a) + (1 - y) ln((1 - y)/(1 - a)) (a KL divergence, >= 0)",
                    sp.expand_log(C - H - kl, force=True),
                ),
            ]
        )
    )


def _entropy(yf: np.ndarray) -> np.ndarray:
    """−[y ln y + (1 − y) ln(1 − y)] with 0 ln 0 = 0 (its limit)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(yf > 0, yf * np.log(np.where(yf > 0, yf, 1.0)), 0.0)
        t0 = np.where(yf < 1, (1 - yf) * np.log(np.where(yf < 1, 1 - yf, 1.0)), 0.0)
    return -(t1 + t0)


def _ce_of_z(zv: float, yv: float) -> float:
    return float(_bce_float(np.array([zv]), np.array([yv]))[0])


_MAX_MINIMISED = 20  # targets checked by a numerical minimisation (the gradient check: all)


def _cross_entropy_minimum(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _cross_entropy_minimum_symbolic()
    steps = [
        Step(
            "A sigmoid output a = σ(z) ∈ (0, 1) and a target y ∈ [0, 1] (not only 0 or 1). The "
            "cross-entropy over n training inputs x is a mean of one term per input, and each "
            "term depends only on that input's own output a_x, so the mean is least when every "
            "term is least:",
            r"C = -\frac1n\sum_x\left[y\ln a + (1 - y)\ln(1 - a)\right],\qquad"
            r" C_x(a) = -\left[y\ln a + (1 - y)\ln(1 - a)\right]",
            "C = −(1/n) Σ_x [y ln a + (1 − y) ln(1 − a)],   C_x(a) = −[y ln a + (1 − y) ln(1 − a)]",
        ),
        Step(
            "Derivative in a: it is negative for a < y and positive for a > y, so a = y is the "
            "only stationary point in (0, 1) and it is the minimum; the second derivative is "
            "positive there as everywhere on (0, 1):",
            r"\frac{\partial C_x}{\partial a} = -\frac{y}{a} + \frac{1 - y}{1 - a}"
            r" = \frac{a - y}{a(1 - a)},\qquad \frac{\partial^2 C_x}{\partial a^2}"
            r" = \frac{y}{a^2} + \frac{1 - y}{(1 - a)^2} > 0",
            "∂C_x/∂a = −y/a + (1 − y)/(1 − a) = (a − y)/(a(1 − a)),   "
            "∂²C_x/∂a² = y/a² + (1 − y)/(1 − a)² > 0",
        ),
        Step(
            "In the network's own variable z: ∂C_x/∂z = σ(z) − y vanishes exactly when σ(z) = y. "
            "For y ∈ (0, 1) that is the finite z* = ln(y/(1 − y)), so the minimum is attained "
            "there — σ(z) = y is the minimiser even though y is not 0 or 1:",
            r"\frac{\partial C_x}{\partial z} = \sigma(z) - y = 0 \iff \sigma(z) = y \iff"
            r" z^\star = \ln\frac{y}{1 - y}",
            "∂C_x/∂z = σ(z) − y = 0  ⇔  σ(z) = y  ⇔  z* = ln(y/(1 − y))",
        ),
        Step(
            "The value there, averaged over the inputs: the binary entropy of the targets, which is "
            "above 0 for every y ∈ (0, 1) — a soft target keeps the cross-entropy away from 0. "
            "The excess over it is a Kullback–Leibler divergence, ≥ 0 and 0 only at a = y (a "
            "second proof of the minimum):",
            r"C_{\min} = -\frac1n\sum_x\left[y\ln y + (1 - y)\ln(1 - y)\right],\qquad"
            r" C_x(a) - C_x(y) = y\ln\frac{y}{a} + (1 - y)\ln\frac{1 - y}{1 - a} \ge 0",
            "C_min = −(1/n) Σ_x [y ln y + (1 − y) ln(1 − y)],   "
            "C_x(a) − C_x(y) = y ln(y/a) + (1 − y) ln((1 − y)/(1 − a)) ≥ 0",
        ),
        Step(
            "For y = 0 or y = 1 the same formula gives C_min = 0 (with 0·ln 0 = 0, its limit), "
            "but σ(z) never reaches 0 or 1: C → 0 as z → −∞ or +∞, an infimum that no finite "
            "z attains.",
        ),
    ]
    d = Derivation(
        "cross-entropy-minimum",
        "Cross-entropy is least at σ(z) = y, also for y ∈ (0, 1)",
        steps,
        list(symbolic),
    )
    from scipy.optimize import minimize_scalar

    torch = _torch()

    def minimise(yv: float) -> tuple[float, float]:
        r = minimize_scalar(lambda q: _ce_of_z(q, yv), bounds=(-40.0, 40.0), method="bounded",
                            options={"xatol": 1e-10})
        return float(r.x), float(r.fun)

    if "y" not in v:
        ys = rng.uniform(0.02, 0.98, size=points)
        zs = np.log(ys / (1 - ys))
        z_err = val_err = 0.0
        n_min = min(points, _MAX_MINIMISED)
        for yv, zv in zip(ys[:n_min], zs[:n_min]):
            zm, cm = minimise(float(yv))
            z_err = max(z_err, abs(zm - zv))
            val_err = max(val_err, abs(cm - float(_entropy(np.array([yv]))[0])))
        u = _T(zs, grad=True)
        torch.nn.functional.binary_cross_entropy_with_logits(u, _T(ys), reduction="sum").backward()
        d.check = _result(
            [
                ("arg min over z by scipy.optimize.minimize_scalar vs ln(y/(1 − y)) (at most "
                 f"{_MAX_MINIMISED} points)", z_err, 1e-5),
                ("least value found vs −[y ln y + (1 − y) ln(1 − y)]", val_err, 1e-10),
                ("∂C/∂z by torch.autograd at z* (should be 0)",
                 float(np.max(np.abs(u.grad.numpy()))), 1e-12),
            ],
            points,
            "scipy.optimize + torch.autograd",
        )
        return d

    # --- with the user's targets
    y = _targets01(v["y"], "--y", d.notes)
    yf = _farr(y)
    n = len(y)
    inner = (yf > 0) & (yf < 1)
    with np.errstate(divide="ignore"):
        z_star = np.where(inner, np.log(np.where(inner, yf, 0.5) / np.where(inner, 1 - yf, 0.5)),
                          np.where(yf >= 1, np.inf, -np.inf))
    H = _entropy(yf)
    c_min = float(H.mean())
    sp = _sympy()[0]
    exact_H = None
    if n <= _MAX_EXACT_SOFTMAX and all(Fraction(u).denominator <= 10**6 for u in y):
        ys_ = [_rational(u) for u in y]
        exact_H = [
            sp.nsimplify(0) if u in (0, 1) else -(u * sp.log(u) + (1 - u) * sp.log(1 - u))
            for u in ys_
        ]
        d.exact["entropy"] = [sp.sstr(e) for e in exact_H]
    rows = []
    for i, u in enumerate(y[:_MAX_SHOWN]):
        zs_ = fmt_latex(float(z_star[i])) if inner[i] else (r"+\infty" if u == 1 else r"-\infty")
        hx = sp.latex(exact_H[i]) + r" \approx " if exact_H is not None and inner[i] else ""
        rows.append(rf"y = {_num_latex(u)}:\ a^\star = {_num_latex(u)},\ z^\star = {zs_},\ "
                    rf"C_{{\min}} = {hx}{fmt_latex(float(H[i]))}")
    steps.append(
        Step(
            f"With your target(s) ({n} input(s)):",
            r",\qquad ".join(rows),
            "; ".join(
                f"y = {_num_text(u)}: a* = {_num_text(u)}, z* = "
                f"{fmt(float(z_star[i])) if inner[i] else ('+∞' if u == 1 else '−∞')}, "
                f"C_min = {fmt(float(H[i]))}"
                for i, u in enumerate(y[:_MAX_SHOWN])
            ),
        )
    )
    if n > 1:
        steps.append(
            Step(
                "Mean over the inputs:",
                rf"C_{{\min}} = \frac1{{{n}}}\sum_x\left[\dots\right] \approx {fmt_latex(c_min)}",
                f"C_min ≈ {fmt(c_min)}",
            )
        )
    details = []
    uniq = sorted({float(u) for u, ok in zip(yf, inner) if ok})[:_MAX_MINIMISED]
    if uniq:
        z_err = val_err = 0.0
        for yv in uniq:
            zm, cm = minimise(yv)
            z_err = max(z_err, abs(zm - math.log(yv / (1 - yv))))
            val_err = max(val_err, abs(cm - float(_entropy(np.array([yv]))[0])))
        u_t = _T(z_star[inner], grad=True)
        torch.nn.functional.binary_cross_entropy_with_logits(
            u_t, _T(yf[inner]), reduction="sum"
        ).backward()
        details += [
            (f"arg min over z by scipy.optimize.minimize_scalar vs ln(y/(1 − y)) ({len(uniq)} "
             "distinct target(s))", z_err, 1e-5),
            ("least value found vs −[y ln y + (1 − y) ln(1 − y)]", val_err, 1e-10),
            ("∂C/∂z by torch.autograd at z* (should be 0)",
             float(np.max(np.abs(u_t.grad.numpy()))), 1e-12),
        ]
    if not inner.all():
        edge = yf[~inner]
        far = np.where(edge >= 1, 36.0, -36.0)
        c_far = _bce_float(far, edge)
        steps.append(
            Step(
                "For your target(s) at 0 or 1 the infimum 0 is approached, not reached: at "
                f"z = ±36 the cost is already {fmt(float(np.max(c_far)), 3)}, and it keeps "
                "falling as |z| grows.",
            )
        )
        details.append(("C at z = ±36 for a 0/1 target (should be ≈ 0)", float(np.max(c_far)),
                        1e-15))
    d.check = _result_at_values(details, "scipy.optimize + torch.autograd")
    d.output, d.values = H, {"a_star": yf, "z_star": z_star, "c_min": H,
                             "c_min_mean": np.float64(c_min)}
    d.inputs = {"y": _exact_json(y)}
    return d


# ---------------------------------------------------------------- cross-entropy: swapped


@functools.cache
def _cross_entropy_swapped_symbolic() -> tuple[str, ...]:
    sp = _sympy()[0]
    a, y = sp.symbols("a y", positive=True)
    Ct = -(a * sp.log(y) + (1 - a) * sp.log(1 - y))
    b = sp.Symbol("b", positive=True)  # b = 1 - a > 0
    Cb = -((1 - b) * sp.log(y) + b * sp.log(1 - y))
    C = -(y * sp.log(a) + (1 - y) * sp.log(1 - a))
    claims = _verify(
        [
            ("d C~/da = ln(1 - y) - ln y, free of a", sp.diff(Ct, a) - (sp.log(1 - y) - sp.log(y))),
            ("d2 C~/da2 = 0 (C~ is linear in a)", sp.diff(Ct, a, 2)),
            ("usual form at y = 1: C = -ln a", C.subs(y, 1) + sp.log(a)),
            ("usual form at y = 0: C = -ln(1 - a)", C.subs(y, 0) + sp.log(1 - a)),
        ]
    )
    if sp.limit(Ct, y, 0, "+") != sp.oo or sp.limit(Cb, y, 1, "-") != sp.oo:
        raise RuntimeError("symbolic check failed: limits of the swapped form at y -> 0, 1")
    return tuple(claims + ["C~ -> +oo as y -> 0+ for every a > 0",
                           "C~ -> +oo as y -> 1- for every a < 1"])


def _swapped_float(af, yf):
    """(usual C, swapped C̃, ∂C̃/∂a) in IEEE float64 (ln 0 = −inf), elementwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ly, l1y = np.log(yf), np.log(1 - yf)
        # a coefficient that is exactly 0 makes its term 0, as the formula on paper
        swapped = -(np.where(af == 0, 0.0, af * ly) + np.where(af == 1, 0.0, (1 - af) * l1y))
        usual = -(np.where(yf == 0, 0.0, yf * np.log(af))
                  + np.where(yf == 1, 0.0, (1 - yf) * np.log(1 - af)))
        grad = l1y - ly
    return usual, swapped, grad


def _cross_entropy_swapped(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _cross_entropy_swapped_symbolic()
    steps = [
        Step(
            "The two candidates, for a network output a = σ(z) and a target y. The sigmoid "
            "never reaches 0 or 1, so a ∈ (0, 1) strictly; a classification target is y ∈ {0, 1}:",
            r"C = -\left[y\ln a + (1 - y)\ln(1 - a)\right],\qquad"
            r" \tilde C = -\left[a\ln y + (1 - a)\ln(1 - y)\right]",
            "C = −[y ln a + (1 − y) ln(1 − a)],   C̃ = −[a ln y + (1 − a) ln(1 − y)]",
        ),
        Step(
            "The swapped form at y = 0: ln 0 = −∞ is multiplied by a, which is > 0 for every "
            "output the network can give. At y = 1 the same happens to (1 − a) ln(1 − y). As a "
            "limit (y → 0⁺ or y → 1⁻) C̃ grows without bound; at y ∈ {0, 1} itself it is +∞ in "
            "floating point. It is infinite whether the prediction is right or wrong, so it "
            "cannot tell a good output from a bad one, and its gradient ∂C̃/∂a = ln((1 − y)/y) "
            "is ±∞ and does not depend on a: it carries no information. (Only the outputs "
            "a = 0 and a = 1, which σ never produces, would give the undefined 0·ln 0.)",
            r"y = 0:\ \tilde C = -\left[a\ln 0 + (1 - a)\ln 1\right] = -a\ln 0 = +\infty,\qquad"
            r" y = 1:\ \tilde C = -\left[a\ln 1 + (1 - a)\ln 0\right] = -(1 - a)\ln 0 = +\infty",
            "y = 0: C̃ = −[a ln 0 + (1 − a) ln 1] = −a ln 0 = +∞;   "
            "y = 1: C̃ = −[a ln 1 + (1 − a) ln 0] = −(1 − a) ln 0 = +∞",
        ),
        Step(
            "Even for y ∈ (0, 1), where it is finite, C̃ is the wrong cost: it is linear in a "
            "(∂²C̃/∂a² = 0) with the constant slope ln((1 − y)/y), so it is least at an end — "
            "a → 1 when y > 1/2, a → 0 when y < 1/2, flat at y = 1/2 — never at a = y.",
            r"\frac{\partial \tilde C}{\partial a} = \ln(1 - y) - \ln y = \ln\frac{1 - y}{y}",
            "∂C̃/∂a = ln(1 − y) − ln y = ln((1 − y)/y)",
        ),
        Step(
            "The usual form takes the logarithms of a and 1 − a, both in (0, 1) because "
            "a = σ(z), so both logarithms are finite. At y ∈ {0, 1} one coefficient, y or "
            "1 − y, is exactly 0 and its (finite) term vanishes: no 0·∞ arises. What is left is "
            "finite, small when the prediction is right and large when it is wrong, with the "
            "finite gradient ∂C/∂z = a − y. So the problem does not afflict the first form.",
            r"y = 1:\ C = -\ln a,\qquad y = 0:\ C = -\ln(1 - a),\qquad"
            r" \frac{\partial C}{\partial z} = a - y",
            "y = 1: C = −ln a;   y = 0: C = −ln(1 − a);   ∂C/∂z = a − y",
        ),
    ]
    d = Derivation(
        "cross-entropy-swapped",
        "Why −[a ln y + (1 − a) ln(1 − y)] breaks at y ∈ {0, 1}",
        steps,
        list(symbolic),
    )
    torch = _torch()

    def torch_forms(av, yv):
        at = _T(av, grad=True)
        yt = _T(yv)
        swapped = -(at * torch.log(yt) + (1 - at) * torch.log(1 - yt))
        swapped.sum().backward()
        usual = -(yt * torch.log(at) + (1 - yt) * torch.log(1 - at))
        return usual.detach().numpy(), swapped.detach().numpy(), at.grad.numpy()

    if not v:
        a_r = rng.uniform(0.01, 0.99, size=points)
        y_r = rng.uniform(0.01, 0.99, size=points)
        _, _, g = _swapped_float(a_r, y_r)
        _, _, gt = torch_forms(a_r, y_r)
        a2 = np.repeat(a_r, 2)
        y2 = np.tile([0.0, 1.0], points)
        c, ct, _ = _swapped_float(a2, y2)
        tc, tct, _ = torch_forms(a2, y2)
        d.check = _result(
            [
                ("∂C̃/∂a = ln((1 − y)/y) vs torch.autograd, y ∈ (0, 1)", _err(g, gt), 1e-12),
                ("C̃ at y ∈ {0, 1} vs torch (both +inf)", _err(ct, tct)
                 + (0.0 if np.all(np.isposinf(ct)) else np.inf), 0.0),
                ("usual C at y ∈ {0, 1} (finite) vs torch", _err(c, tc), 1e-12),
            ],
            points,
            "torch",
        )
        return d

    # --- with the user's output a (and optional interior targets y)
    if "a" not in v:
        raise ConfigError("cross-entropy-swapped takes --a (the output σ(z), in (0, 1)) and "
                          "optionally --y")
    a = _scalar(v["a"], "--a")
    if not 0 < a < 1:
        raise DataError(f"--a must lie strictly between 0 and 1 (a = σ(z) never reaches 0 or 1), "
                        f"got {_num_text(a)}")
    ys = [0, 1]
    if "y" in v:
        extra = _targets01(v["y"], "--y", d.notes)
        ys += [u for u in extra if u not in ys][:_MAX_SHOWN]
    af = np.full(len(ys), _f(a))
    yf = _farr(ys)
    usual, swapped, grad = _swapped_float(af, yf)
    tu, ts, tg = torch_forms(af, yf)
    sp = _sympy()[0]
    ar = _rational(a)
    yy = sp.Symbol("y", positive=True)
    Ct = -(ar * sp.log(yy) + (1 - ar) * sp.log(1 - yy))
    lim0, lim1 = sp.limit(Ct, yy, 0, "+"), sp.limit(Ct, yy, 1, "-")
    exact_usual = [-sp.log(1 - ar), -sp.log(ar)]  # at y = 0 and y = 1
    rows_l, rows_t = [], []
    for i, u in enumerate(ys):
        ex = rf"{sp.latex(exact_usual[i])} \approx " if i < 2 else ""
        sw = fmt_latex(float(swapped[i])).replace("inf", r"\infty")
        gr = fmt_latex(float(grad[i])).replace("inf", r"\infty")
        rows_l.append(rf"y = {_num_latex(u)}:\ C = {ex}{fmt_latex(float(usual[i]))},\ "
                      rf"\tilde C = {sw},\ \partial\tilde C/\partial a = {gr}")
        rows_t.append(f"y = {_num_text(u)}: C = {fmt(float(usual[i]))}, C̃ = "
                      f"{fmt(float(swapped[i]))}, ∂C̃/∂a = {fmt(float(grad[i]))}")
    steps.append(
        Step(
            f"With your output a = {_num_text(a)} (floating point, ln 0 = −inf):",
            r",\\ ".join(rows_l),
            "\n".join(rows_t),
        )
    )
    def lim_text(q):
        return "+∞" if q == sp.oo else ("−∞" if q == -sp.oo else sp.sstr(q))

    steps.append(
        Step(
            f"SymPy, with a = {_num_text(a)} exactly: the swapped form tends to "
            f"{lim_text(lim0)} as y → 0⁺ and to {lim_text(lim1)} as y → 1⁻, while the usual form "
            f"is −ln(1 − a) ≈ {fmt(float(usual[0]))} at y = 0 and −ln a ≈ "
            f"{fmt(float(usual[1]))} at y = 1.",
            rf"\lim_{{y\to 0^+}}\tilde C = {sp.latex(lim0)},\qquad \lim_{{y\to 1^-}}\tilde C"
            rf" = {sp.latex(lim1)}",
            f"lim_(y→0⁺) C̃ = {lim_text(lim0)},   lim_(y→1⁻) C̃ = {lim_text(lim1)}",
        )
    )
    interior = [i for i, u in enumerate(ys) if 0 < u < 1]
    for i in interior:
        u = ys[i]
        if u == Fraction(1, 2):
            where = "it is the same for every a, so a = y is not singled out"
        else:
            where = f"it is least at {'a → 1' if u > Fraction(1, 2) else 'a → 0'}, not at a = y"
        steps.append(
            Step(
                f"At your y = {_num_text(u)}, C̃ is finite but its slope in a is the constant "
                f"ln((1 − y)/y) ≈ {fmt(float(grad[i]))}: {where}; the usual C has its minimum "
                "at a = y.",
            )
        )
    exact_num = np.array([float(sp.N(e, 30)) for e in exact_usual])
    inf_ok = bool(np.all(np.isposinf(swapped[:2])) and lim0 == sp.oo and lim1 == sp.oo)
    d.check = _result_at_values(
        [
            ("usual C vs torch", _err(usual, tu), 1e-12),
            ("usual C at y ∈ {0, 1} vs its exact −ln(1 − a), −ln a (SymPy)",
             _err(usual[:2], exact_num), 1e-14),
            ("C̃ vs torch (+inf at y ∈ {0, 1}; limits +oo by SymPy)",
             _err(swapped, ts) + (0.0 if inf_ok else np.inf), 0.0),
            ("∂C̃/∂a vs torch.autograd", _err(grad, tg), 1e-12),
        ],
        "torch + SymPy",
    )
    d.output = swapped
    d.values = {"y": yf, "usual": usual, "swapped": swapped, "swapped_grad": grad}
    d.exact["usual_at_0_1"] = [sp.sstr(e) for e in exact_usual]
    d.inputs = {"a": _exact_json(a), "y": _exact_json(ys)}
    return d


# ---------------------------------------------------------------- the name softmax

_INVERSE_TEMPERATURES = (0.1, 0.5, 1, 2, 5, 10, 100)


def _moves(before: float, after: float) -> str:
    """'falls from', 'rises from' or 'stays at' — the words follow the numbers."""
    if after < before:
        return "falls from"
    return "rises from" if after > before else "stays the same, from"


@functools.cache
def _softmax_name_symbolic() -> tuple[str, ...]:
    sp = _sympy()[0]
    c = sp.Symbol("c", positive=True)
    d2, d3 = sp.symbols("d2 d3", positive=True)  # gaps z_1 - z_2, z_1 - z_3 > 0
    top = 1 / (1 + sp.exp(-c * d2) + sp.exp(-c * d3))  # softmax(cz)_1 with z_1 the largest
    z = sp.symbols("z1:4", real=True)
    S = sum(sp.exp(c * v) for v in z)
    lse = sp.log(S) / c
    claims = _verify(
        [
            (f"d/dz_{k + 1} (1/c) ln sum_j e^(c z_j) = softmax(cz)_{k + 1} (n = 3)",
             sp.diff(lse, z[k]) - sp.exp(c * z[k]) / S)
            for k in range(3)
        ]
    )
    if sp.limit(top, c, sp.oo) != 1:
        raise RuntimeError("symbolic check failed: softmax(cz)_max -> 1")
    if sp.limit(sp.exp(c * z[0]) / S, c, 0) != sp.Rational(1, 3):
        raise RuntimeError("symbolic check failed: softmax(cz) -> 1/3 as c -> 0")
    return tuple(claims + ["softmax(cz)_1 -> 1 as c -> oo when z_1 is the largest (n = 3)",
                           "softmax(cz)_1 -> 1/3 as c -> 0 (n = 3)"])


def _softmax_name(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _softmax_name_symbolic()
    d = Derivation(
        "softmax-name",
        "Where the name softmax comes from",
        [],
        list(symbolic),
    )
    given = "z" in v
    z = _vector(v["z"], "--z", d.notes) if given else [1, 2, 3]
    n = len(z)
    t = _shifted(z)  # max 0
    tf = _farr(t)
    top = [k for k, u in enumerate(t) if u == 0]  # the arg max set (ties share the limit)
    hard = np.zeros(n)
    hard[top] = 1.0 / len(top)
    m = _f(max(z))
    rows = []
    for c in _INVERSE_TEMPERATURES:
        e = np.exp(c * tf)  # (n,) the largest is 1
        p = e / e.sum()
        lse = m + math.log(e.sum()) / c  # (1/c) ln Σ e^{c z_j}, computed shifted
        rows.append((c, p, float(np.max(np.abs(p - hard))), lse))
    steps = [
        Step(
            "Softmax turns scores z into probabilities; scale the scores by c > 0 (an inverse "
            "temperature; c = 1 is the ordinary softmax):",
            r"\mathrm{softmax}(cz)_k = \frac{e^{c z_k}}{\sum_j e^{c z_j}}",
            "softmax(cz)_k = e^{c z_k} / Σ_j e^{c z_j}",
        ),
        Step(
            "As c grows, the largest score takes all the mass: with k* = arg max_k z_k and the "
            "gaps z_{k*} − z_j > 0, the k*-th entry tends to 1 and the others to 0 — the "
            "one-hot vector of the arg max, the 'hard' maximum (tied maxima share the mass "
            "equally). As c → 0 it tends to the uniform 1/n. For every finite c it is a smooth, "
            "differentiable version of that hard maximum: a 'soft' max, hence the name (Nielsen: "
            "a softened version of the maximum function).",
            r"\mathrm{softmax}(cz)_{k^*} = \frac{1}{1 + \sum_{j\ne k^*} e^{-c\,(z_{k^*} - z_j)}}"
            r"\ \xrightarrow{\;c\to\infty\;}\ 1,\qquad \mathrm{softmax}(cz)_k"
            r"\ \xrightarrow{\;c\to 0\;}\ \frac1n",
            "softmax(cz)_{k*} = 1 / (1 + Σ_{j≠k*} e^{−c (z_{k*} − z_j)}) → 1 as c → ∞;   "
            "softmax(cz)_k → 1/n as c → 0",
        ),
        Step(
            "The smooth maximum behind it is the log-sum-exp, whose gradient is the softmax: "
            "it lies within ln(n)/c of the true maximum, so it too becomes the max as c → ∞.",
            r"\max_k z_k \le \frac1c\ln\sum_j e^{c z_j} \le \max_k z_k + \frac{\ln n}{c},\qquad"
            r" \frac{\partial}{\partial z_k}\,\frac1c\ln\sum_j e^{c z_j} = \mathrm{softmax}(cz)_k",
            "max z ≤ (1/c) ln Σ_j e^{c z_j} ≤ max z + ln(n)/c,   "
            "∂/∂z_k (1/c) ln Σ_j e^{c z_j} = softmax(cz)_k",
        ),
    ]
    label = (f"your z = {_vec_text(z)}" if given
             else f"the example z = {_vec_text(z)} (give --z for your own scores)")
    lat = [
        rf"c = {fmt_latex(c)}:\ \mathrm{{softmax}}(cz) = {_vec_latex(list(p))},\ "
        rf"\lVert\mathrm{{softmax}}(cz) - h\rVert_\infty = {fmt_latex(dist, 3)}"
        for c, p, dist, _ in rows
    ]
    txt = [
        f"c = {fmt(c)}: softmax(cz) = {_vec_text(list(p))}   max |softmax(cz) − h| = "
        f"{fmt(dist, 3)}   "
        f"(1/c) ln Σ e^(cz) = {fmt(lse)}"
        for c, p, dist, lse in rows
    ]
    first, last = rows[0], rows[-1]
    if len(top) > 1:
        ties = f" (a {len(top)}-way tie); h, the limit, is 1/{len(top)} at each of them"
    else:
        ties = "; h, the limit, is 1 there"
    steps += [
        Step(
            f"With {label}: the arg max is at position(s) "
            f"{', '.join(str(k + 1) for k in top)}{ties} and 0 elsewhere:",
            r",\\ ".join(lat),
            "\n".join(txt),
        ),
        Step(
            f"From c = {fmt(first[0])} to c = {fmt(last[0])} the largest distance to the limit "
            f"{_moves(first[2], last[2])} {fmt(first[2], 3)} to {fmt(last[2], 3)}, and the "
            f"log-sum-exp {_moves(first[3], last[3])} {fmt(first[3])} to {fmt(last[3])}; "
            f"max z = {_num_text(max(z))}.",
        ),
    ]
    d.steps = steps
    torch = _torch()
    p_err = lse_err = 0.0
    bound_ok = True
    for c, p, _, lse in rows:
        # torch gets the shifted scores too (softmax is shift-invariant; c·z may overflow)
        p_err = max(p_err, _err(p, torch.softmax(_T(c * tf), 0).numpy()))
        ref = m + float(torch.logsumexp(_T(c * tf), 0)) / c
        lse_err = max(lse_err, abs(lse - ref) / max(1.0, abs(ref)))
        bound_ok &= m - 1e-12 * max(1.0, abs(m)) <= lse <= m + math.log(n) / c + 1e-12 * max(
            1.0, abs(m))
    u = _T(tf, grad=True)
    torch.logsumexp(u, 0).backward()
    g_err = _err(u.grad.numpy(), rows[2][1])  # c = 1
    details = [
        ("softmax(cz) vs torch.softmax", p_err, 1e-12),
        ("(1/c) ln Σ e^(cz) vs torch.logsumexp (relative)", lse_err, 1e-12),
        ("gradient of log-sum-exp (torch.autograd) vs softmax(z)", g_err, 1e-12),
        ("max z ≤ log-sum-exp ≤ max z + ln(n)/c at every c (0 = holds)",
         0.0 if bound_ok else 1.0, 0.0),
    ]
    if given:
        d.check = _result_at_values(details, "torch.autograd", at=label)
    else:
        # the example's checks, and the identities at random scores and scales
        details = [(f"{q} (example z)", e, tol) for q, e, tol in details]
        zr = rng.normal(scale=3.0, size=(points, 5))
        cr = rng.uniform(0.1, 10.0, size=(points, 1))
        u = _T(zr, grad=True)
        lse_t = torch.logsumexp(_T(cr) * u, 1) / _T(cr[:, 0])  # (P,)
        lse_t.sum().backward()
        e = np.exp(cr * (zr - zr.max(axis=1, keepdims=True)))
        g_rand = _err(u.grad.numpy(), e / e.sum(axis=1, keepdims=True))
        lse_v = lse_t.detach().numpy()
        zmax = zr.max(axis=1)
        bound_rand = bool(np.all((zmax - 1e-12 <= lse_v)
                                 & (lse_v <= zmax + math.log(5) / cr[:, 0] + 1e-12)))
        details += [
            ("∂/∂z (1/c) ln Σ e^(cz) by torch.autograd vs softmax(cz), random z and c", g_rand,
             1e-12),
            ("max z ≤ log-sum-exp ≤ max z + ln(n)/c at random z and c (0 = holds)",
             0.0 if bound_rand else 1.0, 0.0),
        ]
        d.check = _result(details, points, "torch.autograd")
    d.output = np.array([r[1] for r in rows])  # (len(c), n)
    d.values = {
        "c": np.array(_INVERSE_TEMPERATURES, dtype=np.float64),
        "softmax": d.output,
        "distance_to_one_hot": np.array([r[2] for r in rows]),
        "logsumexp": np.array([r[3] for r in rows]),
    }
    d.inputs = {"z": _exact_json(z)}
    return d


# ---------------------------------------------------------------- ridge regression


@functools.cache
def _ridge_symbolic() -> tuple[str, ...]:
    sp = _sympy()[0]
    n, d = 3, 2
    X = sp.Matrix(n, d, lambda i, j: sp.Symbol(f"x{i + 1}{j + 1}"))
    y = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"y{i + 1}"))
    w = sp.Matrix(d, 1, lambda i, _: sp.Symbol(f"w{i + 1}"))
    lam = sp.Symbol("lambda", positive=True)
    r = X * w - y
    J = (r.T * r)[0] / n + lam * (w.T * w)[0]
    grad = sp.Matrix([sp.diff(J, v) for v in w])
    claimed = sp.Rational(2, n) * X.T * r + 2 * lam * w
    Xq = sp.Matrix([[1, 2], [0, -1], [3, 1]])
    yq = sp.Matrix([1, 0, 2])
    w_star = (Xq.T * Xq + n * lam * sp.eye(d)).inv() * Xq.T * yq
    grad_at = sp.Rational(2, n) * Xq.T * (Xq * w_star - yq) + 2 * lam * w_star
    hess = sp.hessian(J, list(w))
    alpha = sp.Symbol("alpha", positive=True)
    J_sk = (r.T * r)[0] + alpha * (w.T * w)[0]  # scikit-learn's Ridge objective
    return tuple(
        _verify(
            [
                _check_matrix_zero(
                    "grad J = (2/n) X^T (X w - y) + 2 lambda w (n = 3, d = 2)", grad - claimed
                ),
                _check_matrix_zero(
                    "the closed form zeroes the gradient (exact X, symbolic lambda)", grad_at
                ),
                _check_matrix_zero(
                    "Hessian = (2/n)(X^T X + n lambda I)",
                    hess - sp.Rational(2, n) * (X.T * X + n * lam * sp.eye(d)),
                ),
                (
                    "n J = ||Xw - y||^2 + alpha ||w||^2 with alpha = n lambda (scikit-learn's Ridge)",
                    n * J - J_sk.subs(alpha, n * lam),
                ),
            ]
        )
    )


def _solve_exact(A: list[list], rhs: list) -> list:
    """Gauss–Jordan elimination in exact rationals; A (d, d) nonsingular, rhs (d,)."""
    d = len(A)
    M = [[Fraction(v) for v in row] + [Fraction(r)] for row, r in zip(A, rhs)]  # (d, d + 1)
    for col in range(d):
        piv = next((r for r in range(col, d) if M[r][col] != 0), None)
        if piv is None:
            raise DataError("XᵀX + nλI is singular; give a larger --lam")
        M[col], M[piv] = M[piv], M[col]
        p = M[col][col]
        M[col] = [v / p for v in M[col]]
        for r in range(d):
            if r != col and M[r][col] != 0:
                f = M[r][col]
                M[r] = [a - f * b for a, b in zip(M[r], M[col])]
    return [normalize(M[r][d]) for r in range(d)]


def _ridge(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _ridge_symbolic()
    steps = [
        Step(
            "A linear model ŷ_i = x_iᵀw on n examples (the rows of X ∈ ℝ^{n×d}) with the mean "
            "squared error plus an L2 penalty:",
            r"J(w) = \frac1n\sum_{i=1}^{n}(x_i^\top w - y_i)^2 + \lambda\lVert w\rVert^2"
            r" = \frac1n (Xw - y)^\top(Xw - y) + \lambda\, w^\top w",
            "J(w) = (1/n) Σ_i (x_iᵀw − y_i)² + λ‖w‖² = (1/n)(Xw − y)ᵀ(Xw − y) + λ wᵀw",
        ),
        Step(
            "Gradient: ∂/∂w of (Xw − y)ᵀ(Xw − y) is 2Xᵀ(Xw − y), and of wᵀw is 2w:",
            r"\nabla_w J = \frac2n X^\top(Xw - y) + 2\lambda w",
            "∇_w J = (2/n) Xᵀ(Xw − y) + 2λw",
        ),
        Step(
            "Setting the gradient to zero and multiplying by n/2 gives the normal equations and "
            "the closed form:",
            r"X^\top X\,w + n\lambda\,w = X^\top y\;\Rightarrow\;"
            r"w^\star = \left(X^\top X + n\lambda I\right)^{-1} X^\top y",
            "XᵀX w + nλ w = Xᵀy  ⇒  w* = (XᵀX + nλI)⁻¹ Xᵀy",
        ),
        Step(
            "It is the unique minimiser for λ > 0: the Hessian is positive definite (XᵀX is "
            "positive semi-definite and nλI adds nλ to every eigenvalue), so J is strictly "
            "convex and XᵀX + nλI is invertible even when d > n or features are collinear.",
            r"\nabla^2 J = \frac2n\left(X^\top X + n\lambda I\right) \succ 0",
            "∇²J = (2/n)(XᵀX + nλI) ≻ 0",
        ),
        Step(
            "The factor n comes from the mean (1/n) in front of the squared error; with a plain "
            "sum instead the familiar w* = (XᵀX + λI)⁻¹Xᵀy results. scikit-learn's Ridge "
            "minimises that sum form, ‖y − Xw‖² + α‖w‖²; n·J is exactly that objective with "
            "α = nλ, so Ridge(alpha = n·λ, fit_intercept=False) has the same minimiser. A bias is "
            "normally not penalised: centre X and y first (or append a column of ones and leave "
            "its weight out of the penalty).",
            r"n\,J(w) = \lVert Xw - y\rVert^2 + n\lambda\lVert w\rVert^2"
            r"\quad\Rightarrow\quad \alpha_{\text{sklearn}} = n\lambda",
            "n·J(w) = ‖Xw − y‖² + nλ‖w‖²  ⇒  sklearn's alpha = nλ",
        ),
    ]
    d = Derivation("ridge", "Ridge regression in closed form", steps, list(symbolic))
    if not v:
        _ridge_random(d, rng, points)
        return d

    # --- with the user's data
    _need(v, ("X", "y", "lam"), "ridge")
    X = _matrix(v["X"], "--X", d.notes)
    y = _vector(v["y"], "--y", d.notes)
    lam = _scalar(v["lam"], "--lam")
    n, nf = len(X), len(X[0])
    if len(y) != n:
        raise DataError(f"--y has {len(y)} values but --X has {n} rows; give one target per row "
                        "of X")
    check_limit(nf, _MAX_FEATURES, what="--X columns (features)")
    if lam <= 0:
        raise ConfigError(f"--lam must be > 0 (the sheet's λ > 0 makes XᵀX + nλI invertible), "
                          f"got {_num_text(lam)}")
    Xf, yf, lamf = _farr(X), _farr(y), _f(lam)  # (n, d), (n,)
    with np.errstate(over="ignore", invalid="ignore"):
        A_f = Xf.T @ Xf + n * lamf * np.eye(nf)  # (d, d)
        b_f = Xf.T @ yf  # (d,)
    if not (np.all(np.isfinite(A_f)) and np.all(np.isfinite(b_f))):
        raise DataError("--X/--y are too large: XᵀX or Xᵀy overflows float64; rescale the data")
    cond = float(np.linalg.cond(A_f))
    exact = nf <= 8 and n * nf * nf <= 20_000 and all_exact(X) and all_exact(y) and is_exact(lam)
    nlam = normalize(n * Fraction(lam))
    if exact:
        A = [
            [normalize(sum(Fraction(X[i][j]) * X[i][k] for i in range(n)) + (nlam if j == k else 0))
             for k in range(nf)]
            for j in range(nf)
        ]
        rhs = [normalize(sum(Fraction(X[i][j]) * y[i] for i in range(n))) for j in range(nf)]
        w = _solve_exact(A, rhs)
        r = [sum(Fraction(X[i][j]) * w[j] for j in range(nf)) - y[i] for i in range(n)]
        g = [normalize(Fraction(2, n) * sum(X[i][j] * r[i] for i in range(n)) + 2 * lam * w[j])
             for j in range(nf)]
        if any(gj != 0 for gj in g):  # pragma: no cover - exact arithmetic
            raise RuntimeError("exact ridge solution does not zero the gradient")
        loss = normalize(sum(ri * ri for ri in r) / n + lam * sum(wj * wj for wj in w))
        w_f = _farr(w)
    else:
        try:
            w_f = np.linalg.solve(A_f, b_f)
        except np.linalg.LinAlgError:
            raise DataError(f"XᵀX + nλI is singular in float64 (λ = {_num_text(lam)} is too small "
                            "for these data); give a larger --lam") from None
        loss = float(np.mean((Xf @ w_f - yf) ** 2) + lamf * w_f @ w_f)
        d.notes.append(
            "The exact rational solution is written for at most 8 features, n·d² ≤ 20,000 and "
            f"values of at most {MAX_EXACT_DIGITS} digits; these data are solved in float64."
        )
    if not np.all(np.isfinite(w_f)):
        raise DataError("the ridge weights overflow float64; rescale the data")
    steps.append(
        Step(
            f"With your data: n = {n} example(s), d = {nf} feature(s), λ = {_num_text(lam)}, so "
            f"nλ = {_num_text(nlam)} — scikit-learn's alpha:",
            rf"X = {_mat_latex(X)},\quad y = {_vec_latex(y)}^\top,\quad n\lambda = "
            rf"{_num_latex(nlam)}",
            "X =\n" + _mat_text(X) + f"\ny = {_vec_text(y)}ᵀ,   nλ = {_num_text(nlam)}",
        )
    )
    if exact:
        steps += [
            Step(
                "The normal equations, exactly:",
                rf"X^\top X + n\lambda I = {_mat_latex(A)},\qquad X^\top y = "
                rf"{_vec_latex(rhs)}^\top",
                "XᵀX + nλI =\n" + _mat_text(A) + f"\nXᵀy = {_vec_text(rhs)}ᵀ",
            ),
            Step(
                "Solved exactly (rational arithmetic), with the gradient at w* exactly 0:",
                rf"w^\star = {_vec_latex(w)}^\top \approx {_vec_latex(list(w_f))}^\top,\qquad"
                rf" J(w^\star) = {_num_latex(loss)}",
                f"w* = {_vec_text(w)}ᵀ ≈ {_vec_text(list(w_f))}ᵀ,   J(w*) = {_num_text(loss)}",
            ),
        ]
        d.exact["w"] = _exact_json(w)
        d.exact["loss"] = _exact_json(loss)
    else:
        steps.append(
            Step(
                "Solved in float64:",
                rf"w^\star \approx {_vec_latex(list(w_f))}^\top,\qquad J(w^\star) \approx "
                rf"{fmt_latex(loss)}",
                f"w* ≈ {_vec_text(list(w_f))}ᵀ,   J(w*) ≈ {fmt(loss)}",
            )
        )
    steps.append(
        Step(
            f"The condition number of XᵀX + nλI is {cond:.3g}"
            + ("; float64 keeps few correct digits at this size, the tolerances below grow with "
               "it." if cond > 1e8 else "."),
        )
    )
    # second way: scikit-learn, and the gradient at w* by torch.autograd
    from sklearn.linear_model import Ridge

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an ill-conditioned warning is reported as cond above
        w_sk = Ridge(alpha=n * lamf, fit_intercept=False).fit(Xf, yf).coef_
    wt = _T(w_f, grad=True)
    Jt = ((_T(Xf) @ wt - _T(yf)) ** 2).mean() + lamf * (wt**2).sum()
    Jt.backward()
    gscale = float(np.max(2.0 / n * (np.abs(Xf).T @ (np.abs(Xf) @ np.abs(w_f) + np.abs(yf)))
                          + 2 * abs(lamf) * np.abs(w_f)))
    wmax = max(1.0, float(np.max(np.abs(w_f))))
    d.check = _result_at_values(
        [
            (f"w* vs sklearn Ridge(alpha = nλ = {fmt(n * lamf)}, fit_intercept=False)",
             _err(w_f, w_sk), max(1e-10, 1e-13 * cond) * wmax),
            ("∇J(w*) by torch.autograd (should be 0)", float(np.max(np.abs(wt.grad.numpy()))),
             1e-12 * max(1.0, cond) * (1.0 + gscale)),
        ],
        "scikit-learn + torch.autograd",
    )
    d.output = w_f
    d.values = {"w": w_f, "loss": np.float64(_f(loss)), "sklearn_alpha": np.float64(n * lamf),
                "condition_number": np.float64(cond)}
    d.inputs = {"X": _exact_json(X), "y": _exact_json(y), "lam": _exact_json(lam)}
    return d


def _ridge_random(d: Derivation, rng: np.random.Generator, points: int) -> None:
    from scipy.optimize import minimize
    from sklearn.linear_model import Ridge

    nn_, dd = 40, 5
    Xn = rng.normal(size=(points, nn_, dd))  # (P, n, d): one problem per point
    yn = np.einsum("pnd,pd->pn", Xn, rng.normal(size=(points, dd)))
    yn += 0.3 * rng.normal(size=(points, nn_))
    lam_n = rng.uniform(0.01, 1.0, size=points)
    A = np.einsum("pnd,pne->pde", Xn, Xn) + nn_ * lam_n[:, None, None] * np.eye(dd)
    w_closed = np.linalg.solve(A, np.einsum("pnd,pn->pd", Xn, yn)[..., None])[..., 0]  # (P, d)

    def J_and_grad(wv, Xp, yp, lam_p):
        wt = _T(wv, grad=True)
        Jt = ((_T(Xp) @ wt - _T(yp)) ** 2).mean() + lam_p * (wt**2).sum()
        Jt.backward()
        return float(Jt.detach()), wt.grad.numpy().copy()

    opt_errs = []
    for p in range(min(points, 2)):  # the optimiser is slow; two problems make the point
        res = minimize(
            J_and_grad,
            np.zeros(dd),
            args=(Xn[p], yn[p], float(lam_n[p])),
            jac=True,
            method="BFGS",
            options={"gtol": 1e-11, "maxiter": 1000},
        )
        opt_errs.append(_err(w_closed[p], res.x))
    n_sk = min(points, 20)
    sk_err = max(
        _err(w_closed[p], Ridge(alpha=nn_ * lam_n[p], fit_intercept=False).fit(Xn[p], yn[p]).coef_)
        for p in range(n_sk)
    )
    # the gradient formula at random w, every problem in one autograd pass (they are independent)
    w0 = rng.normal(size=(points, dd))
    resid = np.einsum("pnd,pd->pn", Xn, w0) - yn  # (P, n)
    formula = 2 / nn_ * np.einsum("pnd,pn->pd", Xn, resid) + 2 * lam_n[:, None] * w0
    wt = _T(w0, grad=True)
    Jt = ((_bmv(_T(Xn), wt) - _T(yn)) ** 2).mean(dim=1) + _T(lam_n) * (wt**2).sum(dim=1)
    Jt.sum().backward()
    d.check = _result(
        [
            (
                "closed form vs scipy.optimize.minimize (BFGS, at most 2 problems)",
                max(opt_errs),
                1e-6,
            ),
            (f"closed form vs sklearn Ridge(alpha = nλ, fit_intercept=False) ({n_sk} problem(s))",
             sk_err, 1e-10),
            ("gradient formula vs torch.autograd", _err(formula, wt.grad.numpy()), 1e-10),
        ],
        points,
        "scipy.optimize.minimize + scikit-learn + torch.autograd",
    )


def _bmv(A, v):
    """Batched matrix–vector product: A (P, n, d), v (P, d) -> (P, n)."""
    return (A @ v[..., None])[..., 0]


# ---------------------------------------------------------------- convolution layers
#
# Names as in the TU Wien sheet (4.1.1–4.1.2): input x, filter w, bias b, output z (the
# pre-activation; z = a for the linear activation), target y, cost J = (1/K) Σ_k (y_k − a_k)²,
# δ_k := ∂J/∂z_k.

_ACTIVATIONS = ("linear", "sigmoid", "tanh")


def _act_float(name: str, zf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, σ'(z)) for the activation ``name``."""
    if name == "sigmoid":
        a = _sigmoid(zf)
        return a, a * (1 - a)
    if name == "tanh":
        a = np.tanh(zf)
        return a, 1 - a**2
    return zf, np.ones_like(zf)


def _conv1d_formula(x, w, b, y, s, act: str = "sigmoid"):
    """One filter on C channels, J = (1/K) Σ_k (y_k − a_k)²: grads by correlation/convolution.

    x (C, L), w (C, M), y (K,) targets -> ∂J/∂w (C, M), ∂J/∂b, ∂J/∂x (C, L).
    """
    C, L = x.shape
    M = w.shape[1]
    K = (L - M) // s + 1
    z = np.array([np.sum(w * x[:, s * k : s * k + M]) + b for k in range(K)])  # (K,)
    a, da = _act_float(act, z)
    delta = 2.0 / K * (a - y) * da  # (K,) = ∂J/∂z
    up = np.zeros(s * (K - 1) + 1)
    up[::s] = delta  # δ dilated by the stride
    dw = np.stack([np.correlate(x[c, : len(up) + M - 1], up, mode="valid") for c in range(C)])
    dx = np.zeros_like(x)
    for c in range(C):
        full = np.convolve(up, w[c], mode="full")  # (s(K-1) + M,)
        dx[c, : len(full)] = full
    return dw, delta.sum(), dx


def _conv_batch_autograd(x, w, b, y, s: int, act: str):
    """torch gradients of P independent one-filter layers in one autograd pass.

    x (P, C, *S), w (P, C, *K), b (P,), y (P, *S_out) -> ∂J/∂w (P, C, *K), ∂J/∂b (P,),
    ∂J/∂x (P, C, *S), each J_p = mean (y_p − a_p)²; the sum over p keeps them apart. The
    forward pass is the layer's definition, a sum over sliding windows (``Tensor.unfold``),
    so autograd differentiates it independently of the correlation/convolution formulas.
    """
    torch = _torch()
    xt, wt, bt = _T(x, True), _T(w, True), _T(b, True)
    if x.ndim == 3:
        win = xt.unfold(2, w.shape[2], s)  # (P, C, K, M)
        z = (win * wt[:, :, None, :]).sum(dim=(1, 3))  # (P, K)
    else:
        win = xt.unfold(2, w.shape[2], s).unfold(3, w.shape[3], s)  # (P, C, H', W', KH, KW)
        z = (win * wt[:, :, None, None]).sum(dim=(1, 4, 5))  # (P, H', W')
    z = z + bt.reshape(-1, *([1] * (z.ndim - 1)))
    a = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}.get(act, lambda u: u)(z)
    ((_T(y) - a) ** 2).flatten(1).mean(dim=1).sum().backward()
    return wt.grad.numpy(), bt.grad.numpy(), xt.grad.numpy()


@functools.cache
def _conv1d_symbolic() -> tuple[tuple[str, ...], str, str]:
    sp, _, act, sigp, _, _ = _sympy()
    symbolic = []
    # the sheet's layer: linear activation, stride 1, one channel (L = 5, M = 3, K = 3)
    L, M = 5, 3
    K = L - M + 1
    x = [sp.Symbol(f"x_{l}") for l in range(L)]
    w = [sp.Symbol(f"w_{m}") for m in range(M)]
    b = sp.Symbol("b")
    y = [sp.Symbol(f"y_{k}") for k in range(K)]
    z = [sum(w[m] * x[k + m] for m in range(M)) + b for k in range(K)]
    J = sum((y[k] - z[k]) ** 2 for k in range(K)) / K
    delta = [sp.Rational(2, K) * (z[k] - y[k]) for k in range(K)]
    symbolic += _verify(
        [
            _check_matrix_zero(
                "linear layer: dJ/dz_k = (2/K)(z_k - y_k) and dJ/dw_m = sum_k dJ/dz_k x_(k+m) "
                "(L = 5, M = 3)",
                sp.Matrix([sp.diff(J, w[m]) - sum(delta[k] * x[k + m] for k in range(K))
                           for m in range(M)]),
            ),
            _check_matrix_zero(
                "linear layer: dJ/dx_l = sum_k dJ/dz_k w_(l-k) (L = 5, M = 3)",
                sp.Matrix([sp.diff(J, x[l]) - sum(delta[k] * w[l - k] for k in range(K)
                                                   if 0 <= l - k < M) for l in range(L)]),
            ),
        ]
    )
    for s, C in ((1, 1), (2, 2)):  # a nonlinear σ, stride and channels
        Lx, M = 6, 3
        K = (Lx - M) // s + 1
        x = [[sp.Symbol(f"x{c}_{l}") for l in range(Lx)] for c in range(C)]
        w = [[sp.Symbol(f"w{c}_{m}") for m in range(M)] for c in range(C)]
        b = sp.Symbol("b")
        yt = [sp.Symbol(f"y{k}") for k in range(K)]
        z = [
            sum(w[c][m] * x[c][s * k + m] for c in range(C) for m in range(M)) + b for k in range(K)
        ]
        J = sum((yt[k] - act(z[k])) ** 2 for k in range(K)) / K
        delta = [sp.Rational(2, K) * (act(z[k]) - yt[k]) * sigp(z[k]) for k in range(K)]
        dw = [
            sp.diff(J, w[c][m]) - sum(delta[k] * x[c][s * k + m] for k in range(K))
            for c in range(C)
            for m in range(M)
        ]
        dx = [
            sp.diff(J, x[c][l])
            - sum(delta[k] * w[c][l - s * k] for k in range(K) if 0 <= l - s * k < M)
            for c in range(C)
            for l in range(Lx)
        ]
        symbolic += _verify(
            [
                _check_matrix_zero(
                    f"sigma layer: dJ/dw_(c,m) = sum_k delta_k x_(c,sk+m) (L=6, M=3, s={s}, C={C})",
                    sp.Matrix(dw),
                ),
                _check_matrix_zero(
                    f"sigma layer: dJ/dx_(c,l) = sum_k delta_k w_(c,l-sk) (L=6, M=3, s={s}, C={C})",
                    sp.Matrix(dx),
                ),
            ]
        )
    # the explicit input gradient for L = 6, M = 3, s = 2 (K = 2), written out by SymPy
    d0, d1 = sp.symbols("delta_0 delta_1")
    w0, w1, w2 = sp.symbols("w_0 w_1 w_2")
    xs = sp.symbols("x_0:6")
    z0 = w0 * xs[0] + w1 * xs[1] + w2 * xs[2]
    z1 = w0 * xs[2] + w1 * xs[3] + w2 * xs[4]
    explicit = [d0 * sp.diff(z0, xl) + d1 * sp.diff(z1, xl) for xl in xs]
    ex_latex = r",\quad ".join(
        rf"\frac{{\partial J}}{{\partial x_{l}}} = {sp.latex(e)}" for l, e in enumerate(explicit)
    )
    ex_plain = ", ".join(f"∂J/∂x_{l} = {sp.sstr(e)}" for l, e in enumerate(explicit))
    return tuple(symbolic), ex_latex, ex_plain


def _conv1d_steps(ex_latex: str, ex_plain: str) -> list[Step]:
    return [
        Step(
            "Names as in the sheet (4.1.1): input x = (x_0, …, x_{L−1}), filter w of length M, "
            "bias b, output z, target y. The layer with a linear activation slides the filter "
            "along the input — a cross-correlation, as in CNN libraries — giving K = L − M + 1 "
            "outputs:",
            r"z_k = a_k = \sum_{m=0}^{M-1} w_m\,x_{k+m} + b,\qquad k = 0, \dots, K-1",
            "z_k = a_k = Σ_{m=0}^{M−1} w_m x_{k+m} + b,   k = 0..K−1",
        ),
        Step(
            "The cost (4.1.3) and its derivative with respect to each output, δ_k := ∂J/∂z_k:",
            r"J = \frac1K\sum_{k=0}^{K-1}(y_k - z_k)^2,\qquad \delta_k := "
            r"\frac{\partial J}{\partial z_k} = -\frac2K (y_k - z_k) = \frac2K (z_k - y_k)",
            "J = (1/K) Σ_k (y_k − z_k)²,   δ_k := ∂J/∂z_k = −(2/K)(y_k − z_k) = (2/K)(z_k − y_k)",
        ),
        Step(
            "Weight gradient (4.1.2): w_m multiplies x_{k+m} in every output k, so "
            "∂z_k/∂w_m = x_{k+m}, and the sum over k is the valid cross-correlation of the "
            "input x with ∂J/∂z:",
            r"\frac{\partial J}{\partial w_m} = \sum_k \frac{\partial J}{\partial z_k}"
            r"\frac{\partial z_k}{\partial w_m} = \sum_{k=0}^{K-1}\delta_k\,x_{k+m}"
            r" = (x \star \delta)_m,\qquad \frac{\partial J}{\partial b} = \sum_k \delta_k",
            "∂J/∂w_m = Σ_k (∂J/∂z_k)(∂z_k/∂w_m) = Σ_k δ_k x_{k+m} = (x ⋆ δ)_m,   ∂J/∂b = Σ_k δ_k",
        ),
        Step(
            "Input gradient (4.1.2): x_l enters output k through w_{l−k} when 0 ≤ l − k < M "
            "(∂z_k/∂x_l = w_{l−k}, else 0), so the sum over k is the full convolution of ∂J/∂z "
            "with the filter — equivalently the correlation of the zero-padded ∂J/∂z with the "
            "flipped filter:",
            r"\frac{\partial J}{\partial x_l} = \sum_k \frac{\partial J}{\partial z_k}"
            r"\frac{\partial z_k}{\partial x_l} = \sum_{k:\ 0 \le l-k < M}\delta_k\,w_{l-k}"
            r" = (\delta * w)_l\quad(\text{full convolution})",
            "∂J/∂x_l = Σ_k (∂J/∂z_k)(∂z_k/∂x_l) = Σ_{k: 0 ≤ l−k < M} δ_k w_{l−k} = (δ * w)_l"
            "   (full convolution)",
        ),
        Step(
            "Which operation: ∂J/∂w is a cross-correlation (of the input with ∂J/∂z), ∂J/∂x a "
            "full convolution (of ∂J/∂z with the filter). Backpropagation through a "
            "convolutional layer is itself a convolution.",
        ),
        Step(
            "With a nonlinear activation σ (the layers of 4.1.1), a_k = σ(z_k) and "
            "J = (1/K) Σ_k (y_k − a_k)², so δ_k picks up σ′(z_k). With a stride s, "
            "z_k = Σ_m w_m x_{sk+m} + b and K = ⌊(L − M)/s⌋ + 1; both gradients keep their form "
            "with δ dilated, s − 1 zeros between its entries:",
            r"\delta_k = \frac2K (a_k - y_k)\,\sigma'(z_k),\quad"
            r" \frac{\partial J}{\partial w_m} = \sum_{k}\delta_k\,x_{sk+m}"
            r" = \big(x \star \delta^{\uparrow s}\big)_m,\quad"
            r" \frac{\partial J}{\partial x_l} = \sum_t \delta^{\uparrow s}_t\,w_{l-t}"
            r" = \big(\delta^{\uparrow s} * w\big)_l,\quad \delta^{\uparrow s}_{sk} = \delta_k",
            "δ_k = (2/K)(a_k − y_k) σ'(z_k),   ∂J/∂w_m = Σ_k δ_k x_{sk+m} = (x ⋆ δ↑s)_m,   "
            "∂J/∂x_l = Σ_t δ↑s_t w_{l−t} = (δ↑s * w)_l   (δ↑s_{sk} = δ_k, zeros elsewhere)",
        ),
        Step(
            "Written out by SymPy for L = 6, M = 3, s = 2 (K = 2): each x_l collects the "
            "filter taps that touched it.",
            ex_latex,
            ex_plain,
        ),
        Step(
            "One filter on two channels: every channel has its own filter slice, so "
            "∂J/∂w_{c,m} = Σ_k δ_k x_{c,sk+m} and ∂J/∂x_{c,l} = (δ↑s * w_{c,·})_l. Two filters "
            "on one channel, with J summed over both output channels: each filter gets "
            "∂J/∂w⁽ᶠ⁾ = x ⋆ δ⁽ᶠ⁾↑s, and the input collects both contributions:",
            r"\frac{\partial J}{\partial w_{c,m}} = \sum_k \delta_k\,x_{c,\,sk+m},\qquad"
            r" \frac{\partial J}{\partial x_l} = \sum_{f=1}^{2}"
            r"\big(\delta^{(f)\uparrow s} * w^{(f)}\big)_l",
            "∂J/∂w_{c,m} = Σ_k δ_k x_{c, sk+m},   ∂J/∂x_l = Σ_f (δ^(f)↑s * w^(f))_l",
        ),
    ]


def _conv1d(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic, ex_latex, ex_plain = _conv1d_symbolic()
    d = Derivation(
        "conv1d",
        "Gradients of a 1-D convolutional layer",
        _conv1d_steps(ex_latex, ex_plain),
        list(symbolic),
    )
    if v:
        _conv_with_values(d, v, one_d=True)
        return d
    errs = []
    torch = _torch()
    for s, P in ((1, (points + 1) // 2), (2, points // 2)):  # strides alternate over the points
        if P == 0:
            continue
        K = (9 - 3) // s + 1
        for C, act in ((1, "linear"), (1, "sigmoid"), (2, "sigmoid")):
            x = rng.normal(size=(P, C, 9))
            w = rng.normal(size=(P, C, 3))
            b = rng.normal(size=P)
            y = rng.uniform(size=(P, K))
            ref = _conv_batch_autograd(x, w, b, y, s, act)
            for p in range(P):
                f_ = _conv1d_formula(x[p], w[p], b[p], y[p], s, act)
                errs.append(max(_err(f_[0], ref[0][p]), _err(f_[1], ref[1][p]),
                                _err(f_[2], ref[2][p])))
        # two filters on one channel, J summed over both output channels
        x = rng.normal(size=(P, 1, 9))
        ws = rng.normal(size=(P, 2, 1, 3))  # (P, F, C, M)
        bs = rng.normal(size=(P, 2))
        ys = rng.uniform(size=(P, 2, K))
        xt = _T(x, True)
        win = xt.unfold(2, 3, s)  # (P, 1, K, M)
        z = (win[:, None] * _T(ws)[:, :, :, None, :]).sum(dim=(2, 4)) + _T(bs)[..., None]
        (((_T(ys) - torch.sigmoid(z)) ** 2).mean(dim=2).sum()).backward()  # z (P, F, K)
        x_ref = xt.grad.numpy()
        for p in range(P):
            dx = sum(_conv1d_formula(x[p], ws[p, f], bs[p, f], ys[p, f], s)[2] for f in range(2))
            errs.append(_err(dx, x_ref[p]))
    d.check = _result(
        [
            (
                "dJ/dw, dJ/db, dJ/dx vs torch.autograd of the sliding-window sum (linear and "
                "sigmoid; s = 1, 2; one and two channels; two filters)",
                max(errs),
                1e-12,
            )
        ],
        points,
        "torch.autograd",
    )
    return d


def _conv2d_formula(x, w, b, y, s, act: str = "sigmoid"):
    from scipy.signal import convolve2d, correlate2d

    C, H, W = x.shape
    _, kh, kw = w.shape
    Ho, Wo = (H - kh) // s + 1, (W - kw) // s + 1
    z = np.array(
        [
            [np.sum(w * x[:, s * i : s * i + kh, s * j : s * j + kw]) + b for j in range(Wo)]
            for i in range(Ho)
        ]
    )  # (H', W')
    a, da = _act_float(act, z)
    delta = 2.0 / (Ho * Wo) * (a - y) * da
    up = np.zeros((s * (Ho - 1) + 1, s * (Wo - 1) + 1))
    up[::s, ::s] = delta
    dw = np.stack(
        [
            correlate2d(x[c, : up.shape[0] + kh - 1, : up.shape[1] + kw - 1], up, mode="valid")
            for c in range(C)
        ]
    )
    dx = np.zeros_like(x)
    for c in range(C):
        full = convolve2d(up, w[c], mode="full")
        dx[c, : full.shape[0], : full.shape[1]] = full
    return dw, delta.sum(), dx


@functools.cache
def _conv2d_symbolic() -> tuple[str, ...]:
    sp, _, act, sigp, _, _ = _sympy()
    H = W = 3
    kh = kw = 2
    x = [[sp.Symbol(f"x{p}{q}") for q in range(W)] for p in range(H)]
    w = [[sp.Symbol(f"w{m}{n}") for n in range(kw)] for m in range(kh)]
    b = sp.Symbol("b")
    Ho, Wo = H - kh + 1, W - kw + 1
    z = [
        [
            sum(w[m][n] * x[i + m][j + n] for m in range(kh) for n in range(kw)) + b
            for j in range(Wo)
        ]
        for i in range(Ho)
    ]
    yt = [[sp.Symbol(f"y{i}{j}") for j in range(Wo)] for i in range(Ho)]
    J = sum((yt[i][j] - act(z[i][j])) ** 2 for i in range(Ho) for j in range(Wo)) / (Ho * Wo)
    delta = [
        [sp.Rational(2, Ho * Wo) * (act(z[i][j]) - yt[i][j]) * sigp(z[i][j]) for j in range(Wo)]
        for i in range(Ho)
    ]
    dw = [
        sp.diff(J, w[m][n])
        - sum(delta[i][j] * x[i + m][j + n] for i in range(Ho) for j in range(Wo))
        for m in range(kh)
        for n in range(kw)
    ]
    dx = [
        sp.diff(J, x[p][q])
        - sum(
            delta[i][j] * w[p - i][q - j]
            for i in range(Ho)
            for j in range(Wo)
            if 0 <= p - i < kh and 0 <= q - j < kw
        )
        for p in range(H)
        for q in range(W)
    ]
    return tuple(
        _verify(
            [
                _check_matrix_zero(
                    "dJ/dw_(m,n) = sum_ij delta_ij x_(i+m, j+n) (3x3 input, 2x2 filter)",
                    sp.Matrix(dw),
                ),
                _check_matrix_zero(
                    "dJ/dx_(p,q) = sum_ij delta_ij w_(p-i, q-j) (full convolution)", sp.Matrix(dx)
                ),
            ]
        )
    )


def _conv2d(rng: np.random.Generator, points: int, v: dict) -> Derivation:
    symbolic = _conv2d_symbolic()
    steps = [
        Step(
            "One filter w ∈ ℝ^{C×k_h×k_w} with bias b and stride s on an input x ∈ ℝ^{C×H×W} "
            "gives one output channel z of size H′×W′ with H′ = ⌊(H − k_h)/s⌋ + 1, "
            "W′ = ⌊(W − k_w)/s⌋ + 1 (the sheet's 2-D layer; a = σ(z), or a = z when linear):",
            r"a_{ij} = \sigma(z_{ij}),\quad z_{ij} = \sum_{c=1}^{C}\sum_{m=0}^{k_h-1}"
            r"\sum_{n=0}^{k_w-1} w_{c,m,n}\,x_{c,\,si+m,\,sj+n} + b",
            "a_ij = σ(z_ij),  z_ij = Σ_c Σ_{m=0}^{k_h−1} Σ_{n=0}^{k_w−1} w_{c,m,n} x_{c, si+m, sj+n}"
            " + b",
        ),
        Step(
            "With targets y and the cost J = (1/(H′W′)) Σ_ij (y_ij − a_ij)², the derivative with "
            "respect to output (i, j) is:",
            r"\delta_{ij} = \frac{\partial J}{\partial z_{ij}} = \frac{2}{H'W'}(a_{ij} - y_{ij})"
            r"\,\sigma'(z_{ij})",
            "δ_ij = ∂J/∂z_ij = 2/(H′W′) (a_ij − y_ij) σ'(z_ij)",
        ),
        Step(
            "Weight gradient: a cross-correlation of each input channel with δ (dilated by s):",
            r"\frac{\partial J}{\partial w_{c,m,n}} = \sum_{i,j}\delta_{ij}\,x_{c,\,si+m,\,sj+n}"
            r" = \big(x_c \star \delta^{\uparrow s}\big)_{mn},\qquad"
            r" \frac{\partial J}{\partial b} = \sum_{i,j}\delta_{ij}",
            "∂J/∂w_{c,m,n} = Σ_ij δ_ij x_{c, si+m, sj+n} = (x_c ⋆ δ↑s)_{mn},   ∂J/∂b = Σ_ij δ_ij",
        ),
        Step(
            "Input gradient: a full convolution of the dilated δ with each filter slice (the "
            "zero-padded δ correlated with the filter rotated by 180°):",
            r"\frac{\partial J}{\partial x_{c,p,q}} = \sum_{i,j}\delta_{ij}\,w_{c,\,p-si,\,q-sj}"
            r" = \big(\delta^{\uparrow s} * w_c\big)_{pq}\quad(\text{full convolution})",
            "∂J/∂x_{c,p,q} = Σ_ij δ_ij w_{c, p−si, q−sj} = (δ↑s * w_c)_pq   (full convolution;"
            " terms with indices outside the filter are 0)",
        ),
    ]
    d = Derivation(
        "conv2d", "Gradients of a 2-D convolution with one filter", steps, list(symbolic)
    )
    if v:
        _conv_with_values(d, v, one_d=False)
        return d
    errs = []
    for s, P in ((1, (points + 1) // 2), (2, points // 2)):  # strides alternate over the points
        if P == 0:
            continue
        x_ = rng.normal(size=(P, 2, 6, 7))
        w_ = rng.normal(size=(P, 2, 3, 3))
        b_ = rng.normal(size=P)
        y_ = rng.uniform(size=(P, (6 - 3) // s + 1, (7 - 3) // s + 1))
        ref = _conv_batch_autograd(x_, w_, b_, y_, s, "sigmoid")
        for p in range(P):
            f_ = _conv2d_formula(x_[p], w_[p], b_[p], y_[p], s)
            errs.append(max(_err(f_[0], ref[0][p]), _err(f_[1], ref[1][p]),
                            _err(f_[2], ref[2][p])))
    d.check = _result(
        [("dJ/dw, dJ/db, dJ/dx vs torch.autograd of the sliding-window sum (s = 1, 2; 2 "
          "channels)", max(errs), 1e-12)],
        points,
        "torch.autograd",
    )
    return d


# --- a user's layer, in exact arithmetic where the activation is linear


def _conv_exact(x, w, b, y, s: int, act: str, exact: bool = True):
    """Forward and backward of one filter, in exact rationals for the linear activation.

    x (C, H, W), w (C, KH, KW) nested numbers, y (H', W') or None. Returns z, a, J,
    δ = ∂J/∂z (H', W'), ∂J/∂w (C, KH, KW), ∂J/∂b, ∂J/∂x (C, H, W); the gradients are None
    without y. Exact (int/Fraction) when ``act`` is linear and ``exact``, else float64
    (an overflow gives ±inf, which the caller refuses).
    """
    exact = exact and act == "linear"
    if not exact:
        x, w, b = _farr(x).tolist(), _farr(w).tolist(), _f(b)
        y = None if y is None else _farr(y).tolist()
    C, H, W = len(x), len(x[0]), len(x[0][0])
    KH, KW = len(w[0]), len(w[0][0])
    Ho, Wo = (H - KH) // s + 1, (W - KW) // s + 1
    K = Ho * Wo
    taps = [(c, m, n) for c in range(C) for m in range(KH) for n in range(KW)]
    zero = 0 if exact else 0.0
    z = [[normalize(sum((w[c][m][n] * x[c][s * i + m][s * j + n] for c, m, n in taps), zero)
                    + b) for j in range(Wo)] for i in range(Ho)]
    if exact:
        a, da = z, [[1] * Wo for _ in range(Ho)]
    else:
        with np.errstate(all="ignore"):
            af, daf = _act_float(act, np.array(z, dtype=np.float64))
        a, da = af.tolist(), daf.tolist()
    if y is None:
        return z, a, None, None, None, None, None
    two_k = Fraction(2, K) if exact else 2.0 / K
    res = [[a[i][j] - y[i][j] for j in range(Wo)] for i in range(Ho)]  # a − y
    # r * r, not r ** 2: a float power raises on overflow where a product gives inf
    J = sum((r * r for row in res for r in row), zero)
    J = normalize(Fraction(J) / K) if exact else J / K  # int / int would be a float
    delta = [[normalize(two_k * res[i][j] * da[i][j]) for j in range(Wo)] for i in range(Ho)]
    dw = [[[zero] * KW for _ in range(KH)] for _ in range(C)]
    dx = [[[zero] * W for _ in range(H)] for _ in range(C)]
    for i in range(Ho):
        for j in range(Wo):
            dij = delta[i][j]
            if not dij:
                continue
            for c, m, n in taps:
                dw[c][m][n] += dij * x[c][s * i + m][s * j + n]
                dx[c][s * i + m][s * j + n] += dij * w[c][m][n]
    db = normalize(sum((v_ for row in delta for v_ in row), zero))
    if exact:
        dw = [[[normalize(v_) for v_ in r] for r in ch] for ch in dw]
        dx = [[[normalize(v_) for v_ in r] for r in ch] for ch in dx]
    return z, a, J, delta, dw, db, dx


def _index(one_d: bool, C: int, *ix) -> str:
    """Subscripts: (l) or (c,l) for 1-D, (p,q) or (c,p,q) for 2-D; ix = (c, p, q)."""
    c, p, q = ix
    if one_d:
        return f"{c},{q}" if C > 1 else f"{q}"
    return f"{c},{p},{q}" if C > 1 else f"{p},{q}"


def _conv_read(topic: str, v: dict, one_d: bool, notes: list[str]) -> dict:
    """Read and validate a user's layer and compute it (cheap), before any derivation work."""
    if "x" not in v or "w" not in v:
        raise ConfigError(f"{topic} with values needs --x (input) and --w (filter); --b, --y, "
                          "--stride and --activation are optional")
    x = _channels(v["x"], "--x", notes)  # (C, H, W)
    w = _channels(v["w"], "--w", notes)
    if one_d:  # rows are channels: (C, L) -> (C, 1, L)
        if len(x) != 1 or len(w) != 1:
            raise DataError("conv1d: give channels as rows (\"1 2 3; 4 5 6\"), not with '|'")
        x, w = [[row] for row in x[0]], [[row] for row in w[0]]
    C, H, W = len(x), len(x[0]), len(x[0][0])
    if len(w) != C:
        raise DataError(f"--w has {len(w)} channel(s) but --x has {C}; the filter needs one "
                        "slice per input channel")
    KH, KW = len(w[0]), len(w[0][0])
    if KH > H or KW > W:
        size = f"{KW}" if one_d else f"{KH}×{KW}"
        raise DataError(f"the filter ({size}) is larger than the input "
                        f"({W if one_d else f'{H}×{W}'}); a valid layer needs it to fit")
    s = positive_int(v.get("stride", 1), name="--stride")
    check_limit(s, MAX_WINDOW, what="--stride")
    act = _one_of(v.get("activation", "linear"), "--activation", _ACTIVATIONS)
    b = _scalar(v["b"], "--b") if "b" in v else 0
    Ho, Wo = (H - KH) // s + 1, (W - KW) // s + 1
    check_limit(C * Ho * Wo * KH * KW, _MAX_PRODUCTS, what="the layer's multiply-adds")
    y = None
    if "y" in v:
        if one_d:
            yv = _vector(v["y"], "--y", notes)
            if len(yv) != Wo:
                raise DataError(f"--y has {len(yv)} values but the layer has K = {Wo} outputs; "
                                "give one target per output")
            y = [yv]
        else:
            y = _matrix(v["y"], "--y", notes)
            if (len(y), len(y[0])) != (Ho, Wo):
                raise DataError(f"--y is {len(y)}×{len(y[0])} but the output is {Ho}×{Wo}; "
                                "give one target per output")
    exact = all_exact(x) and all_exact(w) and is_exact(b) and (y is None or all_exact(y))
    if act == "linear" and not exact:
        notes.append("Some values have more digits than exact arithmetic keeps printable "
                       f"({MAX_EXACT_DIGITS}); this layer is computed in float64.")
    z, a, J, delta, dw, db, dx = _conv_exact(x, w, b, y, s, act, exact)
    # every number must also exist in float64 for the second route
    zf = _farr(z)
    flo = [zf] + ([_farr(J), _farr(delta), _farr(dw), _farr(dx), _farr(db)] if y else [])
    if not all(np.all(np.isfinite(q)) for q in flo):
        raise DataError("the layer's numbers overflow float64 (too large for the check); "
                        "rescale --x, --w or --y")
    return dict(x=x, w=w, b=b, y=y, s=s, act=act, exact=exact, z=z, a=a, J=J, delta=delta,
                dw=dw, db=db, dx=dx, zf=zf, C=C, H=H, W=W, KH=KH, KW=KW, Ho=Ho, Wo=Wo)


def _conv_with_values(d: Derivation, v: dict, *, one_d: bool) -> None:
    """The user's layer: forward, cost and gradients with the numbers, checked two ways."""
    from scipy.signal import convolve2d, correlate2d

    r = v["_conv"] if "_conv" in v else _conv_read(d.topic, v, one_d, d.notes)
    x, w, b, y, s, act, exact = (r[k] for k in ("x", "w", "b", "y", "s", "act", "exact"))
    z, a, J, delta, dw, db, dx, zf = (r[k] for k in ("z", "a", "J", "delta", "dw", "db", "dx",
                                                      "zf"))
    C, H, W, KH, KW, Ho, Wo = (r[k] for k in ("C", "H", "W", "KH", "KW", "Ho", "Wo"))
    K = Ho * Wo
    sub = functools.partial(_index, one_d, C)
    outs = [(i, j) for i in range(Ho) for j in range(Wo)]
    nm = "k" if one_d else "i,j"

    def out_ix(i, j):
        return f"{j}" if one_d else f"{i},{j}"

    # --- forward
    shown = outs[:6]
    lat, txt = [], []
    for i, j in shown:
        pairs = [(w[c][m][n], x[c][s * i + m][s * j + n]) for c in range(C) for m in range(KH)
                 for n in range(KW)]
        bias_l = f" + {paren(_num_latex(b))}" if b != 0 else ""
        lat.append(rf"z_{{{out_ix(i, j)}}} = {_products_latex(pairs[:9])}"
                   + (r" + \dots" if len(pairs) > 9 else "") + rf"{bias_l} = {_num_latex(z[i][j])}")
        txt.append(f"z_{out_ix(i, j)} = {_products_text(pairs[:9])}"
                   + (" + …" if len(pairs) > 9 else "")
                   + (f" + {paren(_num_text(b))}" if b != 0 else "") + f" = {_num_text(z[i][j])}")
    dims = (f"L = {W}, M = {KW}" if one_d else f"{H}×{W} input, {KH}×{KW} filter") + (
        f", {C} channels" if C > 1 else "")
    d.steps.append(
        Step(
            f"With your layer ({dims}, stride {s}, b = {_num_text(b)}, activation {act}): "
            f"{'K' if one_d else 'H′×W′'} = {Wo if one_d else f'{Ho}×{Wo}'} output(s)"
            + (f"; the first {len(shown)} written out" if len(outs) > len(shown) else "") + ":",
            r",\quad ".join(lat),
            "\n".join(txt),
        )
    )
    zl = _vec_latex(z[0]) if one_d else _mat_latex(z)
    d.steps.append(Step("The output:", f"z = {zl}", "z = " + (_vec_text(z[0]) if one_d
                                                              else "\n" + _mat_text(z))))
    if act != "linear":
        al = _vec_latex(a[0]) if one_d else _mat_latex(a)
        d.steps.append(Step(f"After the activation, a = {act}(z):", f"a \\approx {al}",
                            "a ≈ " + (_vec_text(a[0]) if one_d else "\n" + _mat_text(a))))
    details = []
    torch = _torch()
    xt = _T(_farr(x)[:, 0] if one_d else _farr(x), True)  # (C, L) or (C, H, W)
    wt = _T(_farr(w)[:, 0] if one_d else _farr(w), True)
    bt = _T([_f(b)], True)
    conv = torch.nn.functional.conv1d if one_d else torch.nn.functional.conv2d
    zt = conv(xt[None], wt[None], bt, stride=s)[0, 0]
    at = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}.get(act, lambda u: u)(zt)
    xmax, wmax = float(np.max(np.abs(_farr(x)))), float(np.max(np.abs(_farr(w))))
    z_tol = 1e-12 * (1 + C * KH * KW * xmax * wmax + abs(_f(b)))
    z_ref = zt.detach().numpy().reshape(Ho, Wo)
    details.append((f"z vs torch {'conv1d' if one_d else 'conv2d'}", _err(zf, z_ref), z_tol))

    if y is None:
        # the gradients as sums over δ_k = ∂J/∂z_k, with the user's numbers
        lw, tw = [], []
        for c, m, n in [(c, m, n) for c in range(C) for m in range(KH) for n in range(KW)][:6]:
            terms = [(x[c][s * i + m][s * j + n], out_ix(i, j)) for i, j in outs[:8]]
            more = len(outs) > 8
            lw.append(rf"\frac{{\partial J}}{{\partial w_{{{sub(c, m, n)}}}}} = "
                      + " + ".join(rf"{paren(_num_latex(q))}\,\delta_{{{k}}}" for q, k in terms)
                      + (r" + \dots" if more else ""))
            tw.append(f"∂J/∂w_{sub(c, m, n)} = " + " + ".join(f"{paren(_num_text(q))}·δ_{k}"
                                                          for q, k in terms)
                      + (" + …" if more else ""))
        d.steps.append(
            Step(
                f"Without targets (--y), the gradients with your numbers as sums over "
                f"δ_{nm} = ∂J/∂z_{nm} (for the sheet's J, δ = (2/K)(z − y)); ∂J/∂w is the "
                "cross-correlation of x with δ, ∂J/∂x the full convolution of δ with w:",
                r",\quad ".join(lw),
                "\n".join(tw),
            )
        )
        d.check = _result_at_values(details, "torch")
        zo = zf[0] if one_d else zf  # (K,) or (H', W')
        d.output, d.values = zo, {"z": zo, "a": _farr(a)[0] if one_d else _farr(a)}
        d.inputs = _conv_inputs(x, w, b, None, s, act, one_d)
        return d

    # --- cost and gradients
    yl = _vec_latex(y[0]) if one_d else _mat_latex(y)
    dl = _vec_latex(delta[0]) if one_d else _mat_latex(delta)
    dpl = _vec_text(delta[0]) if one_d else "\n" + _mat_text(delta)
    deriv = r"\frac{2}{K}(z - y)" if act == "linear" else rf"\frac{{2}}{{K}}(a - y)\,{act}'(z)"
    d.steps.append(
        Step(
            f"Targets y, the cost J = (1/K) Σ (y − a)² with K = {K}, and ∂J/∂z:",
            rf"y = {yl},\quad J = {_num_latex(J)},\quad \delta = \frac{{\partial J}}"
            rf"{{\partial z}} = {deriv} = {dl}",
            f"y = {_vec_text(y[0]) if one_d else chr(10) + _mat_text(y)},   J = {_num_text(J)},"
            f"   δ = ∂J/∂z = {dpl}",
        )
    )
    lw, tw = [], []
    for c, m, n in [(c, m, n) for c in range(C) for m in range(KH) for n in range(KW)][:6]:
        pairs = [(delta[i][j], x[c][s * i + m][s * j + n]) for i, j in outs]
        lw.append(rf"\frac{{\partial J}}{{\partial w_{{{sub(c, m, n)}}}}} = "
                  f"{_products_latex(pairs[:8])}" + (r" + \dots" if len(pairs) > 8 else "")
                  + f" = {_num_latex(dw[c][m][n])}")
        tw.append(f"∂J/∂w_{sub(c, m, n)} = {_products_text(pairs[:8])}"
                  + (" + …" if len(pairs) > 8 else "") + f" = {_num_text(dw[c][m][n])}")

    def show(t):  # (C, 1, L) -> rows of channels for 1-D, else channel matrices
        if one_d:
            return (r",\ ".join(_vec_latex(ch[0]) for ch in t),
                    "; ".join(_vec_text(ch[0]) for ch in t))
        return (r",\ ".join(_mat_latex(ch) for ch in t), "\n".join(_mat_text(ch) for ch in t))

    dwl, dwt = show(dw)
    dxl, dxt = show(dx)
    d.steps += [
        Step(
            "Weight gradient ∂J/∂w_m = Σ_k δ_k x_{sk+m}: the valid cross-correlation of the "
            "input with ∂J/∂z" + (" (dilated by the stride)" if s > 1 else "") + ":",
            r",\quad ".join(lw) + rf",\qquad \frac{{\partial J}}{{\partial w}} = {dwl},\quad"
            rf" \frac{{\partial J}}{{\partial b}} = \sum \delta = {_num_latex(db)}",
            "\n".join(tw) + f"\n∂J/∂w = {dwt},   ∂J/∂b = Σ δ = {_num_text(db)}",
        ),
        Step(
            "Input gradient ∂J/∂x_l = Σ_k δ_k w_{l−sk}: the full convolution of ∂J/∂z with the "
            "filter:",
            rf"\frac{{\partial J}}{{\partial x}} = {dxl}",
            f"∂J/∂x = {dxt}",
        ),
    ]
    # second and third routes: torch autograd, and SciPy's correlate/convolve
    ((_T(_farr(y)).reshape(at.shape) - at) ** 2).mean().backward()
    dwf, dxf, dbf, df = _farr(dw), _farr(dx), _f(db), _farr(delta)
    dmax = float(np.max(np.abs(df)))
    tw_tol = 1e-12 * (1 + K * dmax * xmax)
    tx_tol = 1e-12 * (1 + KH * KW * dmax * wmax)
    w_ref = wt.grad.numpy().reshape(dwf.shape)
    x_ref = xt.grad.numpy().reshape(dxf.shape)
    details += [
        ("∂J/∂w vs torch.autograd", _err(dwf, w_ref), tw_tol),
        ("∂J/∂b vs torch.autograd", _err(dbf, float(bt.grad[0])), 1e-12 * (1 + K * dmax)),
        ("∂J/∂x vs torch.autograd", _err(dxf, x_ref), tx_tol),
    ]
    up = np.zeros((s * (Ho - 1) + 1, s * (Wo - 1) + 1))
    up[::s, ::s] = df  # δ dilated by the stride
    xf = _farr(x)
    sc_w = np.stack([correlate2d(xf[c, : up.shape[0] + KH - 1, : up.shape[1] + KW - 1], up,
                                 mode="valid") for c in range(C)])
    sc_x = np.zeros_like(xf)
    wf = _farr(w)
    for c in range(C):
        full = convolve2d(up, wf[c], mode="full")
        sc_x[c, : full.shape[0], : full.shape[1]] = full
    details += [
        ("∂J/∂w vs scipy.signal.correlate2d(x, ∂J/∂z, 'valid')", _err(dwf, sc_w), tw_tol),
        ("∂J/∂x vs scipy.signal.convolve2d(∂J/∂z, w, 'full')", _err(dxf, sc_x), tx_tol),
    ]
    route = "torch.autograd + scipy.signal"
    d.check = _result_at_values(details, route)
    scipy_ok = all(e <= tol for q, e, tol in details if q.startswith(("∂J/∂w vs scipy",
                                                                         "∂J/∂x vs scipy")))
    d.steps.append(
        Step(
            "So, with your numbers: ∂J/∂w is a cross-correlation (x ⋆ ∂J/∂z) and ∂J/∂x a full "
            "convolution (∂J/∂z * w); "
            + ("SciPy's correlate2d and convolve2d, applied to them, give the same numbers."
               if scipy_ok else
               "SciPy's correlate2d and convolve2d, applied to them, do NOT give the same "
               "numbers (see the check).")
        )
    )
    out = dwf[:, 0] if one_d else dwf  # (C, M) or (C, KH, KW)
    d.output = out
    d.values = {
        "z": zf[0] if one_d else zf,
        "a": _farr(a)[0] if one_d else _farr(a),
        "J": np.float64(_f(J)),
        "dJ_dz": df[0] if one_d else df,
        "dJ_dw": out,
        "dJ_db": np.float64(dbf),
        "dJ_dx": dxf[:, 0] if one_d else dxf,
    }
    if act == "linear" and exact:
        sq = (lambda t: [ch[0] for ch in t]) if one_d else (lambda t: t)
        d.exact = {
            k: val for k, val in {
                "z": _exact_json(z[0] if one_d else z),
                "J": _exact_json(J),
                "dJ_dz": _exact_json(delta[0] if one_d else delta),
                "dJ_dw": _exact_json(sq(dw)),
                "dJ_db": _exact_json(db),
                "dJ_dx": _exact_json(sq(dx)),
            }.items() if val is not None
        }
    d.inputs = _conv_inputs(x, w, b, y, s, act, one_d)


def _conv_inputs(x, w, b, y, s, act, one_d: bool) -> dict:
    sq = (lambda t: [ch[0] for ch in t]) if one_d else (lambda t: t)
    doc = {"x": _exact_json(sq(x)), "w": _exact_json(sq(w)), "b": _exact_json(b), "stride": s,
           "activation": act}
    if y is not None:
        doc["y"] = _exact_json(y[0] if one_d else y)
    return doc


# ---------------------------------------------------------------- fully connected networks


@functools.cache
def _mlp_symbolic(f_hidden: int | None = None, f_output: int | None = None):
    """2-2-2 network: sigmoid everywhere except hidden/output neuron index with activation f."""
    sp, sig, _, _, f, fp = _sympy()
    x = sp.symbols("x1:3")
    t = sp.symbols("y1:3")
    W1 = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"v{i + 1}{j + 1}"))
    b1 = sp.Matrix(2, 1, lambda i, _: sp.Symbol(f"c{i + 1}"))
    W2 = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"w{i + 1}{j + 1}"))
    b2 = sp.Matrix(2, 1, lambda i, _: sp.Symbol(f"d{i + 1}"))
    z1 = W1 * sp.Matrix(x) + b1
    h = [f(z1[j]) if j == f_hidden else sig(z1[j]) for j in range(2)]
    z2 = W2 * sp.Matrix(h) + b2
    yh = [f(z2[k]) if k == f_output else sig(z2[k]) for k in range(2)]
    E = sum((yh[k] - t[k]) ** 2 for k in range(2)) / 2

    def dact(j, z, a, which):
        return fp(z) if j == which else a * (1 - a)

    d2 = [(yh[k] - t[k]) * dact(k, z2[k], yh[k], f_output) for k in range(2)]
    d1 = [
        dact(j, z1[j], h[j], f_hidden) * sum(W2[k, j] * d2[k] for k in range(2)) for j in range(2)
    ]
    diffs = []
    for k in range(2):
        for j in range(2):
            diffs.append(sp.diff(E, W2[k, j]) - d2[k] * h[j])
        diffs.append(sp.diff(E, b2[k]) - d2[k])
    for j in range(2):
        for i in range(2):
            diffs.append(sp.diff(E, W1[j, i]) - d1[j] * x[i])
        diffs.append(sp.diff(E, b1[j]) - d1[j])
    return sp.Matrix(diffs)


def _mlp_numeric(
    rng, points: int, f_hidden=None, f_output=None, sizes=(4, 3, 2), activation="sigmoid"
):
    """Formula gradients of E = 1/2 ||y_hat - y||^2 vs torch autograd; f = tanh where chosen.

    All points form one batch (P, ...); the networks are independent, so one backward pass of
    the summed loss gives every network's own gradients.
    """
    torch = _torch()
    n0, n1, n2 = sizes
    P = points
    x, y = rng.normal(size=(P, n0)), rng.uniform(size=(P, n2))
    W1, b1 = rng.normal(size=(P, n1, n0)), rng.normal(size=(P, n1))
    W2, b2 = rng.normal(size=(P, n2, n1)), rng.normal(size=(P, n2))

    def fwd(z, which, lib):
        if activation == "linear":
            return z
        a = lib.sigmoid(z) if lib is torch else _sigmoid(z)
        if which is None:
            return a
        mask = np.zeros(z.shape[-1], dtype=bool)
        mask[which] = True
        fz = lib.tanh(z)
        return lib.where(_T(mask) > 0, fz, a) if lib is torch else np.where(mask, fz, a)

    def dact(z, a, which):
        if activation == "linear":
            return np.ones_like(z)
        d = a * (1 - a)
        if which is not None:
            d[:, which] = 1 - np.tanh(z[:, which]) ** 2  # f = tanh: f' = 1 - f^2
        return d

    z1 = np.einsum("pij,pj->pi", W1, x) + b1  # (P, n1)
    h = fwd(z1, f_hidden, np)
    z2 = np.einsum("pij,pj->pi", W2, h) + b2  # (P, n2)
    yh = fwd(z2, f_output, np)
    d2 = (yh - y) * dact(z2, yh, f_output)
    d1 = np.einsum("pji,pj->pi", W2, d2) * dact(z1, h, f_hidden)
    formula = [np.einsum("pi,pj->pij", d1, x), d1, np.einsum("pi,pj->pij", d2, h), d2]

    ts = [_T(v, True) for v in (W1, b1, W2, b2)]
    ht = fwd(_bmv(ts[0], _T(x)) + ts[1], f_hidden, torch)
    yt = fwd(_bmv(ts[2], ht) + ts[3], f_output, torch)
    (((yt - _T(y)) ** 2).sum() / 2).backward()
    return max(_err(f_, t.grad.numpy()) for f_, t in zip(formula, ts))


def _mlp_update(rng: np.random.Generator, points: int) -> Derivation:
    symbolic = _verify(
        [
            _check_matrix_zero(
                "every dE/dW and dE/db of a 2-2-2 sigmoid network equals delta times the layer input",
                _mlp_symbolic(),
            )
        ]
    )
    err = _mlp_numeric(rng, points)
    steps = [
        Step(
            "A network with one hidden layer of sigmoid units and biases, trained on the squared "
            "error by gradient descent with learning rate η (σ′ = σ(1 − σ)):",
            r"h = \sigma(W_1 x + b_1),\quad \hat y = \sigma(W_2 h + b_2),\quad"
            r" E = \tfrac12\sum_k(\hat y_k - y_k)^2",
            "h = σ(W₁x + b₁),  ŷ = σ(W₂h + b₂),  E = ½ Σ_k (ŷ_k − y_k)²",
        ),
        Step(
            "Output deltas:",
            r"\delta^{(2)}_k = \frac{\partial E}{\partial z^{(2)}_k} = (\hat y_k - y_k)\,"
            r"\hat y_k(1 - \hat y_k)",
            "δ⁽²⁾_k = ∂E/∂z⁽²⁾_k = (ŷ_k − y_k) ŷ_k (1 − ŷ_k)",
        ),
        Step(
            "Output-layer updates (weight from hidden unit j to output k):",
            r"\Delta W_{2,kj} = -\eta\,\delta^{(2)}_k\,h_j,\qquad \Delta b_{2,k} = -\eta\,"
            r"\delta^{(2)}_k",
            "ΔW₂[k, j] = −η δ⁽²⁾_k h_j,   Δb₂[k] = −η δ⁽²⁾_k",
        ),
        Step(
            "Hidden deltas, sent back through W₂ (the weights before this step's update):",
            r"\delta^{(1)}_j = h_j(1 - h_j)\sum_k W_{2,kj}\,\delta^{(2)}_k",
            "δ⁽¹⁾_j = h_j (1 − h_j) Σ_k W₂[k, j] δ⁽²⁾_k",
        ),
        Step(
            "Hidden-layer updates (weight from input i to hidden unit j):",
            r"\Delta W_{1,ji} = -\eta\,\delta^{(1)}_j\,x_i,\qquad \Delta b_{1,j} = -\eta\,"
            r"\delta^{(1)}_j",
            "ΔW₁[j, i] = −η δ⁽¹⁾_j x_i,   Δb₁[j] = −η δ⁽¹⁾_j",
        ),
        Step(
            "In matrix form (⊙ is the element-wise product):",
            r"\delta^{(2)} = (\hat y - y)\odot\hat y\odot(1 - \hat y),\quad"
            r" W_2 \leftarrow W_2 - \eta\,\delta^{(2)}h^\top,\quad"
            r" \delta^{(1)} = (W_2^\top\delta^{(2)})\odot h\odot(1 - h),\quad"
            r" W_1 \leftarrow W_1 - \eta\,\delta^{(1)}x^\top",
            "δ⁽²⁾ = (ŷ − y) ⊙ ŷ ⊙ (1 − ŷ),  W₂ ← W₂ − η δ⁽²⁾hᵀ,  b₂ ← b₂ − η δ⁽²⁾,\n"
            "δ⁽¹⁾ = (W₂ᵀδ⁽²⁾) ⊙ h ⊙ (1 − h),  W₁ ← W₁ − η δ⁽¹⁾xᵀ,  b₁ ← b₁ − η δ⁽¹⁾",
        ),
    ]
    check = _result(
        [("gradients of a 4-3-2 sigmoid network vs torch.autograd", err, 1e-12)],
        points,
        "torch.autograd",
    )
    return Derivation(
        "mlp-update", "Update rules of a 2-layer sigmoid network", steps, symbolic, check
    )


def _linear_backprop(rng: np.random.Generator, points: int) -> Derivation:
    sp = _sympy()[0]
    x = sp.Matrix(sp.symbols("x1:3"))
    t = sp.Matrix([sp.Symbol("y")])
    rows = {1: 2, 2: 2, 3: 1}  # a 2-2-2-1 network
    Ws = [
        sp.Matrix(rows[l], 2, lambda i, j, l=l: sp.Symbol(f"w{l}_{i + 1}{j + 1}"))
        for l in (1, 2, 3)
    ]
    bs = [sp.Matrix(rows[l], 1, lambda i, _, l=l: sp.Symbol(f"b{l}_{i + 1}")) for l in (1, 2, 3)]
    acts = [x]
    for W, b in zip(Ws, bs):
        acts.append(W * acts[-1] + b)
    E = ((acts[-1] - t).T * (acts[-1] - t))[0] / 2
    deltas = [None, None, acts[-1] - t]
    deltas[1] = Ws[2].T * deltas[2]
    deltas[0] = Ws[1].T * deltas[1]
    diffs = []
    for l in range(3):
        G = deltas[l] * acts[l].T
        diffs += [sp.diff(E, Ws[l][i, j]) - G[i, j] for i in range(G.rows) for j in range(2)]
        diffs += [sp.diff(E, bs[l][i]) - deltas[l][i] for i in range(G.rows)]
    W_prod = Ws[2] * Ws[1] * Ws[0]
    c = Ws[2] * Ws[1] * bs[0] + Ws[2] * bs[1] + bs[2]
    symbolic = _verify(
        [
            _check_matrix_zero(
                "dE/dW^(l) = delta^(l) a^(l-1)^T with delta^(l) = W^(l+1)^T "
                "delta^(l+1) (a 2-2-2-1 linear network)",
                sp.Matrix(diffs),
            ),
            _check_matrix_zero(
                "the network equals one affine map W3 W2 W1 x + c", acts[-1] - (W_prod * x + c)
            ),
        ]
    )
    # numeric: 3-4-4-2 linear networks vs torch, all points in one batch (P, ...)
    sizes = (3, 4, 4, 2)
    Wn = [rng.normal(size=(points, sizes[l + 1], sizes[l])) for l in range(3)]
    bn = [rng.normal(size=(points, sizes[l + 1])) for l in range(3)]
    xn, yn = rng.normal(size=(points, 3)), rng.normal(size=(points, 2))
    a = [xn]
    for W, b in zip(Wn, bn):
        a.append(np.einsum("pij,pj->pi", W, a[-1]) + b)
    d = [None, None, a[-1] - yn]
    d[1] = np.einsum("pji,pj->pi", Wn[2], d[2])
    d[0] = np.einsum("pji,pj->pi", Wn[1], d[1])
    Wt = [_T(W, True) for W in Wn]
    bt = [_T(b, True) for b in bn]
    at = _T(xn)
    for W, b in zip(Wt, bt):
        at = _bmv(W, at) + b
    (((at - _T(yn)) ** 2).sum() / 2).backward()
    errs = [
        max(_err(np.einsum("pi,pj->pij", d[l], a[l]), Wt[l].grad.numpy()),
            _err(d[l], bt[l].grad.numpy()))
        for l in range(3)
    ]
    steps = [
        Step(
            "With the identity activation σ(z) = z every σ′(z) is 1, so the element-wise factors "
            "of backpropagation disappear. Network and loss:",
            r"a^{(0)} = x,\quad a^{(l)} = z^{(l)} = W^{(l)}a^{(l-1)} + b^{(l)},\quad"
            r" \hat y = a^{(L)},\quad E = \tfrac12\lVert\hat y - y\rVert^2",
            "a⁽⁰⁾ = x,  a⁽ˡ⁾ = z⁽ˡ⁾ = W⁽ˡ⁾a⁽ˡ⁻¹⁾ + b⁽ˡ⁾,  ŷ = a⁽ᴸ⁾,  E = ½‖ŷ − y‖²",
        ),
        Step("Output delta:", r"\delta^{(L)} = \hat y - y", "δ⁽ᴸ⁾ = ŷ − y"),
        Step(
            "Hidden deltas: no σ′ factor, just the transposed weights:",
            r"\delta^{(l)} = \big(W^{(l+1)}\big)^\top\delta^{(l+1)} = \big(W^{(l+1)}\big)^\top"
            r"\cdots\big(W^{(L)}\big)^\top(\hat y - y)",
            "δ⁽ˡ⁾ = (W⁽ˡ⁺¹⁾)ᵀ δ⁽ˡ⁺¹⁾ = (W⁽ˡ⁺¹⁾)ᵀ ⋯ (W⁽ᴸ⁾)ᵀ (ŷ − y)",
        ),
        Step(
            "Gradients (unchanged in form):",
            r"\frac{\partial E}{\partial W^{(l)}} = \delta^{(l)}\big(a^{(l-1)}\big)^\top,\qquad"
            r" \frac{\partial E}{\partial b^{(l)}} = \delta^{(l)}",
            "∂E/∂W⁽ˡ⁾ = δ⁽ˡ⁾ (a⁽ˡ⁻¹⁾)ᵀ,   ∂E/∂b⁽ˡ⁾ = δ⁽ˡ⁾",
        ),
        Step(
            "The whole network is one affine map: depth adds no expressive power (it cannot "
            "represent XOR), although gradient descent on the factors W⁽ˡ⁾ behaves differently "
            "from descent on their product, since every update is scaled by the other layers' "
            "weights.",
            r"\hat y = W^{(L)}\cdots W^{(1)}x + c",
            "ŷ = W⁽ᴸ⁾ ⋯ W⁽¹⁾ x + c",
        ),
    ]
    check = _result(
        [("gradients of a 3-4-4-2 linear network vs torch.autograd", max(errs), 1e-12)],
        points,
        "torch.autograd",
    )
    return Derivation("linear-backprop", "Backpropagation with σ(z) = z", steps, symbolic, check)


def _neuron_f(rng: np.random.Generator, points: int) -> Derivation:
    symbolic = _verify(
        [
            _check_matrix_zero(
                "hidden neuron 1 with a general f: delta_1 = f'(z_1) sum_k w_k1 "
                "delta_k, all other gradients keep their form (2-2-2 network)",
                _mlp_symbolic(f_hidden=0),
            ),
            _check_matrix_zero(
                "output neuron 2 with a general f: delta_2 = (y_hat_2 - y_2) "
                "f'(z_2) (2-2-2 network)",
                _mlp_symbolic(f_output=1),
            ),
        ]
    )
    err_h = _mlp_numeric(rng, points, f_hidden=1)
    err_o = _mlp_numeric(rng, points, f_output=0)
    steps = [
        Step(
            "Standard backpropagation with sigmoid units everywhere and E = ½‖ŷ − y‖²:",
            r"\delta^{(L)}_k = (\hat y_k - y_k)\,\sigma'(z^{(L)}_k),\quad"
            r" \delta^{(l)}_j = \sigma'(z^{(l)}_j)\sum_k w^{(l+1)}_{kj}\,\delta^{(l+1)}_k,\quad"
            r" \frac{\partial E}{\partial w^{(l)}_{ji}} = \delta^{(l)}_j\,a^{(l-1)}_i,\quad"
            r" \sigma' = \sigma(1 - \sigma)",
            "δ⁽ᴸ⁾_k = (ŷ_k − y_k) σ'(z⁽ᴸ⁾_k),  δ⁽ˡ⁾_j = σ'(z⁽ˡ⁾_j) Σ_k w⁽ˡ⁺¹⁾_kj δ⁽ˡ⁺¹⁾_k,  "
            "∂E/∂w⁽ˡ⁾_ji = δ⁽ˡ⁾_j a⁽ˡ⁻¹⁾_i,  σ' = σ(1 − σ)",
        ),
        Step(
            "Let one hidden neuron j* of layer l use a general activation f, so "
            "a⁽ˡ⁾_{j*} = f(z⁽ˡ⁾_{j*}). Only that neuron's own delta changes form — f′ replaces σ′:",
            r"\delta^{(l)}_{j^*} = f'\big(z^{(l)}_{j^*}\big)\sum_k w^{(l+1)}_{kj^*}\,"
            r"\delta^{(l+1)}_k",
            "δ⁽ˡ⁾_{j*} = f'(z⁽ˡ⁾_{j*}) Σ_k w⁽ˡ⁺¹⁾_{kj*} δ⁽ˡ⁺¹⁾_k",
        ),
        Step(
            "Everything else keeps its form. The deltas of the layers above l contain no f′ "
            "(they see the neuron only through its value f(z) in the forward pass); the weights "
            "leaving j* get δ⁽ˡ⁺¹⁾_k·f(z⁽ˡ⁾_{j*}); the weights entering j* get δ⁽ˡ⁾_{j*}·a⁽ˡ⁻¹⁾_i; "
            "and the layer below receives the changed delta through its sum:",
            r"\frac{\partial E}{\partial w^{(l+1)}_{kj^*}} = \delta^{(l+1)}_k\,f\big(z^{(l)}_{j^*}"
            r"\big),\quad \frac{\partial E}{\partial w^{(l)}_{j^*i}} = \delta^{(l)}_{j^*}"
            r"\,a^{(l-1)}_i,\quad \delta^{(l-1)}_i = \sigma'\big(z^{(l-1)}_i\big)\Big("
            r"\sum_{j\ne j^*} w^{(l)}_{ji}\,\delta^{(l)}_j + w^{(l)}_{j^*i}\,\delta^{(l)}_{j^*}"
            r"\Big)",
            "∂E/∂w⁽ˡ⁺¹⁾_{kj*} = δ⁽ˡ⁺¹⁾_k f(z⁽ˡ⁾_{j*}),  ∂E/∂w⁽ˡ⁾_{j*i} = δ⁽ˡ⁾_{j*} a⁽ˡ⁻¹⁾_i,\n"
            "δ⁽ˡ⁻¹⁾_i = σ'(z⁽ˡ⁻¹⁾_i) (Σ_{j≠j*} w⁽ˡ⁾_ji δ⁽ˡ⁾_j + w⁽ˡ⁾_{j*i} δ⁽ˡ⁾_{j*})",
        ),
        Step(
            "If j* is an output neuron, its delta is δ⁽ᴸ⁾_{j*} = (ŷ_{j*} − y_{j*})·f′(z⁽ᴸ⁾_{j*}). "
            "Examples: f = tanh gives f′ = 1 − f²; f = relu gives f′ = 1 for z > 0 and 0 "
            "otherwise; f(z) = z gives f′ = 1. The numeric check uses f = tanh.",
            r"\delta^{(L)}_{j^*} = (\hat y_{j^*} - y_{j^*})\,f'\big(z^{(L)}_{j^*}\big)",
            "δ⁽ᴸ⁾_{j*} = (ŷ_{j*} − y_{j*}) f'(z⁽ᴸ⁾_{j*})",
        ),
    ]
    check = _result(
        [
            (
                "4-3-2 sigmoid network, hidden neuron 2 with f = tanh, vs torch.autograd",
                err_h,
                1e-12,
            ),
            (
                "4-3-2 sigmoid network, output neuron 1 with f = tanh, vs torch.autograd",
                err_o,
                1e-12,
            ),
        ],
        points,
        "torch.autograd",
    )
    return Derivation("neuron-f", "One neuron with a general activation f", steps, symbolic, check)



# ---------------------------------------------------------------- registry


class _Topic(NamedTuple):
    summary: str
    func: Callable[[np.random.Generator, int, dict], Derivation]
    options: tuple[str, ...] = ()  # the value options it takes (keys of VALUE_OPTIONS)


def _without_values(fn: Callable[[np.random.Generator, int], Derivation]):
    return lambda rng, points, v: fn(rng, points)


_CONV_OPTIONS = ("x", "w", "b", "y", "stride", "activation")

TOPICS: dict[str, _Topic] = {
    "softmax-jacobian": _Topic("∂softmax(z)_i/∂z_j = ŷ_i(δ_ij − ŷ_j)", _softmax_jacobian, ("z",)),
    "softmax-cross-entropy": _Topic(
        "∂L/∂z = ŷ − y for softmax with cross-entropy", _softmax_cross_entropy, ("z", "y")
    ),
    "sigmoid-cross-entropy": _Topic(
        "why δ = a − y, and what goes wrong with the arguments swapped",
        _sigmoid_cross_entropy,
        ("z", "y"),
    ),
    "cross-entropy-minimum": _Topic(
        "−[y ln a + (1 − y) ln(1 − a)] is least at a = σ(z) = y, also for y ∈ (0, 1)",
        _cross_entropy_minimum,
        ("y",),
    ),
    "cross-entropy-swapped": _Topic(
        "why −[a ln y + (1 − a) ln(1 − y)] breaks at y ∈ {0, 1} and the usual form does not",
        _cross_entropy_swapped,
        ("a", "y"),
    ),
    "softmax-name": _Topic(
        "where the name comes from: softmax(c·z) → one-hot of arg max z as c grows",
        _softmax_name,
        ("z",),
    ),
    "ridge": _Topic(
        "closed-form minimiser of (1/n)Σ(ŷ_i − y_i)² + λ‖w‖² (sklearn's alpha = nλ)",
        _ridge,
        ("X", "y", "lam"),
    ),
    "conv1d": _Topic(
        "1-D convolution layer: ∂J/∂w is a cross-correlation, ∂J/∂x a full convolution",
        _conv1d,
        _CONV_OPTIONS,
    ),
    "conv2d": _Topic("the 2-D relation for one filter and its gradients", _conv2d, _CONV_OPTIONS),
    "mlp-update": _Topic(
        "update rules of a 2-layer sigmoid network with biases", _without_values(_mlp_update)
    ),
    "linear-backprop": _Topic(
        "backpropagation equations when σ(z) = z", _without_values(_linear_backprop)
    ),
    "neuron-f": _Topic(
        "one neuron with a general activation f instead of σ", _without_values(_neuron_f)
    ),
}


def _read_values(key: str, v: dict, notes: list[str]) -> dict:
    """Read and validate every value of topic ``key`` before any derivation work.

    Returns the values parsed (exact numbers; the topic functions read them again cheaply),
    so a malformed or oversized value is refused in one line without waiting for SymPy.
    """
    p = dict(v)
    if not v:
        return p
    if key in ("softmax-jacobian", "softmax-name"):
        p["z"] = _vector(v["z"], "--z", notes)
        if key == "softmax-jacobian":
            check_limit(len(p["z"]), _MAX_LOGITS_JACOBIAN,
                        what="--z for softmax-jacobian (logits)")
    elif key in ("softmax-cross-entropy", "sigmoid-cross-entropy"):
        _need(v, ("z", "y"), key)
        p["z"] = _vector(v["z"], "--z", notes)
        p["y"] = (_targets01 if key.startswith("sigmoid") else _vector)(v["y"], "--y", notes)
        if len(p["y"]) != len(p["z"]):
            raise DataError(f"--y has {len(p['y'])} values but --z has {len(p['z'])}; give one "
                            "target per " + ("logit" if key.startswith("softmax") else "z"))
    elif key == "cross-entropy-minimum":
        p["y"] = _targets01(v["y"], "--y", notes)
    elif key == "cross-entropy-swapped":
        if "a" not in v:
            raise ConfigError("cross-entropy-swapped takes --a (the output σ(z), in (0, 1)) "
                              "and optionally --y")
        p["a"] = _scalar(v["a"], "--a")
        if not 0 < p["a"] < 1:
            raise DataError("--a must lie strictly between 0 and 1 (a = σ(z) never reaches 0 "
                            f"or 1), got {_num_text(p['a'])}")
        if "y" in v:
            p["y"] = _targets01(v["y"], "--y", notes)
    elif key == "ridge":
        _need(v, ("X", "y", "lam"), key)
        X = p["X"] = _matrix(v["X"], "--X", notes)
        y = p["y"] = _vector(v["y"], "--y", notes)
        lam = p["lam"] = _scalar(v["lam"], "--lam")
        if len(y) != len(X):
            raise DataError(f"--y has {len(y)} values but --X has {len(X)} rows; give one "
                            "target per row of X")
        check_limit(len(X[0]), _MAX_FEATURES, what="--X columns (features)")
        if lam <= 0:
            raise ConfigError("--lam must be > 0 (the sheet's λ > 0 makes XᵀX + nλI "
                              f"invertible), got {_num_text(lam)}")
    elif key in ("conv1d", "conv2d"):
        p["_conv"] = _conv_read(key, v, key == "conv1d", notes)
    return p


def _topic_key(topic: str) -> str:
    key = str(topic).strip().lower().replace("_", "-")
    if key not in TOPICS:
        shown = str(topic)[:40]
        raise ConfigError(f"unknown topic {shown!r}; choose one of: {', '.join(TOPICS)} (or all)")
    return key


def _check_points(seed, points) -> tuple[int, int]:
    seed = positive_int(seed, name="--seed", minimum=0)
    points = positive_int(points, name="--points")
    check_limit(points, MAX_POINTS, what="--points")
    return seed, points


def derive(topic: str, *, seed: int = 0, points: int = 5, **values) -> Derivation | DerivationSet:
    """Derive ``topic`` (or ``"all"``), checked numerically.

    Without values, the check uses ``points`` random points drawn with ``seed`` (at most
    MAX_POINTS). With values — ``z``, ``y``, ``X``, ``lam``, ``x``, ``w``, ``b``, ``stride``,
    ``activation``, ``a`` as the topic takes them (``derive list`` shows which) — the answer
    is computed with those numbers and checked at them. A value is a string (a literal such
    as ``"1 2; 3 4"`` or a file name) or a number, list or ndarray; a float such as ``0.1``
    is read as the decimal it prints as (1/10). Shapes: ``z``, ``y`` (n,); ``X`` (n, d);
    ``x`` (C, L) and ``w`` (C, M) for conv1d (rows are channels), (C, H, W) and (C, KH, KW)
    or one matrix for conv2d.
    """
    seed, points = _check_points(seed, points)
    given = {k: val for k, val in values.items() if val is not None}
    unknown = [k for k in given if k not in VALUE_OPTIONS]
    if unknown:
        raise ConfigError(f"unknown value {unknown[0]!r}; the values are: "
                          + ", ".join(VALUE_OPTIONS))
    if str(topic).strip().lower() == "all":
        if given:
            raise ConfigError("values (" + " ".join(VALUE_OPTIONS[k] for k in given)
                              + ") go with one topic, not with 'all'")
        return DerivationSet([derive(t, seed=seed, points=points) for t in TOPICS])
    key = _topic_key(topic)
    spec = TOPICS[key]
    extra = [k for k in given if k not in spec.options]
    if extra:
        takes = (" ".join(VALUE_OPTIONS[k] for k in spec.options) if spec.options else
                 "no values (use `stridelab backprop` for a network with numbers)")
        raise ConfigError(f"{key} does not take {VALUE_OPTIONS[extra[0]]}; it takes {takes}")
    notes: list[str] = []
    rng = np.random.default_rng(seed)
    # inf and nan from extreme values are handled where they arise (refused, or compared as
    # IEEE values by the checks); NumPy's warnings about them would be a second, raw message
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        parsed = _read_values(key, given, notes)
        d = spec.func(rng, points, parsed)
    d.notes[:0] = [n for n in notes if n not in d.notes]
    d.check["seed"] = seed
    return d


def solve(topic: str, seed: int = 0, points: int = 5, **values) -> Derivation:
    """One topic (not ``all``): :func:`derive` with the earlier positional signature."""
    if str(topic).strip().lower() == "all":
        raise ConfigError("solve() takes one topic; use derive('all') for every topic")
    return derive(topic, seed=seed, points=points, **values)


# ---------------------------------------------------------------- rendering (thin wrappers)


def to_markdown(d: Derivation | DerivationSet) -> str:
    return d.to_markdown()


def to_dict(d: Derivation | DerivationSet) -> dict:
    return d.to_dict()


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "topic",
        metavar="TOPIC",
        help="one of: " + ", ".join(TOPICS) + "; 'all' for every topic, 'list' for one line each",
    )
    parser.add_argument(
        "--seed", default="0", metavar="N", help="seed of the random check points (default 0)"
    )
    parser.add_argument(
        "--points",
        default="5",
        metavar="N",
        help=f"number of random check points without values (default 5, at most {MAX_POINTS:,})",
    )
    values = parser.add_argument_group(
        "values (a literal such as \"1 2 3\" / \"1 2; 3 4\", or a text/CSV file)"
    )
    values.add_argument("--z", metavar="VALUES",
                        help="logits (softmax-*), pre-activations (sigmoid-cross-entropy)")
    values.add_argument("--y", metavar="VALUES",
                        help="targets: one per logit, example, row of X or layer output")
    values.add_argument("--X", metavar="MATRIX", help="ridge: the n×d data matrix")
    values.add_argument("--lam", metavar="λ", help="ridge: the penalty λ > 0 of the sheet's loss")
    values.add_argument("--x", metavar="VALUES",
                        help="conv1d/conv2d: the input (conv1d: one row per channel)")
    values.add_argument("--w", metavar="VALUES", help="conv1d/conv2d: the filter")
    values.add_argument("--b", metavar="NUMBER", help="conv1d/conv2d: the bias (default 0)")
    values.add_argument("--stride", metavar="N", help="conv1d/conv2d: the stride (default 1)")
    values.add_argument("--activation", metavar="NAME",
                        help="conv1d/conv2d: linear (the sheet's, default), sigmoid or tanh")
    values.add_argument("--a", metavar="NUMBER",
                        help="cross-entropy-swapped: the output a = σ(z) in (0, 1)")
    add_format_arguments(parser)


def answer_from_args(args: argparse.Namespace) -> Answer:
    """The answer for parsed ``args`` (from a parser set up by :func:`add_arguments`).

    Builds a :class:`Derivation`, a :class:`DerivationSet` (``all``) or a :class:`TopicList`
    (``list``); prints nothing. Raises ConfigError/DataError for anything the user can fix.
    """
    topic = str(args.topic).strip().lower()
    seed = getattr(args, "seed", 0)
    points = getattr(args, "points", 5)
    values = {k: getattr(args, k, None) for k in VALUE_OPTIONS}
    if topic == "list":
        _check_points(seed, points)
        if any(val is not None for val in values.values()):
            raise ConfigError("'derive list' takes no values")
        return TopicList()
    return derive(topic, seed=seed, points=points, **values)


def main(args: argparse.Namespace) -> int:
    emit(answer_from_args(args), args)
    return 0


__all__ = [
    "TOPICS",
    "VALUE_OPTIONS",
    "Derivation",
    "DerivationSet",
    "Step",
    "TopicList",
    "add_arguments",
    "answer_from_args",
    "derive",
    "main",
    "solve",
    "to_dict",
    "to_markdown",
]
