"""A fast CNN for CIFAR-10 above 70 % test accuracy (RPTU Kaiserslautern, exercise 2, task 2.4).

The network is a ResNet-9-style CNN (David Page's DAWNBench entry), :class:`CifarResNet`. With
width w its channels run w -> 2w -> 4w -> 8w::

    prep    conv_bn(3 -> w)                                           (N, w, 32, 32)
    layer1  conv_bn(w -> 2w), max-pool 2, residual(conv_bn, conv_bn)  (N, 2w, 16, 16)
    layer2  conv_bn(2w -> 4w), max-pool 2                             (N, 4w, 8, 8)
    layer3  conv_bn(4w -> 8w), max-pool 2, residual(conv_bn, conv_bn) (N, 8w, 4, 4)
    head    global max-pool, linear(8w -> 10, no bias), x 0.125       (N, 10)

where conv_bn is a 3x3 convolution (no bias), BatchNorm and ReLU. Training: Nesterov SGD
(momentum 0.9, weight decay 5e-4), a learning rate that rises linearly over the first quarter
of the steps and falls linearly to 0, label smoothing 0.2, per-channel normalisation with the
training set's mean and standard deviation, and random crops (reflect padding 4) and
horizontal flips of every training batch. The test accuracy is that of the mean logits of each
test image and its mirror image. Width 16 and 8 epochs fit a laptop CPU in about a quarter of an
hour; width 64 and 30 epochs is the original network for a GPU.

Run it as a program (``python cifar10.py --help``)::

    python cifar10.py --data cifar10.npz --epochs 8 --width 16

``--data`` is an ``.npz`` file holding uint8 images (N, 32, 32, 3) and labels 0-9 under
``X_train``, ``y_train``, ``X_test`` and ``y_test``. The trained model is saved as
``cifar10_resnet.pt`` (a state dict). It needs NumPy, PyTorch and matplotlib.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")

###############################################################################
# Data


def load_images(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``X_train, y_train, X_test, y_test`` from an ``.npz`` file: uint8 images of shape
    (N, H, W, C) and integer labels 0-9 of shape (N,). Raises ValueError saying what is wrong."""
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
        if X.dtype != np.uint8 or X.ndim != 4 or X.shape[3] not in (1, 3) or len(X) == 0:
            raise ValueError(f"{path}: X_{split} must be uint8 images of shape (N, H, W, C); "
                             f"got {X.dtype} {X.shape}")
        y = y.reshape(-1)
        if len(y) != len(X) or y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9:
            raise ValueError(f"{path}: y_{split} must hold one label 0-9 per image")
        out += [torch.from_numpy(X).permute(0, 3, 1, 2).contiguous(),  # (N, C, H, W) uint8
                torch.from_numpy(y.astype(np.int64))]
    return tuple(out)


def channel_stats(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation, in [0, 1] units, of uint8 images (N, C, H, W),
    each of shape (1, C, 1, 1).

    From each channel's 256-bin histogram, so no float copy of all the images is made.
    """
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for c in range(X.shape[1]):
        counts = torch.bincount(X[:, c].reshape(-1), minlength=256).double()  # (256,)
        mean = (counts * values).sum() / counts.sum()
        var = (counts * values**2).sum() / counts.sum() - mean**2
        means.append(mean)
        stds.append(var.clamp_min(0).sqrt())
    return (torch.stack(means).float().reshape(1, -1, 1, 1),
            torch.stack(stds).float().reshape(1, -1, 1, 1))


def normalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> float32, each channel at mean 0 and deviation 1."""
    return (x.float() / 255.0 - mean.to(x.device)) / std.to(x.device)


def augment(x: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """A random crop of each (reflect-padded) image and a horizontal flip with probability 1/2.

    x: float (N, C, H, W). The crop shifts each image by up to ``padding`` pixels each way.
    """
    N, C, H, W = x.shape
    padded = nn.functional.pad(x, (padding,) * 4, mode="reflect")  # (N, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * padding + 1, (N,), device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (N,), device=x.device)
    rows = (dy[:, None] + torch.arange(H, device=x.device))[:, None, :, None]  # (N, 1, H, 1)
    cols = (dx[:, None] + torch.arange(W, device=x.device))[:, None, None, :]  # (N, 1, 1, W)
    n = torch.arange(N, device=x.device)[:, None, None, None]
    c = torch.arange(C, device=x.device)[None, :, None, None]
    x = padded[n, c, rows, cols]  # (N, C, H, W)
    flip = torch.rand(N, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


###############################################################################
# The model


def conv_bn(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution (same padding, no bias: the BatchNorm shift replaces it), BN, ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
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
    """A ResNet-9-style fast CNN for 32x32 images (see the module docstring for its layers).

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


class FlipAverage(nn.Module):
    """Test-time augmentation: the mean of the logits of an image and of its mirror image."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.model(x) + self.model(x.flip(-1)))


###############################################################################
# Training and evaluation


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, mean, std, device,
             batch_size: int = 1000) -> float:
    """Accuracy on uint8 images X (N, C, H, W) and labels y (N,), in eval mode."""
    model.eval()
    correct = sum((model(normalise(a.to(device), mean, std)).argmax(1).cpu() == b).sum().item()
                  for a, b in zip(X.split(batch_size), y.split(batch_size)))
    return correct / len(y)


def fit(model, X_train, y_train, X_test, y_test, *, epochs: int = 8, lr: float = 0.2,
        batch_size: int = 256, warmup: float = 0.25, device="cpu", seed: int = 0,
        log=print) -> dict[str, list[float]]:
    """Nesterov SGD with a triangular learning rate; each epoch's loss and accuracies."""
    mean, std = channel_stats(X_train)
    generator = torch.Generator().manual_seed(seed)  # the order of the batches
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train, y_train),
                                         batch_size=batch_size, shuffle=True,
                                         generator=generator)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    total = epochs * len(loader)
    peak = max(1, round(warmup * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(  # rise to the peak, then fall to 0
        optimizer, lambda step: (step + 1) / peak if step < peak
        else max(0.0, (total - step) / max(1, total - peak)))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.2)
    history: dict[str, list[float]] = {"train_loss": [], "train_accuracy": [],
                                       "test_accuracy": []}
    for epoch in range(epochs):
        model.train()
        total_loss, correct, n = 0.0, 0, 0
        for x, y in loader:
            x, y = augment(normalise(x.to(device), mean, std)), y.to(device)
            logits = model(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
        history["train_loss"].append(total_loss / n)
        history["train_accuracy"].append(correct / n)
        history["test_accuracy"].append(accuracy(model, X_test, y_test, mean, std, device))
        log(f"epoch {epoch + 1}/{epochs}: train loss {total_loss / n:.4f}, accuracy "
            f"{correct / n:.4f} | test accuracy {history['test_accuracy'][-1]:.4f}")
    history["test_accuracy_flip_average"] = [accuracy(FlipAverage(model), X_test, y_test, mean,
                                                      std, device)]
    return history


def curves_figure(history: dict, path: str) -> str:
    """Training loss and train/test accuracy per epoch, saved as a PNG file."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["train_loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].plot(epochs, history["train_loss"], "o-")
    axes[0].set_ylabel("training loss")
    axes[1].plot(epochs, history["train_accuracy"], "o-", label="train (augmented)")
    axes[1].plot(epochs, history["test_accuracy"], "s-", label="test")
    axes[1].axhline(0.70, color="gray", ls=":", label="70 %")
    axes[1].set_ylabel("accuracy")
    axes[1].legend()
    for ax in axes:
        ax.set_xlabel("epoch")
    fig.tight_layout()
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
        prog="cifar10.py",
        description="Train a ResNet-9-style CNN on CIFAR-10 with crops, flips and\n"
                    "normalisation and report its test accuracy (the goal: at least 70 %).",
        epilog="the data: an .npz file with uint8 images (N, 32, 32, 3) and labels 0-9\n"
               "under X_train, y_train, X_test, y_test.\n\n"
               "examples:\n  python cifar10.py --data cifar10.npz                  # CPU\n"
               "  python cifar10.py --data cifar10.npz --width 64 --epochs 30 --lr 0.4 "
               "--batch-size 512",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="cifar10.npz", help="the CIFAR-10 .npz file "
                        "(default cifar10.npz)")
    parser.add_argument("--width", type=int, default=16, help="channels of the first layer "
                        "(default 16; the original network: 64)")
    parser.add_argument("--epochs", type=int, default=8, help="passes over the training "
                        "images (default 8)")
    parser.add_argument("--lr", type=float, default=0.2, help="peak SGD learning rate "
                        "(default 0.2)")
    parser.add_argument("--batch-size", type=int, default=256, help="images per step "
                        "(default 256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default auto: a GPU when there is one)")
    parser.add_argument("--out", default="cifar10_resnet.pt", help="where to save the trained "
                        "model's state dict (default cifar10_resnet.pt); the figure goes "
                        "beside it")
    args = parser.parse_args(argv)
    if min(args.width, args.epochs, args.batch_size) < 1 or not args.lr > 0:
        parser.error("--width, --epochs and --batch-size must be at least 1, --lr positive")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible")
    try:
        X_train, y_train, X_test, y_test = load_images(args.data)
    except ValueError as e:
        parser.error(str(e))

    torch.manual_seed(args.seed)
    model = CifarResNet(args.width, in_channels=X_train.shape[1]).to(device)
    print(f"CifarResNet, width {args.width}: {sum(p.numel() for p in model.parameters()):,} "
          f"parameters; {len(y_train)} training and {len(y_test)} test images; {device}")
    history = fit(model, X_train, y_train, X_test, y_test, epochs=args.epochs, lr=args.lr,
                  batch_size=args.batch_size, device=device, seed=args.seed)
    print(f"test accuracy {history['test_accuracy_flip_average'][0]:.4f} (mean logits of each "
          f"image and its mirror image; {history['test_accuracy'][-1]:.4f} without)")
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, args.out)
    print(f"saved {args.out}")
    figure = os.path.join(os.path.dirname(os.path.abspath(args.out)), "cifar10_curves.png")
    print(f"saved {curves_figure(history, figure)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
