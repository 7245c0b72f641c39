"""An MNIST calculator: a CNN reads handwritten digits, an RNN writes their sum (TU Eindhoven,
assignment 4, "MNIST Calculator").

A sample is a sequence of D * K digit images: number 1's D digits (most significant first), then
number 2's, ...; the target is their sum, written digit by digit with enough digits for
K (10^D - 1) (two 3-digit numbers: 4 digits, 1998 at most). The model
(:class:`DigitCalculator`):

* a per-image CNN (:class:`DigitCNN`: two conv blocks and a dense head) turns each image into
  ten scores; the sequence is folded into the batch, so one CNN reads every image;
* a softmax over the ten scores: the RNN always sees a distribution over ten "slots";
* an RNN (:class:`SumRNN`) that adds like written column addition: step j reads the j-th least
  significant digit of every number and emits the j-th digit of the sum, so the carry is what
  its state has to hold.

Two ways to train the same network:

* separately (the notebook's way): the CNN as a digit classifier on labelled images, the RNN on
  one-hot digit sequences (no images at all), then the two chained;
* end to end: CNN and RNN from scratch on the sums alone, never shown a digit label. The CNN is
  then free to put digit 7 in slot 2, say, as long as the RNN reads slot 2 as seven; its
  per-image accuracy is measured after the best one-to-one relabelling of the slots.

Run it as a program (``python mnist_calculator.py --help``)::

    python mnist_calculator.py --data mnist.npz --digits 3

``--data`` is an ``.npz`` file holding uint8 images (N, 28, 28) and labels 0-9 under
``X_train``, ``y_train``, ``X_test`` and ``y_test`` (Keras' ``mnist.npz`` works as it is).
Training sequences are made of training images only, test sequences of test images only. The
chained model is saved as ``mnist_calculator.pt`` and the end-to-end one as
``mnist_calculator_e2e.pt`` (state dicts). It needs NumPy, SciPy (for the relabelling) and
PyTorch.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

###############################################################################
# Data: sequences of digit images and their sums


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


def n_sum_digits(n_digits: int, n_numbers: int) -> int:
    """Digits needed to write the largest sum of ``n_numbers`` numbers of ``n_digits`` digits.

    The largest sum is K (10^D - 1): 18 for D=1, K=2 (2 digits); 1998 for D=3, K=2 (4 digits).
    """
    return len(str(n_numbers * (10 ** n_digits - 1)))


def sum_targets(digits: np.ndarray, n_digits: int, n_numbers: int) -> np.ndarray:
    """The digits of the sum, most significant first.

    Parameters
    ----------
    digits : int ndarray of shape (n_samples, n_numbers * n_digits)
        Number 1's digits (most significant first), then number 2's, ...

    Returns
    -------
    int64 ndarray of shape (n_samples, n_sum_digits(n_digits, n_numbers)), zero-padded on the left.
    """
    digits = np.asarray(digits, dtype=np.int64)
    n_out = n_sum_digits(n_digits, n_numbers)
    place = 10 ** np.arange(n_digits - 1, -1, -1, dtype=np.int64)              # (D,)
    numbers = (digits.reshape(len(digits), n_numbers, n_digits) * place).sum(-1)  # (N, K)
    total = numbers.sum(-1)                                                    # (N,)
    return (total[:, None] // 10 ** np.arange(n_out - 1, -1, -1, dtype=np.int64)) % 10


def make_sequences(labels: np.ndarray, n_sequences: int, n_digits: int, n_numbers: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of image indices drawn uniformly from ``labels``' images, and their sums.

    Returns ``idx`` (n_sequences, n_numbers * n_digits) into the image array that ``labels``
    belongs to, and ``targets`` (n_sequences, n_out) from :func:`sum_targets`.
    """
    idx = rng.integers(0, len(labels), size=(n_sequences, n_numbers * n_digits))
    return idx, sum_targets(np.asarray(labels)[idx], n_digits, n_numbers)


def random_digits(n_sequences: int, n_digits: int, n_numbers: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random digit sequences (N, D * K) and their sums: the separate RNN's data."""
    digits = rng.integers(0, 10, size=(n_sequences, n_numbers * n_digits))
    return digits, sum_targets(digits, n_digits, n_numbers)


###############################################################################
# The model


def conv_blocks(in_channels: int, channels, *, convs_per_block: int = 1,
                kernel_size: int = 3, batch_norm: bool = False) -> nn.Sequential:
    """One block per entry of ``channels``: ``convs_per_block`` 'same' convolutions (each
    followed by BatchNorm when ``batch_norm``, then ReLU), then a 2x2 max-pool."""
    layers: list[nn.Module] = []
    c_in = in_channels
    for c_out in channels:
        for _ in range(convs_per_block):
            layers.append(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2,
                                    bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU())
            c_in = c_out
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class DigitCNN(nn.Module):
    """Two conv blocks and a dropout MLP: (N, 1, 28, 28) images -> (N, n_classes) scores.

    Each block is ``convs_per_block`` 3x3 'same' convolutions (each followed by BatchNorm when
    ``batch_norm``, then ReLU) and a 2x2 max-pool: (N, c1, 14, 14), then (N, c2, 7, 7).
    """

    def __init__(self, n_classes: int = 10, channels: tuple[int, int] = (16, 32),
                 hidden: int = 128, dropout: float = 0.25, *, convs_per_block: int = 1,
                 batch_norm: bool = False):
        super().__init__()
        if convs_per_block < 1:
            raise ValueError(f"convs_per_block must be at least 1; got {convs_per_block}")
        c1, c2 = channels
        self.features = conv_blocks(1, (c1, c2), convs_per_block=convs_per_block,
                                    batch_norm=batch_norm)        # (N, c2, 7, 7)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _rnn(cell: str, n_in: int, hidden: int) -> nn.Module:
    if cell == "lstm":
        return nn.LSTM(n_in, hidden, batch_first=True)
    if cell == "gru":
        return nn.GRU(n_in, hidden, batch_first=True)
    raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")


class SumRNN(nn.Module):
    """Digit vectors of K numbers of D digits -> the logits of their sum, digit by digit.

    Input (N, T, n_classes) with T = D K: the digits of number 1 (most significant first), then
    those of number 2, ... (one-hot digits, or the CNN's softmax). Output (N, n_out, n_classes),
    most significant digit first.

    ``reader="columns"`` regroups the input as written-out column addition: step j sees the j-th
    least significant digit of every number (K n_classes values, zeros past the D-th column) and
    emits the j-th sum digit, so the carry is the only thing the state must hold and one set of
    weights serves every D. ``reader="sequence"`` is a plain encoder-decoder: an encoder reads
    the T digits in reverse, its final state starts a decoder run for n_out steps on that state.
    """

    def __init__(self, n_digits: int, n_numbers: int, hidden: int = 64, cell: str = "lstm",
                 reader: str = "columns", n_classes: int = 10):
        super().__init__()
        if reader not in ("columns", "sequence"):
            raise ValueError(f"reader must be 'columns' or 'sequence', got {reader!r}")
        self.n_digits, self.n_numbers, self.n_classes = n_digits, n_numbers, n_classes
        self.n_out = n_sum_digits(n_digits, n_numbers)
        self.reader, self.cell = reader, cell
        if reader == "columns":
            self.rnn = _rnn(cell, n_numbers * n_classes, hidden)
        else:
            self.encoder = _rnn(cell, n_classes, hidden)
            self.rnn = _rnn(cell, hidden, hidden)
        self.head = nn.Linear(hidden, n_classes)

    def columns(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D K, n_classes) -> (N, n_out, K n_classes): column j = j-th least significant."""
        N = x.shape[0]
        x = x.reshape(N, self.n_numbers, self.n_digits, self.n_classes)    # (N, K, D, 10)
        x = x.flip(2).permute(0, 2, 1, 3).reshape(N, self.n_digits, -1)    # (N, D, K * 10)
        return F.pad(x, (0, 0, 0, self.n_out - self.n_digits))             # (N, n_out, K * 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reader == "columns":
            y, _ = self.rnn(self.columns(x))            # (N, n_out, Hd), least significant first
            return self.head(y).flip(1)                 # (N, n_out, 10), most significant first
        _, state = self.encoder(x.flip(1))              # reversed input: the units digits last
        h = state[0] if isinstance(state, tuple) else state  # (1, N, Hd)
        steps = h[-1][:, None].expand(-1, self.n_out, -1).contiguous()  # (N, n_out, Hd)
        y, _ = self.rnn(steps, state)                   # (N, n_out, Hd)
        return self.head(y)                             # (N, n_out, 10)


class DigitCalculator(nn.Module):
    """Images (N, T, 1, 28, 28) -> sum logits (N, n_out, 10): CNN per image, softmax, SumRNN.

    The CNN runs once on all N T images (the sequence folded into the batch). Between the two
    sits a 10-way softmax, so the RNN always sees a distribution over ten slots: the separately
    trained RNN (trained on one-hot digits) can be chained as is, and an end-to-end model's
    slots can be matched to digits afterwards.

    ``normalise=True`` standardises each of the ten scores over the batch (a BatchNorm without
    affine parameters) before the softmax, and ``sharpen`` multiplies the standardised scores
    before it. A fresh CNN's softmax is nearly uniform, so an RNN trained end to end first
    learns to ignore it and the CNN gets almost no signal; standardised scores keep the softmax
    spread out from the first step, and sharpened ones bring it nearer the one-hot digits an
    adder works on, which it learns to add much sooner.

    ``readout="onehot"`` hands the RNN the CNN's reading as a one-hot digit (the argmax of the
    scores) instead of the softmax: the input a separately trained adder was trained on. A
    carry chain is sensitive to a soft input such as (0.7, 0.3), so a chained adder fed the
    softmax can misadd a sequence whose every image the CNN reads right. There is no gradient
    through the argmax: use it to evaluate a chained model, not to train end to end.
    """

    def __init__(self, cnn: nn.Module, rnn: SumRNN, normalise: bool = False,
                 readout: str = "softmax", sharpen: float = 1.0):
        super().__init__()
        if readout not in ("softmax", "onehot"):
            raise ValueError(f"readout must be 'softmax' or 'onehot', got {readout!r}")
        self.cnn, self.rnn, self.readout, self.sharpen = cnn, rnn, readout, sharpen
        self.norm = nn.BatchNorm1d(rnn.n_classes, affine=False) if normalise else nn.Identity()

    def digit_scores(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, 1, 28, 28) -> (N, T, 10): the scores whose softmax the RNN reads."""
        N, T = x.shape[:2]
        scores = self.norm(self.cnn(x.reshape(N * T, *x.shape[2:])))  # (N T, 10)
        if self.sharpen != 1.0:
            scores = scores * self.sharpen
        return scores.reshape(N, T, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.digit_scores(x)                                  # (N, T, 10)
        if self.readout == "onehot":
            return self.rnn(F.one_hot(scores.argmax(-1), scores.shape[-1]).to(scores.dtype))
        return self.rnn(scores.softmax(dim=-1))


###############################################################################
# Training


def sequence_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every position: logits (N, L, V), targets (N, L)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def _train(model: nn.Module, inputs, targets: np.ndarray, make_batch, *, epochs: int,
           lr, batch_size: int, device, seed: int, loss_fn, log, name: str) -> None:
    """Adam with a one-cycle learning rate over (input, target) batches.

    ``inputs`` are indices or digits (N, ...); ``make_batch(inputs)`` turns a batch of them into
    the model's input on ``device``. ``lr`` is a number, or a list of (parameters, peak)
    pairs for parts of the model that train best at different rates.
    """
    generator = torch.Generator().manual_seed(seed)  # the order of the batches
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.as_tensor(inputs), torch.as_tensor(targets)),
        batch_size=batch_size, shuffle=True, generator=generator)
    groups = [{"params": p, "lr": r} for p, r in lr] if isinstance(lr, list) \
        else [{"params": model.parameters(), "lr": lr}]
    optimizer = torch.optim.Adam(groups)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[g["lr"] for g in groups], total_steps=epochs * len(loader),
        pct_start=0.3)
    model.to(device)
    for epoch in range(epochs):
        model.train()
        total, n = 0.0, 0
        for inp, y in loader:
            loss = loss_fn(model(make_batch(inp.to(device))), y.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(y)
            n += len(y)
        log(f"{name}, epoch {epoch + 1}/{epochs}: train loss {total / n:.4f}")


def random_shift(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate each image (..., H, W) by its own random offset in [-max_shift, max_shift]^2."""
    if max_shift <= 0:
        return x
    shape = x.shape
    H, W = shape[-2:]
    x = x.reshape(-1, H, W)                                             # (M, H, W)
    M = len(x)
    padded = F.pad(x, (max_shift,) * 4)                                 # (M, H+2s, W+2s)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, M, 1), device=x.device)
    rows = dy + torch.arange(H, device=x.device)                        # (M, H)
    cols = dx + torch.arange(W, device=x.device)                        # (M, W)
    out = padded[torch.arange(M, device=x.device)[:, None, None], rows[:, :, None],
                 cols[:, None, :]]                                       # (M, H, W)
    return out.reshape(shape)


###############################################################################
# Evaluation


@torch.no_grad()
def read_slots(model: DigitCalculator, X_bank: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """The slot (0..9) the calculator's softmax puts first for each image of ``X_bank``."""
    model.eval()
    return torch.cat([model.digit_scores(X_bank[i:i + batch_size, None]).argmax(-1)[:, 0].cpu()
                      for i in range(0, len(X_bank), batch_size)]).numpy()


def slot_mapping(slots: np.ndarray, labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """The one-to-one slot -> digit map that agrees with ``labels`` most often (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    counts = np.zeros((n_classes, n_classes), dtype=np.int64)    # (slot, digit)
    np.add.at(counts, (slots, labels), 1)
    rows, cols = linear_sum_assignment(-counts)
    mapping = np.empty(n_classes, dtype=np.int64)
    mapping[rows] = cols
    return mapping


@torch.no_grad()
def predict_sums(model: DigitCalculator, X_bank: torch.Tensor, idx: np.ndarray,
                 batch_size: int = 512) -> np.ndarray:
    """The sum digits (N, n_out) the model writes for the image sequences ``idx`` (N, T)."""
    model.eval()
    out = [model(X_bank[torch.as_tensor(idx[i:i + batch_size], device=X_bank.device)])
           .argmax(-1).cpu() for i in range(0, len(idx), batch_size)]
    return torch.cat(out).numpy()


def report(name: str, model: DigitCalculator, X_train, y_train, X_test, y_test, test_idx,
           test_targets) -> dict:
    """Digit accuracy (after relabelling the slots), exact-sum accuracy, the most frequent sum."""
    mapping = slot_mapping(read_slots(model, X_train), y_train)
    digit_accuracy = float(np.mean(mapping[read_slots(model, X_test)] == y_test))
    sums = predict_sums(model, X_test, test_idx)
    exact = float((sums == test_targets).all(1).mean())
    written, counts = np.unique(sums, axis=0, return_counts=True)
    top = "".join(map(str, written[counts.argmax()]))
    print(f"{name}: digit accuracy {digit_accuracy:.4f}, exact sums {exact:.4f}; most frequent "
          f"output {top} ({counts.max() / len(sums):.3f} of the sums)")
    return {"digit_accuracy": digit_accuracy, "exact_sum_accuracy": exact}


###############################################################################
# The program


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None) -> int:
    parser = _Parser(
        prog="mnist_calculator.py",
        description="Train a CNN + RNN that adds handwritten numbers, separately (digit\n"
                    "classifier and adder, then chained) and end to end on the sums alone, and\n"
                    "report both on test sequences made of test images only.",
        epilog="the data: an .npz file with uint8 images (N, 28, 28) and labels 0-9 under\n"
               "X_train, y_train, X_test, y_test (Keras' mnist.npz works as it is).\n\n"
               "example:\n  python mnist_calculator.py --data mnist.npz --digits 3",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist.npz", help="the MNIST .npz file "
                        "(default mnist.npz)")
    parser.add_argument("--digits", type=int, default=3, help="digits per number (default 3)")
    parser.add_argument("--numbers", type=int, default=2, help="numbers summed (default 2)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the digit CNN "
                        "(default 8)")
    parser.add_argument("--adder-epochs", type=int, default=4, help="epochs of the adder on "
                        "one-hot digits (default 4)")
    parser.add_argument("--adder-sequences", type=int, default=20_000, help="random digit "
                        "sequences the adder trains on (default 20000)")
    parser.add_argument("--e2e-epochs", type=int, default=6, help="end-to-end epochs "
                        "(default 6; 0 skips end-to-end training)")
    parser.add_argument("--n-sequences", type=int, default=4000, help="end-to-end training "
                        "sequences (default 4000)")
    parser.add_argument("--n-test-sequences", type=int, default=1000, help="test sequences, "
                        "made of test images only (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default auto: a GPU when there is one)")
    parser.add_argument("--out", default="mnist_calculator.pt", help="where to save the "
                        "chained model's state dict (default mnist_calculator.pt); the "
                        "end-to-end model goes beside it as mnist_calculator_e2e.pt")
    args = parser.parse_args(argv)
    if not 1 <= args.digits <= 9 or args.numbers < 2 or args.e2e_epochs < 0 \
            or min(args.epochs, args.adder_epochs, args.adder_sequences, args.n_sequences,
                   args.n_test_sequences) < 1:
        parser.error("--digits must be 1..9, --numbers at least 2, --e2e-epochs not negative "
                     "and the other counts at least 1")
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
    rng = np.random.default_rng(args.seed)
    D, K = args.digits, args.numbers
    to_images = lambda X: torch.from_numpy(X.astype(np.float32) / 255.0)[:, None].to(device)
    X_bank, X_test_bank = to_images(X_train), to_images(X_test)  # (N, 1, 28, 28) each
    test_idx, test_targets = make_sequences(y_test, args.n_test_sequences, D, K, rng)
    common = dict(device=device, seed=args.seed, loss_fn=sequence_cross_entropy, log=print)

    # -- separately: a digit classifier, an adder on one-hot digits, chained -----------------
    cnn = DigitCNN()
    _train(cnn, torch.arange(len(y_train)), y_train, lambda i: random_shift(X_bank[i], 2),
           epochs=args.epochs, lr=3e-3, batch_size=128, name="digit CNN",
           **{**common, "loss_fn": F.cross_entropy})
    rnn = SumRNN(D, K)
    digits, targets = random_digits(args.adder_sequences, D, K, rng)
    _train(rnn, digits, targets, lambda d: F.one_hot(d, 10).float(), epochs=args.adder_epochs,
           lr=1e-2, batch_size=64, name="adder on one-hot digits", **common)
    chained = DigitCalculator(cnn, rnn, readout="onehot")
    report("separately trained, chained", chained, X_bank, y_train, X_test_bank, y_test,
           test_idx, test_targets)
    torch.save({k: v.cpu() for k, v in chained.state_dict().items()}, args.out)
    print(f"saved {args.out}")

    # -- end to end: the same network from scratch, on the sums only ------------------------
    if args.e2e_epochs:
        # no dropout, no shifts, sharpened scores: on 4,000 images, 6 epochs of 4,000 sums in
        # batches of 16 stayed on one output with dropout and shifts and learned without them
        model = DigitCalculator(DigitCNN(dropout=0.0), SumRNN(D, K), normalise=True, sharpen=3.0)
        idx, targets = make_sequences(y_train, args.n_sequences, D, K, rng)
        _train(model, idx, targets, lambda i: X_bank[i], epochs=args.e2e_epochs,
               lr=[(model.cnn.parameters(), 3e-3), (model.rnn.parameters(), 1e-2)],
               batch_size=16, name="end to end", **common)
        report("end to end", model, X_bank, y_train, X_test_bank, y_test, test_idx,
               test_targets)
        out = os.path.join(os.path.dirname(os.path.abspath(args.out)), "mnist_calculator_e2e.pt")
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, out)
        print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
