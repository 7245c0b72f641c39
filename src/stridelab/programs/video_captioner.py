"""A model that writes a short caption for a short video clip (TU Eindhoven, assignment 4,
"Model Design").

The design (:class:`VideoCaptioner`):

* input: a clip of T grey 64 x 64 frames (N, T, 64, 64) with values in [0, 1], and its length
  (clips in a batch are padded to the longest);
* a per-frame CNN (:class:`FrameCNN`, 2-D convolutions with dropout) turns every real frame
  into a feature vector of size F; with ``motion=True`` each frame is paired with its change to
  the next frame, a second input channel that shows which way things move;
* mean pooling over each clip's real frames (:class:`MaskedMeanPool`) summarises the clip in one
  vector: the caption is about the whole clip, not one frame;
* an LSTM decoder (:class:`CaptionDecoder`) writes the caption word by word: step t reads the
  pooled vector and the previous word and scores every word of the vocabulary; the pooled
  vector also sets its initial state;
* output: the word sequence up to the end token <end>.

Training uses teacher forcing (the decoder reads the true previous word) and the cross-entropy
of each word and of <end>; at test time the decoder is greedy (it feeds back its own most
likely word), and a clip counts as right only if its whole caption is (the sheet's 0/1 loss).

Run it as a program (``python video_captioner.py --help``)::

    python video_captioner.py --data clips.npz --epochs 20

``--data`` is an ``.npz`` file with, per split (``train``, ``test``): ``X_<split>`` uint8
clips (N, T, 64, 64), zero-padded after each clip's last frame; ``lengths_<split>`` the number
of real frames (N,); ``y_<split>`` the captions, one string of words per clip (N,). The trained
model and its vocabulary are saved as ``video_captioner.pt``. It needs NumPy and PyTorch.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

PAD, BOS, END = "<pad>", "<bos>", "<end>"

###############################################################################
# Data


def load_clips(path: str) -> dict[str, tuple[np.ndarray, np.ndarray, list[list[str]]]]:
    """``{"train": (clips, lengths, captions), "test": (...)}`` from an ``.npz`` file.

    clips: uint8 (N, T, H, W); lengths: int (N,) in 1..T; captions: one list of words per clip.
    Raises ValueError saying what is wrong with the file.
    """
    try:
        with np.load(path, allow_pickle=False) as data:  # strings load without pickle
            arrays = {key.lower(): data[key] for key in data.files}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None
    out = {}
    for split in ("train", "test"):
        X, lengths, y = (arrays.get(f"{k}_{split}") for k in ("x", "lengths", "y"))
        if X is None or lengths is None or y is None:
            raise ValueError(f"{path}: needs arrays X_{split}, lengths_{split} and y_{split}")
        if X.dtype != np.uint8 or X.ndim != 4 or len(X) == 0:
            raise ValueError(f"{path}: X_{split} must be uint8 clips (N, T, H, W); got "
                             f"{X.dtype} {X.shape}")
        if lengths.shape != (len(X),) or lengths.dtype.kind not in "iu" \
                or lengths.min() < 1 or lengths.max() > X.shape[1]:
            raise ValueError(f"{path}: lengths_{split} must give 1..T frames for each clip")
        if y.shape != (len(X),) or y.dtype.kind != "U":
            raise ValueError(f"{path}: y_{split} must hold one caption string per clip")
        out[split] = (X, lengths.astype(np.int64), [str(c).split() for c in y])
    return out


class Vocabulary:
    """Words <-> ids: <pad> = 0, <bos> = 1, <end> = 2, then the training captions' words."""

    def __init__(self, captions: list[list[str]]):
        words = sorted({w for caption in captions for w in caption} - {PAD, BOS, END})
        self.words = [PAD, BOS, END, *words]
        self.ids = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, captions: list[list[str]], length: int) -> torch.Tensor:
        """Captions -> ids (N, length): the words, <end>, then <pad>. Unknown words are an
        error: the model can only write words it has seen."""
        out = torch.full((len(captions), length), self.ids[PAD], dtype=torch.long)
        for i, caption in enumerate(captions):
            ids = [self.ids[w] for w in caption][:length - 1] + [self.ids[END]]
            out[i, :len(ids)] = torch.tensor(ids)
        return out

    def decode(self, ids) -> list[str]:
        """Ids -> words, stopping at the first <end> or <pad>."""
        words = []
        for i in ids:
            if self.words[i] in (END, PAD):
                break
            words.append(self.words[i])
        return words


###############################################################################
# The model


class FrameDifference(nn.Module):
    """(N, T, H, W) frames -> (N, T, 2, H, W): each frame and its change to the next frame.

    The difference channel shows local motion (bright where a digit arrives, dark where it
    leaves); the last frame of each clip gets a zero difference. ``lengths`` marks where each
    clip ends so padding never leaks into the last real frame.
    """

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        diff = torch.zeros_like(x)
        diff[:, :-1] = x[:, 1:] - x[:, :-1]
        t = torch.arange(x.shape[1], device=x.device)
        diff = diff * (t[None, :] < lengths[:, None] - 1)[:, :, None, None]  # (N, T, H, W)
        return torch.stack([x, diff], dim=2)


class FrameAsChannel(nn.Module):
    """(N, T, H, W) frames -> (N, T, 1, H, W): the plain per-frame input."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return x[:, :, None]


class FrameCNN(nn.Module):
    """Three strided conv blocks, then what and where: (N, C, 64, 64) -> (N, F).

    *What*: a global max over the 8x8 map, one value per channel, the same wherever the digit
    is (identity is learned once, not once per position). *Where*: the flattened map, which
    keeps where each pattern fired. Both go through a dropout projection to F features.
    """

    def __init__(self, in_channels: int = 1, feature_dim: int = 128,
                 channels: tuple[int, int, int] = (16, 32, 64), dropout: float = 0.2):
        super().__init__()
        c1, c2, c3 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, stride=2, padding=2), nn.ReLU(),  # (N, c1, 32, 32)
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),           # (N, c2, 16, 16)
            nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.ReLU(),           # (N, c3, 8, 8)
        )
        self.what = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())   # (N, c3)
        self.where = nn.Flatten()                                           # (N, c3 * 64)
        self.project = nn.Sequential(nn.Dropout(dropout),
                                     nn.Linear(c3 + c3 * 8 * 8, feature_dim), nn.ReLU(),
                                     nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x)
        return self.project(torch.cat([self.what(z), self.where(z)], dim=1))


class MaskedMeanPool(nn.Module):
    """(N, T, F) per-frame features and (N,) clip lengths -> (N, F): mean over real frames."""

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        t = torch.arange(h.shape[1], device=h.device)
        mask = (t[None, :] < lengths[:, None]).to(h.dtype)                 # (N, T)
        return (h * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True)  # (N, F)


class CaptionDecoder(nn.Module):
    """LSTM decoder: step t reads [pooled vector, embedding of word t-1] and scores word t.

    The pooled vector also sets the initial state (h0, c0 = tanh(W v)).
    """

    def __init__(self, vocab_size: int, feature_dim: int, embed_dim: int = 32,
                 hidden: int = 128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.init_state = nn.Linear(feature_dim, 2 * hidden)
        self.lstm = nn.LSTM(feature_dim + embed_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def start(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h0, c0 = torch.tanh(self.init_state(v)).chunk(2, dim=-1)  # (N, Hd) each
        return h0[None].contiguous(), c0[None].contiguous()

    def forward(self, v: torch.Tensor, prev: torch.Tensor, state=None):
        """v (N, F), prev (N, L) previous words -> logits (N, L, V) and the final state."""
        e = self.embed(prev)                                           # (N, L, E)
        inp = torch.cat([v[:, None].expand(-1, prev.shape[1], -1), e], dim=-1)  # (N, L, F+E)
        y, state = self.lstm(inp, self.start(v) if state is None else state)   # (N, L, Hd)
        return self.out(y), state


class VideoCaptioner(nn.Module):
    """Clips (N, T, 64, 64) in [0, 1] with lengths (N,) -> word logits (N, L, V).

    Per-frame CNN (the T frames folded into the batch), mean pooling over each clip's real
    frames, then the :class:`CaptionDecoder`. ``motion=True`` gives the per-frame CNN a second
    channel, the difference to the next frame (:class:`FrameDifference`).
    """

    def __init__(self, vocab_size: int, *, bos: int, end: int, motion: bool = False,
                 feature_dim: int = 128, embed_dim: int = 32, hidden: int = 128,
                 channels: tuple[int, int, int] = (16, 32, 64), dropout: float = 0.2):
        super().__init__()
        self.bos, self.end, self.motion = bos, end, motion
        self.frame_input = FrameDifference() if motion else FrameAsChannel()
        self.cnn = FrameCNN(2 if motion else 1, feature_dim, channels, dropout)
        self.pool = MaskedMeanPool()
        self.decoder = CaptionDecoder(vocab_size, feature_dim, embed_dim, hidden)

    def encode(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(N, T, H, W), (N,) -> pooled clip vectors (N, F)."""
        N, T = frames.shape[:2]
        x = self.frame_input(frames, lengths)                    # (N, T, C, H, W)
        real = torch.arange(T, device=x.device)[None, :] < lengths[:, None]  # (N, T)
        h_real = self.cnn(x[real])                               # (M, F): the M real frames
        h = h_real.new_zeros(N, T, h_real.shape[-1])             # padding frames stay zero
        h[real] = h_real
        return self.pool(h, lengths)                             # (N, F)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor,
                prev: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: ``prev`` (N, L) is BOS then the true words; returns (N, L, V)."""
        logits, _ = self.decoder(self.encode(frames, lengths), prev)
        return logits

    @torch.no_grad()
    def greedy(self, frames: torch.Tensor, lengths: torch.Tensor,
               max_len: int) -> torch.Tensor:
        """Greedy decoding: (N, max_len) word ids; every position after END is END."""
        v = self.encode(frames, lengths)
        word = torch.full((len(v),), self.bos, dtype=torch.long, device=v.device)
        done = torch.zeros(len(v), dtype=torch.bool, device=v.device)
        state, out = None, []
        for _ in range(max_len):
            logits, state = self.decoder(v, word[:, None], state)  # (N, 1, V)
            word = logits[:, -1].argmax(-1)
            word = torch.where(done, torch.full_like(word, self.end), word)
            done |= word == self.end
            out.append(word)
        return torch.stack(out, dim=1)


###############################################################################
# Training and evaluation


def train_one_epoch(model: VideoCaptioner, loader, optimizer, scheduler, vocab: Vocabulary,
                    device) -> float:
    """One pass of teacher forcing over ``loader``; the mean loss of its batches."""
    model.train()
    total, n = 0.0, 0
    for clips, lengths, captions in loader:
        frames = clips.to(device).float() / 255.0                      # (N, T, H, W)
        captions = captions.to(device)                                 # (N, L)
        bos = torch.full_like(captions[:, :1], vocab.ids[BOS])
        prev = torch.cat([bos, captions[:, :-1]], dim=1)               # <bos>, w1, ..., w_{L-1}
        logits = model(frames, lengths.to(device), prev)               # (N, L, V)
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), captions.reshape(-1),
                               ignore_index=vocab.ids[PAD])            # words and <end>
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += loss.item() * len(captions)
        n += len(captions)
    return total / n


@torch.no_grad()
def caption(model: VideoCaptioner, clips: np.ndarray, lengths: np.ndarray, vocab: Vocabulary,
            max_len: int, device, batch_size: int = 256) -> list[list[str]]:
    """Greedy captions of uint8 clips (N, T, H, W), as word lists."""
    model.eval()
    out = []
    for i in range(0, len(clips), batch_size):
        frames = torch.from_numpy(clips[i:i + batch_size]).to(device).float() / 255.0
        ids = model.greedy(frames, torch.from_numpy(lengths[i:i + batch_size]).to(device),
                           max_len)
        out += [vocab.decode(row) for row in ids.cpu().tolist()]
    return out


def fit(model, train, test, vocab: Vocabulary, *, epochs: int = 20, lr: float = 3e-3,
        batch_size: int = 32, device="cpu", seed: int = 0, log=print) -> dict[str, list]:
    """Adam with a one-cycle learning rate; each epoch's loss and exact-caption accuracy."""
    clips, lengths, captions = train
    max_len = max(len(c) for c in captions) + 1  # the longest caption and its <end>
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(clips), torch.from_numpy(lengths),
                                             vocab.encode(captions, max_len))
    generator = torch.Generator().manual_seed(seed)  # the order of the batches
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                         generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr,
                                                    total_steps=epochs * len(loader))
    history: dict[str, list] = {"train_loss": [], "test_exact": []}
    for epoch in range(epochs):
        history["train_loss"].append(train_one_epoch(model, loader, optimizer, scheduler,
                                                     vocab, device))
        predicted = caption(model, test[0], test[1], vocab, max_len, device)
        history["test_exact"].append(float(np.mean([p == t for p, t in zip(predicted,
                                                                            test[2])])))
        log(f"epoch {epoch + 1}/{epochs}: train loss {history['train_loss'][-1]:.4f}, exact "
            f"test captions {history['test_exact'][-1]:.4f}")
    return history


###############################################################################
# The program


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None) -> int:
    parser = _Parser(
        prog="video_captioner.py",
        description="Train the video captioner (per-frame CNN, mean pooling over the frames,\n"
                    "LSTM decoder) on captioned clips with teacher forcing, then caption the\n"
                    "test clips greedily and report the fraction captioned exactly right.",
        epilog="the data: an .npz file with X_train, X_test (uint8 clips (N, T, 64, 64),\n"
               "zero-padded), lengths_train, lengths_test (real frames per clip) and\n"
               "y_train, y_test (one caption string per clip).\n\n"
               "example:\n  python video_captioner.py --data clips.npz --epochs 20 --motion",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="clips.npz", help="the clips .npz file "
                        "(default clips.npz)")
    parser.add_argument("--motion", action="store_true", help="give the per-frame CNN the "
                        "change to the next frame as a second channel")
    parser.add_argument("--epochs", type=int, default=20, help="passes over the training "
                        "clips (default 20)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak Adam learning rate "
                        "(default 0.003)")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per step "
                        "(default 32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default auto: a GPU when there is one)")
    parser.add_argument("--out", default="video_captioner.pt", help="where to save the model's "
                        "state dict and vocabulary (default video_captioner.pt)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        parser.error("--epochs and --batch-size must be at least 1 and --lr positive")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible")
    try:
        data = load_clips(args.data)
        if data["train"][0].shape[2:] != (64, 64) or data["test"][0].shape[2:] != (64, 64):
            raise ValueError(f"{args.data}: the frames must be 64x64")
    except ValueError as e:
        parser.error(str(e))

    torch.manual_seed(args.seed)
    vocab = Vocabulary(data["train"][2])
    unknown = {w for c in data["test"][2] for w in c} - set(vocab.words)
    if unknown:
        print(f"note: the test captions use {len(unknown)} word(s) no training caption has; "
              "those clips cannot be captioned exactly")
    model = VideoCaptioner(len(vocab), bos=vocab.ids[BOS], end=vocab.ids[END],
                           motion=args.motion).to(device)
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters; vocabulary of "
          f"{len(vocab)} words; {len(data['train'][2])} training and {len(data['test'][2])} "
          f"test clips; {device}")
    fit(model, data["train"], data["test"], vocab, epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size, device=device, seed=args.seed)
    torch.save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                "vocabulary": vocab.words, "motion": args.motion}, args.out)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
