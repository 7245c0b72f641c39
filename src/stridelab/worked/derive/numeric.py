"""The numerical side of the derivations: autograd in float64, errors, and numbers shown."""

from __future__ import annotations

import math

import numpy as np

from stridelab.worked.equations import WIDTH, display_width, matrix_equations
from stridelab.worked.limits import MAX_EXACT_DIGITS
from stridelab.worked.numbers import (
    exact_digits,
    fmt,
    fmt_latex,
    is_exact,
    paren,
    to_exact_str,
)

MAX_EXACT_SOFTMAX = 6  # logits for which exact SymPy forms are written out
MAX_SHOWN = 12  # rows/columns written into the Markdown (all of them go to --json)


# ---------------------------------------------------------------- numeric helpers


def torch_module():
    import torch

    return torch


def tensor(a, grad: bool = False):
    torch = torch_module()
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def max_error(a, b) -> float:
    """max |a - b|; equal infinities count as agreement, a NaN as disagreement."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.where(a == b, 0.0, np.abs(a - b))
    d = np.where(np.isnan(d), np.inf, d)
    return float(np.max(d))


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def to_float(v) -> float:
    """float(v), with an overflow as ±inf (a Fraction beyond float64 raises instead)."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def float_array(a) -> np.ndarray:
    """Nested exact numbers -> float64 array (overflow to ±inf)."""
    if isinstance(a, (list, tuple)):
        return np.array([float_array(v) for v in a], dtype=np.float64)
    return np.float64(to_float(a))


def exact_fits(values) -> bool:
    """True when every exact number in ``values`` (nested) stays printable (MAX_EXACT_DIGITS)."""
    if isinstance(values, (list, tuple)):
        return all(exact_fits(v) for v in values)
    return is_exact(values) and exact_digits(values) <= MAX_EXACT_DIGITS


def check_result(details: list[tuple[str, float, float]], points: int, route: str) -> dict:
    """details: (quantity, max_abs_error, tolerance)."""
    return {
        "passed": all(e <= tol for _, e, tol in details),
        "max_abs_error": max(e for _, e, _ in details),
        "route": route,
        "points": points,
        "at": "random points",
        "details": [{"quantity": q, "max_abs_error": e, "tolerance": tol} for q, e, tol in details],
    }


def check_at_values(
    details: list[tuple[str, float, float]], route: str, at: str = "your values"
) -> dict:
    c = check_result(details, 1, route)
    c["at"] = at
    return c


# --- showing numbers


def num_latex(v) -> str:
    if is_exact(v) and exact_digits(v) > MAX_EXACT_DIGITS:
        v = to_float(v)
    return fmt_latex(v)


def num_text(v) -> str:
    if is_exact(v) and exact_digits(v) > MAX_EXACT_DIGITS:
        v = to_float(v)
    return fmt(v)


def _shown(v):
    """``v`` as it is written: a value too long to print exactly as float64."""
    return to_float(v) if is_exact(v) and exact_digits(v) > MAX_EXACT_DIGITS else v


def vec_latex(v: list) -> str:
    """A vector as ``(v_1, v_2, …)``, or as a column when that row would be too wide for a
    page; long vectors are cut after MAX_SHOWN values (every value is in --json)."""
    cells = [fmt_latex(_shown(x)) for x in v[:MAX_SHOWN]]
    if len(v) > MAX_SHOWN:
        cells.append(r"\dots")
    row = r"\left(" + ",\\ ".join(cells) + r"\right)"
    if len(cells) < 2 or display_width(row) <= WIDTH - 24:
        return row
    return r"\begin{pmatrix} " + r" \\ ".join(cells) + r" \end{pmatrix}"


def column_latex(v: list) -> str:
    """A column vector: ``(v_1, …)^\top``, or the column itself when the row is too wide."""
    row = vec_latex(v)
    return row if row.startswith(r"\begin") else row + r"^\top"


def vec_text(v: list) -> str:
    """A vector as plain text, ``(1, 2, 3)``, for a sentence (cut like :func:`vec_latex`)."""
    cells = [num_text(x) for x in v[:MAX_SHOWN]]
    return "(" + ", ".join(cells + (["…"] if len(v) > MAX_SHOWN else [])) + ")"


def mat_equations(name: str, m: list[list], relation: str = "=") -> list[str]:
    """``name = [m]`` as one equation, or several (blocks of columns) when it is too wide for a
    page; rows and columns after MAX_SHOWN are left out (every value is in --json)."""
    cells = [[fmt_latex(_shown(v)) for v in row[:MAX_SHOWN]] for row in m[:MAX_SHOWN]]
    eqs = matrix_equations(name, cells, relation=relation)
    if len(m) > MAX_SHOWN or (m and len(m[0]) > MAX_SHOWN):
        eqs[-1] += rf"\ (\text{{first }}{MAX_SHOWN}\times{MAX_SHOWN})"
    return eqs


def exact_json(v):
    """Exact strings for JSON when they stay printable, else None."""
    return to_exact_str(v) if exact_fits(v) else None


def products_latex(pairs: list[tuple[object, object]]) -> str:
    """``a_1\\cdot b_1 + a_2\\cdot b_2 + …`` for (coefficient, value) pairs."""
    if not pairs:
        return "0"
    return " + ".join(f"{paren(num_latex(a))}\\cdot {paren(num_latex(b))}" for a, b in pairs)


def batched_matvec(A, v):
    """Batched matrix–vector product: A (P, n, d), v (P, d) -> (P, n)."""
    return (A @ v[..., None])[..., 0]
