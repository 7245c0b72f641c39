"""A convolutional autoencoder for MNIST with a 2-D code (Yale CPSC 663, exercise II, Problem 6).

6.1: the autoencoder of Problem 5 made convolutional, with exactly the layers the sheet lists
(below, :class:`ConvAutoencoder`), saved as ``mnist_cae.pt``. 6.2: skip connections between
each pooling layer and its mirror upsampling layer (``--skip``), saved as
``mnist-cae-skip.pt``. 6.3: both again as denoising autoencoders (``--noise-std 0.3``): every
training image is corrupted with fresh Gaussian noise N(0, 0.3^2) before it enters the model
while the target stays the clean image (saved as ``mnist_dae.pt`` and ``mnist-dae-skip.pt``).
Each run draws test images beside their reconstructions (and, with noise, the corrupted input),
the 2-D codes of a batch of test images coloured by label, and the training and test losses.

Run it as a program (``python prob6_CAE.py --help``)::

    python prob6_CAE.py --data mnist.npz                     # 6.1 -> mnist_cae.pt
    python prob6_CAE.py --data mnist.npz --skip              # 6.2 -> mnist-cae-skip.pt
    python prob6_CAE.py --data mnist.npz --noise-std 0.3     # 6.3 -> mnist_dae.pt

or use the model::

    from prob6_CAE import ConvAutoencoder
    model = ConvAutoencoder(skip=True)
    model.load_state_dict(torch.load("mnist-cae-skip.pt", weights_only=True))

``--data`` is an ``.npz`` file holding uint8 images (N, 28, 28) and labels 0-9 under
``X_train``, ``y_train``, ``X_test`` and ``y_test`` (Keras' ``mnist.npz`` works as it is). It
needs NumPy, PyTorch and matplotlib.
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


def corrupt(x: torch.Tensor, noise_std: float, generator: torch.Generator) -> torch.Tensor:
    """The corruption C(x_tilde | x) = N(x_tilde; x, sigma^2 I): x plus Gaussian noise.

    The noise is drawn from ``generator`` (on x's device); values are not clipped to [0, 1].
    """
    return x + noise_std * torch.randn(x.shape, generator=generator, device=x.device,
                                       dtype=x.dtype)


###############################################################################
# The model


class ConvAutoencoder(nn.Module):
    """The sheet's convolutional autoencoder, with optional skip connections.

    Encoder (shapes for one image)::

        Conv(1->4, k3, s1, p1), ReLU, MaxPool(2, 2)     (1, 28, 28) -> (4, 14, 14)
        Conv(4->8, k3, s1, p1), ReLU, MaxPool(2, 2)     -> (8, 7, 7)
        Flatten, Linear(392->20), ReLU, Linear(20->2)   -> (2,)

    Decoder, the channels and widths reversed::

        Linear(2->20), ReLU, Linear(20->392), ReLU, reshape  -> (8, 7, 7)
        Upsample(x2, nearest), Conv(8->4, k3, s1, p1), ReLU  -> (4, 14, 14)
        Upsample(x2, nearest), Conv(4->1, k3, s1, p1), Sigmoid -> (1, 28, 28)

    Initialisation: PyTorch's defaults, except that the Linear layers feeding a ReLU start
    with every bias equal to ``relu_bias`` (``None`` keeps PyTorch's small random biases). The
    392 inputs of Linear(392->20) are pooled ReLU maps, all nonnegative, and the first steps of
    Adam shift them a long way: with biases near 0, most of its 20 units soon see a negative
    pre-activation for every image, receive no gradient again and stay dead. On full MNIST,
    after 10 epochs of Adam (lr 3e-3, cosine), 16 of the 20 were dead with PyTorch's biases
    and 8 with ``relu_bias=1``, whose test MSE per pixel was 0.0429 against 0.0452. The
    architecture and the parameter count do not change.

    Skip connections (``skip=True``, Problem 6.2) pair each pooling layer with its mirror
    upsampling layer, last pooling with first upsampling: the pooled map is **added** to the
    tensor that enters the upsampling layer, (8, 7, 7) + (8, 7, 7) and then (4, 14, 14) +
    (4, 14, 14). Addition is chosen over concatenation because the shapes already agree, so
    every layer and every parameter count stays exactly as in the plain model and a comparison
    isolates the effect of the skips; concatenation would need Conv(16->4) and Conv(8->1).
    Either way the decoder receives 392 + 784 numbers straight from the encoder and no longer
    has to pass everything through the 2-D bottleneck.
    """

    def __init__(self, latent_dim: int = 2, skip: bool = False, relu_bias: float | None = 1.0):
        super().__init__()
        self.latent_dim = latent_dim
        self.skip = skip
        self.relu_bias = relu_bias
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 4, kernel_size=3, stride=1, padding=1),  # (N, 4, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2, 2),  # (N, 4, 14, 14)
            nn.Conv2d(4, 8, kernel_size=3, stride=1, padding=1),  # (N, 8, 14, 14)
            nn.ReLU(),
            nn.MaxPool2d(2, 2),  # (N, 8, 7, 7)
            nn.Flatten(),  # (N, 392)
            nn.Linear(392, 20),
            nn.ReLU(),
            nn.Linear(20, latent_dim),  # (N, 2): no nonlinearity entering the code
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 20),
            nn.ReLU(),
            nn.Linear(20, 392),
            nn.ReLU(),
            nn.Unflatten(1, (8, 7, 7)),  # (N, 8, 7, 7)
            nn.Upsample(scale_factor=2, mode="nearest"),  # (N, 8, 14, 14)
            nn.Conv2d(8, 4, kernel_size=3, stride=1, padding=1),  # (N, 4, 14, 14)
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),  # (N, 4, 28, 28)
            nn.Conv2d(4, 1, kernel_size=3, stride=1, padding=1),  # (N, 1, 28, 28)
            nn.Sigmoid(),  # pixel values in (0, 1)
        )
        if relu_bias is not None:
            for layer in self.relu_linears():
                nn.init.constant_(layer.bias, relu_bias)

    def relu_linears(self) -> list[nn.Linear]:
        """The Linear layers whose output passes through a ReLU (392->20, 2->20, 20->392)."""
        layers = []
        for stack in (self.encoder, self.decoder):
            for layer, after in zip(stack[:-1], stack[1:]):
                if isinstance(layer, nn.Linear) and isinstance(after, nn.ReLU):
                    layers.append(layer)
        return layers

    def encode_with_skips(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(N, 1, 28, 28) -> code (N, latent_dim) and the pooled maps, first pooling first."""
        pooled = []
        for layer in self.encoder:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                pooled.append(x)
        return x, pooled  # pooled: [(N, 4, 14, 14), (N, 8, 7, 7)]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) -> (N, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor, skips: list[torch.Tensor] | None = None) -> torch.Tensor:
        """(N, latent_dim) -> (N, 1, 28, 28).

        ``skips`` (the pooled maps from :meth:`encode_with_skips`) are added before each
        upsampling layer, the last pooled map first. Without them the decoder works from the
        code alone, which for a model trained with skips shows how much it relies on them.
        """
        pending = list(skips) if skips is not None else []
        for layer in self.decoder:
            if isinstance(layer, nn.Upsample) and pending:
                z = z + pending.pop()
            z = layer(z)
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.skip:
            return self.decoder(self.encoder(x))
        z, pooled = self.encode_with_skips(x)
        return self.decode(z, pooled)


###############################################################################
# Training and evaluation


def train_one_epoch(model: nn.Module, loader, optimizer, scheduler, device,
                    noise_std: float = 0.0, generator: torch.Generator | None = None) -> float:
    """One pass over ``loader``; returns the mean per-pixel MSE of the batches.

    With ``noise_std > 0`` each batch is corrupted afresh before it enters the model, and the
    loss compares the output with the clean batch: a denoising autoencoder.
    """
    model.train()
    total, n = 0.0, 0
    for (x,) in loader:
        x = x.to(device)
        x_in = corrupt(x, noise_std, generator) if noise_std > 0 else x
        loss = nn.functional.mse_loss(model(x_in), x)  # always against the clean image
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += loss.item() * len(x)
        n += len(x)
    return total / n


@torch.no_grad()
def evaluate(model: nn.Module, X_in: torch.Tensor, X: torch.Tensor, device,
             batch_size: int = 1000) -> float:
    """Per-pixel MSE between the reconstructions of ``X_in`` and the clean images ``X``."""
    model.eval()
    total = sum(nn.functional.mse_loss(model(a.to(device)), b.to(device), reduction="sum").item()
                for a, b in zip(X_in.split(batch_size), X.split(batch_size)))
    return total / X.numel()


def fit(model: nn.Module, X_train: torch.Tensor, X_test: torch.Tensor, *, epochs: int = 10,
        lr: float = 3e-3, batch_size: int = 32, warmup: float = 0.15, noise_std: float = 0.0,
        X_test_in: torch.Tensor | None = None, device="cpu", seed: int = 0,
        log=print) -> dict[str, list[float]]:
    """Adam on the per-pixel MSE against the clean images, with a one-cycle learning rate.

    The rate rises from lr/25 to ``lr`` over the first ``warmup`` fraction of the steps, then
    falls to almost 0 along a cosine: the tiny model learns slowly through its 2-unit code, and
    a large step annealed to 0 reaches a lower error than a constant 1e-3 in the same epochs.
    ``X_test_in`` (a fixed corrupted copy of ``X_test`` for a denoising model) is what the
    model sees at test time. Returns the train and test loss of each epoch.
    """
    generator = torch.Generator().manual_seed(seed)  # the order of the batches
    noise = torch.Generator(device=device).manual_seed(seed + 1)  # the training noise
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train),
                                         batch_size=batch_size, shuffle=True,
                                         generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * len(loader), pct_start=warmup,
        cycle_momentum=False)
    X_test_in = X_test if X_test_in is None else X_test_in
    history: dict[str, list[float]] = {"train_loss": [], "test_loss": []}
    for epoch in range(epochs):
        history["train_loss"].append(train_one_epoch(model, loader, optimizer, scheduler,
                                                     device, noise_std, noise))
        history["test_loss"].append(evaluate(model, X_test_in, X_test, device))
        log(f"epoch {epoch + 1}/{epochs}: train MSE {history['train_loss'][-1]:.4f}, "
            f"test MSE {history['test_loss'][-1]:.4f}")
    return history


@torch.no_grad()
def embed(model: ConvAutoencoder, X: torch.Tensor, device) -> np.ndarray:
    """The 2-D codes of X (N, 1, 28, 28), shape (N, 2)."""
    model.eval()
    return torch.cat([model.encode(x.to(device)).cpu() for x in X.split(1000)]).numpy()


###############################################################################
# Figures


def save_figures(model: ConvAutoencoder, X_test: torch.Tensor, X_test_in: torch.Tensor,
                 y_test: np.ndarray, history: dict, device, folder: str, stem: str,
                 n_show: int = 8, n_embed: int = 2000) -> list[str]:
    """Reconstructions, the 2-D codes of a batch of test images and the loss curves, as PNGs."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    model.eval()
    x, x_in = X_test[:n_show], X_test_in[:n_show]
    with torch.no_grad():
        x_hat = model(x_in.to(device)).cpu()
    rows = [("original", x)] + ([("corrupted input", x_in)] if X_test_in is not X_test else [])
    rows.append(("reconstruction", x_hat))
    fig, axes = plt.subplots(len(rows), len(x), figsize=(1.2 * len(x), 1.4 * len(rows)),
                             squeeze=False)
    for i, (label, images) in enumerate(rows):
        for j in range(len(x)):
            axes[i, j].imshow(images[j, 0].clamp(0, 1), cmap="gray", vmin=0, vmax=1)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(f"{stem}: test MSE {history['test_loss'][-1]:.4f} per pixel")
    paths = [os.path.join(folder, f"{stem}_reconstructions.png")]
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)

    z = embed(model, X_test_in[:n_embed], device)  # (N, 2)
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    points = ax.scatter(z[:, 0], z[:, 1], c=y_test[:n_embed], cmap="tab10", s=6, vmin=-0.5,
                        vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(f"{stem}: 2-D codes of {len(z)} test images")
    paths.append(os.path.join(folder, f"{stem}_embedding.png"))
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = range(1, len(history["train_loss"]) + 1)
    ax.plot(epochs, history["train_loss"], "o-", label="train")
    ax.plot(epochs, history["test_loss"], "s-", label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE per pixel")
    ax.legend()
    ax.set_title(f"{stem}: training and test loss")
    paths.append(os.path.join(folder, f"{stem}_losses.png"))
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


def default_out(skip: bool, noise_std: float) -> str:
    """The sheet's file names: mnist_cae.pt (6.1), mnist-cae-skip.pt (6.2), and for the
    denoising models of 6.3 mnist_dae.pt and mnist-dae-skip.pt."""
    if noise_std > 0:
        return "mnist-dae-skip.pt" if skip else "mnist_dae.pt"
    return "mnist-cae-skip.pt" if skip else "mnist_cae.pt"


def main(argv=None) -> int:
    parser = _Parser(
        prog="prob6_CAE.py",
        description="Train the convolutional autoencoder of Problem 6 on MNIST: plain (6.1),\n"
                    "with skip connections (6.2, --skip) or as a denoising autoencoder\n"
                    "(6.3, --noise-std 0.3); save it and draw its reconstructions, codes and\n"
                    "losses.",
        epilog="the data: an .npz file with uint8 images (N, 28, 28) and labels 0-9 under\n"
               "X_train, y_train, X_test, y_test (Keras' mnist.npz works as it is).\n\n"
               "examples:\n"
               "  python prob6_CAE.py --data mnist.npz                    # mnist_cae.pt\n"
               "  python prob6_CAE.py --data mnist.npz --skip             # mnist-cae-skip.pt\n"
               "  python prob6_CAE.py --data mnist.npz --noise-std 0.3    # mnist_dae.pt",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist.npz", help="the MNIST .npz file "
                        "(default mnist.npz)")
    parser.add_argument("--skip", action="store_true", help="add the skip connections of 6.2")
    parser.add_argument("--noise-std", type=float, default=0.0, help="standard deviation of "
                        "the Gaussian noise added to the inputs (6.3: 0.3; default 0, none)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training "
                        "images (default 10)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak Adam learning rate of the "
                        "one-cycle schedule (default 0.003)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step "
                        "(default 32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default auto: a GPU when there is one)")
    parser.add_argument("--out", default=None, help="where to save the trained model's state "
                        "dict (default: the sheet's name for the variant, e.g. mnist_cae.pt); "
                        "the figures go beside it")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0 or not args.noise_std >= 0:
        parser.error("--epochs and --batch-size must be at least 1, --lr positive and "
                     "--noise-std not negative")
    try:
        device = pick_device(args.device)
        X_train, y_train, X_test, y_test = load_mnist(args.data)
    except ValueError as e:
        parser.error(str(e))
    out = args.out or default_out(args.skip, args.noise_std)

    torch.manual_seed(args.seed)
    X_train_t, X_test_t = image_tensor(X_train), image_tensor(X_test)
    X_test_in = X_test_t
    if args.noise_std > 0:  # one fixed corruption of the test images, for a fair comparison
        X_test_in = corrupt(X_test_t, args.noise_std, torch.Generator().manual_seed(args.seed))
    model = ConvAutoencoder(skip=args.skip).to(device)
    print(model)
    print(f"{sum(p.numel() for p in model.parameters())} parameters; skip connections "
          f"{'on' if args.skip else 'off'}; input noise std {args.noise_std:g}; {device}")
    history = fit(model, X_train_t, X_test_t, epochs=args.epochs, lr=args.lr,
                  batch_size=args.batch_size, noise_std=args.noise_std, X_test_in=X_test_in,
                  device=device, seed=args.seed)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, out)
    print(f"saved {out}")
    folder = os.path.dirname(os.path.abspath(out))
    stem = os.path.splitext(os.path.basename(out))[0]
    for path in save_figures(model, X_test_t, X_test_in, y_test, history, device, folder, stem):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
