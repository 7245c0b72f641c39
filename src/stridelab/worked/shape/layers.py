"""Layer specs and the arithmetic of one layer: output shape, parameter count, the formulas."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from stridelab.errors import ConfigError
from stridelab.worked.limits import MAX_WINDOW, check_limit
from stridelab.worked.shape.sym import (
    Sym,
    count_latex,
    count_text,
    is_sym,
    latex_of,
    simplify,
)

_TIMES = "\u00d7"

# the most layers one chain may have
MAX_LAYERS = 1_000
# the largest input size, channel count, filter/unit count or computed spatial size
MAX_SIZE = 1_000_000_000
# the longest text of one layer spec or of a shape (characters); longer text is refused unread
MAX_SPEC_CHARS = 200

# layer kind -> (aliases, allowed options, required options)
_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "conv": (("conv", "conv2d"), ("k", "n", "s", "p", "d", "b"), ("k",)),
    "conv1d": (("conv1d",), ("k", "n", "s", "p", "d", "b"), ("k",)),
    "dwsep": (("dwsep", "sepconv", "separable"), ("k", "n", "s", "p", "d", "b", "db"), ("k",)),
    "depthwise": (("depthwise", "dwconv", "dw"), ("k", "m", "s", "p", "d", "b"), ("k",)),
    "maxpool": (("pool", "maxpool", "max", "maxpool2d"), ("k", "s", "p"), ()),
    "avgpool": (("avgpool", "avg", "avgpool2d", "meanpool"), ("k", "s", "p"), ()),
    "gap": (("gap", "globalavgpool", "global_avg_pool"), (), ()),
    "gmp": (("gmp", "globalmaxpool", "global_max_pool"), (), ()),
    "upsample": (("upsample", "up"), ("f", "s"), ()),
    "flatten": (("flatten",), (), ()),
    "reshape": (("reshape", "unflatten", "view"), (), ()),
    "dense": (("dense", "fc", "linear"), ("n", "b"), ()),
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
WINDOWED = ("conv", "conv1d", "dwsep", "depthwise", "maxpool", "avgpool")
_OPEN_COUNT = ("conv", "conv1d", "dwsep", "dense")  # layers whose n= may be left as a symbol
_DIGITS = re.compile(r"[0-9]+")



# ---------------------------------------------------------------- results


@dataclass
class LayerRow:
    """One layer of the chain: its output shape, parameter count and the arithmetic.

    Shapes are tuples of ``int`` (or :class:`Sym` for a depth left open), channel last;
    ``params`` is an ``int`` or a :class:`Sym`.
    """

    spec: str
    kind: str
    input_shape: tuple
    output_shape: tuple
    params: int | Sym
    shape_text: str  # how the output shape follows, numbers substituted (plain text)
    shape_latex: str
    params_text: str  # how the parameter count follows
    params_latex: str
    biases: int | Sym = 0  # how many of the parameters are biases

    @property
    def formula(self) -> str:
        return f"{self.shape_text}; params = {self.params_text}"

    @property
    def formula_latex(self) -> str:
        return f"{self.shape_latex};\\quad {self.params_latex}"



# ---------------------------------------------------------------- parsing


def _int_text(text: str, what: str, *, minimum: int, limit: int) -> int:
    """An ASCII integer within [minimum, limit], read only when it is short enough to be so."""
    t = text.strip()
    if not _DIGITS.fullmatch(t):
        raise ConfigError(f"{what}: {text!r} must be a whole number")
    if len(t) > len(str(limit)) or int(t) > limit:
        raise ConfigError(f"{what} is {t[:20]}{'...' if len(t) > 20 else ''}, above the limit "
                          f"of {limit:,}")
    v = int(t)
    if v < minimum:
        raise ConfigError(f"{what} is {v}, must be >= {minimum}")
    return v


def parse_shape(text: str) -> tuple[int, ...]:
    """``"50x50x1"`` -> (50, 50, 1) (H, W, C); ``"100x4"`` -> (L, C); ``"784"`` -> (N,)."""
    raw = str(text)
    if len(raw) > MAX_SPEC_CHARS:
        raise ConfigError(f"input shape is {len(raw):,} characters long; write HxWxC such as "
                          "50x50x1")
    parts = [p for p in re.split(r"[x\u00d7*,\s()\[\]]+", raw.strip().lower()) if p]
    if not parts or len(parts) > 3 or not all(_DIGITS.fullmatch(p) for p in parts):
        raise ConfigError(
            f"input shape {text!r} not understood; write HxWxC such as 50x50x1 (channel last), "
            "LxC for conv1d, or N for a flat vector"
        )
    dims = tuple(_int_text(p, f"input shape {text!r}: size", minimum=1, limit=MAX_SIZE)
                 for p in parts)
    return dims


def _pair(value: str, key: str, where: str, minimum: int, limit: int = MAX_WINDOW):
    parts = re.split(r"[x\u00d7]", value)
    if len(parts) not in (1, 2) or not all(_DIGITS.fullmatch(p) for p in parts):
        raise ConfigError(f"{where}: {key}={value!r} must be an integer (or AxB for two axes)")
    v = tuple(_int_text(p, f"{where}: {key}", minimum=minimum, limit=limit) for p in parts)
    return (v[0], v[-1])


@dataclass(frozen=True)
class LayerSpec:
    text: str
    kind: str
    name: str  # the name as typed (e.g. relu)
    opts: dict
    target: tuple[int, ...] | None = None  # reshape's shape


def parse_layer(text: str, index: int = 1) -> LayerSpec:
    """``"conv:k=4,s=1,p=1,n=8"`` -> a validated :class:`LayerSpec`."""
    if len(text) > MAX_SPEC_CHARS:
        raise ConfigError(f"layer {index} is {len(text):,} characters long; a layer spec looks "
                          "like conv:k=3,n=8")
    where = f"layer {index} {text!r}"
    name, _, rest = text.strip().partition(":")
    name = name.strip().lower()
    if name not in _ALIAS:
        raise ConfigError(
            f"{where}: unknown layer {name!r}; use one of conv, conv1d, dwsep, depthwise, pool, "
            "avgpool, gap, gmp, upsample, flatten, reshape, dense, bn, relu, dropout (see --help)"
        )
    kind = _ALIAS[name]
    if kind == "reshape":
        target_text = rest.strip().lower()
        if target_text.startswith("shape="):
            target_text = target_text[len("shape="):]
        parts = [p for p in re.split(r"[x\u00d7*,]+", target_text) if p.strip()]
        if not parts or len(parts) > 3:
            raise ConfigError(f"{where}: write the new shape channel last, e.g. reshape:7x7x8")
        target = tuple(_int_text(p, f"{where}: size", minimum=1, limit=MAX_SIZE) for p in parts)
        return LayerSpec(text.strip(), kind, name, {}, target)
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
        if key in opts:
            raise ConfigError(f"{where}: option {key}= given twice")
        opts[key] = value
    if kind == "upsample" and "f" in opts and "s" in opts:
        raise ConfigError(f"{where}: give the factor once, as f= (s= is the same)")
    missing = [k for k in required if k not in opts]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}= (e.g. {name}:k=3,n=16)")
    return LayerSpec(text.strip(), kind, name, opts)


def split_layers(layers: str | list[str] | tuple[str, ...]) -> list[str]:
    """Layer spec texts from arguments that may hold several specs each (``a b``, ``a -> b``)."""
    if isinstance(layers, str):
        layers = [layers]
    specs: list[str] = []
    for item in layers:
        for s in re.split(r"\s+|->|\u2192", str(item).strip()):
            if s:
                specs.append(s)
                check_limit(len(specs), MAX_LAYERS, what="the number of layers")
    return specs


# ---------------------------------------------------------------- arithmetic

# slips a student makes in the window formula (applied when checking an answer)
_AXIS_SLIPS = ("padding", "one_side", "plus_one", "ceil")


def _window_out(n: int, k: int, s: int, p: int, d: int, slip: str | None = None) -> int:
    ext = d * (k - 1) + 1
    if slip == "padding":
        p = 0
    pad = p if slip == "one_side" else 2 * p
    if slip == "ceil":
        return -((ext - n - pad) // s) + 1
    plus = 0 if slip == "plus_one" else 1
    return (n + pad - ext) // s + plus


def _axis(n: int, k: int, s: int, pad: str, d: int, where: str, axis: str,
          slip: str | None = None):
    """Output length along one axis and its formula (text, LaTeX)."""
    if pad == "same" and slip != "padding":
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
    p = 0 if pad in ("valid", "same") else int(pad)
    if slip == "padding":
        p_shown = 0
    else:
        p_shown = p
    out = _window_out(n, k, s, p, d, slip)
    if out < 1:
        raise ConfigError(
            f"{where}: the window (k={k}, d={d}) does not fit the {axis} size {n} with padding "
            f"{p}; use a smaller k, more padding or p=same"
        )
    two = "" if slip == "one_side" else "2\u00b7"
    two_l = "" if slip == "one_side" else "2\\cdot "
    num_t = f"{n} + {two}{p_shown}" if p_shown else f"{n}"
    num_l = f"{n} + {two_l}{p_shown}" if p_shown else f"{n}"
    if d == 1:
        num_t, num_l = f"{num_t} \u2212 {k}", f"{num_l} - {k}"
    else:
        num_t += f" \u2212 {d}\u00b7({k}\u22121) \u2212 1"
        num_l += f" - {d}\\cdot({k}-1) - 1"
    lo_t, hi_t, lo_l, hi_l = "\u230a", "\u230b", "\\lfloor", "\\rfloor"
    if slip == "ceil":
        lo_t, hi_t, lo_l, hi_l = "\u2308", "\u2309", "\\lceil", "\\rceil"
    plus_t = "" if slip == "plus_one" else " + 1"
    return (
        out,
        f"{lo_t}({num_t})/{s}{hi_t}{plus_t} = {out}",
        f"{lo_l} ({num_l})/{s} {hi_l}{plus_t} = {out}",
    )


def _pad_value(spec: LayerSpec, where: str) -> tuple[str, str]:
    p = spec.opts.get("p", "0")
    if p in ("same", "valid"):
        return (p, p)
    a, b = _pair(p, "p", where, 0)
    return (str(a), str(b))


def _spatial(spec: LayerSpec, shape, where: str, default_k: int | None = None, pool=False,
             slip: str | None = None):
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
        out, t, lx = _axis(n, ks[a], ss[a], ps[a], ds[a], where, names[a], slip)
        outs.append(out)
        texts.append(t)
        latexes.append(lx)
    if len(dims) == 2 and dims[0] == dims[1] and texts[0] == texts[1]:
        text, latex = f"H' = W' = {texts[0]}", f"H' = W' = {latexes[0]}"
    else:
        text = "; ".join(f"{nm}' = {t}" for nm, t in zip(names, texts))
        latex = ",\\; ".join(f"{nm}' = {lx}" for nm, lx in zip(names, latexes))
    return tuple(outs), ks, text, latex


def shape_text(shape: tuple) -> str:
    return _TIMES.join(str(s) for s in shape)


def _bias(spec: LayerSpec, where: str, key: str = "b", default: str = "1") -> int:
    b = spec.opts.get(key, default)
    if b not in ("0", "1"):
        raise ConfigError(f"{where}: {key}={b} must be 1 (with bias) or 0 (no bias)")
    return int(b)


def _filters(spec: LayerSpec, where: str, symbol: str | None):
    """The layer's filter/unit count: an int from n=, or the open symbol."""
    if "n" in spec.opts:
        return _pair(spec.opts["n"], "n", where, 1, MAX_SIZE)[0]
    if symbol is None:  # pragma: no cover - solve assigns a symbol to every open count
        raise ConfigError(f"{where}: missing n=")
    return Sym.symbol(symbol)


def _dot(*factors) -> tuple[str, str]:
    """``a·b·c`` in text and LaTeX."""
    return ("\u00b7".join(str(f) for f in factors), "\\cdot ".join(latex_of(f) for f in factors))


def layer_output(spec: LayerSpec, shape: tuple, index: int = 1, *, symbol: str | None = None,
                 slip: str | None = None) -> LayerRow:
    """Apply one layer to an input shape: output shape, parameters and the arithmetic.

    ``symbol`` names the filter count of a layer given without n=; ``slip`` (used by
    :func:`check_answer`) computes the layer the way a student with that slip would.
    """
    where = f"layer {index} {spec.text!r}"
    kind, o = spec.kind, spec.opts
    C = shape[-1]
    axis_slip = slip if slip in _AXIS_SLIPS else None
    if kind in _SPATIAL + ("maxpool", "avgpool", "upsample", "gap", "gmp") and len(shape) == 1:
        raise ConfigError(
            f"{where}: needs a spatial input (HxWxC or LxC), got the flat {str(shape[0])}; "
            "add reshape:HxWxC first"
        )
    if kind in _SPATIAL and len(shape) != 3:
        raise ConfigError(
            f"{where}: needs an HxWxC input, got {shape_text(shape)}; use conv1d for LxC"
        )
    if kind == "conv1d" and len(shape) != 2:
        raise ConfigError(f"{where}: needs an LxC input, got {shape_text(shape)}")

    if kind in ("conv", "conv1d"):
        n = _filters(spec, where, symbol)
        dims, ks, t, lx = _spatial(spec, shape, where, slip=axis_slip)
        b = _bias(spec, where)
        if slip == "bias":
            b = 0
        kdims = ks[: len(dims)]
        kprod = math.prod(kdims)
        chan = 1 if slip == "channels" else C
        params = n * (kprod * chan + b)
        factors = (*kdims,) if slip == "channels" else (*kdims, C)
        kk_t, kk_l = _dot(*factors)
        pt = f"{str(n)}\u00b7({kk_t} + 1)" if b else f"{str(n)}\u00b7{kk_t}"
        pl = f"{latex_of(n)}\\cdot({kk_l} + 1)" if b else f"{latex_of(n)}\\cdot {kk_l}"
        depth = C if slip == "depth" else n
        return _row(spec, shape, dims + (depth,), params, t, lx, pt, pl, n * b)
    if kind == "dwsep":
        n = _filters(spec, where, symbol)
        dims, ks, t, lx = _spatial(spec, shape, where, slip=axis_slip)
        b = _bias(spec, where)
        db = _bias(spec, where, "db", str(b))
        if slip == "bias":
            b = db = 0
        params = C * (ks[0] * ks[1] + db) + n * (C + b)
        kk_t, kk_l = f"{ks[0]}\u00b7{ks[1]}", f"{ks[0]}\\cdot {ks[1]}"
        Ct, Cl = str(C), latex_of(C)
        nt, nl = str(n), latex_of(n)
        dw_t, dw_l = (
            (f"{Ct}\u00b7({kk_t} + 1)", f"{Cl}\\cdot({kk_l} + 1)")
            if db
            else (f"{Ct}\u00b7{kk_t}", f"{Cl}\\cdot {kk_l}")
        )
        pw_t, pw_l = (
            (f"{nt}\u00b7({Ct} + 1)", f"{nl}\\cdot({Cl} + 1)")
            if b
            else (f"{nt}\u00b7{Ct}", f"{nl}\\cdot {Cl}")
        )
        pt = f"{dw_t} + {pw_t} = {count_text(params)} (depthwise + pointwise)"
        pl = f"{dw_l} + {pw_l} = {count_latex(params)}\\ (\\text{{depthwise + pointwise}})"
        depth = C if slip == "depth" else n
        return _row(spec, shape, dims + (depth,), params, t, lx, pt, pl, C * db + n * b)
    if kind == "depthwise":
        m = _pair(o.get("m", "1"), "m", where, 1)[0]
        dims, ks, t, lx = _spatial(spec, shape, where, slip=axis_slip)
        b = 0 if slip == "bias" else _bias(spec, where)
        params = C * m * (ks[0] * ks[1] + b)
        pt = f"{str(C)}\u00b7{m}\u00b7({ks[0]}\u00b7{ks[1]}" + (" + 1)" if b else ")")
        pl = f"{latex_of(C)}\\cdot {m}\\cdot({ks[0]}\\cdot {ks[1]}" + (" + 1)" if b else ")")
        return _row(spec, shape, dims + (simplify(C * m),), params, t, lx, pt, pl, C * m * b)
    if kind in ("maxpool", "avgpool"):
        dims, _, t, lx = _spatial(spec, shape, where, default_k=2, pool=True, slip=axis_slip)
        return _row(spec, shape, dims + (C,), 0, t, lx, "0 (no weights)", "0")
    if kind in ("gap", "gmp"):
        how = "mean" if kind == "gap" else "max"
        return _row(
            spec,
            shape,
            (C,),
            0,
            f"one {how} per channel: {str(C)}",
            f"\\text{{one {how} per channel: }}{latex_of(C)}",
            "0",
            "0",
        )
    if kind == "upsample":
        f = _pair(o.get("f", o.get("s", "2")), "f", where, 1)
        dims = tuple(n * f[a] for a, n in enumerate(shape[:-1]))
        names = ("H", "W") if len(dims) == 2 else ("L",)
        for a, v in enumerate(dims):
            check_limit(v, MAX_SIZE, what=f"{where}: the output size {names[a]}'")
        t = "; ".join(
            f"{names[a]}' = {n}\u00b7{f[a]} = {dims[a]}" for a, n in enumerate(shape[:-1])
        )
        lx = ",\\; ".join(
            f"{names[a]}' = {n}\\cdot {f[a]} = {dims[a]}" for a, n in enumerate(shape[:-1])
        )
        return _row(spec, shape, dims + (C,), 0, t + " (nearest)", lx, "0", "0")
    if kind == "flatten":
        n = simplify(math.prod(shape))
        t_prod, l_prod = _dot(*shape)
        if len(shape) > 1:
            t, lx = f"{t_prod} = {str(n)}", f"{l_prod} = {latex_of(n)}"
        else:
            t, lx = f"{str(n)} (already flat)", latex_of(n)
        return _row(spec, shape, (n,), 0, t, lx, "0", "0")
    if kind == "reshape":
        size = simplify(math.prod(shape))
        target = spec.target
        want = math.prod(target)
        if is_sym(size):
            raise ConfigError(
                f"{where}: the input has {str(size)} values, with a filter count left open; "
                "give the layers before it n= so the size can be checked"
            )
        if size != want:
            raise ConfigError(
                f"{where}: the input has {size:,} values"
                + (f" ({shape_text(shape)})" if len(shape) > 1 else "") + " but "
                f"{shape_text(target)} needs {want:,}; the sizes must match"
            )
        t_prod, l_prod = _dot(*target)
        t = f"{shape_text(shape)} \u2192 {shape_text(target)} ({t_prod} = {want})"
        lx = f"{l_prod} = {want}"
        return _row(spec, shape, target, 0, t, lx, "0", "0")
    if kind == "dense":
        if len(shape) != 1:
            raise ConfigError(
                f"{where}: needs a flat input, got {shape_text(shape)}; add flatten (or gap) first"
            )
        n = _filters(spec, where, symbol)
        b = 0 if slip == "bias" else _bias(spec, where)
        M = shape[0]
        params = n * (M + b)
        pt = f"{str(n)}\u00b7({str(M)} + 1)" if b else f"{str(n)}\u00b7{str(M)}"
        pl = f"{latex_of(n)}\\cdot({latex_of(M)} + 1)" if b else f"{latex_of(n)}\\cdot {latex_of(M)}"
        return _row(spec, shape, (n,), params, f"{str(n)} units",
                    f"{latex_of(n)}\\ \\text{{units}}", pt, pl, n * b)
    if kind == "bn":
        two_c = simplify(2 * C)
        return _row(
            spec,
            shape,
            shape,
            two_c,
            "shape unchanged",
            "\\text{unchanged}",
            f"2\u00b7{str(C)} = {count_text(two_c)} (\u03b3, \u03b2 per channel)",
            f"2\\cdot {latex_of(C)} = {count_latex(two_c)}\\ (\\gamma, \\beta\\ "
            "\\text{per channel})",
        )
    if kind == "dropout":
        p = o.get("p", o.get("rate", "0.5"))
        try:
            ok = len(p) <= 40 and 0 <= float(p) < 1
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f"{where}: dropout rate {p[:40]!r} must be a number in [0, 1)")
    return _row(spec, shape, shape, 0, "shape unchanged", "\\text{unchanged}", "0", "0")


def _row(spec, shape, out, params, t, lx, pt, pl, biases=0) -> LayerRow:
    params = simplify(params)
    out = tuple(simplify(v) for v in out)
    for v in out:
        if isinstance(v, int) and len(out) > 1:
            check_limit(v, MAX_SIZE, what=f"layer {spec.text!r}: an output size")
    if not pt.startswith("0") and "=" not in pt:
        pt, pl = f"{pt} = {count_text(params)}", f"{pl} = {count_latex(params)}"
    return LayerRow(spec.text, spec.kind, tuple(shape), out, params, t, lx, pt, pl,
                    simplify(biases))


def symbols_for(specs: list[LayerSpec]) -> list[str | None]:
    """One symbol per layer whose filter count is open: ``n``, or ``n1``, ``n2``, ..."""
    open_ = [i for i, s in enumerate(specs) if s.kind in _OPEN_COUNT and "n" not in s.opts]
    names = ["n"] if len(open_) == 1 else [f"n{j}" for j in range(1, len(open_) + 1)]
    out: list[str | None] = [None] * len(specs)
    for i, name in zip(open_, names):
        out[i] = name
    return out


def propagate(shape: tuple, specs: list[LayerSpec], symbols: list[str | None],
               slip: str | None = None, only: int | None = None) -> list[LayerRow]:
    rows = []
    for i, spec in enumerate(specs):
        use = slip if only is None or only == i else None
        row = layer_output(spec, shape, i + 1, symbol=symbols[i], slip=use)
        rows.append(row)
        shape = row.output_shape
    return rows
