"""A CNN for MNIST against a feed-forward network of about the same size (LMU Munich, sheet 4,
exercise 4-3).

Both networks are trained on the same images with the same optimiser (Adam) and scored on the
test images, and then on the same test images shifted by 1 to 3 pixels (the mean over right,
left, down and up), where the CNN's weight sharing and pooling should tell:

* :class:`CNN`: three blocks of a 3x3 convolution (8, 16, 32 filters, 'same' padding), ReLU
  and a 2x2 max-pool, then one linear layer to the ten logits::

      (N, 1, 28, 28) -> (N, 8, 14, 14) -> (N, 16, 7, 7) -> (N, 32, 3, 3) -> (N, 288) -> (N, 10)

* :class:`FeedForward`: the flattened image, one hidden layer of ReLU units, ten logits. Its
  width is chosen so that both networks have about the same number of parameters
  (:func:`matched_width`), so a difference in accuracy comes from how the parameters are
  used, not from how many there are.

Run it as a program (``python cnn_vs_mlp.py --help``)::

    python cnn_vs_mlp.py --data mnist.npz --epochs 10

``--data`` is an ``.npz`` file holding uint8 images (N, 28, 28) and labels 0-9 under
``X_train``, ``y_train``, ``X_test`` and ``y_test`` (Keras' ``mnist.npz`` works as it is). It
needs NumPy, PyTorch and matplotlib.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

SHIFT_DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))  # (dy, dx): right, left, down, up

###############################################################################
# Data


def load_mnist(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``X_train, y_train, X_test, y_test`` from an ``.npz`` file.

    Images are uint8 arrays of shape (N, 28, 28) (keys ``X_train``/``x_train`` and
    ``X_test``/``x_test``), labels integers 0-9 of shape (N,). Raises ValueError saying what is
    wrong with the file.
    """
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
        if X.dtype != np.uint8 or X.shape[1:] != (28, 28) or len(X) == 0:
            raise ValueError(f"{path}: X_{split} must be uint8 images of shape (N, 28, 28); "
                             f"got {X.dtype} {X.shape}")
        if y.shape != (len(X),) or y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9:
            raise ValueError(f"{path}: y_{split} must hold one label 0-9 per image")
        out += [X, y.astype(np.int64)]
    return tuple(out)


def image_tensor(X: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W) -> float32 tensor (N, 1, H, W) in [0, 1]."""
    return torch.from_numpy(X.astype(np.float32) / np.float32(255.0))[:, None]


def shift_images(X: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift images (N, H, W) by (dy, dx) pixels, filling the uncovered border with zeros."""
    out = np.zeros_like(X)
    H, W = X.shape[-2:]
    src_y = slice(max(-dy, 0), H - max(dy, 0))
    dst_y = slice(max(dy, 0), H - max(-dy, 0))
    src_x = slice(max(-dx, 0), W - max(dx, 0))
    dst_x = slice(max(dx, 0), W - max(-dx, 0))
    out[..., dst_y, dst_x] = X[..., src_y, src_x]
    return out


###############################################################################
# The two networks


class CNN(nn.Module):
    """Blocks of a 3x3 'same' convolution, ReLU and a 2x2 max-pool, one per entry of
    ``channels``, then a linear layer from the flattened maps to ``n_classes`` logits."""

    def __init__(self, channels: Sequence[int] = (8, 16, 32), *, in_channels: int = 1,
                 image_size: int = 28, n_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        c_in, side = in_channels, image_size
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in, side = c_out, side // 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, n_classes))

    def conv_layers(self) -> list[nn.Conv2d]:
        """The Conv2d layers in forward order."""
        return [m for m in self.features if isinstance(m, nn.Conv2d)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, n_classes)
        return self.classifier(self.features(x))


class FeedForward(nn.Module):
    """The flattened image, one hidden layer of ``width`` ReLU units, ``n_classes`` logits."""

    def __init__(self, width: int, *, in_features: int = 784, n_classes: int = 10):
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(in_features, width), nn.ReLU(),
                                    nn.Linear(width, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, ...) -> (N, n_classes)
        return self.layers(x)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of a network."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def matched_width(n_params: int, in_features: int = 784, n_classes: int = 10) -> int:
    """Hidden width h of a one-hidden-layer network with about ``n_params`` parameters:
    (in + 1) h + (h + 1) classes = n_params."""
    return max(1, round((n_params - n_classes) / (in_features + 1 + n_classes)))


###############################################################################
# Training and evaluation


def train_one_epoch(model, loader, optimizer, device) -> tuple[float, float]:
    """One pass of Adam over ``loader``; (mean loss, accuracy) of its batches."""
    model.train()
    total_loss, correct, n = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    return total_loss / n, correct / n


@torch.no_grad()
def accuracy(model, X: torch.Tensor, y: torch.Tensor, device) -> float:
    """Accuracy on images X (N, 1, H, W) and labels y (N,), in eval mode."""
    model.eval()
    correct = sum((model(a.to(device)).argmax(1).cpu() == b).sum().item()
                  for a, b in zip(X.split(1000), y.split(1000)))
    return correct / len(y)


def fit(model, X_train, y_train, X_test, y_test, *, epochs: int = 10, lr: float = 2e-3,
        batch_size: int = 64, device="cpu", seed: int = 0, log=print) -> None:
    """Adam at a constant learning rate; prints each epoch's loss and accuracies."""
    generator = torch.Generator().manual_seed(seed)  # the same batches for both networks
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train, y_train),
                                         batch_size=batch_size, shuffle=True,
                                         generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        loss, acc = train_one_epoch(model, loader, optimizer, device)
        log(f"  epoch {epoch + 1}/{epochs}: loss {loss:.4f}, train accuracy {acc:.4f}, test "
            f"accuracy {accuracy(model, X_test, y_test, device):.4f}")


def shifted_accuracy(model, X_test: np.ndarray, y_test: torch.Tensor, shift: int,
                     device) -> float:
    """Mean accuracy on the test images shifted by ``shift`` pixels right, left, down and up."""
    return float(np.mean([accuracy(model, image_tensor(shift_images(X_test, shift * dy,
                                                                     shift * dx)),
                                   y_test, device) for dy, dx in SHIFT_DIRECTIONS]))


###############################################################################
# The program


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def shift_figure(acc: dict[str, list[float]], params: dict[str, int], path: str) -> str:
    """Test accuracy against the shift of the test digits, one line per network."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4.4))
    for name, values in acc.items():
        ax.plot(range(len(values)), values, "o-", label=f"{name} ({params[name]:,} parameters)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole pixels
    ax.set_xlabel("shift of the test digits (pixels; mean of right, left, down, up)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Trained on centred digits, tested on shifted ones")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = _Parser(
        prog="cnn_vs_mlp.py",
        description="Train a small CNN and a feed-forward network with about as many\n"
                    "parameters on MNIST, then compare their test accuracy, also on test\n"
                    "digits shifted by a few pixels.",
        epilog="the data: an .npz file with uint8 images (N, 28, 28) and labels 0-9 under\n"
               "X_train, y_train, X_test, y_test (Keras' mnist.npz works as it is).\n\n"
               "example:\n  python cnn_vs_mlp.py --data mnist.npz --epochs 10",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist.npz", help="the MNIST .npz file "
                        "(default mnist.npz)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training "
                        "images, both networks (default 10)")
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate "
                        "(default 0.002)")
    parser.add_argument("--max-shift", type=int, default=3, help="largest shift of the test "
                        "digits, in pixels (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default auto: a GPU when there is one)")
    parser.add_argument("--out", default="cnn_vs_mlp.pt", help="where to save both trained "
                        "networks' state dicts (default cnn_vs_mlp.pt); the figure goes beside "
                        "it")
    args = parser.parse_args(argv)
    if args.epochs < 1 or not 1 <= args.max_shift < 28 or not args.lr > 0:
        parser.error("--epochs must be at least 1, --max-shift in 1..27 and --lr positive")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible")
    try:
        X_train, y_train, X_test, y_test = load_mnist(args.data)
    except ValueError as e:
        parser.error(str(e))

    torch.manual_seed(args.seed)
    cnn = CNN()
    mlp = FeedForward(matched_width(count_parameters(cnn)))
    models = {"CNN": cnn, "MLP": mlp}
    params = {name: count_parameters(m) for name, m in models.items()}
    X_train_t, X_test_t = image_tensor(X_train), image_tensor(X_test)
    y_train_t, y_test_t = torch.from_numpy(y_train), torch.from_numpy(y_test)
    acc = {}
    for name, model in models.items():
        print(f"{name}: {params[name]:,} parameters")
        model.to(device)
        fit(model, X_train_t, y_train_t, X_test_t, y_test_t, epochs=args.epochs, lr=args.lr,
            device=device, seed=args.seed)
        acc[name] = [accuracy(model, X_test_t, y_test_t, device)]
        acc[name] += [shifted_accuracy(model, X_test, y_test_t, s, device)
                      for s in range(1, args.max_shift + 1)]
        print(f"{name}: test accuracy by shift (0 to {args.max_shift} pixels): "
              + ", ".join(f"{a:.4f}" for a in acc[name]))
    torch.save({name.lower(): {k: v.cpu() for k, v in m.state_dict().items()}
                for name, m in models.items()}, args.out)
    print(f"saved {args.out}")
    figure = os.path.join(os.path.dirname(os.path.abspath(args.out)), "cnn_vs_mlp_shift.png")
    print(f"saved {shift_figure(acc, params, figure)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
