"""A student's updated weights compared entry by entry, each wrong one with the slips that give it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stridelab.errors import DataError
from stridelab.worked.answer import Answer
from stridelab.worked.backprop.engine import arrays, combined_output_delta
from stridelab.worked.backprop.markdown import Fmt, update_entries
from stridelab.worked.backprop.spec import (
    LAYER_KEYS,
    Spec,
    count_params,
    load_json,
    short,
    spec_matrix,
    spec_vector,
)
from stridelab.worked.limits import MAX_WEIGHTS, check_limit
from stridelab.worked.numbers import Number, decimal_places, fmt

if TYPE_CHECKING:
    from stridelab.worked.backprop.answer import BackpropAnswer


# ---------------------------------------------------------------- a student's answer


# slips a student makes, in the order they are named when several explain a value
SLIPS = {
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
    "grad_sign": "the sign of the gradient: ∂L/∂ŷ = y − ŷ instead of ŷ − y",
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


@dataclass
class SlipStep:
    """One update as a slip computes it (float64): the parameters after it, the gradients it
    applied (averaged over the batch unless the slip is ``"sum"``) and each point's δ."""

    params: list[tuple[np.ndarray, np.ndarray | None]]  # per layer (W (n_out, n_in), b)
    grads: list[tuple[np.ndarray, np.ndarray]]  # per layer (dW, db)
    deltas: list[list[np.ndarray]]  # per point, per layer: δ (n_out,)


def run_with_slip(spec: Spec, slip: str | None) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The final (W, b) of ``spec`` in float64, computed the way a student with ``slip`` would.

    ``slip=None`` is the correct computation (the tests hold it to :func:`solve`). Layers are
    processed from the output down, so the ``"new_weights"`` slip can use the layer above's
    updated weights when it propagates δ.
    """
    return slip_steps(spec, slip, keep=False)[-1].params


def slip_steps(spec: Spec, slip: str | None, *, keep: bool = True) -> list[SlipStep]:
    """Every update of ``spec`` as a student with ``slip`` computes it (only the last one
    unless ``keep``); see :func:`run_with_slip`."""
    Ws, bs = arrays(spec.layers)
    acts = [ly.activation for ly in spec.layers]
    L = len(Ws)
    lr = float(spec.lr)
    out: list[SlipStep] = []
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
                grads: list = [None] * L
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
                    grads[l] = (gW, gb)
                    rate = 1.0 if slip == "lr" else lr
                    sign = -1.0 if slip == "sign" else 1.0
                    newW[l] = Ws[l] - sign * rate * gW
                    newb[l] = None if bs[l] is None else bs[l] - sign * rate * gb
                Ws, bs = newW, newb
                step = SlipStep(list(zip(Ws, bs)), grads, deltas)
                if keep or not out:
                    out.append(step)
                else:
                    out[-1] = step
    return out


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


def _tolerance(student_value: Number, correct: float, tol: float | None) -> float:
    if tol is not None:
        return tol
    places = decimal_places(student_value)  # a decimal with no short form counts as 12
    d = max(12 if places is None else min(places, 12), 4)
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
    slip_keys: list[str] = field(default_factory=list)  # a key of SLIPS per sentence

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
    check_limit(count_params(layers), MAX_WEIGHTS, what="the number of values to check")
    out = []
    for l, (ly, ref) in enumerate(zip(layers, spec.layers), start=1):
        where = f"answer layer {l}"
        if not isinstance(ly, dict) or "W" not in ly:
            raise DataError(f'{where} must be an object with "W" (and "b" where the network has one)')
        bad = set(ly) - LAYER_KEYS
        if bad:
            names = sorted(short(k) for k in bad)
            raise DataError(f"{where}: unknown key(s) {', '.join(names)}; use W and b")
        W = spec_matrix(ly["W"], f"{where} W")
        if (len(W), len(W[0])) != ref.shape:
            raise DataError(
                f"{where}: W is {len(W)}×{len(W[0])} but the network's is "
                f"{ref.shape[0]}×{ref.shape[1]} (n_out × n_in)"
            )
        b = None
        if ly.get("b") is not None:
            if ref.b is None:
                raise DataError(f"{where}: the network has no bias here, but the answer gives b")
            b = spec_vector(ly["b"], f"{where} b", len(ref.b))
        out.append((W, b))
    return out


def check_answer(answer: BackpropAnswer, student, tol: float | None = None) -> BackpropCheck:
    """Compare a student's updated parameters with ``answer``'s final ones; name the slips."""
    if isinstance(student, (str, Path)):
        student = load_json(str(student), "answer to check")
    given = parse_student(student, answer.spec)
    f = Fmt(max(answer.digits, 6))
    last = answer.steps[-1]
    updates = {(l, k, i): line for l, k, i, line in update_entries(last, answer.spec.lr, f)}
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
                        e.slip_keys.append(slip)
                        e.slips.append(f"{SLIPS[slip]} (that gives {fmt(float(v), 8)})")
            entries.append(e)
    return BackpropCheck(entries, len(answer.steps), missing)
