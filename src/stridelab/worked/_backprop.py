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
  from 1); b_i is the weight of a constant input x_0 = 1. A layer without "b" has no bias (and
  none is trained).
  activation: linear, relu (relu'(0) = 0), sigmoid, tanh, softmax
  loss: sse_half = 1/2 sum_k (y_hat_k - y_k)^2; mse = mean over outputs; cross_entropy (ce) =
        -sum_k y_k ln y_hat_k (softmax output, targets summing to 1); binary_cross_entropy
        (bce) = -sum_k [y_k ln a_k + (1 - y_k) ln(1 - a_k)], the cross-entropy of sigmoid
        outputs
  mode: sequential (an update after each data point, in order) or batch (one update with
        the gradient averaged over all points); "steps": N repeats the pass N times.

numbers: every number must be finite in float64 (|v| <= 1.8e308) and at most 400 characters
  long. Numbers stay exact rationals while numerator and denominator have at most 60 digits;
  an input beyond that is read as float64, and when the exact fractions of a step would grow
  beyond it, that step and every later one are computed in float64; the answer says so.
limits: at most 1,000 forward-backward passes (steps x data points), 10,000 weights and
  biases, 200,000 passes x parameters, JSON nested at most 32 deep, 1,000,000 characters.

--graph FILE draws the compute graph of one step (--step N, default 1) with that step's
values and gradients. --check FILE compares a student's updated weights, written as
{"layers": [{"W": ..., "b": ...}, ...]} (the spec's layout), with the computed ones: for each
wrong entry it shows the correct update and the most likely slip (the sign of the step, the
learning rate forgotten, the new weights used in the chain rule, the activation derivative
forgotten, the 1/2 or 1/K of the loss forgotten, the batch summed instead of averaged).

examples:
  stridelab backprop net.json
  stridelab backprop net.json --format json
  stridelab backprop net.json --graph graph.png --step 2
  stridelab backprop net.json --check my_weights.json
  stridelab backprop '{"layers": [{"W": [[1, -1], [2, 0]], "b": [0, 1], "activation": "relu"},
      {"W": [[1, 1]], "b": [0]}], "lr": 0.1, "data": [{"x": [1, 2], "y": [1]}]}'
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked._answer import Answer
from stridelab.worked._args import positive_int
from stridelab.worked._figures import check_figure_path, save_figure
from stridelab.worked._limits import (
    MAX_EXACT_DIGITS,
    MAX_JSON_DEPTH,
    MAX_LITERAL_CHARS,
    MAX_STEPS,
    MAX_WEIGHTS,
    check_limit,
)
from stridelab.worked._numbers import (
    Number,
    all_exact,
    fmt,
    fmt_latex,
    latex_matrix,
    normalize,
    paren,
    read_text_file,
    to_json,
)
from stridelab.worked._render import add_format_arguments, emit

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
LOSSES = ("sse_half", "mse", "cross_entropy", "binary_cross_entropy")
_LOSS_ALIASES = {"ce": "cross_entropy", "bce": "binary_cross_entropy"}
MODES = ("sequential", "batch")
_SPEC_KEYS = {"layers", "loss", "lr", "data", "mode", "steps", "x", "y"}
_LAYER_KEYS = {"W", "b", "activation"}

# the longest spec (or student answer) read, in characters
MAX_SPEC_CHARS = 1_000_000
# forward-backward passes times trained parameters: bounds the work and the answer's length
MAX_WORK = 200_000
# the most significant digits --digits may ask for (float64 has 17)
MAX_DIGITS = 17
# a run of more steps than 2 * DETAIL_STEPS shows the chain rule of its first DETAIL_STEPS
# steps and its last one; the others briefly (loss and parameters), unless full=True
DETAIL_STEPS = 3

_BIG = 10**MAX_EXACT_DIGITS  # an exact numerator or denominator must stay below this
_FLOAT_MAX = Fraction(sys.float_info.max)


# ---------------------------------------------------------------- the spec


@dataclass
class Layer:
    W: list[list[Number]]  # (n_out, n_in)
    b: list[Number] | None  # (n_out,), or None: no bias and none trained
    activation: str = "linear"

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.W), len(self.W[0]))

    @property
    def n_params(self) -> int:
        return len(self.W) * len(self.W[0]) + (len(self.b) if self.b is not None else 0)


@dataclass
class Spec:
    layers: list[Layer]
    loss: str
    lr: Number
    data: list[tuple[list[Number], list[Number]]]  # [(x (n_in,), y (n_out,)), ...]
    mode: str = "sequential"
    steps: int = 1
    rounded_inputs: int = 0  # numbers too long to keep exact, read as float64


def _short(v) -> str:
    """A value for an error message, never longer than a line (and never a huge int's str)."""
    if isinstance(v, (int, Fraction)) and not isinstance(v, bool):
        if abs(v) < 10**20 and not _too_big(v):
            return fmt(v)
        return f"a number of about 10^{_magnitude(v)}"
    text = repr(v) if not isinstance(v, (list, dict)) else type(v).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _magnitude(v: int | Fraction) -> int:
    """floor(log10 |v|), without converting a huge value to float or to text."""
    v = Fraction(v)
    if v == 0:
        return 0
    return math.floor(math.log10(abs(v.numerator)) - math.log10(v.denominator))


def _too_big(v) -> bool:
    """An exact value whose numerator or denominator has more than MAX_EXACT_DIGITS digits."""
    if isinstance(v, Fraction):
        return abs(v.numerator) >= _BIG or v.denominator >= _BIG
    if isinstance(v, int) and not isinstance(v, bool):
        return abs(v) >= _BIG
    return False


def _number(v, where: str, notes: dict | None = None) -> Number:
    """A spec number: finite in float64; exact while short enough, else float64."""
    if isinstance(v, bool) or not isinstance(v, (int, Fraction, float)):
        raise DataError(f"{where}: {_short(v)} is not a number")
    if isinstance(v, float):
        if not math.isfinite(v):
            raise DataError(f"{where}: {v} is not finite; use finite numbers")
        v = Fraction(repr(v))  # the decimal a Python float prints as: 0.1 is 1/10
    if abs(v) > _FLOAT_MAX:
        raise DataError(
            f"{where}: {_short(v)} is beyond float64's range (about 1.8e308); use smaller numbers"
        )
    if _too_big(v):
        if notes is not None:
            notes["rounded"] = notes.get("rounded", 0) + 1
        return float(v)
    return normalize(v)


def _vector(v, where: str, n: int | None = None, notes: dict | None = None) -> list[Number]:
    if not isinstance(v, list) or not v:
        raise DataError(f"{where} must be a non-empty list of numbers")
    if n is not None and len(v) != n:
        raise DataError(f"{where} has {len(v)} values but {n} are needed")
    return [_number(x, where, notes) for x in v]


def _matrix(v, where: str, notes: dict | None = None) -> list[list[Number]]:
    if not isinstance(v, list) or not v or not all(isinstance(r, list) and r for r in v):
        raise DataError(f"{where} must be a non-empty list of rows, e.g. [[1, 2], [3, 4]]")
    for i, r in enumerate(v[1:], start=2):
        if len(r) != len(v[0]):
            raise DataError(
                f"{where}: row {i} has {len(r)} values but row 1 has {len(v[0])}; "
                "W must be rectangular (n_out rows of n_in values)"
            )
    return [_vector(r, f"{where} row {i}", notes=notes) for i, r in enumerate(v, start=1)]


def _count_params(layers: list) -> int:
    """Weights and biases a raw layer list asks for (before any value is read)."""
    total = 0
    for ly in layers:
        if isinstance(ly, dict):
            W, b = ly.get("W"), ly.get("b")
            if isinstance(W, list):
                total += sum(len(r) if isinstance(r, list) else 1 for r in W)
            if isinstance(b, list):
                total += len(b)
    return total


def _whole(v, name: str) -> int:
    """A whole number >= 1 (1, 3.0 or "3"), for counts such as steps."""
    if isinstance(v, str) and v.strip().isascii() and v.strip().isdigit() and len(v) < 20:
        v = int(v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, Fraction) and v.denominator == 1:
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {_short(v)}")
    return v


def _loss_name(value) -> str:
    name = str(value).lower() if isinstance(value, str) else repr(value)[:40]
    return _LOSS_ALIASES.get(name, name)


def parse_spec(obj) -> Spec:
    """Validate a decoded JSON spec (numbers as int/Fraction/float) into a :class:`Spec`.

    Sizes are checked against the documented limits before any value is read.
    """
    if not isinstance(obj, dict):
        raise DataError('the spec must be a JSON object with "layers", "loss", "lr" and "data"')
    unknown = set(obj) - _SPEC_KEYS
    if unknown:
        names = sorted(_short(k) for k in unknown)
        raise ConfigError(
            f"unknown key(s) {', '.join(names)} in the spec; use layers, loss, lr, data, mode, steps"
        )
    if not isinstance(obj.get("layers"), list) or not obj["layers"]:
        raise DataError('the spec needs "layers": a non-empty list of {"W": ..., "b": ...}')
    check_limit(_count_params(obj["layers"]), MAX_WEIGHTS, what="the number of weights and biases")
    steps = _whole(obj.get("steps", 1), "steps")
    check_limit(steps, MAX_STEPS, what="steps")
    data = obj.get("data")
    if data is None and "x" in obj:
        data = [{"x": obj["x"], "y": obj.get("y")}]
    if not isinstance(data, list) or not data:
        raise DataError('the spec needs "data": a non-empty list of {"x": [...], "y": [...]}')
    check_limit(steps * len(data), MAX_STEPS, what="steps × data points (forward-backward passes)")
    notes: dict = {}
    layers = []
    n_in = None
    for i, ly in enumerate(obj["layers"], start=1):
        where = f"layer {i}"
        if not isinstance(ly, dict) or "W" not in ly:
            raise DataError(f'{where} must be an object with "W" (and optional "b", "activation")')
        bad = set(ly) - _LAYER_KEYS
        if bad:
            names = sorted(_short(k) for k in bad)
            raise ConfigError(f"{where}: unknown key(s) {', '.join(names)}; use W, b, activation")
        W = _matrix(ly["W"], f"{where} W", notes)
        if n_in is not None and len(W[0]) != n_in:
            raise DataError(
                f"{where}: W has {len(W[0])} columns but layer {i - 1} has {n_in} outputs; "
                "W has shape (n_out, n_in)"
            )
        b = None
        if ly.get("b") is not None:
            if isinstance(ly["b"], list) and len(ly["b"]) != len(W):
                raise DataError(
                    f"{where}: b has {len(ly['b'])} values but W has {len(W)} rows "
                    "(one bias per output neuron)"
                )
            b = _vector(ly["b"], f"{where} b", notes=notes)
        act_raw = ly.get("activation", "linear")
        act = act_raw.lower() if isinstance(act_raw, str) else ""
        if act not in ACTIVATIONS:
            raise ConfigError(
                f"{where}: unknown activation {_short(act_raw)}; use " + ", ".join(ACTIVATIONS)
            )
        layers.append(Layer(W, b, act))
        n_in = len(W)
    n_params = sum(ly.n_params for ly in layers)
    check_limit(steps * len(data) * n_params, MAX_WORK,
                what="passes × parameters (steps × data points × weights and biases)")
    loss = _loss_name(obj.get("loss", "sse_half"))
    if loss not in LOSSES:
        raise ConfigError(
            f"unknown loss {_short(obj.get('loss'))}; use " + ", ".join(LOSSES) + " (or ce, bce)"
        )
    if "lr" not in obj:
        raise ConfigError('the spec needs "lr", the learning rate (e.g. 0.1)')
    lr = _number(obj["lr"], "lr", notes)
    if lr <= 0:
        raise ConfigError(f"lr must be positive, got {fmt(lr)}")
    mode_raw = obj.get("mode", "sequential")
    mode = mode_raw.lower() if isinstance(mode_raw, str) else ""
    if mode not in MODES:
        raise ConfigError(f"unknown mode {_short(mode_raw)}; use sequential or batch")
    n_x, n_y = len(layers[0].W[0]), len(layers[-1].W)
    points = []
    for n, p in enumerate(data, start=1):
        if not isinstance(p, dict) or "x" not in p or "y" not in p:
            raise DataError(f'data point {n} must be an object with "x" and "y"')
        x = _vector(p["x"], f"data point {n} x", n_x, notes)
        y = _vector(p["y"], f"data point {n} y", n_y, notes)
        if loss == "cross_entropy" and (any(v < 0 for v in y) or abs(sum(y) - 1) > 1e-12):
            raise DataError(
                f"data point {n}: cross_entropy targets must be >= 0 and sum to 1 "
                "(one-hot or soft labels)"
            )
        if loss == "binary_cross_entropy" and any(not 0 <= v <= 1 for v in y):
            raise DataError(f"data point {n}: binary_cross_entropy targets must lie in [0, 1]")
        points.append((x, y))
    return Spec(layers, loss, lr, points, mode, steps, notes.get("rounded", 0))


# ---------------------------------------------------------------- reading JSON safely

_JSON_TOKENS = re.compile(r'\\.|["\[\]{}]', re.S)
_JSON_FLOAT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE]([+-]?[0-9]+))?")


def _check_depth(text: str, where: str) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH, in one linear scan before parsing."""
    depth = 0
    in_string = False
    for m in _JSON_TOKENS.finditer(text):
        c = m.group()
        if c == '"':
            in_string = not in_string
        elif in_string or len(c) == 2:
            continue
        elif c in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise DataError(
                    f"{where} is nested more than {MAX_JSON_DEPTH} levels deep; a spec needs 5"
                )
        else:
            depth -= 1


def _literal_length(text: str) -> None:
    if len(text) > MAX_LITERAL_CHARS:
        raise DataError(
            f"a number in the JSON is {len(text):,} characters long; at most "
            f"{MAX_LITERAL_CHARS} are read (numbers must be finite in float64)"
        )


def _parse_int(text: str) -> int:
    _literal_length(text)
    return int(text)


def _parse_float(text: str) -> Number:
    """A JSON decimal exactly ("0.1" -> 1/10), without building huge powers of ten."""
    _literal_length(text)
    if math.isinf(float(text)):
        raise DataError(f"the number {text[:40]} is beyond float64's range (about 1.8e308)")
    m = _JSON_FLOAT.fullmatch(text)
    exponent = int(m.group(1)) if m and m.group(1) else 0
    if abs(exponent) > 2 * MAX_LITERAL_CHARS:
        return float(text)  # rounds to 0 or a subnormal: no exact form worth 10^-800
    return normalize(Fraction(text))


def _no_constants(name: str):
    raise DataError(f"the JSON contains {name}; use finite numbers")


def _read_source(source: str, what: str) -> tuple[str, str]:
    """The JSON text of a file path, ``-`` (stdin) or JSON text itself, and how to name it."""
    s = str(source)
    if not s.strip():
        raise DataError(f"the {what} is empty; give a file name, '-' for stdin or the JSON text")
    head = s.lstrip()[:1]
    if head in ("{", "["):
        text, where = s, f"the JSON {what}"
    elif s == "-":
        text, where = sys.stdin.read(MAX_SPEC_CHARS + 1), f"the {what} on stdin"
    else:
        if len(s) > 4096 or "\n" in s or "\0" in s:
            raise DataError(
                f"{what}: {s[:30]!r}... is neither a file name nor JSON text (JSON starts with {{)"
            )
        try:
            p = Path(s)
            size = p.stat().st_size if p.is_file() else None
        except (OSError, ValueError):
            raise DataError(f"{what}: cannot use {s[:60]!r} as a file name") from None
        if size is not None and size > 4 * MAX_SPEC_CHARS:
            raise DataError(f"{what}: {s!r} is {size:,} bytes; at most {MAX_SPEC_CHARS:,} "
                            "characters are read")
        text, where = read_text_file(s, what=f"backprop {what}"), repr(s)
    if len(text) > MAX_SPEC_CHARS:
        raise DataError(f"{where} is longer than {MAX_SPEC_CHARS:,} characters")
    return text, where


def load_json(source: str, what: str = "spec"):
    """Decode JSON from a file, ``-`` or text, refusing deep nesting and extreme numbers."""
    text, where = _read_source(source, what)
    _check_depth(text, where)
    try:
        return json.loads(
            text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_no_constants
        )
    except json.JSONDecodeError as e:
        raise DataError(
            f"{where} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        ) from None
    except RecursionError:  # pragma: no cover - the depth scan refuses this first
        raise DataError(f"{where} is nested too deeply") from None


def load_spec(source: str) -> Spec:
    """A spec from a file path, ``-`` (stdin) or JSON text starting with ``{``."""
    return parse_spec(load_json(source, "spec"))


# ---------------------------------------------------------------- forward and backward


class _TooBig(Exception):
    """An exact value outgrew MAX_EXACT_DIGITS: the step is redone in float64."""


def _guard(values, guard: bool) -> None:
    if guard and any(_too_big(v) for v in values):
        raise _TooBig


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
    (raising ``_TooBig``) as soon as it appears, before it can grow further.
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


def _arrays(layers: list[Layer]) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
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
        return _arrays(self.after)[0]

    @property
    def biases(self) -> list[np.ndarray | None]:
        return _arrays(self.after)[1]

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


def _as_float(layers: list[Layer]) -> list[Layer]:
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


def _one_step(layers, spec: Spec, points, epoch: int, n, guard: bool) -> Step:
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


def _finite(step: Step, number: int) -> None:
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
        return _arrays(self.final)[0]

    @property
    def biases(self) -> list[np.ndarray | None]:
        return _arrays(self.final)[1]

    @property
    def output(self) -> list[dict]:
        return [{"W": W, "b": b} for W, b in zip(*_arrays(self.final))]

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

    def to_markdown(self, digits: int | None = None, brief: bool | None = None) -> str:
        return _markdown(self, self.digits if digits is None else digits,
                         self.brief if brief is None else brief)

    def to_dict(self) -> dict:
        return _dict(self)


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
                    step = _one_step(layers, spec, points, epoch, n, guard=exact)
                except _TooBig:
                    exact = False
                    float_from = len(steps) + 1
                    layers = _as_float(layers)
                    step = _one_step(layers, spec, points, epoch, n, guard=False)
                step.exact = exact
                _finite(step, len(steps) + 1)
                step.check = check_gradients(layers, spec.loss, points, step.dW, step.db)
                steps.append(step)
                layers = step.after
    except (OverflowError, ZeroDivisionError):
        raise DataError(
            f"step {len(steps) + 1}: a value overflowed float64; the updates diverge, so use a "
            "smaller lr, smaller weights or fewer steps"
        ) from None
    return BackpropAnswer(spec, steps, float_from)


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


def _combined_delta_line(loss: str, head: str, i: int, L: int, t: Trace, f: _Fmt) -> str:
    """The output delta of sigmoid + binary cross-entropy or softmax + cross-entropy, with the
    activation's derivative written out and cancelled rather than quoted as y_hat - y."""
    p, y = t.y_hat[i - 1], t.y[i - 1]
    d = t.delta[-1][i - 1]
    yh, yi, zi = f"\\hat y_{{{i}}}", f"y_{{{i}}}", f"z^{{({L})}}_{{{i}}}"
    tail = f"{yh} - {yi} = {f(p)} - {f.p(y)} = {f(d)}"
    if loss == "binary_cross_entropy":
        pn = f(p)
        return (
            f"$${head} = \\frac{{\\partial L}}{{\\partial {yh}}}\\,\\sigma'({zi}) = "
            f"\\frac{{{yh} - {yi}}}{{{yh}(1 - {yh})}}\\cdot {yh}(1 - {yh}) = "
            f"\\frac{{{pn} - {f.p(y)}}}{{{pn}(1 - {pn})}}\\cdot {pn}(1 - {pn}) = {tail}$$"
        )
    sum_y = normalize(sum(t.y))
    return (
        f"$${head} = \\sum_k \\frac{{\\partial L}}{{\\partial \\hat y_k}}"
        f"\\frac{{\\partial \\hat y_k}}{{\\partial {zi}}} = "
        f"\\sum_k \\left(-\\frac{{y_k}}{{\\hat y_k}}\\right)\\hat y_k"
        f"\\left(\\mathbb{{1}}[k = {i}] - {yh}\\right) = -{yi} + {yh}\\sum_k y_k = "
        f"{tail}\\quad\\left(\\textstyle\\sum_k y_k = {f(sum_y)}\\right)$$"
    )


def _backward_lines(spec: Spec, layers: list[Layer], t: Trace, f: _Fmt) -> list[str]:
    L = len(layers)
    out = []
    last = layers[-1]
    for i in range(1, len(last.W) + 1):
        d = t.delta[-1][i - 1]
        head = f"\\delta^{{({L})}}_{{{i}}} = \\frac{{\\partial L}}{{\\partial z^{{({L})}}_{{{i}}}}}"
        if combined_output_delta(spec.loss, last.activation):
            out.append(_combined_delta_line(spec.loss, head, i, L, t, f))
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


def _update_entries(step: Step, lr: Number, f: _Fmt) -> list[tuple[int, str, tuple, str]]:
    """One (layer, "W"|"b", index, LaTeX update line) per parameter of ``step``."""
    n_points = len(step.traces)
    out = []
    bar = r"\bar L" if n_points > 1 else "L"
    for l, (ly, new) in enumerate(zip(step.before, step.after), start=1):
        params = [
            (
                "W",
                (i, j),
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
                    "b",
                    (i,),
                    f"b^{{({l})}}_{{{i + 1}}}",
                    ly.b[i],
                    step.db[l - 1][i],
                    new.b[i],
                    [t.db[l - 1][i] for t in step.traces],
                )
                for i in range(len(ly.b))
            ]
        for kind, index, sym, old, g, nw, per in params:
            avg = ""
            if n_points > 1:
                avg = (
                    f"\\frac{{\\partial \\bar L}}{{\\partial {sym}}} = \\tfrac1{{{n_points}}}"
                    f"\\left({' + '.join(f.p(v) for v in per)}\\right) = {f(g)},\\quad "
                )
            out.append(
                (
                    l,
                    kind,
                    index,
                    f"{avg}{sym} \\leftarrow {sym} - \\eta\\frac{{\\partial {bar}}}"
                    f"{{\\partial {sym}}} = {f(old)} - {f(lr)}\\cdot {f.p(g)} = {f(nw)}",
                )
            )
    return out


def _update_lines(step: Step, lr: Number, n_points: int, f: _Fmt) -> list[str]:
    return [f"$${line}$$" for _, _, _, line in _update_entries(step, lr, f)]


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


def _conventions(answer: BackpropAnswer, digits: int) -> list[str]:
    spec = answer.spec
    if answer.exact:
        arith = "exact rational arithmetic"
    elif answer.float_from is not None and answer.float_from > 1:
        arith = (
            f"exact rational arithmetic in steps 1 to {answer.float_from - 1}; from step "
            f"{answer.float_from} on float64 ({digits} significant digits shown), because the "
            f"exact fractions would have grown beyond {MAX_EXACT_DIGITS} digits"
        )
    elif answer.float_from == 1:
        arith = (
            f"float64 ({digits} significant digits shown): the exact fractions of step 1 would "
            f"have grown beyond {MAX_EXACT_DIGITS} digits"
        )
    else:
        arith = f"float64 ({digits} significant digits shown)"
    text = (
        r"$W^{(l)}$ has shape $n_{out}\times n_{in}$ and $w^{(l)}_{ij}$ connects input $j$ to "
        r"neuron $i$ (counted from 1); $\delta^{(l)}_i = \partial L/\partial z^{(l)}_i$."
    )
    if any(ly.b is not None for ly in spec.layers):
        text += r" $b^{(l)}_i$ is the weight $w^{(l)}_{i0}$ of a constant input $x_0 = 1$."
    if len(spec.layers) == 2:
        text += (
            r" (Sheets that name the input-to-hidden weights $v$ and the hidden-to-output "
            r"weights $w$ mean $v = W^{(1)}$, $w = W^{(2)}$.)"
        )
    text += f" Numbers: {arith}."
    out = [text, ""]
    if spec.rounded_inputs:
        out += [
            f"{spec.rounded_inputs} input number(s) had more than {MAX_EXACT_DIGITS} digits in "
            "numerator or denominator and were read as float64.",
            "",
        ]
    if spec.loss == "cross_entropy" and spec.layers[-1].activation == "sigmoid":
        out += [
            "Note: `cross_entropy` is $-\\sum_k y_k \\ln \\hat y_k$, meant for a softmax "
            "output; the cross-entropy of sigmoid outputs is `binary_cross_entropy`.",
            "",
        ]
    return out


def _check_line(step: Step) -> str:
    c = step.check
    line = (
        f"Gradients checked against `{c['route']}`: max $|\\Delta|$ = {c['max_abs_error']:.3g}"
    )
    if c.get("passed", True):
        return line + "."
    kink = any(
        ly.activation == "relu" and any(v == 0 for v in t.z[l])
        for t in step.traces
        for l, ly in enumerate(step.before)
    )
    why = (
        " A ReLU input is exactly 0 in this step, where float64 autograd may take the other "
        "one-sided derivative."
        if kink
        else ""
    )
    return line + " — **the check did not pass**." + why


def _markdown(answer: BackpropAnswer, digits: int = 6, brief: bool = False) -> str:
    spec = answer.spec
    f = _Fmt(digits)
    sizes = "-".join(str(n) for n in [len(spec.layers[0].W[0])] + [len(ly.W) for ly in spec.layers])
    out = [
        f"## Backpropagation: {sizes} network, loss `{spec.loss}`, "
        f"$\\eta$ = {fmt(spec.lr, digits)}, {spec.mode}, {spec.steps} pass(es) over "
        f"{len(spec.data)} data point(s)",
        "",
        "**Compute graph**",
        "",
        graph_latex(spec),
        "",
        *_conventions(answer, digits),
        "**Initial parameters**",
        "",
        _params_latex(spec.layers, f),
        "",
    ]
    n_steps = len(answer.steps)
    shorten = not brief and not answer.full and n_steps > 2 * DETAIL_STEPS
    if shorten:
        out += [
            f"Steps {DETAIL_STEPS + 1} to {n_steps - 1} are shown briefly (loss and updated "
            "parameters); `--full` writes out the chain rule of every step.",
            "",
        ]
    all_brief = brief
    for s, step in enumerate(answer.steps, start=1):
        brief = all_brief or (shorten and DETAIL_STEPS < s < n_steps)
        if step.point is not None:
            where = f"epoch {step.epoch}, data point {step.point}"
        else:
            where = f"epoch {step.epoch}, batch of {len(step.traces)}"
        out += [f"### Step {s} ({where})", ""]
        if answer.float_from == s and s > 1:
            out += [f"From this step on: float64 (exact fractions beyond {MAX_EXACT_DIGITS} "
                     "digits).", ""]
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
        out += [_params_latex(step.after, f), "", _check_line(step), ""]
    if answer.graph:
        out += [f"Compute graph of step {answer.graph_step}: `{answer.graph}`", ""]
    if answer.student_check is not None:
        out.append(answer.student_check.to_markdown())
    return "\n".join(out)


def to_markdown(answer: BackpropAnswer, digits: int = 6, brief: bool = False) -> str:
    """The answer as Markdown with LaTeX (``answer.to_markdown(digits, brief)``)."""
    return answer.to_markdown(digits, brief)


# ---------------------------------------------------------------- a student's answer


# slips a student makes, in the order they are named when several explain a value
_SLIPS = {
    "sign": "the sign of the step: w + η·∂L/∂w instead of w − η·∂L/∂w",
    "lr": "forgot the learning rate: w − ∂L/∂w instead of w − η·∂L/∂w",
    "new_weights": "used the new (already updated) weights of the layer above in the chain "
    "rule; δ is propagated back with the old ones",
    "fprime": "forgot the activation derivative f′(z) in the δs",
    "fprime_out": "forgot the activation derivative f′(z) in the output layer's δ",
    "fprime_hidden": "forgot the activation derivative f′(z) in the hidden layers' δs",
    "half": "forgot the ½ of the loss: ∂L/∂ŷ = 2(ŷ − y) instead of ŷ − y",
    "mean_k": "forgot the 1/K of the mean over the K outputs: ∂L/∂ŷ = 2(ŷ − y) instead of "
    "(2/K)(ŷ − y)",
    "sum": "summed the batch's gradients instead of averaging them (1/n forgotten)",
}


def _np_act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        e = np.exp(z - z.max())
        return e / e.sum()
    return z


def _np_delta(name: str, z: np.ndarray, a: np.ndarray, g: np.ndarray, skip: bool) -> np.ndarray:
    """dL/dz from dL/da = g (``skip``: the activation derivative left out)."""
    if skip:
        return g
    if name == "softmax":
        return a * (g - (g * a).sum())
    d = {"linear": 1.0, "relu": (z > 0).astype(float), "sigmoid": a * (1 - a),
         "tanh": 1 - a * a}[name]
    return g * d


def run_with_slip(spec: Spec, slip: str | None) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The final (W, b) of ``spec`` in float64, computed the way a student with ``slip`` would.

    ``slip=None`` is the correct computation (the tests hold it to :func:`solve`). Layers are
    processed from the output down, so the ``"new_weights"`` slip can use the layer above's
    updated weights when it propagates δ.
    """
    Ws, bs = _arrays(spec.layers)
    acts = [ly.activation for ly in spec.layers]
    L = len(Ws)
    lr = float(spec.lr)
    with np.errstate(all="ignore"):
        for _ in range(spec.steps):
            groups = [[p] for p in spec.data] if spec.mode == "sequential" else [spec.data]
            for pts in groups:
                fw = []
                for x, _y in pts:
                    a = np.array(x, dtype=float)
                    zs, As = [], [a]
                    for W, b, act in zip(Ws, bs, acts):
                        z = W @ As[-1] + (b if b is not None else 0.0)
                        zs.append(z)
                        As.append(_np_act(act, z))
                    fw.append((zs, As))
                deltas = [[None] * L for _ in pts]
                newW: list = [None] * L
                newb: list = [None] * L
                for l in range(L - 1, -1, -1):
                    gW = np.zeros_like(Ws[l])
                    gb = np.zeros(Ws[l].shape[0])
                    for p, (_x, y) in enumerate(pts):
                        zs, As = fw[p]
                        yv = np.array(y, dtype=float)
                        if l == L - 1:
                            delta = _np_output_delta(spec.loss, acts[l], zs[l], As[-1], yv, slip)
                        else:
                            Wn = newW[l + 1] if slip == "new_weights" else Ws[l + 1]
                            g = Wn.T @ deltas[p][l + 1]
                            skip = slip in ("fprime", "fprime_hidden")
                            delta = _np_delta(acts[l], zs[l], As[l + 1], g, skip)
                        deltas[p][l] = delta
                        gW += np.outer(delta, As[l])
                        gb += delta
                    if slip != "sum":
                        gW, gb = gW / len(pts), gb / len(pts)
                    rate = 1.0 if slip == "lr" else lr
                    sign = -1.0 if slip == "sign" else 1.0
                    newW[l] = Ws[l] - sign * rate * gW
                    newb[l] = None if bs[l] is None else bs[l] - sign * rate * gb
                Ws, bs = newW, newb
    return list(zip(Ws, bs))


def _np_output_delta(loss, act, z, a, y, slip):
    K = len(y)
    skip = slip in ("fprime", "fprime_out")
    if loss == "sse_half":
        g = (2.0 if slip == "half" else 1.0) * (a - y)
    elif loss == "mse":
        g = (2.0 if slip == "mean_k" else 2.0 / K) * (a - y)
    elif loss == "cross_entropy":
        g = np.where(y != 0, -y / np.where(a == 0, 1.0, a), 0.0)
    else:
        g = np.where(y != 0, -y / np.where(a == 0, 1.0, a), 0.0) + np.where(
            y != 1, (1 - y) / np.where(a == 1, 1.0, 1 - a), 0.0)
    if combined_output_delta(loss, act) and not skip:
        return a - y
    return _np_delta(act, z, a, g, skip)


def _slips_for(spec: Spec) -> list[str]:
    names = ["sign", "lr"]
    if len(spec.layers) > 1:
        names.append("new_weights")
    if any(ly.activation != "linear" for ly in spec.layers):
        names += ["fprime", "fprime_out"] + (["fprime_hidden"] if len(spec.layers) > 1 else [])
    if spec.loss == "sse_half":
        names.append("half")
    if spec.loss == "mse" and len(spec.layers[-1].W) > 1:
        names.append("mean_k")
    if spec.mode == "batch" and len(spec.data) > 1:
        names.append("sum")
    return names


def _decimals(v: Number) -> int:
    """How many decimals a student wrote (12 for a value with no short decimal form)."""
    if isinstance(v, float):
        text = repr(v)
        if "e" in text:
            mant, exp = text.split("e")
            return max(0, (len(mant.split(".")[1]) if "." in mant else 0) - int(exp))
        return len(text.split(".")[1]) if "." in text else 0
    v = Fraction(v)
    for d in range(13):
        if (v * 10**d).denominator == 1:
            return d
    return 12


def _tolerance(student_value: Number, correct: float, tol: float | None) -> float:
    if tol is not None:
        return tol
    d = max(_decimals(student_value), 4)
    return max(10.0**-d, 1e-9 * abs(correct))


@dataclass
class EntryCheck:
    """One parameter of the student's answer against the computed update."""

    layer: int  # 1-based
    kind: str  # "W" or "b"
    index: tuple  # 0-based (i, j) for W, (i,) for b
    student: float
    correct: float
    ok: bool
    update: str = ""  # the correct update as LaTeX, numbers substituted
    slips: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        sub = "".join(str(i + 1) for i in self.index)
        return f"{'w' if self.kind == 'W' else 'b'}^{{({self.layer})}}_{{{sub}}}"


@dataclass
class BackpropCheck(Answer):
    """A student's updated parameters compared entry by entry with the computed ones.

    An entry is correct when it is within one unit of its last written decimal (at least four
    decimals are asked for: 0.1498 for 0.149781) or within ``tol`` when one is given.
    """

    entries: list[EntryCheck]
    steps: int
    missing: list[str] = field(default_factory=list)  # biases the student left out

    @property
    def correct(self) -> bool:
        return all(e.ok for e in self.entries)

    @property
    def wrong(self) -> list[EntryCheck]:
        return [e for e in self.entries if not e.ok]

    def to_markdown(self) -> str:
        out = ["### Your answer", ""]
        n = len(self.entries)
        after = "the update" if self.steps == 1 else f"the parameters after the {self.steps} updates"
        if self.correct:
            out += [f"**All correct**: {n} of {n} parameters match {after}.", ""]
        else:
            out += [f"{n - len(self.wrong)} of {n} parameters match {after}; wrong:", ""]
            for e in self.wrong:
                out.append(
                    f"- ${e.name}$: you wrote {fmt(e.student, 8)}; correct: ${e.update}$"
                )
                if len(e.slips) == 1:
                    out.append(f"  - Most likely slip: {e.slips[0]}.")
                elif e.slips:
                    out.append("  - Each of these slips gives your value: "
                               + "; ".join(e.slips) + ".")
                else:
                    out.append("  - No single slip explains this value; recompute it from the "
                               "chain rule above.")
            out.append("")
        if self.missing:
            out += [f"Not given (not checked): {', '.join(f'${m}$' for m in self.missing)}.", ""]
        return "\n".join(out)

    def to_dict(self) -> dict:
        return {
            "correct": self.correct,
            "n_checked": len(self.entries),
            "n_wrong": len(self.wrong),
            "entries": [
                {
                    "param": ("W" if e.kind == "W" else "b") + str(e.layer),
                    "index": [i + 1 for i in e.index],
                    "student": e.student,
                    "correct": e.correct,
                    "ok": e.ok,
                    "update": e.update,
                    "slips": list(e.slips),
                }
                for e in self.entries
            ],
            "missing": list(self.missing),
        }


def parse_student(obj, spec: Spec) -> list[tuple[list[list[Number]], list[Number] | None]]:
    """A student's ``{"layers": [{"W": ..., "b": ...}, ...]}`` in the spec's layout."""
    if not isinstance(obj, dict) or not isinstance(obj.get("layers"), list):
        raise DataError('the answer to check must be {"layers": [{"W": ..., "b": ...}, ...]}')
    layers = obj["layers"]
    if len(layers) != len(spec.layers):
        raise DataError(
            f"the answer to check has {len(layers)} layer(s); the network has {len(spec.layers)}"
        )
    check_limit(_count_params(layers), MAX_WEIGHTS, what="the number of values to check")
    out = []
    for l, (ly, ref) in enumerate(zip(layers, spec.layers), start=1):
        where = f"answer layer {l}"
        if not isinstance(ly, dict) or "W" not in ly:
            raise DataError(f'{where} must be an object with "W" (and "b" where the network has one)')
        bad = set(ly) - _LAYER_KEYS
        if bad:
            names = sorted(_short(k) for k in bad)
            raise DataError(f"{where}: unknown key(s) {', '.join(names)}; use W and b")
        W = _matrix(ly["W"], f"{where} W")
        if (len(W), len(W[0])) != ref.shape:
            raise DataError(
                f"{where}: W is {len(W)}×{len(W[0])} but the network's is "
                f"{ref.shape[0]}×{ref.shape[1]} (n_out × n_in)"
            )
        b = None
        if ly.get("b") is not None:
            if ref.b is None:
                raise DataError(f"{where}: the network has no bias here, but the answer gives b")
            b = _vector(ly["b"], f"{where} b", len(ref.b))
        out.append((W, b))
    return out


def check_answer(answer: BackpropAnswer, student, tol: float | None = None) -> BackpropCheck:
    """Compare a student's updated parameters with ``answer``'s final ones; name the slips."""
    if isinstance(student, (str, Path)):
        student = load_json(str(student), "answer to check")
    given = parse_student(student, answer.spec)
    f = _Fmt(max(answer.digits, 6))
    last = answer.steps[-1]
    updates = {(l, k, i): line for l, k, i, line in _update_entries(last, answer.spec.lr, f)}
    variants = []
    fprimes: list = []  # the f' slips in one layer only are named when they differ from all
    for slip in _slips_for(answer.spec):
        final = run_with_slip(answer.spec, slip)
        flat = np.concatenate([np.r_[W.ravel(), b if b is not None else []] for W, b in final])
        if not np.all(np.isfinite(flat)):
            continue
        if slip.startswith("fprime"):
            if any(np.allclose(flat, s, rtol=0, atol=1e-12) for s in fprimes):
                continue
            fprimes.append(flat)
        variants.append((slip, final))
    entries: list[EntryCheck] = []
    missing: list[str] = []
    for l, ((W_s, b_s), ref) in enumerate(zip(given, answer.final), start=1):
        cells = [("W", (i, j), W_s[i][j], ref.W[i][j])
                 for i in range(len(ref.W)) for j in range(len(ref.W[0]))]
        if ref.b is not None:
            if b_s is None:
                missing += [f"b^{{({l})}}_{{{i + 1}}}" for i in range(len(ref.b))]
            else:
                cells += [("b", (i,), b_s[i], ref.b[i]) for i in range(len(ref.b))]
        for kind, index, s_val, c_val in cells:
            c = float(c_val)
            s = float(s_val)
            t = _tolerance(s_val, c, tol)
            ok = abs(s - c) <= t
            e = EntryCheck(l, kind, index, s, c, ok, updates[(l, kind, index)])
            if not ok:
                for slip, final in variants:
                    W_v, b_v = final[l - 1]
                    v = W_v[index] if kind == "W" else b_v[index[0]]
                    if abs(s - float(v)) <= _tolerance(s_val, float(v), tol):
                        e.slips.append(f"{_SLIPS[slip]} (that gives {fmt(float(v), 8)})")
            entries.append(e)
    return BackpropCheck(entries, len(answer.steps), missing)


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


def _dict(answer: BackpropAnswer) -> dict:
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


# ---------------------------------------------------------------- the compute-graph figure


def graph_data(answer: BackpropAnswer, step: int = 1) -> dict:
    """What the compute graph of ``step`` (1-based) shows, as plain numbers.

    The values of the step's first data point (forward values z, a; deltas; the weights and
    biases before the update) and the gradient the step applied to each weight (the batch mean
    in batch mode). Lists are indexed by layer - 1; ``dW[l][i][j]`` is ∂L/∂w^(l+1)_(i+1)(j+1).
    """
    n_steps = len(answer.steps)
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= n_steps:
        raise ConfigError(f"--step must be a step from 1 to {n_steps}, got {_short(step)}")
    s = answer.steps[step - 1]
    t = s.traces[0]
    return {
        "step": step,
        "epoch": s.epoch,
        "point": s.point if s.point is not None else 1,
        "batch": s.point is None,
        "x": list(t.x),
        "y": list(t.y),
        "z": [list(z) for z in t.z],
        "a": [list(a) for a in t.a[1:]],
        "delta": [list(d) for d in t.delta],
        "W": [[list(r) for r in ly.W] for ly in s.before],
        "b": [None if ly.b is None else list(ly.b) for ly in s.before],
        "dW": [[list(r) for r in g] for g in s.dW],
        "db": [None if g is None else list(g) for g in s.db],
        "loss": t.loss,
        "activations": [ly.activation for ly in s.before],
        "loss_name": answer.spec.loss,
    }


def plot_graph(answer: BackpropAnswer, path, digits: int = 4, step: int = 1):
    """The compute graph of ``step`` (see :func:`graph_figure`), written atomically."""
    return save_figure(graph_figure(answer, digits, step), path)


def graph_figure(answer: BackpropAnswer, digits: int = 4, step: int = 1):
    """The network at ``step`` drawn as a graph: values, deltas, weights and gradients.

    The figure keeps what it drew as ``fig.graph_data`` (see :func:`graph_data`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = graph_data(answer, step)
    L = len(g["W"])
    cols = [len(g["x"])] + [len(W) for W in g["W"]]
    height = max(cols)
    gap = 1.7  # vertical distance between neurons (room for the bias and delta labels)
    pos = {(c, i): (3.0 * c, gap * ((n - 1) / 2 - i)) for c, n in enumerate(cols) for i in range(n)}
    fig, ax = plt.subplots(figsize=(3.2 * (L + 2), 1.9 * height + 1.8))

    def ft(v):
        return fmt(v, digits)

    for l, W in enumerate(g["W"], start=1):
        for i in range(len(W)):
            for j in range(len(W[0])):
                (x0, y0), (x1, y1) = pos[(l - 1, j)], pos[(l, i)]
                ax.plot([x0, x1], [y0, y1], color="0.6", lw=1, zorder=1)
                xm, ym = x0 + 0.3 * (x1 - x0), y0 + 0.3 * (y1 - y0)
                ax.text(
                    xm,
                    ym,
                    f"w={ft(W[i][j])}\n\u2202={ft(g['dW'][l - 1][i][j])}",
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
                label = f"x{i + 1}\n{ft(g['x'][i])}"
            else:
                label = f"z={ft(g['z'][c - 1][i])}\na={ft(g['a'][c - 1][i])}"
                extra = f"\u03b4={ft(g['delta'][c - 1][i])}"
                if g["b"][c - 1] is not None:
                    extra = f"b={ft(g['b'][c - 1][i])}\n" + extra
                ax.text(x, y - 0.5, extra, color="tab:red", fontsize=7, ha="center", va="top")
            ax.text(x, y, label, fontsize=8, ha="center", va="center", zorder=4)
    xl = 3.0 * (L + 1) - 0.8
    ax.add_patch(plt.Rectangle((xl - 0.45, -0.4), 0.9, 0.8, fc="#fdebd0", ec="0.3", zorder=2))
    ax.text(xl, 0, f"L\n{ft(g['loss'])}", ha="center", va="center", fontsize=9, zorder=4)
    for i in range(cols[-1]):
        x, y = pos[(L, i)]
        ax.plot([x + 0.42, xl - 0.45], [y, 0], color="tab:orange", lw=1, zorder=1)
        ax.text((x + xl) / 2, y / 2 + 0.15, f"y{i + 1}={ft(g['y'][i])}", fontsize=7, ha="center")
    ax.set_xticks([3.0 * c for c in range(L + 1)] + [xl])
    ax.set_xticklabels(
        ["input x"]
        + [f"layer {l} ({act})" for l, act in enumerate(g["activations"], start=1)]
        + [f"loss ({g['loss_name']})"]
    )
    ax.set_yticks([])
    ax.set_xlabel("layer")
    ax.set_ylabel("neuron")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xlim(-0.8, xl + 0.8)
    ax.set_ylim(-gap * (height - 1) / 2 - 1.2, gap * (height - 1) / 2 + 0.8)
    ax.set_aspect("equal")
    which = (
        f"step {step} (epoch {g['epoch']}, batch: values of data point 1, edges: the batch's "
        "mean gradient)"
        if g["batch"]
        else f"step {step} (epoch {g['epoch']}, data point {g['point']})"
    )
    ax.set_title(
        f"Compute graph of {which}: forward values (black), "
        "\u03b4 = \u2202L/\u2202z (red), edges: weight w and gradient \u2202L/\u2202w",
        fontsize=9,
    )
    fig.graph_data = g
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
        "--graph", metavar="FILE.png|svg", help="also draw the compute graph of one step"
    )
    parser.add_argument(
        "--step", default=None, metavar="N",
        help="the step --graph draws (1-based, default 1)",
    )
    parser.add_argument(
        "--check",
        metavar="FILE.json",
        help='a student\'s updated parameters, {"layers": [{"W": ..., "b": ...}, ...]} (a file, '
        "'-' or JSON text), compared with the computed update",
    )
    parser.add_argument(
        "--brief",
        action="store_true",
        help="only inputs, losses and updated parameters (no chain-rule lines)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"write out the chain rule of every step (a run of more than {2 * DETAIL_STEPS} "
        f"steps shows it for the first {DETAIL_STEPS} and the last)",
    )
    parser.add_argument(
        "--digits", default="6", metavar="N", help="significant digits for float values (default 6)"
    )
    add_format_arguments(parser)


def answer_from_args(args: argparse.Namespace) -> BackpropAnswer:
    """The answer for parsed ``add_arguments`` args: solved, graph drawn, student checked.

    Options are validated before any work; nothing is printed.
    """
    digits = positive_int(getattr(args, "digits", 6), name="--digits")
    check_limit(digits, MAX_DIGITS, what="--digits")
    graph = getattr(args, "graph", None)
    step_arg = getattr(args, "step", None)
    if graph:
        check_figure_path(graph)
    step = 1
    if step_arg is not None:
        if not graph:
            raise ConfigError("--step chooses the step --graph draws; give --graph FILE.png too")
        step = positive_int(step_arg, name="--step")
    if getattr(args, "spec", None) == "-" and getattr(args, "check", None) == "-":
        raise ConfigError("the spec and --check cannot both be read from stdin")
    spec = load_spec(args.spec)
    n_steps = spec.steps * (len(spec.data) if spec.mode == "sequential" else 1)
    if step > n_steps:
        raise ConfigError(f"--step {step}: this run has {n_steps} step(s); choose 1 to {n_steps}")
    answer = solve(spec)
    answer.digits = digits
    answer.brief = bool(getattr(args, "brief", False))
    answer.full = bool(getattr(args, "full", False))
    if getattr(args, "check", None):
        answer.student_check = answer.check(args.check)
    if graph:
        plot_graph(answer, graph, step=step)
        answer.graph, answer.graph_step = str(graph), step
    return answer


def main(args: argparse.Namespace) -> int:
    answer = answer_from_args(args)
    emit(answer, args)
    return 0
