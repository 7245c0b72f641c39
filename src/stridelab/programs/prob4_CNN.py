"""A CNN on MNIST, its first-layer filters and its confusion matrix (Yale CPSC 663, II, 4.2).

4.2(a): train the model for 5 epochs and show the filters of the first convolutional layer
(40 filters in all). 4.2(b): the confusion matrix on the test split, and the class most often
mistaken for another. The network (:class:`CNN`)::

    (N, 1, 28, 28) -> conv 3x3, 40 filters + BatchNorm + ReLU, max-pool 2 -> (N, 40, 14, 14)
                   -> conv 3x3, 64 filters + BatchNorm + ReLU, max-pool 2 -> (N, 64, 7, 7)
                   -> flatten (N, 3136) -> dense 128 + ReLU + dropout 0.3 -> dense 10 (logits)

Training: AdamW (weight decay 5e-4) with a one-cycle learning rate peaking at 3e-3, batches of
64, random shifts (up to 2 pixels) and rotations (up to 10 degrees) of the training images; the
cross-entropy loss applies the softmax to the logits. The trained model is saved as
``prob4_cnn.pt`` (a state dict).

Run it as a program (``python prob4_CNN.py --help``)::

    python prob4_CNN.py --data mnist.npz --epochs 5

``--data`` is an ``.npz`` file holding uint8 images (N, 28, 28) and labels 0-9 under
``X_train``, ``y_train``, ``X_test`` and ``y_test`` (Keras' ``mnist.npz`` works as it is). It
needs NumPy, PyTorch, scikit-learn (for the confusion matrix) and matplotlib.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
import torch
from sklearn.metrics import confusion_matrix
from torch import nn

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
    """uint8 images (N, 28, 28) -> float32 tensor (N, 1, 28, 28) in [0, 1]."""
    return torch.from_numpy(X.astype(np.float32) / np.float32(255.0))[:, None]


def random_affine(x: torch.Tensor, shift: float = 2.0, rotate: float = 10.0) -> torch.Tensor:
    """Shift each image of x (N, C, H, W) by up to ``shift`` pixels and rotate it by up to
    ``rotate`` degrees; the pixels brought in are 0 (background)."""
    n, _, h, w = x.shape
    angle = (torch.rand(n, device=x.device) * 2 - 1) * math.radians(rotate)  # (N,)
    shift_xy = (torch.rand(n, 2, device=x.device) * 2 - 1) * shift  # (N, 2) pixels
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, 2 * shift_xy[:, 0] / w], dim=1),
                         torch.stack([sin, cos, 2 * shift_xy[:, 1] / h], dim=1)], dim=1)
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return nn.functional.grid_sample(x, grid, align_corners=False)  # (N, C, H, W)


###############################################################################
# The model


class CNN(nn.Module):
    """Two conv blocks (40 and 64 filters of 3x3) and a dense head: (N, 1, 28, 28) -> (N, 10).

    Each convolution keeps the image size (padding 1) and has no bias, since the BatchNorm after
    it adds its own shift; each block ends in a 2x2 max-pool. The output is ten logits.
    """

    def __init__(self, dropout: float = 0.3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 40, kernel_size=3, padding=1, bias=False),  # (N, 40, 28, 28)
            nn.BatchNorm2d(40),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 40, 14, 14)
            nn.Conv2d(40, 64, kernel_size=3, padding=1, bias=False),  # (N, 64, 14, 14)
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, 64, 7, 7)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (N, 3136)
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(128, 10),  # logits
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


###############################################################################
# Training and evaluation


def train_one_epoch(model, loader, optimizer, scheduler, device) -> tuple[float, float]:
    """One pass over ``loader`` (shifted and rotated); (mean loss, accuracy) of its batches."""
    model.train()
    total_loss, correct, n = 0.0, 0, 0
    for x, y in loader:
        x, y = random_affine(x.to(device)), y.to(device)
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    return total_loss / n, correct / n


@torch.no_grad()
def predict(model, X: torch.Tensor, device, batch_size: int = 1000) -> np.ndarray:
    """The predicted digit of each image X (N, 1, 28, 28), in eval mode."""
    model.eval()
    return torch.cat([model(x.to(device)).argmax(1).cpu() for x in X.split(batch_size)]).numpy()


def fit(model, X_train, y_train, X_test, y_test, *, epochs: int = 5, lr: float = 3e-3,
        batch_size: int = 64, device="cpu", seed: int = 0, log=print) -> None:
    """AdamW with a one-cycle learning rate; prints each epoch's loss and accuracies."""
    generator = torch.Generator().manual_seed(seed)  # the order of the batches
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train, y_train),
                                         batch_size=batch_size, shuffle=True,
                                         generator=generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr,
                                                    total_steps=epochs * len(loader))
    for epoch in range(epochs):
        loss, acc = train_one_epoch(model, loader, optimizer, scheduler, device)
        test_acc = np.mean(predict(model, X_test, device) == y_test.numpy())
        log(f"epoch {epoch + 1}/{epochs}: train loss {loss:.4f}, accuracy {acc:.4f} | test "
            f"accuracy {test_acc:.4f}")


###############################################################################
# Figures


def save_figures(model: CNN, y_test: np.ndarray, y_pred: np.ndarray, folder: str) -> list[str]:
    """The 40 first-layer filters and the confusion matrix, as PNG files."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    W = model.features[0].weight.detach().cpu().numpy()[:, 0]  # (40, 3, 3)
    # one mosaic of 4 x 10 filters, each scaled to its own range and framed by a gap
    low = W.min(axis=(1, 2), keepdims=True)
    span = np.maximum(W.max(axis=(1, 2), keepdims=True) - low, 1e-12)
    tiles = np.pad((W - low) / span, ((0, 0), (1, 1), (1, 1)), constant_values=np.nan)
    mosaic = tiles.reshape(4, 10, 5, 5).transpose(0, 2, 1, 3).reshape(20, 50)  # (4*5, 10*5)
    fig, ax = plt.subplots(figsize=(10, 4.4))
    ax.imshow(mosaic, cmap="gray")
    ax.set_xticks(np.arange(10) * 5 + 2, [str(j) for j in range(10)])
    ax.set_yticks(np.arange(4) * 5 + 2, [f"{10 * i}+" for i in range(4)])
    ax.set_title("The 40 filters of the first convolutional layer (3x3), filter 10 i + j at "
                 "row i, column j")
    paths = [os.path.join(folder, "prob4_filters.png")]
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)

    counts = confusion_matrix(y_test, y_pred, labels=range(10))
    fig, ax = plt.subplots(figsize=(5.6, 5))
    ax.imshow(counts, cmap="Blues")
    for (i, j), c in np.ndenumerate(counts):
        ax.text(j, i, str(c), ha="center", va="center", fontsize=7,
                color="white" if c > counts.max() / 2 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title("Confusion matrix on the test split")
    paths.append(os.path.join(folder, "prob4_confusion_matrix.png"))
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)
    return paths


###############################################################################
# The program


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def pick_device(name: str) -> str:
    """"auto" -> "cuda" when a GPU is visible, else "cpu"; "cuda" must be available."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is visible")
    return name


def main(argv=None) -> int:
    parser = _Parser(
        prog="prob4_CNN.py",
        description="Train the CNN of Problem 4 on MNIST (40 filters in its first\n"
                    "convolutional layer) for 5 epochs, then draw those filters and the\n"
                    "confusion matrix on the test split.",
        epilog="the data: an .npz file with uint8 images (N, 28, 28) and labels 0-9 under\n"
               "X_train, y_train, X_test, y_test (Keras' mnist.npz works as it is).\n\n"
               "example:\n  python prob4_CNN.py --data mnist.npz --epochs 5",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist.npz", help="the MNIST .npz file "
                        "(default mnist.npz)")
    parser.add_argument("--epochs", type=int, default=5, help="passes over the training "
                        "images (default 5, as the sheet asks)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate "
                        "(default 0.003)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step "
                        "(default 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default auto: a GPU when there is one)")
    parser.add_argument("--out", default="prob4_cnn.pt", help="where to save the trained "
                        "model's state dict (default prob4_cnn.pt); the figures go beside it")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        parser.error("--epochs and --batch-size must be at least 1 and --lr positive")
    try:
        device = pick_device(args.device)
        X_train, y_train, X_test, y_test = load_mnist(args.data)
    except ValueError as e:
        parser.error(str(e))

    torch.manual_seed(args.seed)
    X_train_t, X_test_t = image_tensor(X_train), image_tensor(X_test)
    model = CNN().to(device)
    print(model)
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters; {len(X_train)} "
          f"training and {len(X_test)} test images; {device}")
    fit(model, X_train_t, torch.from_numpy(y_train), X_test_t, torch.from_numpy(y_test),
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, device=device,
        seed=args.seed)
    y_pred = predict(model, X_test_t, device)
    counts = confusion_matrix(y_test, y_pred, labels=range(10))
    np.fill_diagonal(counts, 0)
    true, pred = np.unravel_index(counts.argmax(), counts.shape)
    print(f"test accuracy {np.mean(y_pred == y_test):.4f}; most frequent confusion: "
          f"{counts[true, pred]} images of digit {true} read as {pred}")
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, args.out)
    print(f"saved {args.out}")
    for path in save_figures(model, y_test, y_pred, os.path.dirname(os.path.abspath(args.out))):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
