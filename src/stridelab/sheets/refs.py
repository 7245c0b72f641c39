"""References in a sheet's Markdown: every number of an answer is read from a computed value.

Two constructs, both written inside the Markdown of an ``answer`` (and ``if_skipped``):

- **a value**: ``{HEAD.PATH[:SPEC]}``, e.g. ``{mnist-cnn.test_accuracy:.3f}`` (a metric of the
  experiment task that runs mnist-cnn), ``{run.4.2.2.test_accuracy}`` (of the experiment task
  with id ``4.2.2``), ``{worked.2.1i.results.0.output:tex}`` (a path into a worked task's
  answer), ``{given.relu_3}`` (a number the sheet itself gives, from its ``[given]`` table).
  A path segment with spaces or punctuation is quoted: ``{depth-sweep.test_accuracy."relu, 3
  hidden"}``. SPEC is a Python format spec (``.3f``, ``.1%``, ``,``) or ``tex`` (a matrix or
  vector as a LaTeX ``bmatrix``, for use inside ``$...$``);
- **a claim with both branches**: ``{{if A OP B}}text if true{{else}}text if false{{end}}``
  where A and B are value paths without braces (``mnist-cnn.test_accuracy``), numbers or
  ``"strings"``, and OP is one of ``< <= > >= == !=``; ``{{if A}}`` tests A's truth. The
  ``{{else}}`` branch is required: a sentence that states an outcome is written both ways.

Text inside code spans and fenced code is left as it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

__all__ = ["Ref", "Cond", "RefSyntaxError", "NotMeasured", "parse", "references", "render",
           "format_value", "split_task_id", "is_record_stem"]

_HEAD = r"[A-Za-z][A-Za-z0-9_-]*"
_SEGMENT = r'(?:[A-Za-z0-9_+\-]+|"[^"\n{}]*")'
_PATH = rf"{_HEAD}(?:\.{_SEGMENT})+"
_REF = re.compile(rf"\{{(?!\{{)({_PATH})(?::([^{{}}\s\"]*))?\}}")
_TAG = re.compile(r"\{\{\s*(if\b[^{}]*|else|end)\s*\}\}")
_COND = re.compile(rf"^\s*({_PATH}|-?\d[\d.eE+-]*|\"[^\"]*\"|true|false)\s*"
                   rf"(?:(<=|>=|==|!=|<|>)\s*({_PATH}|-?\d[\d.eE+-]*|\"[^\"]*\"|true|false)\s*)?$")
_FENCE = re.compile(r"(^ {0,3}(?:```|~~~).*?^ {0,3}(?:```|~~~)[ \t]*$)", re.S | re.M)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


# a result record's file name without ".json" (``{record."STEM".path}``): a plain name, no path
_RECORD_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.,=+-]{0,199}")


def is_record_stem(stem: str) -> bool:
    """Whether ``stem`` can name a result record: one plain file name, never a path."""
    return bool(_RECORD_STEM.fullmatch(stem)) and ".." not in stem


class RefSyntaxError(ValueError):
    """A malformed reference or claim; the message quotes it."""


@dataclass(frozen=True)
class Ref:
    """``{head.rest...:spec}``: ``rest`` are the path segments after the head, unquoted."""

    text: str  # as written, for messages
    head: str
    rest: tuple[str, ...]
    spec: str = ""


@dataclass(frozen=True)
class Cond:
    """A claim: ``left op right`` (or the truth of ``left`` when op is empty)."""

    text: str
    left: Ref | Any
    op: str
    right: Ref | Any
    then: tuple
    otherwise: tuple

    def refs(self) -> list[Ref]:
        return [x for x in (self.left, self.right) if isinstance(x, Ref)]


class NotMeasured:
    """A value whose experiment did not run (skipped): shown as such, false in a claim."""

    def __init__(self, why: str):
        self.why = why

    def __str__(self) -> str:
        return f"*not measured ({self.why})*"


def _segments(path: str) -> tuple[str, tuple[str, ...]]:
    parts = re.findall(rf"{_SEGMENT}", path[path.index(".") + 1:])
    head = path[:path.index(".")]
    return head, tuple(p[1:-1] if p.startswith('"') else p for p in parts)


def _ref(path: str, spec: str, text: str) -> Ref:
    head, rest = _segments(path)
    return Ref(text=text, head=head, rest=rest, spec=spec or "")


def _operand(token: str | None):
    if token is None:
        return None
    if token.startswith('"'):
        return token[1:-1]
    if token in ("true", "false"):
        return token == "true"
    if re.fullmatch(r"-?\d[\d.eE+-]*", token):
        try:
            return float(token) if any(c in token for c in ".eE") else int(token)
        except ValueError:
            raise RefSyntaxError(f"{token!r} is not a number") from None
    return _ref(token, "", token)


def _protect(text: str) -> tuple[str, list[str]]:
    """Code spans and fences replaced by placeholders (restored by :func:`_unprotect`)."""
    store: list[str] = []

    def keep(match: re.Match) -> str:
        store.append(match.group(0))
        return f"\x00{len(store) - 1}\x00"

    pieces = _FENCE.split(text)
    out = []
    for p in pieces:
        out.append(keep(re.match(r".*", p, re.S)) if _FENCE.fullmatch(p) else _CODE_SPAN.sub(keep, p))
    return "".join(out), store


def _unprotect(text: str, store: list[str]) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: store[int(m.group(1))], text)


def _parse_plain(text: str, store: list[str]) -> list:
    """References in ``text`` (code already protected); text pieces come back unprotected."""
    bad = re.search(r"\{\{\s*(?:if|else|end|elif|fi)\b[^\n]{0,40}", text)
    if bad:  # a tag that _TAG did not take: a brace missing, a typo
        raise RefSyntaxError(f"{bad.group(0)!r}: a claim is {{{{if A OP B}}}}...{{{{else}}}}..."
                             "{{end}}")
    nodes: list = []
    last = 0
    for m in _REF.finditer(text):
        if m.start() > last:
            nodes.append(_unprotect(text[last:m.start()], store))
        nodes.append(_ref(m.group(1), m.group(2) or "", m.group(0)))
        last = m.end()
    if last < len(text):
        nodes.append(_unprotect(text[last:], store))
    return nodes


def parse(text: str) -> list:
    """``text`` as a list of nodes: str, :class:`Ref` and :class:`Cond`."""
    protected, store = _protect(text)
    pos = 0
    root: list = []
    # open claims: [tag text, condition match, then-nodes, else-nodes or None]
    stack: list[list] = []

    def current() -> list:
        if not stack:
            return root
        return stack[-1][2] if stack[-1][3] is None else stack[-1][3]

    for m in _TAG.finditer(protected):
        current().extend(_parse_plain(protected[pos:m.start()], store))
        pos = m.end()
        tag = m.group(1)
        if tag.startswith("if"):
            cond = _COND.match(tag[2:])
            if not cond:
                raise RefSyntaxError(f"{m.group(0)}: write {{{{if A > B}}}} with A and B values "
                                     "(experiment.metric, worked.ID.path, given.name), numbers "
                                     "or \"strings\", and OP one of < <= > >= == !=")
            stack.append([m.group(0), cond, [], None])
        elif tag == "else":
            if not stack or stack[-1][3] is not None:
                raise RefSyntaxError("{{else}} without an open {{if ...}}")
            stack[-1][3] = []
        else:  # end
            if not stack:
                raise RefSyntaxError("{{end}} without an open {{if ...}}")
            text_, cond, then, otherwise = stack.pop()
            if otherwise is None:
                raise RefSyntaxError(f"{text_} has no {{{{else}}}}: write what the text says "
                                     "when the claim does not hold, too")
            current().append(Cond(text=text_, left=_operand(cond.group(1)),
                                  op=cond.group(2) or "", right=_operand(cond.group(3)),
                                  then=tuple(then), otherwise=tuple(otherwise)))
    if stack:
        raise RefSyntaxError(f"{stack[-1][0]} is never closed with {{{{end}}}}")
    current().extend(_parse_plain(protected[pos:], store))
    return root


def _walk_refs(nodes: Sequence) -> Iterator[Ref]:
    for n in nodes:
        if isinstance(n, Ref):
            yield n
        elif isinstance(n, Cond):
            yield from n.refs()
            yield from _walk_refs(n.then)
            yield from _walk_refs(n.otherwise)


def references(text: str) -> list[Ref]:
    """Every reference in ``text`` (values and claim operands), in order."""
    return list(_walk_refs(parse(text)))


def split_task_id(rest: Sequence[str], ids: Sequence[str]) -> tuple[str | None, list[str]]:
    """The longest task id that ``rest`` starts with (ids hold dots: ``2.1i``, ``4.2.3``)."""
    best: tuple[str | None, list[str]] = (None, list(rest))
    for n in range(1, len(rest) + 1):
        candidate = ".".join(rest[:n])
        if candidate in ids:
            best = (candidate, list(rest[n:]))
    return best


# ---------------------------------------------------------------------------------------------
# values as text


def _plain(v: Any) -> Any:
    """NumPy values and arrays as Python ones."""
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        return v.tolist()
    return v


def _number_text(v: Any, spec: str) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, Fraction):
        v = v.numerator if v.denominator == 1 else float(v)
    if isinstance(v, int):
        return format(v, spec) if spec else f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if spec:
            return format(v, spec)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else format(v, ".4g")
    return str(v)


def _tex_number(v: Any, spec: str) -> str:
    if isinstance(v, str):
        m = re.fullmatch(r"(-?)(\d+)/(\d+)", v.strip())
        if m:
            return f"{m.group(1)}\\tfrac{{{m.group(2)}}}{{{m.group(3)}}}"
        return v
    text = _number_text(v, spec if spec != "tex" else "")
    text = text.replace(",", "{,}")
    m = re.fullmatch(r"(-?[\d.]+)e([+-]?)0*(\d+)", text)
    if m:
        sign = "-" if m.group(2) == "-" else ""
        return f"{m.group(1)}\\times 10^{{{sign}{m.group(3)}}}"
    return text


def _is_matrix(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(r, list) for r in v)


def _tex_matrix(rows: list, spec: str) -> str:
    body = r" \\ ".join(" & ".join(_tex_number(x, spec) for x in row) for row in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def format_value(value: Any, spec: str = "") -> str:
    """A referenced value as Markdown: numbers with ``spec``, matrices as LaTeX.

    ``spec`` is a Python format spec, or ``tex`` for LaTeX without ``$`` (inside a formula).
    A matrix without ``tex`` becomes an inline formula; a vector, "(a, b, c)".
    """
    value = _plain(value)
    if isinstance(value, NotMeasured):
        return str(value)
    tex = spec == "tex"
    num_spec = "" if tex else spec
    if value is None:
        return "–"
    if isinstance(value, dict):
        raise TypeError(f"is a table (keys: {', '.join(map(str, value))}); name one of its keys")
    if _is_matrix(value):
        if value and all(_is_matrix(ch) for ch in value):  # channels: one matrix each
            parts = [_tex_matrix(ch, num_spec) for ch in value]
            return ", ".join(parts) if tex else ", ".join(f"${p}$" for p in parts)
        m = _tex_matrix(value, num_spec)
        return m if tex else f"${m}$"
    if isinstance(value, (list, tuple)):
        if tex:
            return _tex_matrix([[x] for x in value], num_spec)
        return "(" + ", ".join(_number_text(_plain(x), num_spec) for x in value) + ")"
    if tex:
        return _tex_number(value, "")
    try:
        return _number_text(value, num_spec)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"cannot be formatted with {spec!r}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# rendering


def _truth(v: Any) -> bool:
    if isinstance(v, NotMeasured) or v is None:
        return False
    return bool(_plain(v))


def _compare(a: Any, op: str, b: Any, text: str) -> bool:
    a, b = _plain(a), _plain(b)
    if isinstance(a, NotMeasured) or isinstance(b, NotMeasured) or a is None or b is None:
        return False  # an outcome that was not measured is not claimed
    if isinstance(a, Fraction):
        a = float(a)
    if isinstance(b, Fraction):
        b = float(b)
    try:
        return bool(_OPS[op](a, b))
    except TypeError:
        raise TypeError(f"{text}: cannot compare {a!r} {op} {b!r}") from None


def render(nodes: Sequence, resolve: Callable[[Ref], Any]) -> str:
    """Nodes from :func:`parse` as Markdown, each reference replaced by ``resolve(ref)``.

    ``resolve`` raises for a reference it cannot read; a claim takes its ``{{else}}`` branch
    when a value it compares was not measured.
    """
    out = []
    for n in nodes:
        if isinstance(n, str):
            out.append(n)
        elif isinstance(n, Ref):
            value = resolve(n)
            try:
                out.append(format_value(value, n.spec))
            except TypeError as exc:
                raise TypeError(f"{n.text} {exc}") from None
        else:
            left = resolve(n.left) if isinstance(n.left, Ref) else n.left
            if n.op:
                right = resolve(n.right) if isinstance(n.right, Ref) else n.right
                holds = _compare(left, n.op, right, n.text)
            else:
                holds = _truth(left)
            out.append(render(n.then if holds else n.otherwise, resolve))
    return "".join(out)
