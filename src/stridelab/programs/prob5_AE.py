"""An autoencoder that embeds MNIST digits in two dimensions (Yale CPSC 663, exercise II, 5.4).

The sheet's baseline: an encoder of four Linear layers with ReLU between them that compresses
each 28 x 28 image into two numbers, and a decoder of four Linear layers that undoes it, with no
nonlinearity entering or leaving the embedding; Adam with learning rate 0.001 for at least 10
epochs on the per-pixel mean squared error. The trained model is saved as ``mnist_ae.pt`` (a
state dict), and the program draws test images beside their reconstructions and the 2-D
embeddings of a batch of test images coloured by their labels.

Run it as a program (``python prob5_AE.py --help``)::

    python prob5_AE.py --data mnist.npz --epochs 10

or use the model::

    from prob5_AE import MLPAutoencoder
    model = MLPAutoencoder()
    model.load_state_dict(torch.load("mnist_ae.pt", weights_only=True))
    z = model.encode(x)          # x: float32 (N, 1, 28, 28) in [0, 1] -> z: (N, 2)

``--data`` is an ``.npz`` file holding uint8 images (N, 28, 28) and labels 0-9 under
``X_train``, ``y_train``, ``X_test`` and ``y_test`` (Keras' ``mnist.npz``, with ``x_train`` and
``x_test``, works as it is). It needs NumPy, PyTorch and matplotlib.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)  # (C, H, W)
N_PIXELS = 784


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


###############################################################################
# The model


class MLPAutoencoder(nn.Module):
    """Fully connected autoencoder 784 -> ``hidden`` -> ``latent_dim`` -> reversed ``hidden`` -> 784.

    With the defaults each half has four Linear layers (784 -> 128 -> 64 -> 12 -> 2 and back)
    with ReLU between consecutive ones; the embedding itself and the output pass through no
    nonlinearity, as the sheet asks.

    Parameters
    ----------
    hidden : tuple of int, default (128, 64, 12)
        Widths of the encoder's hidden layers; the decoder uses them in reverse, so each half
        has ``len(hidden) + 1`` Linear layers.
    latent_dim : int, default 2
        Size of the embedding.
    activation : bool, default True
        ReLU between consecutive Linear layers. ``False`` gives a purely linear (affine)
        autoencoder, whose optimum spans the same subspace as PCA's first ``latent_dim``
        components (Problem 5.3).
    """

    def __init__(self, hidden: tuple[int, ...] = (128, 64, 12), latent_dim: int = 2,
                 activation: bool = True):
        super().__init__()
        self.hidden = tuple(hidden)
        self.latent_dim = latent_dim
        self.activation = activation
        down = (N_PIXELS, *self.hidden, latent_dim)
        up = down[::-1]
        self.encoder = nn.Sequential(nn.Flatten(), *self._stack(down))
        self.decoder = nn.Sequential(*self._stack(up), nn.Unflatten(1, IMAGE_SHAPE))

    def _stack(self, widths: tuple[int, ...]) -> list[nn.Module]:
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
            if i > 0 and self.activation:  # none before the first layer of each half
                layers.append(nn.ReLU())
            layers.append(nn.Linear(n_in, n_out))
        return layers

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) -> (N, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(N, latent_dim) -> (N, 1, 28, 28)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def affine_maps(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """For ``activation=False``: ``(A, a, B, b)`` with ``z = A x + a`` and ``x_hat = B z + b``.

        ``A`` has shape (latent_dim, 784), ``B`` (784, latent_dim): the products of the layer
        weights, read off by pushing the origin and the unit vectors through each half.
        """
        if self.activation:
            raise ValueError("affine_maps() needs a model built with activation=False")
        was_training = self.training
        self.eval()
        p = next(self.parameters())
        eye_x = torch.eye(N_PIXELS, dtype=p.dtype, device=p.device)  # (784, 784)
        a = self.encode(torch.zeros(1, *IMAGE_SHAPE, dtype=p.dtype, device=p.device))[0]
        A = (self.encode(eye_x.reshape(-1, *IMAGE_SHAPE)) - a).T  # (latent_dim, 784)
        eye_z = torch.eye(self.latent_dim, dtype=p.dtype, device=p.device)
        b = self.decode(torch.zeros(1, self.latent_dim, dtype=p.dtype, device=p.device))
        B = (self.decode(eye_z) - b).reshape(self.latent_dim, N_PIXELS).T  # (784, latent_dim)
        self.train(was_training)
        return A, a, B, b.reshape(N_PIXELS)


###############################################################################
# Training and evaluation


def train_one_epoch(model: nn.Module, loader, optimizer, device) -> float:
    """One pass of Adam over ``loader``; returns the mean per-pixel MSE of the batches."""
    model.train()
    total, n = 0.0, 0
    for (x,) in loader:
        x = x.to(device)
        loss = nn.functional.mse_loss(model(x), x)  # the target is the input itself
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
        n += len(x)
    return total / n


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, device, batch_size: int = 1000) -> float:
    """Per-pixel MSE of the reconstructions of X (N, 1, 28, 28)."""
    model.eval()
    total = sum(nn.functional.mse_loss(model(x.to(device)), x.to(device), reduction="sum").item()
                for x in X.split(batch_size))
    return total / X.numel()


def fit(model: nn.Module, X_train: torch.Tensor, X_test: torch.Tensor, *, epochs: int = 10,
        lr: float = 1e-3, batch_size: int = 32, device="cpu", seed: int = 0,
        log=print) -> dict[str, list[float]]:
    """Train with Adam on the per-pixel MSE; returns the train and test loss of each epoch."""
    generator = torch.Generator().manual_seed(seed)  # the order of the batches
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train),
                                         batch_size=batch_size, shuffle=True,
                                         generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"train_loss": [], "test_loss": []}
    for epoch in range(epochs):
        history["train_loss"].append(train_one_epoch(model, loader, optimizer, device))
        history["test_loss"].append(evaluate(model, X_test, device))
        log(f"epoch {epoch + 1}/{epochs}: train MSE {history['train_loss'][-1]:.4f}, "
            f"test MSE {history['test_loss'][-1]:.4f}")
    return history


@torch.no_grad()
def embed(model: MLPAutoencoder, X: torch.Tensor, device) -> np.ndarray:
    """The 2-D embeddings of X (N, 1, 28, 28), shape (N, 2)."""
    model.eval()
    return torch.cat([model.encode(x.to(device)).cpu() for x in X.split(1000)]).numpy()


###############################################################################
# Figures


def save_figures(model: MLPAutoencoder, X_test: torch.Tensor, y_test: np.ndarray, device,
                 folder: str, n_show: int = 8, n_embed: int = 2000) -> list[str]:
    """Reconstructions of the first test images and the embeddings of a batch, as PNG files."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    model.eval()
    x = X_test[:n_show]
    with torch.no_grad():
        x_hat = model(x.to(device)).cpu()
    fig, axes = plt.subplots(2, len(x), figsize=(1.2 * len(x), 2.8), squeeze=False)
    for j in range(len(x)):
        for i, (img, row) in enumerate(((x[j, 0], "original"), (x_hat[j, 0], "reconstruction"))):
            axes[i, j].imshow(img, cmap="gray", vmin=0, vmax=1)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if j == 0:
                axes[i, j].set_ylabel(row, fontsize=8)
    fig.suptitle("Test images (top) and their reconstructions (bottom)")
    paths = [os.path.join(folder, "prob5_reconstructions.png")]
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)

    z = embed(model, X_test[:n_embed], device)  # (N, 2)
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    points = ax.scatter(z[:, 0], z[:, 1], c=y_test[:n_embed], cmap="tab10", s=6, vmin=-0.5,
                        vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(f"2-D embeddings of {len(z)} test images")
    paths.append(os.path.join(folder, "prob5_embedding.png"))
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
        prog="prob5_AE.py",
        description="Train the fully connected autoencoder of Problem 5.4 (four Linear layers\n"
                    "down to a 2-D embedding, four back up) on MNIST with Adam, save it as\n"
                    "mnist_ae.pt and draw its reconstructions and embeddings.",
        epilog="the data: an .npz file with uint8 images (N, 28, 28) and labels 0-9 under\n"
               "X_train, y_train, X_test, y_test (Keras' mnist.npz works as it is).\n\n"
               "example:\n  python prob5_AE.py --data mnist.npz --epochs 10",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist.npz", help="the MNIST .npz file "
                        "(default mnist.npz)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training "
                        "images (default 10, the sheet's minimum)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default "
                        "0.001, the sheet's)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step "
                        "(default 32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default auto: a GPU when there is one)")
    parser.add_argument("--out", default="mnist_ae.pt", help="where to save the trained "
                        "model's state dict (default mnist_ae.pt); the figures go beside it")
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
    model = MLPAutoencoder().to(device)
    print(model)
    print(f"{sum(p.numel() for p in model.parameters())} parameters; {len(X_train)} training "
          f"and {len(X_test)} test images; {device}")
    fit(model, X_train_t, X_test_t, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        device=device, seed=args.seed)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, args.out)
    print(f"saved {args.out}")
    folder = os.path.dirname(os.path.abspath(args.out))
    for path in save_figures(model, X_test_t, y_test, device, folder):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
