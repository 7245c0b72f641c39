"""Layers built on :mod:`stridelab.core.functional`, and a Keras-like :func:`summary`.

A :class:`Module` finds its parameters by looking at its attributes: every Tensor with
``requires_grad=True``, every sub-Module and every list of Modules. Weights follow the PyTorch
layout (Dense: (out_features, in_features); Conv2d: (F, C/groups, KH, KW); ConvTranspose2d:
(C, F/groups, KH, KW)) and are drawn with He (Kaiming) uniform initialisation,
``U(−√(6/fan_in), √(6/fan_in))`` with fan_in read from the weight's shape as PyTorch does
(``weight.shape[1]`` times the kernel size), which keeps the
activation variance steady through ReLU layers; biases start at zero. Parameters are float32
unless ``dtype`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from stridelab.core import functional as F
from stridelab.core._window import int_tuple as _int_tuple
from stridelab.core.tensor import Tensor, no_grad

__all__ = [
    "Module", "Dense", "Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "DepthwiseSeparableConv2d", "MaxPool1d", "MaxPool2d",
    "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "MaxUnpool1d", "MaxUnpool2d",
    "MaxUnpool3d", "Upsample", "Flatten", "Dropout", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
    "LogSoftmax", "Sequential", "summary", "Summary",
]


def _he_uniform(shape, fan_in: int, rng: np.random.Generator, dtype) -> Tensor:
    bound = np.sqrt(6.0 / fan_in)
    return Tensor(rng.uniform(-bound, bound, size=shape).astype(dtype), requires_grad=True)


# ---------------------------------------------------------------------- base class


class Module:
    """Base class: subclasses define ``forward``; ``module(x)`` calls it."""

    training: bool = True

    def __call__(self, x, *args, **kwargs) -> Tensor:
        return self.forward(x, *args, **kwargs)

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


def _check_groups(name: str, in_channels: int, out_channels: int, groups: int) -> None:
    if groups < 1 or in_channels % groups or out_channels % groups:
        raise ValueError(
            f"{name}: groups={groups} must divide in_channels={in_channels} and "
            f"out_channels={out_channels}"
        )


class _Conv(Module):
    """What the convolution layers share: a kernel of ``dims`` axes and the count formula.

    Subclasses set ``dims``, ``transposed`` and ``_function`` (the functional op).
    """

    dims = 2
    transposed = False

    def _init_params(self, in_channels, out_channels, kernel_size, groups, bias, rng, dtype):
        name = type(self).__name__
        _check_groups(name, in_channels, out_channels, groups)
        rng = np.random.default_rng(rng)
        kernel = _int_tuple(kernel_size, self.dims, "kernel_size", name)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = kernel if self.dims > 1 else kernel[0]
        if self.transposed:     # PyTorch's layout (C, F/groups, ...); its fan-in reads dim 1
            shape = (in_channels, out_channels // groups, *kernel)
        else:
            shape = (out_channels, in_channels // groups, *kernel)
        self.weight = _he_uniform(shape, shape[1] * int(np.prod(kernel)), rng, dtype)
        self.bias = Tensor(np.zeros(out_channels, dtype), requires_grad=True) if bias else None

    @property
    def _kernel(self) -> tuple[int, ...]:
        return self.kernel_size if self.dims > 1 else (self.kernel_size,)

    def param_formula(self) -> str:
        # Both a convolution and a transposed one hold F·(K·C/groups) weights, F = out_channels.
        per_filter = "·".join(str(k) for k in self._kernel) + f"·{self.in_channels // self.groups}"
        return (f"{self.out_channels}·({per_filter} + 1)" if self.bias is not None
                else f"{self.out_channels}·{per_filter}")


class Conv2d(_Conv):
    """2-D convolution layer: x (N, C, H, W) -> (N, F, OH, OW); see :func:`functional.conv2d`.

    Parameters: ``weight`` (F, C/groups, KH, KW) and ``bias`` (F,), F = out_channels.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, *, mode: str = "correlate",
                 rng=None, dtype=np.float32):
        self._init_params(in_channels, out_channels, kernel_size, groups, bias, rng, dtype)
        self.stride, self.padding, self.dilation, self.mode = stride, padding, dilation, mode

    def forward(self, x) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, self.mode)

    def __repr__(self) -> str:
        return (f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r})")


class Conv1d(_Conv):
    """1-D convolution layer: x (N, C, L) -> (N, F, OL); see :func:`functional.conv1d`.

    Parameters: ``weight`` (F, C/groups, K) and ``bias`` (F,).
    """

    dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding=0, dilation: int = 1, groups: int = 1, bias: bool = True, *,
                 mode: str = "correlate", rng=None, dtype=np.float32):
        self._init_params(in_channels, out_channels, kernel_size, groups, bias, rng, dtype)
        self.stride, self.padding, self.dilation, self.mode = stride, padding, dilation, mode

    def forward(self, x) -> Tensor:
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, self.mode)

    def __repr__(self) -> str:
        return f"Conv1d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size})"


class Conv3d(_Conv):
    """3-D convolution layer, for volumes and clips: x (N, C, D, H, W) -> (N, F, OD, OH, OW).

    Parameters: ``weight`` (F, C/groups, KD, KH, KW) and ``bias`` (F,); see
    :func:`functional.conv3d`.
    """

    dims = 3

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, *, mode: str = "correlate",
                 rng=None, dtype=np.float32):
        self._init_params(in_channels, out_channels, kernel_size, groups, bias, rng, dtype)
        self.stride, self.padding, self.dilation, self.mode = stride, padding, dilation, mode

    def forward(self, x) -> Tensor:
        return F.conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, self.mode)

    def __repr__(self) -> str:
        return (f"Conv3d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r})")


class _ConvTranspose(_Conv):
    """Transposed convolution layers: PyTorch's arguments, in PyTorch's order.

    Parameters: ``weight`` (C, F/groups, *kernel) (input channels first, as in PyTorch) and
    ``bias`` (F,), F = out_channels.
    """

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1, *,
                 rng=None, dtype=np.float32):
        self._init_params(in_channels, out_channels, kernel_size, groups, bias, rng, dtype)
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.dilation = dilation

    def forward(self, x) -> Tensor:
        fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[self.dims]
        return fn(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                  self.groups, self.dilation)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding!r})")


class ConvTranspose1d(_ConvTranspose):
    """x (N, C, L) -> (N, F, OL); see :func:`functional.conv_transpose1d`."""

    dims = 1


class ConvTranspose2d(_ConvTranspose):
    """x (N, C, H, W) -> (N, F, OH, OW): the upsampling layer of convolutional decoders; see
    :func:`functional.conv_transpose2d`."""

    dims = 2


class ConvTranspose3d(_ConvTranspose):
    """x (N, C, D, H, W) -> (N, F, OD, OH, OW); see :func:`functional.conv_transpose3d`."""

    dims = 3


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


class _MaxPool(Module):
    """Max pooling with PyTorch's options; see :func:`functional.max_pool2d`."""

    dims = 2

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x):
        fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[self.dims]
        return fn(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                  self.return_indices)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kernel_size})"


class MaxPool1d(_MaxPool):
    """Max pooling: (N, C, L) -> (N, C, OL)."""

    dims = 1


class MaxPool2d(_MaxPool):
    """Max pooling: (N, C, H, W) -> (N, C, OH, OW); see :func:`functional.max_pool2d`."""


class MaxPool3d(_MaxPool):
    """Max pooling: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""

    dims = 3


class _AvgPool(Module):
    """Average pooling with PyTorch's options; see :func:`functional.avg_pool2d`."""

    dims = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x) -> Tensor:
        fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[self.dims]
        return fn(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                  self.count_include_pad)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kernel_size})"


class AvgPool1d(_AvgPool):
    """Average pooling: (N, C, L) -> (N, C, OL)."""

    dims = 1


class AvgPool2d(_AvgPool):
    """Average pooling: (N, C, H, W) -> (N, C, OH, OW); see :func:`functional.avg_pool2d`."""


class AvgPool3d(_AvgPool):
    """Average pooling: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""

    dims = 3


class _MaxUnpool(Module):
    """``layer(x, indices, output_size=None)``: see :func:`functional.max_unpool2d`."""

    dims = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x, indices=None, output_size=None) -> Tensor:
        fn = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}[self.dims]
        return fn(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kernel_size})"


class MaxUnpool1d(_MaxUnpool):
    dims = 1


class MaxUnpool2d(_MaxUnpool):
    pass


class MaxUnpool3d(_MaxUnpool):
    dims = 3


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
        ``F·(KH·KW·C + 1)``, e.g. ``6·(5·5·1 + 1) = 156`` (``F·(KD·KH·KW·C + 1)`` in 3-D,
        ``F·(K·C + 1)`` in 1-D; C per group; a transposed convolution counts the same way).
        Output shapes come from running the model on zeros, so they follow every layer's own
        rule (padding, stride, dilation, ceil_mode, output_padding).
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
