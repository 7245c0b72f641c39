"""Deep MLPs on MNIST: sigmoid against ReLU at depth 1, 2 and 3 (TU Eindhoven, assignment 4,
"Training Deep Models").

The notebook's model, in PyTorch: Dense(512) -> activation -> Dropout(0.2), once per hidden
layer, then Dense(10) with a softmax, trained with categorical cross-entropy and plain SGD
(learning rate 0.01, no momentum, batches of 128) for 10 epochs. Its weights start as Keras
starts them (Glorot-uniform weights, zero biases); PyTorch's own default is smaller and changes
the numbers. The network returns logits and the loss applies the softmax, the same function.

With sigmoid units the accuracy falls as the network gets deeper: the gradient reaching the
first layers is multiplied by sigma'(z) <= 1/4 once per layer and vanishes. Replacing sigmoid
by ReLU (derivative 1 where a unit is active) lets the deeper networks learn. The program
trains all six networks and draws their train and test accuracy per epoch.

Run it as a program (``python deep_mlp.py --help``)::

    python deep_mlp.py --data mnist.npz --epochs 10

``--data`` is an ``.npz`` file holding uint8 images (N, 28, 28) and labels 0-9 under
``X_train``, ``y_train``, ``X_test`` and ``y_test`` (Keras' ``mnist.npz`` works as it is). It
needs NumPy, PyTorch and matplotlib.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
# weight initialisations of the dense layers (see MLP)
INITS = ("torch", "glorot_uniform", "he")

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


def flat_tensor(X: np.ndarray) -> torch.Tensor:
    """uint8 images (N, 28, 28) -> float32 tensor (N, 784) in [0, 1] (the notebook's X / 255)."""
    return torch.from_numpy(X.reshape(len(X), -1).astype(np.float32) / np.float32(255.0))


###############################################################################
# The model


class MLP(nn.Module):
    """``n_hidden_layers`` x (Dense ``width`` [+ BatchNorm] + activation + dropout), then a dense
    output layer of logits.

    Parameters
    ----------
    n_hidden_layers : int
        Hidden layers (0: multinomial logistic regression).
    width : int
        Units per hidden layer.
    activation : {"relu", "sigmoid", "tanh"}
    dropout : float
        Dropout rate after each hidden activation.
    batch_norm : bool
        BatchNorm1d between each hidden dense layer and its activation.
    init : {"torch", "glorot_uniform", "he"}
        Weight initialisation of the dense layers: PyTorch's default ("torch": weights and
        biases uniform in +-1/sqrt(fan_in), weight variance 1 / (3 fan_in)), Keras' default
        ("glorot_uniform": weights uniform in +-sqrt(6 / (fan_in + fan_out)), variance
        2 / (fan_in + fan_out), biases 0) or He normal ("he": variance 2 / fan_in, biases 0).
    in_features, n_classes : int
        Input size (the image is flattened first) and number of classes.
    """

    def __init__(self, n_hidden_layers: int = 1, width: int = 512, activation: str = "relu",
                 dropout: float = 0.2, *, batch_norm: bool = False, init: str = "torch",
                 in_features: int = 784, n_classes: int = 10):
        super().__init__()
        if activation not in ACTIVATIONS or init not in INITS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)} and init one "
                             f"of {', '.join(INITS)}; got {activation!r}, {init!r}")
        self.activation = activation
        layers: list[nn.Module] = [nn.Flatten()]
        n_in = in_features
        for _ in range(n_hidden_layers):
            layers.append(nn.Linear(n_in, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers += [ACTIVATIONS[activation](), nn.Dropout(dropout)]
            n_in = width
        layers.append(nn.Linear(n_in, n_classes))  # logits: the softmax is in the loss
        self.layers = nn.Sequential(*layers)
        if init != "torch":
            self._init_weights(init)

    def _init_weights(self, init: str) -> None:
        for m in self.linear_layers():
            if init == "he":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:  # Keras' Dense default: gain 1 whatever the activation
                nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    def linear_layers(self) -> list[nn.Linear]:
        """The dense layers in forward order (the last is the output layer)."""
        return [m for m in self.layers if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, ...) -> (N, n_classes) logits
        return self.layers(x)


###############################################################################
# Training and evaluation


def train_one_epoch(model, loader, optimizer, device) -> tuple[float, float]:
    """One pass of SGD over ``loader``; (mean loss, accuracy) of its batches."""
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
def evaluate(model, X: torch.Tensor, y: torch.Tensor, device) -> float:
    """Accuracy on X (N, 784), y (N,), in eval mode (dropout off)."""
    model.eval()
    correct = sum((model(a.to(device)).argmax(1).cpu() == b).sum().item()
                  for a, b in zip(X.split(1000), y.split(1000)))
    return correct / len(y)


def fit(model, X_train, y_train, X_test, y_test, *, epochs: int = 10, lr: float = 0.01,
        batch_size: int = 128, device="cpu", seed: int = 0, log=print) -> dict[str, list]:
    """Plain SGD, as the notebook trains; each epoch's train and test accuracy."""
    generator = torch.Generator().manual_seed(seed)  # the order of the batches
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train, y_train),
                                         batch_size=batch_size, shuffle=True,
                                         generator=generator)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    history: dict[str, list] = {"train_accuracy": [], "test_accuracy": []}
    for epoch in range(epochs):
        loss, acc = train_one_epoch(model, loader, optimizer, device)
        history["train_accuracy"].append(acc)
        history["test_accuracy"].append(evaluate(model, X_test, y_test, device))
        log(f"  epoch {epoch + 1}/{epochs}: loss {loss:.4f}, train accuracy {acc:.4f}, test "
            f"accuracy {history['test_accuracy'][-1]:.4f}")
    return history


###############################################################################
# Figures


def figure(results: dict[tuple[str, int], dict], path: str) -> str:
    """One row per activation, one panel per depth: train and test accuracy per epoch."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    activations = sorted({a for a, _ in results}, reverse=True)  # sigmoid first
    depths = sorted({d for _, d in results})
    fig, axes = plt.subplots(len(activations), len(depths),
                             figsize=(4.3 * len(depths), 3.6 * len(activations)), squeeze=False)
    for i, activation in enumerate(activations):
        for j, depth in enumerate(depths):
            ax, h = axes[i, j], results[(activation, depth)]
            epochs = range(1, len(h["train_accuracy"]) + 1)
            ax.plot(epochs, h["train_accuracy"], "o-", label="train")
            ax.plot(epochs, h["test_accuracy"], "s-", label="test")
            ax.set_ylim(0, 1)
            ax.set_title(f"{activation}, depth = {depth}")
            ax.set_xlabel("epoch")
            ax.set_ylabel("accuracy")
            ax.legend(loc="lower right")
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
        prog="deep_mlp.py",
        description="Train the notebook's MLP (512 units per hidden layer, dropout 0.2, plain\n"
                    "SGD) with 1, 2 and 3 hidden layers, first with sigmoid and then with ReLU\n"
                    "units, and draw the accuracy per epoch of all six networks.",
        epilog="the data: an .npz file with uint8 images (N, 28, 28) and labels 0-9 under\n"
               "X_train, y_train, X_test, y_test (Keras' mnist.npz works as it is).\n\n"
               "example:\n  python deep_mlp.py --data mnist.npz --epochs 10",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist.npz", help="the MNIST .npz file "
                        "(default mnist.npz)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training "
                        "images (default 10, the notebook's)")
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3],
                        help="numbers of hidden layers (default 1 2 3)")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (default "
                        "0.01, Keras' default)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default auto: a GPU when there is one)")
    parser.add_argument("--out", default="deep_mlp.png", help="where to save the figure of "
                        "accuracies (default deep_mlp.png)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or min(args.depths) < 1 or not args.lr > 0:
        parser.error("--epochs and every depth must be at least 1 and --lr positive")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible")
    try:
        X_train, y_train, X_test, y_test = load_mnist(args.data)
    except ValueError as e:
        parser.error(str(e))

    X_train_t, X_test_t = flat_tensor(X_train), flat_tensor(X_test)
    y_train_t, y_test_t = torch.from_numpy(y_train), torch.from_numpy(y_test)
    results = {}
    for activation in ("sigmoid", "relu"):
        for depth in args.depths:
            torch.manual_seed(args.seed)  # every network starts from the same random state
            model = MLP(depth, 512, activation, 0.2, init="glorot_uniform").to(device)
            n_params = sum(p.numel() for p in model.parameters())
            print(f"{activation}, {depth} hidden layer(s): {n_params:,} parameters")
            results[(activation, depth)] = fit(model, X_train_t, y_train_t, X_test_t, y_test_t,
                                               epochs=args.epochs, lr=args.lr, device=device,
                                               seed=args.seed)
    print("test accuracy after the last epoch:")
    for (activation, depth), h in results.items():
        print(f"  {activation:8s} depth {depth}: {h['test_accuracy'][-1]:.4f}")
    print(f"saved {figure(results, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
