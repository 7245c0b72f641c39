"""Moving-digit clips and their captions: the data of the video-captioning study (numpy only).

A clip is T frames of 64×64 with one or two digits, each moving left, right, up or down at a
constant integer speed and bouncing off the edges (:func:`make_clips`). Its caption comes from a
small grammar (:func:`caption_words`):

    digit 3 moves left <end>
    digit 3 moves left while digit 7 moves up <end>

(the digits in increasing order; the direction is the digit's first visible motion), as word
ids of :data:`VOCAB` padded to :data:`MAX_LEN` (:func:`encode_caption`, :func:`decode_caption`).
"""

from __future__ import annotations

import numpy as np

from stridelab.errors import ConfigError

CANVAS = 64  # frame side, in pixels
DIGIT = 28  # MNIST digit side, in pixels
TRAVEL = CANVAS - DIGIT  # the digit's top-left corner moves in [0, TRAVEL]

# ---------------------------------------------------------------------------------------------
# vocabulary and captions

PAD, BOS, END = "<pad>", "<bos>", "<end>"
DIRECTIONS = ("left", "right", "up", "down")
VOCAB = (PAD, BOS, END, "digit", "moves", "while", *DIRECTIONS, *map(str, range(10)))
WORD_ID = {w: i for i, w in enumerate(VOCAB)}
MAX_LEN = 10  # the longest caption: nine words and <end>
# (dy, dx) per frame of a unit-speed motion in image coordinates (row grows downwards)
STEP = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}


def caption_words(digits, directions) -> list[str]:
    """The grammar: one clause per digit, in increasing digit order, joined by "while"."""
    words: list[str] = []
    for d, direction in sorted(zip(digits, directions)):
        if words:
            words.append("while")
        words += ["digit", str(d), "moves", direction]
    return words


def encode_caption(words: list[str], length: int = MAX_LEN) -> np.ndarray:
    """Words -> ids, then <end>, padded with <pad> to ``length``."""
    ids = [WORD_ID[w] for w in words] + [WORD_ID[END]]
    return np.array(ids + [WORD_ID[PAD]] * (length - len(ids)), dtype=np.int64)


def decode_caption(ids) -> list[str]:
    """Ids -> words, stopping at the first <end> (or <pad>)."""
    words = []
    for i in np.asarray(ids).tolist():
        if VOCAB[i] in (END, PAD):
            break
        words.append(VOCAB[i])
    return words


# ---------------------------------------------------------------------------------------------
# clips


def fold(u: np.ndarray, top: int = TRAVEL) -> np.ndarray:
    """Positions on a line that bounces between 0 and ``top``: a triangle wave of period 2·top."""
    return top - np.abs(top - np.mod(u, 2 * top))


def count_turns(pos: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Direction changes (bounces) of each track within its clip; pos (N, T), length (N,)."""
    steps = np.diff(pos, axis=1)                                       # (N, T-1)
    valid = np.arange(steps.shape[1])[None] < (length[:, None] - 1)
    signs = np.where(valid, np.sign(steps), 0)
    turns = np.zeros(len(pos), dtype=np.int64)
    last = np.zeros(len(pos), dtype=np.int64)  # sign of the last non-zero step
    for t in range(signs.shape[1]):
        s = signs[:, t]
        turns += (s != 0) & (last != 0) & (s != last)
        last = np.where(s != 0, s, last)
    return turns


def make_clips(images: np.ndarray, labels: np.ndarray, n_clips: int,
               rng: np.random.Generator, *, min_frames: int = 8, max_frames: int = 16,
               p_two: float = 0.5, min_speed: int = 1, max_speed: int = 3,
               chunk: int = 256) -> dict:
    """Moving-digit clips drawn from ``images`` (uint8 (n, 28, 28)) and their captions.

    Each digit starts at a uniform integer corner position in [0, 36]², moves along one axis at
    an integer speed and bounces (``fold``). Two-digit clips use two different digit classes;
    where they overlap the brighter pixel wins.

    Returns a dict of arrays: ``clips`` uint8 (N, max_frames, 64, 64) (frames past a clip's
    length are black), ``lengths`` (N,), ``captions`` (N, MAX_LEN) word ids, ``n_objects``
    (N,), ``digits``/``directions``/``turns`` (N, 2) per digit in caption order (−1 / "" /
    −1 for a missing second digit), ``source`` (N, 2) image indices (−1 when missing), and
    ``positions`` (N, 2, max_frames, 2): each digit's top-left corner (row, column) per frame,
    in drawing order (not caption order; the second is unused in one-digit clips).
    """
    labels = np.asarray(labels)
    by_class = [np.flatnonzero(labels == c) for c in range(10)]
    if any(len(b) == 0 for b in by_class):
        raise ConfigError("video-captioning needs images of all ten digits; use more images")
    N, T = n_clips, max_frames
    lengths = rng.integers(min_frames, max_frames + 1, size=N)
    n_objects = 1 + (rng.random(N) < p_two)
    # two different classes per clip: the second is the first shifted by 1..9 (mod 10)
    cls = rng.integers(0, 10, size=N)
    cls = np.stack([cls, (cls + rng.integers(1, 10, size=N)) % 10], axis=1)     # (N, 2)
    order = np.argsort(labels, kind="stable")
    counts = np.array([len(b) for b in by_class])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    src = order[offsets[cls] + (rng.random((N, 2)) * counts[cls]).astype(np.int64)]  # (N, 2)
    axis_dir = rng.integers(0, 4, size=(N, 2))                                   # into DIRECTIONS
    speed = rng.integers(min_speed, max_speed + 1, size=(N, 2))
    start = rng.integers(0, TRAVEL + 1, size=(N, 2, 2))                         # (N, obj, yx)
    step = np.array([STEP[d] for d in DIRECTIONS])[axis_dir]                    # (N, 2, 2)
    t = np.arange(T)
    pos = fold(start[:, :, None, :] + (speed[:, :, None] * t[None, None, :])[..., None]
               * step[:, :, None, :])                                        # (N, 2, T, yx)
    # the caption names each digit's first visible motion (a start at the wall turns at once)
    moving_axis = np.abs(step).argmax(-1)                                   # (N, 2): 0 = y, 1 = x
    track = np.take_along_axis(pos, moving_axis[:, :, None, None], axis=-1)[..., 0]  # (N, 2, T)
    first = np.sign(track[:, :, 1] - track[:, :, 0])
    first = np.where(first == 0, np.sign(track[:, :, 2] - track[:, :, 1]), first)
    seen_dir = np.where(moving_axis == 1, np.where(first > 0, 1, 0), np.where(first > 0, 3, 2))
    turns = np.stack([count_turns(track[:, k], lengths) for k in range(2)], axis=1)

    clips = np.zeros((N, T, CANVAS, CANVAS), dtype=np.uint8)
    r = np.arange(DIGIT)
    for lo in range(0, N, chunk):
        hi = min(N, lo + chunk)
        n = np.arange(hi - lo)[:, None, None, None]
        tt = t[None, :, None, None]
        for k in range(2):
            rows = pos[lo:hi, k, :, 0, None, None] + r[None, None, :, None]  # (n, T, 28, 1)
            cols = pos[lo:hi, k, :, 1, None, None] + r[None, None, None, :]  # (n, T, 1, 28)
            digit = images[src[lo:hi, k]][:, None]                          # (n, 1, 28, 28)
            if k == 1:
                digit = digit * (n_objects[lo:hi] == 2)[:, None, None, None].astype(np.uint8)
            view = clips[lo:hi][n, tt, rows, cols]                           # (n, T, 28, 28)
            clips[lo:hi][n, tt, rows, cols] = np.maximum(view, digit)
    clips *= (t[None, :] < lengths[:, None])[:, :, None, None].astype(np.uint8)

    digits, directions, turn_out, source, captions = [], [], [], [], []
    for i in range(N):
        objs = sorted((int(cls[i, k]), DIRECTIONS[seen_dir[i, k]], int(turns[i, k]),
                       int(src[i, k])) for k in range(n_objects[i]))
        objs += [(-1, "", -1, -1)] * (2 - len(objs))
        digits.append([o[0] for o in objs])
        directions.append([o[1] for o in objs])
        turn_out.append([o[2] for o in objs])
        source.append([o[3] for o in objs])
        captions.append(encode_caption(caption_words([o[0] for o in objs if o[0] >= 0],
                                                     [o[1] for o in objs if o[0] >= 0])))
    return {"clips": clips, "lengths": lengths, "captions": np.stack(captions),
            "n_objects": n_objects, "digits": np.array(digits),
            "directions": np.array(directions), "turns": np.array(turn_out),
            "source": np.array(source), "positions": pos}
