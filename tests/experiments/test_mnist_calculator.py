"""mnist-calculator: sequences and sums, the digit CNN and the adder, a tiny run, its notes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from stridelab.errors import ConfigError
from stridelab.experiments import mnist_calculator as calc
from stridelab.experiments.artifacts import RunContext
from stridelab.experiments.runner import run_experiment
from stridelab.programs.mnist_calculator import (
    DigitCalculator,
    DigitCNN,
    SumRNN,
    make_sequences,
    n_sum_digits,
    random_digits,
    random_shift,
    sequence_cross_entropy,
    slot_mapping,
    sum_targets,
)

# ---------------------------------------------------------------------------------------------
# sequences and sums


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
    np.testing.assert_array_equal(sum_targets(digits, 3, 2),
                                  [[1, 1, 1, 0], [0, 0, 1, 2], [0, 0, 0, 0]])
    # three 2-digit numbers: 99 + 99 + 99 = 297 and 10 + 20 + 05 = 35
    np.testing.assert_array_equal(sum_targets([[9, 9, 9, 9, 9, 9], [1, 0, 2, 0, 0, 5]], 2, 3),
                                  [[2, 9, 7], [0, 3, 5]])


def test_make_sequences_indexes_the_given_labels():
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    idx, targets = make_sequences(labels, 50, 2, 2, np.random.default_rng(0))
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
    y = random_shift(x, 2)
    assert y.shape == x.shape
    assert torch.equal(random_shift(x, 0), x)
    for img in y.reshape(-1, 28, 28):
        (r, c), = torch.nonzero(img).tolist()
        assert abs(r - 10) <= 2 and abs(c - 12) <= 2
    # the offsets differ between images (12 images, 25 offsets: all equal is vanishingly rare)
    assert len({tuple(torch.nonzero(img)[0].tolist()) for img in y.reshape(-1, 28, 28)}) > 1


def test_slot_mapping_finds_the_relabelling():
    slots = np.array([2, 2, 0, 1, 2, 0])
    labels = np.array([7, 7, 3, 5, 7, 4])
    mapping = slot_mapping(slots, labels)
    assert sorted(mapping) == list(range(10))  # one-to-one
    assert mapping[2] == 7 and mapping[1] == 5 and mapping[0] in (3, 4)


# ---------------------------------------------------------------------------------------------
# models


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
    X, y = random_digits(3000, 2, 2, rng)
    X_test, y_test = random_digits(500, 2, 2, rng)
    X, X_test = F.one_hot(torch.as_tensor(X), 10).float(), F.one_hot(torch.as_tensor(X_test),
                                                                        10).float()
    y = torch.as_tensor(y)
    opt = torch.optim.Adam(rnn.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-unit LSTM only loses time to a second thread
    try:
        for _ in range(6):  # 3 epochs reach 0.39 exact sums, 6 reach 0.97, 10 reach 0.998
            for i in range(0, 3000, 32):
                loss = sequence_cross_entropy(rnn(X[i:i + 32]), y[i:i + 32])
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        exact = (rnn(X_test).argmax(-1).numpy() == y_test).all(1).mean()
    assert exact > 0.9


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
# a tiny run; test sequences use test images only


def test_calculator_tests_on_test_images_only(monkeypatch, tmp_path, bar_digits):
    ds = bar_digits()
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


@pytest.mark.parametrize("sep, e2e, gain, verdict", [
    # 5,000 test sums: standard errors near 0.005, so 0.017 is a real difference
    (_regime(0.867, 0.977, se=0.005), _regime(0.884, 0.98, se=0.005), 0.001,
     {"both_trained": True, "rates_differ": True, "e2e_wins": True}),
    (_regime(0.960, 0.994, se=0.005), _regime(0.900, 0.99, se=0.005), 0.001,
     {"both_trained": True, "rates_differ": True, "e2e_wins": False}),
    (_regime(0.870, 0.977), _regime(0.875, 0.978), 0.001,
     {"both_trained": True, "rates_differ": False}),
    # end to end far from reading the digits, or still rising: no verdict
    (_regime(0.836, 0.971), _regime(0.0, 0.331), 0.001, {"both_trained": False}),
    (_regime(0.836, 0.971), _regime(0.95, 0.99), 0.02, {"both_trained": False}),
])
def test_calculator_verdict_only_from_trained_regimes(sep, e2e, gain, verdict):
    notes = calc.narrate(_calc_metrics(sep, e2e, gain), calc.CalculatorConfig())
    assert {k: notes.branches[k] for k in verdict} == verdict
    verdicts = ("End-to-end training wins", "separately wins", "within measurement noise",
                "had not finished learning")
    assert sum(v in str(notes) for v in verdicts) == 1  # one verdict, the branch's own


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
    assert calc.narrate(independent, config).branches["independent_misreads"] is True
    assert calc.narrate(coupled, config).branches["independent_misreads"] is False


@pytest.mark.parametrize("written, share, collapsed", [(1066, 0.957, True), (1093, 0.006, False)])
def test_calculator_notes_say_when_end_to_end_writes_one_sum(written, share, collapsed):
    e2e = {**_regime(0.001 if collapsed else 0.55, 0.26 if collapsed else 0.9),
           "most_frequent_sum": written, "most_frequent_sum_share": share}
    notes = calc.narrate(_calc_metrics(_regime(0.82, 0.967), e2e), calc.CalculatorConfig())
    assert notes.branches["e2e_one_sum"] is collapsed
    assert f"{written:,}" in str(notes)
    # a record made before these metrics existed is narrated without the sentence
    old = calc.narrate(_calc_metrics(_regime(0.82, 0.967), _regime(0.5, 0.9)),
                       calc.CalculatorConfig())
    assert "e2e_one_sum" not in old.branches


def test_calculator_notes_name_how_end_to_end_training_differs():
    metrics = _calc_metrics(_regime(0.82, 0.967), _regime(0.55, 0.9))
    plain = calc.narrate(metrics, calc.CalculatorConfig())
    assert plain.branches["sharpened"] is False and "Its CNN trains with" not in str(plain)
    quick = calc.narrate(metrics, calc.CalculatorConfig(e2e_sharpen=3.0, e2e_dropout=0.0,
                                                        e2e_shift=0))
    assert quick.branches["sharpened"] is True
    assert "Its CNN trains with no dropout and no shifts of the training images, the separately " \
           "trained one with dropout 0.25 and shifts of up to 2 pixels." in str(quick)


def test_quick_end_to_end_recipe_is_data_and_leaves_the_full_one_alone():
    from stridelab.experiments.registry import get

    experiment = get("mnist-calculator")
    full, quick = experiment.make_config(), experiment.make_config(quick=True)
    # the full configuration trains end to end as the separate CNN does (the recorded results)
    assert (full.e2e_sharpen, full.e2e_dropout, full.e2e_shift, full.torch_threads) == \
        (1.0, None, None, 0)
    assert quick.e2e_sharpen > 1 and quick.e2e_dropout == 0 and quick.e2e_shift == 0
