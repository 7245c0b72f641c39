"""What a worked task lets vary per student: the declarations, the values, the placeholders.

A worked task names the numbers a student's variant draws afresh in a ``[task.vary]`` table
(``docs/course.md``, "Variants")::

    [[task]]
    label = "1"
    statement = "Correlate $X = <<X:tex>>$ with the Sobel filter, 'same' padding."
    kind = "worked"
    command = "conv"
    args = ["--input", "1 2 3; 4 5 6; 7 8 9", "--kernel", "sobel_x", "--padding", "same"]

    [task.vary]
    args = ["--input", "<<X>>", "--kernel", "sobel_x", "--padding", "same"]
    X = { range = [0, 9] }
    require = ["answer.results.0.output.1.1 != 0"]

Each entry is a :class:`Draw`: how a variant draws its own value (``range``, ``choice``,
``kernel``) or how the value follows from others (``same``, ``expr``). The task's ``args`` (and
``spec``) keep the sheet's own numbers; the vary table's ``args`` (``spec``) are the same with
``<<NAME>>`` where a value goes, and each value's own number is read from them (a sheet may
instead write the placeholders in the task's args and give each ``value``). ``<<NAME>>`` in the
statement and answer stands for the value in effect: a readable form in the Markdown
(``<<X:tex>>`` a LaTeX matrix for inside ``$...$``), the command line's literal in the args.

This module is pure: it parses, matches, draws and substitutes. :mod:`stridelab.sheets.variant`
draws a whole variant, checks each draw by computing its answer, and writes it.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from stridelab.worked.numbers import decimal_places

__all__ = ["Value", "Draw", "VaryError", "parse_vary", "parse_value", "placeholders",
           "substitute_text", "substitute_spec", "substitute_args", "Stream", "draw_value",
           "evaluate", "condition_holds", "answer_paths", "number_text", "resolve_task",
           "check_placeholders", "spec_texts", "canonical", "match_args", "match_spec",
           "MAX_CELLS", "RESERVED"]

MAX_CELLS = 400  # cells of one drawn value
MAX_CHOICES = 1000
MAX_EXPR_CHARS = 300
RESERVED = ("require", "integers", "args", "spec")  # keys of a vary table, not values
PLACEHOLDER = re.compile(r"<<\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*([a-z]+)\s*)?>>")
_FORMATS = ("", "tex", "literal", "rows")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DRAW_KEYS = {"value", "range", "decimals", "exclude", "distinct", "choice", "kernel", "same",
              "expr"}
_SOURCES = ("range", "choice", "kernel", "same", "expr")
_ANSWER_PATH = re.compile(r"\banswer((?:\.(?:[A-Za-z_][A-Za-z0-9_]*|\d+))+)")


class VaryError(ValueError):
    """A problem in a vary table: ``key`` is where (``vary.X.range``), the message what."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


# ---------------------------------------------------------------------------------------------
# values


def number_text(x: Fraction, minus: str = "-") -> str:
    """An exact number as text: ``3``, ``-0.25``, ``1/3`` (a decimal only when it ends)."""
    x = Fraction(x)
    sign = minus if x < 0 else ""
    x = abs(x)
    if x.denominator == 1:
        return f"{sign}{x.numerator}"
    places = decimal_places(x)
    if places is None:
        return f"{sign}{x.numerator}/{x.denominator}"
    scaled = x.numerator * 10 ** places // x.denominator
    whole, frac = divmod(scaled, 10 ** places)
    return f"{sign}{whole}.{str(frac).rjust(places, '0').rstrip('0')}"


@dataclass(frozen=True)
class Value:
    """A value in effect: a number, a vector, a matrix, a named kernel or a word.

    ``data`` is a Fraction, a tuple of Fractions, a tuple of row tuples, or a str (``kind``
    ``"kernel"``: a kernel name of ``stridelab conv``; ``"text"``: a word from a choice).
    """

    kind: str  # "number" | "vector" | "matrix" | "kernel" | "text"
    data: Any

    @property
    def shape(self) -> tuple[int, ...]:
        if self.kind == "vector":
            return (len(self.data),)
        if self.kind == "matrix":
            return (len(self.data), len(self.data[0]))
        return ()

    def cells(self) -> list[Fraction]:
        if self.kind == "number":
            return [self.data]
        if self.kind == "vector":
            return list(self.data)
        if self.kind == "matrix":
            return [x for row in self.data for x in row]
        return []

    def literal(self) -> str:
        """As the command line writes it: ``"8 2 9; 3 4 6"``, ``"1 0 -1"``, ``"0.5"``."""
        if self.kind == "number":
            return number_text(self.data)
        if self.kind == "vector":
            return " ".join(number_text(x) for x in self.data)
        if self.kind == "matrix":
            return "; ".join(" ".join(number_text(x) for x in row) for row in self.data)
        return str(self.data)

    def json(self) -> Any:
        """As a backprop spec holds it: numbers (exact decimals as floats), lists, a str."""
        def num(x: Fraction) -> Any:
            return x.numerator if x.denominator == 1 else float(x)

        if self.kind == "number":
            return num(self.data)
        if self.kind == "vector":
            return [num(x) for x in self.data]
        if self.kind == "matrix":
            return [[num(x) for x in row] for row in self.data]
        return self.data

    def scalar(self) -> Fraction:
        """The number, for an expression or a condition (TypeError for anything else)."""
        if self.kind != "number":
            raise TypeError(f"is a {self.kind}, not a number")
        return self.data

    def markdown(self, form: str = "") -> str:
        """As a statement shows it: ``form`` "" (readable), "tex", "literal" or "rows"."""
        if form == "literal":
            return self.literal()
        rows = self._rows()
        if form == "rows":  # "8 2 9 / 3 4 6", as the built-in sheets write small matrices
            if rows is None:
                return self.literal()
            return " / ".join(" ".join(number_text(x, "\u2212") for x in r) for r in rows)
        if rows is not None and self.kind in ("matrix", "kernel"):
            scale = self._scale()
            body = r" \\ ".join(" & ".join(number_text(x) for x in r) for r in rows)
            tex = (f"\\tfrac{{1}}{{{scale}}}" if scale != 1 else "") \
                + rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"
            return tex if form == "tex" else f"${tex}$"
        if self.kind == "vector":
            if form == "tex":
                return r"\left(" + ",\\ ".join(number_text(x) for x in self.data) + r"\right)"
            return "(" + ", ".join(number_text(x, "\u2212") for x in self.data) + ")"
        if self.kind == "number":
            return number_text(self.data, "-" if form == "tex" else "\u2212")
        return str(self.data)

    def _rows(self):
        if self.kind == "matrix":
            return self.data
        if self.kind == "kernel":
            return _kernel_rows(self.data)[0]
        return None

    def _scale(self) -> int:
        return _kernel_rows(self.data)[1] if self.kind == "kernel" else 1


def _kernel_rows(name: str) -> tuple[tuple, int]:
    """A named kernel's integer rows and the denominator of its scale (``gaussian5``: 273)."""
    from stridelab.worked.kernels import KERNELS

    kernel = KERNELS[name]
    rows = tuple(tuple(Fraction(x) for x in r) for r in kernel.table[0])
    return rows, Fraction(kernel.scale).denominator


def _kernel_names() -> list[str]:
    from stridelab.worked.kernels import KERNELS

    return list(KERNELS)


def _fraction(x: Any, key: str) -> Fraction:
    if isinstance(x, bool):
        raise VaryError(key, f"{x!r} is not a number")
    if isinstance(x, int):
        return Fraction(x)
    if isinstance(x, float):
        return Fraction(repr(x))  # 0.1 in a TOML file means 1/10
    if isinstance(x, str):
        t = x.strip().replace("\u2212", "-")
        if re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?|[+-]?\d+/\d+", t):
            try:
                return Fraction(t)
            except ZeroDivisionError:
                pass
    raise VaryError(key, f"{x!r} is not a number (write 3, -0.5 or 1/9)")


def parse_value(raw: Any, key: str, kind_hint: str = "") -> Value:
    """A value as a sheet file writes it: a number, a literal string, a list, a list of rows."""
    if kind_hint == "kernel":
        if not isinstance(raw, str) or raw not in _kernel_names():
            raise VaryError(key, f"{raw!r} is not a named kernel; names: "
                                 f"{', '.join(_kernel_names())}")
        return Value("kernel", raw)
    if kind_hint == "text":
        return Value("text", str(raw))
    if isinstance(raw, str) and not re.fullmatch(r"[\s\d.,;/+\-\u2212eE]*", raw):
        raise VaryError(key, f"{raw!r} is not numbers (a matrix is \"8 2 9; 3 4 6\")")
    if isinstance(raw, str):
        rows = [r for r in re.split(r"[;\n]", raw) if r.strip()]
        cells = [[c for c in re.split(r"[,\s]+", r.strip()) if c] for r in rows]
        if not cells:
            raise VaryError(key, "is empty")
        if ";" in raw or "\n" in raw.strip():
            raw = cells
        elif len(cells[0]) == 1:
            raw = cells[0][0]
        else:
            raw = cells[0]
    if isinstance(raw, list) and raw and all(isinstance(r, list) for r in raw):
        if len({len(r) for r in raw}) != 1 or not raw[0]:
            raise VaryError(key, "the rows of a matrix must have the same length")
        value = Value("matrix", tuple(tuple(_fraction(x, key) for x in r) for r in raw))
    elif isinstance(raw, list):
        if not raw:
            raise VaryError(key, "is empty")
        value = Value("vector", tuple(_fraction(x, key) for x in raw))
    else:
        value = Value("number", _fraction(raw, key))
    if len(value.cells()) > MAX_CELLS:
        raise VaryError(key, f"has {len(value.cells())} numbers; a drawn value has at most "
                             f"{MAX_CELLS}")
    return value


def _places(x: Fraction) -> int:
    """Decimal places of an exact decimal (large for 1/3: those are not decimals)."""
    places = decimal_places(x)
    return 99 if places is None else places


# ---------------------------------------------------------------------------------------------
# declarations


@dataclass(frozen=True)
class Draw:
    """One entry of a ``[task.vary]`` table: the sheet's value and how a variant gets its own."""

    name: str
    source: str  # "range" | "choice" | "kernel" | "same" | "expr"
    value: Value | None  # the sheet's own value (None for same and expr: they follow)
    low: Fraction = Fraction(0)  # range
    high: Fraction = Fraction(0)
    decimals: int = 0  # range: places of each drawn number
    exclude: tuple[Fraction, ...] = ()
    distinct: bool = False
    choices: tuple[Value, ...] = ()  # choice and kernel
    same: tuple[str, str] = ("", "")  # (task id, name)
    expr: str = ""
    raw: Any = None  # the entry as written (what the variant's hash covers)


def _check_keys(entry: dict, key: str) -> None:
    unknown = set(entry) - _DRAW_KEYS
    if unknown:
        raise VaryError(f"{key}.{sorted(unknown)[0]}",
                        f"unknown key; a value takes {', '.join(sorted(_DRAW_KEYS))}")
    sources = [s for s in _SOURCES if s in entry]
    if len(sources) != 1:
        got = " and ".join(sources) if sources else "none"
        raise VaryError(key, f"give exactly one of {', '.join(_SOURCES)} (got {got})")


def _parse_range(name: str, entry: dict, key: str) -> Draw:
    if "value" not in entry:
        raise VaryError(f"{key}.value", "missing: the sheet's own number(s)")
    value = parse_value(entry["value"], f"{key}.value")
    bounds = entry["range"]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise VaryError(f"{key}.range", "expected [low, high]")
    low, high = (_fraction(b, f"{key}.range") for b in bounds)
    if low > high:
        raise VaryError(f"{key}.range", f"low {number_text(low)} is above high "
                                        f"{number_text(high)}")
    if "decimals" in entry:
        decimals = entry["decimals"]
        if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 6:
            raise VaryError(f"{key}.decimals", "expected a whole number from 0 to 6")
    else:  # as many places as the sheet's own numbers and the bounds are written with
        decimals = max(_places(x) for x in [*value.cells(), low, high])
        if decimals > 6:
            raise VaryError(f"{key}.decimals", "the value or range is not a decimal; give "
                                               "decimals = N")
    raw_ex = entry.get("exclude", [])
    if not isinstance(raw_ex, list):
        raise VaryError(f"{key}.exclude", "expected a list of numbers")
    exclude = tuple(_fraction(x, f"{key}.exclude") for x in raw_ex)
    distinct = entry.get("distinct", False)
    if not isinstance(distinct, bool):
        raise VaryError(f"{key}.distinct", "expected true or false")
    scale = 10 ** decimals
    lo, hi = -((-low * scale) // 1), (high * scale) // 1  # the grid points inside the range
    grid = hi - lo + 1
    allowed = grid - sum(1 for x in set(exclude) if low <= x <= high and (x * scale).denominator
                         == 1)
    if grid <= 0 or allowed <= 0:
        raise VaryError(f"{key}.range", "holds no number to draw")
    if distinct and allowed < len(value.cells()):
        raise VaryError(f"{key}.distinct", f"the range holds {allowed} numbers, fewer than the "
                                           f"{len(value.cells())} distinct ones asked for")
    return Draw(name, "range", value, low, high, decimals, exclude, distinct)


def _parse_one(name: str, entry: Any, key: str, earlier: list[str]) -> Draw:
    if not isinstance(entry, dict):
        raise VaryError(key, "expected a table, e.g. { value = \"1 2; 3 4\", range = [0, 9] }")
    _check_keys(entry, key)
    if "range" in entry:
        return _parse_range(name, entry, key)
    extra = {"decimals", "exclude", "distinct"} & set(entry)
    if extra:
        raise VaryError(f"{key}.{sorted(extra)[0]}", "only a range draw takes it")
    if "choice" in entry or "kernel" in entry:
        src = "choice" if "choice" in entry else "kernel"
        options = entry[src]
        if not isinstance(options, list) or not options or len(options) > MAX_CHOICES:
            raise VaryError(f"{key}.{src}", f"expected a list of 1 to {MAX_CHOICES} options")
        if "value" not in entry:
            raise VaryError(f"{key}.value", "missing: the sheet's own value")
        hint = "kernel" if src == "kernel" else (
            "text" if all(isinstance(o, str) and not re.fullmatch(r"[\s\d.,;/+\-\u2212eE]*", o)
                          for o in options) else "")
        value = parse_value(entry["value"], f"{key}.value", hint)
        choices = tuple(parse_value(o, f"{key}.{src}", hint) for o in options)
        for c in choices:
            if c.kind != value.kind or c.shape != value.shape:
                raise VaryError(f"{key}.{src}", f"{c.literal()!r} is not of the value's kind "
                                                f"and shape ({value.kind} {value.shape})")
        return Draw(name, src, value, choices=choices, raw=entry)
    if "value" in entry:
        raise VaryError(f"{key}.value", "a value that follows from others (same, expr) has no "
                                        "value of its own")
    if "same" in entry:
        ref = entry["same"]
        if not isinstance(ref, str) or "." not in ref:
            raise VaryError(f"{key}.same", "expected \"TASK-ID.NAME\", a value of an earlier task")
        task, _, other = ref.rpartition(".")
        return Draw(name, "same", None, same=(task, other), raw=entry)
    expr = entry["expr"]
    if not isinstance(expr, str) or not expr.strip() or len(expr) > MAX_EXPR_CHARS:
        raise VaryError(f"{key}.expr", f"expected an expression of at most {MAX_EXPR_CHARS} "
                                       "characters, e.g. \"w0 * w1 * x1\"")
    _check_expression(expr, set(earlier), f"{key}.expr", allow_answer=False)
    return Draw(name, "expr", None, expr=expr, raw=entry)


def parse_vary(raw: Any) -> tuple[tuple[Draw, ...], tuple[str, ...], bool]:
    """A ``[task.vary]`` table as (draws in order, conditions, whether integer results must
    stay integers); VaryError for a bad entry.

    A ``same`` entry is resolved later (it names another task); every other problem is found
    here: unknown keys, a value of the wrong shape, an empty range, an unknown name.
    """
    if not isinstance(raw, dict):
        raise VaryError("vary", "expected a table, e.g. [task.vary] with X = { ... }")
    draws: list[Draw] = []
    names: list[str] = []
    for name, entry in raw.items():
        if name in RESERVED:
            continue
        key = f"vary.{name}"
        if not _NAME.fullmatch(name) or name == "answer":
            raise VaryError(key, "a value's name is letters, digits and _ (not 'answer')")
        draws.append(dataclasses.replace(_parse_one(name, entry, key, names), raw=entry))
        names.append(name)
    require = raw.get("require", [])
    if isinstance(require, str):
        require = [require]
    if not isinstance(require, list) or not all(isinstance(r, str) for r in require):
        raise VaryError("vary.require", "expected a list of conditions, e.g. "
                                        "[\"answer.steps.0.loss == 0\"]")
    for i, cond in enumerate(require):
        _check_condition(cond, set(names), f"vary.require[{i}]")
    integers = raw.get("integers", False)
    if not isinstance(integers, bool):
        raise VaryError("vary.integers", "expected true or false")
    return tuple(draws), tuple(require), integers


# ---------------------------------------------------------------------------------------------
# placeholders


def placeholders(text: str) -> list[tuple[str, str]]:
    """(name, form) of every ``<<NAME[:form]>>`` in ``text``."""
    return [(m.group(1), m.group(2) or "") for m in PLACEHOLDER.finditer(text)]


def check_placeholders(text: str, names: set[str], key: str) -> None:
    for name, form in placeholders(text):
        if name not in names:
            known = ", ".join(sorted(names)) or "none: declare it in [task.vary]"
            raise VaryError(key, f"<<{name}>>: no value of this task has that name ({known})")
        if form not in _FORMATS:
            raise VaryError(key, f"<<{name}:{form}>>: the forms are tex, literal and rows")


def substitute_text(text: str, values: dict[str, Value]) -> str:
    """Markdown with each placeholder replaced by its value's readable form."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)].markdown(m.group(2) or ""), text)


def substitute_args(args: tuple[str, ...], values: dict[str, Value]) -> tuple[str, ...]:
    """Command-line arguments with each placeholder replaced by its value's literal."""
    return tuple(PLACEHOLDER.sub(lambda m: values[m.group(1)].literal(), a) for a in args)


def substitute_spec(spec: Any, values: dict[str, Value]) -> Any:
    """A backprop spec: a string that is one placeholder becomes the typed value (a number,
    a list, rows); a placeholder inside a longer string is replaced by its literal."""
    if isinstance(spec, dict):
        return {k: substitute_spec(v, values) for k, v in spec.items()}
    if isinstance(spec, list):
        return [substitute_spec(v, values) for v in spec]
    if isinstance(spec, str):
        m = PLACEHOLDER.fullmatch(spec.strip())
        if m:
            return values[m.group(1)].json()
        return PLACEHOLDER.sub(lambda m: values[m.group(1)].literal(), spec)
    return spec


def _pattern(template: str) -> re.Pattern:
    """A template string as a regex: each placeholder a group (a repeated one must repeat)."""
    out, seen, last = [], set(), 0
    for m in PLACEHOLDER.finditer(template):
        out.append(re.escape(template[last:m.start()]))
        name = m.group(1)
        out.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        last = m.end()
    out.append(re.escape(template[last:]))
    return re.compile("".join(out), re.S)


def _merge(found: dict[str, Any], name: str, value: Any, key: str) -> None:
    if name in found and found[name] != value:
        raise VaryError(key, f"<<{name}>> stands for {found[name]!r} in one place and "
                             f"{value!r} in another")
    found[name] = value


def match_args(template: Any, args: tuple[str, ...]) -> dict[str, str]:
    """The sheet's own text of each placeholder of an args ``template``, read from ``args``
    (the task's arguments with the sheet's numbers); VaryError where they do not line up."""
    if not isinstance(template, list) or not all(isinstance(a, str) for a in template):
        raise VaryError("vary.args", "expected the task's args with <<NAME>> where a value goes")
    if len(template) != len(args):
        raise VaryError("vary.args", f"has {len(template)} arguments, the task's args "
                                     f"{len(args)}: write the same arguments, with <<NAME>> "
                                     "where a value goes")
    found: dict[str, str] = {}
    for i, (t, a) in enumerate(zip(template, args)):
        if not placeholders(t):
            if t != a:
                raise VaryError(f"vary.args[{i}]", f"{t!r} is not the task's {a!r}")
            continue
        m = _pattern(t).fullmatch(a)
        if m is None:
            raise VaryError(f"vary.args[{i}]", f"{t!r} does not match the task's {a!r}")
        for name, text in m.groupdict().items():
            _merge(found, name, text.strip(), f"vary.args[{i}]")
    return found


def match_spec(template: Any, spec: Any, key: str = "vary.spec") -> dict[str, Any]:
    """The sheet's own value of each placeholder of a spec ``template``, read from ``spec``."""
    found: dict[str, Any] = {}

    def walk(t: Any, s: Any, where: str) -> None:
        if isinstance(t, str) and PLACEHOLDER.fullmatch(t.strip()):
            _merge(found, PLACEHOLDER.fullmatch(t.strip()).group(1), s, where)
        elif isinstance(t, str) and placeholders(t):
            m = _pattern(t).fullmatch(s) if isinstance(s, str) else None
            if m is None:
                raise VaryError(where, f"{t!r} does not match the task's {s!r}")
            for name, text in m.groupdict().items():
                _merge(found, name, text.strip(), where)
        elif isinstance(t, dict) and isinstance(s, dict) and set(t) == set(s):
            for k in t:
                walk(t[k], s[k], f"{where}.{k}")
        elif isinstance(t, list) and isinstance(s, list) and len(t) == len(s):
            for i, (a, b) in enumerate(zip(t, s)):
                walk(a, b, f"{where}[{i}]")
        elif t != s:
            raise VaryError(where, f"{t!r} is not the task's {s!r}: write the task's spec, with "
                                   "\"<<NAME>>\" where a value goes")

    walk(template, spec, key)
    return found


def spec_texts(spec: Any) -> list[str]:
    """Every string inside a spec (where placeholders may be)."""
    if isinstance(spec, dict):
        return [s for v in spec.values() for s in spec_texts(v)]
    if isinstance(spec, list):
        return [s for v in spec for s in spec_texts(v)]
    return [spec] if isinstance(spec, str) else []


# ---------------------------------------------------------------------------------------------
# exact expressions and conditions: + - * / // %, unary minus, abs/min/max, names, numbers


_BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
           ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
           ast.FloorDiv: lambda a, b: Fraction(a // b), ast.Mod: lambda a, b: a % b}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
           ast.NotEq: "!="}
_FUNCS = ("abs", "min", "max")


def answer_paths(text: str) -> list[str]:
    """The ``answer.PATH`` operands of a condition, as dotted paths after ``answer.``."""
    return [m.group(1)[1:] for m in _ANSWER_PATH.finditer(text)]


def _lift_answers(text: str) -> tuple[str, list[str]]:
    paths: list[str] = []

    def lift(m: re.Match) -> str:
        paths.append(m.group(1)[1:])
        return f"__answer{len(paths) - 1}"

    return _ANSWER_PATH.sub(lift, text), paths


def _tree(text: str, key: str, mode: str) -> ast.AST:
    try:
        return ast.parse(text, mode="eval").body
    except SyntaxError:
        raise VaryError(key, f"{text!r} is not an expression") from None


def _walk_check(node: ast.AST, names: set[str], key: str, text: str) -> None:
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _walk_check(node.left, names, key, text)
        _walk_check(node.right, names, key, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _walk_check(node.operand, names, key, text)
    elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        pass
    elif isinstance(node, ast.Subscript):  # a cell of a vector or matrix: w[0], X[1, 2]
        if not isinstance(node.value, ast.Name) or _index(node) is None:
            raise VaryError(key, f"{text!r}: index a value by numbers, e.g. w[0] or X[1, 2]")
        _walk_check(node.value, names, key, text)
    elif isinstance(node, ast.Name):
        if node.id not in names and not node.id.startswith("__answer"):
            known = ", ".join(sorted(names)) or "none"
            raise VaryError(key, f"{text!r}: {node.id!r} is not a value of this task declared "
                                 f"before it (values: {known})")
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in _FUNCS and not node.keywords \
            and (len(node.args) == 1 if node.func.id == "abs" else len(node.args) >= 2):
        for a in node.args:
            _walk_check(a, names, key, text)
    else:
        raise VaryError(key, f"{text!r}: only numbers, value names, answer.PATH, + - * / // %, "
                             "abs, min and max are allowed")


def _index(node: ast.Subscript) -> tuple[int, ...] | None:
    sl = node.slice
    parts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
    if not 1 <= len(parts) <= 2 or not all(
            isinstance(p, ast.Constant) and isinstance(p.value, int)
            and not isinstance(p.value, bool) and p.value >= 0 for p in parts):
        return None
    return tuple(p.value for p in parts)


def _check_expression(text: str, names: set[str], key: str, allow_answer: bool) -> None:
    lifted, paths = _lift_answers(text)
    if paths and not allow_answer:
        raise VaryError(key, f"{text!r}: answer.PATH belongs in require, not in a value")
    _walk_check(_tree(lifted, key, "eval"), names, key, text)


def _check_condition(text: str, names: set[str], key: str) -> None:
    if len(text) > MAX_EXPR_CHARS:
        raise VaryError(key, f"a condition has at most {MAX_EXPR_CHARS} characters")
    lifted, _ = _lift_answers(text)
    node = _tree(lifted, key, "eval")
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1
            and type(node.ops[0]) in _CMPOPS):
        raise VaryError(key, f"{text!r}: a condition is A OP B with OP one of < <= > >= == !=")
    _walk_check(node.left, names, key, text)
    _walk_check(node.comparators[0], names, key, text)


def _as_fraction(v: Any) -> Fraction:
    if isinstance(v, Value):
        return v.scalar()
    if isinstance(v, bool):
        return Fraction(int(v))
    if isinstance(v, (int, Fraction)):
        return Fraction(v)
    if isinstance(v, float):
        return Fraction(v)
    if isinstance(v, str):
        return _fraction(v, "answer")
    raise TypeError(f"{v!r} is not a number")


def _eval(node: ast.AST, env: dict[str, Any]) -> Fraction:
    if isinstance(node, ast.BinOp):
        return Fraction(_BINOPS[type(node.op)](_eval(node.left, env), _eval(node.right, env)))
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Constant):
        return _fraction(node.value, "expression")
    if isinstance(node, ast.Name):
        return _as_fraction(env[node.id])
    if isinstance(node, ast.Subscript):
        value, index = env[node.value.id], _index(node)
        if not isinstance(value, Value) or len(index) != len(value.shape):
            raise TypeError(f"{node.value.id} takes {len(getattr(value, 'shape', ()))} "
                            "index(es)")
        cell = value.data[index[0]] if len(index) == 1 else value.data[index[0]][index[1]]
        return Fraction(cell)
    args = [_eval(a, env) for a in node.args]  # a call: abs, min, max
    return {"abs": lambda: abs(args[0]), "min": lambda: min(args),
            "max": lambda: max(args)}[node.func.id]()


def evaluate(text: str, values: dict[str, Value]) -> Fraction:
    """An ``expr``'s exact value (ZeroDivisionError and TypeError pass through)."""
    return _eval(_tree(text, "expr", "eval"), dict(values))


def _walk(data: Any, path: list[str]) -> Any:
    """``data`` (an answer's JSON form) at ``path``; KeyError when it has no such path."""
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            raise KeyError(part)
    return data


def condition_holds(text: str, values: dict[str, Value], answer: Any) -> bool:
    """Whether a ``require`` condition holds for these values and the computed ``answer``
    (its JSON form). A path the answer does not have, a division by zero or a value that is
    not a number makes it not hold."""
    lifted, paths = _lift_answers(text)
    env: dict[str, Any] = dict(values)
    try:
        for i, path in enumerate(paths):
            env[f"__answer{i}"] = _walk(answer, path.split("."))
        node = _tree(lifted, "require", "eval")
        a, b = _eval(node.left, env), _eval(node.comparators[0], env)
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError):
        return False
    op = _CMPOPS[type(node.ops[0])]
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b,
            "!=": a != b}[op]


# ---------------------------------------------------------------------------------------------
# drawing: a stream of numbers from SHA-256, the same on every machine and Python version


class Stream:
    """Uniform integers from SHA-256 of a key and a counter (rejection sampling, no bias).

    Python's ``random`` promises the same numbers only for ``random()`` across versions, and
    NumPy's generators none across releases; a variant must be rebuilt years later.
    """

    def __init__(self, key: str):
        self._key = key.encode("utf-8")
        self._counter = 0
        self._pool = b""

    def _bits64(self) -> int:
        if len(self._pool) < 8:
            self._pool += hashlib.sha256(self._key + b"\x00" +
                                         self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        out, self._pool = self._pool[:8], self._pool[8:]
        return int.from_bytes(out, "big")

    def below(self, n: int) -> int:
        """An integer in [0, n)."""
        if n <= 0:
            raise ValueError("below(n) needs n >= 1")
        limit = (1 << 64) - (1 << 64) % n
        while True:
            x = self._bits64()
            if x < limit:
                return x % n


def draw_value(draw: Draw, stream: Stream) -> Value:
    """A fresh value for a ``range``, ``choice`` or ``kernel`` entry."""
    if draw.source in ("choice", "kernel"):
        return draw.choices[stream.below(len(draw.choices))]
    assert draw.value is not None
    scale = 10 ** draw.decimals
    lo = -((-draw.low * scale) // 1)
    n = (draw.high * scale) // 1 - lo + 1
    banned = {x for x in draw.exclude}
    used: set[Fraction] = set()
    cells = []
    for _ in draw.value.cells():
        for _attempt in range(10_000):
            x = Fraction(lo + stream.below(int(n)), scale)
            if x not in banned and not (draw.distinct and x in used):
                break
        else:  # pragma: no cover - parse_range made sure enough numbers are allowed
            raise VaryError(f"vary.{draw.name}", "no allowed number found")
        used.add(x)
        cells.append(x)
    if draw.value.kind == "number":
        return Value("number", cells[0])
    if draw.value.kind == "vector":
        return Value("vector", tuple(cells))
    rows, cols = draw.value.shape
    return Value("matrix", tuple(tuple(cells[r * cols:(r + 1) * cols]) for r in range(rows)))


def canonical(obj: Any) -> str:
    """JSON with sorted keys: what a hash of declarations is taken over."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=True, separators=(",", ":"),
                      default=str)


def resolve_task(draws: tuple[Draw, ...], earlier: dict[str, dict[str, Value]],
                 pick) -> dict[str, Value]:
    """The values of one task in order: ``pick(draw)`` for a drawn entry, the earlier task's
    value for ``same``, the exact result for ``expr``. VaryError names the entry at fault."""
    values: dict[str, Value] = {}
    for d in draws:
        key = f"vary.{d.name}"
        if d.source == "same":
            tid, name = d.same
            if tid not in earlier:
                raise VaryError(f"{key}.same", f"no earlier worked task with a vary table has "
                                               f"the id {tid!r}")
            if name not in earlier[tid]:
                raise VaryError(f"{key}.same", f"task {tid!r} has no value {name!r} (its "
                                               f"values: {', '.join(earlier[tid])})")
            values[d.name] = earlier[tid][name]
        elif d.source == "expr":
            try:
                values[d.name] = Value("number", evaluate(d.expr, values))
            except ZeroDivisionError:
                raise VaryError(f"{key}.expr", f"{d.expr!r} divides by zero") from None
            except (TypeError, IndexError) as exc:
                raise VaryError(f"{key}.expr", f"{d.expr!r}: {exc}") from None
        else:
            values[d.name] = pick(d)
    return values
