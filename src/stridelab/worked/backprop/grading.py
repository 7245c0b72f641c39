"""What a sheet grades in a ``backprop`` answer: the parameters, gradients and δs, entry by entry.

- ``W1``, ``b1``, ``W2`` … : the parameters after the last update (what ``--check`` compares);
- ``dW1``, ``db1`` … and ``delta1``, ``delta2`` … : the gradients the first update applied (the
  batch mean in batch mode) and the δ = ∂L/∂z of each layer in it (``delta1.2``: point 2 of a
  batch);
- with several updates (sequential data, several epochs), for each of the first
  ``MAX_GRADED_STEPS``: the parameters after update k (``step.k.W1``, but the last, which is
  ``W1``) and the gradients and δs of update k from the second on (``step.k.dW1``,
  ``step.k.delta1``).

An entry counts as right as in ``--check``: within one unit of its last written decimal, at
least the fourth. A wrong value is matched against the same run computed with each slip of
:data:`~stridelab.worked.backprop.check.SLIPS` (the sign of the step, the learning rate, the
new weights, σ′, the ½, the 1/K, the batch mean; for a gradient or δ also its sign).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stridelab.worked.backprop.check import SLIPS, _slips_for, _tolerance, slip_steps
from stridelab.worked.grading import Gradable, Slip, Target, numeric_target
from stridelab.worked.numbers import Number, answer_literal, normalize

if TYPE_CHECKING:
    from stridelab.worked.backprop.answer import BackpropAnswer

# updates whose parameters, gradients and δs are graded one by one (the rest: the final ones)
MAX_GRADED_STEPS = 10


def _judge(student: Number, right: Number) -> bool:
    c = float(right)
    return abs(float(student) - c) <= _tolerance(student, c, None)


def _literal(values, matrix: bool) -> str:
    if matrix:
        return "; ".join(" ".join(answer_literal(v, min_places=4) for v in row) for row in values)
    return " ".join(answer_literal(v, min_places=4) for v in values)


def targets(answer: BackpropAnswer) -> list[Target]:
    """The gradable values of a run, in the order of the module docstring."""
    spec, steps = answer.spec, answer.steps
    S = len(steps)
    runs: dict = {}

    def run(slip: str) -> list:
        if slip not in runs:
            runs[slip] = slip_steps(spec, slip)
        return runs[slip]

    names = _slips_for(spec)

    def make(key: str, values, matrix: bool, description: str, pick, gradient: bool) -> Target:
        flat = [v for row in values for v in row] if matrix else list(values)
        shape = (len(values), len(values[0])) if matrix else (len(values),)

        def slips() -> list[Slip]:
            found = []
            for name in names:
                got = pick(run(name))
                if got is not None:
                    found.append(Slip(name, SLIPS[name], tuple(float(v) for v in got.ravel())))
            if gradient:
                found.append(Slip("grad_sign", SLIPS["grad_sign"],
                                  tuple(normalize(-v) for v in flat)))
            return found

        gradable = Gradable(key, "matrix" if matrix else "vector", _literal(values, matrix),
                            description, len(flat))
        return numeric_target(gradable, flat, shape, judge=_judge, slips=slips, generic=())

    out = []
    last = "after the update" if S == 1 else f"after all {S} updates"
    for l, ly in enumerate(answer.final, start=1):
        out.append(make(f"W{l}", ly.W, True, f"W{l} {last}: {len(ly.W)}×{len(ly.W[0])}, row i "
                        f"the weights into unit i of layer {l}",
                        lambda r, l=l: r[-1].params[l - 1][0], False))
        if ly.b is not None:
            out.append(make(f"b{l}", ly.b, False, f"b{l} {last}: {len(ly.b)} values",
                            lambda r, l=l: r[-1].params[l - 1][1], False))
    shown = min(S, MAX_GRADED_STEPS)
    for k in range(1, shown + 1):
        step = steps[k - 1]
        pre = "" if k == 1 else f"step.{k}."
        which = "the first update" if k == 1 else f"update {k}"
        if k < S:
            for l, ly in enumerate(step.after, start=1):
                out.append(make(f"step.{k}.W{l}", ly.W, True, f"W{l} after {which}",
                                lambda r, k=k, l=l: r[k - 1].params[l - 1][0], False))
                if ly.b is not None:
                    out.append(make(f"step.{k}.b{l}", ly.b, False, f"b{l} after {which}",
                                    lambda r, k=k, l=l: r[k - 1].params[l - 1][1], False))
        mean = (f" (the mean over its {len(step.traces)} points)" if len(step.traces) > 1
                else "")
        for l in range(1, len(step.dW) + 1):
            out.append(make(f"{pre}dW{l}", step.dW[l - 1], True,
                            f"∂L/∂W{l} in {which}{mean}",
                            lambda r, k=k, l=l: r[k - 1].grads[l - 1][0], True))
            if step.db[l - 1] is not None:
                out.append(make(f"{pre}db{l}", step.db[l - 1], False,
                                f"∂L/∂b{l} in {which}{mean}",
                                lambda r, k=k, l=l: r[k - 1].grads[l - 1][1], True))
        for p, trace in enumerate(step.traces, start=1):
            at = f".{p}" if len(step.traces) > 1 else ""
            point = f", data point {p} of the batch" if at else ""
            for l in range(1, len(trace.delta) + 1):
                out.append(make(f"{pre}delta{l}{at}", trace.delta[l - 1], False,
                                f"δ{l} = ∂L/∂z{l} in {which}{point}",
                                lambda r, k=k, l=l, p=p: r[k - 1].deltas[p - 1][l - 1], True))
    return out
