"""Grading a worked answer: the values a task asks for, and a student's value checked, slip named.

Every worked answer lists the values a sheet can grade and checks one value a student wrote,
the way ``--check`` does, but without ever raising on what the student wrote:

>>> from stridelab.worked.commands import answer
>>> a = answer("shape", ["--input", "50x50x1", "conv:k=4,s=1,p=1,n=8"])
>>> [(g.key, g.kind, g.literal) for g in a.gradable()]
[('output_shape', 'shape', '49x49x8'), ('total_params', 'number', '136')]
>>> a.check_value("output_shape", "48x48x8").slip
'one_side'

- :class:`Gradable`: one value of a task (its key, kind, the right value written as a student
  would write it, one line for a blank answers file);
- :class:`ValueCheck`: one value checked: right or not, the cells wrong (per-cell credit),
  the slip (a stable key such as ``"flipped"``, ``"plus_one"``, ``"fprime"``) and one
  sentence saying it; ``problem`` names input that could not be compared (``"malformed"``,
  ``"shape"``, ``"unknown key"``, ``"missing"``; ``"unchecked"`` for a fault of the checker
  itself, which should never happen and is then to be graded by hand);
- :func:`check_all` checks a table of values (an answers file's table for one task).

Each answer class builds its :class:`Target` list once (``_grading_targets``) and keeps it,
so a class of students is checked against answers computed once per variant. The numbers
are judged by :func:`stridelab.worked.numbers.same_value` (fractions exactly, a decimal by the
places written) unless a command keeps its own rule (backprop: within one unit of the fourth
decimal, as ``--check``); formulas by :mod:`stridelab.worked.derive.formulas`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from stridelab.errors import DataError, StridelabError
from stridelab.worked.numbers import Number, answer_literal, fmt, normalize, same_value

__all__ = [
    "KINDS",
    "PROBLEMS",
    "Gradable",
    "Slip",
    "Target",
    "ValueCheck",
    "check_all",
    "check_value",
    "gradables",
    "numeric_target",
    "problem_check",
    "shorten",
]

KINDS = ("matrix", "matrices", "vector", "number", "shape", "formula")
PROBLEMS = ("malformed", "shape", "unknown key", "missing", "unchecked")

# the longest text read as one value: a number or a formula, and per cell of a matrix
MAX_VALUE_CHARS = 400
_CHARS_PER_CELL = 64
# how much of a student's text a ValueCheck repeats
_GIVEN_CHARS = 120


@dataclass(frozen=True)
class Gradable:
    """One value a task asks for, as an answers file names it."""

    key: str  # stable id within the answer: "output.1", "output_shape", "W1", "dL_dz_i" …
    kind: str  # "matrix" | "matrices" | "vector" | "number" | "shape" | "formula"
    literal: str  # the right value written as on the command line: "8 2 9; 3 4 6", "49x49x8"
    description: str  # one line for a blank answers file
    n_cells: int = 1  # cells of a matrix/vector/shape (for per-cell credit); 1 otherwise
    symbols: tuple[str, ...] = ()  # formula: the names a student may use


@dataclass(frozen=True)
class ValueCheck:
    """A student's value for one key, compared with the right one."""

    key: str
    given: str  # what the student wrote (shortened if huge)
    expected: str  # Gradable.literal
    correct: bool
    n_cells: int
    wrong_cells: int  # n_cells when unreadable or of the wrong shape
    slip: str | None  # a stable slip key, None if none explains it
    message: str  # one sentence: the slip named, or why it scored 0
    problem: str | None = None  # "malformed" | "shape" | "unknown key" | "missing" | "unchecked"

    @property
    def credit(self) -> float:
        """The share of cells right (0 with a problem): what per-cell credit multiplies."""
        if self.problem or not self.n_cells:
            return 0.0
        return (self.n_cells - self.wrong_cells) / self.n_cells


@dataclass(frozen=True)
class Slip:
    """A value as a known slip computes it, to be matched against a student's."""

    key: str  # stable slip key
    message: str  # what the slip was, one clause: "the kernel was flipped …"
    values: tuple  # flat cells, in the order of the right value's cells


@dataclass
class Target:
    """How one gradable value is checked: ``check(text) -> ValueCheck``.

    ``check`` may raise :class:`~stridelab.errors.StridelabError` for text it cannot read;
    :func:`check_value` turns that into a ``"malformed"`` check.
    """

    gradable: Gradable
    check: Callable[[str], ValueCheck]


# ---------------------------------------------------------------- entry points


def gradables(answer: Any) -> list[Gradable]:
    """The gradable values of ``answer``, in the order a task lists them."""
    return [t.gradable for t in _targets(answer)]


def check_value(answer: Any, key: str, text: Any) -> ValueCheck:
    """Check a student's ``text`` for ``key`` of ``answer``; never raises on what they wrote."""
    try:
        targets = {t.gradable.key: t for t in _targets(answer)}
    except Exception as exc:  # noqa: BLE001 - a grader must go on; the check says what failed
        return _unchecked(str(key), text, "", 1, exc)
    target = targets.get(key) if isinstance(key, str) else None
    if target is None:
        known = ", ".join(targets) or "none"
        return problem_check(str(key)[:80], text, "", 1, "unknown key",
                             f"this task has no value {str(key)[:40]!r}; its keys are {known}")
    g = target.gradable
    try:
        value = _as_text(text, g.kind)
    except DataError as exc:
        return problem_check(g.key, text, g.literal, g.n_cells, "malformed", str(exc))
    limit = max(MAX_VALUE_CHARS, _CHARS_PER_CELL * g.n_cells + 100)
    if len(value) > limit:
        return problem_check(g.key, value, g.literal, g.n_cells, "malformed",
                             f"the value is {len(value):,} characters long, above the limit of "
                             f"{limit:,} for this key")
    try:
        return target.check(value)
    except StridelabError as exc:
        return problem_check(g.key, value, g.literal, g.n_cells, "malformed", str(exc))
    except Exception as exc:  # noqa: BLE001
        return _unchecked(g.key, value, g.literal, g.n_cells, exc)


def check_all(answer: Any, values: dict[str, Any]) -> list[ValueCheck]:
    """One check per gradable key of ``answer``, in order; a key not given is ``"missing"``.

    Keys of ``values`` that the answer does not have follow, each as an ``"unknown key"``
    check, so the first ``len(answer.gradable())`` checks line up with the gradables.
    """
    out = []
    gs = gradables(answer)
    for g in gs:
        if g.key in values:
            out.append(check_value(answer, g.key, values[g.key]))
        else:
            out.append(problem_check(g.key, "", g.literal, g.n_cells, "missing",
                                     "no value was given"))
    known = {g.key for g in gs}
    out += [check_value(answer, k, v) for k, v in values.items() if k not in known]
    return out


def _targets(answer: Any) -> list[Target]:
    cache = getattr(answer, "__dict__", {})
    if "_grading_targets_cache" in cache:
        return cache["_grading_targets_cache"]
    make = getattr(answer, "_grading_targets", None)
    targets = list(make()) if make is not None else []
    if hasattr(answer, "__dict__"):
        answer.__dict__["_grading_targets_cache"] = targets
    return targets


def _as_text(text: Any, kind: str) -> str:
    """What an answers file holds as one string: a list of matrices is joined with ``|``."""
    if isinstance(text, str):
        return text
    if isinstance(text, bool) or text is None:
        raise DataError(f"expected a string such as \"1 2; 3 4\", got {text!r}")
    if isinstance(text, (int, float)):
        if isinstance(text, float) and not math.isfinite(text):
            raise DataError(f"{text} is not a finite number")
        return repr(text) if isinstance(text, float) else str(text)
    if isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text):
        if len(text) > 10_000:
            raise DataError(f"a list of {len(text):,} strings is too long for one value")
        return " | ".join(text)
    raise DataError(f"expected a string such as \"1 2; 3 4\", got a {type(text).__name__}")


def shorten(text: Any, limit: int = _GIVEN_CHARS) -> str:
    """A student's text as a check repeats it: cut, with its length said, when it is long."""
    s = text if isinstance(text, str) else repr(text)
    if len(s) <= limit:
        return s
    tail = f"… ({len(s):,} characters)"
    return s[: limit - len(tail)] + tail


def problem_check(key: str, text: Any, expected: str, n_cells: int, problem: str,
                  message: str) -> ValueCheck:
    """A check of a value that could not be compared: it scores 0, and says why."""
    message = message.rstrip(".") + "."
    return ValueCheck(key, shorten(text), expected, False, n_cells, n_cells, None, message,
                      problem)


def _unchecked(key: str, text: Any, expected: str, n_cells: int, exc: Exception) -> ValueCheck:
    return problem_check(key, text, expected, n_cells, "unchecked",
                         f"this value could not be checked ({type(exc).__name__}: "
                         f"{str(exc)[:80]}); grade it by hand")


# ---------------------------------------------------------------- numbers, cell by cell


Judge = Callable[[Number, Number], bool]  # (student, right) -> the student's counts


def _cells_shape_text(shape: tuple[int, ...]) -> str:
    if not shape:
        return "one number"
    if len(shape) == 1:
        return f"{shape[0]} value{'s' if shape[0] != 1 else ''}"
    if len(shape) == 2:
        return f"a {shape[0]}×{shape[1]} matrix"
    return f"{shape[0]} matrices of {shape[1]}×{shape[2]}"


def read_cells(text: str, kind: str, shape: tuple[int, ...],
               fallback: Callable[[str], Number] | None = None
               ) -> tuple[list[Number] | None, tuple[int, ...]]:
    """A student's text as flat cells in the order of ``shape``; (None, their shape) when
    the shape differs. Raises DataError for text that is not numbers.

    ``kind`` "number" is one value (``shape`` ()), "vector" a row or column of ``shape[0]``,
    "matrix" (H, W), "matrices" (C, H, W) with channels separated by ``|``. ``fallback``
    reads a number that is not a plain literal (a closed form such as ``-log(3/10)``).
    """
    from stridelab.worked.values import parse_channels

    if kind == "number" and fallback is not None:
        t = text.strip()
        try:
            chans = parse_channels(t, what="the value", max_cells=1_000)
        except DataError:
            try:
                return [fallback(t)], ()
            except DataError:
                raise DataError(f"{shorten(t, 40)!r} is neither a number nor a closed form; "
                                "write 0.5, 1/2 or a form such as -log(3/10)") from None
    else:
        n_max = max(1_000, 4 * math.prod(shape or (1,)))
        chans = parse_channels(text, what="the value", max_cells=n_max)
    C, H, W = len(chans), len(chans[0]), len(chans[0][0])
    flat = [v for ch in chans for row in ch for v in row]
    if kind == "number":
        return (flat, ()) if len(flat) == 1 else (None, (C, H, W) if C > 1 else (H, W))
    if kind == "vector":
        if C == 1 and (H == 1 or W == 1) and len(flat) == shape[0]:
            return flat, shape
        return None, ((len(flat),) if C == 1 and (H == 1 or W == 1) else (C, H, W))
    if kind == "matrix":
        got = (H, W) if C == 1 else (C, H, W)
        return (flat, shape) if got == tuple(shape) else (None, got)
    got = (C, H, W)
    return (flat, shape) if got == tuple(shape) else (None, got)


def numeric_target(gradable: Gradable, expected: Sequence[Number], shape: tuple[int, ...], *,
                   judge: Judge = same_value,
                   slips: Callable[[], list[Slip]] | None = None,
                   generic: tuple[str, ...] = ("sign", "factor"),
                   fallback: Callable[[str], Number] | None = None) -> Target:
    """A target for numbers: ``expected`` flat cells of ``shape``, each judged by ``judge``.

    ``slips`` computes (once, when a value is first wrong) what known slips give; ``generic``
    adds the slips found from the numbers alone: ``"sign"`` (every value negated) and
    ``"factor"`` (every value the same multiple of the right one).
    """
    expected = tuple(expected)
    known: dict[str, list[Slip]] = {}

    def alternatives() -> list[Slip]:
        if "list" not in known:
            known["list"] = [s for s in (slips() if slips else [])
                             if len(s.values) == len(expected)
                             and not all(_close(a, e) for a, e in zip(s.values, expected))]
        return known["list"]

    def check(text: str) -> ValueCheck:
        cells, got = read_cells(text, gradable.kind, shape, fallback)
        if cells is None:
            return problem_check(gradable.key, text, gradable.literal, gradable.n_cells,
                                 "shape", f"you wrote {_cells_shape_text(got)}, the answer is "
                                 f"{_cells_shape_text(shape)}")
        return judge_cells(gradable, text, expected, cells, judge, alternatives, generic)

    return Target(gradable, check)


def _close(a: Number, b: Number) -> bool:
    try:
        fa, fb = float(a), float(b)
    except (OverflowError, TypeError, ValueError):
        return a == b
    return abs(fa - fb) <= 1e-12 * max(1.0, abs(fb))


def judge_cells(gradable: Gradable, text: str, expected: Sequence[Number],
                given: Sequence[Number], judge: Judge, alternatives: Callable[[], list[Slip]],
                generic: tuple[str, ...] = ("sign", "factor")) -> ValueCheck:
    """Compare cell by cell; name the slip that gives every wrong value (or most of them)."""
    n = len(expected)
    wrong = [i for i in range(n) if not _judged(judge, given[i], expected[i])]
    key, shown = gradable.key, shorten(text)
    if not wrong:
        msg = "Right." if n == 1 else f"All {n} values are right."
        return ValueCheck(key, shown, gradable.literal, True, n, 0, None, msg)
    declared = list(alternatives())
    generic_slips = [g for g in (_generic_slip(name, expected, given, judge) for name in generic)
                     if g is not None and not any(s.key == g.key for s in declared)]
    k = len(wrong)
    head = ("Wrong" if n == 1 else f"{k} of {n} values differ")
    right = "" if n > 1 else f" (the right value is {_shown(expected[0])})"
    # a slip that gives every value written (several may: the first is named, the rest said)
    def gives_all(s: Slip) -> bool:
        return all(_judged(judge, given[i], s.values[i]) for i in range(n))

    whole = [s for s in declared if gives_all(s)] or [s for s in generic_slips if gives_all(s)]
    slips = declared + generic_slips
    if whole:
        s = whole[0]
        tail = "" if n == 1 else " (it gives every value you wrote)"
        also = "".join(f"; so does: {o.message}" for o in whole[1:3])
        return ValueCheck(key, shown, gradable.literal, False, n, k, s.key,
                          f"{head}{right}; most likely slip: {s.message}{tail}{also}.")
    # else the slip that explains the most wrong cells
    best, count = None, 0
    for s in slips:
        c = sum(1 for i in wrong if _judged(judge, given[i], s.values[i]))
        if c > count:
            best, count = s, c
    if best is not None and 2 * count >= k:
        share = "every wrong value" if count == k else f"{count} of the {k} wrong values"
        return ValueCheck(key, shown, gradable.literal, False, n, k, best.key,
                          f"{head}; most likely slip: {best.message} (it explains {share}).")
    return ValueCheck(key, shown, gradable.literal, False, n, k, None,
                      f"{head}{right}; no single known slip explains "
                      f"{'it' if k == 1 else 'them'}.")


def _judged(judge: Judge, student: Number, right: Number) -> bool:
    try:
        return bool(judge(student, right))
    except (OverflowError, ValueError, ZeroDivisionError, TypeError):
        return False


def _shown(v: Number) -> str:
    return answer_literal(v) if _finite(v) else str(v)


def _finite(v: Number) -> bool:
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _generic_slip(name: str, expected: Sequence[Number], given: Sequence[Number],
                  judge: Judge) -> Slip | None:
    if name == "sign":
        if all(e == 0 for e in expected):
            return None
        what = "the sign is wrong" if len(expected) == 1 else "every value has the wrong sign"
        return Slip("sign", what, tuple(normalize(-e) for e in expected))
    if name == "factor":
        # the ratio of the largest right value to the student's, tried on every cell
        i = max(range(len(expected)), key=lambda j: abs(float(expected[j])))
        e, g = expected[i], given[i]
        if e == 0 or g == 0:
            return None
        try:
            r = Fraction(g) / Fraction(e) if isinstance(e, (int, Fraction)) and isinstance(
                g, (int, Fraction)) else Fraction(float(g) / float(e))
        except (OverflowError, ValueError, ZeroDivisionError):
            return None
        simple = r.limit_denominator(12)  # a rounded value gives a nearly simple ratio
        if abs(float(simple) - float(r)) <= 1e-3 * abs(float(r)):
            r = simple
        if r in (1, -1):
            return None
        values = tuple(normalize(e_ * r) if isinstance(e_, (int, Fraction)) else float(e_) *
                       float(r) for e_ in expected)
        what = "the value is" if len(expected) == 1 else "every value is"
        return Slip("factor", f"{what} {fmt(r)} times the right one: a constant factor is wrong",
                    values)
    raise ValueError(name)
