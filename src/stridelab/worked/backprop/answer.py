"""The answer of ``stridelab backprop``: every step of gradient descent, and its JSON form."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from stridelab.errors import DataError
from stridelab.worked.answer import Answer
from stridelab.worked.backprop.check import BackpropCheck, check_answer
from stridelab.worked.backprop.engine import (
    Step,
    TooBig,
    Trace,
    arrays,
    as_float,
    check_finite,
    check_gradients,
    one_step,
)
from stridelab.worked.backprop.markdown import backprop_markdown
from stridelab.worked.backprop.spec import Layer, Spec, parse_spec
from stridelab.worked.numbers import all_exact, to_json


@dataclass
class BackpropAnswer(Answer):
    """The steps of gradient descent on ``spec``; see :class:`Step`.

    ``weights``/``biases`` are the final parameters as float64 arrays (W of shape
    (n_out, n_in)); ``output`` is the same as a list of ``{"W": array, "b": array or None}``,
    the layout ``--check`` reads. ``float_from`` is the first step computed in float64 because
    the exact fractions outgrew MAX_EXACT_DIGITS (None if none was).
    """

    spec: Spec
    steps: list[Step]
    float_from: int | None = None
    digits: int = 6  # significant digits of floats in to_markdown
    brief: bool = False  # to_markdown without the chain-rule lines
    full: bool = False  # to_markdown with the chain-rule lines of every step of a long run
    graph: str | None = None  # the compute-graph figure written, if any
    graph_step: int | None = None
    student_check: BackpropCheck | None = None

    @property
    def final(self) -> list[Layer]:
        return self.steps[-1].after

    @property
    def weights(self) -> list[np.ndarray]:
        return arrays(self.final)[0]

    @property
    def biases(self) -> list[np.ndarray | None]:
        return arrays(self.final)[1]

    @property
    def output(self) -> list[dict]:
        return [{"W": W, "b": b} for W, b in zip(*arrays(self.final))]

    @property
    def exact(self) -> bool:
        def vals(ly):
            return [v for row in ly.W for v in row] + (ly.b or [])

        return all(all_exact(vals(ly)) for s in self.steps for ly in s.after) and all(
            all_exact([t.loss]) for s in self.steps for t in s.traces
        )

    def check(self, student, tol: float | None = None) -> BackpropCheck:
        """Compare a student's updated parameters (``{"layers": [{"W":, "b":}, ...]}``, a
        file name or JSON text) with the computed ones; see :class:`BackpropCheck`."""
        return check_answer(self, student, tol)

    def _grading_targets(self) -> list:
        from stridelab.worked.backprop.grading import targets

        return targets(self)

    def to_markdown(self, digits: int | None = None, brief: bool | None = None) -> str:
        return backprop_markdown(self, self.digits if digits is None else digits,
                         self.brief if brief is None else brief)

    def to_dict(self) -> dict:
        return backprop_dict(self)


def solve(spec: Spec | dict) -> BackpropAnswer:
    """Run ``spec.steps`` passes of SGD (sequential) or full-batch gradient descent.

    Exact while every numerator and denominator stays within MAX_EXACT_DIGITS digits; from the
    first step that would outgrow it, float64 (``answer.float_from``).
    """
    if isinstance(spec, dict):
        spec = parse_spec(spec)
    layers = copy.deepcopy(spec.layers)
    steps: list[Step] = []
    float_from = None
    exact = True
    try:
        for epoch in range(1, spec.steps + 1):
            if spec.mode == "sequential":
                groups = [([p], n) for n, p in enumerate(spec.data, start=1)]
            else:
                groups = [(spec.data, None)]
            for points, n in groups:
                try:
                    step = one_step(layers, spec, points, epoch, n, guard=exact)
                except TooBig:
                    exact = False
                    float_from = len(steps) + 1
                    layers = as_float(layers)
                    step = one_step(layers, spec, points, epoch, n, guard=False)
                step.exact = exact
                check_finite(step, len(steps) + 1)
                step.check = check_gradients(layers, spec.loss, points, step.dW, step.db)
                steps.append(step)
                layers = step.after
    except (OverflowError, ZeroDivisionError):
        raise DataError(
            f"step {len(steps) + 1}: a value overflowed float64; the updates diverge, so use a "
            "smaller lr, smaller weights or fewer steps"
        ) from None
    return BackpropAnswer(spec, steps, float_from)



# ---------------------------------------------------------------- JSON


def _params_dict(layers: list[Layer]) -> dict:
    d = {}
    for l, ly in enumerate(layers, start=1):
        d[f"W{l}"] = to_json(ly.W)
        d[f"b{l}"] = to_json(ly.b)
    return d


def _trace_dict(t: Trace) -> dict:
    d = {"x": to_json(t.x), "y": to_json(t.y), "y_hat": to_json(t.y_hat), "loss": to_json(t.loss)}
    for l in range(len(t.z)):
        d[f"z{l + 1}"] = to_json(t.z[l])
        d[f"a{l + 1}"] = to_json(t.a[l + 1])
        d[f"delta{l + 1}"] = to_json(t.delta[l])
    return d


def backprop_dict(answer: BackpropAnswer) -> dict:
    spec = answer.spec
    steps = []
    for step in answer.steps:
        grads = {}
        for l in range(len(step.dW)):
            grads[f"W{l + 1}"] = to_json(step.dW[l])
            grads[f"b{l + 1}"] = to_json(step.db[l])
        if step.point is not None:
            t = step.traces[0]
            d = {"epoch": step.epoch, "point": step.point, **_trace_dict(t)}
        else:
            d = {
                "epoch": step.epoch,
                "point": None,
                "x": [to_json(t.x) for t in step.traces],
                "y": [to_json(t.y) for t in step.traces],
                "y_hat": [to_json(t.y_hat) for t in step.traces],
                "loss": to_json(step.loss),
                "per_point": [_trace_dict(t) for t in step.traces],
            }
        d["grads"] = grads
        d["params_after"] = _params_dict(step.after)
        d["check"] = step.check
        d["exact"] = step.exact
        steps.append(d)
    out = {
        "loss": spec.loss,
        "lr": to_json(spec.lr),
        "mode": spec.mode,
        "exact": answer.exact,
        "float_from_step": answer.float_from,
        "rounded_inputs": spec.rounded_inputs,
        "steps": steps,
        "final": {
            "layers": [
                {"W": to_json(ly.W), "b": to_json(ly.b), "activation": ly.activation}
                for ly in answer.final
            ]
        },
    }
    if answer.graph:
        out["graph"] = answer.graph
        out["graph_step"] = answer.graph_step
    if answer.student_check is not None:
        out["check"] = answer.student_check.to_dict()
    return out


def to_dict(answer: BackpropAnswer) -> dict:
    """The answer as plain JSON types (``answer.to_dict()``)."""
    return answer.to_dict()
