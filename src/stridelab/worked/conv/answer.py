"""The answer of ``stridelab conv`` on typed values, and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from stridelab.errors import ConfigError
from stridelab.worked.answer import Answer
from stridelab.worked.conv.check import CheckResult, check_student
from stridelab.worked.conv.compute import KernelResult, nest
from stridelab.worked.conv.markdown import conv_markdown
from stridelab.worked.numbers import Matrix, all_exact, normalize, plural, to_exact_str, to_json

if TYPE_CHECKING:
    from stridelab.worked.conv.image import ImageAnswer

# ---------------------------------------------------------------- the answer


@dataclass
class ConvAnswer(Answer):
    """Everything a model answer shows: ``to_markdown``, ``to_dict``, ``output``, ``check``.

    ``X`` is (C, H, W) exact numbers; a 1-D input is kept as (C, 1, L) with ``ndim = 1``.
    """

    X: list[Matrix]  # (C, H, W)
    padding_spec: str
    stride: int
    dilation: int
    mode: str
    results: list[KernelResult]
    explain: list[tuple[int, int]] | str | None  # 0-based cells, "all", or None
    one_based: bool = False
    ndim: int = 2  # 1: a vector (or channels of one), written with z_k, w_m, x_{k+m}
    activation: str = "linear"
    layer: bool = False  # a bias was given or the activation is not linear
    channels_first: bool = False
    has_bias: bool = False  # --bias was given: the formulas write "+ b"
    digits: int = 6  # significant digits of non-exact numbers in to_markdown
    figure: str | None = None
    student_checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (len(self.X), len(self.X[0]), len(self.X[0][0]))

    @property
    def outputs(self) -> list[np.ndarray]:
        """One float64 array per kernel: (H', W'), or (L',) for a 1-D input."""
        arrs = [np.array(r.output, dtype=np.float64) for r in self.results]
        return [a[0] for a in arrs] if self.ndim == 1 else arrs

    @property
    def output(self) -> np.ndarray | list[np.ndarray]:
        """The result a = sigma(z) as float64: (F, H', W') for 2-D, (F, L') for 1-D input.

        Kernels of different sizes give outputs of different sizes: then a list of F arrays.
        """
        arrs = self.outputs
        if len({a.shape for a in arrs}) == 1:
            return np.stack(arrs)
        return arrs

    def to_markdown(self, digits: int | None = None) -> str:
        """The model answer as Markdown with LaTeX."""
        return conv_markdown(self, self.digits if digits is None else digits)

    def to_dict(self) -> dict:
        """The machine-readable answer (exact integers stay integers)."""
        return conv_dict(self)

    def check(self, student, kernel: int = 0) -> CheckResult:
        """Compare a student's result for kernel ``kernel`` (0-based) with the right one.

        ``student`` is a matrix literal (``"8 5 -8; 19 5 -19; 22 -1 -22"``), a file name, or
        nested lists / an array; for a 1-D input a vector. See :class:`CheckResult`.
        """
        if not 0 <= kernel < len(self.results):
            raise ConfigError(
                f"--check {kernel + 1} has no kernel to compare with: there "
                f"{'is' if len(self.results) == 1 else 'are'} "
                f"{plural(len(self.results), 'kernel')}"
            )
        return check_student(self, kernel, student)

    def _grading_targets(self) -> list:
        from stridelab.worked.conv.grading import targets

        return targets(self)


# ---------------------------------------------------------------- JSON


def _vector_form(answer: ConvAnswer, m):
    """A (C, 1, L) or (1, L) nested list as the user sees it in 1-D: (L,) or (C, L)."""
    if answer.ndim != 1:
        return m
    if m and isinstance(m[0], list) and m[0] and isinstance(m[0][0], list):
        return [ch[0] for ch in m] if len(m) > 1 else m[0][0]
    return m[0]


def conv_dict(answer: ConvAnswer) -> dict:
    C = answer.input_shape[0]
    padding: str | int = answer.padding_spec
    if isinstance(padding, str) and padding.isdigit():
        padding = int(padding)
    one_d = answer.ndim == 1
    d = {
        "input": to_json(_vector_form(answer, answer.X) if one_d else nest(answer.X, C)),
        "ndim": answer.ndim,
        "padding": padding,
        "stride": answer.stride,
        "dilation": answer.dilation,
        "mode": answer.mode,
        "activation": answer.activation,
        "index_base": 1 if answer.one_based else 0,
        "results": [],
    }
    for res in answer.results:
        k = res.kernel
        weights = _vector_form(answer, k.weights) if one_d else nest(k.weights, C)
        out_m = res.output[0] if one_d else res.output
        r = {
            "kernel": k.name,
            "weights": to_json(weights),
            "output": to_json(out_m),
            "output_shape": [res.output_shape[1]] if one_d else list(res.output_shape),
            "padding": {
                "top": res.padding.top,
                "bottom": res.padding.bottom,
                "left": res.padding.left,
                "right": res.padding.right,
            },
        }
        if k.alias:
            r["alias"] = k.alias
        if k.description:
            r["description"] = k.description
        if answer.has_bias:
            r["bias"] = to_json(res.bias)
        if answer.activation != "linear":
            r["pre_activation"] = to_json(res.z[0] if one_d else res.z)
        if k.scale != 1:
            r["scale"] = f"{k.scale.numerator}/{k.scale.denominator}"
            r["table"] = to_json(nest([[list(row) for row in ch] for ch in k.table], C))
        exact = all_exact(res.output)
        if exact and any(isinstance(normalize(v), Fraction) for row in res.output for v in row):
            r["output_exact"] = to_exact_str(out_m)
        r["exact"] = exact
        if answer.explain is not None:
            cells = sorted(res.cells) if answer.explain == "all" else answer.explain
            base = 1 if answer.one_based else 0
            r["explain"] = [
                {
                    "cell": [j + base] if one_d else [i + base, j + base],
                    "terms": [
                        [
                            {"weight": to_json(w), "input": to_json(x), "padding": p}
                            for w, x, p in ch
                        ]
                        for ch in res.cells[(i, j)].terms
                    ],
                    "value": to_json(res.cells[(i, j)].value),
                    **({"z": to_json(res.cells[(i, j)].z)} if answer.layer else {}),
                }
                for i, j in cells
            ]
        r["check"] = res.checks
        d["results"].append(r)
    if answer.notes:
        d["notes"] = list(answer.notes)
    if answer.student_checks:
        d["student_check"] = [cr.to_dict() for cr in answer.student_checks]
    if answer.figure:
        d["figure"] = answer.figure
    return d



def to_dict(answer: ConvAnswer | ImageAnswer) -> dict:
    """The machine-readable answer (the same as ``answer.to_dict()``)."""
    return answer.to_dict()


def to_markdown(answer: ConvAnswer | ImageAnswer, digits: int = 6) -> str:
    """The model answer as Markdown with LaTeX (the same as ``answer.to_markdown(digits)``)."""
    return answer.to_markdown(digits)
