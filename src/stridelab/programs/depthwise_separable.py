"""Depthwise-separable convolutions against standard ones (RPTU Kaiserslautern, exercise 2,
task 2.5).

A standard K x K convolution from C to F channels has C F K^2 weights: every filter looks at
every input channel. A depthwise-separable convolution (:class:`DepthwiseSeparableConv2d`)
splits that into a depthwise K x K convolution (``groups = C``: one filter per input channel,
C K^2 weights) and a 1 x 1 pointwise convolution that mixes the channels (C F weights), so it
costs C K^2 + C F weights and multiply-adds per output position instead of C F K^2: a ratio of
1/F + 1/K^2, about 1/8 to 1/9 for 3 x 3 kernels and many filters.

The program prints both counts for one layer, then trains the same small network built with
either kind of convolution (:class:`SeparableComparisonNet`) on the same images and compares
their parameters and test accuracy::

    stem    conv_bn(C -> w), standard in both                (N, w, H, W)
    block1  conv_bn(w -> 2w, kind), max-pool 2               (N, 2w, H/2, W/2)
    block2  conv_bn(2w -> 4w, kind), max-pool 2              (N, 4w, H/4, W/4)
    block3  conv_bn(4w -> 4w, kind)                          (N, 4w, H/4, W/4)
    head    global average pool, linear(4w -> 10)            (N, 10)

Run it as a program (``python depthwise_separable.py --help``)::

    python depthwise_separable.py --data cifar10.npz --epochs 8

``--data`` is an ``.npz`` file holding uint8 images, (N, H, W, C) or grey (N, H, W), and labels
0-9 under ``X_train``, ``y_train``, ``X_test`` and ``y_test`` (CIFAR-10 or MNIST). It needs
NumPy, PyTorch and matplotlib.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

###############################################################################
# Data


def load_images(path: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``X_train, y_train, X_test, y_test`` from an ``.npz`` file: uint8 images (N, H, W, C) or
    (N, H, W) as tensors (N, C, H, W), and integer labels 0-9. Raises ValueError saying what is
    wrong with the file."""
    try:
        with np.load(path, allow_pickle=False) as data:  # never unpickle a data file
            arrays = {key.lower(): data[key] for key in data.files}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None
    out = []
    for split in ("train", "test"):
        X, y = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
        if X is None or y is None:
            raise ValueError(f"{path}: needs arrays X_{split} and y_{split}")
        if X.ndim == 3:
            X = X[..., None]  # grey: one channel
        if X.dtype != np.uint8 or X.ndim != 4 or min(X.shape[1:3]) < 4 or len(X) == 0:
            raise ValueError(f"{path}: X_{split} must be uint8 images (N, H, W, C) or "
                             f"(N, H, W) of at least 4x4; got {X.dtype} {X.shape}")
        y = y.reshape(-1)
        if len(y) != len(X) or y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9:
            raise ValueError(f"{path}: y_{split} must hold one label 0-9 per image")
        out += [torch.from_numpy(X).permute(0, 3, 1, 2).contiguous(),  # (N, C, H, W) uint8
                torch.from_numpy(y.astype(np.int64))]
    return tuple(out)


def normaliser(X: torch.Tensor):
    """A function mapping uint8 images (N, C, H, W) to float32 with each channel at mean 0 and
    deviation 1, with the statistics of ``X`` (from each channel's histogram)."""
    values = torch.arange(256, dtype=torch.float64) / 255.0
    counts = torch.stack([torch.bincount(X[:, c].reshape(-1), minlength=256)
                          for c in range(X.shape[1])]).double()  # (C, 256)
    mean = (counts * values).sum(1) / counts.sum(1)  # (C,)
    std = ((counts * values**2).sum(1) / counts.sum(1) - mean**2).clamp_min(1e-12).sqrt()
    mean, std = mean.float().reshape(1, -1, 1, 1), std.float().reshape(1, -1, 1, 1)
    return lambda x: (x.float() / 255.0 - mean.to(x.device)) / std.to(x.device)


###############################################################################
# The layers and the network


class DepthwiseSeparableConv2d(nn.Module):
    """A depthwise K x K convolution (``groups = C``: one filter per input channel) followed by
    a 1 x 1 pointwise convolution that mixes the channels; a drop-in for ``nn.Conv2d(C, F, K)``.

    Input (N, C, H, W) -> depthwise (N, C, H_out, W_out) -> pointwise (N, F, H_out, W_out).
    Costs C K^2 + C F weights instead of C F K^2, a ratio of 1/F + 1/K^2.
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
    """``kind`` "standard" -> ``nn.Conv2d``; "separable" -> :class:`DepthwiseSeparableConv2d`."""
    if kind == "standard":
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         bias=bias)
    if kind == "separable":
        return DepthwiseSeparableConv2d(in_channels, out_channels, kernel_size, stride=stride,
                                        padding=padding, bias=bias)
    raise ValueError(f"conv kind must be 'standard' or 'separable', got {kind!r}")


def conv_bn(in_channels: int, out_channels: int, kind: str = "standard") -> nn.Sequential:
    """3x3 convolution (same padding, no bias: the BatchNorm shift replaces it), BN, ReLU."""
    return nn.Sequential(make_conv(kind, in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class SeparableComparisonNet(nn.Sequential):
    """One small CNN whose 3x3 convolutions after the stem are all of one ``kind``.

    The stem is a standard convolution either way: a depthwise convolution of a 1- or
    3-channel image has almost nothing to separate. Layers: see the module docstring.
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


###############################################################################
# Training and evaluation


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, prepare, device) -> float:
    """Accuracy on uint8 images X (N, C, H, W) and labels y (N,), in eval mode."""
    model.eval()
    correct = sum((model(prepare(a.to(device))).argmax(1).cpu() == b).sum().item()
                  for a, b in zip(X.split(1000), y.split(1000)))
    return correct / len(y)


def fit(model, X_train, y_train, X_test, y_test, *, epochs: int = 8, lr: float = 0.1,
        batch_size: int = 128, device="cpu", seed: int = 0, log=print) -> list[float]:
    """Nesterov SGD with a triangular learning rate (a linear rise over a quarter of the
    steps, then a linear fall to 0), label smoothing 0.1; returns each epoch's test accuracy."""
    prepare = normaliser(X_train)
    generator = torch.Generator().manual_seed(seed)  # the same batches for both networks
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train, y_train),
                                         batch_size=batch_size, shuffle=True,
                                         generator=generator)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    total = epochs * len(loader)
    peak = max(1, round(0.25 * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / peak if step < peak
        else max(0.0, (total - step) / max(1, total - peak)))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    test_accuracy = []
    for epoch in range(epochs):
        model.train()
        for x, y in loader:
            loss = loss_fn(model(prepare(x.to(device))), y.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        test_accuracy.append(accuracy(model, X_test, y_test, prepare, device))
        log(f"  epoch {epoch + 1}/{epochs}: last batch loss {loss.item():.4f}, test accuracy "
            f"{test_accuracy[-1]:.4f}")
    return test_accuracy


def accuracy_figure(curves: dict[str, list[float]], params: dict[str, int], path: str) -> str:
    """Test accuracy per epoch of both networks, saved as a PNG file."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for kind, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, "o-",
                label=f"{kind} ({params[kind]:,} parameters)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
    ax.legend()
    ax.set_title("The same network with standard and with depthwise-separable convolutions")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


###############################################################################
# The program


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None) -> int:
    parser = _Parser(
        prog="depthwise_separable.py",
        description="Count the weights of a standard and a depthwise-separable 3x3 convolution,\n"
                    "then train one small network built with each kind on the same images and\n"
                    "compare their parameters and test accuracy.",
        epilog="the data: an .npz file with uint8 images (N, H, W, C) or (N, H, W) and labels\n"
               "0-9 under X_train, y_train, X_test, y_test (CIFAR-10 or MNIST).\n\n"
               "example:\n  python depthwise_separable.py --data cifar10.npz --epochs 8",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="cifar10.npz", help="the image .npz file "
                        "(default cifar10.npz)")
    parser.add_argument("--width", type=int, default=32, help="channels of the stem "
                        "(default 32; then 2w, 4w, 4w)")
    parser.add_argument("--epochs", type=int, default=8, help="passes over the training "
                        "images, per network (default 8)")
    parser.add_argument("--lr", type=float, default=0.1, help="peak SGD learning rate "
                        "(default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default auto: a GPU when there is one)")
    parser.add_argument("--out", default="depthwise_separable.pt", help="where to save both "
                        "trained networks' state dicts (default depthwise_separable.pt); the "
                        "figure goes beside it")
    args = parser.parse_args(argv)
    if args.width < 1 or args.epochs < 1 or not args.lr > 0:
        parser.error("--width and --epochs must be at least 1 and --lr positive")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible")
    try:
        X_train, y_train, X_test, y_test = load_images(args.data)
    except ValueError as e:
        parser.error(str(e))

    C, F, K = 64, 128, 3  # one layer, counted both ways
    standard = sum(p.numel() for p in nn.Conv2d(C, F, K, bias=False).parameters())
    separable = sum(p.numel() for p in DepthwiseSeparableConv2d(C, F, K, bias=False)
                    .parameters())
    print(f"a {K}x{K} convolution {C} -> {F} channels, no bias: standard C*F*K^2 = {standard:,} "
          f"weights; separable C*K^2 + C*F = {separable:,} ({separable / standard:.3f} of it; "
          f"1/F + 1/K^2 = {1 / F + 1 / K**2:.3f})")
    curves, params, states = {}, {}, {}
    for kind in ("standard", "separable"):
        torch.manual_seed(args.seed)
        model = SeparableComparisonNet(kind, args.width, in_channels=X_train.shape[1]).to(device)
        params[kind] = sum(p.numel() for p in model.parameters())
        print(f"{kind} network: {params[kind]:,} parameters")
        curves[kind] = fit(model, X_train, y_train, X_test, y_test, epochs=args.epochs,
                           lr=args.lr, device=device, seed=args.seed)
        states[kind] = {k: v.cpu() for k, v in model.state_dict().items()}
    for kind in curves:
        print(f"{kind}: {params[kind]:,} parameters, test accuracy {curves[kind][-1]:.4f}")
    torch.save(states, args.out)
    print(f"saved {args.out}")
    figure = os.path.join(os.path.dirname(os.path.abspath(args.out)),
                          "depthwise_separable_accuracy.png")
    print(f"saved {accuracy_figure(curves, params, figure)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
