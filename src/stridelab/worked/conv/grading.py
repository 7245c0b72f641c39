"""What a sheet grades in a ``conv`` answer: each kernel's output, checked as ``--check`` does.

One gradable per kernel, ``output.K`` (K from 1): a matrix, or a vector for a 1-D input. A
student's value is compared by :func:`~stridelab.worked.conv.check.check_student`, so the
slip it names is the one ``--check`` names (a key of :data:`~stridelab.worked.conv.check.SLIPS`:
the kernel flipped, the padding, a window off by one, the stride, a sign …), per cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stridelab.worked.conv.check import SLIPS, check_student
from stridelab.worked.grading import Gradable, Target, ValueCheck, problem_check, shorten
from stridelab.worked.numbers import answer_literal
from stridelab.worked.values import parse_channels

if TYPE_CHECKING:
    from stridelab.worked.conv.answer import ConvAnswer


def targets(answer: ConvAnswer) -> list[Target]:
    """One :class:`Target` per kernel: ``output.1``, ``output.2`` …"""
    out = []
    one_d = answer.ndim == 1
    for index, res in enumerate(answer.results):
        H, W = res.output_shape
        shape = (W,) if one_d else (H, W)
        rows = [" ".join(answer_literal(v) for v in row) for row in res.output]
        literal = rows[0] if one_d else "; ".join(rows)
        gradable = Gradable(f"output.{index + 1}", "vector" if one_d else "matrix", literal,
                            _description(answer, index, shape), H * W)
        out.append(Target(gradable, _checker(answer, index, gradable)))
    return out


def _description(answer: ConvAnswer, index: int, shape: tuple[int, ...]) -> str:
    res = answer.results[index]
    what = "filter" if answer.ndim == 1 else "kernel"
    size = f"{shape[0]} values" if len(shape) == 1 else f"{shape[0]}×{shape[1]}"
    how = [f"padding {answer.padding_spec}"]
    if answer.stride != 1:
        how.append(f"stride {answer.stride}")
    if answer.dilation != 1:
        how.append(f"dilation {answer.dilation}")
    if answer.has_bias:
        how.append("with its bias")
    if answer.activation != "linear":
        how.append(f"through {answer.activation}")
    op = "convolution" if answer.mode == "convolve" else "cross-correlation"
    return (f"the output of {what} {index + 1} ({res.kernel.label}), {size}: {op}, "
            + ", ".join(how))


def _checker(answer: ConvAnswer, index: int, gradable: Gradable):
    def check(text: str) -> ValueCheck:
        chans = parse_channels(text, what="the value", max_cells=max(1_000, 4 * gradable.n_cells))
        n = gradable.n_cells
        if len(chans) > 1:
            return problem_check(gradable.key, text, gradable.literal, n, "shape",
                                 f"you wrote {len(chans)} matrices separated by '|'; the "
                                 "output of one kernel is one")
        cr = check_student(answer, index, chans[0])
        shown = shorten(text)
        if cr.correct:
            return ValueCheck(gradable.key, shown, gradable.literal, True, n, 0, None,
                              "Right." if n == 1 else f"All {n} values are right.")
        if tuple(cr.student_shape) != tuple(cr.expected_shape):
            first = cr.message.split(". ", 1)[0].rstrip(".") + "."
            return ValueCheck(gradable.key, shown, gradable.literal, False, n, n, cr.slip,
                              first, "shape")
        count = cr.message.split(". ", 1)[0]  # "3 of 9 values differ"
        whole = " (it gives every value you wrote)" if "reproduces every value" in cr.message \
            else ""
        detail = f": {cr.detail}" if cr.detail else ""
        return ValueCheck(gradable.key, shown, gradable.literal, False, n, cr.n_wrong, cr.slip,
                          f"{count}; most likely slip — {SLIPS[cr.slip]}{detail}{whole}.")

    return check
