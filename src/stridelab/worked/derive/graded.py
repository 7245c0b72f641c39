"""The numbers a derive topic grades when it is given values, and the slips that explain them.

Each function takes a :class:`~stridelab.worked.derive.answer.Derivation` and returns its
numeric :class:`~stridelab.worked.grading.Target` list; a topic names its function in its
``@topic(values=…)`` registration. The right value is exact where the topic computed it
exactly (``80/647``: a fraction must be that fraction, a decimal that fraction rounded to the
places written) and a float otherwise (a decimal is judged by the places written, a closed
form such as ``-log(3/10)`` by its value). A wrong value is matched against the same numbers
computed with each known slip: the ``1/n`` of ridge's mean or scikit-learn's ``α = nλ``, σ′
kept where cross-entropy cancels it, the filter not flipped in ∂J/∂x, a logarithm to base 10 …
and, for every value, the sign and a constant factor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from stridelab.worked.derive.formulas import constant_value
from stridelab.worked.grading import Gradable, Slip, Target, numeric_target
from stridelab.worked.numbers import answer_literal, parse_number
from stridelab.worked.values import depth

__all__ = [
    "conv_layer",
    "cross_entropy_minimum",
    "cross_entropy_swapped",
    "ridge",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "softmax_jacobian",
    "softmax_name",
]

_KINDS = {0: "number", 1: "vector", 2: "matrix", 3: "matrices"}
_LN10 = math.log(10.0)


# ---------------------------------------------------------------- helpers


def _exact(v):
    """A number from a Derivation's ``exact``/``inputs`` (``"41/91"``, 3): exact, nesting kept;
    None when one is not a plain rational (a SymPy form such as ``exp(-2)/S``)."""
    if isinstance(v, (list, tuple)):
        out = [_exact(x) for x in v]
        return None if any(x is None for x in out) else out
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, Fraction)):
        return v
    try:
        return parse_number(str(v))
    except Exception:  # noqa: BLE001 - not a rational literal: the float is used instead
        return None


def _array(v) -> np.ndarray:
    return np.array(v, dtype=np.float64) if not isinstance(v, np.ndarray) else v.astype(float)


def _right(d, name: str):
    """The right value of ``name``: exact when the topic kept it exactly, else its floats."""
    exact = _exact(d.exact.get(name)) if name in d.exact else None
    return exact if exact is not None else np.asarray(d.values[name]).tolist()


def _flat(v) -> list:
    return [x for item in v for x in _flat(item)] if isinstance(v, (list, tuple)) else [v]


def _literal(v, kind: str) -> str:
    if kind == "number":
        return answer_literal(v)
    if kind == "vector":
        return " ".join(answer_literal(x) for x in v)
    if kind == "matrix":
        return "; ".join(_literal(row, "vector") for row in v)
    return " | ".join(_literal(ch, "matrix") for ch in v)


def _shape(v) -> tuple[int, ...]:
    return tuple(np.shape(np.asarray(v, dtype=object)))


def target(key: str, value, description: str,
           slips: Callable[[], list[tuple[str, str, object]]] | None = None) -> Target:
    """A numeric target: ``value`` (a number, vector, matrix or matrices) and its slips,
    (key, what it was, the value it gives) computed when a value is first wrong."""
    kind = _KINDS[depth(value)]
    flat = _flat(value)
    shape = _shape(value)

    def alternatives() -> list[Slip]:
        out = []
        for skey, what, got in (slips() if slips else []):
            cells = np.asarray(got, dtype=np.float64).ravel()
            if cells.size == len(flat) and np.all(np.isfinite(cells)):
                out.append(Slip(skey, what, tuple(float(c) for c in cells)))
        return out

    gradable = Gradable(key, kind, _literal(value, kind), description, len(flat))
    return numeric_target(gradable, flat, shape, slips=alternatives, fallback=constant_value)


def _one_or_all(v: np.ndarray):
    """A per-example array as the student writes it: one number for one example."""
    v = np.asarray(v, dtype=np.float64)
    return float(v.ravel()[0]) if v.size == 1 else v.tolist()


def _log_base(v, what: str = "the logarithms were taken to base 10, not the natural ln"):
    return ("log_base", what, np.asarray(v, dtype=np.float64) / _LN10)


# ---------------------------------------------------------------- softmax


def _softmax_slips(z: np.ndarray) -> list:
    out = []
    with np.errstate(all="ignore"):
        out.append(("unnormalised", "e^{z_k} was not divided by the sum S = Σ_j e^{z_j}",
                    np.exp(z)))
        if abs(z.sum()) > 1e-12:
            out.append(("linear", "the scores were divided by their sum, z_k/Σ_j z_j, without "
                        "the exponential", z / z.sum()))
    return out


def softmax_jacobian(d) -> list[Target]:
    if "jacobian" not in d.values:
        return []
    z = _array(_exact(d.inputs["z"]))
    p = np.asarray(d.values["y_hat"], dtype=np.float64)
    J = np.asarray(d.values["jacobian"], dtype=np.float64)

    def jac_slips():
        off = ~np.eye(len(p), dtype=bool)
        return [
            ("offdiag_sign", "the off-diagonal entries have the wrong sign: ∂ŷ_i/∂z_j = "
             "−ŷ_i ŷ_j for i ≠ j", np.where(off, -J, J)),
            ("diagonal_only", "only the diagonal ŷ_i(1 − ŷ_i) was kept: ŷ_i depends on every "
             "z_j through S", np.diag(p * (1 - p))),
            ("outer_only", "the diagonal term was left out: J = diag(ŷ) − ŷŷᵀ", -np.outer(p, p)),
        ]

    return [
        target("y_hat", p.tolist(), f"ŷ = softmax(z) for your {len(p)} logits",
               lambda: _softmax_slips(z)),
        target("jacobian", J.tolist(), f"the Jacobian J_ij = ∂ŷ_i/∂z_j ({len(p)}×{len(p)})",
               jac_slips),
    ]


def softmax_cross_entropy(d) -> list[Target]:
    if "grad" not in d.values:
        return []
    z, y = _array(_exact(d.inputs["z"])), _array(_exact(d.inputs["y"]))
    p = np.asarray(d.values["y_hat"], dtype=np.float64)
    g = np.asarray(d.values["grad"], dtype=np.float64)
    L = float(d.values["loss"])

    def grad_slips():
        with np.errstate(all="ignore"):
            out = [
                ("fprime_kept", "the softmax derivative ŷ(1 − ŷ) was kept: it cancels against "
                 "∂L/∂ŷ, leaving ŷ − y", (p - y) * p * (1 - p)),
                ("dL_dyhat", "this is ∂L/∂ŷ = −y/ŷ: the chain rule through the softmax is "
                 "missing", np.where(y == 0, 0.0, -y / p)),
            ]
        if abs(y.sum() - 1) > 1e-12:
            out.append(("targets_sum", f"ŷ − y holds only when the targets sum to 1; yours "
                        f"sum to {y.sum():g}, so ∂L/∂z = (Σ_k y_k) ŷ − y", p - y))
        return out

    out = [
        target("y_hat", p.tolist(), f"ŷ = softmax(z) for your {len(p)} logits",
               lambda: _softmax_slips(z)),
        target("dL_dz", g.tolist(), "∂L/∂z for L = −Σ_k y_k ln ŷ_k", grad_slips),
    ]
    if math.isfinite(L):
        out.append(target("loss", L, "the cross-entropy L = −Σ_k y_k ln ŷ_k",
                          lambda: [_log_base(L)]))
    return out


def softmax_name(d) -> list[Target]:
    c = list(np.asarray(d.values["c"], dtype=np.float64))
    if 1.0 not in c:
        return []
    i = c.index(1.0)
    z = _array(_exact(d.inputs["z"]))
    p = np.asarray(d.values["softmax"], dtype=np.float64)[i]
    lse = float(np.asarray(d.values["logsumexp"], dtype=np.float64)[i])
    return [
        target("y_hat", p.tolist(), f"softmax(z) for z = ({', '.join(f'{v:g}' for v in z)}), "
               "c = 1", lambda: _softmax_slips(z)),
        target("logsumexp", lse, "the smooth maximum ln Σ_j e^{z_j} (c = 1)",
               lambda: [("hard_max", "this is the hard maximum max_k z_k, not ln Σ_j e^{z_j}",
                         float(z.max())), _log_base(lse)]),
    ]


# ---------------------------------------------------------------- cross-entropy


def sigmoid_cross_entropy(d) -> list[Target]:
    if "delta" not in d.values:
        return []
    y = _array(_exact(d.inputs["y"]))
    a = np.asarray(d.values["a"], dtype=np.float64)
    delta = np.asarray(d.values["delta"], dtype=np.float64)
    loss = np.asarray(d.values["loss"], dtype=np.float64)

    def delta_slips():
        with np.errstate(all="ignore"):
            return [
                ("fprime_kept", "σ′(z) = a(1 − a) was kept: with cross-entropy it cancels, "
                 "leaving δ = a − y", (a - y) * a * (1 - a)),
                ("dL_da", "this is ∂L/∂a = (a − y)/(a(1 − a)): the chain rule through σ is "
                 "missing", (a - y) / (a * (1 - a))),
            ]

    each = "" if a.size == 1 else " (one per example)"
    out = [target("a", _one_or_all(a), f"a = σ(z){each}"),
           target("delta", _one_or_all(delta), f"δ = ∂L/∂z{each}", delta_slips)]
    if np.all(np.isfinite(loss)):
        out.append(target("loss", _one_or_all(loss), f"the binary cross-entropy L{each}",
                          lambda: [_log_base(_one_or_all(loss))]))
    return out


def cross_entropy_minimum(d) -> list[Target]:
    if "a_star" not in d.values:
        return []
    y = _exact(d.inputs["y"])
    yf = _array(y)
    z_star = np.asarray(d.values["z_star"], dtype=np.float64)
    H = np.asarray(d.values["c_min"], dtype=np.float64)
    each = "" if yf.size == 1 else " (one per input)"
    out = [target("a_star", y[0] if len(y) == 1 else y,
                  f"the output a* = σ(z*) where the cost is least{each}")]
    if np.all(np.isfinite(z_star)):
        def z_slips():
            with np.errstate(all="ignore"):
                return [_log_base(_one_or_all(z_star), "the logarithm was taken to base 10: "
                                  "z* = ln(y/(1 − y))")]

        out.append(target("z_star", _one_or_all(z_star),
                          f"the pre-activation z* = ln(y/(1 − y)) of the minimum{each}", z_slips))
    out.append(target("c_min", _one_or_all(H), f"the least cost −[y ln y + (1 − y) ln(1 − y)]"
                      f"{each}", lambda: [_log_base(_one_or_all(H))]))
    if yf.size > 1:
        m = float(d.values["c_min_mean"])
        out.append(target("c_min_mean", m, "the least mean cost over the inputs",
                          lambda: [("sum", "the terms were summed, not averaged: the 1/n of "
                                    "the mean is missing", m * yf.size)]))
    return out


def cross_entropy_swapped(d) -> list[Target]:
    if "usual" not in d.values:
        return []
    a = float(_array(_exact(d.inputs["a"])))
    usual = np.asarray(d.values["usual"], dtype=np.float64)
    swap = ("swapped_targets", "the two targets were swapped: −ln a is the cost at y = 1, "
            "−ln(1 − a) at y = 0")
    return [
        target("C_y0", float(usual[0]), f"the usual cost C at y = 0 for a = {a:g}",
               lambda: [(*swap, -math.log(a)), _log_base(usual[0])]),
        target("C_y1", float(usual[1]), f"the usual cost C at y = 1 for a = {a:g}",
               lambda: [(*swap, -math.log(1 - a)), _log_base(usual[1])]),
    ]


# ---------------------------------------------------------------- ridge


def ridge(d) -> list[Target]:
    if "w" not in d.values:
        return []
    X, y, lam = (_exact(d.inputs[k]) for k in ("X", "y", "lam"))
    if X is None or y is None or lam is None:  # values too long to keep: no slips to compute
        return [target("w_star", _right(d, "w"), "the minimiser w*")]
    n = len(X)
    Xf, yf = _array(X), _array(y)
    lamf = float(_array(lam))
    nf = Xf.shape[1]

    def solve(penalty: float):
        try:
            return np.linalg.solve(Xf.T @ Xf + penalty * np.eye(nf), Xf.T @ yf)
        except np.linalg.LinAlgError:
            return np.full(nf, np.nan)

    def w_slips():
        return [
            ("missing_n", "(XᵀX + λI)⁻¹Xᵀy minimises the sum ‖Xw − y‖² + λ‖w‖²: the 1/n of "
             "the mean was dropped, so λ stands where nλ (scikit-learn's α) belongs",
             solve(lamf)),
            ("alpha_twice", "nλ was multiplied by n once more (α = nλ put where λ goes)",
             solve(n * n * lamf)),
            ("no_penalty", "the penalty was left out: the least-squares solution",
             solve(0.0)),
            ("half_penalty", "the 2 from ∂‖w‖²/∂w = 2w was dropped: nλ/2 stands for nλ",
             solve(n * lamf / 2)),
            ("double_penalty", "the 2 from the squared error was dropped: 2nλ stands for nλ",
             solve(2 * n * lamf)),
        ]

    alpha = n * lam if isinstance(lam, (int, Fraction)) else n * lamf
    out = [target("w_star", _right(d, "w"), f"the minimiser w* ({nf} weights)", w_slips),
           target("loss", _right(d, "loss"), "the least value J(w*) of the regularised MSE")]
    out.append(target("sklearn_alpha", alpha, "scikit-learn's α for the same minimiser",
                      lambda: [("missing_n", "α is nλ: the n of the mean is missing", lamf),
                               ("divided", "α is nλ, not λ/n", lamf / n)]))
    return out


# ---------------------------------------------------------------- convolutional layers


def _conv_forward(x, w, b, s):
    """z (Ho, Wo) of one filter: x (C, H, W), w (C, KH, KW), stride s (float64)."""
    C, H, W = x.shape
    _, KH, KW = w.shape
    Ho, Wo = (H - KH) // s + 1, (W - KW) // s + 1
    z = np.full((Ho, Wo), float(b))
    for m in range(KH):
        for q in range(KW):
            z += np.einsum("c,chw->hw", w[:, m, q],
                           x[:, m: m + s * (Ho - 1) + 1: s, q: q + s * (Wo - 1) + 1: s])
    return z


def _conv_backward(x, w, delta, s, *, flip_w: bool = False, flip_delta: bool = False):
    """(∂J/∂w, ∂J/∂b, ∂J/∂x) from δ (Ho, Wo); ``flip_delta``: the correlation done as a
    convolution; ``flip_w``: the filter not flipped in the full convolution for ∂J/∂x."""
    C, H, W = x.shape
    _, KH, KW = w.shape
    Ho, Wo = delta.shape
    dd = delta[::-1, ::-1] if flip_delta else delta
    wf = w[:, ::-1, ::-1] if flip_w else w
    dw = np.zeros_like(w, dtype=np.float64)
    dx = np.zeros_like(x, dtype=np.float64)
    for m in range(KH):
        for q in range(KW):
            win = (slice(None), slice(m, m + s * (Ho - 1) + 1, s), slice(q, q + s * (Wo - 1) + 1, s))
            dw[:, m, q] = np.einsum("hw,chw->c", dd, x[win])
            dx[win] += wf[:, m, q][:, None, None] * delta[None]
    return dw, float(delta.sum()), dx


def conv_layer(d, one_d: bool) -> list[Target]:
    """The numbers of a conv1d/conv2d topic with values: z (and a), then, with targets y,
    J, ∂J/∂z, ∂J/∂w, ∂J/∂b and ∂J/∂x (a filter or input of one channel as one vector or
    matrix, of several as one row or matrix per channel)."""
    if "z" not in d.values:
        return []
    inp = d.inputs
    x, w, b = _exact(inp.get("x")), _exact(inp.get("w")), _exact(inp.get("b"))
    s, act = int(inp["stride"]), inp["activation"]
    known = x is not None and w is not None and b is not None
    xf = (_array(x)[:, None, :] if one_d else _array(x)) if known else None  # (C, H, W)
    wf = (_array(w)[:, None, :] if one_d else _array(w)) if known else None  # (C, KH, KW)
    act_f = {"sigmoid": lambda u: 1 / (1 + np.exp(-u)), "tanh": np.tanh}.get(act, lambda u: u)
    zf = np.asarray(d.values["z"], dtype=np.float64)
    grid = (1, zf.size) if one_d else zf.shape  # (Ho, Wo)

    def z_slips():
        if not known:
            return []
        with np.errstate(all="ignore"):
            out = [("flipped", "the filter was flipped: a convolution, not the layer's "
                    "cross-correlation", _conv_forward(xf, wf[:, ::-1, ::-1], float(b), s))]
            if float(b) != 0:
                out.append(("bias", "the bias b was left out", _conv_forward(xf, wf, 0.0, s)))
        return out

    def a_slips():
        return [("activation", f"{act} was not applied: these are the z values", zf)] + [
            (k, m, act_f(v)) for k, m, v in z_slips()]

    out = [target("z", _right(d, "z"), "the layer's output z before σ, one value per position",
                  z_slips)]
    if act != "linear":
        out.append(target("a", np.asarray(d.values["a"]).tolist(), f"a = {act}(z)", a_slips))
    if "dJ_dz" not in d.values:
        return out
    yf = _array(_exact(inp["y"])).reshape(grid)
    af = act_f(zf.reshape(grid))
    K = yf.size
    dz = np.asarray(d.values["dJ_dz"], dtype=np.float64).reshape(grid)
    deltas = [("sign", "the sign of ∂J/∂z: (2/K)(y − a) instead of (2/K)(a − y)", -dz),
              ("mean_k", "the 1/K of the mean J = (1/K)Σ(y − a)² was dropped", dz * K),
              ("half", "the 2 from the square was dropped: (1/K)(a − y)", dz / 2)]
    if act != "linear":
        deltas.append(("fprime", "σ′(z) was left out of ∂J/∂z", 2.0 / K * (af - yf)))

    def grads(which: int):  # 0: ∂J/∂w, 1: ∂J/∂b, 2: ∂J/∂x
        def slips():
            if not known:
                return []
            found = []
            with np.errstate(all="ignore"):
                # the operation first: for a filter such as (1, 0, −1) flipping it is the
                # same as a sign, and the operation is what the sheet asks about
                if which == 0:
                    found.append(("flipped", "∂J/∂w is the cross-correlation of x with ∂J/∂z; "
                                  "this is the convolution (∂J/∂z flipped)",
                                  _conv_backward(xf, wf, dz, s, flip_delta=True)[0]))
                if which == 2:
                    found.append(("flipped", "∂J/∂x is the full convolution of ∂J/∂z with the "
                                  "filter; this is the correlation (the filter not flipped)",
                                  _conv_backward(xf, wf, dz, s, flip_w=True)[2]))
                found += [(k, m, _conv_backward(xf, wf, dv, s)[which]) for k, m, dv in deltas]
            return found
        return slips

    def per_channel(name: str):  # (C, …): one channel as itself, several as a list
        v = _right(d, name)
        return v[0] if len(v) == 1 else v

    J = _right(d, "J")
    out += [
        target("J", J, "the cost J = (1/K) Σ_k (y_k − a_k)²",
               lambda: [("mean_k", "the 1/K of the mean was dropped", float(J) * K)]),
        target("dJ_dz", _right(d, "dJ_dz"), "∂J/∂z, one value per output", lambda: deltas),
        target("dJ_dw", per_channel("dJ_dw"), "∂J/∂w, the shape of the filter", grads(0)),
        target("dJ_db", _right(d, "dJ_db"), "∂J/∂b", grads(1)),
        target("dJ_dx", per_channel("dJ_dx"), "∂J/∂x, the shape of the input", grads(2)),
    ]
    return out
