"""What the CIFAR studies need beside their networks: counting and the on-device input pipeline.

Bottom-up: counting (parameters, multiply-adds by formula and by forward hooks), then the input
pipeline (per-channel normalisation, random crop with padding, horizontal flip, all on tensors
on the training device). The networks themselves are the hand-in programs' own:
:class:`stridelab.programs.cifar10.CifarResNet` (RPTU task 2.4) and
:class:`stridelab.programs.depthwise_separable.SeparableComparisonNet` with its
``DepthwiseSeparableConv2d`` (task 2.5).

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
