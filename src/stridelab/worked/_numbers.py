"""Exact numbers for worked answers: parsing, JSON conversion and formatting.

Worked answers compute with Python ``int`` and :class:`fractions.Fraction` whenever the
inputs allow it, so "exact" is literally exact: ``0.1`` typed by a user is the rational
1/10, not the nearest binary float. Transcendental steps (``exp``, ``log``) fall back to
``float``; Python's own promotion (``Fraction * float -> float``) makes that automatic.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

from stridelab.errors import DataError

Number = int | Fraction | float
Matrix = list[list[Number]]  # (rows, cols)

_INT = re.compile(r"[+-]?\d+")
_SEP = re.compile(r"[,\s]+")
_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-"})


# ------------------------------------------------------------------ parsing


def normalize(v: Number) -> Number:
    """Return ``v`` as an ``int`` when it is a whole Fraction, else unchanged."""
    if isinstance(v, Fraction) and v.denominator == 1:
        return int(v.numerator)
    return v


def parse_number(token: str, *, what: str = "value") -> int | Fraction:
    """Parse ``"3"``, ``"-0.25"``, ``"1/9"`` or ``"2e-3"`` exactly (int or Fraction)."""
    t = token.strip().translate(_MINUS)
    if _INT.fullmatch(t):
        return int(t)
    try:
        return normalize(Fraction(t))
    except (ValueError, ZeroDivisionError):
        raise DataError(
            f"{what}: {token.strip()!r} is not a number; write integers, decimals or "
            "fractions such as 3, -0.5 or 1/9"
        ) from None


def parse_matrix(text: str, *, what: str = "matrix") -> Matrix:
    """Parse ``"8 2 9; 3 4 6"`` (rows split by ``;`` or newlines, values by spaces/commas)."""
    rows = []
    for line in re.split(r"[;\n]", text):
        line = line.split("#", 1)[0].strip()
        if line:
            rows.append([parse_number(tok, what=what) for tok in _SEP.split(line) if tok])
    if not rows:
        raise DataError(f"{what} is empty; give rows separated by ';', e.g. \"1 2; 3 4\"")
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise DataError(
                f"{what}: row {i} has {len(row)} values but row 1 has {len(rows[0])}; "
                "every row needs the same number of values"
            )
    return rows


def parse_channels(text: str, *, what: str = "matrix") -> list[Matrix]:
    """Parse one or more channels separated by ``|`` (or blank lines in a file); (C, H, W)."""
    blocks = [b for b in re.split(r"\||\n[ \t]*\n", text) if b.strip()]
    if not blocks:
        raise DataError(f"{what} is empty; give rows separated by ';', e.g. \"1 2; 3 4\"")
    channels = [
        parse_matrix(b, what=f"{what} channel {c}" if len(blocks) > 1 else what)
        for c, b in enumerate(blocks)
    ]
    shape0 = matrix_shape(channels[0])
    for c, ch in enumerate(channels[1:], start=1):
        if matrix_shape(ch) != shape0:
            raise DataError(
                f"{what}: channel {c} is {_shape_str(matrix_shape(ch))} but channel 0 is "
                f"{_shape_str(shape0)}; every channel needs the same size"
            )
    return channels


def read_text_file(path: str | Path, *, what: str) -> str:
    """Read a small text file, turning OS errors into one-line :class:`DataError`."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{what}: file {str(p)!r} not found; check the path")
    if p.is_dir():
        raise DataError(f"{what}: {str(p)!r} is a directory; give a file")
    try:
        return p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(
            f"{what}: cannot read {str(p)!r} as text ({e.__class__.__name__})"
        ) from None


def matrix_shape(m: Matrix) -> tuple[int, int]:
    return (len(m), len(m[0]) if m else 0)


def _shape_str(shape: Iterable[int]) -> str:
    return "\u00d7".join(str(s) for s in shape)


# ------------------------------------------------------------------ conversion


def is_exact(v: object) -> bool:
    return isinstance(v, (int, Fraction)) and not isinstance(v, bool)


def all_exact(values: Iterable) -> bool:
    return all(all_exact(v) if isinstance(v, (list, tuple)) else is_exact(v) for v in values)


def to_json(v):
    """Nested numbers -> JSON numbers: whole values as ``int``, other rationals as ``float``."""
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else float(v)
    if isinstance(v, float):
        return v
    return v


def to_exact_str(v):
    """Nested rationals -> strings such as ``"41/91"`` (whole numbers stay ``int``)."""
    if isinstance(v, (list, tuple)):
        return [to_exact_str(x) for x in v]
    v = normalize(v)
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}"
    return v


# ------------------------------------------------------------------ formatting


def terminating_decimal(v: Fraction, max_places: int = 12) -> str | None:
    """The exact decimal expansion of ``v`` if it terminates within ``max_places`` digits."""
    d = v.denominator
    twos = fives = 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    places = max(twos, fives)
    if d != 1 or places > max_places:
        return None
    scaled = abs(v.numerator) * (10**places // v.denominator)
    whole, frac = divmod(scaled, 10**places)
    sign = "-" if v < 0 else ""
    if places == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{places}d}".rstrip("0").rstrip(".")


def fmt_float(v: float, digits: int = 6) -> str:
    if math.isnan(v) or math.isinf(v):
        return str(v)
    s = f"{v:.{digits}g}"
    return "0" if s in ("-0", "0") else s


def fmt(v: Number, digits: int = 6) -> str:
    """Plain text: ``8``, ``0.05`` (exact decimal), ``41/91``, or ``0.731059`` for floats."""
    v = normalize(v)
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Fraction):
        dec = terminating_decimal(v)
        return dec if dec is not None else f"{v.numerator}/{v.denominator}"
    return fmt_float(float(v), digits)


def fmt_latex(v: Number, digits: int = 6) -> str:
    """LaTeX: like :func:`fmt` but non-terminating fractions as ``\\tfrac{p}{q}``."""
    v = normalize(v)
    if isinstance(v, Fraction) and terminating_decimal(v) is None:
        sign = "-" if v < 0 else ""
        return f"{sign}\\tfrac{{{abs(v.numerator)}}}{{{v.denominator}}}"
    s = fmt(v, digits)
    if "e" in s and isinstance(v, float):
        mant, exp = s.split("e")
        return f"{mant}\\times 10^{{{int(exp)}}}"
    return s


def approx(v: Number, digits: int = 4) -> str | None:
    """``"0.4505"`` when ``v`` is a non-terminating fraction (worth an ≈), else ``None``."""
    v = normalize(v)
    if isinstance(v, Fraction) and terminating_decimal(v) is None:
        return fmt_float(float(v), digits)
    return None


def paren(s: str) -> str:
    """Wrap a negative number in parentheses for use as a factor: ``(-1)``."""
    return f"({s})" if s.startswith("-") else s


def latex_matrix(m: Matrix, digits: int = 6, env: str = "bmatrix") -> str:
    body = r" \\ ".join(" & ".join(fmt_latex(v, digits) for v in row) for row in m)
    return f"\\begin{{{env}}} {body} \\end{{{env}}}"


def text_matrix(m: Matrix, digits: int = 6) -> str:
    cells = [[fmt(v, digits) for v in row] for row in m]
    width = max((len(c) for row in cells for c in row), default=1)
    return "\n".join("[ " + "  ".join(c.rjust(width) for c in row) + " ]" for row in cells)


def dumps_json(obj, indent: int = 2, _level: int = 0) -> str:
    """JSON with one line per list of scalars (matrices print row by row), UTF-8 kept."""
    pad, inner = " " * (indent * _level), " " * (indent * (_level + 1))
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [
            f"{inner}{json.dumps(str(k))}: {dumps_json(v, indent, _level + 1)}"
            for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(v, (list, tuple, dict)) for v in obj):
            return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in obj) + "]"
        items = [f"{inner}{dumps_json(v, indent, _level + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(obj, ensure_ascii=False)
