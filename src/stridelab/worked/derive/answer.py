"""What ``stridelab derive`` returns: a derivation's steps, its checks, and its numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from stridelab.worked._render import inline_text, latex_to_text
from stridelab.worked.answer import Answer
from stridelab.worked.equations import display, layout

# ---------------------------------------------------------------- answers


class Step:
    """One step of a derivation: a sentence and its display equations, each written once.

    ``prose`` is Markdown whose formulas stand in ``$…$``; each of ``math`` is one LaTeX
    equation (a chain ``lhs = a = b`` or an expression). Every other form is rendered from
    these: :attr:`latex` (the display, one relation per line when it is too wide for a page),
    :attr:`text` (the sentence as Unicode) and :attr:`plain` (the equations as Unicode text).
    """

    __slots__ = ("prose", "math")

    def __init__(self, prose: str = "", *math: str):
        self.prose = prose
        self.math = tuple(m for m in math if m)

    @property
    def latex(self) -> str | None:
        return layout(*self.math) or None

    @property
    def text(self) -> str:
        return inline_text(self.prose)

    @property
    def plain(self) -> str | None:
        tex = self.latex
        return latex_to_text(tex, display=True, stacked=False) if tex else None

    def to_markdown(self) -> str:
        return "\n\n".join(p for p in (self.prose, display(*self.math)) if p)

    def __repr__(self) -> str:
        return f"Step({self.prose!r}, {', '.join(map(repr, self.math))})"


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
    # how its gradable values are checked: set by ``derive`` to the topic's ``targets``
    grading: object = field(default=None, repr=False)

    @property
    def latex(self) -> str:
        return "\n".join(s.latex for s in self.steps if s.latex)

    def _grading_targets(self) -> list:
        return self.grading(self) if callable(self.grading) else []

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
        for s in self.steps:  # the typeset form only: the terminal's text is rendered from it
            out += [s.to_markdown(), ""]
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
            doc["output"] = json_array(self.output)
            doc["values"] = {k: json_array(v) for k, v in self.values.items()}
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


def json_array(a) -> object:
    """A float array as JSON: nested lists, with inf/nan as strings (JSON has neither)."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        v = float(arr)
        return v if math.isfinite(v) else str(v)
    return [json_array(v) for v in arr]


def to_markdown(d: Derivation | DerivationSet) -> str:
    return d.to_markdown()


def to_dict(d: Derivation | DerivationSet) -> dict:
    return d.to_dict()
