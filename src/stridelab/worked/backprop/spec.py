"""The network, loss, learning rate and data of ``stridelab backprop``: JSON read safely, validated."""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from fractions import Fraction

from stridelab.errors import ConfigError, DataError
from stridelab.worked.limits import (
    MAX_EXACT_DIGITS,
    MAX_JSON_DEPTH,
    MAX_LITERAL_CHARS,
    MAX_STEPS,
    MAX_WEIGHTS,
    check_limit,
)
from stridelab.worked.numbers import Number, exact_number, fmt, is_exact
from stridelab.worked.values import json_number_hooks, read_text_file

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
LOSSES = ("sse_half", "mse", "cross_entropy", "binary_cross_entropy")
_LOSS_ALIASES = {"ce": "cross_entropy", "bce": "binary_cross_entropy"}
MODES = ("sequential", "batch")
_SPEC_KEYS = {"layers", "loss", "lr", "data", "mode", "steps", "x", "y"}
LAYER_KEYS = {"W", "b", "activation"}

# the longest spec (or student answer) read, in characters
MAX_SPEC_CHARS = 1_000_000
# forward-backward passes times trained parameters: bounds the work and the answer's length
MAX_WORK = 200_000
_BIG = 10**MAX_EXACT_DIGITS  # an exact numerator or denominator must stay below this


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


def short(v) -> str:
    """A value for an error message, never longer than a line (and never a huge int's str)."""
    if isinstance(v, (int, Fraction)) and not isinstance(v, bool):
        if abs(v) < 10**20 and not too_big(v):
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


def too_big(v) -> bool:
    """An exact value whose numerator or denominator has more than MAX_EXACT_DIGITS digits."""
    if isinstance(v, Fraction):
        return abs(v.numerator) >= _BIG or v.denominator >= _BIG
    if isinstance(v, int) and not isinstance(v, bool):
        return abs(v) >= _BIG
    return False


def spec_number(v, where: str, notes: dict | None = None) -> Number:
    """A spec number: finite in float64; exact while short enough, else float64."""
    if isinstance(v, bool) or not isinstance(v, (int, Fraction, float)):  # JSON numbers only
        raise DataError(f"{where}: {short(v)} is not a number")
    x = exact_number(v, what=where)
    if not is_exact(x) and notes is not None:  # too many digits to keep exact: float64
        notes["rounded"] = notes.get("rounded", 0) + 1
    return x


def spec_vector(v, where: str, n: int | None = None, notes: dict | None = None) -> list[Number]:
    if not isinstance(v, list) or not v:
        raise DataError(f"{where} must be a non-empty list of numbers")
    if n is not None and len(v) != n:
        raise DataError(f"{where} has {len(v)} values but {n} are needed")
    return [spec_number(x, where, notes) for x in v]


def spec_matrix(v, where: str, notes: dict | None = None) -> list[list[Number]]:
    if not isinstance(v, list) or not v or not all(isinstance(r, list) and r for r in v):
        raise DataError(f"{where} must be a non-empty list of rows, e.g. [[1, 2], [3, 4]]")
    for i, r in enumerate(v[1:], start=2):
        if len(r) != len(v[0]):
            raise DataError(
                f"{where}: row {i} has {len(r)} values but row 1 has {len(v[0])}; "
                "W must be rectangular (n_out rows of n_in values)"
            )
    return [spec_vector(r, f"{where} row {i}", notes=notes) for i, r in enumerate(v, start=1)]


def count_params(layers: list) -> int:
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
        raise ConfigError(f"{name} must be a whole number >= 1, got {short(v)}")
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
        names = sorted(short(k) for k in unknown)
        raise ConfigError(
            f"unknown key(s) {', '.join(names)} in the spec; use layers, loss, lr, data, mode, steps"
        )
    if not isinstance(obj.get("layers"), list) or not obj["layers"]:
        raise DataError('the spec needs "layers": a non-empty list of {"W": ..., "b": ...}')
    check_limit(count_params(obj["layers"]), MAX_WEIGHTS, what="the number of weights and biases")
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
        bad = set(ly) - LAYER_KEYS
        if bad:
            names = sorted(short(k) for k in bad)
            raise ConfigError(f"{where}: unknown key(s) {', '.join(names)}; use W, b, activation")
        W = spec_matrix(ly["W"], f"{where} W", notes)
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
            b = spec_vector(ly["b"], f"{where} b", notes=notes)
        act_raw = ly.get("activation", "linear")
        act = act_raw.lower() if isinstance(act_raw, str) else ""
        if act not in ACTIVATIONS:
            raise ConfigError(
                f"{where}: unknown activation {short(act_raw)}; use " + ", ".join(ACTIVATIONS)
            )
        layers.append(Layer(W, b, act))
        n_in = len(W)
    n_params = sum(ly.n_params for ly in layers)
    check_limit(steps * len(data) * n_params, MAX_WORK,
                what="passes × parameters (steps × data points × weights and biases)")
    loss = _loss_name(obj.get("loss", "sse_half"))
    if loss not in LOSSES:
        raise ConfigError(
            f"unknown loss {short(obj.get('loss'))}; use " + ", ".join(LOSSES) + " (or ce, bce)"
        )
    if "lr" not in obj:
        raise ConfigError('the spec needs "lr", the learning rate (e.g. 0.1)')
    lr = spec_number(obj["lr"], "lr", notes)
    if lr <= 0:
        raise ConfigError(f"lr must be positive, got {fmt(lr)}")
    mode_raw = obj.get("mode", "sequential")
    mode = mode_raw.lower() if isinstance(mode_raw, str) else ""
    if mode not in MODES:
        raise ConfigError(f"unknown mode {short(mode_raw)}; use sequential or batch")
    n_x, n_y = len(layers[0].W[0]), len(layers[-1].W)
    points = []
    for n, p in enumerate(data, start=1):
        if not isinstance(p, dict) or "x" not in p or "y" not in p:
            raise DataError(f'data point {n} must be an object with "x" and "y"')
        x = spec_vector(p["x"], f"data point {n} x", n_x, notes)
        y = spec_vector(p["y"], f"data point {n} y", n_y, notes)
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
_ANY_LENGTH = 3 * MAX_LITERAL_CHARS  # digits of a number literal, exponent included


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
        text, where = read_text_file(s, what=f"backprop {what}"), repr(s)
    if len(text) > MAX_SPEC_CHARS:
        raise DataError(f"{where} is longer than {MAX_SPEC_CHARS:,} characters")
    return text, where


def load_json(source: str, what: str = "spec"):
    """Decode JSON from a file, ``-`` or text, refusing deep nesting and extreme numbers."""
    text, where = _read_source(source, what)
    _check_depth(text, where)
    try:
        # every number exact however long (up to MAX_LITERAL_CHARS): spec_number decides
        # which ones stay exact, and counts the others
        return json.loads(text, **json_number_hooks(what=where, max_exact_digits=_ANY_LENGTH))
    except json.JSONDecodeError as e:
        raise DataError(
            f"{where} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        ) from None
    except RecursionError:  # pragma: no cover - the depth scan refuses this first
        raise DataError(f"{where} is nested too deeply") from None


def load_spec(source: str) -> Spec:
    """A spec from a file path, ``-`` (stdin) or JSON text starting with ``{``."""
    return parse_spec(load_json(source, "spec"))
