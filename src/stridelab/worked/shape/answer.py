"""The answer of ``stridelab shape``: every layer's output shape and parameters, as Markdown and JSON."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stridelab.errors import ConfigError
from stridelab.worked._render import latex_to_text
from stridelab.worked.answer import Answer
from stridelab.worked.shape.check import ShapeCheck, check_answer
from stridelab.worked.shape.layers import (
    MAX_SIZE,
    LayerRow,
    parse_layer,
    parse_shape,
    propagate,
    shape_text,
    split_layers,
    symbols_for,
)
from stridelab.worked.shape.sym import Sym, count_text, is_sym, json_dim, latex_symbol, simplify


@dataclass
class ShapeAnswer(Answer):
    """A layer chain's shapes and parameter counts.

    ``input_shape`` and ``output`` are channel-last tuples ((H, W, C), (L, C) or (N,));
    ``rows`` has one :class:`LayerRow` per layer; ``symbols`` names the open filter counts.
    """

    input_shape: tuple
    rows: list[LayerRow] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    specs: list = field(default_factory=list, repr=False)  # the parsed LayerSpecs
    student_check: ShapeCheck | None = None
    # the open symbol of each layer (None where n= is given), when a part of a longer chain
    # keeps that chain's names (n1, n2 …); None: named from ``specs`` alone
    slot_symbols: list | None = field(default=None, repr=False)

    @property
    def layers(self) -> list[LayerRow]:
        return self.rows

    @property
    def total_params(self) -> int | Sym:
        return simplify(sum((r.params for r in self.rows), 0))

    @property
    def output(self) -> tuple:
        return self.rows[-1].output_shape if self.rows else self.input_shape

    @property
    def output_shape(self) -> tuple:
        return self.output

    def check(self, student) -> ShapeCheck:
        """Compare a student's answer: ``"49x49x8"``, ``"49x49x8,params=136"``, a shape tuple
        or ``{"shape": ..., "params": ...}``; see :class:`ShapeCheck`."""
        return check_answer(self, student)

    def _grading_targets(self) -> list:
        from stridelab.worked.shape.grading import targets

        return targets(self)

    def to_markdown(self) -> str:
        return _markdown(self)

    def to_dict(self) -> dict:
        return _dict(self)



def solve(input_shape: str | tuple[int, ...], layers: str | list[str]) -> ShapeAnswer:
    """Propagate ``input_shape`` (H, W, C) through ``layers`` (specs such as ``"conv:k=3,n=8"``).

    ``layers`` is a list of spec texts (each may hold several, space-separated) or one string.
    """
    if isinstance(input_shape, str):
        shape = parse_shape(input_shape)
    else:
        shape = tuple(input_shape)
        if not 1 <= len(shape) <= 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIZE for v in shape
        ):
            raise ConfigError(f"input shape {shape!r}: give 1 to 3 sizes from 1 to {MAX_SIZE:,}")
    texts = split_layers(layers)
    if not texts:
        raise ConfigError("give at least one layer, e.g. conv:k=3,n=8 pool:k=2 flatten dense:n=10")
    specs = [parse_layer(text, i) for i, text in enumerate(texts, start=1)]
    symbols = symbols_for(specs)
    rows = propagate(shape, specs, symbols)
    return ShapeAnswer(shape, rows, [s for s in symbols if s], specs)



def _cell(latex: str) -> str:
    """A table cell: the formula in ``$…$`` and its words (``\\text{…}``, a remark in brackets)
    as text, so that a narrow column can wrap them."""
    if m := re.fullmatch(r"(.*?)\\ \((.*)\)", latex):  # a remark in brackets at the end
        return f"${m.group(1)}$ ({latex_to_text(m.group(2))})"
    if m := re.fullmatch(r"\\text\{([^}]*)\}(.*)", latex):  # words first
        return m.group(1) + (f"${m.group(2)}$" if m.group(2) else "")
    if m := re.fullmatch(r"(.*?)\\ \\text\{([^}]*)\}", latex):  # words last
        return f"${m.group(1)}$ {m.group(2)}"
    return f"${latex}$"


def _markdown(answer: ShapeAnswer) -> str:
    inp = answer.input_shape
    axes = {3: "H\u00d7W\u00d7C", 2: "L\u00d7C", 1: "N"}[len(inp)]
    out = [
        f"## Shapes and parameters: input {shape_text(inp)} ({axes})",
        "",
        "On an axis of size h a window of size k with stride s, padding p and dilation d gives "
        r"$\left\lfloor \frac{h + 2p - d(k-1) - 1}{s} \right\rfloor + 1$ outputs "
        r"($\lfloor (h + 2p - k)/s \rfloor + 1$ when d = 1; `same` gives $\lceil h/s \rceil$). "
        r"A conv layer with N filters of size k×k on C channels has $N\cdot(k\cdot k\cdot C + 1)$ "
        r"parameters; a dense layer with N units on M inputs has $N\cdot(M + 1)$.",
        "",
    ]
    if answer.symbols:
        names = ", ".join(f"${latex_symbol(s)}$" for s in answer.symbols)
        which = [f"`{r.spec}`" for r, s in zip(answer.rows, symbols_for(answer.specs)) if s]
        out += [
            f"The number of filters (or units) of {', '.join(which)} is not given: it stays "
            f"the symbol {names}, and the sizes and counts that depend on it are formulas in it.",
            "",
        ]
    out += [
        "| # | layer | output shape | how | parameters | how |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(answer.rows, start=1):
        how_p = _cell(r.params_latex) if r.params else ""
        out.append(
            f"| {i} | `{r.spec}` | {shape_text(r.output_shape)} | {_cell(r.shape_latex)} | "
            f"{count_text(r.params)} | {how_p} |"
        )
    nonzero = [r.params for r in answer.rows if r.params]
    total = answer.total_params
    if len(nonzero) > 1:
        parts = [f"({count_text(p)})" if is_sym(p) and len(p.terms) > 1 else count_text(p)
                 for p in nonzero]
        sum_text = " + ".join(parts) + f" = {count_text(total)}"
    else:
        sum_text = count_text(total)
    out += [
        "",
        f"**Output** {shape_text(answer.output)}; **total parameters** {sum_text}.",
        "",
    ]
    if answer.student_check is not None:
        out.append(answer.student_check.to_markdown())
    return "\n".join(out)


def _dict(answer: ShapeAnswer) -> dict:
    d = {
        "input_shape": list(answer.input_shape),
        "layers": [
            {
                "spec": r.spec,
                "output_shape": [json_dim(v) for v in r.output_shape],
                "params": json_dim(r.params),
                "formula": r.formula,
                "formula_latex": r.formula_latex,
            }
            for r in answer.rows
        ],
        "output_shape": [json_dim(v) for v in answer.output],
        "total_params": json_dim(answer.total_params),
        "symbols": list(answer.symbols),
    }
    if answer.student_check is not None:
        d["check"] = answer.student_check.to_dict()
    return d


def to_markdown(answer: ShapeAnswer) -> str:
    """The answer as Markdown with LaTeX (the same as ``answer.to_markdown()``)."""
    return answer.to_markdown()


def to_dict(answer: ShapeAnswer) -> dict:
    """The answer as plain JSON types (the same as ``answer.to_dict()``)."""
    return answer.to_dict()
