"""mnist-calculator and video-captioning: data builders, models, metrics and tiny runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from stridelab.data.dataset import Dataset
from stridelab.errors import ConfigError
from stridelab.experiments import calculator as calc
from stridelab.experiments import captioning as cap
from stridelab.experiments.artifacts import RunContext
from stridelab.experiments.runner import run_experiment
from stridelab.torch.models.sequence import (
    DigitCalculator,
    DigitCNN,
    FrameDifference,
    MaskedMeanPool,
    SumRNN,
    VideoCaptioner,
    n_sum_digits,
)

# ---------------------------------------------------------------------------------------------
# calculator: sequences and sums


@pytest.mark.parametrize("n_digits, n_numbers, expected", [
    (1, 2, 2),   # 9 + 9 = 18
    (3, 2, 4),   # 999 + 999 = 1998
    (2, 3, 3),   # 3 · 99 = 297
    (1, 12, 3),  # 12 · 9 = 108
])
def test_n_sum_digits(n_digits, n_numbers, expected):
    assert n_sum_digits(n_digits, n_numbers) == expected


def test_sum_targets_hand_computed():
    digits = np.array([[1, 2, 3, 9, 8, 7],    # 123 + 987 = 1110
                       [0, 0, 5, 0, 0, 7],    # 5 + 7 = 12
                       [0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(calc.sum_targets(digits, 3, 2),
                                  [[1, 1, 1, 0], [0, 0, 1, 2], [0, 0, 0, 0]])
    # three 2-digit numbers: 99 + 99 + 99 = 297 and 10 + 20 + 05 = 35
    np.testing.assert_array_equal(calc.sum_targets([[9, 9, 9, 9, 9, 9], [1, 0, 2, 0, 0, 5]], 2, 3),
                                  [[2, 9, 7], [0, 3, 5]])


def test_make_sequences_indexes_the_given_labels():
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    idx, targets = calc.make_sequences(labels, 50, 2, 2, np.random.default_rng(0))
    assert idx.shape == (50, 4) and targets.shape == (50, 3)
    assert idx.min() >= 0 and idx.max() < len(labels)
    d = labels[idx]
    np.testing.assert_array_equal(targets[:, 0] * 100 + targets[:, 1] * 10 + targets[:, 2],
                                  d[:, 0] * 10 + d[:, 1] + d[:, 2] * 10 + d[:, 3])


def test_parse_sweep():
    assert calc.parse_sweep("3,1, 2,3") == [1, 2, 3]
    assert calc.parse_sweep("") == []
    with pytest.raises(ConfigError):
        calc.parse_sweep("1,two")
    with pytest.raises(ConfigError):
        calc.parse_sweep("0,1")


def test_random_shift_moves_each_image_within_bounds():
    torch.manual_seed(0)
    x = torch.zeros(4, 3, 1, 28, 28)
    x[..., 10, 12] = 1.0
    y = calc.random_shift(x, 2)
    assert y.shape == x.shape
    assert torch.equal(calc.random_shift(x, 0), x)
    for img in y.reshape(-1, 28, 28):
        (r, c), = torch.nonzero(img).tolist()
        assert abs(r - 10) <= 2 and abs(c - 12) <= 2
    # the offsets differ between images (12 images, 25 offsets: all equal is vanishingly rare)
    assert len({tuple(torch.nonzero(img)[0].tolist()) for img in y.reshape(-1, 28, 28)}) > 1


def test_slot_mapping_finds_the_relabelling():
    slots = np.array([2, 2, 0, 1, 2, 0])
    labels = np.array([7, 7, 3, 5, 7, 4])
    mapping = calc.slot_mapping(slots, labels)
    assert sorted(mapping) == list(range(10))  # one-to-one
    assert mapping[2] == 7 and mapping[1] == 5 and mapping[0] in (3, 4)


# ---------------------------------------------------------------------------------------------
# calculator: models


def test_column_reader_regroups_digits_as_written_addition():
    rnn = SumRNN(2, 2)                                   # two 2-digit numbers: 12 + 34
    x = F.one_hot(torch.tensor([[1, 2, 3, 4]]), 10).float()
    cols = rnn.columns(x)                                # (1, 3, 20)
    assert cols.shape == (1, 3, 20)
    expected = torch.zeros(3, 20)
    expected[0, 2] = expected[0, 10 + 4] = 1             # units column: 2 and 4
    expected[1, 1] = expected[1, 10 + 3] = 1             # tens column: 1 and 3
    assert torch.equal(cols[0], expected)                # hundreds column: zeros (carry only)


@pytest.mark.parametrize("reader, cell", [("columns", "lstm"), ("columns", "gru"),
                                          ("sequence", "lstm"), ("sequence", "gru")])
def test_sum_rnn_output_shape(reader, cell):
    rnn = SumRNN(3, 2, hidden=16, cell=cell, reader=reader)
    assert rnn(torch.rand(5, 6, 10)).shape == (5, 4, 10)


def test_calculator_folds_the_sequence_into_the_batch():
    torch.manual_seed(0)
    model = DigitCalculator(DigitCNN(), SumRNN(3, 2)).eval()
    x = torch.rand(2, 6, 1, 28, 28)
    assert model(x).shape == (2, 4, 10)
    # second route: the CNN on each image alone gives the same scores
    one_by_one = torch.stack([torch.stack([model.cnn(x[n, t:t + 1])[0] for t in range(6)])
                              for n in range(2)])
    torch.testing.assert_close(model.digit_scores(x), one_by_one)
    normalised = DigitCalculator(DigitCNN(), SumRNN(3, 2), normalise=True)
    assert isinstance(normalised.norm, torch.nn.BatchNorm1d) and not normalised.norm.affine


def test_digit_cnn_layers():
    cnn = DigitCNN(channels=(16, 32), hidden=128)
    convs = [m for m in cnn.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 16), (16, 32)]
    assert cnn.features(torch.zeros(1, 1, 28, 28)).shape == (1, 32, 7, 7)
    assert any(isinstance(m, torch.nn.Dropout) for m in cnn.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in cnn.modules())


def test_digit_cnn_deeper_blocks_with_batch_norm():
    cnn = DigitCNN(channels=(8, 12), hidden=16, convs_per_block=2, batch_norm=True)
    convs = [m for m in cnn.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 8), (8, 8), (8, 12),
                                                                 (12, 12)]
    assert all(c.bias is None for c in convs)  # BatchNorm's shift replaces the bias
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in cnn.modules()) == 4
    assert cnn(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(ValueError, match="convs_per_block"):
        DigitCNN(convs_per_block=0)


def test_adder_learns_column_addition_from_one_hot_digits():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    rnn = SumRNN(2, 2, hidden=32)
    X, y = calc.random_digits(3000, 2, 2, rng)
    X_test, y_test = calc.random_digits(500, 2, 2, rng)
    X, X_test = F.one_hot(torch.as_tensor(X), 10).float(), F.one_hot(torch.as_tensor(X_test),
                                                                        10).float()
    y = torch.as_tensor(y)
    opt = torch.optim.Adam(rnn.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-unit LSTM only loses time to a second thread
    try:
        for _ in range(6):  # 3 epochs reach 0.39 exact sums, 6 reach 0.97, 10 reach 0.998
            for i in range(0, 3000, 32):
                loss = calc.sequence_cross_entropy(rnn(X[i:i + 32]), y[i:i + 32])
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        exact = (rnn(X_test).argmax(-1).numpy() == y_test).all(1).mean()
    assert exact > 0.9


# ---------------------------------------------------------------------------------------------
# calculator: a tiny run; test sequences use test images only


def _digit_dataset(n_train=300, n_test=100, seed=0):
    """Fake digits: train images carry 0 at pixel (0, 0), test images 255, so any image can be
    traced back to its split."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = np.arange(n, dtype=np.int64) % 10
        X = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
        for k in range(10):  # a bright bar whose row says the digit: learnable
            X[y == k, 2 + 2 * k:4 + 2 * k, 4:24] = 220
        return X, y

    X_train, y_train = split(n_train)
    X_test, y_test = split(n_test)
    X_train[:, 0, 0] = 0
    X_test[:, 0, 0] = 255
    return Dataset("mnist-5k", X_train, y_train, X_test, y_test, [str(i) for i in range(10)],
                   source="test")


def test_calculator_tests_on_test_images_only(monkeypatch, tmp_path):
    ds = _digit_dataset()
    monkeypatch.setattr(RunContext, "load_dataset", lambda self, family="mnist", name=None: ds)
    seen = {}
    real_e2e, real_eval = calc.train_end_to_end, calc.evaluate_calculator

    def spy_e2e(n_digits, X_bank, y, X_test_bank, test_idx, test_targets, *args):
        seen["train_bank"] = X_bank.cpu().numpy()
        return real_e2e(n_digits, X_bank, y, X_test_bank, test_idx, test_targets, *args)

    def spy_eval(model, X_bank, y_train, X_test_bank, y_test, test_idx, test_targets, **kw):
        seen.setdefault("test_images", []).append(X_test_bank[torch.as_tensor(test_idx)].cpu())
        return real_eval(model, X_bank, y_train, X_test_bank, y_test, test_idx, test_targets,
                         **kw)

    monkeypatch.setattr(calc, "train_end_to_end", spy_e2e)
    monkeypatch.setattr(calc, "evaluate_calculator", spy_eval)
    result = run_experiment("mnist-calculator", smoke=True, out=tmp_path, device="cpu",
                            echo=False, overrides={"d_sweep": "1,2"})
    assert result.status == "ok", result.reason
    assert np.all(seen["train_bank"][:, 0, 0, 0] == 0)          # training: train images only
    assert len(seen["test_images"]) == 4                         # separate D=1, 2, 3; e2e D=3
    for images in seen["test_images"]:
        assert torch.all(images[..., 0, 0, 0] == 1.0)            # testing: test images only
    m = result.metrics
    for regime in ("separate", "end_to_end"):
        r = m[regime]
        assert len(r["position_accuracy"]) == 4
        for key in ("digit_accuracy", "exact_sum_accuracy", "all_digits_correct"):
            assert 0.0 <= r[key] <= 1.0
        # an exact sum needs every position right
        assert r["exact_sum_accuracy"] <= min(r["position_accuracy"]) + 1e-12
    assert m["separate"]["slot_is_digit"] is True
    assert [r["n_digits"] for r in m["sweep"]["separate"]] == [1, 2, 3]
    assert "target" not in m and "target_met" not in m  # lessons replace hand-made targets
    figures = {p.name for p in (result.out / "figures").glob("*.png")}
    assert {"examples.png", "position_accuracy.png", "accuracy_vs_d.png"} <= figures
    lessons = json.loads((result.out / "lessons.json").read_text())
    assert [r["metric"] for r in lessons] == ["separate.exact_sum_accuracy",
                                              "end_to_end.exact_sum_accuracy"]
    for record, regime in zip(lessons, ("separate", "end_to_end")):
        assert record["value"] == m[regime]["exact_sum_accuracy"]
        assert record["met"] == (record["value"] >= record["target"])
    # independent misreads: the digit accuracy to the power D·K = 6
    sep = m["separate"]
    assert sep["independent_all_right"] == pytest.approx(sep["digit_accuracy"] ** 6)
    assert m["exact_sum_difference"] == pytest.approx(
        m["end_to_end"]["exact_sum_accuracy"] - sep["exact_sum_accuracy"])


# ---------------------------------------------------------------------------------------------
# captioning: clips and captions


def test_fold_bounces_between_the_walls():
    np.testing.assert_array_equal(cap.fold(np.array([0, 5, 36, 40, -4, 72, 80])),
                                  [0, 5, 36, 32, 4, 0, 8])


@pytest.mark.parametrize("track, length, expected", [
    ([10, 8, 6, 4, 6, 8], 6, 1),     # left, bounce, right
    ([10, 8, 6, 4, 6, 8], 4, 0),     # cut before the bounce
    ([1, 1, 3, 5, 5, 5], 4, 0),      # a pause at the wall is no turn
    ([4, 2, 2, 4, 2, 0], 6, 2),      # a repeated position at a bounce still counts
])
def test_count_turns(track, length, expected):
    assert cap.count_turns(np.array([track]), np.array([length]))[0] == expected


def test_caption_grammar_and_round_trip():
    words = cap.caption_words([7, 3], ["up", "left"])
    assert words == "digit 3 moves left while digit 7 moves up".split()
    ids = cap.encode_caption(words)
    assert ids.shape == (cap.MAX_LEN,) and cap.VOCAB[ids[-1]] == cap.END
    assert cap.decode_caption(ids) == words
    one = cap.encode_caption(cap.caption_words([5], ["down"]))
    assert [cap.VOCAB[i] for i in one[:6]] == ["digit", "5", "moves", "down", cap.END, cap.PAD]


@pytest.fixture(scope="module")
def clips():
    ds = _digit_dataset(200, 50)
    data = cap.make_clips(ds.X_train, ds.y_train, 40, np.random.default_rng(3), min_frames=8,
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
        assert cap.decode_caption(data["captions"][i]) == ["digit", str(ds.y_train[src]), "moves",
                                                            direction]


def test_make_clips_two_digits_differ_and_are_named_in_order(clips):
    ds, data = clips
    two = np.flatnonzero(data["n_objects"] == 2)
    assert len(two) > 0
    for i in two:
        d = data["digits"][i]
        assert d[0] < d[1]
        np.testing.assert_array_equal(ds.y_train[data["source"][i]], d)
        words = cap.decode_caption(data["captions"][i])
        assert len(words) == 9 and words[4] == "while"
        assert words[1] == str(d[0]) and words[6] == str(d[1])


def test_make_clips_is_seeded():
    ds = _digit_dataset(100, 20)
    a = cap.make_clips(ds.X_train, ds.y_train, 10, np.random.default_rng(7))
    b = cap.make_clips(ds.X_train, ds.y_train, 10, np.random.default_rng(7))
    assert all(np.array_equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------
# captioning: BLEU and caption metrics


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
    ref = np.stack([cap.encode_caption(_w("digit 3 moves left"))] * 2)
    pred = np.stack([cap.encode_caption(_w("digit 3 moves left")),
                     cap.encode_caption(_w("digit 3 moves right"))])
    m = cap.caption_metrics(pred, ref)
    assert m["exact_caption_accuracy"] == 0.5
    assert m["token_accuracy"] == pytest.approx(9 / 10)  # 5 + 4 of 5 + 5 (words and <end>)
    assert m["bleu4"] == pytest.approx((7 / 8 * 5 / 6 * 3 / 4 * 1 / 2) ** 0.25)


# ---------------------------------------------------------------------------------------------
# captioning: the model


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
    return VideoCaptioner(len(cap.VOCAB), bos=cap.WORD_ID[cap.BOS], end=cap.WORD_ID[cap.END],
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
    prev = torch.randint(0, len(cap.VOCAB), (3, cap.MAX_LEN))
    assert model(frames, lengths, prev).shape == (3, cap.MAX_LEN, len(cap.VOCAB))
    out = model.greedy(frames, lengths, cap.MAX_LEN)
    assert out.shape == (3, cap.MAX_LEN)
    end = cap.WORD_ID[cap.END]
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
    assert shapes["[pooled, word] → LSTM"] == (2, cap.MAX_LEN, 16 + 32)
    assert shapes["linear → word logits"] == (2, cap.MAX_LEN, len(cap.VOCAB))
    fig = cap.architecture_figure(list(shapes.items()), "test")
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert str((16, 2, 64, 64)) in texts
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_captioning_run_smoke(tmp_path):
    result = run_experiment("video-captioning", smoke=True, dataset="mnist-5k", out=tmp_path,
                            device="cpu", echo=False)
    assert result.status == "ok", result.reason
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


@pytest.mark.parametrize("overrides", [{"min_frames": "2"}, {"p_two": "1.5"},
                                       {"min_speed": "4", "max_speed": "2"}])
def test_captioning_rejects_bad_config(tmp_path, overrides):
    try:
        result = run_experiment("video-captioning", smoke=True, dataset="mnist-5k",
                                out=tmp_path, device="cpu", echo=False, overrides=overrides)
    except ConfigError:
        return  # refused by the field bounds before any directory was made
    assert result.status == "failed" and result.user_error


# ---------------------------------------------------------------------------------------------
# the chained calculator reads one-hot digits


def test_onehot_readout_feeds_the_adder_the_cnns_argmax():
    torch.manual_seed(0)
    cnn, rnn = DigitCNN(), SumRNN(1, 2)
    x = torch.rand(3, 2, 1, 28, 28)
    hard = DigitCalculator(cnn, rnn, readout="onehot").eval()
    soft = DigitCalculator(cnn, rnn).eval()
    with torch.no_grad():
        digits = hard.digit_scores(x).argmax(-1)                       # (3, 2)
        torch.testing.assert_close(hard(x), rnn(F.one_hot(digits, 10).float()))
        torch.testing.assert_close(soft(x), rnn(soft.digit_scores(x).softmax(-1)))
        assert not torch.allclose(hard(x), soft(x))  # a fresh CNN's softmax is far from one-hot
    with pytest.raises(ValueError, match="readout"):
        DigitCalculator(cnn, rnn, readout="argmax")


# ---------------------------------------------------------------------------------------------
# narration from fabricated metrics, each branch


def _regime(exact, digit, all_right=None, independent=None, se=0.012):
    return {"digit_accuracy": digit, "slot_is_digit": False, "position_accuracy": [0.9] * 4,
            "exact_sum_accuracy": exact, "all_digits_correct": all_right or digit ** 6,
            "independent_all_right": independent or digit ** 6, "exact_sum_se": se}


def _calc_metrics(sep, e2e, gain=0.001):
    return {"separate": sep, "end_to_end": e2e, "dataset": "mnist-5k", "n_digits": 3,
            "n_numbers": 2, "n_images_per_sum": 6, "n_test_sequences": 1000,
            "rnn_exact_on_true_digits": 1.0, "e2e_last_epoch_gain": gain,
            "exact_sum_difference": e2e["exact_sum_accuracy"] - sep["exact_sum_accuracy"],
            "exact_sum_difference_se": float(np.hypot(sep["exact_sum_se"], e2e["exact_sum_se"])),
            "sweep": {"separate": [], "end-to-end": []}}


@pytest.mark.parametrize("sep, e2e, gain, word", [
    # 5,000 test sums: standard errors near 0.005, so 0.017 is a real difference
    (_regime(0.867, 0.977, se=0.005), _regime(0.884, 0.98, se=0.005), 0.001, calc.E2E_WINS),
    (_regime(0.960, 0.994, se=0.005), _regime(0.900, 0.99, se=0.005), 0.001,
     calc.SEPARATE_WINS),
    (_regime(0.870, 0.977), _regime(0.875, 0.978), 0.001, calc.NO_WINNER),
    # end to end far from reading the digits, or still rising: no verdict
    (_regime(0.836, 0.971), _regime(0.0, 0.331), 0.001, calc.STILL_IMPROVING),
    (_regime(0.836, 0.971), _regime(0.95, 0.99), 0.02, calc.STILL_IMPROVING),
])
def test_calculator_verdict_only_from_trained_regimes(sep, e2e, gain, word):
    notes = str(calc.narrate(_calc_metrics(sep, e2e, gain), calc.CalculatorConfig()))
    verdicts = (calc.E2E_WINS, calc.SEPARATE_WINS, calc.STILL_IMPROVING)
    assert word in notes
    assert [w for w in verdicts if w in notes] == ([word] if word in verdicts else [])


def test_calculator_notes_count_the_end_to_end_epochs():
    metrics = _calc_metrics(_regime(0.97, 0.996), _regime(0.0, 0.57), 0.3)
    one = str(calc.narrate(metrics, calc.CalculatorConfig(e2e_epochs=1)))
    many = str(calc.narrate(metrics, calc.CalculatorConfig(e2e_epochs=7)))
    assert "for 1 epoch over" in one and "for 7 epochs over" in many


def test_calculator_notes_on_independent_misreads_both_ways():
    config = calc.CalculatorConfig()
    independent = _calc_metrics(_regime(0.80, 0.97, all_right=0.833, independent=0.833),
                                _regime(0.0, 0.3))
    coupled = _calc_metrics(_regime(0.55, 0.97, all_right=0.60, independent=0.833),
                            _regime(0.0, 0.3))
    assert calc.MISREAD in str(calc.narrate(independent, config))
    assert calc.MISREAD not in str(calc.narrate(coupled, config))


def _cap_metrics(motion_sign, frames_sign, one=0.8, two=0.1):
    variant = {"exact_caption_accuracy": 0.6, "token_accuracy": 0.9, "bleu4": 0.8,
               "exact_one_digit": one, "exact_two_digits": two, "n_one_digit_clips": 220,
               "n_two_digits_clips": 80}
    bounce = {"0": {"n": 300, "axis_accuracy": 0.95, "sign_accuracy": motion_sign},
              "1": {"n": 80, "axis_accuracy": 0.95, "sign_accuracy": 0.8}}
    return {"variants": {"frames": dict(variant), "motion": dict(variant)},
            "motion_sign_accuracy_no_bounce": motion_sign,
            "frames_sign_accuracy_no_bounce": frames_sign,
            "by_bounces": {"frames": bounce, "motion": bounce}}


def test_captioning_notes_follow_the_measured_direction_words():
    config = cap.CaptioningConfig()
    used = str(cap.narrate(_cap_metrics(0.97, 0.52), config))
    unused = str(cap.narrate(_cap_metrics(0.50, 0.52), config))
    assert "0.97 with the difference channel against 0.52" in used
    assert "did not use it" in unused and "did not use it" not in used
    assert cap.ONE_BOUNCE in used
    no_pretrain = str(cap.narrate(_cap_metrics(0.97, 0.52), cap.CaptioningConfig(
        pretrain_epochs=0)))
    assert "no pretraining" in no_pretrain and "no pretraining" not in used
    same = str(cap.narrate(_cap_metrics(0.97, 0.52), cap.CaptioningConfig(
        resample_clips=False, n_train_clips=321)))
    assert "the same 321 clips" in same and "drawn anew" in used and "drawn anew" not in same


# ---------------------------------------------------------------------------------------------
# captioning: the per-frame CNN pretrained on single digits


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
    pairs = cap.make_clips(ds.X_train, ds.y_train, 8, np.random.default_rng(1), min_frames=3,
                           max_frames=3, p_two=0.0)
    logits = cap.FramePretrainer(captioner, pairs["clips"][:, :2])(torch.arange(8))
    assert logits.shape == (8, 10 + len(cap.DIRECTIONS))


# ---------------------------------------------------------------------------------------------
# captioning: fresh training clips every epoch


def test_teacher_forcing_loss_reads_the_captions_of_replaced_clips(clips):
    ds, data = clips
    model = cap.TeacherForcing(_captioner(False), data["clips"], data["lengths"],
                               data["captions"])
    idx = torch.arange(4)
    logits = model(idx)
    assert float(model.loss(logits, idx)) == pytest.approx(
        float(cap.caption_loss(logits, torch.as_tensor(data["captions"][:4]))))
    new = cap.make_clips(ds.X_train, ds.y_train, 4, np.random.default_rng(9), min_frames=8,
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
        return cap.make_clips(ds.X_train, ds.y_train, n_train, np.random.default_rng([5, k]),
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
