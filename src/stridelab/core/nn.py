"""Layers built on :mod:`stridelab.core.functional`, and a Keras-like :func:`summary`.

A :class:`Module` finds its parameters by looking at its attributes: every Tensor with
``requires_grad=True``, every sub-Module and every list of Modules. Weights follow the PyTorch
layout (Dense: (out_features, in_features); Conv2d: (F, C/groups, KH, KW)) and are drawn
with He (Kaiming) uniform initialisation, ``U(−√(6/fan_in), √(6/fan_in))``, which keeps the
activation variance steady through ReLU layers; biases start at zero. Parameters are float32
unless ``dtype`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from stridelab.core import functional as F
from stridelab.core.tensor import Tensor, no_grad

__all__ = [
    "Module", "Dense", "Linear", "Conv1d", "Conv2d", "DepthwiseSeparableConv2d", "MaxPool2d", "AvgPool2d",
    "Upsample", "Flatten", "Dropout", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
    "LogSoftmax", "Sequential", "summary", "Summary",
]


def _he_uniform(shape, fan_in: int, rng: np.random.Generator, dtype) -> Tensor:
    bound = np.sqrt(6.0 / fan_in)
    return Tensor(rng.uniform(-bound, bound, size=shape).astype(dtype), requires_grad=True)


# ---------------------------------------------------------------------- base class


class Module:
    """Base class: subclasses define ``forward``; ``module(x)`` calls it."""

    training: bool = True

    def __call__(self, x) -> Tensor:
        return self.forward(x)

    def forward(self, x) -> Tensor:
        raise NotImplementedError

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Pairs ``("layers.0.weight", tensor)`` in attribute order, sub-modules included."""
        for name, value in vars(self).items():
            if isinstance(value, Tensor) and value.requires_grad:
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_parameters(f"{prefix}{name}.")
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield from item.named_parameters(f"{prefix}{name}.{i}.")

    def parameters(self) -> list[Tensor]:
        return [p for _, p in self.named_parameters()]

    def children(self) -> list[Module]:
        kids = []
        for value in vars(self).values():
            if isinstance(value, Module):
                kids.append(value)
            elif isinstance(value, (list, tuple)):
                kids.extend(item for item in value if isinstance(item, Module))
        return kids

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> Module:
        """Switch training behaviour (dropout) on or off, here and in every sub-module."""
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def param_formula(self) -> str:
        """How the parameter count follows from the layer's sizes ("" for none)."""
        return ""

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, by name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict) -> None:
        """Copy values into the parameters; names and shapes must match exactly."""
        params = dict(self.named_parameters())
        if set(state) != set(params):
            missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
            raise ValueError(
                f"load_state_dict: state does not match the model (missing {missing}, "
                f"unexpected {unexpected})"
            )
        for name, p in params.items():
            value = np.asarray(state[name])
            if value.shape != p.shape:
                raise ValueError(
                    f"load_state_dict: state[{name!r}] has shape {value.shape}, the parameter "
                    f"has shape {p.shape}"
                )
            p.data[...] = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# ---------------------------------------------------------------------- layers with parameters


class Dense(Module):
    """Fully connected layer ``y = x @ weightᵀ + bias``: (N, in_features) -> (N, out_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 rng=None, dtype=np.float32):
        rng = np.random.default_rng(rng)
        self.in_features, self.out_features = in_features, out_features
        self.weight = _he_uniform((out_features, in_features), in_features, rng, dtype)
        self.bias = Tensor(np.zeros(out_features, dtype), requires_grad=True) if bias else None

    def forward(self, x) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__}: x must have shape (N, {self.in_features}), "
                f"got x shape {x.shape}"
            )
        y = x @ self.weight.T                                   # (N, out_features)
        return y if self.bias is None else y + self.bias

    def param_formula(self) -> str:
        if self.bias is None:
            return f"{self.out_features}·{self.in_features}"
        return f"{self.out_features}·({self.in_features} + 1)"

    def __repr__(self) -> str:
        return f"Dense({self.in_features}, {self.out_features})"


class Linear(Dense):
    """``Dense`` under PyTorch's name: ``Linear(in_features, out_features, bias=True)``."""

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"


class Conv2d(Module):
    """2-D convolution layer: x (N, C, H, W) -> (N, F, OH, OW); see :func:`functional.conv2d`.

    Parameters: ``weight`` (F, C/groups, KH, KW) and ``bias`` (F,), F = out_channels.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, *, mode: str = "correlate",
                 rng=None, dtype=np.float32):
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"Conv2d: groups={groups} must divide in_channels={in_channels} and "
                f"out_channels={out_channels}"
            )
        rng = np.random.default_rng(rng)
        kh, kw = F._int_pair(kernel_size, "kernel_size", "Conv2d")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.dilation, self.groups, self.mode = dilation, groups, mode
        fan_in = in_channels // groups * kh * kw
        self.weight = _he_uniform((out_channels, in_channels // groups, kh, kw), fan_in, rng,
                                  dtype)
        self.bias = Tensor(np.zeros(out_channels, dtype), requires_grad=True) if bias else None

    def forward(self, x) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, self.mode)

    def param_formula(self) -> str:
        kh, kw = self.kernel_size
        c = self.in_channels // self.groups
        per_filter = f"{kh}·{kw}·{c}"
        return (f"{self.out_channels}·({per_filter} + 1)" if self.bias is not None
                else f"{self.out_channels}·{per_filter}")

    def __repr__(self) -> str:
        return (f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r})")


class Conv1d(Module):
    """1-D convolution layer: x (N, C, L) -> (N, F, OL); see :func:`functional.conv1d`.

    Parameters: ``weight`` (F, C/groups, K) and ``bias`` (F,).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding=0, dilation: int = 1, groups: int = 1, bias: bool = True, *,
                 mode: str = "correlate", rng=None, dtype=np.float32):
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"Conv1d: groups={groups} must divide in_channels={in_channels} and "
                f"out_channels={out_channels}"
            )
        rng = np.random.default_rng(rng)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.groups, self.mode = dilation, groups, mode
        fan_in = in_channels // groups * kernel_size
        self.weight = _he_uniform((out_channels, in_channels // groups, kernel_size), fan_in,
                                  rng, dtype)
        self.bias = Tensor(np.zeros(out_channels, dtype), requires_grad=True) if bias else None

    def forward(self, x) -> Tensor:
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, self.mode)

    def param_formula(self) -> str:
        per_filter = f"{self.kernel_size}·{self.in_channels // self.groups}"
        return (f"{self.out_channels}·({per_filter} + 1)" if self.bias is not None
                else f"{self.out_channels}·{per_filter}")

    def __repr__(self) -> str:
        return f"Conv1d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size})"


class DepthwiseSeparableConv2d(Module):
    """A depthwise k×k convolution (one filter per channel) followed by a pointwise 1×1 one.

    x (N, C, H, W) -> (N, F, OH, OW) with C·(k·k + 1) + F·(C + 1) parameters instead of the
    F·(k·k·C + 1) of a full convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, *, rng=None, dtype=np.float32):
        rng = np.random.default_rng(rng)
        self.depthwise = Conv2d(in_channels, in_channels, kernel_size, stride, padding, dilation,
                                groups=in_channels, bias=bias, rng=rng, dtype=dtype)
        self.pointwise = Conv2d(in_channels, out_channels, 1, bias=bias, rng=rng, dtype=dtype)

    def forward(self, x) -> Tensor:
        return self.pointwise(self.depthwise(x))

    def param_formula(self) -> str:
        return f"{self.depthwise.param_formula()} + {self.pointwise.param_formula()}"

    def __repr__(self) -> str:
        return (f"DepthwiseSeparableConv2d({self.depthwise.in_channels}, "
                f"{self.pointwise.out_channels}, kernel_size={self.depthwise.kernel_size})")


# ---------------------------------------------------------------------- layers without parameters


class MaxPool2d(Module):
    """Max pooling: (N, C, H, W) -> (N, C, OH, OW); see :func:`functional.max_pool2d`."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def __repr__(self) -> str:
        return f"MaxPool2d({self.kernel_size})"


class AvgPool2d(Module):
    """Average pooling: (N, C, H, W) -> (N, C, OH, OW); see :func:`functional.avg_pool2d`."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def __repr__(self) -> str:
        return f"AvgPool2d({self.kernel_size})"


class Upsample(Module):
    """Nearest-neighbour upsampling by an integer ``scale_factor`` (or pair)."""

    def __init__(self, scale_factor=2):
        self.scale_factor = scale_factor

    def forward(self, x) -> Tensor:
        return F.upsample(x, self.scale_factor)

    def __repr__(self) -> str:
        return f"Upsample({self.scale_factor})"


class Flatten(Module):
    """(N, C, H, W) -> (N, C·H·W)."""

    def __init__(self, start_dim: int = 1):
        self.start_dim = start_dim

    def forward(self, x) -> Tensor:
        return F.flatten(x, self.start_dim)

    def __repr__(self) -> str:
        return "Flatten()"


class Dropout(Module):
    """Inverted dropout with probability ``p`` while training; the identity in eval mode."""

    def __init__(self, p: float = 0.5, *, rng=None):
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got p={p!r}")
        self.p = p
        self.rng = np.random.default_rng(rng)

    def forward(self, x) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class ReLU(Module):
    def forward(self, x) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def forward(self, x) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)


class Sigmoid(Module):
    def forward(self, x) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x) -> Tensor:
        return F.tanh(x)


class Softmax(Module):
    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x) -> Tensor:
        return F.softmax(x, self.axis)


class LogSoftmax(Module):
    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x) -> Tensor:
        return F.log_softmax(x, self.axis)


class Sequential(Module):
    """Layers applied one after the other."""

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def forward(self, x) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"


# ---------------------------------------------------------------------- summary


@dataclass
class SummaryRow:
    name: str                       # e.g. "Conv2d"
    output_shape: tuple             # with "N" for the batch axis
    num_params: int
    formula: str                    # e.g. "6·(5·5·1 + 1)"; "" for layers without parameters


@dataclass
class Summary:
    """Per-layer output shapes and parameter counts; ``str()`` renders the table."""

    input_shape: tuple
    rows: list[SummaryRow] = field(default_factory=list)

    @property
    def total_params(self) -> int:
        return sum(r.num_params for r in self.rows)

    def __str__(self) -> str:
        shape = lambda s: "(" + ", ".join(str(d) for d in s) + ")"
        table = [("Layer", "Output shape", "Params", "Formula")]
        table.append(("Input", shape(self.input_shape), "", ""))
        for i, r in enumerate(self.rows):
            formula = f"{r.formula} = {r.num_params}" if r.formula else "-"
            table.append((f"{i}: {r.name}", shape(r.output_shape), f"{r.num_params:,}", formula))
        widths = [max(len(row[k]) for row in table) for k in range(4)]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                 for row in table]
        rule = "-" * len(max(lines, key=len))
        return "\n".join([lines[0], rule, *lines[1:], rule,
                          f"Total parameters: {self.total_params:,}"])

    def __repr__(self) -> str:
        return str(self)


def _leaf_layers(model: Module) -> list[Module]:
    if isinstance(model, Sequential):
        return [leaf for layer in model for leaf in _leaf_layers(layer)]
    return [model]


def summary(model: Module, input_shape: tuple[int, ...], dtype=np.float32) -> Summary:
    """List each layer's output shape, parameter count and the formula that gives it.

    Parameters
    ----------
    model : Module
        A Sequential (nested ones are flattened) or any single Module.
    input_shape : tuple of int
        Shape of one sample, without the batch axis, e.g. (1, 28, 28).

    Returns
    -------
    Summary
        ``print(summary(model, (1, 28, 28)))`` shows the table; a conv layer's formula reads
        ``F·(KH·KW·C + 1)``, e.g. ``6·(5·5·1 + 1) = 156``.
    """
    was_training = model.training
    model.eval()
    result = Summary(input_shape=("N", *input_shape))
    x = Tensor(np.zeros((1, *input_shape), dtype=dtype))
    try:
        with no_grad():
            for layer in _leaf_layers(model):
                x = layer(x)
                result.rows.append(SummaryRow(type(layer).__name__, ("N", *x.shape[1:]),
                                              layer.num_parameters(), layer.param_formula()))
    finally:
        model.train(was_training)
    return result
