"""Gradient check: compare backward() with central differences in float64."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stridelab.core.tensor import Tensor, no_grad


@dataclass
class GradcheckResult:
    """Outcome of :func:`gradcheck`; true in a boolean context when every element passed.

    Attributes
    ----------
    ok : bool
        Every element of every input passed ``|analytic − numeric| <= atol + rtol·|numeric|``.
    input_index : int or None
        Position (in ``*inputs``) of the input with the worst element, None if there is none.
    index : tuple of int or None
        That element's index within the input.
    analytic, numeric : float or None
        The two derivatives at that element.
    max_abs_error : float
        The largest ``|analytic − numeric|`` over all elements.
    n_checked : int
        How many elements were compared.
    """

    ok: bool
    input_index: int | None
    index: tuple[int, ...] | None
    analytic: float | None
    numeric: float | None
    max_abs_error: float
    n_checked: int

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.input_index is None:
            return "gradcheck: nothing to check"
        verdict = "passed" if self.ok else "FAILED"
        return (
            f"gradcheck {verdict} on {self.n_checked} elements; worst: input {self.input_index}, "
            f"element {self.index}: analytic {self.analytic:.10g} vs numeric "
            f"{self.numeric:.10g} (max |error| {self.max_abs_error:.3g})"
        )


def gradcheck(fn: Callable[..., Tensor], *inputs, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0) -> GradcheckResult:
    """Check the gradients of ``fn`` with respect to every element of every input.

    The output is reduced to a scalar with a fixed random projection, ``L = Σ out ⊙ v``, so that
    every output element takes part. For each input element the analytic ``∂L/∂input`` from
    ``backward()`` is compared with the central difference
    ``(L(input + eps) − L(input − eps)) / (2·eps)``, all in float64.

    Parameters
    ----------
    fn : callable
        Takes one Tensor per input and returns a Tensor.
    *inputs : Tensor or array_like
        Points at which to check; copied to float64 (the originals are left alone).
    eps : float
        Finite-difference step.
    atol, rtol : float
        An element passes when ``|analytic − numeric| <= atol + rtol·|numeric|``.
    seed : int
        Seed of the projection ``v``.

    Returns
    -------
    GradcheckResult
        Says whether the check passed and which input and element were worst.
    """
    arrays = [np.array(t.data if isinstance(t, Tensor) else t, dtype=np.float64)
              for t in inputs]
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise ValueError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    v = np.random.default_rng(seed).standard_normal(out.shape)

    if out.requires_grad:
        (out * v).sum().backward()
    analytic = [np.zeros_like(a) if t.grad is None else t.grad
                for a, t in zip(arrays, tensors)]

    def loss() -> float:
        with no_grad():
            return float((fn(*tensors).data * v).sum())

    worst = None          # (excess over tolerance, input, index, analytic, numeric)
    max_abs_error, n_checked = 0.0, 0
    for k, (a, grad) in enumerate(zip(arrays, analytic)):
        for idx in np.ndindex(a.shape):
            original = a[idx]
            a[idx] = original + eps         # tensors[k].data is `a`: fn sees the change
            up = loss()
            a[idx] = original - eps
            down = loss()
            a[idx] = original
            numeric = (up - down) / (2 * eps)
            error = abs(grad[idx] - numeric)
            excess = error - (atol + rtol * abs(numeric))
            max_abs_error = max(max_abs_error, error)
            n_checked += 1
            if worst is None or excess > worst[0]:
                worst = (excess, k, idx, float(grad[idx]), numeric)
    if worst is None:
        return GradcheckResult(True, None, None, None, None, 0.0, 0)
    excess, k, idx, a_val, n_val = worst
    return GradcheckResult(bool(excess <= 0), k, tuple(int(i) for i in idx), a_val, n_val,
                           max_abs_error, n_checked)
