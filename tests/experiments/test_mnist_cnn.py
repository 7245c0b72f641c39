"""mnist-cnn: the CNN against the SVC's own test images, what it learned, and its notes."""

from __future__ import annotations  # noqa: I001  (ruff takes tests/torch/ for `torch`)

import json

import numpy as np
import pytest
import torch

from stridelab.errors import ConfigError
from stridelab.experiments.mnist_cnn import (
    CNNConfig,
    augmentation,
    build_model,
    narrate,
    orientation_scores,
    random_affine,
    random_flip,
    receptive_fields,
    softmax_stats,
)
from stridelab.experiments.plots import confusion_summary
from stridelab.experiments.runner import run_experiment
from stridelab.programs.mnist_cnn import MnistCNN


def _run(out, **overrides):
    result = run_experiment("mnist-cnn", smoke=True, out=out, echo=False, device="cpu",
                            dataset="mnist-5k",
                            overrides={k: str(v) for k, v in overrides.items()})
    assert result.status == "ok", result.reason
    return result


# ---------------------------------------------------------------------------------------------
# measurements on hand-made cases


def test_orientation_score_of_edges_ramps_and_flat_filters():
    step = np.tile([-1.0, 0.0, 1.0], (3, 1))  # a vertical edge: gradient along x only
    diagonal = np.add.outer(np.arange(3.0), np.arange(3.0))  # x + y: gradient along (1, 1)
    coherence, angle = orientation_scores(np.stack([step, step.T, diagonal, np.ones((3, 3))]))
    np.testing.assert_allclose(coherence, [1.0, 1.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(angle[:3], [0.0, 90.0, 45.0], atol=1e-9)
    # a Laplacian has no preferred direction: gx and gy carry the same energy, uncorrelated
    laplace = np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
    assert orientation_scores(laplace[None])[0][0] == pytest.approx(0.0, abs=1e-12)


def test_receptive_fields_of_two_blocks_of_two_convolutions():
    # 3×3 convs widen the field by 2·jump, the 2×2 pool by 1 and doubles the jump:
    # 3, 5, (pool) 6, 6 + 4 = 10, 14
    assert receptive_fields(MnistCNN((4, 8)).features) == [3, 5, 10, 14]
    assert receptive_fields(MnistCNN((4, 8, 8), convs_per_block=1).features) == [3, 8, 18]


@pytest.mark.parametrize("channels", [(), (4, 4, 4, 4, 4)])  # 28 → 14 → 7 → 3 → 1 → 0
def test_build_model_refuses_blocks_that_do_not_fit_the_image(channels):
    with pytest.raises(ConfigError, match="need 1 to 4 blocks for 28×28 images"):
        build_model(CNNConfig(channels=channels))
    assert len(build_model(CNNConfig(channels=(4, 4, 4, 4))).conv_layers()) == 8


def test_softmax_stats_count_underflow_and_keep_log_softmax_finite():
    logits = torch.tensor([[0.0, 200.0], [0.0, 1.0]])
    y = np.array([1, 1])
    s = softmax_stats(logits, y, np.array([1, 1]))
    assert s["softmax_underflow_images"] == 1  # exp(−200) is 0 in float32
    assert s["min_log_softmax"] == pytest.approx(-200.0)
    assert s["max_logit_spread"] == pytest.approx(200.0)
    # top probabilities 1 and σ(1) = 0.731059 on two right predictions
    assert s["mean_top_p_right"] == pytest.approx((1 + 0.7310586) / 2)
    assert s["mean_top_p_wrong"] is None


def test_random_affine_is_the_identity_without_shift_or_rotation_and_keeps_shapes():
    x = torch.rand(3, 1, 28, 28)
    assert random_affine(x, 0.0, 0.0) is x
    torch.manual_seed(0)
    y = random_affine(x, 2.0, 10.0)
    assert y.shape == x.shape and not torch.equal(x, y)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0 + 1e-6  # bilinear: no overshoot


def test_random_flip_mirrors_some_images_and_leaves_the_others():
    x = torch.rand(64, 1, 5, 7)
    torch.manual_seed(0)
    y = random_flip(x)
    mirrored = torch.tensor([torch.equal(a, b.flip(-1)) for a, b in zip(x, y)])
    kept = torch.tensor([torch.equal(a, b) for a, b in zip(x, y)])
    assert bool((mirrored ^ kept).all())  # each image is one or the other
    assert 0 < int(mirrored.sum()) < 64


def test_augmentation_follows_the_config():
    assert augmentation(CNNConfig(shift=0.0, rotate=0.0)) is None
    x = torch.rand(32, 1, 6, 6)
    torch.manual_seed(1)
    y = augmentation(CNNConfig(shift=0.0, rotate=0.0, flip=True))(x)
    assert all(torch.equal(a, b) or torch.equal(a, b.flip(-1)) for a, b in zip(x, y))
    assert not torch.equal(x, y)


# ---------------------------------------------------------------------------------------------
# the smoke run


@pytest.fixture
def cnn_run(smoke_runs):
    return smoke_runs.ok("mnist-cnn")


def test_cnn_reads_the_svc_run_and_scores_itself_on_its_test_images(cnn_run, smoke_runs):
    m = cnn_run.metrics
    svc = smoke_runs.ok("svc-baseline")
    assert m["svc_accuracy"] == svc.metrics["test_accuracy"]
    # the SVC's smoke config tests 100 images, the CNN's 64: the CNN predicts all 100
    assert (m["svc_n_test"], m["n_test"], m["svc_n_train"]) == (100, 64, 200)
    config = json.loads((cnn_run.out / "config.json").read_text())
    assert config["dependencies"]["svc-baseline"] == {"run": str(svc.out), "source": "found"}
    cm = np.asarray(m["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 64
    assert np.trace(cm) == round(m["test_accuracy"] * 64) == 64 - m["n_errors"]
    # what the matrix says, read back from it
    recall = np.diag(cm) / np.maximum(cm.sum(axis=1), 1)
    present = cm.sum(axis=1) > 0
    assert [r for r in m["recall_by_class"] if r is not None] == \
        pytest.approx(recall[present].tolist())
    assert m["worst_recognised"]["recall"] == pytest.approx(recall[present].min())
    for p in m["confused_pairs"]:
        i, j = p["labels"]
        assert (p["a_as_b"], p["b_as_a"], p["count"]) == (cm[i, j], cm[j, i], cm[i, j] + cm[j, i])
    judged = {lesson["metric"]: lesson for lesson in cnn_run.lessons}
    assert judged["cnn_accuracy_on_svc_test"]["target"] == m["svc_accuracy"]
    assert judged["test_accuracy"]["target"] == 0.98
    assert m["beats_svc"] == (m["cnn_accuracy_on_svc_test"] > m["svc_accuracy"])


def test_cnn_summary_record_carries_every_number_of_its_formulas(cnn_run):
    # channels (4, 8), two 3×3 convs per block (no bias: BatchNorm follows), hidden 16
    rows = {r["name"]: r for r in cnn_run.metrics["summary_layers"]}
    assert rows["features.0"]["formula"] == "4·(3·3·1) = 36"
    assert rows["features.0"]["formula_numbers"] == [4, 3, 3, 1, 36]
    assert rows["classifier.1"]["formula_numbers"] == [16, 392, 1, 6288]
    assert [r["index"] for r in cnn_run.metrics["summary_layers"]] == \
        list(range(1, len(rows) + 1))
    # 36 + 8 + 144 + 8 + 288 + 16 + 576 + 16 + 6288 + 170
    assert cnn_run.metrics["n_params"] == 7550
    # the first conv: 4 maps of 28×28 from 36 weights; a dense layer would need 3136·785
    assert cnn_run.metrics["first_conv_outputs"] == 3136
    assert cnn_run.metrics["dense_equivalent_params"] == 3136 * 785


def test_cnn_figures_model_and_what_it_learned(cnn_run):
    for fig in ("learning_curves", "misclassified", "confusion_matrix", "feature_maps",
                "first_layer_filters"):
        assert (cnn_run.out / "figures" / f"{fig}.png").stat().st_size > 1000, fig
    model = MnistCNN((4, 8), hidden=16)
    model.load_state_dict(torch.load(cnn_run.out / "model.pt", weights_only=True))
    m = cnn_run.metrics
    assert len(m["misclassified_shown"]) == min(10, m["n_errors"])
    assert len(m["feature_maps_shown"]["first conv"]) == 2  # n_maps = 2 in the smoke config
    assert (m["first_conv_field"], m["last_conv_field"]) == (3, 14)
    assert (m["first_conv_map_side"], m["last_conv_map_side"]) == (28, 14)
    W = model.conv_layers()[0].weight.detach().numpy()[:, 0]
    np.testing.assert_allclose(m["filter_orientation"], orientation_scores(W)[0])
    assert 0.0 <= m["first_conv_active_fraction"] <= 1.0


def test_cnn_takes_the_svc_from_a_named_run(tmp_path):
    svc = tmp_path / "elsewhere" / "svc-run"
    svc.mkdir(parents=True)
    (svc / "status.json").write_text(json.dumps({"experiment": "svc-baseline",
                                                 "status": "ok"}))
    (svc / "config.json").write_text(json.dumps({"mode": "smoke"}))
    (svc / "metrics.json").write_text(json.dumps({"test_accuracy": 0.25, "n_test": 32,
                                                  "n_train": 123}))
    result = _run(tmp_path / "runs", svc_run=svc)
    m = result.metrics
    assert (m["svc_accuracy"], m["svc_n_test"], m["svc_n_train"]) == (0.25, 32, 123)
    assert not (tmp_path / "runs" / "svc-baseline").exists()  # nothing else was run


# ---------------------------------------------------------------------------------------------
# narrate, from fabricated metrics

def _fake(**changes) -> dict:
    m = {"n_params": 218586, "n_conv_layers": 4, "n_train": 4000, "dataset": "mnist-5k",
         "n_test": 1000, "test_accuracy": 0.982, "svc_n_test": 1000, "svc_n_train": 2000,
         "cnn_accuracy_on_svc_test": 0.982, "svc_accuracy": 0.938, "beats_svc": True,
         "final_train_accuracy": 0.9815, "epoch_time_s": 2.36, "device": "cpu",
         "summary_layers": [{"index": 1, "type": "Conv2d", "output_shape": [16, 28, 28],
                             "params": 144, "formula": "16·(3·3·1) = 144",
                             "formula_numbers": [16, 3, 3, 1, 144]}],
         "n_inputs": 784, "first_conv_outputs": 12544, "first_conv_params": 144,
         "dense_equivalent_params": 9847040, "softmax_underflow_images": 0,
         "min_log_softmax": -31.5, "max_logit_spread": 44.8, "mean_top_p_right": 0.991,
         "mean_top_p_wrong": 0.808, "n_errors": 18,
         "most_confused": [{"true": "4", "predicted": "9", "count": 2,
                            "fraction_of_true": 0.02, "true_label": 4, "predicted_label": 9}],
         "first_conv_map_side": 28, "first_conv_field": 3, "last_conv_filters": 32,
         "last_conv_map_side": 14, "last_conv_field": 14, "first_conv_active_fraction": 0.497,
         "last_conv_active_fraction": 0.307, "filter_orientation_mean": 0.41,
         "filter_orientation_mean_init": 0.42, "filter_orientation_change_se": 0.07,
         **_confusion(one_way=True)}
    m.update(changes)
    return m


def _confusion(*, one_way: bool) -> dict:
    """confusion_summary of a fabricated 10-class matrix: 4 and 9 confused most, 4 → 9
    mostly (5 against 1) or about as often each way (3 against 3)."""
    cm = np.diag([98, 113, 101, 99, 95, 88, 94, 100, 96, 97])
    cm[4, 9], cm[9, 4] = (5, 1) if one_way else (3, 3)
    cm[7, 2] = 2
    return confusion_summary(cm, [str(d) for d in range(10)])


@pytest.mark.parametrize("changes, branches", [
    ({}, {"beats_svc": True, "no_overfitting": True, "softmax_underflows": False,
          "mistakes": True, "deeper_maps_sparser": True, "more_oriented": False,
          "less_oriented": False}),  # 0.41 − 0.42 is within 2 · 0.07 of zero
    ({"cnn_accuracy_on_svc_test": 0.9, "test_accuracy": 0.9, "beats_svc": False},
     {"beats_svc": False, "no_overfitting": False}),
    ({"softmax_underflow_images": 3, "min_log_softmax": -123.4}, {"softmax_underflows": True}),
    ({"filter_orientation_mean": 0.62}, {"more_oriented": True, "less_oriented": False}),
    ({"filter_orientation_mean": 0.2}, {"more_oriented": False, "less_oriented": True}),
    ({"last_conv_active_fraction": 0.6}, {"deeper_maps_sparser": False}),
    ({}, {"one_way": True}),
    (_confusion(one_way=False), {"one_way": False}),
])
def test_narrate_takes_the_branches_the_numbers_decide(changes, branches):
    notes = narrate(_fake(**changes), CNNConfig())
    assert {k: notes.branches[k] for k in branches} == branches


def test_a_tie_with_the_svc_is_no_win():
    """The lesson, the metric beats_svc and the notes agree: equal accuracy does not beat."""
    from stridelab.experiments.mnist_cnn import BEATS_SVC

    tie = _fake(cnn_accuracy_on_svc_test=0.938, svc_accuracy=0.938)
    assert BEATS_SVC.holds(tie) is False
    assert BEATS_SVC.judge(tie, quick=True)["met"] is False
    assert narrate(tie, CNNConfig()).branches["beats_svc"] is False


def test_narrate_names_the_confused_pair_and_the_best_and_worst_digits():
    notes = str(narrate(_fake(), CNNConfig()))
    assert "Recognised best: 0 (recall 1.000); worst: 4 (recall 0.950)" in notes
    assert "the pair confused most is 4 and 9: 6 test images" in notes
    assert "4 is commonly mislabelled as 9" in notes
    even = str(narrate(_fake(**_confusion(one_way=False)), CNNConfig()))
    assert "neither is the usual mislabel of the other" in even


def test_narrate_prints_the_numbers_of_its_branch():
    notes = str(narrate(_fake(), CNNConfig()))
    assert "0.9820" in notes and "0.9380" in notes and "16·(3·3·1) = 144" in notes
    safe = str(narrate(_fake(), CNNConfig()))
    under = str(narrate(_fake(softmax_underflow_images=3, min_log_softmax=-123.4), CNNConfig()))
    assert "44.8" in safe and "-123.4" not in safe
    assert "-123.4" in under and "44.8" not in under


def test_narrate_with_no_mistakes_and_a_missing_metric():
    notes = narrate(_fake(most_confused=[], n_errors=0, mean_top_p_wrong=None), CNNConfig())
    assert notes.branches["mistakes"] is False and "0.808" not in str(notes)
    m = _fake()
    del m["svc_accuracy"]
    with pytest.raises(KeyError):
        narrate(m, CNNConfig())
