"""What a sheet grades in a ``shape`` answer: output shapes and parameter counts, slips named.

- ``output_shape`` (kind shape, one cell per dimension) and, where a layer has parameters,
  ``total_params`` (kind number, a formula in n where a filter count is left open);
- for a chain of several layers, the shape after each layer but the last (``layer.N.shape``,
  the last one is ``output_shape``) and, where two or more layers have parameters, each of
  their counts (``layer.N.params``): what a sheet asks when it asks for the sizes and weights
  of every layer. A chain with one layer, or without parameters, has no such keys.

Each value is checked by :func:`~stridelab.worked.shape.check.check_answer` on the chain up to
that layer (for a layer's parameters: that layer alone, on its right input), so the slips are
those ``--check`` names: :data:`~stridelab.worked.shape.check.SHAPE_SLIPS` (padding forgotten or
on one side, the +1 forgotten, ceil for floor, the depth) and
:data:`~stridelab.worked.shape.check.PARAM_SLIPS` (the bias left out, the channels).
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from stridelab.errors import ConfigError
from stridelab.worked.grading import Gradable, Target, ValueCheck, problem_check, shorten
from stridelab.worked.shape.check import PARAM_SLIPS, SHAPE_SLIPS, check_answer, parse_student
from stridelab.worked.shape.layers import shape_text, symbols_for

if TYPE_CHECKING:
    from stridelab.worked.shape.answer import ShapeAnswer

# layer kinds that have trainable parameters
PARAM_KINDS = ("conv", "conv1d", "dwsep", "depthwise", "dense", "bn")
_AXES = {3: "H×W×C", 2: "L×C", 1: "N"}


_ASCII = str.maketrans("\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089\u2212",
                       "0123456789-")


def _count(v) -> str:
    """A size or count as a student types it: ``17n``, ``2401n1n2 + n2`` (ASCII, no commas)."""
    return str(v).translate(_ASCII)


def _literal(dims: tuple) -> str:
    return "x".join(_count(d).replace(" ", "") for d in dims)


def _read(text: str, student):
    """parse_student, its messages without the ``--check`` they name on the command line."""
    try:
        return parse_student(student)
    except ConfigError as exc:
        raise ConfigError(re.sub(r"^--check( params| shape)?: ", "", str(exc))) from None


def _open(answer: ShapeAnswer) -> str:
    if not answer.symbols:
        return ""
    return f"; {', '.join(answer.symbols)} is the filter count left open"


def targets(answer: ShapeAnswer) -> list[Target]:
    """The gradable values of a chain, in this order: output shape, total parameters, then
    each layer's shape and parameter count."""
    symbols = answer.slot_symbols or symbols_for(answer.specs)
    rows, specs = answer.rows, answer.specs
    L = len(rows)
    sym = tuple(answer.symbols)
    out = [_shape_target(
        Gradable("output_shape", "shape", _literal(answer.output),
                 f"the output shape after the last layer ({_AXES[len(answer.output)]}, channel "
                 f"last{_open(answer)})", len(answer.output), sym),
        answer)]
    with_params = [i for i, r in enumerate(rows) if r.kind in PARAM_KINDS]
    if with_params:
        out.append(_params_target(
            Gradable("total_params", "number", _count(answer.total_params),
                     f"the trainable parameters of all layers, weights and biases{_open(answer)}",
                     1, sym),
            answer))
    if L > 1:
        for i in range(L - 1):
            part = dataclasses.replace(answer, rows=rows[: i + 1], specs=specs[: i + 1],
                                       slot_symbols=symbols[: i + 1], student_check=None)
            out.append(_shape_target(
                Gradable(f"layer.{i + 1}.shape", "shape", _literal(rows[i].output_shape),
                         f"the shape after layer {i + 1} `{rows[i].spec}` "
                         f"({_AXES[len(rows[i].output_shape)]})", len(rows[i].output_shape),
                         sym),
                part))
    if len(with_params) > 1:
        for i in with_params:
            one = dataclasses.replace(answer, input_shape=rows[i].input_shape, rows=[rows[i]],
                                      specs=[specs[i]], slot_symbols=[symbols[i]],
                                      student_check=None)
            out.append(_params_target(
                Gradable(f"layer.{i + 1}.params", "number",
                         _count(rows[i].params),
                         f"the trainable parameters of layer {i + 1} `{rows[i].spec}` on its "
                         f"{shape_text(rows[i].input_shape)} input", 1, sym),
                one))
    return out


def _clause(sentence: str) -> str:
    """A slip sentence of ``check_answer`` ("X. At layer … correct is …") as one clause."""
    return sentence.rstrip(".").replace(". At layer", " — at layer")


def _shape_target(gradable: Gradable, part: ShapeAnswer) -> Target:
    def check(text: str) -> ValueCheck:
        shape, params = _read(text, text)
        if params is not None or shape is None:
            raise ConfigError(f"give the shape only, such as {gradable.literal}")
        right = tuple(part.output)
        n = len(right)
        if len(shape) != n:
            return problem_check(gradable.key, text, gradable.literal, n, "shape",
                                 f"you gave {len(shape)} size(s); the shape has {n} "
                                 f"({_AXES[n]})")
        k = sum(1 for a, b in zip(shape, right) if a != b)
        if not k:
            return ValueCheck(gradable.key, shorten(text), gradable.literal, True, n, 0, None,
                              "Right.")
        c = check_answer(part, tuple(shape))
        head = f"{k} of {n} sizes differ{'s' if k == 1 else ''}"
        if c.shape_slip_keys:
            others = [SHAPE_SLIPS[s] for s in c.shape_slip_keys[1:]]
            also = f" (it could also be: {'; '.join(others)})" if others else ""
            msg = f"{head}; most likely slip: {_clause(c.shape_slips[0])}{also}."
            return ValueCheck(gradable.key, shorten(text), gradable.literal, False, n, k,
                              c.shape_slip_keys[0], msg)
        note = c.shape_note.rstrip(".")
        return ValueCheck(gradable.key, shorten(text), gradable.literal, False, n, k, None,
                          f"{head}; {note[0].lower() + note[1:]}.")

    return Target(gradable, check)


def _params_target(gradable: Gradable, part: ShapeAnswer) -> Target:
    def check(text: str) -> ValueCheck:
        _, params = _read(text, {"shape": None, "params": text})
        if params == part.total_params:  # right: no slip to look for
            return ValueCheck(gradable.key, shorten(text), gradable.literal, True, 1, 0, None,
                              "Right.")
        c = check_answer(part, {"shape": None, "params": text})
        if c.params_slip_keys:
            key = c.params_slip_keys[0]
            others = [PARAM_SLIPS.get(s) or SHAPE_SLIPS[s] for s in c.params_slip_keys[1:]]
            also = f" (it could also be: {'; '.join(others)})" if others else ""
            msg = (f"Wrong (the right count is {gradable.literal}); most likely slip: "
                   f"{_clause(c.params_slips[0])}{also}.")
            return ValueCheck(gradable.key, shorten(text), gradable.literal, False, 1, 1, key,
                              msg)
        note = c.params_note.rstrip(".")
        return ValueCheck(gradable.key, shorten(text), gradable.literal, False, 1, 1, None,
                          f"Wrong (the right count is {gradable.literal}); "
                          f"{note[0].lower() + note[1:]}.")

    return Target(gradable, check)
