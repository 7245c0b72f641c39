"""Output shapes and parameter counts of a chain of layers, with every formula filled in.

Shapes are channel-last as the sheets write them: H x W x C for images, L x C for sequences
(conv1d), N for flat vectors. Per spatial axis a convolution or pooling window gives
floor((n + 2p - d(k - 1) - 1) / s) + 1 outputs; p=same pads to ceil(n / s) (the extra
zero, for even windows, at the bottom/right) and p=valid means p=0. A conv layer with N
filters has N*(k*k*C + 1) parameters (weights plus one bias per filter; b=0 drops the bias).

layers (options in brackets have defaults):
  conv:k=K,n=N[,s=1,p=0,d=1,b=1]      2-D convolution, N filters of K x K x C (alias conv2d)
  conv1d:k=K,n=N[,s=1,p=0,d=1,b=1]    1-D convolution over an L x C input
  dwsep:k=K,n=N[,s=1,p=0,d=1,b=1,db=b] depthwise-separable: one K x K filter per channel, then
                                      N pointwise 1 x 1 x C filters: C*(K*K + 1) + N*(C + 1)
                                      (db=0 drops the depthwise bias, as Keras' SeparableConv2D)
  depthwise:k=K[,m=1,s,p,d,b=1]       depthwise convolution, m filters per channel
  pool:k=K[,s=K,p=0]                  max pooling (alias maxpool); avgpool: average pooling
  gap / gmp                           global average / max pooling -> C
  upsample:s=2                        nearest-neighbour upsampling
  flatten                             H x W x C -> H*W*C
  dense:n=N[,b=1]                     fully connected (aliases fc, linear); needs a flat input
  bn                                  batch normalisation: 2*C trainable parameters (gamma, beta)
  relu, sigmoid, tanh, softmax, dropout   no parameters, shape unchanged

examples:
  stridelab shape --input 50x50x1 conv:k=4,s=1,p=1,n=8 pool:k=2,s=2 flatten dense:n=10
  stridelab shape --input 32x32x3 conv:k=3,p=same,n=16 relu dwsep:k=3,n=32 gap dense:n=10
  stridelab shape --input 100x4 conv1d:k=5,s=2,n=8 pool:k=2 flatten dense:n=1 --json
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, field

from stridelab.errors import ConfigError
from stridelab.worked._numbers import dumps_json

_TIMES = "\u00d7"

# layer kind -> (aliases, allowed options, required options)
_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "conv": (("conv", "conv2d"), ("k", "n", "s", "p", "d", "b"), ("k", "n")),
    "conv1d": (("conv1d",), ("k", "n", "s", "p", "d", "b"), ("k", "n")),
    "dwsep": (("dwsep", "sepconv", "separable"), ("k", "n", "s", "p", "d", "b", "db"), ("k", "n")),
    "depthwise": (("depthwise", "dwconv", "dw"), ("k", "m", "s", "p", "d", "b"), ("k",)),
    "maxpool": (("pool", "maxpool", "max", "maxpool2d"), ("k", "s", "p"), ()),
    "avgpool": (("avgpool", "avg", "avgpool2d", "meanpool"), ("k", "s", "p"), ()),
    "gap": (("gap", "globalavgpool", "global_avg_pool"), (), ()),
    "gmp": (("gmp", "globalmaxpool", "global_max_pool"), (), ()),
    "upsample": (("upsample", "up"), ("s",), ()),
    "flatten": (("flatten",), (), ()),
    "dense": (("dense", "fc", "linear"), ("n", "b"), ("n",)),
    "bn": (("bn", "batchnorm"), (), ()),
    "activation": (
        ("relu", "sigmoid", "tanh", "softmax", "leakyrelu", "elu", "gelu", "identity"),
        (),
        (),
    ),
    "dropout": (("dropout",), ("p", "rate"), ()),
}
_ALIAS = {a: kind for kind, (aliases, _, _) in _KINDS.items() for a in aliases}
_SPATIAL = ("conv", "dwsep", "depthwise")


@dataclass
class LayerRow:
    """One layer of the chain: its output shape, parameter count and the arithmetic."""

    spec: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    shape_text: str  # how the output shape follows, numbers substituted (plain text)
    shape_latex: str
    params_text: str  # how the parameter count follows
    params_latex: str

    @property
    def formula(self) -> str:
        return f"{self.shape_text}; params = {self.params_text}"

    @property
    def formula_latex(self) -> str:
        return f"{self.shape_latex};\\quad {self.params_latex}"


@dataclass
class ShapeAnswer:
    input_shape: tuple[int, ...]
    layers: list[LayerRow] = field(default_factory=list)

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.layers)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.layers[-1].output_shape if self.layers else self.input_shape


# ---------------------------------------------------------------- parsing


def parse_shape(text: str) -> tuple[int, ...]:
    """``"50x50x1"`` -> (50, 50, 1) (H, W, C); ``"100x4"`` -> (L, C); ``"784"`` -> (N,)."""
    parts = [p for p in re.split(r"[x\u00d7*,\s()\[\]]+", str(text).strip().lower()) if p]
    if not parts or len(parts) > 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(
            f"input shape {text!r} not understood; write HxWxC such as 50x50x1 (channel last), "
            "LxC for conv1d, or N for a flat vector"
        )
    return tuple(int(p) for p in parts)


def _pair(value: str, key: str, where: str, minimum: int) -> tuple[int, int]:
    parts = re.split(r"[x\u00d7]", value)
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
        raise ConfigError(f"{where}: {key}={value!r} must be an integer (or AxB for two axes)")
    v = tuple(int(p) for p in parts)
    if min(v) < minimum:
        raise ConfigError(f"{where}: {key}={value} must be >= {minimum}")
    return (v[0], v[-1])


@dataclass(frozen=True)
class LayerSpec:
    text: str
    kind: str
    name: str  # the name as typed (e.g. relu)
    opts: dict


def parse_layer(text: str, index: int = 1) -> LayerSpec:
    """``"conv:k=4,s=1,p=1,n=8"`` -> a validated :class:`LayerSpec`."""
    where = f"layer {index} {text!r}"
    name, _, rest = text.strip().partition(":")
    name = name.strip().lower()
    if name not in _ALIAS:
        raise ConfigError(
            f"{where}: unknown layer {name!r}; use one of conv, conv1d, dwsep, depthwise, pool, "
            "avgpool, gap, gmp, upsample, flatten, dense, bn, relu, dropout (see --help)"
        )
    kind = _ALIAS[name]
    _, allowed, required = _KINDS[kind]
    opts: dict[str, str] = {}
    for item in (i for i in rest.split(",") if i.strip()):
        key, eq, value = item.partition("=")
        key, value = key.strip().lower(), value.strip().lower()
        if not eq or not value:
            raise ConfigError(f"{where}: option {item.strip()!r} must look like key=value")
        if key not in allowed:
            takes = ", ".join(allowed) if allowed else "no options"
            raise ConfigError(f"{where}: unknown option {key!r}; {name} takes {takes}")
        opts[key] = value
    missing = [k for k in required if k not in opts]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}= (e.g. {name}:k=3,n=16)")
    return LayerSpec(text.strip(), kind, name, opts)


# ---------------------------------------------------------------- arithmetic


def _window_out(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _axis(n: int, k: int, s: int, pad: str, d: int, where: str, axis: str):
    """Output length along one axis and its formula (text, LaTeX)."""
    if pad == "same":
        out = math.ceil(n / s)
        ext = d * (k - 1) + 1
        total = max((out - 1) * s + ext - n, 0)
        split = (
            f"p = {total // 2} per side"
            if total % 2 == 0
            else f"{total // 2} before, {total - total // 2} after"
        )
        return (
            out,
            f"\u2308{n}/{s}\u2309 = {out} (same: {split})",
            f"\\lceil {n}/{s} \\rceil = {out}\\ (\\text{{same: {split}}})",
        )
    p = 0 if pad == "valid" else int(pad)
    out = _window_out(n, k, s, p, d)
    if out < 1:
        raise ConfigError(
            f"{where}: the window (k={k}, d={d}) does not fit the {axis} size {n} with padding "
            f"{p}; use a smaller k, more padding or p=same"
        )
    num_t = f"{n} + 2\u00b7{p}" if p else f"{n}"
    num_l = f"{n} + 2\\cdot {p}" if p else f"{n}"
    if d == 1:
        num_t, num_l = f"{num_t} \u2212 {k}", f"{num_l} - {k}"
    else:
        num_t += f" \u2212 {d}\u00b7({k}\u22121) \u2212 1"
        num_l += f" - {d}\\cdot({k}-1) - 1"
    return (
        out,
        f"\u230a({num_t})/{s}\u230b + 1 = {out}",
        f"\\lfloor ({num_l})/{s} \\rfloor + 1 = {out}",
    )


def _pad_value(spec: LayerSpec, where: str) -> tuple[str, str]:
    p = spec.opts.get("p", "0")
    if p in ("same", "valid"):
        return (p, p)
    a, b = _pair(p, "p", where, 0)
    return (str(a), str(b))


def _spatial(spec: LayerSpec, shape, where: str, default_k: int | None = None, pool=False):
    """Output spatial dims and formulas for a windowed layer on (H, W, C) or (L, C)."""
    o = spec.opts
    dims = shape[:-1]  # (H, W) or (L,)
    ks = _pair(o.get("k", str(default_k)), "k", where, 1)
    ss = _pair(o["s"], "s", where, 1) if "s" in o else (ks if pool else (1, 1))
    ds = _pair(o.get("d", "1"), "d", where, 1)
    ps = _pad_value(spec, where)
    names = ("H", "W") if len(dims) == 2 else ("L",)
    outs, texts, latexes = [], [], []
    for a, n in enumerate(dims):
        out, t, lx = _axis(n, ks[a], ss[a], ps[a], ds[a], where, names[a])
        outs.append(out)
        texts.append(t)
        latexes.append(lx)
    if len(dims) == 2 and dims[0] == dims[1] and texts[0] == texts[1]:
        text, latex = f"H' = W' = {texts[0]}", f"H' = W' = {latexes[0]}"
    else:
        text = "; ".join(f"{nm}' = {t}" for nm, t in zip(names, texts))
        latex = ",\\; ".join(f"{nm}' = {lx}" for nm, lx in zip(names, latexes))
    return tuple(outs), ks, text, latex


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return _TIMES.join(str(s) for s in shape)


def _bias(spec: LayerSpec, where: str, key: str = "b", default: str = "1") -> int:
    b = spec.opts.get(key, default)
    if b not in ("0", "1"):
        raise ConfigError(f"{where}: {key}={b} must be 1 (with bias) or 0 (no bias)")
    return int(b)


def layer_output(spec: LayerSpec, shape: tuple[int, ...], index: int = 1) -> LayerRow:
    """Apply one layer to an input shape: output shape, parameters and the arithmetic."""
    where = f"layer {index} {spec.text!r}"
    kind, o = spec.kind, spec.opts
    C = shape[-1]
    if kind in _SPATIAL + ("maxpool", "avgpool", "upsample", "gap", "gmp") and len(shape) == 1:
        raise ConfigError(f"{where}: needs a spatial input (HxWxC or LxC), got the flat {shape[0]}")
    if kind in _SPATIAL and len(shape) != 3:
        raise ConfigError(
            f"{where}: needs an HxWxC input, got {_fmt_shape(shape)}; use conv1d for LxC"
        )
    if kind == "conv1d" and len(shape) != 2:
        raise ConfigError(f"{where}: needs an LxC input, got {_fmt_shape(shape)}")

    if kind in ("conv", "conv1d"):
        n = _pair(o["n"], "n", where, 1)[0]
        dims, ks, t, lx = _spatial(spec, shape, where)
        b = _bias(spec, where)
        kk_t = "\u00b7".join(str(k) for k in ks[: len(dims)])
        kk_l = "\\cdot ".join(str(k) for k in ks[: len(dims)])
        kprod = math.prod(ks[: len(dims)])
        params = n * (kprod * C + b)
        pt = f"{n}\u00b7({kk_t}\u00b7{C} + 1)" if b else f"{n}\u00b7{kk_t}\u00b7{C}"
        pl = f"{n}\\cdot({kk_l}\\cdot {C} + 1)" if b else f"{n}\\cdot {kk_l}\\cdot {C}"
        return _row(spec, shape, dims + (n,), params, t, lx, pt, pl)
    if kind == "dwsep":
        n = _pair(o["n"], "n", where, 1)[0]
        dims, ks, t, lx = _spatial(spec, shape, where)
        b = _bias(spec, where)
        db = _bias(spec, where, "db", str(b))
        params = C * (ks[0] * ks[1] + db) + n * (C + b)
        kk_t, kk_l = f"{ks[0]}\u00b7{ks[1]}", f"{ks[0]}\\cdot {ks[1]}"
        dw_t, dw_l = (
            (f"{C}\u00b7({kk_t} + 1)", f"{C}\\cdot({kk_l} + 1)")
            if db
            else (f"{C}\u00b7{kk_t}", f"{C}\\cdot {kk_l}")
        )
        pw_t, pw_l = (
            (f"{n}\u00b7({C} + 1)", f"{n}\\cdot({C} + 1)")
            if b
            else (f"{n}\u00b7{C}", f"{n}\\cdot {C}")
        )
        pt = f"{dw_t} + {pw_t} = {params} (depthwise + pointwise)"
        pl = f"{dw_l} + {pw_l} = {params}\\ (\\text{{depthwise + pointwise}})"
        return _row(spec, shape, dims + (n,), params, t, lx, pt, pl)
    if kind == "depthwise":
        m = _pair(o.get("m", "1"), "m", where, 1)[0]
        dims, ks, t, lx = _spatial(spec, shape, where)
        b = _bias(spec, where)
        params = C * m * (ks[0] * ks[1] + b)
        pt = f"{C}\u00b7{m}\u00b7({ks[0]}\u00b7{ks[1]}" + (" + 1)" if b else ")")
        pl = f"{C}\\cdot {m}\\cdot({ks[0]}\\cdot {ks[1]}" + (" + 1)" if b else ")")
        return _row(spec, shape, dims + (C * m,), params, t, lx, pt, pl)
    if kind in ("maxpool", "avgpool"):
        dims, _, t, lx = _spatial(spec, shape, where, default_k=2, pool=True)
        return _row(spec, shape, dims + (C,), 0, t, lx, "0 (no weights)", "0")
    if kind in ("gap", "gmp"):
        how = "mean" if kind == "gap" else "max"
        return _row(
            spec,
            shape,
            (C,),
            0,
            f"one {how} per channel: {C}",
            f"\\text{{one {how} per channel: }}{C}",
            "0",
            "0",
        )
    if kind == "upsample":
        s = _pair(o.get("s", "2"), "s", where, 1)
        dims = tuple(n * s[a] for a, n in enumerate(shape[:-1]))
        names = ("H", "W") if len(dims) == 2 else ("L",)
        t = "; ".join(
            f"{names[a]}' = {n}\u00b7{s[a]} = {dims[a]}" for a, n in enumerate(shape[:-1])
        )
        lx = ",\\; ".join(
            f"{names[a]}' = {n}\\cdot {s[a]} = {dims[a]}" for a, n in enumerate(shape[:-1])
        )
        return _row(spec, shape, dims + (C,), 0, t, lx, "0", "0")
    if kind == "flatten":
        n = math.prod(shape)
        dot, cdot = "\u00b7", "\\cdot "
        t = f"{dot.join(map(str, shape))} = {n}" if len(shape) > 1 else f"{n} (already flat)"
        lx = f"{cdot.join(map(str, shape))} = {n}" if len(shape) > 1 else f"{n}"
        return _row(spec, shape, (n,), 0, t, lx, "0", "0")
    if kind == "dense":
        if len(shape) != 1:
            raise ConfigError(
                f"{where}: needs a flat input, got {_fmt_shape(shape)}; add flatten (or gap) first"
            )
        n = _pair(o["n"], "n", where, 1)[0]
        b = _bias(spec, where)
        params = n * (shape[0] + b)
        pt = f"{n}\u00b7({shape[0]} + 1)" if b else f"{n}\u00b7{shape[0]}"
        pl = f"{n}\\cdot({shape[0]} + 1)" if b else f"{n}\\cdot {shape[0]}"
        return _row(spec, shape, (n,), params, f"{n} units", f"{n}\\ \\text{{units}}", pt, pl)
    if kind == "bn":
        return _row(
            spec,
            shape,
            shape,
            2 * C,
            "shape unchanged",
            "\\text{unchanged}",
            f"2\u00b7{C} = {2 * C} (\u03b3, \u03b2 per channel)",
            f"2\\cdot {C} = {2 * C}\\ (\\gamma, \\beta\\ \\text{{per channel}})",
        )
    if kind == "dropout":
        p = o.get("p", o.get("rate", "0.5"))
        try:
            ok = 0 <= float(p) < 1
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f"{where}: dropout rate {p!r} must be a number in [0, 1)")
    return _row(spec, shape, shape, 0, "shape unchanged", "\\text{unchanged}", "0", "0")


def _row(spec, shape, out, params, t, lx, pt, pl) -> LayerRow:
    if not pt.startswith("0") and "=" not in pt:
        pt, pl = f"{pt} = {params}", f"{pl} = {params}"
    return LayerRow(spec.text, spec.kind, tuple(shape), tuple(out), params, t, lx, pt, pl)


def solve(input_shape: str | tuple[int, ...], layers: list[str]) -> ShapeAnswer:
    """Propagate ``input_shape`` (H, W, C) through ``layers`` (specs such as ``"conv:k=3,n=8"``)."""
    shape = parse_shape(input_shape) if isinstance(input_shape, str) else tuple(input_shape)
    specs = [s for item in layers for s in re.split(r"\s+|->|\u2192", item.strip()) if s]
    if not specs:
        raise ConfigError("give at least one layer, e.g. conv:k=3,n=8 pool:k=2 flatten dense:n=10")
    answer = ShapeAnswer(shape)
    for i, text in enumerate(specs, start=1):
        row = layer_output(parse_layer(text, i), shape, i)
        answer.layers.append(row)
        shape = row.output_shape
    return answer


# ---------------------------------------------------------------- rendering


def to_markdown(answer: ShapeAnswer) -> str:
    inp = answer.input_shape
    axes = {3: "H\u00d7W\u00d7C", 2: "L\u00d7C", 1: "N"}[len(inp)]
    out = [
        f"## Shapes and parameters: input {_fmt_shape(inp)} ({axes})",
        "",
        "Per spatial axis a window of size k with stride s, padding p and dilation d gives "
        r"$\left\lfloor \frac{n + 2p - d(k-1) - 1}{s} \right\rfloor + 1$ outputs "
        r"($\lfloor (n + 2p - k)/s \rfloor + 1$ when d = 1; `same` gives $\lceil n/s \rceil$). "
        r"A conv layer with N filters of size k×k on C channels has $N\cdot(k\cdot k\cdot C + 1)$ "
        r"parameters; a dense layer with N units on M inputs has $N\cdot(M + 1)$.",
        "",
        "| # | layer | output shape | how | parameters | how |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(answer.layers, start=1):
        how_p = f"${r.params_latex}$" if r.params else ""
        out.append(
            f"| {i} | `{r.spec}` | {_fmt_shape(r.output_shape)} | ${r.shape_latex}$ | "
            f"{r.params:,} | {how_p} |"
        )
    nonzero = [r.params for r in answer.layers if r.params]
    total = answer.total_params
    sum_text = (
        " + ".join(f"{p:,}" for p in nonzero) + f" = {total:,}"
        if len(nonzero) > 1
        else (f"{total:,}")
    )
    out += [
        "",
        f"**Output** {_fmt_shape(answer.output_shape)}; **total parameters** {sum_text}.",
        "",
    ]
    return "\n".join(out)


def to_dict(answer: ShapeAnswer) -> dict:
    return {
        "input_shape": list(answer.input_shape),
        "layers": [
            {
                "spec": r.spec,
                "output_shape": list(r.output_shape),
                "params": r.params,
                "formula": r.formula,
                "formula_latex": r.formula_latex,
            }
            for r in answer.layers
        ],
        "output_shape": list(answer.output_shape),
        "total_params": answer.total_params,
    }


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--input",
        required=True,
        metavar="HxWxC",
        help="input shape, channel last: 50x50x1, 32x32x3; LxC for conv1d; N flat",
    )
    parser.add_argument(
        "layers",
        nargs="*",
        metavar="LAYER",
        help="layer specs such as conv:k=4,s=1,p=1,n=8 pool:k=2 flatten dense:n=10",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")


def main(args: argparse.Namespace) -> int:
    answer = solve(args.input, args.layers)
    print(dumps_json(to_dict(answer)) if args.json else to_markdown(answer))
    return 0
