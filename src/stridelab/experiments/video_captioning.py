"""video-captioning: describe short clips of moving MNIST digits in words.

A clip is 8–16 frames of 64×64 with one or two digits, each moving left, right, up or down at
a constant speed and bouncing off the edges, captioned by a small grammar such as "digit 3
moves left while digit 7 moves up" (the clips and captions: :mod:`stridelab.data.moving_digits`).
The model
is the sheet's design: a per-frame CNN (with dropout), mean pooling over the frames, an LSTM
decoder fed the pooled vector and the previous word; teacher forcing in training, greedy
decoding at test time. Metrics: exact-caption accuracy (the sheet's 0/1 loss), token accuracy
and corpus BLEU-4.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from stridelab.data.moving_digits import (
    BOS,
    CANVAS,
    DIRECTIONS,
    END,
    MAX_LEN,
    PAD,
    TRAVEL,
    VOCAB,
    WORD_ID,
    decode_caption,
    make_clips,
)
from stridelab.experiments.narrate import Lesson, Notes, fmt, num
from stridelab.experiments.plots import losses_figure
from stridelab.experiments.registry import bounded, register
from stridelab.programs.video_captioner import VideoCaptioner
from stridelab.torch import schedules
from stridelab.torch.loop import fit, make_loader


@dataclass
class CaptioningConfig:
    n_train_clips: int = bounded(6000, ge=1)  # training clips, built from training-split digits
    n_test_clips: int = bounded(1000, ge=1)  # test clips, built from test-split digits only
    min_frames: int = bounded(8, ge=3)  # shortest clip, in frames
    max_frames: int = bounded(16, ge="min_frames")  # longest clip, in frames
    p_two: float = bounded(0.5, ge=0, le=1)  # probability that a clip holds two digits
    min_speed: int = bounded(1, ge=1)  # slowest motion, in pixels per frame
    # fastest motion, in pixels per frame
    max_speed: int = bounded(3, ge="min_speed", le=TRAVEL // 2)
    epochs: int = bounded(20, ge=1)  # passes over the training clips
    batch_size: int = bounded(32, ge=1)  # clips per step
    lr: float = bounded(3e-3, gt=0)  # peak Adam learning rate of the one-cycle schedule
    dropout: float = bounded(0.2, ge=0, lt=1)  # dropout in the per-frame CNN
    feature_dim: int = 128  # per-frame feature size F (and pooled vector size)
    hidden: int = 128  # decoder LSTM state size
    n_examples: int = bounded(6, ge=1)  # clips drawn in the sample figure
    # epochs training the per-frame CNN on labelled single digits first
    pretrain_epochs: int = bounded(8, ge=0)
    # draw new training clips (the same number, from the same training digits) before every
    # epoch after the first, so the captioner cannot learn the clips by heart; False: the same
    # n_train_clips clips every epoch
    resample_clips: bool = True
    n_pretrain: int = bounded(4000, ge=1)  # frame pairs for that, from training-split digits


# ---------------------------------------------------------------------------------------------
# BLEU


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def corpus_bleu(references: list[list[list[str]]], hypotheses: list[list[str]],
                max_n: int = 4) -> float:
    """Corpus BLEU (Papineni et al., 2002) with uniform weights over 1..max_n-grams.

    Parameters
    ----------
    references : list of length n_samples, each a list of reference word lists
    hypotheses : list of length n_samples of word lists

    The n-gram precisions are summed over the corpus before dividing (clipped counts: an n-gram
    counts at most as often as in its most generous reference); the brevity penalty
    exp(1 − r/c) applies when the total hypothesis length c is below r, the sum of the reference
    lengths closest to each hypothesis (the shorter on a tie). Returns 0 when some order has no
    match (no smoothing).
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references for {len(hypotheses)} hypotheses")
    matched = [0] * max_n
    total = [0] * max_n
    c = r = 0
    for refs, hyp in zip(references, hypotheses):
        c += len(hyp)
        r += min((len(ref) for ref in refs), key=lambda n_ref: (abs(n_ref - len(hyp)), n_ref))
        for n in range(1, max_n + 1):
            counts = _ngrams(hyp, n)
            best: Counter = Counter()
            for ref in refs:
                best |= _ngrams(ref, n)
            matched[n - 1] += sum(min(k, best[g]) for g, k in counts.items())
            total[n - 1] += sum(counts.values())
    if c == 0 or min(matched) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matched, total)) / max_n
    bp = 1.0 if c > r else math.exp(1 - r / c)
    return bp * math.exp(log_p)


# ---------------------------------------------------------------------------------------------
# training


class TeacherForcing(nn.Module):
    """Feeds the training loop: clip indices (N,) -> teacher-forced word logits (N, L, V).

    Holds the clips, lengths and captions of train and test together (its own copies, moved
    to the model's device on first use), so ``fit`` can train and evaluate on index batches;
    :meth:`loss` reads the targets of a batch by index too, and :meth:`replace` swaps in new
    clips (:func:`train_captioner` draws fresh training clips before each epoch).
    """

    def __init__(self, captioner: VideoCaptioner, clips: np.ndarray, lengths: np.ndarray,
                 captions: np.ndarray):
        super().__init__()
        self.captioner = captioner
        self._data = (torch.tensor(clips), torch.tensor(lengths), torch.tensor(captions))

    def _on(self, device) -> tuple:
        if self._data[0].device != device:
            self._data = tuple(a.to(device) for a in self._data)
        return self._data

    def batch(self, idx: torch.Tensor):
        clips, lengths, captions = (a[idx] for a in self._on(idx.device))
        return clips.float() / 255.0, lengths, captions

    def loss(self, logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """:func:`caption_loss` against the captions of clips ``idx`` (the loader's targets)."""
        return caption_loss(logits, self._on(idx.device)[2][idx])

    def replace(self, start: int, clips: np.ndarray, lengths: np.ndarray,
                captions: np.ndarray) -> None:
        """Overwrite clips [start, start + len(lengths)) with new ones, in place."""
        stop = start + len(lengths)
        for held, new in zip(self._data, (clips, lengths, captions)):
            held[start:stop] = torch.as_tensor(new).to(held.device)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        frames, lengths, captions = self.batch(idx)
        bos = torch.full_like(captions[:, :1], WORD_ID[BOS])
        prev = torch.cat([bos, captions[:, :-1]], dim=1)    # (N, L): <bos>, w1, ..., w_{L-1}
        return self.captioner(frames, lengths, prev)


def caption_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the caption words and <end>; <pad> positions are ignored."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                           ignore_index=WORD_ID[PAD])


class FramePretrainer(nn.Module):
    """The per-frame CNN with a linear head, for training it on single digits before captioning.

    Holds uint8 frame pairs (N, 2, 64, 64) of one moving digit; ``forward(idx)`` gives logits
    (n, 14): the digit (10) and the direction of its motion from the first frame to the second
    (4), read from the first frame and, with ``motion``, its change to the second.
    """

    def __init__(self, captioner: VideoCaptioner, pairs: np.ndarray):
        super().__init__()
        self.captioner = captioner
        feature_dim = captioner.cnn.project[1].out_features
        self.head = nn.Linear(feature_dim, 10 + len(DIRECTIONS))
        self._pairs = torch.as_tensor(pairs)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        if self._pairs.device != idx.device:
            self._pairs = self._pairs.to(idx.device)
        frames = self._pairs[idx].float() / 255.0                                # (n, 2, H, W)
        lengths = torch.full((len(idx),), 2, device=idx.device)
        x = self.captioner.frame_input(frames, lengths)[:, 0]                    # (n, C, H, W)
        return self.head(self.captioner.cnn(x))                                  # (n, 14)


def pretrain_frame_cnn(captioner: VideoCaptioner, images: np.ndarray, labels: np.ndarray,
                       config: CaptioningConfig, ctx, rng: np.random.Generator) -> dict:
    """Train the per-frame CNN on labelled single digits first, as the sheet's design does.

    ``config.n_pretrain`` frame pairs, each of one training-split digit moving at the clips'
    speeds; the CNN learns to name the digit and, given the difference channel, which way it
    moves. The captioner is then trained as a whole on the captions. (Frames of two digits
    were tried too: in the same epochs the CNN learned neither digit.)
    """
    # three-frame clips (the fewest make_clips draws), of which the first two are used: the
    # first step names the direction unless it folds to zero at a wall, which is rare
    pairs = make_clips(images, labels, config.n_pretrain, rng, min_frames=3, max_frames=3,
                       p_two=0.0, min_speed=config.min_speed, max_speed=config.max_speed)
    direction = np.array([DIRECTIONS.index(d) for d in pairs["directions"][:, 0]])
    targets = np.stack([pairs["digits"][:, 0], direction], axis=1)              # (N, 2)
    model = FramePretrainer(captioner, pairs["clips"][:, :2])
    motion = captioner.motion  # without the difference channel there is no direction to learn

    def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = F.cross_entropy(logits[:, :10], y[:, 0])
        return loss + F.cross_entropy(logits[:, 10:], y[:, 1]) if motion else loss

    train = make_loader(torch.arange(len(targets)), targets, config.batch_size, shuffle=True,
                        seed=ctx.seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = schedules.one_cycle(opt, config.pretrain_epochs * len(train))
    return fit(model, train, None, optimizer=opt, loss_fn=loss_fn,
               num_epochs=config.pretrain_epochs, device=ctx.device,
               log=ctx.log, progress=ctx.progress, metric=None,
               scheduler=sched)


def train_captioner(motion: bool, data: dict, n_train: int, config: CaptioningConfig,
                    ctx, pretrain_data: tuple | None = None,
                    fresh_clips: Callable[[int], dict] | None = None
                    ) -> tuple[VideoCaptioner, TeacherForcing, dict]:
    """Train one captioner on clips [0, n_train) of ``data``; evaluate on the rest.

    ``pretrain_data`` = (images, labels, rng): with ``config.pretrain_epochs > 0`` the per-frame
    CNN is first trained on those digits alone (:func:`pretrain_frame_cnn`).
    ``fresh_clips(k)``, if given, returns the ``n_train`` training clips (a :func:`make_clips`
    dict) of epoch k (from 0); they replace the training clips before each epoch after the
    first, whose clips are those in ``data``.
    """
    captioner = VideoCaptioner(len(VOCAB), bos=WORD_ID[BOS], end=WORD_ID[END], motion=motion,
                               feature_dim=config.feature_dim, hidden=config.hidden,
                               dropout=config.dropout)
    if config.pretrain_epochs > 0 and pretrain_data is not None:
        ctx.log(f"pretraining the per-frame CNN on {config.n_pretrain} labelled single digits")
        images, labels, rng = pretrain_data
        pretrain_frame_cnn(captioner, images, labels, config, ctx, rng)
    model = TeacherForcing(captioner, data["clips"], data["lengths"], data["captions"])
    n_total = len(data["lengths"])
    # the loaders yield clip indices as inputs and as targets: model.loss looks the captions
    # up, so clips swapped in by resample() come with their own captions
    train = make_loader(torch.arange(n_train), torch.arange(n_train), config.batch_size,
                        shuffle=True, seed=ctx.seed)
    test = make_loader(torch.arange(n_train, n_total), torch.arange(n_train, n_total), 256)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = schedules.one_cycle(opt, config.epochs * len(train))

    def resample(epoch: int, history: dict) -> None:  # after epoch index ``epoch``
        if epoch + 1 < config.epochs:
            fresh = fresh_clips(epoch + 1)
            model.replace(0, fresh["clips"], fresh["lengths"], fresh["captions"])

    history = fit(model, train, test, optimizer=opt, loss_fn=model.loss,
                  num_epochs=config.epochs, device=ctx.device,
                  log=ctx.log, progress=ctx.progress, metric=None, scheduler=sched,
                  on_epoch_end=resample if fresh_clips is not None else None)
    return captioner, model, history


# ---------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def greedy_captions(model: TeacherForcing, idx: np.ndarray, device,
                    batch_size: int = 256) -> np.ndarray:
    """Greedy word ids (len(idx), MAX_LEN) for the clips ``idx`` of the model's data."""
    model.eval()
    out = []
    for i in range(0, len(idx), batch_size):
        frames, lengths, _ = model.batch(torch.as_tensor(idx[i:i + batch_size], device=device))
        out.append(model.captioner.greedy(frames, lengths, MAX_LEN).cpu())
    return torch.cat(out).numpy()


def caption_metrics(pred: np.ndarray, ref: np.ndarray) -> dict:
    """Exact-caption accuracy, token accuracy and BLEU-4 of word ids (N, L) against (N, L).

    Token accuracy compares position by position over the reference's words and its <end>;
    exact accuracy asks for every one of them (the sheet's 0/1 loss).
    """
    scored = ref != WORD_ID[PAD]                                  # words and <end>
    hit = (pred == ref) & scored
    exact = hit.sum(1) == scored.sum(1)
    bleu = corpus_bleu([[decode_caption(r)] for r in ref], [decode_caption(p) for p in pred])
    return {"exact_caption_accuracy": float(exact.mean()),
            "token_accuracy": float(hit.sum() / scored.sum()), "bleu4": bleu,
            "exact": exact}


def exact_by_clip_kind(exact: np.ndarray, n_objects: np.ndarray) -> dict:
    """Exact-caption accuracy over the one-digit and the two-digit clips (None where none)."""
    out = {}
    for key, k in (("exact_one_digit", 1), ("exact_two_digits", 2)):
        mask = np.asarray(n_objects) == k
        out[key] = float(exact[mask].mean()) if mask.any() else None
        out[f"n_{key.split('_', 1)[1]}_clips"] = int(mask.sum())
    return out


def motion_breakdown(pred: np.ndarray, data: dict, idx: np.ndarray) -> dict:
    """Per digit named in the reference: digit, axis and direction right, by number of bounces.

    The words are read at the reference's positions (1 and 6 for the digit, 3 and 8 for the
    direction: "digit d moves <dir>"). ``sign_accuracy`` is the direction accuracy among the
    digits whose axis (horizontal or vertical) is right: left against right, up against down.
    """
    axis_of = {WORD_ID["left"]: 0, WORD_ID["right"]: 0, WORD_ID["up"]: 1, WORD_ID["down"]: 1}
    rows = {}
    for k, position in enumerate((3, 8)):
        present = data["digits"][idx, k] >= 0
        ref_dir = np.array([WORD_ID.get(d, -1) for d in data["directions"][idx, k]])
        got = pred[:, position]
        turns = data["turns"][idx, k]
        for n, t in enumerate(turns):
            if not present[n]:
                continue
            group = str(min(int(t), 2)) if t < 2 else "2+"
            row = rows.setdefault(group, {"n": 0, "axis": 0, "direction": 0, "digit": 0})
            row["n"] += 1
            row["axis"] += int(axis_of.get(int(got[n]), -1) == axis_of[ref_dir[n]])
            row["direction"] += int(got[n] == ref_dir[n])
            row["digit"] += int(pred[n, position - 2] == WORD_ID[str(data["digits"][idx[n], k])])
    return {g: {"n": r["n"], "axis_accuracy": r["axis"] / r["n"],
                "direction_accuracy": r["direction"] / r["n"],
                "sign_accuracy": r["direction"] / r["axis"] if r["axis"] else float("nan"),
                "digit_accuracy": r["digit"] / r["n"]} for g, r in sorted(rows.items())}


# ---------------------------------------------------------------------------------------------
# figures


def trace_shapes(captioner: VideoCaptioner, n_clips: int = 2, n_frames: int = 8) -> list:
    """Run a dummy batch through ``captioner`` and record the tensor shape at every stage.

    Returns a list of (stage, shape) in the order the data flows.
    """
    device = next(captioner.parameters()).device
    frames = torch.zeros(n_clips, n_frames, CANVAS, CANVAS, device=device)
    lengths = torch.full((n_clips,), n_frames, device=device)
    prev = torch.full((n_clips, MAX_LEN), WORD_ID[BOS], dtype=torch.long, device=device)
    seen: list = []

    def shape_of(obj):
        return tuple((obj[0] if isinstance(obj, tuple) else obj).shape)

    def hook(label, use_input=False):
        def fn(module, args, output):
            seen.append((label, shape_of(args[0] if use_input else output)))
        return fn

    cnn = captioner.cnn
    convs = [m for m in cnn.features if isinstance(m, nn.Conv2d)]
    stages = [(captioner.frame_input, "frame input (per-frame channels)", False),
              (cnn, "fold frames into batch (N·T)", True)]
    stages += [(m, f"conv{i + 1} {m.kernel_size[0]}×{m.kernel_size[1]}, stride {m.stride[0]}, "
                   "ReLU", False) for i, m in enumerate(convs)]
    stages += [(cnn.what, "what: global max", False),
               (cnn.where, "where: flatten", False),
               (cnn.project, "[what, where] → dropout + linear + ReLU", False),
               (captioner.pool, "per-frame features (N, T, F)", True),
               (captioner.pool, "mean pool over frames", False),
               (captioner.decoder.embed, "embed previous words", False),
               (captioner.decoder.lstm, "[pooled, word] → LSTM", True),
               (captioner.decoder.lstm, "LSTM states", False),
               (captioner.decoder.out, "linear → word logits", False)]
    handles = []
    for module, label, use_input in stages:
        # conv modules report after their ReLU: the shape is the same
        handles.append(module.register_forward_hook(hook(label, use_input)))
    was_training = captioner.training
    captioner.eval()
    try:
        with torch.no_grad():
            captioner(frames, lengths, prev)
    finally:
        for h in handles:
            h.remove()
        captioner.train(was_training)
    order = {label: i for i, (_, label, _) in enumerate(stages)}
    return [("input clips", tuple(frames.shape))] + sorted(seen, key=lambda s: order[s[0]])


def _rows(stages: list) -> list[list]:
    """Group stages into rows; the parallel "what" and "where" branches share one row."""
    rows: list[list] = []
    for stage in stages:
        if stage[0].startswith("where") and rows and rows[-1][0][0].startswith("what"):
            rows[-1].append(stage)
        else:
            rows.append([stage])
    return rows


def architecture_figure(shapes: list, title: str):
    """Boxes and arrows, one box per stage with its traced tensor shape.

    ``shapes`` is :func:`trace_shapes`' list; the encoder runs down the left column, the
    decoder down the right, and the pooled clip vector feeds the decoder's LSTM input.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch, Patch

    is_decoder = lambda label: any(k in label for k in ("word", "LSTM"))
    encoder = _rows([s for s in shapes if not is_decoder(s[0])])
    decoder = _rows([s for s in shapes if is_decoder(s[0])])
    n_rows = max(len(encoder), len(decoder) + 2)
    fig, ax = plt.subplots(figsize=(11, 0.85 * n_rows + 1.2))
    ax.set_xlim(0, 10.4)
    ax.set_ylim(-0.5, n_rows)
    ax.axis("off")
    box_h = 0.5
    boxes: dict[str, tuple[float, float, float]] = {}  # label -> (x, y, width)

    def draw(x, y, w, label, shape, colour):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - box_h / 2), w, box_h,
                                    boxstyle="round,pad=0.05", fc=colour, ec="black", lw=0.8))
        ax.text(x, y + 0.08, label, ha="center", va="center", fontsize=11)
        ax.text(x, y - 0.13, str(tuple(shape)), ha="center", va="center", fontsize=10.5,
                family="monospace", color="#333333")
        boxes[label] = (x, y, w)

    def arrow(a, b):
        ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="->", lw=1.0))

    def column(rows, centre, top, colour):
        previous: list = []
        for i, row in enumerate(rows):
            y = top - i
            w = 4.4 if len(row) == 1 else 2.1
            xs = [centre] if len(row) == 1 else [centre - 1.15, centre + 1.15]
            for x, (label, shape) in zip(xs, row):
                draw(x, y, w, label, shape, colour(i))
                for px in previous:
                    arrow((px, y + 1 - box_h / 2 - 0.05), (x, y + box_h / 2 + 0.05))
            previous = xs

    column(encoder, 2.5, n_rows - 1, lambda i: "#dbe9f6" if i else "#eeeeee")
    column(decoder, 7.9, n_rows - 1 - (len(encoder) - len(decoder)), lambda i: "#fde3c8")
    pooled = boxes[encoder[-1][0][0]]
    lstm_in = [b for label, b in boxes.items() if "→ LSTM" in label]
    if lstm_in:
        x, y, w = lstm_in[0]
        arrow((pooled[0] + pooled[2] / 2 + 0.05, pooled[1]), (x - w / 2 - 0.05, y))
    ax.legend(handles=[Patch(fc="#dbe9f6", ec="black", label="encoder: per-frame CNN + pool"),
                       Patch(fc="#fde3c8", ec="black", label="decoder: LSTM over words")],
              loc="upper right", fontsize=10)
    ax.set_title(title, fontsize=12)
    return fig


def clips_figure(data: dict, idx: np.ndarray, preds: dict, n_strip: int = 6, title: str = ""):
    """One frame strip per clip (every k-th frame), with the true and predicted captions."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2 * len(idx), n_strip, figsize=(1.3 * n_strip, 2.2 * len(idx) + 0.6),
                             squeeze=False, gridspec_kw={"height_ratios": [3, 1.2] * len(idx)})
    for r, i in enumerate(idx):
        length = int(data["lengths"][i])
        frames = np.linspace(0, length - 1, n_strip).round().astype(int)
        for c, t in enumerate(frames):
            ax = axes[2 * r, c]
            ax.imshow(data["clips"][i, t], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"t={t}", fontsize=9)
        for ax in axes[2 * r + 1]:
            ax.axis("off")
        truth = " ".join(decode_caption(data["captions"][i]))
        lines = [f"clip {i} ({length} frames) true: {truth}"]
        for name, pred in preds.items():
            words = " ".join(decode_caption(pred[r]))
            lines.append(f"{name}: {words} {'✓' if words == truth else '✗'}")
        axes[2 * r + 1, 0].text(0, 1.0, "\n".join(lines), va="top", fontsize=9,
                                family="monospace", transform=axes[2 * r + 1, 0].transAxes)
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.02, right=0.98, top=1 - 0.5 / fig.get_figheight(),
                        bottom=0.02, hspace=0.35, wspace=0.05)
    return fig


def breakdown_figure(breakdowns: dict, title: str):
    """Axis accuracy and sign accuracy (given the axis) by number of bounces, per variant."""
    import matplotlib.pyplot as plt

    groups = sorted({g for b in breakdowns.values() for g in b})
    fig, ax = plt.subplots(figsize=(7.6, 5.0))
    width = 0.8 / max(1, 2 * len(breakdowns))
    j = 0
    for i, (name, b) in enumerate(breakdowns.items()):
        for key, hatch, label in (("axis_accuracy", "", "axis"),
                                  ("sign_accuracy", "//", "sign, given the axis")):
            values = [b.get(g, {}).get(key, np.nan) for g in groups]
            ax.bar(np.arange(len(groups)) - 0.4 + width * (j + 0.5), values, width,
                   color=f"C{i}", alpha=1.0 if hatch else 0.55, hatch=hatch, edgecolor="black",
                   lw=0.5, label=f"{name}: {label}")
            j += 1
    ax.axhline(0.5, color="gray", ls=":", lw=1, label="chance between a direction and its reverse")
    counts = next(iter(breakdowns.values()))
    ax.set_xticks(range(len(groups)), [f"{g} bounces\n(n={counts.get(g, {}).get('n', 0)})"
                                       for g in groups])
    ax.set_xlabel("direction changes of the digit inside the clip")
    ax.set_ylabel("accuracy of the direction word")
    ax.set_ylim(0, 1.05)
    # below the axes: the bars reach the top, so any legend inside would cover some of them
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# the experiment


VARIANTS = ("frames", "motion")  # per-frame input: the frame alone, or with its difference


def measure(config: CaptioningConfig, ctx) -> dict:
    """Train the frames-only and the motion captioner on the same clips; metrics and figures."""
    ds = ctx.load_dataset(family="mnist")
    kw = dict(min_frames=config.min_frames, max_frames=config.max_frames, p_two=config.p_two,
              min_speed=config.min_speed, max_speed=config.max_speed)
    train = make_clips(ds.X_train, ds.y_train, config.n_train_clips,
                       np.random.default_rng([ctx.seed, 1]), **kw)
    test = make_clips(ds.X_test, ds.y_test, config.n_test_clips,
                      np.random.default_rng([ctx.seed, 2]), **kw)
    data = {k: np.concatenate([train[k], test[k]]) for k in train}
    n_train = config.n_train_clips
    test_idx = np.arange(n_train, n_train + config.n_test_clips)
    ctx.log(f"{n_train} training clips from training digits, {config.n_test_clips} test clips "
            f"from test digits; {config.min_frames}–{config.max_frames} frames; "
            f"{np.mean(train['n_objects'] == 2):.2f} with two digits")

    def fresh_clips(k: int) -> dict:
        """Epoch k's training clips (k ≥ 1; epoch 0 trains on ``train``): the same for both
        variants and for every run with this seed."""
        return make_clips(ds.X_train, ds.y_train, n_train,
                          np.random.default_rng([ctx.seed, 1, k]), **kw)

    if config.resample_clips and config.epochs > 1:
        ctx.log(f"new training clips before each epoch: {n_train * config.epochs} clips over "
                f"{config.epochs} epochs")
    results, preds, breakdowns, histories, captioners = {}, {}, {}, {}, {}
    for variant in VARIANTS:
        ctx.log(f"training the captioner on {variant}")
        pretrain = (ds.X_train, ds.y_train, np.random.default_rng([ctx.seed, 3]))
        captioner, model, history = train_captioner(
            variant == "motion", data, n_train, config, ctx, pretrain_data=pretrain,
            fresh_clips=fresh_clips if config.resample_clips else None)
        pred = greedy_captions(model, test_idx, ctx.device)
        scores = caption_metrics(pred, data["captions"][test_idx])
        exact = scores.pop("exact")
        results[variant] = {**scores,
                            **exact_by_clip_kind(exact, data["n_objects"][test_idx]),
                            "epoch_time_s": float(np.median(history["epoch_time"]))}
        breakdowns[variant] = motion_breakdown(pred, data, test_idx)
        preds[variant], histories[variant], captioners[variant] = pred, history, captioner
        ctx.log(f"{variant}: exact {results[variant]['exact_caption_accuracy']:.4f}, token "
                f"{results[variant]['token_accuracy']:.4f}, BLEU-4 {results[variant]['bleu4']:.4f}")
        ctx.save_torch(captioner.state_dict(), f"captioner_{variant}.pt")

    # traced with the clips this run trained on (their longest length), so the figure's T is
    # the run's clip length
    n_clips, n_frames = 2, config.max_frames
    shapes = trace_shapes(captioners["motion"], n_clips=n_clips, n_frames=n_frames)
    ctx.savefig(architecture_figure(shapes,
                                    "The captioner (motion): shapes traced from a dummy batch "
                                    f"(N={n_clips} clips, T={n_frames} frames, L={MAX_LEN} "
                                    "words)"),
                "architecture", caption="The sheet's design, drawn by the program: every shape "
                "comes from running a dummy batch through the model")
    show = np.arange(min(config.n_examples, config.n_test_clips))
    ctx.savefig(clips_figure(data, test_idx[show], {v: p[show] for v, p in preds.items()},
                             title=f"Test clips ({ds.name} test digits) with true and greedy "
                                   "captions"),
                "sample_clips", caption="Frame strips of test clips with the true caption and "
                "each variant's greedy caption")
    ctx.savefig(breakdown_figure(breakdowns, "Axis and direction words by number of bounces"),
                "direction_by_bounces", caption="Axis (horizontal/vertical) and direction "
                "accuracy per digit, grouped by the digit's direction changes in the clip")
    ctx.savefig(losses_figure(histories, "Captioners: teacher-forced loss per epoch",
                              ylabel="cross-entropy per word", log=False),
                "learning_curves", caption="Teacher-forced cross-entropy per epoch, both variants")
    ctx.write_json("history.json", histories)
    examples = [{"clip": int(i), "true": " ".join(decode_caption(data["captions"][i])),
                 **{v: " ".join(decode_caption(p[j])) for v, p in preds.items()}}
                for j, i in enumerate(test_idx[:50])]
    ctx.write_json("examples.json", examples)
    shown = test_idx[:len(examples)]  # the same clips, for captioning again from the weights
    ctx.save_arrays("test_clips.npz", clips=data["clips"][shown], lengths=data["lengths"][shown],
                    captions=data["captions"][shown], vocabulary=np.array(VOCAB))

    def sign_no_bounce(variant: str) -> float:
        row = breakdowns[variant].get("0")
        return float(row["sign_accuracy"]) if row and np.isfinite(row["sign_accuracy"]) else 0.0

    return {"exact_caption_accuracy": results["motion"]["exact_caption_accuracy"],
            "token_accuracy": results["motion"]["token_accuracy"],
            "bleu4": results["motion"]["bleu4"], "headline_variant": "motion",
            "frames_exact_caption_accuracy": results["frames"]["exact_caption_accuracy"],
            "motion_sign_accuracy_no_bounce": sign_no_bounce("motion"),
            "frames_sign_accuracy_no_bounce": sign_no_bounce("frames"),
            "variants": results, "by_bounces": breakdowns,
            "two_digit_share": float(np.mean(data["n_objects"][test_idx] == 2)),
            "clip_frames": {"min": config.min_frames, "max": config.max_frames},
            "architecture_batch": {"clips": n_clips, "frames": n_frames, "words": MAX_LEN},
            "architecture_shapes": [{"stage": stage, "shape": list(shape)}
                                    for stage, shape in shapes],
            "dataset": ds.name, "n_train_clips": n_train, "n_test_clips": config.n_test_clips}


SIGN_WITH_MOTION = Lesson("Mean pooling of frames cannot tell a direction from its reverse on "
                          "a digit that never bounces; the difference channel can",
                          "motion_sign_accuracy_no_bounce", ">",
                          quick="frames_sign_accuracy_no_bounce",
                          full="frames_sign_accuracy_no_bounce",
                          label="direction sign, no bounce")


def narrate(metrics: dict, config: CaptioningConfig) -> Notes:
    notes = Notes()
    pre = notes.claim(
        "pretrained", config.pretrain_epochs > 0,
        f"As the sheet's design has it, the per-frame CNN is first trained on an image "
        f"database: {num(config, 'pretrain_epochs')} epochs on "
        f"{num(config, 'n_pretrain')} labelled frames of one moving training digit, "
        "naming the digit (and, with the difference channel, its direction).",
        "The per-frame CNN learns from the captions alone (no pretraining).")
    clips = notes.claim(
        "clips_drawn_anew", config.resample_clips and config.epochs > 1,
        f"Every epoch trains on {num(config, 'n_train_clips')} clips drawn anew from "
        "the training digits, so the captioner cannot learn its clips by heart.",
        f"Every epoch trains on the same {num(config, 'n_train_clips')} clips.")
    frames = metrics["clip_frames"]
    batch = metrics["architecture_batch"]
    first, pooled = metrics["architecture_shapes"][0], next(
        (s for s in metrics["architecture_shapes"] if s["stage"] == "mean pool over frames"),
        None)
    notes.add("**The clips and the figure.** "
              + notes.claim("one_clip_length", frames["min"] == frames["max"],
                            f"Every clip here has {num(frames, 'min')} frames",
                            f"The clips here have {num(frames, 'min')} to {num(frames, 'max')} "
                            "frames (shorter ones masked in a batch)")
              + f"; the architecture figure traces a batch of {num(batch, 'clips')} clips of "
              f"{num(batch, 'frames')} frames (input "
              + "×".join(fmt(d) for d in first["shape"]) + ")"
              + (", which mean pooling turns into one vector per clip ("
                 + "×".join(fmt(d) for d in pooled["shape"]) + ")" if pooled else "")
              + f", and a caption of at most {num(batch, 'words')} words.")
    notes.add("**The sheet's design.** A per-frame CNN (three strided convolutions, dropout) "
              "turns each frame into a vector, the vectors are averaged over the clip's "
              "frames, and an LSTM decoder, fed that average and the previous word at every "
              "step, writes the caption; training uses teacher forcing, testing greedy "
              "decoding.", pre, clips,
              *[f"With {name} as per-frame input: exact caption "
                f"**{num(v, 'exact_caption_accuracy')}**, token accuracy "
                f"{num(v, 'token_accuracy')}, corpus BLEU {num(v, 'bleu4')}."
                for name, v in metrics["variants"].items()])
    motion_sign = num(metrics, "motion_sign_accuracy_no_bounce", ".2f")
    frames_sign = num(metrics, "frames_sign_accuracy_no_bounce", ".2f")
    notes.add("**What mean pooling can express.** The average of per-frame features is the same "
              "for any order of the frames, so the frames-only model sees a clip and its time "
              "reversal as one input. The reversal is an equally likely clip here (uniform "
              "starts, constant speeds, mirror bounces), and it reverses a digit's first "
              "direction exactly when the digit changes direction an even number of times in "
              "the clip. So on a digit that never bounces, left against right (or up against "
              "down) is beyond this design, at best chance between the two, while the axis and "
              "the digit's identity survive the pooling. Giving each frame its difference to "
              "the next frame as a second channel (the motion variant) puts the sign of the "
              "motion into every frame's features, which the average keeps.",
              notes.claim("motion_tells_sign", SIGN_WITH_MOTION.holds(metrics),
                          f"Measured on digits that never bounce, given the axis, the direction is "
                          f"right for {motion_sign} with the difference channel against "
                          f"{frames_sign} without.",
                          f"Measured on digits that never bounce, given the axis, the direction is "
                          f"right for {motion_sign} with the difference channel, not above the "
                          f"{frames_sign} without: in this run the motion variant did not use it."))
    once = {v: b.get("1") for v, b in metrics["by_bounces"].items()}
    if all(row and np.isfinite(row["sign_accuracy"]) for row in once.values()):
        notes.add("A digit that bounces once is different: its reversal starts in the same "
                  "direction, and the wall it hit gives the direction away. Given the axis, "
                  "the direction of such digits is right for "
                  + ", ".join(f"{num(row, 'sign_accuracy', '.2f')} ({name})"
                              for name, row in once.items()) + ".")
    v = metrics["variants"]["motion"]
    if v["exact_one_digit"] is not None and v["exact_two_digits"] is not None:
        notes.add(f"By clip (motion variant): one digit, exact caption "
                  f"{num(v, 'exact_one_digit')} over {num(v, 'n_one_digit_clips')} clips; two "
                  f"digits, {num(v, 'exact_two_digits')} over {num(v, 'n_two_digits_clips')}.",
                  notes.claim("two_digits_harder", v["exact_two_digits"] < v["exact_one_digit"],
                              "Two-digit captions are harder: the decoder must read which digit "
                              "moves which way from one averaged vector.",
                              "Two-digit captions came out no harder than one-digit ones."))
    return notes


register("video-captioning", CaptioningConfig,
          description="caption moving-digit clips: per-frame CNN, mean pool, LSTM decoder",
          # quick: 6-frame clips, a quarter of them with two digits (full: 8-16 frames, half):
          # in the quick budget the decoder does not learn to tell which of two digits moves
          # which way through the mean pool (0.05 exact on two-digit clips, measured); with 5
          # epochs after 8 of pretraining on 3,000 digits the motion variant reached 0.52
          quick={"n_train_clips": 1200, "n_test_clips": 300, "min_frames": 6, "max_frames": 6,
                 "p_two": 0.25, "epochs": 6, "batch_size": 16, "pretrain_epochs": 10,
                 "n_pretrain": 4000},
          smoke={"n_train_clips": 48, "n_test_clips": 16, "epochs": 1, "n_examples": 2,
                 "pretrain_epochs": 1, "n_pretrain": 64},
          needs="mnist", key_metric="exact_caption_accuracy", order=81, narrate=narrate,
          lessons=(
              Lesson("With its difference channel the captioner writes the exact caption",
                     "exact_caption_accuracy", ">=", quick=0.50, full=0.50,
                     label="exact caption, motion"),
              SIGN_WITH_MOTION,
          ))(measure)
