"""Sequence models over MNIST digits: the digit calculator and the video captioner.

Shapes use N (batch), T (images or frames per sample), C, H, W (image), L (tokens),
V (vocabulary), F (features per frame), Hd (recurrent state).

The calculator: a per-image :class:`DigitCNN` gives 10 digit logits for each of the T = D·K
images; their softmax feeds a :class:`SumRNN` that emits the sum digit by digit.

The captioner: a per-frame :class:`FrameCNN`, a :class:`MaskedMeanPool` over the frames of
each clip, then an LSTM decoder fed the pooled vector and the previous word
(:class:`VideoCaptioner`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from stridelab.torch.models.classifiers import conv_blocks

# ---------------------------------------------------------------------------------------------
# the digit calculator


def n_sum_digits(n_digits: int, n_numbers: int) -> int:
    """Digits needed to write the largest sum of ``n_numbers`` numbers of ``n_digits`` digits.

    The largest sum is K·(10^D − 1): 18 for D=1, K=2 (2 digits); 1998 for D=3, K=2 (4 digits).
    """
    return len(str(n_numbers * (10 ** n_digits - 1)))


class DigitCNN(nn.Module):
    """Two conv blocks and a dropout MLP: (N, 1, 28, 28) images -> (N, n_classes) logits.

    Each block is ``convs_per_block`` 3×3 'same' convolutions (each followed by BatchNorm when
    ``batch_norm``, then ReLU) and a 2×2 max-pool: (N, c1, 14, 14), then (N, c2, 7, 7).
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

    Input (N, T, n_classes) with T = D·K: the digits of number 1 (most significant first), then
    those of number 2, ... (one-hot digits, or the CNN's softmax). Output (N, n_out, n_classes),
    most significant digit first.

    ``reader="columns"`` regroups the input as written-out column addition: step j sees the j-th
    least significant digit of every number (K·n_classes values, zeros past the D-th column) and
    emits the j-th sum digit, so the carry is the only thing the state must hold and one set of
    weights serves every D. ``reader="sequence"`` is a plain encoder-decoder: an encoder reads the
    T digits in reverse, its final state starts a decoder run for n_out steps on that state.
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
        """(N, D·K, n_classes) -> (N, n_out, K·n_classes): column j = j-th least significant."""
        N = x.shape[0]
        x = x.reshape(N, self.n_numbers, self.n_digits, self.n_classes)    # (N, K, D, 10)
        x = x.flip(2).permute(0, 2, 1, 3).reshape(N, self.n_digits, -1)    # (N, D, K·10)
        return F.pad(x, (0, 0, 0, self.n_out - self.n_digits))             # (N, n_out, K·10)

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

    The CNN runs once on all N·T images (the sequence folded into the batch). Between the two
    sits a 10-way softmax, so the RNN always sees a distribution over ten slots: the separately
    trained RNN (trained on one-hot digits) can be chained as is, and an end-to-end model's
    slots can be matched to digits afterwards.

    ``normalise=True`` standardises each of the ten scores over the batch (a BatchNorm without
    affine parameters) before the softmax. A fresh CNN's softmax is nearly uniform, so an RNN
    trained end to end first learns to ignore it and the CNN gets almost no signal; the
    standardised scores keep the softmax input spread out from the first step.

    ``readout="onehot"`` hands the RNN the CNN's reading as a one-hot digit (the argmax of the
    scores) instead of the softmax: the input a separately trained adder was trained on. A
    carry chain is sensitive to a soft input such as (0.7, 0.3), so a chained adder fed the
    softmax can misadd a sequence whose every image the CNN reads right. There is no gradient
    through the argmax: use it to evaluate a chained model, not to train end to end.
    """

    def __init__(self, cnn: nn.Module, rnn: SumRNN, normalise: bool = False,
                 readout: str = "softmax"):
        super().__init__()
        if readout not in ("softmax", "onehot"):
            raise ValueError(f"readout must be 'softmax' or 'onehot', got {readout!r}")
        self.cnn, self.rnn, self.readout = cnn, rnn, readout
        self.norm = nn.BatchNorm1d(rnn.n_classes, affine=False) if normalise else nn.Identity()

    def digit_scores(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, 1, 28, 28) -> (N, T, 10): the scores whose softmax the RNN reads."""
        N, T = x.shape[:2]
        scores = self.norm(self.cnn(x.reshape(N * T, *x.shape[2:])))  # (N·T, 10)
        return scores.reshape(N, T, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.digit_scores(x)                                  # (N, T, 10)
        if self.readout == "onehot":
            return self.rnn(F.one_hot(scores.argmax(-1), scores.shape[-1]).to(scores.dtype))
        return self.rnn(scores.softmax(dim=-1))


# ---------------------------------------------------------------------------------------------
# the video captioner


class FrameDifference(nn.Module):
    """(N, T, H, W) frames -> (N, T, 2, H, W): each frame and its change to the next frame.

    The difference channel shows local motion (bright where the digit arrives, dark where it
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

    *What*: a global max over the 8×8 map, one value per channel, the same wherever the digit
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
        self.where = nn.Flatten()                                           # (N, c3·64)
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
    """LSTM decoder: step t reads [pooled vector, embedding of word t−1] and scores word t.

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
