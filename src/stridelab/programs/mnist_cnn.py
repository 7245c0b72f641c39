"""A CNN for MNIST that beats the RBF SVC, and what it learned (TU Wien, problem 4.2.2-4.2.5).

4.2.2: a network with (amongst others) at least two 2-D convolutional layers, trained on the
training images and scored on the test images, with learning curves of loss and accuracy on
both. 4.2.3: its summary, each layer's output shape and free parameters worked out. 4.2.4: ten
misclassified test images with their predicted labels, and the confusion matrix. 4.2.5: for one
random test image, heatmaps of the output of the first and the last convolutional layer (up to
five filters each).

The network (:class:`MnistCNN`, defaults)::

    (N, 1, 28, 28) -> [conv 3x3 (16) + BN + ReLU] x2, max-pool 2 -> (N, 16, 14, 14)
                   -> [conv 3x3 (32) + BN + ReLU] x2, max-pool 2 -> (N, 32, 7, 7)
                   -> flatten (N, 1568) -> dense 128 + ReLU + dropout 0.3 -> dense 10 (logits)

The last layer has no activation of its own: its ten outputs are logits, and the softmax that
turns them into class probabilities is applied inside the cross-entropy loss
(``nn.CrossEntropyLoss`` takes log-softmax in its numerically stable form) and wherever
probabilities are wanted (``model(x).softmax(-1)``). Training: AdamW with a one-cycle learning
rate, random shifts (up to 2 pixels) and rotations (up to 10 degrees) of the training images.

Run it as a program (``python mnist_cnn.py --help``)::

    python mnist_cnn.py --data mnist.npz --epochs 20

``--data`` is an ``.npz`` file holding uint8 images (N, 28, 28) and labels 0-9 under
``X_train``, ``y_train``, ``X_test`` and ``y_test`` (Keras' ``mnist.npz``, what
``keras.datasets.mnist.load_data()`` reads, works as it is). It needs NumPy, PyTorch and
matplotlib.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence

import numpy as np
import torch
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
    """uint8 images (N, H, W) -> float32 tensor (N, 1, H, W) in [0, 1]."""
    return torch.from_numpy(X.astype(np.float32) / np.float32(255.0))[:, None]


def random_affine(x: torch.Tensor, shift: float = 2.0, rotate: float = 10.0) -> torch.Tensor:
    """Shift each image of x (N, C, H, W) by up to ``shift`` pixels and rotate it by up to
    ``rotate`` degrees; the pixels brought in are 0 (background). Draws from torch's global
    random generator (seed it for the same shifts)."""
    if shift <= 0 and rotate <= 0:
        return x
    n, _, h, w = x.shape
    angle = (torch.rand(n, device=x.device) * 2 - 1) * math.radians(rotate)  # (N,)
    shift_xy = (torch.rand(n, 2, device=x.device) * 2 - 1) * shift  # (N, 2) pixels
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, 2 * shift_xy[:, 0] / w], dim=1),
                         torch.stack([sin, cos, 2 * shift_xy[:, 1] / h], dim=1)], dim=1)
    grid = nn.functional.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return nn.functional.grid_sample(x, grid, align_corners=False)  # (N, C, H, W)


###############################################################################
# The model


def conv_blocks(in_channels: int, channels: Sequence[int], *, convs_per_block: int = 1,
                kernel_size: int = 3, batch_norm: bool = False) -> nn.Sequential:
    """One block per entry of ``channels``: ``convs_per_block`` 'same' convolutions (the first
    changes the channel count), each followed by BatchNorm (then without a bias) when
    ``batch_norm``, and ReLU; then a 2x2 max-pool. (N, in_channels, H, W) ->
    (N, channels[-1], H / 2^B, W / 2^B) for B blocks."""
    layers: list[nn.Module] = []
    c_in = in_channels
    for c_out in channels:
        for _ in range(convs_per_block):
            layers.append(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2,
                                    bias=not batch_norm))  # BN's shift replaces the bias
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU())
            c_in = c_out
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class MnistCNN(nn.Module):
    """Blocks of ``convs_per_block`` 3x3 'same' convolutions (+ BatchNorm) + ReLU, each block
    ending in a 2x2 max-pool, then a dense hidden layer with dropout and a linear output.

    Parameters
    ----------
    channels : sequence of int
        Filters of the convolutions in each block; one block per entry. Each block halves H
        and W, so a 28x28 image allows at most four blocks.
    convs_per_block : int
        Convolutions per block (the first changes the channel count).
    kernel_size : int
        Odd kernel size; padding ``kernel_size // 2`` keeps H and W within a block.
    hidden : int
        Units of the dense hidden layer (0: none, the flattened features go to the output).
    dropout : float
        Dropout rate before the output layer.
    batch_norm : bool
        BatchNorm after each convolution (which then has no bias: BN's shift replaces it).
    in_channels, image_size, n_classes : int
        Input channels, input height (= width), number of classes.
    """

    def __init__(self, channels: Sequence[int] = (16, 32), *, convs_per_block: int = 2,
                 kernel_size: int = 3, hidden: int = 128, dropout: float = 0.3,
                 batch_norm: bool = True, in_channels: int = 1, image_size: int = 28,
                 n_classes: int = 10):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        self.features = conv_blocks(in_channels, channels, convs_per_block=convs_per_block,
                                    kernel_size=kernel_size, batch_norm=batch_norm)
        side = image_size
        for _ in channels:
            side //= 2  # each block's max-pool
        n_flat = channels[-1] * side * side
        head: list[nn.Module] = [nn.Flatten()]
        if hidden > 0:
            head += [nn.Linear(n_flat, hidden), nn.ReLU(), nn.Dropout(dropout)]
            n_flat = hidden
        elif dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(n_flat, n_classes))  # logits: the softmax is in the loss
        self.classifier = nn.Sequential(*head)

    def conv_layers(self) -> list[nn.Conv2d]:
        """The Conv2d layers in forward order."""
        return [m for m in self.features if isinstance(m, nn.Conv2d)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, n_classes)
        return self.classifier(self.features(x))


def summary(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """A table like Keras' ``model.summary()``: each layer, its output shape and parameters.

    Conv2d: F filters of C x K x K weights (+ F biases) -> F*C*K*K (+ F); BatchNorm2d: a scale
    and a shift per channel (2F; its running mean and variance are not trained); Linear: a
    weight per input and output (+ a bias per output). Pooling, ReLU, dropout and flatten have
    none.
    """
    rows = []

    def record(name):
        def hook(module, inputs, output):
            n = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append((name, type(module).__name__, tuple(output.shape[1:]), n))
        return hook

    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    handles = [m.register_forward_hook(record(n)) for n, m in leaves]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    lines = [f"{'layer':<16}{'type':<14}{'output shape':<18}{'params':>10}", "-" * 58]
    lines += [f"{n:<16}{t:<14}{str(s):<18}{p:>10,}" for n, t, s, p in rows]
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines += ["-" * 58, f"total parameters: {total:,} (trainable {trainable:,})"]
    return "\n".join(lines)


###############################################################################
# Training and evaluation


def train_one_epoch(model, loader, optimizer, scheduler, device, augment: bool = True):
    """One pass over ``loader``; returns (mean loss, accuracy) of the training batches."""
    model.train()
    total_loss, correct, n = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        if augment:
            x = random_affine(x)
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
def predict(model, X: torch.Tensor, device, batch_size: int = 1000) -> torch.Tensor:
    """Logits (N, n_classes) of the images X (N, C, H, W), in eval mode, on the CPU."""
    model.eval()
    return torch.cat([model(x.to(device)).cpu() for x in X.split(batch_size)])


def evaluate(model, X: torch.Tensor, y: torch.Tensor, device) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on the images X and labels y."""
    logits = predict(model, X, device)
    return (nn.functional.cross_entropy(logits, y).item(),
            (logits.argmax(1) == y).float().mean().item())


def fit(model, X_train, y_train, X_test, y_test, *, epochs: int = 20, lr: float = 3e-3,
        weight_decay: float = 5e-4, batch_size: int = 64, augment: bool = True, device="cpu",
        seed: int = 0, log=print) -> dict[str, list[float]]:
    """AdamW with a one-cycle learning rate (peak ``lr``); the history of each epoch's train
    and test loss and accuracy (the learning curves)."""
    generator = torch.Generator().manual_seed(seed)  # the order of the batches
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train, y_train),
                                         batch_size=batch_size, shuffle=True,
                                         generator=generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr,
                                                    total_steps=epochs * len(loader))
    history: dict[str, list[float]] = {"train_loss": [], "train_accuracy": [], "test_loss": [],
                                       "test_accuracy": []}
    for epoch in range(epochs):
        loss, acc = train_one_epoch(model, loader, optimizer, scheduler, device, augment)
        test_loss, test_acc = evaluate(model, X_test, y_test, device)
        for key, value in zip(history, (loss, acc, test_loss, test_acc)):
            history[key].append(value)
        log(f"epoch {epoch + 1}/{epochs}: train loss {loss:.4f}, accuracy {acc:.4f} | test "
            f"loss {test_loss:.4f}, accuracy {test_acc:.4f}")
    return history


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Counts (n_classes, n_classes): row = true class, column = predicted class."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


@torch.no_grad()
def feature_maps(model: MnistCNN, x: torch.Tensor, device) -> list[np.ndarray]:
    """The outputs of the first and the last Conv2d for one image x (1, C, H, W): each (F, H', W')."""
    convs = model.conv_layers()
    captured: dict[int, torch.Tensor] = {}
    handles = [conv.register_forward_hook(
        lambda module, inputs, output, k=k: captured.setdefault(k, output.detach().cpu()))
        for k, conv in enumerate((convs[0], convs[-1]))]
    try:
        model.eval()
        model(x.to(device))
    finally:
        for h in handles:
            h.remove()
    return [captured[k][0].numpy() for k in (0, 1)]


###############################################################################
# Figures


def save_figures(model, history, X_test, y_test, y_pred, device, folder: str, seed: int = 0,
                 n_wrong: int = 10, n_maps: int = 5) -> list[str]:
    """Learning curves, misclassified images, confusion matrix and feature maps, as PNGs."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    paths = []

    def save(fig, name):
        paths.append(os.path.join(folder, name))
        fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
        plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = range(1, len(history["train_loss"]) + 1)
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, history[f"train_{key}"], "o-", label="train")
        ax.plot(epochs, history[f"test_{key}"], "s-", label="test")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
    fig.suptitle("Learning curves")
    save(fig, "mnist_cnn_learning_curves.png")

    wrong = np.flatnonzero(y_pred != y_test)[:n_wrong]
    if len(wrong):
        fig, axes = plt.subplots(1, len(wrong), figsize=(1.3 * len(wrong), 1.8), squeeze=False)
        for ax, i in zip(axes[0], wrong):
            ax.imshow(X_test[i, 0], cmap="gray_r")
            ax.set_title(f"true {y_test[i]}\npred {y_pred[i]}", fontsize=8)
            ax.axis("off")
        fig.suptitle("Misclassified test images")
        save(fig, "mnist_cnn_misclassified.png")

    counts = confusion_matrix(y_test, y_pred)
    fig, ax = plt.subplots(figsize=(5.6, 5))
    ax.imshow(counts, cmap="Blues")
    for (i, j), c in np.ndenumerate(counts):
        ax.text(j, i, str(c), ha="center", va="center", fontsize=7,
                color="white" if c > counts.max() / 2 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title("Confusion matrix (test images)")
    save(fig, "mnist_cnn_confusion_matrix.png")

    i = int(np.random.default_rng(seed).integers(len(X_test)))  # one random test image
    first, last = feature_maps(model, X_test[i:i + 1], device)
    k = min(n_maps, len(first), len(last))
    fig, axes = plt.subplots(2, k + 1, figsize=(1.9 * (k + 1), 4), squeeze=False)
    axes[0, 0].imshow(X_test[i, 0], cmap="gray_r")
    axes[0, 0].set_title(f"input (digit {y_test[i]})", fontsize=8)
    axes[1, 0].axis("off")
    for row, (maps, name) in enumerate(((first, "first"), (last, "last"))):
        for f in range(k):
            axes[row, f + 1].imshow(maps[f], cmap="viridis")
            axes[row, f + 1].set_title(f"{name} conv, filter {f}", fontsize=8)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Outputs of the first and the last convolutional layer")
    save(fig, "mnist_cnn_feature_maps.png")
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
        prog="mnist_cnn.py",
        description="Train a CNN with four 2-D convolutional layers on MNIST (problem 4.2.2),\n"
                    "print its summary (4.2.3), and draw its learning curves, ten misclassified\n"
                    "test images, the confusion matrix (4.2.4) and the feature maps of its first\n"
                    "and last convolutional layer for a random test image (4.2.5).",
        epilog="the data: an .npz file with uint8 images (N, 28, 28) and labels 0-9 under\n"
               "X_train, y_train, X_test, y_test (Keras' mnist.npz works as it is).\n\n"
               "example:\n  python mnist_cnn.py --data mnist.npz --epochs 20",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist.npz", help="the MNIST .npz file "
                        "(default mnist.npz)")
    parser.add_argument("--epochs", type=int, default=20, help="passes over the training "
                        "images (default 20)")
    parser.add_argument("--n-train", type=int, default=0, help="train on the first N training "
                        "images only (default 0: all)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate "
                        "(default 0.003)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step "
                        "(default 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default auto: a GPU when there is one)")
    parser.add_argument("--out", default="mnist_cnn.pt", help="where to save the trained "
                        "model's state dict (default mnist_cnn.pt); the figures go beside it")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.n_train < 0 or not args.lr > 0:
        parser.error("--epochs and --batch-size must be at least 1, --n-train not negative "
                     "and --lr positive")
    try:
        device = pick_device(args.device)
        X_train, y_train, X_test, y_test = load_mnist(args.data)
    except ValueError as e:
        parser.error(str(e))
    if args.n_train:
        X_train, y_train = X_train[:args.n_train], y_train[:args.n_train]

    torch.manual_seed(args.seed)
    X_train_t, X_test_t = image_tensor(X_train), image_tensor(X_test)
    y_train_t, y_test_t = torch.from_numpy(y_train), torch.from_numpy(y_test)
    model = MnistCNN().to(device)
    print(summary(model, (1, 28, 28)))
    history = fit(model, X_train_t, y_train_t, X_test_t, y_test_t, epochs=args.epochs,
                  lr=args.lr, batch_size=args.batch_size, device=device, seed=args.seed)
    y_pred = predict(model, X_test_t, device).argmax(1).numpy()
    print(f"test accuracy {np.mean(y_pred == y_test):.4f} on {len(y_test)} images")
    counts = confusion_matrix(y_test, y_pred)
    np.fill_diagonal(counts, 0)
    true, pred = np.unravel_index(counts.argmax(), counts.shape)
    print(f"most frequent confusion: {counts[true, pred]} images of digit {true} read as {pred}")
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, args.out)
    print(f"saved {args.out}")
    folder = os.path.dirname(os.path.abspath(args.out))
    for path in save_figures(model, history, X_test_t, y_test, y_pred, device, folder,
                             seed=args.seed):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
