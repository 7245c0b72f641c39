"""depthwise-separable: the count table against the formulas, timing, the runs with and without
CIFAR-10, and the notes."""


import pytest
import torch
from torch import nn

import stridelab.experiments.depthwise_separable as separable_exp
from stridelab.experiments.registry import get
from stridelab.experiments.runner import run_experiment
from stridelab.programs.depthwise_separable import DepthwiseSeparableConv2d

pytestmark = pytest.mark.usefixtures("one_thread")


def test_count_table_matches_formula_and_ratio():
    rows = separable_exp.count_table(8, [4, 16], [3, 5], size=6)
    assert len(rows) == 4
    for r in rows:
        assert r["standard_params"] == r["standard_params_formula"]
        assert r["separable_macs"] == r["separable_macs_formula"]
        assert r["param_ratio"] == pytest.approx(1 / r["F"] + 1 / r["K"] ** 2)
        assert r["mac_ratio"] == pytest.approx(r["formula_ratio"])
    r = rows[0]  # C=8, F=4, K=3 on 6x6: 288 vs 72+32 weights
    assert (r["standard_params"], r["separable_params"]) == (288, 104)
    assert (r["standard_macs"], r["separable_macs"]) == (36 * 288, 36 * 104)


def test_timing_returns_positive_medians_for_each_layer():
    layers = {"standard": nn.Conv2d(4, 4, 3, padding=1),
              "separable": DepthwiseSeparableConv2d(4, 4, 3, padding=1)}
    t = separable_exp.time_forward_backward(layers, torch.randn(2, 4, 8, 8), repeats=3)
    assert set(t) == {"standard", "separable"}
    for v in t.values():
        assert v["forward"] > 0 and v["backward"] > 0


def test_depthwise_smoke_falls_back_to_mnist_without_cifar(tmp_path):
    # the smoke run reads mnist-5k (its quick configuration's data set): ask for CIFAR-10
    result = run_experiment("depthwise-separable", smoke=True, out=tmp_path,
                            data_dir=str(tmp_path / "empty"), overrides={"dataset": "cifar10"},
                            echo=False)
    assert result.status == "ok", result.reason
    m = result.metrics
    assert m["dataset"] in ("mnist", "mnist-5k")
    assert "CIFAR-10 is absent" in m["dataset_fallback"]
    assert m["counts_match_formula"] is True
    # smoke table: C=64, F in {8, 32}, K=3; the reference layer is the F closest to 128
    assert m["reference_layer"]["F"] == 32
    assert m["mac_ratio"] == pytest.approx(1 / 32 + 1 / 9)
    assert m["standard_params"] > m["separable_params"]
    summary = (result.out / "summary.md").read_text()
    assert "CIFAR-10 is absent" in summary and "| 64 | 32 | 3 |" in summary
    assert (result.out / "figures" / "separable_vs_standard.png").is_file()
    notes = (result.out / "notes.md").read_text()
    assert f"{m['mac_ratio']:.4f}" in notes and f"{m['formula_ratio']:.4f}" in notes
    assert [j["met"] for j in result.lessons] == [True, True]  # both ratios at the formula
    row = m["timing_largest"]
    assert row["speedup"] == pytest.approx(
        (row["standard_forward_s"] + row["standard_backward_s"])
        / (row["separable_forward_s"] + row["separable_backward_s"]))
    assert row["mac_speedup"] == pytest.approx(1 / (1 / 8 + 1 / 9))  # C = F = 8, K = 3
    assert row["standard_forward_ms"] == pytest.approx(1e3 * row["standard_forward_s"])
    assert m["network_channels"] == [4, 8, 16, 16]  # w, 2w, 4w, 4w read from the model
    # the fit to the training images, beside the test accuracy after each (here: one) epoch
    assert m["n_train_eval"] == 128  # as many training images as test images
    for kind in ("standard", "separable"):
        assert 0 <= m[f"{kind}_train_accuracy"] <= 1
        assert m[f"{kind}_generalisation_gap"] == pytest.approx(
            m[f"{kind}_train_accuracy"] - m[f"{kind}_test_accuracy"])
        assert m[f"{kind}_test_accuracy_by_epoch"] == [m[f"{kind}_test_accuracy"]]
        assert m[f"{kind}_last_epoch_gain"] is None
    assert (result.out / "figures" / "separable_timing.png").is_file()


def test_depthwise_smoke_on_cifar_when_present(cifar_dir, tmp_path):
    root, _ = cifar_dir
    result = run_experiment("depthwise-separable", smoke=True, out=tmp_path,
                            data_dir=str(root), overrides={"dataset": "cifar10"}, echo=False)
    assert result.status == "ok", result.reason
    assert result.metrics["dataset"] == "cifar10"
    assert result.metrics["dataset_fallback"] == ""
    # colour stem: 3*4*9 + 8 parameters in both networks
    assert result.metrics["standard_params"] - result.metrics["separable_params"] == (
        (288 + 16) + (1152 + 32) + (2304 + 32) - (36 + 32 + 16) - (72 + 128 + 32)
        - (144 + 256 + 32))


# ---------------------------------------------------------------------------------------------
# narrate, from fabricated metrics


def _separable_metrics(*, exact=True, match=True, behind=True, sizes=2, fallback="",
                       kept=(0.12, 0.31), sep_train=0.74, epochs=(0.41, 0.66, 0.72)) -> dict:
    def timing(c, saving):
        return {"C": c, "K": 3, "device": "cpu", "standard_forward_ms": 1.25,
                "separable_forward_ms": 0.93, "saving_kept": saving}

    small = timing(32, kept[0])
    large = timing(128, kept[1]) if sizes == 2 else small
    return {
        "reference_layer": {"C": 64, "F": 128, "K": 3, "H": 32, "W": 32,
                            "standard_params": 73728, "separable_params": 8768,
                            "standard_macs": 75497472, "separable_macs": 8978432},
        "param_ratio": 0.1189 if exact else 0.2, "formula_ratio": 0.1189, "mac_ratio": 0.1189,
        "n_layer_shapes": 12, "counts_match_formula": match,
        "ratio_smallest_F": {"F": 16, "param_ratio": 0.1736},
        "ratio_largest_F": {"F": 512, "param_ratio": 0.1131},
        "timing_smallest": small, "timing_largest": large, "time_behind_macs": behind,
        "min_speedup": 0.87, "max_speedup": 2.31, "min_mac_speedup": 7.2, "max_mac_speedup": 8.4,
        "network_channels": [16, 32, 64, 64], "dataset": "mnist-5k",
        "dataset_fallback": fallback, "n_classes": 10,
        "standard_test_accuracy": 0.861, "separable_test_accuracy": 0.72,
        "standard_params": 30_000, "separable_params": 9_000, "network_param_ratio": 0.3,
        "standard_macs_per_image": 5_000_000, "separable_macs_per_image": 1_500_000,
        "network_mac_ratio": 0.3, "standard_epoch_time_s": 81.9, "separable_epoch_time_s": 93.9,
        "n_train_eval": 1000,
        "standard_train_accuracy": 0.88, "standard_generalisation_gap": 0.88 - 0.861,
        "standard_test_accuracy_by_epoch": [0.6, 0.83, 0.861],
        "standard_last_epoch_gain": 0.861 - 0.83, "standard_final_train_loss": 0.7,
        "separable_train_accuracy": sep_train, "separable_generalisation_gap": sep_train - 0.72,
        "separable_test_accuracy_by_epoch": list(epochs),
        "separable_last_epoch_gain": epochs[-1] - epochs[-2] if len(epochs) > 1 else None,
        "separable_final_train_loss": 1.1,
    }


_SEPARABLE = {"params_exactly_formula": True, "counts_match_formula": True,
              "ratio_falls_with_F": True, "time_behind_macs": True, "larger_keeps_more": True,
              "cifar_absent": False, "separable_behind": True, "separable_underfits": True,
              "separable_still_rising": True}


@pytest.mark.parametrize("changes, flipped", [
    ({}, None),
    ({"exact": False}, "params_exactly_formula"),
    ({"match": False}, "counts_match_formula"),
    ({"behind": False}, "time_behind_macs"),
    ({"kept": (0.31, 0.12)}, "larger_keeps_more"),
    ({"fallback": "CIFAR-10 is absent"}, "cifar_absent"),
    ({"sep_train": 0.95}, "separable_underfits"),
    ({"epochs": (0.41, 0.73, 0.72)}, "separable_still_rising"),
])
def test_narrate_separable_takes_one_branch_per_measurement(changes, flipped):
    notes = separable_exp.narrate(_separable_metrics(**changes), separable_exp.SeparableConfig())
    expected = dict(_SEPARABLE)
    if flipped:
        expected[flipped] = not expected[flipped]
    assert notes.branches == expected


def test_narrate_separable_explains_the_gap_at_equal_epochs_from_the_numbers():
    notes = str(separable_exp.narrate(_separable_metrics(), separable_exp.SeparableConfig()))
    # its own training images: 0.740 against 0.880; the test accuracy still rose by 0.060
    assert "score 0.740 (separable) and 0.880 (standard)" in notes
    assert "under-fitting, not over-fitting" in notes and "0.30× the parameters" in notes
    assert "0.410, 0.660, 0.720" in notes and "still added 0.060" in notes
    one = separable_exp.narrate(_separable_metrics(epochs=(0.72,)),
                                separable_exp.SeparableConfig())
    assert "separable_still_rising" not in one.branches and "one epoch: 0.720" in str(one)
    ahead = _separable_metrics()
    ahead["separable_test_accuracy"] = 0.9
    assert separable_exp.narrate(ahead, separable_exp.SeparableConfig()).branches[
        "separable_behind"] is False


def test_narrate_separable_does_not_explain_a_speed_up_it_did_not_measure():
    # the verdict on time and what follows it come from the same measurement
    config = separable_exp.SeparableConfig()
    behind = str(separable_exp.narrate(_separable_metrics(behind=True), config))
    ahead = str(separable_exp.narrate(_separable_metrics(behind=False), config))
    assert "K²·F" in behind and "K²·F" not in ahead


def test_narrate_separable_with_one_timed_size_makes_no_size_comparison():
    config = separable_exp.SeparableConfig()
    two = separable_exp.narrate(_separable_metrics(sizes=2), config)
    one = separable_exp.narrate(_separable_metrics(sizes=1), config)
    assert "larger_keeps_more" in two.branches and "larger_keeps_more" not in one.branches
    assert "C = 128" in str(two) and "C = 128" not in str(one)
    assert "2.31" in str(two) and "2.31" not in str(one)  # a range only when there is one


def test_narrate_separable_says_why_the_networks_are_not_on_cifar10():
    config = separable_exp.SeparableConfig()
    there = str(separable_exp.narrate(_separable_metrics(fallback=""), config))
    absent = str(separable_exp.narrate(_separable_metrics(fallback="CIFAR-10 is absent"),
                                       config))
    assert "stridelab data list" in absent and "stridelab data list" not in there
    assert "(0.7200) is lower than" in there  # compare() in either direction



def test_the_lessons_are_registered_as_data():
    params, macs = get("depthwise-separable").lessons
    assert (params.metric, macs.metric) == ("param_ratio", "mac_ratio")
    assert params.full == macs.full == "formula_ratio"
