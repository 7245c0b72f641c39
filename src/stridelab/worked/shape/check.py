"""A student's output shape and parameter count compared with the chain's, the slip named."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stridelab.errors import ConfigError
from stridelab.worked.answer import Answer
from stridelab.worked.shape.layers import (
    MAX_SPEC_CHARS,
    WINDOWED,
    LayerRow,
    layer_output,
    propagate,
    shape_text,
    symbols_for,
)
from stridelab.worked.shape.sym import Sym, count_text, json_dim, simplify

if TYPE_CHECKING:
    from stridelab.worked.shape.answer import ShapeAnswer

_SUBSCRIPTS = str.maketrans("\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089",
                            "0123456789")

def _slip_lines(slips: list[str]) -> list[str]:
    if len(slips) == 1:
        return [f"  - Most likely slip: {slips[0]}"]
    return ["  - Each of these slips gives your answer:"] + [f"    - {s}" for s in slips]


@dataclass
class ShapeCheck(Answer):
    """A student's output shape (and parameter count) compared with the computed ones.

    ``shape_ok``/``params_ok`` are None where the student gave no value; ``shape_slips`` and
    ``params_slips`` hold one Markdown sentence per likely slip (empty when correct or when no
    single slip explains the difference, which ``shape_note``/``params_note`` then say).
    """

    student_shape: tuple | None
    student_params: int | Sym | None
    output: tuple
    total_params: int | Sym
    shape_ok: bool | None
    params_ok: bool | None
    shape_slips: list[str] = field(default_factory=list)
    params_slips: list[str] = field(default_factory=list)
    shape_slip_keys: list[str] = field(default_factory=list)  # a key of SHAPE_SLIPS per sentence
    params_slip_keys: list[str] = field(default_factory=list)  # of PARAM_SLIPS or SHAPE_SLIPS
    shape_note: str = ""
    params_note: str = ""

    @property
    def correct(self) -> bool:
        return self.shape_ok is not False and self.params_ok is not False

    def to_markdown(self) -> str:
        out = ["### Your answer", ""]
        given = []
        if self.student_shape is not None:
            given.append(f"output {shape_text(self.student_shape)}")
        if self.student_params is not None:
            given.append(f"{count_text(self.student_params)} parameters")
        out.append(f"You wrote: {', '.join(given)}.")
        out.append("")
        if self.correct:
            out += ["**All correct.**", ""]
            return "\n".join(out)
        if self.shape_ok is False:
            out.append(
                f"- **Output shape wrong**: it is {shape_text(self.output)}, not "
                f"{shape_text(self.student_shape)}."
                + (f" {self.shape_note}" if self.shape_note else "")
            )
            out += _slip_lines(self.shape_slips)
        elif self.shape_ok:
            out.append(f"- Output shape {shape_text(self.output)}: correct.")
        if self.params_ok is False:
            out.append(
                f"- **Parameter count wrong**: it is {count_text(self.total_params)}, not "
                f"{count_text(self.student_params)}."
                + (f" {self.params_note}" if self.params_note else "")
            )
            out += _slip_lines(self.params_slips)
        elif self.params_ok:
            out.append(f"- Parameter count {count_text(self.total_params)}: correct.")
        out.append("")
        return "\n".join(out)

    def to_dict(self) -> dict:
        return {
            "student_shape": None
            if self.student_shape is None
            else [json_dim(v) for v in self.student_shape],
            "student_params": None
            if self.student_params is None
            else json_dim(self.student_params),
            "shape_ok": self.shape_ok,
            "params_ok": self.params_ok,
            "correct": self.correct,
            "shape_slips": list(self.shape_slips),
            "params_slips": list(self.params_slips),
            "shape_note": self.shape_note,
            "params_note": self.params_note,
        }



# ---------------------------------------------------------------- a student's answer


SHAPE_SLIPS = {
    "padding": "forgot the padding (computed as if p = 0)",
    "one_side": "padded one side only (h + p instead of h + 2p)",
    "plus_one": "forgot the +1 in \u230a(h + 2p \u2212 k)/s\u230b + 1",
    "ceil": "used ceil instead of floor in (h + 2p \u2212 k)/s",
    "depth": "counted channels wrong: a conv layer's output depth is its number of filters "
    "n, not the input's channels",
}
PARAM_SLIPS = {
    "bias": "forgot the bias in the parameter count (one per filter or unit)",
    "channels": "counted channels wrong: each filter spans all C input channels "
    "(k\u00b7k\u00b7C weights, not k\u00b7k)",
}


def _parse_sym(text: str, what: str) -> int | Sym:
    """``"136"``, ``"17n"``, ``"24010n + 10"``, ``"9n1n2 + n2"`` -> int or :class:`Sym`."""
    t = text.strip().lower().translate(_SUBSCRIPTS).replace("\u2212", "-")
    t = t.replace(" ", "").replace("_", "").replace("\u00b7", "").replace("*", "")
    if not t or len(t) > MAX_SPEC_CHARS:
        raise ConfigError(f"{what}: {text[:40]!r} is not a number or a formula in n")
    terms = re.findall(r"([+-]?)([0-9]*)((?:n[0-9]*)*)", t)
    rebuilt = "".join(a + b + c for a, b, c in terms)
    if rebuilt != t or any(not b and not c for _, b, c in terms if (_ or b or c)):
        raise ConfigError(f"{what}: {text[:40]!r} is not a number or a formula in n such as 17n")
    total: int | Sym = 0
    for sign, coef, syms in terms:
        if not coef and not syms:
            continue
        if len(coef) > 40:
            raise ConfigError(f"{what}: {coef[:20]}... is too long a number")
        c = int(coef) if coef else 1
        if sign == "-":
            c = -c
        names = tuple(sorted(re.findall(r"n[0-9]*", syms)))
        total = simplify(total + Sym({names: c}))
    return total


def parse_student(student) -> tuple[tuple | None, int | Sym | None]:
    """``"49x49x8,params=136"`` (or a tuple, or ``{"shape":, "params":}``) -> (shape, params)."""
    if isinstance(student, dict):
        shape, params = student.get("shape"), student.get("params")
        shape = None if shape is None else parse_student(shape if isinstance(shape, str)
                                                         else tuple(shape))[0]
        if isinstance(params, str):
            params = _parse_sym(params, "--check params")
        return shape, params
    if isinstance(student, (tuple, list)):
        dims = tuple(_parse_sym(str(v), "--check shape") if not isinstance(v, int) else v
                     for v in student)
        return dims, None
    text = str(student).strip()
    if not text or len(text) > 4 * MAX_SPEC_CHARS:
        raise ConfigError("--check: give the output shape, e.g. 49x49x8 or 49x49x8,params=136")
    shape: tuple | None = None
    params = None
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if eq:
            if key.strip().lower() not in ("params", "p", "parameters"):
                raise ConfigError(f"--check: unknown key {key.strip()!r}; use params=N")
            params = _parse_sym(value, "--check params")
        elif shape is None:
            dims = [d for d in re.split(r"[x\u00d7*]", part.lower()) if d.strip()]
            if not dims or len(dims) > 3:
                raise ConfigError(f"--check: {part!r} is not a shape such as 49x49x8")
            shape = tuple(_parse_sym(d, "--check shape") for d in dims)
        else:
            raise ConfigError(f"--check: {part!r}: give one shape and optionally params=N")
    return shape, params


def _first_difference(right: list[LayerRow], wrong: list[LayerRow], attr: str):
    for r, w in zip(right, wrong):
        if getattr(r, attr) != getattr(w, attr):
            return r, w
    return None


def _slip_sentence(message: str, right: list[LayerRow], wrong: list[LayerRow], attr: str) -> str:
    pair = _first_difference(right, wrong, attr)
    if pair is None:
        return message + "."
    r, w = pair
    if attr == "output_shape":
        how_w, how_r = w.shape_text, r.shape_text
        if r.output_shape[-1] != w.output_shape[-1] and how_w == how_r:
            how_w = f"depth {str(w.output_shape[-1])}"
            how_r = f"depth {str(r.output_shape[-1])}"
    else:
        how_w, how_r = w.params_text, r.params_text
    got = f" ({shape_text(w.output_shape)} there)" if attr == "output_shape" else ""
    return f"{message}. At layer `{r.spec}` that gives {how_w}{got}; correct is {how_r}."


# slips are looked for in chains of up to this many layers (longer ones get the verdict only)
MAX_SLIP_LAYERS = 60
# a slip in a single layer is looked for in the first this many windowed or dense layers
_ONE_LAYER_CANDIDATES = 8


def _variant_rows(answer: ShapeAnswer, symbols, slip: str, only: int | None):
    if only is None:
        return propagate(answer.input_shape, answer.specs, symbols, slip)
    # the layers before ``only`` are the correct ones; recompute from there on
    shape = answer.rows[only - 1].output_shape if only else answer.input_shape
    spec = answer.specs[only]
    row = layer_output(spec, shape, only + 1, symbol=symbols[only], slip=slip)
    right = answer.rows[only]
    if (row.output_shape, row.params) == (right.output_shape, right.params):
        return None  # this slip changes nothing in this layer
    rest = propagate(row.output_shape, answer.specs[only + 1:], symbols[only + 1:])
    return answer.rows[:only] + [row] + rest


def _variants(answer: ShapeAnswer, slips) -> list[tuple[str, list[LayerRow]]]:
    """Every way of computing the chain with one slip: in all layers, then in one layer."""
    out = []
    symbols = answer.slot_symbols or symbols_for(answer.specs)
    candidates = [i for i, s in enumerate(answer.specs) if s.kind in WINDOWED + ("dense", "bn")]
    for slip in slips:
        tried = []
        for only in [None] + candidates[:_ONE_LAYER_CANDIDATES]:
            try:
                rows = _variant_rows(answer, symbols, slip, only)
            except ConfigError:
                continue
            if rows is None:
                continue
            key = tuple((r.output_shape, r.params) for r in rows)
            if key not in tried:
                tried.append(key)
                out.append((slip, rows))
    return out


def check_answer(answer: ShapeAnswer, student) -> ShapeCheck:
    """Compare a student's output shape and parameter count with ``answer``; name the slip."""
    s_shape, s_params = parse_student(student)
    if s_shape is None and s_params is None:
        raise ConfigError("--check: give the output shape, e.g. 49x49x8 or 49x49x8,params=136")
    out, total = answer.output, answer.total_params
    shape_ok = None if s_shape is None else tuple(s_shape) == tuple(out)
    params_ok = None if s_params is None else s_params == total
    check = ShapeCheck(s_shape, s_params, out, total, shape_ok, params_ok)
    if len(answer.rows) > MAX_SLIP_LAYERS and not (shape_ok is not False and params_ok is not False):
        note = (f"(Slips are looked for in chains of up to {MAX_SLIP_LAYERS} layers; this one has "
                f"{len(answer.rows):,}.)")
        check.shape_note = note if shape_ok is False else ""
        check.params_note = note if params_ok is False else ""
        return check
    variants = _variants(answer, {**PARAM_SLIPS, **SHAPE_SLIPS})
    if shape_ok is False:
        if len(s_shape) != len(out):
            axes = {3: "H\u00d7W\u00d7C", 2: "L\u00d7C", 1: "a flat N"}[len(out)]
            check.shape_note = (
                f"You gave {len(s_shape)} size(s); the output has {len(out)} ({axes})."
            )
        else:
            seen = set()
            for slip, rows in variants:
                if (slip in SHAPE_SLIPS and rows[-1].output_shape == tuple(s_shape)
                        and slip not in seen):
                    seen.add(slip)
                    check.shape_slip_keys.append(slip)
                    check.shape_slips.append(
                        _slip_sentence(SHAPE_SLIPS[slip], answer.rows, rows, "output_shape")
                    )
            if not seen:
                check.shape_note = "No single slip explains it; " + _chain_note(answer)
    if params_ok is False:
        seen = set()
        for slip, rows in variants:
            got = simplify(sum((r.params for r in rows), 0))
            if got == s_params and slip not in seen:
                seen.add(slip)
                msg = PARAM_SLIPS.get(slip) or (
                    SHAPE_SLIPS[slip] + ", which changes the inputs a later layer counts"
                )
                check.params_slip_keys.append(slip)
                check.params_slips.append(_slip_sentence(msg, answer.rows, rows, "params"))
        if not seen:
            per_layer = " + ".join(count_text(r.params) for r in answer.rows if r.params) or "0"
            check.params_note = f"No single slip explains it; per layer: {per_layer}."
    return check


def _chain_note(answer: ShapeAnswer) -> str:
    chain = " \u2192 ".join(shape_text(s) for s in [answer.input_shape]
                           + [r.output_shape for r in answer.rows])
    return f"layer by layer: {chain}."
