"""video-captioning: clips and captions, BLEU, the captioner, pretraining, resampling, notes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from stridelab.data import moving_digits as md
from stridelab.errors import ConfigError
from stridelab.experiments import video_captioning as cap
from stridelab.experiments.runner import run_experiment
from stridelab.programs.video_captioner import FrameDifference, MaskedMeanPool, VideoCaptioner

# ---------------------------------------------------------------------------------------------
# clips and captions


def test_fold_bounces_between_the_walls():
    np.testing.assert_array_equal(md.fold(np.array([0, 5, 36, 40, -4, 72, 80])),
                                  [0, 5, 36, 32, 4, 0, 8])


@pytest.mark.parametrize("track, length, expected", [
    ([10, 8, 6, 4, 6, 8], 6, 1),     # left, bounce, right
    ([10, 8, 6, 4, 6, 8], 4, 0),     # cut before the bounce
    ([1, 1, 3, 5, 5, 5], 4, 0),      # a pause at the wall is no turn
    ([4, 2, 2, 4, 2, 0], 6, 2),      # a repeated position at a bounce still counts
])
def test_count_turns(track, length, expected):
    assert md.count_turns(np.array([track]), np.array([length]))[0] == expected


def test_caption_grammar_and_round_trip():
    words = md.caption_words([7, 3], ["up", "left"])
    assert words == "digit 3 moves left while digit 7 moves up".split()
    ids = md.encode_caption(words)
    assert ids.shape == (md.MAX_LEN,) and md.VOCAB[ids[-1]] == md.END
    assert md.decode_caption(ids) == words
    one = md.encode_caption(md.caption_words([5], ["down"]))
    assert [md.VOCAB[i] for i in one[:6]] == ["digit", "5", "moves", "down", md.END, md.PAD]


@pytest.fixture(scope="module")
def clips(bar_digits):
    ds = bar_digits(200, 50)
    data = md.make_clips(ds.X_train, ds.y_train, 40, np.random.default_rng(3), min_frames=8,
                          max_frames=12)
    return ds, data


def test_make_clips_draws_the_named_digit_where_it_moves(clips):
    ds, data = clips
    assert data["clips"].shape == (40, 12, 64, 64) and data["clips"].dtype == np.uint8
    assert np.all((8 <= data["lengths"]) & (data["lengths"] <= 12))
    one = np.flatnonzero(data["n_objects"] == 1)
    assert 0 < len(one) < 40
    for i in one:
        src, length = data["source"][i, 0], data["lengths"][i]
        assert not data["clips"][i, length:].any()                        # padding is black
        track = data["positions"][i, 0]                                    # (T, 2)
        for t in range(length):
            r, c = track[t]
            frame = data["clips"][i, t].copy()
            np.testing.assert_array_equal(frame[r:r + 28, c:c + 28], ds.X_train[src])
            frame[r:r + 28, c:c + 28] = 0
            assert frame.max() == 0                                        # nothing else drawn
        # the caption names the digit and its first visible motion
        moves = np.diff(track[:length], axis=0)
        first = moves[np.flatnonzero(np.abs(moves).sum(1))[0]]
        direction = {(0, -1): "left", (0, 1): "right", (-1, 0): "up",
                     (1, 0): "down"}[tuple(np.sign(first))]
        assert md.decode_caption(data["captions"][i]) == ["digit", str(ds.y_train[src]), "moves",
                                                            direction]


def test_make_clips_two_digits_differ_and_are_named_in_order(clips):
    ds, data = clips
    two = np.flatnonzero(data["n_objects"] == 2)
    assert len(two) > 0
    for i in two:
        d = data["digits"][i]
        assert d[0] < d[1]
        np.testing.assert_array_equal(ds.y_train[data["source"][i]], d)
        words = md.decode_caption(data["captions"][i])
        assert len(words) == 9 and words[4] == "while"
        assert words[1] == str(d[0]) and words[6] == str(d[1])


def test_make_clips_is_seeded(bar_digits):
    ds = bar_digits(100, 20)
    a = md.make_clips(ds.X_train, ds.y_train, 10, np.random.default_rng(7))
    b = md.make_clips(ds.X_train, ds.y_train, 10, np.random.default_rng(7))
    assert all(np.array_equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------
# BLEU and caption metrics


def _w(text):
    return text.split()


def test_bleu_identical_is_one():
    refs = [[_w("digit 3 moves left")], [_w("digit 1 moves up while digit 2 moves down")]]
    hyps = [_w("digit 3 moves left"), _w("digit 1 moves up while digit 2 moves down")]
    assert cap.corpus_bleu(refs, hyps) == pytest.approx(1.0)


def test_bleu_pools_counts_over_the_corpus():
    # sentence 2 matches 3/4 unigrams, 2/3 bigrams, 1/2 trigrams, 0/1 4-grams:
    # p1 = 7/8, p2 = 5/6, p3 = 3/4, p4 = 1/2; lengths 8 = 8, no brevity penalty
    refs = [[_w("digit 3 moves left")], [_w("digit 3 moves right")]]
    hyps = [_w("digit 3 moves left"), _w("digit 3 moves left")]
    expected = (7 / 8 * 5 / 6 * 3 / 4 * 1 / 2) ** 0.25
    assert cap.corpus_bleu(refs, hyps) == pytest.approx(expected)
    assert cap.corpus_bleu(refs[1:], hyps[1:]) == 0.0  # no 4-gram matches: no smoothing


def test_bleu_brevity_penalty_and_clipping():
    ref = [[_w("digit 3 moves left while digit 7 moves up")]]
    # every n-gram matches, but c = 5 < r = 9
    assert cap.corpus_bleu(ref, [_w("digit 3 moves left while")]) == pytest.approx(
        math.exp(1 - 9 / 5))
    # "digit" four times counts once per reference occurrence: p1 = 1/4
    assert cap.corpus_bleu([[_w("digit 3 moves left")]], [_w("digit digit digit digit")],
                           max_n=1) == pytest.approx(0.25)


def test_bleu_picks_the_closest_reference_length():
    refs = [[_w("a b c d e f g"), _w("a b")]]
    hyp = [_w("a b c")]          # closest reference length 2 < 3: no penalty
    assert cap.corpus_bleu(refs, hyp, max_n=1) == pytest.approx(1.0)


def test_caption_metrics_hand_computed():
    ref = np.stack([md.encode_caption(_w("digit 3 moves left"))] * 2)
    pred = np.stack([md.encode_caption(_w("digit 3 moves left")),
                     md.encode_caption(_w("digit 3 moves right"))])
    m = cap.caption_metrics(pred, ref)
    assert m["exact_caption_accuracy"] == 0.5
    assert m["token_accuracy"] == pytest.approx(9 / 10)  # 5 + 4 of 5 + 5 (words and <end>)
    assert m["bleu4"] == pytest.approx((7 / 8 * 5 / 6 * 3 / 4 * 1 / 2) ** 0.25)


# ---------------------------------------------------------------------------------------------
# the model


def test_masked_mean_pool_ignores_padding():
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    torch.testing.assert_close(MaskedMeanPool()(h, torch.tensor([2])), torch.tensor([[2.0, 3.0]]))


def test_frame_difference():
    x = torch.tensor([[[[0.0]], [[1.0]], [[3.0]], [[9.0]]]])  # (1, 4, 1, 1), 3 real frames
    out = FrameDifference()(x, torch.tensor([3]))
    assert out.shape == (1, 4, 2, 1, 1)
    torch.testing.assert_close(out[0, :, 1, 0, 0], torch.tensor([1.0, 2.0, 0.0, 0.0]))


def _captioner(motion):
    torch.manual_seed(0)
    return VideoCaptioner(len(md.VOCAB), bos=md.WORD_ID[md.BOS], end=md.WORD_ID[md.END],
                          motion=motion, feature_dim=16, hidden=16).eval()


def test_mean_pooling_cannot_tell_a_clip_from_its_reversal():
    frames = torch.rand(2, 6, 64, 64)
    lengths = torch.tensor([6, 4])
    rev = frames.clone()
    rev[0, :6] = frames[0, :6].flip(0)
    rev[1, :4] = frames[1, :4].flip(0)
    plain, motion = _captioner(False), _captioner(True)
    with torch.no_grad():
        torch.testing.assert_close(plain.encode(frames, lengths), plain.encode(rev, lengths))
        assert not torch.allclose(motion.encode(frames, lengths), motion.encode(rev, lengths))
        # padding frames never reach the pooled vector
        padded = frames.clone()
        padded[1, 4:] = 1.0
        torch.testing.assert_close(plain.encode(frames, lengths)[1],
                                   plain.encode(padded, lengths)[1])


def test_captioner_shapes_and_greedy_stops_at_end():
    model = _captioner(False)
    frames, lengths = torch.rand(3, 5, 64, 64), torch.tensor([5, 3, 4])
    prev = torch.randint(0, len(md.VOCAB), (3, md.MAX_LEN))
    assert model(frames, lengths, prev).shape == (3, md.MAX_LEN, len(md.VOCAB))
    out = model.greedy(frames, lengths, md.MAX_LEN)
    assert out.shape == (3, md.MAX_LEN)
    end = md.WORD_ID[md.END]
    for row in out.tolist():
        if end in row:
            assert all(w == end for w in row[row.index(end):])


def test_trace_shapes_follow_the_data():
    model = _captioner(True)
    stages = cap.trace_shapes(model, n_clips=2, n_frames=8)
    shapes = dict(stages)
    assert shapes["input clips"] == (2, 8, 64, 64)
    assert shapes["frame input (per-frame channels)"] == (2, 8, 2, 64, 64)
    assert shapes["fold frames into batch (N·T)"] == (16, 2, 64, 64)
    convs = [s for k, s in stages if k.startswith("conv")]  # two share a label: not the dict
    assert [s[-1] for s in convs] == [32, 16, 8]                 # three stride-2 convolutions
    c3 = convs[-1][1]
    assert shapes["what: global max"] == (16, c3)
    assert shapes["where: flatten"] == (16, c3 * 8 * 8)
    assert shapes["[what, where] → dropout + linear + ReLU"] == (16, 16)
    assert shapes["per-frame features (N, T, F)"] == (2, 8, 16)
    assert shapes["mean pool over frames"] == (2, 16)
    assert shapes["[pooled, word] → LSTM"] == (2, md.MAX_LEN, 16 + 32)
    assert shapes["linear → word logits"] == (2, md.MAX_LEN, len(md.VOCAB))
    fig = cap.architecture_figure(list(shapes.items()), "test")
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert str((16, 2, 64, 64)) in texts
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_captioning_run_smoke(smoke_runs):
    result = smoke_runs.ok("video-captioning")
    m = result.metrics
    assert set(m["variants"]) == {"frames", "motion"}
    for r in m["variants"].values():
        for key in ("exact_caption_accuracy", "token_accuracy", "bleu4"):
            assert 0.0 <= r[key] <= 1.0
        assert r["exact_caption_accuracy"] <= r["token_accuracy"]
    figures = {p.name for p in (result.out / "figures").glob("*.png")}
    assert {"architecture.png", "sample_clips.png", "direction_by_bounces.png"} <= figures
    examples = json.loads((result.out / "examples.json").read_text())
    assert len(examples) == 16 and all("true" in e for e in examples)
    # the architecture figure traces clips as long as the run's longest: its T is the run's
    from stridelab.experiments.registry import get

    config = get("video-captioning").make_config(smoke=True)  # 6-frame clips
    assert m["clip_frames"] == {"min": config.min_frames, "max": config.max_frames}
    assert m["architecture_batch"]["frames"] == config.max_frames
    shapes = {s["stage"]: s["shape"] for s in m["architecture_shapes"]}
    assert shapes["input clips"] == [2, config.max_frames, 64, 64]
    assert shapes["per-frame features (N, T, F)"][1] == config.max_frames


@pytest.mark.parametrize("overrides, fragment", [
    ({"min_frames": "2"}, "--set min_frames=2: min_frames must be at least 3"),
    ({"p_two": "1.5"}, "--set p_two=1.5: p_two must be at most 1"),
    ({"min_speed": "4", "max_speed": "2"}, "--set max_speed=2: max_speed must be at least "
                                           "min_speed (4)"),
    ({"max_speed": "19"}, "max_speed must be at most 18"),
    ({"min_frames": "17"}, "--set min_frames=17: max_frames must be at least min_frames (17)"),
])
def test_captioning_rejects_bad_config(tmp_path, overrides, fragment):
    with pytest.raises(ConfigError) as info:  # refused by the field bounds, before any run
        run_experiment("video-captioning", smoke=True, dataset="mnist-5k", out=tmp_path,
                       device="cpu", echo=False, overrides=overrides)
    assert fragment in str(info.value)
    assert not (tmp_path / "video-captioning").exists()


# ---------------------------------------------------------------------------------------------
# narration from fabricated metrics, each branch


def _cap_metrics(motion_sign, frames_sign, one=0.8, two=0.1, frames=(6, 6)):
    variant = {"exact_caption_accuracy": 0.6, "token_accuracy": 0.9, "bleu4": 0.8,
               "exact_one_digit": one, "exact_two_digits": two, "n_one_digit_clips": 220,
               "n_two_digits_clips": 80}
    bounce = {"0": {"n": 300, "axis_accuracy": 0.95, "sign_accuracy": motion_sign},
              "1": {"n": 80, "axis_accuracy": 0.95, "sign_accuracy": 0.8}}
    return {"variants": {"frames": dict(variant), "motion": dict(variant)},
            "motion_sign_accuracy_no_bounce": motion_sign,
            "frames_sign_accuracy_no_bounce": frames_sign,
            "by_bounces": {"frames": bounce, "motion": bounce},
            "clip_frames": {"min": frames[0], "max": frames[1]},
            "architecture_batch": {"clips": 2, "frames": frames[1], "words": 12},
            "architecture_shapes": [{"stage": "input clips", "shape": [2, frames[1], 64, 64]},
                                    {"stage": "mean pool over frames", "shape": [2, 128]}]}


@pytest.mark.parametrize("metrics, config, branches", [
    (_cap_metrics(0.97, 0.52), cap.CaptioningConfig(),
     {"one_clip_length": True, "pretrained": True, "clips_drawn_anew": True,
      "motion_tells_sign": True, "two_digits_harder": True}),
    (_cap_metrics(0.50, 0.52, one=0.3, two=0.4, frames=(8, 16)), cap.CaptioningConfig(),
     {"one_clip_length": False, "pretrained": True, "clips_drawn_anew": True,
      "motion_tells_sign": False, "two_digits_harder": False}),
    (_cap_metrics(0.97, 0.52), cap.CaptioningConfig(pretrain_epochs=0, resample_clips=False),
     {"one_clip_length": True, "pretrained": False, "clips_drawn_anew": False,
      "motion_tells_sign": True, "two_digits_harder": True}),
])
def test_captioning_notes_follow_the_measured_direction_words(metrics, config, branches):
    notes = cap.narrate(metrics, config)
    assert notes.branches == branches
    text = str(notes)
    assert f"{metrics['motion_sign_accuracy_no_bounce']:.2f} with the difference channel" in text
    assert "bounces once" in text  # the one-bounce group is measured in every case here


@pytest.mark.parametrize("frames, words", [
    ((6, 6), "Every clip here has 6 frames; the architecture figure traces a batch of 2 clips "
             "of 6 frames (input 2×6×64×64)"),
    ((8, 16), "The clips here have 8 to 16 frames (shorter ones masked in a batch); the "
              "architecture figure traces a batch of 2 clips of 16 frames (input 2×16×64×64)"),
])
def test_captioning_notes_read_the_clip_length_the_figure_shows(frames, words):
    notes = str(cap.narrate(_cap_metrics(0.97, 0.52, frames=frames), cap.CaptioningConfig()))
    assert words in notes and "one vector per clip (2×128)" in notes


def test_captioning_notes_name_the_clip_count_from_the_config():
    same = str(cap.narrate(_cap_metrics(0.97, 0.52), cap.CaptioningConfig(
        resample_clips=False, n_train_clips=321)))
    assert "the same 321 clips" in same


# ---------------------------------------------------------------------------------------------
# the per-frame CNN pretrained on single digits


class _QuietCtx:
    """What the training helpers need of a run context: a seed, a device, silent reporting."""
    seed, device = 0, "cpu"

    def log(self, message):
        pass

    def progress(self, iterable, **kw):
        return iterable


def test_pretraining_teaches_the_frame_cnn_digit_and_direction(clips):
    ds, _ = clips
    torch.manual_seed(0)
    captioner = _captioner(True).train()
    config = cap.CaptioningConfig(n_pretrain=256, pretrain_epochs=6, batch_size=32, lr=3e-3)
    history = cap.pretrain_frame_cnn(captioner, ds.X_train, ds.y_train, config, _QuietCtx(),
                                     np.random.default_rng(0))
    # digit (log 10 = 2.30) plus direction (log 4 = 1.39) at chance: 3.69; the bar digits and
    # their motion are learnable, so the loss must fall below that
    assert history["train_loss"][0] > history["train_loss"][-1]
    assert history["train_loss"][-1] < math.log(10) + math.log(4) - 0.2
    pairs = md.make_clips(ds.X_train, ds.y_train, 8, np.random.default_rng(1), min_frames=3,
                           max_frames=3, p_two=0.0)
    logits = cap.FramePretrainer(captioner, pairs["clips"][:, :2])(torch.arange(8))
    assert logits.shape == (8, 10 + len(md.DIRECTIONS))


# ---------------------------------------------------------------------------------------------
# fresh training clips every epoch


def test_teacher_forcing_loss_reads_the_captions_of_replaced_clips(clips):
    ds, data = clips
    model = cap.TeacherForcing(_captioner(False), data["clips"], data["lengths"],
                               data["captions"])
    idx = torch.arange(4)
    logits = model(idx)
    assert model.loss(logits, idx).item() == pytest.approx(
        cap.caption_loss(logits, torch.as_tensor(data["captions"][:4])).item())
    new = md.make_clips(ds.X_train, ds.y_train, 4, np.random.default_rng(9), min_frames=8,
                         max_frames=12)
    before = data["clips"].copy()
    model.replace(0, new["clips"], new["lengths"], new["captions"])
    frames, lengths, captions = model.batch(torch.arange(6))
    assert torch.equal(captions[:4], torch.as_tensor(new["captions"]))
    assert torch.equal(captions[4:], torch.as_tensor(data["captions"][4:6]))
    assert torch.equal(lengths[:4], torch.as_tensor(new["lengths"]))
    assert np.array_equal(data["clips"], before)  # the caller's arrays are not touched


def test_train_captioner_swaps_in_fresh_clips_before_each_later_epoch(clips):
    ds, data = clips
    n_train, drawn = 24, []

    def fresh_clips(k):
        drawn.append(k)
        return md.make_clips(ds.X_train, ds.y_train, n_train, np.random.default_rng([5, k]),
                              min_frames=8, max_frames=12)

    config = cap.CaptioningConfig(epochs=3, batch_size=8, pretrain_epochs=0, feature_dim=16,
                                  hidden=16)
    torch.manual_seed(0)
    _, model, history = cap.train_captioner(True, data, n_train, config, _QuietCtx(),
                                            fresh_clips=fresh_clips)
    assert drawn == [1, 2] and len(history["train_loss"]) == 3  # none after the last epoch
    _, _, held = model.batch(torch.arange(len(data["lengths"])))
    assert torch.equal(held[:n_train], torch.as_tensor(fresh_clips(2)["captions"]))
    assert torch.equal(held[n_train:], torch.as_tensor(data["captions"][n_train:]))  # test


def test_captioning_resampling_is_seeded_and_can_be_turned_off(tmp_path):
    def run(name, **overrides):
        result = run_experiment("video-captioning", smoke=True, dataset="mnist-5k",
                                out=tmp_path / name, device="cpu", echo=False,
                                overrides={"epochs": "2", **overrides})
        assert result.status == "ok", result.reason
        history = json.loads((result.out / "history.json").read_text())
        return result.metrics["variants"]["motion"], history["motion"]["train_loss"]

    (a, loss_a), (b, loss_b) = run("a"), run("b")
    _, loss_same = run("same", resample_clips="false")
    assert a == {**b, "epoch_time_s": a["epoch_time_s"]} and loss_a == loss_b  # seeded
    assert loss_same[0] == loss_a[0]  # the first epoch trains on the same clips
    assert loss_same[1] != loss_a[1]  # the second on new ones only when resampling
