"""Formulas a student derives: declared once per topic, read safely, judged as mathematics.

A topic declares each formula it asks for (:class:`Formula`) in its ``@topic`` registration,
in the task's own symbols: ``Formula("dL_dz_i", "y_hat_i - y_i", …)``. A student's formula
is read by a small parser of our own, never by ``eval``: numbers, the declared names, the
operators ``+ - * / ^`` (``**`` too), brackets, implicit products (``2x``, ``y_hat(1 - y_hat)``,
``X^T X``), a transpose (``^T``, ``'``) and a short list of functions (``exp``, ``log``/``ln``,
``sqrt``, ``sigma``, ``tanh``; ``inv`` for matrices; ``f`` and ``fprime`` where a topic keeps
the activation general). Anything else — an unknown name, ``__import__('os')``, a string, an
attribute — is refused with one line, as is a formula over ``MAX_FORMULA_CHARS`` characters,
``MAX_TOKENS`` tokens, ``MAX_DEPTH`` nested levels or with a constant exponent above
``MAX_EXPONENT``.

Judging: both formulas are evaluated at ``POINTS`` random points drawn from the formula's key
(the same points every run) — scalars in each symbol's range, matrices with normal entries —
and agree when every value agrees to 1e-8 (relative). That suffices, so SymPy is not run for
it; where the numbers cannot decide (the right formula is not finite at enough points),
SymPy decides: the difference, with the definitions substituted, must simplify to 0. A wrong
formula is matched against the topic's declared slips at the same points, then against the
generic ones (the sign; a constant factor).
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from stridelab.errors import DataError
from stridelab.worked.grading import Gradable, Target, ValueCheck, shorten

__all__ = ["Formula", "constant_value", "formula_target", "parse", "sympy_form"]

MAX_FORMULA_CHARS = 400
MAX_TOKENS = 200
MAX_DEPTH = 40
MAX_EXPONENT = 100
POINTS = 8
_SCALAR_FUNCTIONS = ("exp", "log", "sqrt", "sigma", "tanh")
_ALIASES = {"ln": "log", "sig": "sigma", "σ": "sigma"}
# typed symbols as names: a letter that stands alone (λ, η) is spaced off its neighbours
# (nλI is n λ I), one that takes an index (ŷ_k, δ_j) only from what comes before it
_TEXT = [("y\u0302", " y_hat"), ("ŷ", " y_hat"), ("σ", " sigma"), ("η", " eta "),
         ("λ", " lambda "), ("δ", " delta"), ("·", "*"), ("×", "*"), ("−", "-"), ("–", "-"),
         ("⁻¹", "^(-1)"), ("ᵀ", "^T "), ("⊤", "^T "), ("²", "^2"), ("³", "^3"), ("**", "^")]
_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/^(),']))")


@dataclass(frozen=True)
class Formula:
    """A formula a topic asks the student to derive, in the task's symbols.

    ``slips`` are (slip key, the formula the slip gives, what the slip was); ``where`` names a
    student may use for a part of the answer, with its definition (``("delta2_k",
    "(y_hat_k - y_k)*y_hat_k*(1 - y_hat_k)")``); ``ranges`` the interval each scalar symbol is
    drawn from (default 0.1 to 0.9: probabilities and activations stay inside their domain);
    ``functions`` functions beyond the usual ones (``f``, ``fprime``: a general activation and
    its derivative); ``matrices`` (name, rows, cols) for matrix symbols, sizes named by
    ``dims`` (a scalar symbol named like a dim is that size; a matrix ``I`` is the identity).
    """

    key: str
    expected: str
    description: str
    symbols: tuple[str, ...]
    slips: tuple[tuple[str, str, str], ...] = ()
    where: tuple[tuple[str, str], ...] = ()
    ranges: tuple[tuple[str, float, float], ...] = ()
    functions: tuple[str, ...] = ()
    matrices: tuple[tuple[str, str | int, str | int], ...] = ()
    dims: tuple[tuple[str, int], ...] = ()

    def gradable(self) -> Gradable:
        note = ""
        if self.where:
            note = "; you may write " + ", ".join(n for n, _ in self.where)
        return Gradable(self.key, "formula", self.expected,
                        f"{self.description}, in {', '.join(self.symbols)}{note}", 1,
                        self.symbols)


# ---------------------------------------------------------------- reading a formula


class _Parser:
    def __init__(self, text: str, names: tuple[str, ...], functions: tuple[str, ...]):
        self.names, self.functions = set(names), set(functions)
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise DataError("the formula ends too early; check the brackets")
        self.i += 1
        return tok

    def expect(self, op: str) -> None:
        tok = self.take()
        if tok != ("op", op):
            raise DataError(f"expected {op!r} but found {tok[1]!r}")

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise DataError(f"the formula nests more than {MAX_DEPTH} levels deep")

    def parse(self):
        if not self.tokens:
            raise DataError("the formula is empty")
        node = self.sum()
        if self.peek() is not None:
            raise DataError(f"unexpected {self.peek()[1]!r}")
        return node

    def sum(self):
        node = self.product()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            node = ("add" if op == "+" else "sub", node, self.product())
        return node

    def product(self):
        node = self.unary()
        while True:
            tok = self.peek()
            if tok in (("op", "*"), ("op", "/")):
                self.take()
                node = ("mul" if tok[1] == "*" else "div", node, self.unary())
            elif tok is not None and (tok[0] in ("num", "name") or tok == ("op", "(")):
                node = ("mul", node, self.unary())  # an implicit product: 2x, a(b + c), X^T X
            else:
                return node

    def unary(self):
        self.deeper()
        tok = self.peek()
        if tok in (("op", "-"), ("op", "+")):
            self.take()
            node = self.unary()
            node = ("neg", node) if tok[1] == "-" else node
        else:
            node = self.power()
        self.depth -= 1
        return node

    def power(self):
        node = self.primary()
        while True:
            tok = self.peek()
            if tok == ("op", "'"):
                self.take()
                node = ("T", node)
            elif tok == ("op", "^"):
                self.take()
                nxt = self.peek()
                if nxt is not None and nxt[0] == "name" and nxt[1].startswith("T") \
                        and "T" not in self.names and nxt[1] not in self.names:
                    # X^T, and X^TX read as X^T X (what ᵀ followed by a name becomes)
                    rest = nxt[1][1:]
                    if rest:
                        self.tokens[self.i] = ("name", rest)
                    else:
                        self.take()
                    node = ("T", node)
                    continue
                exponent = self.unary()  # right-associative: x^y^z = x^(y^z); 2^-1
                _check_exponent(exponent)
                return ("pow", node, exponent)
            else:
                return node

    def primary(self):
        kind, text = self.take()
        if kind == "num":
            if len(text) > 30:
                raise DataError(f"the number {text[:12]}… is longer than 30 characters")
            return ("num", _exact(text))
        if kind == "name":
            name = _ALIASES.get(text, text)
            if name == "lambda" and "lam" in self.names:
                name = "lam"
            if name in self.functions:
                self.expect("(")
                self.deeper()
                args = [self.sum()]
                while self.peek() == ("op", ","):
                    self.take()
                    args.append(self.sum())
                self.expect(")")
                self.depth -= 1
                if len(args) != 1:
                    raise DataError(f"{name}() takes one argument, got {len(args)}")
                return ("call", name, args[0])
            if name in self.names:
                return ("sym", name)
            allowed = ", ".join(sorted(self.names)) or "no names"
            raise DataError(f"unknown name {text[:30]!r}; this formula is written in {allowed}")
        if text == "(":
            self.deeper()
            node = self.sum()
            self.expect(")")
            self.depth -= 1
            return node
        raise DataError(f"unexpected {text!r}")


def _tokens(text: str) -> list[tuple[str, str]]:
    if len(text) > MAX_FORMULA_CHARS:
        raise DataError(f"the formula is {len(text):,} characters long, above the limit of "
                        f"{MAX_FORMULA_CHARS}")
    for a, b in _TEXT:
        text = text.replace(a, b)
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].lstrip()[:1]
            raise DataError(f"the character {bad!r} cannot be part of a formula; write numbers, "
                            "names, + - * / ^ and brackets")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        if len(out) > MAX_TOKENS:
            raise DataError(f"the formula has more than {MAX_TOKENS} parts")
    return out


def _exact(text: str) -> Fraction:
    mant, _, exp = text.lower().partition("e")
    if exp and abs(int(exp)) > 300:
        raise DataError(f"the number {text!r} is out of range")
    return Fraction(mant or "0") * Fraction(10) ** int(exp or 0)


def _is_constant(node) -> bool:
    if node[0] == "num":
        return True
    if node[0] == "sym":
        return False
    return all(_is_constant(c) for c in node[1:] if isinstance(c, tuple))


def _check_exponent(node) -> None:
    if _is_constant(node):
        with np.errstate(all="ignore"):
            v = _value(node, {})
        if not np.isfinite(v) or abs(float(v)) > MAX_EXPONENT:
            raise DataError(f"an exponent of {_show(v)} is above the limit of {MAX_EXPONENT}")


def _show(v) -> str:
    try:
        return f"{float(v):g}"
    except (TypeError, ValueError, OverflowError):
        return str(v)


def parse(text: str, names: tuple[str, ...] = (), functions: tuple[str, ...] = ()):
    """``text`` as a syntax tree of nested tuples, or a one-line DataError."""
    return _Parser(text, tuple(names), tuple(_SCALAR_FUNCTIONS) + ("inv",) + tuple(functions)
                   ).parse()


# ---------------------------------------------------------------- numbers


class _Misfit(Exception):
    """Matrices whose sizes do not fit the operation."""


def _f(x):  # a general activation, for the numbers only: unrelated to every other function
    return 0.3 + 0.5 * np.cos(1.7 * x)


def _fprime(x):  # its derivative, kept independent of it, as f' is in a derivation
    return 0.7 + 0.2 * np.sin(3.1 * x)


_CALLS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh,
          "sigma": lambda x: 1.0 / (1.0 + np.exp(-x)), "f": _f, "fprime": _fprime}


def _dims(v) -> str:
    return "a number" if np.ndim(v) == 0 else "×".join(str(s) for s in np.shape(v))


def _value(node, env: dict):
    """Evaluate a tree at ``env`` (floats and 2-D arrays); inf/nan where undefined."""
    op = node[0]
    if op == "num":
        return np.float64(node[1])
    if op == "sym":
        return env[node[1]]
    if op == "neg":
        return -_value(node[1], env)
    if op == "T":
        v = _value(node[1], env)
        return v.T if np.ndim(v) else v
    if op == "call":
        v = _value(node[2], env)
        if node[1] == "inv":
            return _inverse(v)
        return _CALLS[node[1]](v)
    a, b = _value(node[1], env), _value(node[2], env)
    ma, mb = np.ndim(a) > 0, np.ndim(b) > 0
    if op in ("add", "sub"):
        if ma != mb or (ma and a.shape != b.shape):
            raise _Misfit(f"{_dims(a)} {'+' if op == 'add' else '−'} {_dims(b)}")
        return a + b if op == "add" else a - b
    if op == "mul":
        if ma and mb:
            if a.shape[1] != b.shape[0]:
                raise _Misfit(f"{_dims(a)} times {_dims(b)}")
            return a @ b
        return a * b
    if op == "div":
        if mb:
            raise _Misfit(f"{_dims(a)} divided by {_dims(b)}")
        return a / b
    # pow
    if mb:
        raise _Misfit(f"a power {_dims(b)}")
    if ma:
        k = float(b)
        if k == -1:
            return _inverse(a)
        if k.is_integer() and 1 <= k <= MAX_EXPONENT and a.shape[0] == a.shape[1]:
            return np.linalg.matrix_power(a, int(k))
        raise _Misfit(f"{_dims(a)} to the power {_show(k)}")
    return np.power(a, b)


def _inverse(v):
    if np.ndim(v) == 0:
        return 1.0 / v
    if v.shape[0] != v.shape[1]:
        raise _Misfit(f"the inverse of {_dims(v)}")
    try:
        return np.linalg.inv(v)
    except np.linalg.LinAlgError:
        return np.full(v.shape, np.nan)


def constant_value(text: str) -> float:
    """A closed form without symbols (``-log(3/10)``, ``0.3*ln(0.3)``) as a float."""
    with np.errstate(all="ignore"):
        v = float(_value(parse(text), {}))
    if not math.isfinite(v):
        raise DataError(f"{text[:40]!r} is not a finite number")
    return v


# ---------------------------------------------------------------- judging


@dataclass
class _Compiled:
    envs: list[dict]
    expected: list  # value at each point (None where not finite)
    slips: list[tuple[str, str, list]]  # (key, what, values at each point)


@functools.lru_cache(maxsize=256)
def _compiled(formula: Formula) -> _Compiled:
    rng = np.random.default_rng(zlib.crc32(f"{formula.key}={formula.expected}".encode()))
    dims = dict(formula.dims)
    ranges = {n: (lo, hi) for n, lo, hi in formula.ranges}
    mats = {n: (r, c) for n, r, c in formula.matrices}
    defs = [(n, _parse_own(formula, e)) for n, e in formula.where]
    defined = {n for n, _ in formula.where}
    envs = []
    for _ in range(POINTS):
        env: dict = {}
        for name in formula.symbols:
            if name in defined:
                continue
            if name in mats:
                r, c = (dims.get(d, d) for d in mats[name])
                env[name] = np.eye(r) if name == "I" else rng.normal(size=(r, c))
            elif name in dims:
                env[name] = np.float64(dims[name])
            else:
                lo, hi = ranges.get(name, (0.1, 0.9))
                env[name] = np.float64(rng.uniform(lo, hi))
        with np.errstate(all="ignore"):
            for name, tree in defs:
                env[name] = _value(tree, env)
        envs.append(env)
    expected = _at_points(_parse_own(formula, formula.expected), envs)
    if expected is None or sum(v is not None for v in expected) < 3:
        expected = expected or [None] * POINTS
    slips = []
    for key, text, what in formula.slips:
        got = _at_points(_parse_own(formula, text), envs)
        if got is not None:
            slips.append((key, what, got))
    return _Compiled(envs, expected, slips)


def _parse_own(formula: Formula, text: str):
    return parse(text, formula.symbols, formula.functions)


def _at_points(tree, envs: list[dict]) -> list | None:
    """The tree's value at each point (None where not finite); None when sizes misfit."""
    out = []
    with np.errstate(all="ignore"):
        for env in envs:
            try:
                v = np.asarray(_value(tree, env), dtype=np.float64)
            except _Misfit:
                return None
            except (OverflowError, ZeroDivisionError, ValueError, FloatingPointError):
                v = np.asarray(np.nan)
            out.append(v if np.all(np.isfinite(v)) else None)
    return out


def _agree(got: list, want: list) -> tuple[bool, int]:
    """(every point where ``want`` is finite agrees, the number of such points)."""
    n = sum(w is not None for w in want)
    for g, w in zip(got, want):
        if w is None:
            continue
        if g is None or np.shape(g) != np.shape(w):
            return False, n
        if not np.all(np.abs(g - w) <= 1e-8 * np.maximum(1.0, np.abs(w))):
            return False, n
    return True, n


def _factor(got: list, want: list) -> float | None:
    ratios = []
    for g, w in zip(got, want):
        if w is None or g is None or np.ndim(w) or np.ndim(g) or abs(w) < 1e-12:
            continue
        ratios.append(float(g) / float(w))
    if len(ratios) < 3 or abs(ratios[0] - 1) < 1e-9 or abs(ratios[0]) < 1e-12:
        return None
    if all(abs(r - ratios[0]) <= 1e-8 * abs(ratios[0]) for r in ratios):
        return ratios[0]
    return None


@functools.lru_cache(maxsize=8192)
def _judge(formula: Formula, text: str) -> tuple[bool, str | None, str]:
    """(right, slip key, the sentence) for a student's formula; DataError if unreadable."""
    tree = _parse_own(formula, text)
    c = _compiled(formula)
    try:
        with np.errstate(all="ignore"):
            got = [np.asarray(_value(tree, env), dtype=np.float64) for env in c.envs]
    except _Misfit as exc:
        return False, None, f"Not the expected formula: the sizes do not fit ({exc})."
    got = [g if np.all(np.isfinite(g)) else None for g in got]
    ok, n = _agree(got, c.expected)
    if n >= 3:
        if ok:
            return True, None, "Right: equal to the expected formula at every test point."
    elif _sympy_equal(formula, text):
        return True, None, "Right: SymPy simplifies the difference to 0."
    for key, what, values in c.slips:
        if _agree(got, values) >= (True, 3):
            return False, key, f"Not the expected formula; most likely slip: {what}."
    negated = [None if w is None else -w for w in c.expected]
    if n >= 3 and _agree(got, negated)[0]:
        return False, "sign", ("Not the expected formula; most likely slip: the sign — your "
                               "formula is its negative.")
    r = _factor(got, c.expected)
    if r is not None:
        shown = f"{Fraction(r).limit_denominator(1000)}" if abs(
            float(Fraction(r).limit_denominator(1000)) - r) < 1e-9 else f"{r:.6g}"
        return False, "factor", (f"Not the expected formula; most likely slip: a constant "
                                 f"factor — your formula is {shown} times the right one.")
    return False, None, ("Not the expected formula: the two differ at the test points, and "
                         "no known slip gives yours.")


def formula_target(formula: Formula) -> Target:
    """The :class:`Target` of a declared formula: a student's formula judged against it."""
    gradable = formula.gradable()

    def check(text: str) -> ValueCheck:
        right, slip, message = _judge(formula, text.strip())
        return ValueCheck(formula.key, shorten(text), formula.expected, right, 1,
                          0 if right else 1, slip, message)

    return Target(gradable, check)


# ---------------------------------------------------------------- SymPy


def sympy_form(formula: Formula, text: str):
    """The SymPy expression of a scalar formula (definitions substituted), None for one with
    matrices or a constant exponent above 10 (SymPy would expand it without bound)."""
    from stridelab.worked.derive.symbolic import sympy_env

    if formula.matrices:
        return None
    sp, sig, _, _, _, _ = sympy_env()
    calls = {"exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "tanh": sp.tanh, "sigma": sig,
             "f": sp.Function("f"), "fprime": sp.Function("fprime"), "inv": lambda v: 1 / v}
    defs = {n: _parse_own(formula, e) for n, e in formula.where}

    def build(node):
        op = node[0]
        if op == "num":
            return sp.Rational(node[1].numerator, node[1].denominator)
        if op == "sym":
            return build(defs[node[1]]) if node[1] in defs else sp.Symbol(node[1])
        if op == "neg":
            return -build(node[1])
        if op == "T":
            return build(node[1])
        if op == "call":
            return calls[node[1]](build(node[2]))
        if op == "pow" and _is_constant(node[2]) and abs(float(_value(node[2], {}))) > 10:
            raise _Misfit("exponent")
        a, b = build(node[1]), build(node[2])
        if op == "add":
            return a + b
        if op == "sub":
            return a - b
        if op == "mul":
            return a * b
        return a / b if op == "div" else a**b

    try:
        return build(_parse_own(formula, text))
    except _Misfit:
        return None


def _sympy_equal(formula: Formula, text: str) -> bool:
    """Whether SymPy shows the student's formula equal to the expected one."""
    from stridelab.worked.derive.symbolic import is_zero

    a, b = sympy_form(formula, text), sympy_form(formula, formula.expected)
    if a is None or b is None:
        return False
    return bool(is_zero(a - b))
