"""Forward and backward passes in exact arithmetic, the autograd check, and the update steps."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from stridelab.errors import DataError
from stridelab.worked.backprop.spec import Layer, Spec, too_big
from stridelab.worked.numbers import Number, all_exact, normalize

# ---------------------------------------------------------------- forward and backward


class TooBig(Exception):
    """An exact value outgrew MAX_EXACT_DIGITS: the step is redone in float64."""


def _guard(values, guard: bool) -> None:
    if guard and any(too_big(v) for v in values):
        raise TooBig


def _sigmoid(z: Number) -> Number:
    if z == 0:
        return Fraction(1, 2)
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def activate(name: str, z: list[Number]) -> list[Number]:
    """a = f(z) for one layer; exact where f keeps rationals rational."""
    if name == "linear":
        return list(z)
    if name == "relu":
        return [v if v > 0 else 0 for v in z]
    if name == "sigmoid":
        return [_sigmoid(v) for v in z]
    if name == "tanh":
        return [0 if v == 0 else math.tanh(v) for v in z]
    if all(v == z[0] for v in z):  # softmax of equal logits is exactly uniform
        return [Fraction(1, len(z))] * len(z)
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


def activation_grad(name: str, z: Number, a: Number) -> Number:
    """f'(z) for an element-wise activation (relu'(0) = 0, as in PyTorch and the engine)."""
    if name == "linear":
        return 1
    if name == "relu":
        return 1 if z > 0 else 0
    if name == "sigmoid":
        return normalize(a * (1 - a))
    if name == "tanh":
        return normalize(1 - a * a)
    raise ValueError(name)


def loss_value(name: str, y_hat: list[Number], y: list[Number]) -> Number:
    K = len(y)
    if name == "sse_half":
        return normalize(Fraction(1, 2) * sum((p - t) ** 2 for p, t in zip(y_hat, y)))
    if name == "mse":
        return normalize(Fraction(1, K) * sum((p - t) ** 2 for p, t in zip(y_hat, y)))
    if name == "cross_entropy":
        terms = [(t, p) for p, t in zip(y_hat, y) if t != 0]
        if any(p <= 0 for _, p in terms):
            raise DataError("cross_entropy: a predicted probability is 0 where the target is not")
        return -sum(t * math.log(p) for t, p in terms)
    total = 0.0
    for p, t in zip(y_hat, y):
        if (t != 0 and p <= 0) or (t != 1 and p >= 1):
            raise DataError(
                "binary_cross_entropy: an output is 0 or 1 where the target is not; "
                "use sigmoid outputs (or smaller weights)"
            )
        total -= (t * math.log(p) if t != 0 else 0) + ((1 - t) * math.log(1 - p) if t != 1 else 0)
    return total


def loss_grad(name: str, y_hat: list[Number], y: list[Number]) -> list[Number]:
    """dL/dy_hat for one data point."""
    K = len(y)
    if name == "sse_half":
        return [normalize(p - t) for p, t in zip(y_hat, y)]
    if name == "mse":
        return [normalize(Fraction(2, K) * (p - t)) for p, t in zip(y_hat, y)]
    if name == "cross_entropy":
        return [0 if t == 0 else normalize(-t / p) for p, t in zip(y_hat, y)]
    # -y/a + (1 - y)/(1 - a) = (a - y)/(a(1 - a)); a term whose target weight is 0 is dropped,
    # so an output of exactly 0 or 1 that meets its target has a finite derivative
    return [
        normalize((-t / p if t != 0 else 0) + ((1 - t) / (1 - p) if t != 1 else 0))
        for p, t in zip(y_hat, y)
    ]


def combined_output_delta(loss: str, activation: str) -> bool:
    """softmax + cross-entropy and sigmoid + binary cross-entropy give delta = y_hat - y."""
    return (loss, activation) in (("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid"))


@dataclass
class Trace:
    """One forward and backward pass on one data point; lists are indexed by layer - 1."""

    x: list[Number]
    y: list[Number]
    z: list[list[Number]]  # z[l] (n_out,)
    a: list[list[Number]]  # a[0] = x, a[l] = f(z[l-1]) (so a has L + 1 entries)
    loss: Number
    dL_dyhat: list[Number]
    delta: list[list[Number]]  # delta[l] = dL/dz of layer l + 1
    back: list[list[Number] | None]  # back[l] = W_{l+2}^T delta[l+1] (None for the last layer)
    dW: list[list[list[Number]]]
    db: list[list[Number] | None]

    @property
    def y_hat(self) -> list[Number]:
        return self.a[-1]


def forward_backward(
    layers: list[Layer], loss: str, x: list[Number], y: list[Number], *, guard: bool = False
) -> Trace:
    """The forward values, the loss and every gradient for one data point.

    With ``guard``, an exact value with more than MAX_EXACT_DIGITS digits stops the pass
    (raising ``TooBig``) as soon as it appears, before it can grow further.
    """
    zs, acts = [], [list(x)]
    for ly in layers:
        b = ly.b or [0] * len(ly.W)
        z = [normalize(sum(w * v for w, v in zip(row, acts[-1])) + bi) for row, bi in zip(ly.W, b)]
        _guard(z, guard)
        zs.append(z)
        acts.append([normalize(v) for v in activate(ly.activation, z)])
    y_hat = acts[-1]
    L = loss_value(loss, y_hat, y)
    dL = loss_grad(loss, y_hat, y)
    _guard([L, *dL], guard)
    n_layers = len(layers)
    delta: list[list[Number]] = [[] for _ in range(n_layers)]
    back: list[list[Number] | None] = [None] * n_layers
    out = layers[-1]
    if combined_output_delta(loss, out.activation):
        delta[-1] = [normalize(p - t) for p, t in zip(y_hat, y)]
    else:
        delta[-1] = _delta_from(out.activation, zs[-1], y_hat, dL)
    _guard(delta[-1], guard)
    for l in range(n_layers - 2, -1, -1):
        W_next = layers[l + 1].W
        g = [
            normalize(sum(W_next[k][j] * delta[l + 1][k] for k in range(len(W_next))))
            for j in range(len(zs[l]))
        ]
        back[l] = g
        delta[l] = _delta_from(layers[l].activation, zs[l], acts[l + 1], g)
        _guard(g + delta[l], guard)
    dW = [[[normalize(d * v) for v in acts[l]] for d in delta[l]] for l in range(n_layers)]
    for g in dW:
        for row in g:
            _guard(row, guard)
    db = [list(delta[l]) if layers[l].b is not None else None for l in range(n_layers)]
    return Trace(list(x), list(y), zs, acts, L, dL, delta, back, dW, db)


def _delta_from(activation: str, z: list[Number], a: list[Number], g: list[Number]) -> list:
    """dL/dz from dL/da = g: element-wise f'(z) g, or the softmax Jacobian-vector product."""
    if activation == "softmax":
        s = sum(gk * ak for gk, ak in zip(g, a))
        return [normalize(aj * (gj - s)) for aj, gj in zip(a, g)]
    return [normalize(gj * activation_grad(activation, zj, aj)) for zj, aj, gj in zip(z, a, g)]


# ---------------------------------------------------------------- independent check


def _engine_grads(layers: list[Layer], loss: str, points) -> tuple[str, list, list]:
    """Gradients of the mean loss over ``points`` from the NumPy engine (or PyTorch)."""
    try:
        try:
            from stridelab.core import Tensor
        except ImportError:
            from stridelab.core.tensor import Tensor
        return ("stridelab.core.Tensor.backward", *_autograd(Tensor, layers, loss, points, "np"))
    except ImportError:
        import torch

        def T(data, requires_grad=False):
            return torch.tensor(data, dtype=torch.float64, requires_grad=requires_grad)

        return ("torch.autograd", *_autograd(T, layers, loss, points, "torch"))


def _autograd(T, layers, loss, points, kind):
    def arr(v):
        return np.array(v, dtype=np.float64)

    Ws = [T(arr(ly.W), requires_grad=True) for ly in layers]  # (n_out, n_in)
    bs = [T(arr(ly.b)[:, None], requires_grad=True) if ly.b is not None else None for ly in layers]
    total = None
    for x, y in points:
        a = T(arr(x)[:, None])  # (n_in, 1)
        yt = T(arr(y)[:, None])
        for ly, W, b in zip(layers, Ws, bs):
            z = W @ a
            if b is not None:
                z = z + b
            act = ly.activation
            if act == "relu":
                a = z.relu()
            elif act == "sigmoid":
                a = z.sigmoid()
            elif act == "tanh":
                a = z.tanh()
            elif act == "softmax":
                a = z.softmax(0) if kind == "torch" else z.softmax(axis=0)
            else:
                a = z
        if loss == "sse_half":
            L = ((a - yt) ** 2).sum() * 0.5
        elif loss == "mse":
            L = ((a - yt) ** 2).sum() * (1.0 / len(y))
        elif loss == "cross_entropy":
            L = -(yt * a.log()).sum()
        else:
            L = -(yt * a.log() + (1 - yt) * (1 - a).log()).sum()
        total = L if total is None else total + L
    total = total * (1.0 / len(points))
    total.backward()

    def grad(t):
        g = t.grad
        return np.asarray(g.detach().numpy() if hasattr(g, "detach") else g, dtype=np.float64)

    return [grad(W) for W in Ws], [grad(b)[:, 0] if b is not None else None for b in bs]


def check_gradients(layers, loss, points, dW, db) -> dict:
    """Compare exact/float gradients with autograd; returns the route and max |difference|.

    ``passed`` is False when they differ by more than 1e-9 of the largest gradient; the answer
    then says so (at a ReLU input of exactly 0 float64 autograd may take the other one-sided
    derivative). Floating-point warnings of extreme inputs are silenced here: the comparison
    reports them as a failed check instead.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        route, gW, gb = _engine_grads(layers, loss, points)
        errs = [np.max(np.abs(np.array(m, dtype=np.float64) - g)) for m, g in zip(dW, gW)]
        errs += [
            np.max(np.abs(np.array(v, dtype=np.float64) - g))
            for v, g in zip(db, gb)
            if v is not None
        ]
        err = float(max(errs))
        scale = max(1.0, max(float(np.max(np.abs(g))) for g in gW))
    passed = bool(math.isfinite(err) and err <= 1e-9 * scale)
    return {"route": route, "max_abs_error": err, "passed": passed}


# ---------------------------------------------------------------- training steps


def arrays(layers: list[Layer]) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    Ws = [np.array(ly.W, dtype=np.float64) for ly in layers]
    bs = [None if ly.b is None else np.array(ly.b, dtype=np.float64) for ly in layers]
    return Ws, bs


@dataclass
class Step:
    """One update: the traces it averaged, the applied gradients and the parameters around it.

    ``weights``/``biases`` (after the step) and ``grad_weights``/``grad_biases`` are float64
    arrays, W of shape (n_out, n_in) and b of shape (n_out,); the exact values are in
    ``after``, ``dW`` and ``db``.
    """

    epoch: int  # 1-based pass over the data
    point: int | None  # 1-based data point (sequential), None for a batch step
    traces: list[Trace]
    dW: list[list[list[Number]]]  # applied gradients (averaged over traces in batch mode)
    db: list[list[Number] | None]
    loss: Number  # the point's loss, or the mean over the batch
    before: list[Layer]
    after: list[Layer]
    check: dict = field(default_factory=dict)
    exact: bool = True  # computed in exact arithmetic (False: float64)

    @property
    def weights(self) -> list[np.ndarray]:
        return arrays(self.after)[0]

    @property
    def biases(self) -> list[np.ndarray | None]:
        return arrays(self.after)[1]

    @property
    def grad_weights(self) -> list[np.ndarray]:
        return [np.array(g, dtype=np.float64) for g in self.dW]

    @property
    def grad_biases(self) -> list[np.ndarray | None]:
        return [None if g is None else np.array(g, dtype=np.float64) for g in self.db]


def _mean(values: list[Number]) -> Number:
    return (
        normalize(Fraction(1, len(values)) * sum(values))
        if all_exact(values)
        else (sum(values) / len(values))
    )


def _update(layers: list[Layer], dW, db, lr: Number) -> list[Layer]:
    out = []
    for ly, gW, gb in zip(layers, dW, db):
        W = [[normalize(w - lr * g) for w, g in zip(row, grow)] for row, grow in zip(ly.W, gW)]
        b = None if ly.b is None else [normalize(v - lr * g) for v, g in zip(ly.b, gb)]
        out.append(Layer(W, b, ly.activation))
    return out


def as_float(layers: list[Layer]) -> list[Layer]:
    return [
        Layer(
            [[float(v) for v in row] for row in ly.W],
            None if ly.b is None else [float(v) for v in ly.b],
            ly.activation,
        )
        for ly in layers
    ]


def _values(layers: list[Layer]):
    for ly in layers:
        for row in ly.W:
            yield from row
        if ly.b is not None:
            yield from ly.b


def one_step(layers, spec: Spec, points, epoch: int, n, guard: bool) -> Step:
    traces = [forward_backward(layers, spec.loss, x, y, guard=guard) for x, y in points]
    dW = [
        [
            [_mean([t.dW[l][i][j] for t in traces]) for j in range(len(row))]
            for i, row in enumerate(ly.W)
        ]
        for l, ly in enumerate(layers)
    ]
    db = [
        None if ly.b is None else [_mean([t.db[l][i] for t in traces]) for i in range(len(ly.b))]
        for l, ly in enumerate(layers)
    ]
    after = _update(layers, dW, db, spec.lr)
    loss = _mean([t.loss for t in traces])
    _guard([loss, *_values(after)], guard)
    return Step(epoch, n, traces, dW, db, loss, layers, after)


def check_finite(step: Step, number: int) -> None:
    def bad(vs):
        return any(isinstance(v, float) and not math.isfinite(v) for v in vs)

    values = list(_values(step.after)) + [step.loss]
    for t in step.traces:
        values += [v for z in t.z for v in z] + [v for d in t.delta for v in d]
    if bad(values):
        raise DataError(
            f"step {number}: a value overflowed float64 (inf or nan); the updates diverge, so "
            "use a smaller lr, smaller weights or fewer steps"
        )
