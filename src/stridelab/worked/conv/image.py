"""Filters on a photo in float64: too large to write out cell by cell, so summarised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked._args import positive_int, shorten
from stridelab.worked.answer import Answer
from stridelab.worked.conv.compute import (
    MODES,
    activate_array,
    check_activation,
    check_route,
    conv_engine,
    conv_scipy,
    conv_windows,
    nest,
)
from stridelab.worked.conv.inputs import as_kernel, parse_biases
from stridelab.worked.conv.markdown import shape_text
from stridelab.worked.conv.padding import Padding, output_size, padding_numbers, resolve_padding
from stridelab.worked.kernels import Kernel
from stridelab.worked.limits import MAX_CELLS, MAX_IMAGE_PRODUCTS, MAX_WINDOW
from stridelab.worked.numbers import fmt, plural, to_json

# ---------------------------------------------------------------- images (float path)


@dataclass
class ImageAnswer(Answer):
    """Filters applied to an image in float64 (too large to write out cell by cell)."""

    name: str
    X: np.ndarray  # (C, H, W) float64 in [0, 1]
    padding_spec: str
    stride: int
    dilation: int
    mode: str
    kernels: list[Kernel]
    paddings: list[Padding]
    outputs: list[np.ndarray]  # each (H_out, W_out): a = sigma(z)
    checks: list[list[dict]]
    figure: str | None = None
    biases: list[float] | None = None
    activation: str = "linear"
    digits: int = 6

    @property
    def output(self) -> np.ndarray | list[np.ndarray]:
        """(F, H', W') float64; a list of F arrays when the kernels' outputs differ in size."""
        if len({y.shape for y in self.outputs}) == 1:
            return np.stack(self.outputs)
        return list(self.outputs)

    def to_markdown(self, digits: int | None = None) -> str:
        return image_markdown(self)

    def to_dict(self) -> dict:
        return image_dict(self)


def solve_image(
    image: np.ndarray,
    kernels: list,
    *,
    name: str = "image",
    padding: str | int = "same",
    stride: int = 1,
    dilation: int = 1,
    mode: str = "correlate",
    bias=None,
    activation: str = "linear",
) -> ImageAnswer:
    """Apply each kernel to an image (H, W) or (H, W, C) in float64, checked by a second route.

    Refused up front (one line each): a padded channel over ``MAX_CELLS`` cells, or a kernel
    needing over ``MAX_IMAGE_PRODUCTS`` multiply-adds.
    """
    if mode not in MODES:
        raise ConfigError(f"mode {shorten(mode)} not understood; use correlate or convolve")
    activation = check_activation(activation)
    stride = positive_int(stride, name="--stride", maximum=MAX_WINDOW)
    dilation = positive_int(dilation, name="--dilation", maximum=MAX_WINDOW)
    padding_numbers(padding)
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = img[None]  # (1, H, W)
    elif img.ndim == 3:
        img = np.moveaxis(img, -1, 0)  # (C, H, W)
    else:
        raise DataError(f"image {name!r} has shape {img.shape}; expected (H, W) or (H, W, C)")
    if not np.all(np.isfinite(img)):
        raise DataError(f"image {name!r} holds NaN or Inf values")
    if not kernels:
        raise ConfigError("give at least one --kernel (a name such as sobel_x or a literal)")
    C, H, W = img.shape
    ks = [as_kernel(k, False) for k in kernels]
    biases = parse_biases(bias)
    if biases is not None and len(biases) != len(ks):
        raise ConfigError(
            f"--bias gives {plural(len(biases), 'value')} for {plural(len(ks), 'kernel')}; "
            "give one per kernel"
        )
    prepared = []
    for kernel in ks:
        if kernel.channels not in (1, C):
            raise ConfigError(
                f"kernel {shorten(kernel.name)} has {kernel.channels} channels but image "
                f"{name!r} has {C}; use a 2-D kernel or one per channel separated by '|'"
            )
        kernel = kernel.broadcast(C)
        pad = resolve_padding(padding, (H, W), kernel.size, stride, dilation)
        Hp, Wp = H + pad.top + pad.bottom, W + pad.left + pad.right
        if Hp * Wp > MAX_CELLS:
            raise ConfigError(
                f"the padded image is {Hp}×{Wp} = {Hp * Wp:,} cells, above the limit of "
                f"{MAX_CELLS:,}; use less padding or a smaller image"
            )
        KH, KW = kernel.size
        H_out, W_out = output_size(Hp, KH, stride, dilation), output_size(Wp, KW, stride, dilation)
        if H_out < 1 or W_out < 1:
            raise ConfigError(
                f"kernel {shorten(kernel.name)} is larger than the padded {Hp}×{Wp} image; "
                "use --padding same or a smaller kernel"
            )
        if H_out * W_out * C * KH * KW > MAX_IMAGE_PRODUCTS:
            raise ConfigError(
                f"kernel {shorten(kernel.label)} on this image needs "
                f"{H_out * W_out * C * KH * KW:,} multiply-adds, above the limit of "
                f"{MAX_IMAGE_PRODUCTS:,}; use a smaller kernel, less dilation or a larger stride"
            )
        prepared.append((kernel, pad))
    pads, outs, checks = [], [], []
    for f, (kernel, pad) in enumerate(prepared):
        w = np.array(kernel.weights, dtype=np.float64)  # (C, KH, KW)
        b = float(biases[f]) if biases is not None else 0.0
        y = conv_scipy(img, w, pad, stride, dilation, mode)  # (H_out, W_out)
        other = conv_engine(img, w, pad, stride, dilation, mode)
        route = "stridelab.core.functional.conv2d"
        if other is None:
            other, route = conv_windows(img, w, pad, stride, dilation, mode), "numpy sliding windows"
        a = activate_array(y + b, activation)
        chk = check_route(route, a.tolist(), other, bias=b, activation=activation,
                     exact_z=(y + b).tolist())
        if not chk["passed"]:
            raise RuntimeError(f"conv check failed for kernel {kernel.name!r}: {chk}")
        pads.append(pad)
        outs.append(a)
        checks.append([chk])
    return ImageAnswer(
        name, img, str(padding), stride, dilation, mode, [k for k, _ in prepared], pads, outs,
        checks, biases=[float(b) for b in biases] if biases is not None else None,
        activation=activation,
    )


def image_markdown(a: ImageAnswer) -> str:
    C, H, W = a.X.shape
    out = [
        f"## Filters on image `{a.name}` ({shape_text(H, W)}"
        + (f", {C} channels" if C > 1 else "")
        + ", values in [0, 1])",
        "",
    ]
    setting = f"Mode {a.mode}, padding `{a.padding_spec}`, stride {a.stride}, dilation {a.dilation}"
    if a.biases is not None:
        setting += ", bias " + ", ".join(fmt(b) for b in a.biases)
    if a.activation != "linear":
        setting += f", activation {a.activation} (a = {a.activation}(z) is shown)"
    out += [setting + ".", ""]
    out += [
        "| kernel | output | min | max | mean abs | what it detects |",
        "|---|---|---|---|---|---|",
    ]
    for k, y in zip(a.kernels, a.outputs):
        desc = k.description or "a literal kernel"
        out.append(
            f"| `{k.label}` | {shape_text(*y.shape)} | {y.min():.4g} | {y.max():.4g} | "
            f"{np.abs(y).mean():.4g} | {desc} |"
        )
    out.append("")
    errs = ", ".join(f"{c['max_abs_error']:.3g}" for cs in a.checks for c in cs)
    route = a.checks[0][0]["route"]
    out += [
        f"Computed with `scipy.signal` and checked against `{route}`: max $|\\Delta|$ = "
        f"{errs} (one per kernel).",
        "",
    ]
    if a.figure:
        out += [f"Figure: `{a.figure}`", ""]
    return "\n".join(out)


def image_dict(a: ImageAnswer) -> dict:
    C, H, W = a.X.shape
    d = {
        "image": a.name,
        "input_shape": [H, W] if C == 1 else [H, W, C],
        "padding": a.padding_spec,
        "stride": a.stride,
        "dilation": a.dilation,
        "mode": a.mode,
        "activation": a.activation,
        "results": [
            {
                "kernel": k.name,
                **({"alias": k.alias} if k.alias else {}),
                "weights": to_json(nest(k.weights, C)),
                "output_shape": list(y.shape),
                "min": float(y.min()),
                "max": float(y.max()),
                "mean_abs": float(np.abs(y).mean()),
                "check": chk,
            }
            for k, y, chk in zip(a.kernels, a.outputs, a.checks)
        ],
        "figure": a.figure,
    }
    if a.biases is not None:
        d["bias"] = a.biases
    return d
