"""Exact numbers for worked answers: the number policy, JSON conversion and the one formatter.

Worked answers compute with Python ``int`` and :class:`fractions.Fraction` whenever the
inputs allow it, so "exact" is literally exact: ``0.1`` typed by a user is the rational
1/10, not the nearest binary float, and so is the Python float ``0.1`` (read as the decimal it
prints as). Transcendental steps (``exp``, ``log``) fall back to ``float``; Python's own
promotion (``Fraction * float -> float``) makes that automatic.

- :func:`parse_number` reads a typed number, :func:`exact_number` a Python or NumPy one, both
  with the same policy (finite, inside float64's range, exact while short enough);
- :func:`fmt` (plain text) and :func:`fmt_latex` (LaTeX) write one, :func:`decimal_places`
  says how many places a terminating decimal has (what a student's rounding is judged by);
- :func:`same_value` is that judgement (a decimal counts when it is the right value rounded to
  the places written), and :func:`answer_literal` writes a right value so that it passes it.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable
from fractions import Fraction

from stridelab.errors import DataError

Number = int | Fraction | float
Matrix = list[list[Number]]  # (rows, cols)

_INT = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")
_RATIO = re.compile(r"([+-]?[0-9]+)/([0-9]+)")
_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-"})
_NON_FINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.I)
_FLOAT_MAX = Fraction(sys.float_info.max)
_FLOAT_MAX_INT = int(sys.float_info.max)  # float64's largest value is an integer
_POW10 = {60: 10**60}


# ------------------------------------------------------------------ parsing


def normalize(v: Number) -> Number:
    """Return ``v`` as an ``int`` when it is a whole Fraction, else unchanged."""
    if isinstance(v, Fraction) and v.denominator == 1:
        return int(v.numerator)
    return v


def _digits(n: int) -> int:
    """Decimal digits of ``|n|`` (cheap: no conversion of a long integer to text)."""
    n = abs(n)
    if n < 10**18:
        return len(str(n))
    d = int(n.bit_length() * 0.30102999566398120)  # log10(2)
    return d + (n >= 10**d)


def exact_digits(v: Number) -> int:
    """The larger digit count of numerator and denominator (0 for a float)."""
    if isinstance(v, bool) or not isinstance(v, (int, Fraction)):
        return 0
    v = Fraction(v)
    return max(_digits(v.numerator), _digits(v.denominator))


def _not_a_number(token: str, what: str) -> DataError:
    return DataError(
        f"{what}: {_short(token)} is not a number; write integers, decimals or "
        "fractions such as 3, -0.5 or 1/9"
    )


def _short(text: str, limit: int = 30) -> str:
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit] + "…") + f" ({len(text):,} characters)"


def parse_number(
    token: str, *, what: str = "value", max_exact_digits: int | None = None
) -> int | Fraction | float:
    """Parse ``"3"``, ``"-0.25"``, ``"1/9"`` or ``"2e-3"`` exactly (int or Fraction).

    The policy for what a user may type (one-line :class:`DataError` otherwise):

    - finite values inside float64's range only: ``nan``, ``inf``, ``1e400``, and non-zero
      values closer to 0 than 2.2e-308, are refused;
    - a literal longer than ``MAX_LITERAL_CHARS`` (400) characters is refused unparsed;
    - a value whose numerator or denominator has more than ``max_exact_digits`` digits
      (default ``MAX_EXACT_DIGITS``, 60) is returned as the nearest ``float``: exact arithmetic
      on it would not stay printable. Callers say so (``all_exact`` is then false).
    """
    from stridelab.worked.limits import MAX_EXACT_DIGITS, MAX_LITERAL_CHARS

    limit = MAX_EXACT_DIGITS if max_exact_digits is None else max_exact_digits
    t = token.strip().translate(_MINUS)
    if len(t) > MAX_LITERAL_CHARS:
        raise DataError(
            f"{what}: a number of {len(t):,} characters ({t[:12]!r}…) is longer than the "
            f"limit of {MAX_LITERAL_CHARS} characters; give at most {MAX_LITERAL_CHARS} digits"
        )
    if _NON_FINITE.fullmatch(t):
        raise DataError(f"{what}: {t!r} is not a finite number; give finite values only")
    if _INT.fullmatch(t):
        v: Fraction | int = int(t)
    elif m := _RATIO.fullmatch(t):
        if int(m.group(2)) == 0:
            raise DataError(f"{what}: {t!r} divides by zero")
        v = Fraction(int(m.group(1)), int(m.group(2)))
    elif (m := _DECIMAL.fullmatch(t)) and (m.group(2) or m.group(3)):
        sign, whole, frac, exp = m.groups()
        mantissa = int((whole or "0") + (frac or ""))
        e = int(exp or 0) - len(frac or "")
        if mantissa == 0:
            v = 0
        elif e > 400:  # beyond 1e308 whatever the mantissa: refuse before computing 10**e
            raise _out_of_range(t, what)
        elif e < -1200:  # at most 400 digits of mantissa: closer to 0 than 1e-800
            raise _too_small(t, what)
        else:
            v = Fraction(mantissa * 10**e) if e >= 0 else Fraction(mantissa, 10**-e)
            if sign == "-":
                v = -v
    else:
        raise _not_a_number(token.strip(), what)
    # integer comparisons only: Fraction's own comparisons cost more than the parsing
    n, d = (v.numerator, v.denominator) if isinstance(v, Fraction) else (v, 1)
    if abs(n) > _FLOAT_MAX_INT * d:
        raise _out_of_range(t, what)
    if n != 0 and abs(n) << 1022 < d:  # |v| < 2**-1022, the smallest normal float64
        raise _too_small(t, what)
    big = _POW10.get(limit) or 10**limit
    if abs(n) >= big or d >= big:  # more than ``limit`` digits
        return float(v)
    return n if d == 1 else v


def _out_of_range(t: str, what: str) -> DataError:
    return DataError(
        f"{what}: {_short(t)} is beyond float64's range (|x| <= 1.8e308); give finite values"
    )


def _too_small(t: str, what: str) -> DataError:
    return DataError(
        f"{what}: {_short(t)} is closer to 0 than float64 can hold (2.2e-308); write 0 or a "
        "larger value"
    )


def finite_float(value: object, *, what: str = "value") -> float:
    """``value`` as a finite float64, or a one-line :class:`DataError` (NaN, Inf, too large)."""
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{what}: {_short(str(value))} is not a finite number") from None
    if not math.isfinite(f):
        raise DataError(f"{what}: {_short(str(value))} is not a finite number")
    return f


def exact_number(v: object, *, what: str = "value") -> Number:
    """A Python or NumPy number (or a string) read with :func:`parse_number`'s policy.

    ints and Fractions stay exact, a float is the decimal it prints as (``0.1`` is 1/10, as when
    typed), a string is parsed; a value beyond float64's range, NaN or infinity is refused with
    one line, and one of more than ``MAX_EXACT_DIGITS`` digits is returned as a float. A bool
    is not a number here.
    """
    from stridelab.worked.limits import MAX_EXACT_DIGITS

    if isinstance(v, str):
        return parse_number(v, what=what)
    if hasattr(v, "item") and not isinstance(v, (int, float, Fraction)):  # a NumPy scalar
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float, Fraction)):
        raise DataError(f"{what}: {_short(repr(v))} is not a number")
    if isinstance(v, float):
        v = Fraction(repr(finite_float(v, what=what)))  # its shortest decimal, exactly
    n, d = (v.numerator, v.denominator) if isinstance(v, Fraction) else (v, 1)
    if abs(n) > _FLOAT_MAX_INT * d:  # never str() of a huge int: Python refuses 4300 digits
        raise _out_of_range(f"a number of about 1e{_digits(n) - _digits(d)}", what)
    if max(_digits(n), _digits(d)) > MAX_EXACT_DIGITS:
        return float(v)
    return n if d == 1 else Fraction(n, d)


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


def decimal_places(v: Number) -> int | None:
    """Decimal places of ``v`` written as a terminating decimal (``5.44`` -> 2, ``3`` -> 0).

    None for a fraction whose decimal does not terminate (1/3). A float counts as the decimal
    it prints as (``1e-05`` has 5 places).
    """
    if isinstance(v, float):
        v = Fraction(repr(v))
    v = Fraction(v)
    d, twos, fives = v.denominator, 0, 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    return max(twos, fives) if d == 1 else None


def same_value(student: Number, correct: Number) -> bool:
    """Whether a student's value counts as ``correct``: the one rule for a typed number.

    Equal values always do (fractions compare exactly). A decimal with p >= 1 places counts
    when it is within half a unit of its last place of the right value (``5.44`` for 49/9);
    an integer must be exact, unless the right value is a float (sigmoid, a logarithm) within
    1e-9 of it. Places are those of the value written (``0.50`` has one).
    """
    if student == correct:
        return True
    s, c = float(student), float(correct)
    places = decimal_places(student)
    tol = 1e-9 * max(1.0, abs(c))
    if places is not None and places >= 1:
        tol = max(tol, 0.5 * 10.0 ** (-places) * (1 + 1e-9))
    return abs(s - c) <= tol


def answer_literal(v: Number, *, significant: int = 6, min_places: int = 1) -> str:
    """``v`` written as a student would write the right answer: ``8``, ``-0.5``, ``80/647``.

    Exact values stay exact (a terminating decimal, else ``p/q``); a float is rounded to
    ``significant`` significant digits and at least ``min_places`` places, never to a whole
    number unless it is one (a whole number would be judged as exact by :func:`same_value`),
    so that the literal always counts as ``v``.
    """
    if is_exact(v):
        return fmt(v)
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"no literal for {f}")
    if f.is_integer():  # every float of 2**52 or more is one: written out, it is exact
        return str(int(f))
    if abs(f) < 1e-300:  # below what a typed number may be; 0 is within 1e-9 of it
        return "0"
    magnitude = math.floor(math.log10(abs(f)))
    if magnitude < -4:  # 1.23457e-07: as many significant digits, far fewer characters
        return f"{f:.{max(significant, 1) - 1}e}"
    places = max(min_places, significant - 1 - magnitude, 1)
    while True:
        text = f"{f:.{places}f}"
        if decimal_places(Fraction(text)):
            break
        places += 1  # 3.0000001 is not 3.000000: write enough places to stay off the integer
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def terminating_decimal(v: Fraction, max_places: int = 12) -> str | None:
    """The exact decimal expansion of ``v`` if it terminates within ``max_places`` digits."""
    places = decimal_places(v)
    if places is None or places > max_places:
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
    if type(v) is int:  # the common case, first
        return str(v)
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
    if type(v) is int:
        return str(v)
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


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``12th``, ``13th``, ``21st``, ``102nd``."""
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 kernel"``, ``"2 kernels"`` (``many`` for irregular plurals)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


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
