"""Display equations written once, in LaTeX, and set to fit where they are read.

An equation is written as one LaTeX string, ``lhs = a = b \\approx c`` (several independent
ones may be given together). :func:`layout` keeps it on one line when it fits the width of a
printed page; otherwise it sets it in an ``aligned`` block with one relation per line, a long
sum wrapped across lines, and independent equations one under the other::

    \\begin{aligned} lhs &= a_1 + a_2 + a_3 \\\\ &\\quad + a_4 + a_5 \\\\ &= b \\\\ &\\approx c
    \\end{aligned}

The same block becomes aligned Unicode text for a terminal through
:func:`stridelab.worked._render.latex_to_text`, so a formula is never written twice. A matrix
too wide for the page is shown in column blocks (:func:`matrix_equations`).

The width is counted in rendered characters: the longest line of the block as
``latex_to_text`` lays it out (a stacked fraction counts its wider part, a matrix its columns).
KaTeX prints a rendered character at most 2.13 mm wide at 10 pt (the print stylesheet's body
size; measured on digits, the widest glyphs, in headless Chromium), 2.34 mm at 11 pt, so
:data:`WIDTH` = 72 characters take at most 168 mm, inside the 170 mm of an A4 page's
printable width.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

__all__ = ["WIDTH", "display", "display_width", "layout", "matrix_equations", "relations"]

WIDTH = 72  # rendered characters per display line (see the module docstring)

# relation commands a chain is broken at (each a LaTeX control word), besides "="
_RELATIONS = ("approx", "le", "leq", "ge", "geq", "leftarrow", "Rightarrow", "iff", "ne",
              "neq", "equiv", "to", "mapsto", "succ", "succeq", "implies", "xrightarrow")
_OPENERS = ("lfloor", "lceil", "langle", "lVert", "lvert", "begin")
_CLOSERS = ("rfloor", "rceil", "rangle", "rVert", "rvert", "end")
# between independent equations written in one string: ",\qquad", ",\quad", "\qquad"
_SEPARATOR = re.compile(r"[,:]\s*\\q?quad\s*|\\qquad\s*|,\s*\\;\s*")


@lru_cache(maxsize=8192)
def display_width(tex: str) -> int:
    """Rendered characters of the longest line of ``tex`` set as a display formula."""
    from stridelab.worked._render import latex_to_text

    lines = latex_to_text(tex, display=True).split("\n")
    # a combining mark (the hat of ŷ, the bar under 0̲) takes no width of its own
    return max((sum(not unicodedata.combining(ch) for ch in line) for line in lines), default=0)


def _tokens(tex: str):
    """``(start, end, token, depth)`` for each token of ``tex``; depth counts the brackets,
    braces, ``\\left``…``\\right`` and environments the token is inside."""
    i, depth, n = 0, 0, len(tex)
    while i < n:
        c = tex[i]
        if c == "\\":
            j = i + 1
            while j < n and tex[j].isalpha():
                j += 1
            if j == i + 1:
                j = min(i + 2, n)  # a control symbol: \{ \, \\ ...
            name = tex[i + 1:j]
            if name in ("left", "right"):
                k = j
                while k < n and tex[k] == " ":
                    k += 1
                if k < n and tex[k] == "\\":  # \left\lfloor: the delimiter is a word
                    k += 1
                    while k < n and tex[k].isalpha():
                        k += 1
                else:
                    k += 1
                if name == "right":
                    depth -= 1
                yield i, k, "\\" + name, depth
                if name == "left":
                    depth += 1
                i = k
                continue
            if name in _CLOSERS:
                depth -= 1
            yield i, j, "\\" + name, depth
            if name in _OPENERS:
                depth += 1
            i = j
            continue
        if c in "{([":
            yield i, i + 1, c, depth
            depth += 1
        elif c in "})]":
            depth -= 1
            yield i, i + 1, c, depth
        else:
            yield i, i + 1, c, depth
        i += 1


def _group_end(tex: str, start: int) -> int:
    """The index after the ``{...}`` group that starts at (or after spaces from) ``start``."""
    i = start
    while i < len(tex) and tex[i] == " ":
        i += 1
    if i >= len(tex) or tex[i] != "{":
        return start
    depth = 0
    while i < len(tex):
        if tex[i] == "\\":
            i += 2
            continue
        depth += tex[i] == "{"
        depth -= tex[i] == "}"
        i += 1
        if depth == 0:
            return i
    return i


def relations(tex: str) -> list[str]:
    """``tex`` cut before each top-level relation: ``["lhs", "= a", "\\approx b"]``."""
    cuts = []
    for start, _end, token, depth in _tokens(tex):
        if depth == 0 and (token == "=" or token.lstrip("\\") in _RELATIONS and token != "="):
            cuts.append(start - (token == "=" and start > 0 and tex[start - 1] == ":"))  # :=
    pieces, last = [], 0
    for cut in cuts:
        if tex[last:cut].strip():
            pieces.append(tex[last:cut].strip())
            last = cut
    pieces.append(tex[last:].strip())
    return [p for p in pieces if p]


def _terms(tex: str) -> list[str]:
    """``tex`` cut before each top-level `` + `` or `` - ``: the terms of a sum."""
    cuts = [start for start, _, token, depth in _tokens(tex)
            if depth == 0 and token in "+-" and 0 < start < len(tex) - 1
            and tex[start - 1] == " " and tex[start + 1] == " "]
    pieces, last = [], 0
    for cut in cuts:
        pieces.append(tex[last:cut].strip())
        last = cut
    pieces.append(tex[last:].strip())
    return [p for p in pieces if p]


def _independent(tex: str) -> list[str]:
    """``tex`` cut at top-level separators between independent equations (``,\\qquad``)."""
    depth_at = {start: depth for start, _, _, depth in _tokens(tex)}
    pieces, last = [], 0
    for m in _SEPARATOR.finditer(tex):
        if depth_at.get(m.start(), 1) == 0 and m.start() > last:
            keep = m.start() + (tex[m.start()] == ":")  # a label keeps its colon
            pieces.append(tex[last:keep].strip())
            last = m.end()
    pieces.append(tex[last:].strip())
    return [p for p in pieces if p]


def _groups(term: str):
    """``(prefix, inner, suffix, paired)`` for each top-level bracket group of ``term``:
    ``\\left(…\\right)`` (``paired``: a row may not end inside it unclosed), or ``(…)``,
    ``[…]``, ``\\Big(…\\Big)``, whose halves stand on their own."""
    opened = None
    for start, end, token, depth in _tokens(term):
        if depth == 0 and opened is None and token in (r"\left", "(", "["):
            opened, paired = end, token == r"\left"
        elif depth == 0 and opened is not None and token in (r"\right", ")", "]"):
            if paired == (token == r"\right"):
                yield term[:opened], term[opened:start], term[start:], paired
            opened = None


def _items(body: str, width: int) -> list[tuple[str, bool]]:
    """The terms of a sum, ``(term, paired)``; a term too wide that holds a bracket with a sum
    inside is opened into that sum's terms (``paired``: a break after the term falls inside a
    ``\\left…\\right`` group, which the row must close with ``\\right.``)."""
    out: list[tuple[str, bool]] = []
    for term in _terms(body):
        opened = None
        if display_width(term) > width:
            opened = next(((prefix, _terms(group), suffix, paired)
                           for prefix, group, suffix, paired in _groups(term)
                           if len(_terms(group)) > 1), None)
        if opened is None:
            out.append((term, False))
            continue
        prefix, inner, suffix, paired = opened
        inner[0], inner[-1] = prefix + inner[0], inner[-1] + suffix
        out += [(t, paired and k < len(inner) - 1) for k, t in enumerate(inner)]
    return out


def _wrap(relation: str, body: str, width: int, indent: int) -> list[str]:
    """``relation body`` as rows of at most ``width`` characters: a long sum cut between its
    terms (inside a bracket too; a ``\\left(…\\right)`` is closed and reopened with ``.``).
    ``body`` keeps its leading space, if any, after the relation."""
    whole = f"{relation}{body}".strip()
    if display_width(whole) + indent <= width:
        return [whole]
    items = _items(body.strip(), width - indent - display_width(relation) - 1)
    if len(items) < 2:
        return [whole]
    rows, line, inside = [], f"{relation}{body[:len(body) - len(body.lstrip())]}{items[0][0]}".strip(), items[0][1]
    for term, term_inside in items[1:]:
        close, reopen = (r" \right.", r"\left. ") if inside else ("", "")
        if display_width(f"{line} {term}{close}") + indent > width:
            rows.append(line + close)
            line = rf"\quad {reopen}{term}"
        else:
            line = f"{line} {term}"
        inside = term_inside
    rows.append(line)
    return rows


def _chain(equation: str) -> tuple[str, list[tuple[str, str]]]:
    """``(lhs, [(relation, rhs), ...])`` of an equation; lhs "" when it has no relation."""
    parts = relations(equation)
    if len(parts) == 1:
        return "", [("", parts[0])]
    chain = []
    for piece in parts[1:]:
        m = re.match(r"(=|:=|\\[A-Za-z]+)", piece)
        relation = m.group(0) if m else ""
        rest = piece[len(relation):]
        if relation == r"\xrightarrow":  # the relation carries its label
            end = _group_end(rest, 0)
            relation, rest = relation + rest[:end], rest[end:]
        chain.append((relation, rest.rstrip()))
    return parts[0], chain


def _rows(lhs: str, chain: list[tuple[str, str]], width: int, column: int
          ) -> list[tuple[str, str]]:
    """``(left, right)`` cells of the aligned rows that set one equation within ``width``;
    ``column`` is the width of the left column the block aligns them to."""
    one = " ".join(f"{rel}{rhs}".strip() for rel, rhs in chain)
    if not lhs:  # no relation: a formula on its own, wrapped at its terms if long
        return [("", row) for row in _wrap("", " " + one, width, column + 1)]
    wide = display_width(lhs) > width // 3  # kept out of the left column, not to widen it
    if display_width(one) + (display_width(lhs) + 1 if wide else column) + 1 <= width:
        return [("", f"{lhs} {one}")] if wide else [(lhs, one)]
    rows: list[tuple[str, str]] = []
    if wide:  # the left side stands on its own line, in the right column
        rows.append(("", lhs))
    for relation, rhs in chain:
        for cell in _wrap(relation, rhs, width, column + 1):
            rows.append((lhs if not rows else "", cell))
    return rows


def layout(*equations: str, width: int = WIDTH) -> str:
    """The LaTeX of a display holding ``equations``: as written when it fits ``width``
    rendered characters, else an ``aligned`` block (see the module docstring)."""
    equations = tuple(e.strip() for e in equations if e and e.strip())
    if not equations:
        return ""
    one_line = r",\qquad ".join(equations)
    if display_width(one_line) <= width:
        return one_line
    chains = [_chain(part) for eq in equations for part in _independent(eq)]
    # the left column is as wide as the widest left side that keeps its place in it
    column = max((display_width(lhs) for lhs, _ in chains if display_width(lhs) <= width // 3),
                 default=0)
    rows = [row for lhs, chain in chains for row in _rows(lhs, chain, width, column)]
    body = r" \\ ".join(f"{left} &{right}" if right else f"{left} &" for left, right in rows)
    return rf"\begin{{aligned}} {body} \end{{aligned}}"


def display(*equations: str, width: int = WIDTH) -> str:
    """``$$…$$`` Markdown for :func:`layout` of ``equations`` ("" for none)."""
    tex = layout(*equations, width=width)
    return f"$${tex}$$" if tex else ""


def matrix_equations(name: str, rows: Sequence[Sequence[str]], *, relation: str = "=",
                     width: int = WIDTH, env: str = "bmatrix",
                     name_of: Callable[[int, int], str] | None = None) -> list[str]:
    """``name = [cells]`` for a matrix of LaTeX ``cells``; too wide, one equation per block of
    columns, ``name_{:,1..4} = [...]`` (columns counted from 1; ``name_of(first, last)``
    names a block otherwise)."""
    def matrix(cols: range) -> str:
        body = r" \\ ".join(" & ".join(row[c] for c in cols) for row in rows)
        return rf"\begin{{{env}}} {body} \end{{{env}}}"

    n_cols = len(rows[0]) if rows else 0
    whole = f"{name} {relation} {matrix(range(n_cols))}"
    if n_cols <= 1 or display_width(whole) <= width:
        return [whole]
    label = name_of or (lambda a, b: f"{name}_{{:,{a}..{b}}}" if a != b else f"{name}_{{:,{a}}}")
    # the widest column decides how many fit beside the name
    col_width = max(display_width(rows[r][c]) for r in range(len(rows)) for c in range(n_cols))
    lead = display_width(f"{label(n_cols, n_cols)} {relation} ") + 4
    per_block = max(1, (width - lead) // (col_width + 2))
    blocks = [range(a, min(a + per_block, n_cols)) for a in range(0, n_cols, per_block)]
    return [f"{label(b.start + 1, b.stop)} {relation} {matrix(b)}" for b in blocks]
