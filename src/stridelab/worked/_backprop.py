"""One or more gradient-descent steps on a small fully-connected network, chain rule written out.

Reads a network, a loss, a learning rate and data from JSON and prints the forward values,
the loss, every delta and partial derivative as its chain-rule product with the numbers
substituted, and the updated parameters. Arithmetic is exact (integers and fractions, 0.1 is
1/10) while the network has only linear/relu units and an sse_half or mse loss; sigmoid,
tanh, softmax and logarithms switch to float64. Every gradient is checked against the NumPy
engine's autograd (or PyTorch) before it is printed.

SPEC (a file, '-' for stdin, or the JSON text itself):
  {"layers": [{"W": [[0.15, 0.2], [0.25, 0.3]], "b": [0.35, 0.35], "activation": "sigmoid"},
              {"W": [[0.4, 0.45], [0.5, 0.55]], "b": [0.6, 0.6], "activation": "sigmoid"}],
   "loss": "sse_half", "lr": 0.5, "data": [{"x": [0.05, 0.1], "y": [0.01, 0.99]}],
   "mode": "sequential", "steps": 1}

  W has shape (n_out, n_in) and z = W a + b; w_ij connects input j to neuron i (both counted
  from 1). A layer without "b" has no bias (and none is trained).
  activation: linear, relu (relu'(0) = 0), sigmoid, tanh, softmax
  loss: sse_half = 1/2 sum_k (y_hat_k - y_k)^2; mse = mean over outputs; cross_entropy =
        -sum_k y_k ln y_hat_k (softmax output, targets summing to 1); binary_cross_entropy =
        -sum_k [y_k ln a_k + (1 - y_k) ln(1 - a_k)]
  mode: sequential (an update after each data point, in order) or batch (one update with
        the gradient averaged over all points); "steps": N repeats the pass N times.

examples:
  stridelab backprop net.json
  stridelab backprop net.json --json
  stridelab backprop net.json --graph graph.png
  stridelab backprop '{"layers": [{"W": [[1, -1], [2, 0]], "b": [0, 1], "activation": "relu"},
      {"W": [[1, 1]], "b": [0]}], "lr": 0.1, "data": [{"x": [1, 2], "y": [1]}]}'
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked._args import positive_int
from stridelab.worked._figures import check_figure_path, save_figure
from stridelab.worked._numbers import (
    Number,
    all_exact,
    dumps_json,
    fmt,
    fmt_latex,
    latex_matrix,
    normalize,
    paren,
    read_text_file,
    to_json,
)

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
LOSSES = ("sse_half", "mse", "cross_entropy", "binary_cross_entropy")
MODES = ("sequential", "batch")
_SPEC_KEYS = {"layers", "loss", "lr", "data", "mode", "steps", "x", "y"}
_LAYER_KEYS = {"W", "b", "activation"}


# ---------------------------------------------------------------- the spec


@dataclass
class Layer:
    W: list[list[Number]]  # (n_out, n_in)
    b: list[Number] | None  # (n_out,), or None: no bias and none trained
    activation: str = "linear"

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.W), len(self.W[0]))


@dataclass
class Spec:
    layers: list[Layer]
    loss: str
    lr: Number
    data: list[tuple[list[Number], list[Number]]]  # [(x (n_in,), y (n_out,)), ...]
    mode: str = "sequential"
    steps: int = 1


def _number(v, where: str) -> Number:
    if isinstance(v, bool) or not isinstance(v, (int, Fraction, float)):
        raise DataError(f"{where}: {v!r} is not a number")
    return normalize(v)


def _vector(v, where: str, n: int | None = None) -> list[Number]:
    if not isinstance(v, list) or not v:
        raise DataError(f"{where} must be a non-empty list of numbers")
    out = [_number(x, where) for x in v]
    if n is not None and len(out) != n:
        raise DataError(f"{where} has {len(out)} values but {n} are needed")
    return out


def _matrix(v, where: str) -> list[list[Number]]:
    if not isinstance(v, list) or not v or not all(isinstance(r, list) and r for r in v):
        raise DataError(f"{where} must be a non-empty list of rows, e.g. [[1, 2], [3, 4]]")
    rows = [_vector(r, f"{where} row {i}") for i, r in enumerate(v, start=1)]
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(rows[0]):
            raise DataError(
                f"{where}: row {i} has {len(r)} values but row 1 has {len(rows[0])}; "
                "W must be rectangular (n_out rows of n_in values)"
            )
    return rows


def parse_spec(obj) -> Spec:
    """Validate a decoded JSON spec (numbers as int/Fraction) into a :class:`Spec`."""
    if not isinstance(obj, dict):
        raise DataError('the spec must be a JSON object with "layers", "loss", "lr" and "data"')
    unknown = set(obj) - _SPEC_KEYS
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(sorted(map(repr, unknown)))} in the spec; use "
            "layers, loss, lr, data, mode, steps"
        )
    if not isinstance(obj.get("layers"), list) or not obj["layers"]:
        raise DataError('the spec needs "layers": a non-empty list of {"W": ..., "b": ...}')
    layers = []
    n_in = None
    for i, ly in enumerate(obj["layers"], start=1):
        where = f"layer {i}"
        if not isinstance(ly, dict) or "W" not in ly:
            raise DataError(f'{where} must be an object with "W" (and optional "b", "activation")')
        bad = set(ly) - _LAYER_KEYS
        if bad:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(map(repr, bad)))}; use W, b, activation"
            )
        W = _matrix(ly["W"], f"{where} W")
        if n_in is not None and len(W[0]) != n_in:
            raise DataError(
                f"{where}: W has {len(W[0])} columns but layer {i - 1} has {n_in} outputs; "
                "W has shape (n_out, n_in)"
            )
        b = None
        if ly.get("b") is not None:
            b = _vector(ly["b"], f"{where} b")
            if len(b) != len(W):
                raise DataError(
                    f"{where}: b has {len(b)} values but W has {len(W)} rows "
                    "(one bias per output neuron)"
                )
        act = str(ly.get("activation", "linear")).lower()
        if act not in ACTIVATIONS:
            raise ConfigError(
                f"{where}: unknown activation {ly.get('activation')!r}; use "
                + ", ".join(ACTIVATIONS)
            )
        layers.append(Layer(W, b, act))
        n_in = len(W)
    loss = str(obj.get("loss", "sse_half")).lower()
    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {obj.get('loss')!r}; use " + ", ".join(LOSSES))
    if "lr" not in obj:
        raise ConfigError('the spec needs "lr", the learning rate (e.g. 0.1)')
    lr = _number(obj["lr"], "lr")
    if lr <= 0:
        raise ConfigError(f"lr must be positive, got {fmt(lr)}")
    mode = str(obj.get("mode", "sequential")).lower()
    if mode not in MODES:
        raise ConfigError(f"unknown mode {obj.get('mode')!r}; use sequential or batch")
    steps = positive_int(obj.get("steps", 1), name="steps")
    data = obj.get("data")
    if data is None and "x" in obj:
        data = [{"x": obj["x"], "y": obj.get("y")}]
    if not isinstance(data, list) or not data:
        raise DataError('the spec needs "data": a non-empty list of {"x": [...], "y": [...]}')
    n_x, n_y = len(layers[0].W[0]), len(layers[-1].W)
    points = []
    for n, p in enumerate(data, start=1):
        if not isinstance(p, dict) or "x" not in p or "y" not in p:
            raise DataError(f'data point {n} must be an object with "x" and "y"')
        x = _vector(p["x"], f"data point {n} x", n_x)
        y = _vector(p["y"], f"data point {n} y", n_y)
        if loss == "cross_entropy" and (any(v < 0 for v in y) or sum(y) != 1):
            raise DataError(
                f"data point {n}: cross_entropy targets must be >= 0 and sum to 1 "
                "(one-hot or soft labels)"
            )
        if loss == "binary_cross_entropy" and any(not 0 <= v <= 1 for v in y):
            raise DataError(f"data point {n}: binary_cross_entropy targets must lie in [0, 1]")
        points.append((x, y))
    return Spec(layers, loss, lr, points, mode, steps)


def _parse_float(text: str) -> Number:
    return normalize(Fraction(text))  # "0.1" -> 1/10 exactly


def _no_constants(name: str):
    raise DataError(f"the spec contains {name}; use finite numbers")


def load_spec(source: str) -> Spec:
    """A spec from a file path, ``-`` (stdin) or JSON text starting with ``{``."""
    if source.strip().startswith("{"):
        text, where = source, "the JSON spec"
    elif source == "-":
        text, where = sys.stdin.read(), "stdin"
    else:
        text, where = read_text_file(source, what="backprop spec"), repr(source)
    try:
        obj = json.loads(text, parse_float=_parse_float, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        raise DataError(
            f"{where} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        ) from None
    return parse_spec(obj)


# ---------------------------------------------------------------- forward and backward


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
                "use sigmoid outputs"
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
    return [normalize((p - t) / (p * (1 - p))) for p, t in zip(y_hat, y)]


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


def forward_backward(layers: list[Layer], loss: str, x: list[Number], y: list[Number]) -> Trace:
    """The forward values, the loss and every gradient for one data point."""
    zs, acts = [], [list(x)]
    for ly in layers:
        b = ly.b or [0] * len(ly.W)
        z = [normalize(sum(w * v for w, v in zip(row, acts[-1])) + bi) for row, bi in zip(ly.W, b)]
        zs.append(z)
        acts.append([normalize(v) for v in activate(ly.activation, z)])
    y_hat = acts[-1]
    L = loss_value(loss, y_hat, y)
    dL = loss_grad(loss, y_hat, y)
    n_layers = len(layers)
    delta: list[list[Number]] = [[] for _ in range(n_layers)]
    back: list[list[Number] | None] = [None] * n_layers
    out = layers[-1]
    if combined_output_delta(loss, out.activation):
        delta[-1] = [normalize(p - t) for p, t in zip(y_hat, y)]
    else:
        delta[-1] = _delta_from(out.activation, zs[-1], y_hat, dL)
    for l in range(n_layers - 2, -1, -1):
        W_next = layers[l + 1].W
        g = [
            normalize(sum(W_next[k][j] * delta[l + 1][k] for k in range(len(W_next))))
            for j in range(len(zs[l]))
        ]
        back[l] = g
        delta[l] = _delta_from(layers[l].activation, zs[l], acts[l + 1], g)
    dW = [[[normalize(d * v) for v in acts[l]] for d in delta[l]] for l in range(n_layers)]
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
    """Compare exact/float gradients with autograd; returns the route and max |difference|."""
    route, gW, gb = _engine_grads(layers, loss, points)
    errs = [np.max(np.abs(np.array(m, dtype=np.float64) - g)) for m, g in zip(dW, gW)]
    errs += [
        np.max(np.abs(np.array(v, dtype=np.float64) - g)) for v, g in zip(db, gb) if v is not None
    ]
    err = float(max(errs))
    scale = max(1.0, max(float(np.max(np.abs(g))) for g in gW))
    return {"route": route, "max_abs_error": err, "passed": bool(err <= 1e-9 * scale)}


# ---------------------------------------------------------------- training steps


@dataclass
class Step:
    epoch: int  # 1-based pass over the data
    point: int | None  # 1-based data point (sequential), None for a batch step
    traces: list[Trace]
    dW: list[list[list[Number]]]  # applied gradients (averaged over traces in batch mode)
    db: list[list[Number] | None]
    loss: Number  # the point's loss, or the mean over the batch
    before: list[Layer]
    after: list[Layer]
    check: dict = field(default_factory=dict)


@dataclass
class BackpropAnswer:
    spec: Spec
    steps: list[Step]

    @property
    def final(self) -> list[Layer]:
        return self.steps[-1].after

    @property
    def exact(self) -> bool:
        def vals(ly):
            return [v for row in ly.W for v in row] + (ly.b or [])

        return all(all_exact(vals(ly)) for s in self.steps for ly in s.after) and all(
            all_exact([t.loss]) for s in self.steps for t in s.traces
        )


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


def solve(spec: Spec | dict) -> BackpropAnswer:
    """Run ``spec.steps`` passes of SGD (sequential) or full-batch gradient descent."""
    if isinstance(spec, dict):
        spec = parse_spec(spec)
    layers = copy.deepcopy(spec.layers)
    steps = []
    for epoch in range(1, spec.steps + 1):
        if spec.mode == "sequential":
            groups = [([p], n) for n, p in enumerate(spec.data, start=1)]
        else:
            groups = [(spec.data, None)]
        for points, n in groups:
            traces = [forward_backward(layers, spec.loss, x, y) for x, y in points]
            dW = [
                [
                    [_mean([t.dW[l][i][j] for t in traces]) for j in range(len(row))]
                    for i, row in enumerate(ly.W)
                ]
                for l, ly in enumerate(layers)
            ]
            db = [
                None
                if ly.b is None
                else [_mean([t.db[l][i] for t in traces]) for i in range(len(ly.b))]
                for l, ly in enumerate(layers)
            ]
            check = check_gradients(layers, spec.loss, points, dW, db)
            if not check["passed"]:  # a bug in stridelab, not in the user's spec
                raise RuntimeError(f"gradient check failed: {check}")
            after = _update(layers, dW, db, spec.lr)
            steps.append(
                Step(
                    epoch, n, traces, dW, db, _mean([t.loss for t in traces]), layers, after, check
                )
            )
            layers = after
    return BackpropAnswer(spec, steps)


# ---------------------------------------------------------------- Markdown


_ACT_TEX = {
    "linear": r"\mathrm{id}",
    "relu": r"\mathrm{relu}",
    "sigmoid": r"\sigma",
    "tanh": r"\tanh",
    "softmax": r"\mathrm{softmax}",
}
_LOSS_TEX = {
    "sse_half": r"L = \tfrac12\sum_k (\hat y_k - y_k)^2",
    "mse": r"L = \tfrac1K\sum_k (\hat y_k - y_k)^2",
    "cross_entropy": r"L = -\sum_k y_k \ln \hat y_k",
    "binary_cross_entropy": (
        r"L = -\sum_k \left[y_k \ln \hat y_k + (1 - y_k)\ln(1 - \hat y_k)\right]"
    ),
}


class _Fmt:
    """Number formatting with a fixed number of significant digits for floats."""

    def __init__(self, digits: int):
        self.digits = digits

    def __call__(self, v: Number) -> str:
        return fmt_latex(v, self.digits)

    def p(self, v: Number) -> str:  # as a factor
        return paren(fmt_latex(v, self.digits))


def _sym_a(l: int, j: int, L: int) -> str:
    """Symbol of activation j (1-based) of layer l (0 = input)."""
    if l == 0:
        return f"x_{{{j}}}"
    if l == L:
        return f"\\hat y_{{{j}}}"
    return f"a^{{({l})}}_{{{j}}}"


def _forward_lines(spec: Spec, layers: list[Layer], t: Trace, f: _Fmt) -> list[str]:
    L = len(layers)
    out = []
    for l, ly in enumerate(layers, start=1):
        for i, row in enumerate(ly.W, start=1):
            sym = " + ".join(
                f"w^{{({l})}}_{{{i}{j}}}{_sym_a(l - 1, j, L)}" for j in range(1, len(row) + 1)
            )
            num = " + ".join(f"{f.p(w)}\\cdot {f.p(v)}" for w, v in zip(row, t.a[l - 1]))
            if ly.b is not None:
                sym += f" + b^{{({l})}}_{{{i}}}"
                num += f" + {f.p(ly.b[i - 1])}"
            out.append(f"$$z^{{({l})}}_{{{i}}} = {sym} = {num} = {f(t.z[l - 1][i - 1])}$$")
        act = ly.activation
        if act == "softmax":
            zs = ", ".join(f(v) for v in t.z[l - 1])
            vals = ", ".join(f(v) for v in t.a[l])
            name = r"\hat y" if l == L else f"a^{{({l})}}"
            out.append(
                f"$${name} = \\mathrm{{softmax}}({zs}) = \\left(\\frac{{e^{{z_i}}}}"
                f"{{\\sum_k e^{{z_k}}}}\\right)_i = ({vals})$$"
            )
        else:
            for i in range(1, len(ly.W) + 1):
                z, a = t.z[l - 1][i - 1], t.a[l][i - 1]
                rhs = {
                    "linear": "",
                    "relu": f" = \\max(0, {f(z)})",
                    "sigmoid": f" = \\frac{{1}}{{1 + e^{{-{f.p(z)}}}}}",
                    "tanh": "",
                }[act]
                out.append(
                    f"$${_sym_a(l, i, L)} = {_ACT_TEX[act]}(z^{{({l})}}_{{{i}}}) = "
                    f"{_ACT_TEX[act]}({f(z)}){rhs} = {f(a)}$$"
                )
    return out


def _loss_line(spec: Spec, t: Trace, f: _Fmt) -> str:
    pairs = list(zip(t.y_hat, t.y))
    if spec.loss in ("sse_half", "mse"):
        inner = " + ".join(f"({f(p)} - {f.p(y)})^2" for p, y in pairs)
        pre = r"\tfrac12" if spec.loss == "sse_half" else f"\\tfrac1{{{len(pairs)}}}"
        num = f"{pre}\\left[{inner}\\right]"
    elif spec.loss == "cross_entropy":
        num = (
            "-\\left[" + " + ".join(f"{f.p(y)}\\ln {f(p)}" for p, y in pairs if y != 0) + "\\right]"
        )
    else:
        num = (
            "-\\left["
            + " + ".join(f"{f.p(y)}\\ln {f(p)} + {f.p(1 - y)}\\ln(1 - {f(p)})" for p, y in pairs)
            + "\\right]"
        )
    return f"$${_LOSS_TEX[spec.loss]} = {num} = {f(t.loss)}$$"


def _fprime(act: str, z: Number, a: Number, sym_a: str, f: _Fmt) -> tuple[str, str]:
    """f'(z) symbolically and with numbers."""
    if act == "linear":
        return "1", "1"
    if act == "relu":
        return f"\\mathrm{{relu}}'({f(z)})", "1" if z > 0 else "0"
    if act == "sigmoid":
        return f"{sym_a}(1 - {sym_a})", f"{f(a)}\\cdot(1 - {f(a)})"
    return f"(1 - {sym_a}^2)", f"(1 - {f.p(a)}^2)"


def _dL_dyhat(spec: Spec, i: int, t: Trace, f: _Fmt) -> tuple[str, str]:
    p, y = t.y_hat[i - 1], t.y[i - 1]
    yh = f"\\hat y_{{{i}}}"
    if spec.loss == "sse_half":
        return f"({yh} - y_{{{i}}})", f"({f(p)} - {f.p(y)})"
    if spec.loss == "mse":
        K = len(t.y)
        return f"\\tfrac{{2}}{{{K}}}({yh} - y_{{{i}}})", f"\\tfrac{{2}}{{{K}}}({f(p)} - {f.p(y)})"
    if spec.loss == "cross_entropy":
        return (
            f"\\left(-\\frac{{y_{{{i}}}}}{{{yh}}}\\right)",
            f"\\left(-\\frac{{{f(y)}}}{{{f(p)}}}\\right)",
        )
    return (
        f"\\frac{{{yh} - y_{{{i}}}}}{{{yh}(1 - {yh})}}",
        f"\\frac{{{f(p)} - {f.p(y)}}}{{{f(p)}(1 - {f(p)})}}",
    )


def _backward_lines(spec: Spec, layers: list[Layer], t: Trace, f: _Fmt) -> list[str]:
    L = len(layers)
    out = []
    last = layers[-1]
    for i in range(1, len(last.W) + 1):
        d = t.delta[-1][i - 1]
        head = f"\\delta^{{({L})}}_{{{i}}} = \\frac{{\\partial L}}{{\\partial z^{{({L})}}_{{{i}}}}}"
        if combined_output_delta(spec.loss, last.activation):
            p, y = t.y_hat[i - 1], t.y[i - 1]
            out.append(f"$${head} = \\hat y_{{{i}}} - y_{{{i}}} = {f(p)} - {f.p(y)} = {f(d)}$$")
        elif last.activation == "softmax":
            g = ", ".join(f(v) for v in t.dL_dyhat)
            out.append(
                f"$${head} = \\hat y_{{{i}}}\\left("
                f"\\frac{{\\partial L}}{{\\partial \\hat y_{{{i}}}}}"
                f" - \\sum_k \\frac{{\\partial L}}{{\\partial \\hat y_k}}\\hat y_k\\right) = {f(d)}"
                f"\\quad\\left(\\frac{{\\partial L}}{{\\partial \\hat y}} = ({g})\\right)$$"
            )
        else:
            sym, num = _dL_dyhat(spec, i, t, f)
            fs, fn = _fprime(last.activation, t.z[-1][i - 1], t.y_hat[i - 1], f"\\hat y_{{{i}}}", f)
            out.append(
                f"$${head} = \\frac{{\\partial L}}{{\\partial \\hat y_{{{i}}}}}"
                f"\\frac{{\\partial \\hat y_{{{i}}}}}{{\\partial z^{{({L})}}_{{{i}}}}} = "
                f"{sym}\\cdot {fs} = {num}\\cdot {fn} = {f(d)}$$"
            )
    for l in range(L - 1, 0, -1):
        ly, nxt = layers[l - 1], layers[l]
        for j in range(1, len(ly.W) + 1):
            g = t.back[l - 1][j - 1]
            sym = " + ".join(
                f"w^{{({l + 1})}}_{{{k}{j}}}\\delta^{{({l + 1})}}_{{{k}}}"
                for k in range(1, len(nxt.W) + 1)
            )
            num = " + ".join(
                f"{f.p(nxt.W[k - 1][j - 1])}\\cdot {f.p(t.delta[l][k - 1])}"
                for k in range(1, len(nxt.W) + 1)
            )
            d = t.delta[l - 1][j - 1]
            head = f"\\delta^{{({l})}}_{{{j}}}"
            if ly.activation == "softmax":
                out.append(
                    f"$$\\frac{{\\partial L}}{{\\partial a^{{({l})}}_{{{j}}}}} = {sym} = "
                    f"{num} = {f(g)}$$"
                )
                out.append(
                    f"$${head} = a^{{({l})}}_{{{j}}}\\left(\\frac{{\\partial L}}"
                    f"{{\\partial a^{{({l})}}_{{{j}}}}} - \\sum_k \\frac{{\\partial L}}"
                    f"{{\\partial a^{{({l})}}_k}} a^{{({l})}}_k\\right) = {f(d)}$$"
                )
                continue
            fs, fn = _fprime(
                ly.activation, t.z[l - 1][j - 1], t.a[l][j - 1], f"a^{{({l})}}_{{{j}}}", f
            )
            out.append(
                f"$${head} = \\left({sym}\\right) {fs} = \\left({num}\\right)\\cdot {fn}"
                f" = {f.p(g)}\\cdot {fn} = {f(d)}$$"
            )
    return out


def _gradient_lines(layers: list[Layer], t: Trace, f: _Fmt) -> list[str]:
    L = len(layers)
    out = []
    for l in range(L, 0, -1):
        ly = layers[l - 1]
        for i in range(1, len(ly.W) + 1):
            d = t.delta[l - 1][i - 1]
            for j in range(1, len(ly.W[0]) + 1):
                a = t.a[l - 1][j - 1]
                out.append(
                    f"$$\\frac{{\\partial L}}{{\\partial w^{{({l})}}_{{{i}{j}}}}} = "
                    f"\\frac{{\\partial L}}{{\\partial z^{{({l})}}_{{{i}}}}}"
                    f"\\frac{{\\partial z^{{({l})}}_{{{i}}}}}"
                    f"{{\\partial w^{{({l})}}_{{{i}{j}}}}} = "
                    f"\\delta^{{({l})}}_{{{i}}}\\,{_sym_a(l - 1, j, L)} = {f.p(d)}\\cdot {f.p(a)}"
                    f" = {f(t.dW[l - 1][i - 1][j - 1])}$$"
                )
            if ly.b is not None:
                out.append(
                    f"$$\\frac{{\\partial L}}{{\\partial b^{{({l})}}_{{{i}}}}} = "
                    f"\\delta^{{({l})}}_{{{i}}} = {f(d)}$$"
                )
    return out


def _update_lines(step: Step, lr: Number, n_points: int, f: _Fmt) -> list[str]:
    out = []
    bar = r"\bar L" if n_points > 1 else "L"
    for l, (ly, new) in enumerate(zip(step.before, step.after), start=1):
        params = [
            (
                f"w^{{({l})}}_{{{i + 1}{j + 1}}}",
                ly.W[i][j],
                step.dW[l - 1][i][j],
                new.W[i][j],
                [t.dW[l - 1][i][j] for t in step.traces],
            )
            for i in range(len(ly.W))
            for j in range(len(ly.W[0]))
        ]
        if ly.b is not None:
            params += [
                (
                    f"b^{{({l})}}_{{{i + 1}}}",
                    ly.b[i],
                    step.db[l - 1][i],
                    new.b[i],
                    [t.db[l - 1][i] for t in step.traces],
                )
                for i in range(len(ly.b))
            ]
        for sym, old, g, nw, per in params:
            avg = ""
            if n_points > 1:
                avg = (
                    f"\\frac{{\\partial \\bar L}}{{\\partial {sym}}} = \\tfrac1{{{n_points}}}"
                    f"\\left({' + '.join(f.p(v) for v in per)}\\right) = {f(g)},\\quad "
                )
            out.append(
                f"$${avg}{sym} \\leftarrow {sym} - \\eta\\frac{{\\partial {bar}}}"
                f"{{\\partial {sym}}} = {f(old)} - {f(lr)}\\cdot {f.p(g)} = {f(nw)}$$"
            )
    return out


def _params_latex(layers: list[Layer], f: _Fmt) -> str:
    parts = []
    for l, ly in enumerate(layers, start=1):
        parts.append(f"W^{{({l})}} = {latex_matrix(ly.W, f.digits)}")
        if ly.b is not None:
            parts.append(f"b^{{({l})}} = {latex_matrix([[v] for v in ly.b], f.digits)}")
    return "$$" + ",\\quad ".join(parts) + "$$"


def graph_latex(spec: Spec) -> str:
    """The compute graph as one LaTeX chain x -> z1 -> a1 -> ... -> L."""
    L = len(spec.layers)
    parts = ["x"]
    for l, ly in enumerate(spec.layers, start=1):
        prev = "x" if l == 1 else f"a^{{({l - 1})}}"
        bias = f" + b^{{({l})}}" if ly.b is not None else ""
        parts.append(f"z^{{({l})}} = W^{{({l})}}{prev}{bias}")
        out = r"\hat y" if l == L else f"a^{{({l})}}"
        parts.append(f"{out} = {_ACT_TEX[ly.activation]}(z^{{({l})}})")
    parts.append(_LOSS_TEX[spec.loss])
    return "$$" + r" \;\to\; ".join(parts) + "$$"


def to_markdown(answer: BackpropAnswer, digits: int = 6, brief: bool = False) -> str:
    spec = answer.spec
    f = _Fmt(digits)
    sizes = "-".join(str(n) for n in [len(spec.layers[0].W[0])] + [len(ly.W) for ly in spec.layers])
    arith = (
        "exact rational arithmetic"
        if answer.exact
        else f"float64 ({digits} significant digits shown)"
    )
    out = [
        f"## Backpropagation: {sizes} network, loss `{spec.loss}`, "
        f"$\\eta$ = {fmt(spec.lr)}, {spec.mode}, {spec.steps} pass(es) over "
        f"{len(spec.data)} data point(s)",
        "",
        "**Compute graph**",
        "",
        graph_latex(spec),
        "",
        r"$W^{(l)}$ has shape $n_{out}\times n_{in}$ and $w^{(l)}_{ij}$ connects input $j$ to "
        r"neuron $i$ (counted from 1); $\delta^{(l)}_i = \partial L/\partial z^{(l)}_i$. "
        f"Numbers: {arith}.",
        "",
        "**Initial parameters**",
        "",
        _params_latex(spec.layers, f),
        "",
    ]
    for s, step in enumerate(answer.steps, start=1):
        if step.point is not None:
            where = f"epoch {step.epoch}, data point {step.point}"
        else:
            where = f"epoch {step.epoch}, batch of {len(step.traces)}"
        out += [f"### Step {s} ({where})", ""]
        for n, t in enumerate(step.traces, start=1):
            if len(step.traces) > 1:
                out += [f"#### Data point {n}", ""]
            xs = ", ".join(f(v) for v in t.x)
            ys = ", ".join(f(v) for v in t.y)
            out += [f"$x = ({xs})$, $y = ({ys})$", ""]
            if not brief:
                out += ["**Forward**", ""] + _forward_lines(spec, step.before, t, f) + [""]
            out += ["**Loss**", "", _loss_line(spec, t, f), ""]
            if not brief:
                out += ["**Backward** (chain rule, output layer first)", ""]
                out += _backward_lines(spec, step.before, t, f) + [""]
                out += ["**Gradients**", ""] + _gradient_lines(step.before, t, f) + [""]
        if len(step.traces) > 1:
            out += [f"Mean loss over the batch: {f(step.loss)}", ""]
        out += [f"**Update** ($\\eta$ = {f(spec.lr)})", ""]
        if not brief:
            out += _update_lines(step, spec.lr, len(step.traces), f) + [""]
        out += [_params_latex(step.after, f), ""]
        c = step.check
        out += [
            f"Gradients checked against `{c['route']}`: max $|\\Delta|$ = "
            f"{c['max_abs_error']:.3g}.",
            "",
        ]
    return "\n".join(out)


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


def to_dict(answer: BackpropAnswer) -> dict:
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
        steps.append(d)
    return {
        "loss": spec.loss,
        "lr": to_json(spec.lr),
        "mode": spec.mode,
        "exact": answer.exact,
        "steps": steps,
        "final": {
            "layers": [
                {"W": to_json(ly.W), "b": to_json(ly.b), "activation": ly.activation}
                for ly in answer.final
            ]
        },
    }


# ---------------------------------------------------------------- the compute-graph figure


def plot_graph(answer: BackpropAnswer, path, digits: int = 4):
    """The compute graph of the first step (see :func:`graph_figure`), written atomically."""
    return save_figure(graph_figure(answer, digits), path)


def graph_figure(answer: BackpropAnswer, digits: int = 4):
    """The network of the first step drawn as a graph: values, deltas, weights and gradients."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step = answer.steps[0]
    t = step.traces[0]
    layers = step.before
    L = len(layers)
    cols = [len(t.x)] + [len(ly.W) for ly in layers]
    height = max(cols)
    gap = 1.7  # vertical distance between neurons (room for the bias and delta labels)
    pos = {(c, i): (3.0 * c, gap * ((n - 1) / 2 - i)) for c, n in enumerate(cols) for i in range(n)}
    fig, ax = plt.subplots(figsize=(3.2 * (L + 2), 1.9 * height + 1.8))

    def ft(v):
        return fmt(v, digits)

    for l, ly in enumerate(layers, start=1):
        for i in range(len(ly.W)):
            for j in range(len(ly.W[0])):
                (x0, y0), (x1, y1) = pos[(l - 1, j)], pos[(l, i)]
                ax.plot([x0, x1], [y0, y1], color="0.6", lw=1, zorder=1)
                xm, ym = x0 + 0.3 * (x1 - x0), y0 + 0.3 * (y1 - y0)
                ax.text(
                    xm,
                    ym,
                    f"w={ft(ly.W[i][j])}\n\u2202={ft(t.dW[l - 1][i][j])}",
                    fontsize=7,
                    ha="center",
                    va="center",
                    zorder=3,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85),
                )
    for c, n in enumerate(cols):
        for i in range(n):
            x, y = pos[(c, i)]
            ax.add_patch(
                plt.Circle((x, y), 0.42, fc="#e8f0fb" if c else "#eeeeee", ec="0.3", zorder=2)
            )
            if c == 0:
                label = f"x{i + 1}\n{ft(t.x[i])}"
            else:
                label = f"z={ft(t.z[c - 1][i])}\na={ft(t.a[c][i])}"
                ly = layers[c - 1]
                extra = f"\u03b4={ft(t.delta[c - 1][i])}"
                if ly.b is not None:
                    extra = f"b={ft(ly.b[i])}\n" + extra
                ax.text(x, y - 0.5, extra, color="tab:red", fontsize=7, ha="center", va="top")
            ax.text(x, y, label, fontsize=8, ha="center", va="center", zorder=4)
    xl = 3.0 * (L + 1) - 0.8
    ax.add_patch(plt.Rectangle((xl - 0.45, -0.4), 0.9, 0.8, fc="#fdebd0", ec="0.3", zorder=2))
    ax.text(xl, 0, f"L\n{ft(t.loss)}", ha="center", va="center", fontsize=9, zorder=4)
    for i in range(cols[-1]):
        x, y = pos[(L, i)]
        ax.plot([x + 0.42, xl - 0.45], [y, 0], color="tab:orange", lw=1, zorder=1)
        ax.text((x + xl) / 2, y / 2 + 0.15, f"y{i + 1}={ft(t.y[i])}", fontsize=7, ha="center")
    ax.set_xticks([3.0 * c for c in range(L + 1)] + [xl])
    ax.set_xticklabels(
        ["input x"]
        + [f"layer {l} ({ly.activation})" for l, ly in enumerate(layers, start=1)]
        + [f"loss ({answer.spec.loss})"]
    )
    ax.set_yticks([])
    ax.set_xlabel("layer")
    ax.set_ylabel("neuron")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xlim(-0.8, xl + 0.8)
    ax.set_ylim(-gap * (height - 1) / 2 - 1.2, gap * (height - 1) / 2 + 0.8)
    ax.set_aspect("equal")
    ax.set_title(
        "Compute graph of step 1, data point 1: forward values (black), "
        "\u03b4 = \u2202L/\u2202z (red), edges: weight w and gradient \u2202L/\u2202w",
        fontsize=9,
    )
    return fig


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "spec",
        metavar="SPEC.json",
        help="the network, loss, lr and data as JSON: a file, '-' for stdin, or "
        "the JSON text itself",
    )
    parser.add_argument(
        "--graph", metavar="FILE.png|svg", help="also draw the compute graph of the first step"
    )
    parser.add_argument(
        "--brief",
        action="store_true",
        help="only inputs, losses and updated parameters (no chain-rule lines)",
    )
    parser.add_argument(
        "--digits", default="6", metavar="N", help="significant digits for float values (default 6)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")


def main(args: argparse.Namespace) -> int:
    digits = positive_int(args.digits, name="--digits")
    if args.graph:
        check_figure_path(args.graph)
    answer = solve(load_spec(args.spec))
    if args.graph:
        plot_graph(answer, args.graph)
    if args.json:
        d = to_dict(answer)
        if args.graph:
            d["graph"] = str(args.graph)
        print(dumps_json(d))
    else:
        print(to_markdown(answer, digits, brief=args.brief))
        if args.graph:
            print(f"Compute graph: `{args.graph}`")
    return 0
