"""Architectures and the on-device input pipeline of the CIFAR studies.

Bottom-up: counting (parameters, multiply-adds by formula and by forward hooks), the
depthwise-separable convolution, the input pipeline (per-channel normalisation, random crop
with padding, horizontal flip, all on tensors on the training device), then the networks:
``CifarResNet`` (a ResNet-9-style fast CNN after David Page's DAWNBench entry and airbench)
and ``SeparableComparisonNet`` (one small network built with either kind of convolution).

Shapes use N (batch), C (channels in), F (filters, channels out), H, W, K (kernel size).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# ---------------------------------------------------------------------------------------------
# counting


def conv_params(in_channels: int, out_channels: int, kernel_size: int, *,
                bias: bool = False) -> int:
    """Parameters of a standard K×K convolution: C·F·K² (+ F biases)."""
    return in_channels * out_channels * kernel_size**2 + (out_channels if bias else 0)


def separable_params(in_channels: int, out_channels: int, kernel_size: int, *,
                     bias: bool = False) -> int:
    """Parameters of a depthwise K×K (one filter per channel) then 1×1 pointwise convolution.

    C·K² (depthwise) + C·F (pointwise), plus C + F biases when ``bias``.
    """
    extra = in_channels + out_channels if bias else 0
    return in_channels * kernel_size**2 + in_channels * out_channels + extra


def conv_macs(in_channels: int, out_channels: int, kernel_size: int, out_h: int,
              out_w: int) -> int:
    """Multiply-adds of a standard convolution: H_out·W_out·C·F·K²."""
    return out_h * out_w * in_channels * out_channels * kernel_size**2


def separable_macs(in_channels: int, out_channels: int, kernel_size: int, out_h: int,
                   out_w: int) -> int:
    """Multiply-adds of depthwise then pointwise: H_out·W_out·(C·K² + C·F)."""
    return out_h * out_w * (in_channels * kernel_size**2 + in_channels * out_channels)


def separable_ratio(out_channels: int, kernel_size: int) -> float:
    """Separable / standard cost, for parameters (without biases) and multiply-adds: 1/F + 1/K²."""
    return 1.0 / out_channels + 1.0 / kernel_size**2


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of one forward pass on ``x``, measured with forward hooks.

    Counts every ``nn.Conv2d`` (output elements × C/groups × K_h × K_w, which covers depthwise
    and grouped convolutions) and every ``nn.Linear`` (output elements × in_features); other
    layers (BatchNorm, activations, pooling) are not multiply-adds of weights and are left out.
    """
    total = 0

    def conv_hook(module: nn.Conv2d, inputs, output):
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, inputs, output):
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(x)
        model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return total


# ---------------------------------------------------------------------------------------------
# the depthwise-separable convolution


class DepthwiseSeparableConv2d(nn.Module):
    """A depthwise K×K convolution (``groups = C``: one filter per input channel) followed by a
    1×1 pointwise convolution that mixes the channels; a drop-in for ``nn.Conv2d(C, F, K)``.

    Input (N, C, H, W) → depthwise (N, C, H_out, W_out) → pointwise (N, F, H_out, W_out).
    Costs C·K² + C·F parameters instead of C·F·K², a ratio of 1/F + 1/K².
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | str = 0, bias: bool = True):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride,
                                   padding=padding, groups=in_channels, bias=bias)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))  # (N, C, H, W) -> (N, F, H_out, W_out)


def make_conv(kind: str, in_channels: int, out_channels: int, kernel_size: int = 3, *,
              stride: int = 1, padding: int | str = 1, bias: bool = False) -> nn.Module:
    """``kind`` "standard" → ``nn.Conv2d``; "separable" → :class:`DepthwiseSeparableConv2d`."""
    if kind == "standard":
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         bias=bias)
    if kind == "separable":
        return DepthwiseSeparableConv2d(in_channels, out_channels, kernel_size, stride=stride,
                                        padding=padding, bias=bias)
    raise ValueError(f"conv kind must be 'standard' or 'separable', got {kind!r}")


# ---------------------------------------------------------------------------------------------
# input pipeline: uint8 images in, normalised and augmented float batches out


def channel_stats(X) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation, in [0, 1] units, of uint8 images (N, C, H, W).

    Exact and light on memory: each channel's 256-bin histogram gives Σv and Σv² (no float
    copy of the 50,000 CIFAR images is made). Returns two float32 tensors of shape (C,).
    """
    X = torch.as_tensor(X)
    if X.dtype != torch.uint8 or X.dim() != 4:
        raise ValueError(f"expected uint8 images (N, C, H, W), got {X.dtype} {tuple(X.shape)}")
    values = torch.arange(256, dtype=torch.float64) / 255.0  # (256,)
    means, stds = [], []
    for c in range(X.shape[1]):
        counts = torch.bincount(X[:, c].reshape(-1), minlength=256).double()  # (256,)
        n = counts.sum()
        mean = (counts * values).sum() / n
        var = (counts * values**2).sum() / n - mean**2
        means.append(mean)
        stds.append(var.clamp_min(0).sqrt())
    return torch.stack(means).float(), torch.stack(stds).float()


def to_nchw_uint8(X) -> torch.Tensor:
    """uint8 images (N, H, W, C) or (N, H, W) → a contiguous uint8 tensor (N, C, H, W)."""
    X = torch.as_tensor(X)
    if X.dim() == 3:
        return X.unsqueeze(1).contiguous()  # (N, 1, H, W)
    return X.permute(0, 3, 1, 2).contiguous()  # (N, H, W, C) -> (N, C, H, W)


def image_tensors(ds, n_train: int = 0, n_test: int = 0):
    """uint8 (N, C, H, W) tensors and int64 labels of the first ``n_train`` / ``n_test`` images
    of a data set with ``X_train``, ``y_train``, ``X_test``, ``y_test`` (0: all of them)."""
    train = slice(n_train) if n_train > 0 else slice(None)
    test = slice(n_test) if n_test > 0 else slice(None)
    return (to_nchw_uint8(ds.X_train[train]), torch.from_numpy(ds.y_train[train]),
            to_nchw_uint8(ds.X_test[test]), torch.from_numpy(ds.y_test[test]))


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator | None = None,
                mode: str = "reflect") -> torch.Tensor:
    """One random H×W crop per image of ``x`` padded by ``padding`` on every side.

    ``x``: (N, C, H, W) float. Offsets are drawn with ``generator`` (on ``x``'s device), so a
    seeded generator makes the crops reproducible. Done by gathering rows and columns, which
    costs one indexing pass on CPU and GPU alike.
    """
    if padding <= 0:
        return x
    N, C, H, W = x.shape
    padded = nn.functional.pad(x, (padding,) * 4, mode=mode)  # (N, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * padding + 1, (N,), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (N,), device=x.device, generator=generator)
    rows = (dy[:, None] + torch.arange(H, device=x.device))[:, None, :, None]  # (N, 1, H, 1)
    cols = (dx[:, None] + torch.arange(W, device=x.device))[:, None, None, :]  # (N, 1, 1, W)
    n = torch.arange(N, device=x.device)[:, None, None, None]  # (N, 1, 1, 1)
    c = torch.arange(C, device=x.device)[None, :, None, None]  # (1, C, 1, 1)
    return padded[n, c, rows, cols]  # (N, C, H, W)


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image of ``x`` (N, C, H, W) left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5  # (N,)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


class ImagePipeline:
    """uint8 batches (N, C, H, W) → normalised float batches, with optional augmentation.

    Used as ``input_transform`` (train: ``augment=True``) and ``test_transform`` of
    :func:`stridelab.torch.loop.fit`: it runs on the device batch, so the data travels as
    uint8 (a quarter of float32) and the augmentation costs no data-loader workers.

    Parameters
    ----------
    mean, std : sequences of float, length C
        Per-channel statistics in [0, 1] units (see :func:`channel_stats`).
    augment : bool
        Random crop with ``padding`` (reflect) and a random horizontal flip when True.
    flip : bool
        Whether augmentation includes the horizontal flip (off for digits, whose mirror images
        are not digits).
    seed : int
        Seeds the generator of crops and flips (one per device), so runs are reproducible.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], *, augment: bool = False,
                 padding: int = 4, flip: bool = True, seed: int = 0):
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.augment = augment
        self.padding = padding
        self.flip = flip
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.mean.to(x.device)
        std = self.std.to(x.device)
        x = (x.float() / 255.0 - mean) / std  # (N, C, H, W) float32
        if self.augment:
            generator = self._generator(x.device)
            x = random_crop(x, self.padding, generator)
            if self.flip:
                x = random_flip(x, generator)
        return x


# ---------------------------------------------------------------------------------------------
# networks


def conv_bn(in_channels: int, out_channels: int, kind: str = "standard") -> nn.Sequential:
    """3×3 convolution (same padding, no bias: the BatchNorm shift replaces it), BN, ReLU."""
    return nn.Sequential(make_conv(kind, in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class Residual(nn.Module):
    """``x + f(x)``."""

    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.f = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f(x)


class Mul(nn.Module):
    """Multiply by a constant (the logit scale of the ResNet-9 head)."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class CifarResNet(nn.Sequential):
    """A ResNet-9-style fast CNN for 32×32 images (David Page's DAWNBench network).

    With ``width`` w, channels run w → 2w → 4w → 8w::

        prep    conv_bn(C→w)                                      (N, w, 32, 32)
        layer1  conv_bn(w→2w), maxpool 2, residual(conv_bn, conv_bn)  (N, 2w, 16, 16)
        layer2  conv_bn(2w→4w), maxpool 2                          (N, 4w, 8, 8)
        layer3  conv_bn(4w→8w), maxpool 2, residual(conv_bn, conv_bn)  (N, 8w, 4, 4)
        head    global max pool, linear(8w→classes, no bias), × logit_scale  (N, classes)

    ``width=64`` is the original (6.6 M parameters; Page reports about 94 % on CIFAR-10 in
    24 epochs with his full recipe, which adds cutout); ``width=16`` costs 1/16 of its
    multiply-adds and fits a CPU.
    """

    def __init__(self, width: int = 64, n_classes: int = 10, in_channels: int = 3,
                 logit_scale: float = 0.125):
        w = width
        super().__init__(
            conv_bn(in_channels, w),
            nn.Sequential(conv_bn(w, 2 * w), nn.MaxPool2d(2),
                          Residual(conv_bn(2 * w, 2 * w), conv_bn(2 * w, 2 * w))),
            nn.Sequential(conv_bn(2 * w, 4 * w), nn.MaxPool2d(2)),
            nn.Sequential(conv_bn(4 * w, 8 * w), nn.MaxPool2d(2),
                          Residual(conv_bn(8 * w, 8 * w), conv_bn(8 * w, 8 * w))),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8 * w, n_classes, bias=False),
            Mul(logit_scale),
        )
        self.width = width


class SeparableComparisonNet(nn.Sequential):
    """One small CNN whose 3×3 convolutions after the stem are all of one ``kind``.

    The stem is a standard convolution either way (a depthwise convolution of a 1- or
    3-channel image has almost nothing to separate)::

        stem    conv_bn(C→w), standard                          (N, w, H, W)
        block1  conv_bn(w→2w, kind), maxpool 2                  (N, 2w, H/2, W/2)
        block2  conv_bn(2w→4w, kind), maxpool 2                 (N, 4w, H/4, W/4)
        block3  conv_bn(4w→4w, kind)                            (N, 4w, H/4, W/4)
        head    global average pool, linear(4w→classes)         (N, classes)
    """

    def __init__(self, kind: str = "standard", width: int = 32, n_classes: int = 10,
                 in_channels: int = 3):
        w = width
        super().__init__(
            conv_bn(in_channels, w),
            conv_bn(w, 2 * w, kind), nn.MaxPool2d(2),
            conv_bn(2 * w, 4 * w, kind), nn.MaxPool2d(2),
            conv_bn(4 * w, 4 * w, kind),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, n_classes),
        )
        self.kind = kind
        self.width = width


class FlipAverage(nn.Module):
    """Test-time augmentation: the mean of the logits of an image and of its mirror image."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.model(x) + self.model(x.flip(-1)))
