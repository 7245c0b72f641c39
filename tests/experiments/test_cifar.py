"""The CIFAR path (cifar10 on generated pickle batches) and depthwise-separable convolutions."""

import json  # noqa: I001  (ruff takes tests/torch/ for `torch`)
import os
import pickle
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import stridelab.experiments.cifar10 as cifar_exp
import stridelab.experiments.depthwise_separable as separable_exp
from stridelab.cli import main
from stridelab.data.dataset import arrays_sha256
from stridelab.experiments.runner import run_experiment
from stridelab.torch.models.cifar import (
    CifarResNet,
    DepthwiseSeparableConv2d,
    FlipAverage,
    ImagePipeline,
    SeparableComparisonNet,
    channel_stats,
    conv_macs,
    conv_params,
    count_macs,
    count_params,
    random_crop,
    random_flip,
    separable_macs,
    separable_params,
    separable_ratio,
    to_nchw_uint8,
)

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]
PER_BATCH = 64  # images in each generated batch: 5 x 64 = 320 train, 64 test


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train fastest on one thread (and do not fight other processes for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# CIFAR-10 files in the exact python-pickle format


def write_cifar(root, n=PER_BATCH, seed=0):
    """cifar-10-batches-py/ under root/cifar10: five training batches, a test batch and
    batches.meta, as the CIFAR-10 python archive holds them. Returns the arrays (N, 32, 32, 3)."""
    d = root / "cifar10" / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)  # (N, 1024 R + G + B)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        batch = {b"batch_label": f"generated {name}".encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(n)]}
        (d / name).write_bytes(pickle.dumps(batch, protocol=2))
        arrays[name] = (data.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1), np.array(labels))
    meta = {b"label_names": [c.encode() for c in CLASSES], b"num_cases_per_batch": n,
            b"num_vis": 3072}
    (d / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    X_train = np.concatenate([arrays[f"data_batch_{i}"][0] for i in range(1, 6)])
    y_train = np.concatenate([arrays[f"data_batch_{i}"][1] for i in range(1, 6)])
    X_test, y_test = arrays["test_batch"]
    return X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64)


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar-data")
    return root, write_cifar(root)


@pytest.fixture(scope="module")
def smoke_run(cifar_dir, tmp_path_factory):
    root, arrays = cifar_dir
    out = tmp_path_factory.mktemp("runs")
    result = run_experiment("cifar10", smoke=True, data_dir=str(root), out=out, echo=False)
    return result, arrays


def test_cifar10_smoke_run_on_generated_batches(smoke_run):
    result, _ = smoke_run
    assert result.status == "ok", result.reason
    m = result.metrics
    assert (m["dataset"], m["preset"], m["device"]) == ("cifar10", "cpu", "cpu")
    assert m["n_train"] == 256 and m["n_test"] == PER_BATCH  # smoke: 256 of 320; all 64
    # width 4: prep 3*4*9+8, layer1 4*8*9+16 + 2*(8*8*9+16), layer2 8*16*9+32,
    # layer3 16*32*9+64 + 2*(32*32*9+64), head 32*10
    assert m["n_params"] == 116 + 304 + 1184 + 1184 + 4672 + 18560 + 320 == 26340
    # 3*4*9*32*32 + five 3x3 layers of 294,912 multiply-adds each + 32*10
    assert m["macs_per_image"] == 110_592 + 5 * 294_912 + 320
    assert 0.0 <= m["test_accuracy"] <= 1.0
    assert "target" not in m and "target_met" not in m  # lessons.json judges instead
    assert m["n_classes"] == 10 and m["image_shape"] == [3, 32, 32]
    (lesson,) = result.lessons
    assert lesson["target"] is None and lesson["met"] is None  # no quick target (no data here)
    assert np.asarray(m["confusion_matrix"]).sum() == PER_BATCH


def test_cifar10_run_directory_is_evidence(smoke_run):
    result, (X_train, y_train, X_test, y_test) = smoke_run
    out = result.out
    for name in ("config.json", "metrics.json", "log.txt", "notes.md", "checkpoint.pt",
                 "figures/learning_curves.png", "figures/confusion_matrix.png",
                 "figures/augmentation.png"):
        assert (out / name).is_file(), name
    record = json.loads((out / "config.json").read_text())
    assert record["dataset"]["name"] == "cifar10"
    assert record["dataset"]["sha256"] == arrays_sha256(X_train, y_train, X_test, y_test)
    assert record["config"]["width"] == 4  # the smoke override, recorded as it ran
    notes = (out / "notes.md").read_text()
    assert f"{result.metrics['test_accuracy']:.4f}" in notes
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1


def test_cifar10_absent_is_a_skip_with_the_way_to_get_it(tmp_path):
    result = run_experiment("cifar10", smoke=True, data_dir=str(tmp_path), out=tmp_path / "r",
                            echo=False)
    assert result.status == "skipped"
    assert "stridelab data fetch cifar10" in result.reason
    assert not (tmp_path / "r" / "cifar10" / "metrics.json").exists()


def test_cli_run_cifar10_without_data_says_so_in_one_line(tmp_path, capsys):
    code = main(["run", "cifar10", "--smoke", "--data-dir", str(tmp_path), "--out",
                 str(tmp_path / "r")])
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("stridelab: error:")]
    assert code == 2
    assert len(errors) == 1
    assert errors[0].startswith("stridelab: error: cifar10 not found")
    assert "stridelab data fetch cifar10" in errors[0]


def test_presets_fill_only_what_was_not_set():
    config = cifar_exp.CifarConfig(epochs=3)
    preset, resolved = cifar_exp.resolve_preset(config, "cpu")
    assert preset == "cpu"
    assert (resolved.width, resolved.epochs, resolved.batch_size, resolved.lr) == (16, 3, 256, 0.2)
    preset, resolved = cifar_exp.resolve_preset(cifar_exp.CifarConfig(preset="gpu"), "cpu")
    assert (preset, resolved.width, resolved.epochs) == ("gpu", 64, 30)


# ---------------------------------------------------------------------------------------------
# the input pipeline


def test_to_nchw_puts_channels_first():
    X = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3)  # (N, H, W, C)
    out = to_nchw_uint8(X)
    assert out.shape == (2, 3, 2, 3)
    assert out[1, 2, 0, 1] == X[1, 0, 1, 2]
    assert to_nchw_uint8(np.zeros((4, 28, 28), np.uint8)).shape == (4, 1, 28, 28)


def test_channel_stats_hand_computed():
    X = torch.zeros(2, 2, 1, 2, dtype=torch.uint8)  # (N, C, H, W)
    X[:, 0] = torch.tensor([[[0, 255]], [[0, 255]]], dtype=torch.uint8)  # half 0, half 1
    X[:, 1] = 51  # constant 0.2
    mean, std = channel_stats(X)
    assert mean.tolist() == pytest.approx([0.5, 0.2])
    assert std.tolist() == pytest.approx([0.5, 0.0], abs=1e-6)


def test_pipeline_normalises_per_channel():
    pipe = ImagePipeline([0.5, 0.2, 0.0], [0.5, 0.1, 1.0])
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = pipe(x)
    assert out.dtype == torch.float32
    assert out[0, :, 0, 0].tolist() == pytest.approx([1.0, 8.0, 1.0])  # (1-.5)/.5, (1-.2)/.1


def test_random_crop_is_a_window_of_the_padded_image_and_reproducible():
    x = torch.arange(6 * 2 * 5 * 5, dtype=torch.float32).reshape(6, 2, 5, 5)
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    padded = nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")  # (6, 2, 9, 9)
    offsets = set()
    for n in range(6):
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if torch.equal(out[n], padded[n, :, dy:dy + 5, dx:dx + 5])]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 1  # the offsets vary from image to image
    again = random_crop(x, 2, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert torch.equal(random_crop(x, 0), x)


def test_random_flip_mirrors_some_images_and_keeps_the_rest():
    x = torch.randn(64, 3, 4, 4)
    out = random_flip(x, torch.Generator().manual_seed(1))
    flipped = [torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 16 < sum(flipped) < 48


# ---------------------------------------------------------------------------------------------
# the networks


def test_cifar_resnet_shapes_layer_by_layer():
    model = CifarResNet(width=4)
    x = torch.zeros(2, 3, 32, 32)
    shapes = []
    for layer in model:
        x = layer(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(2, 4, 32, 32), (2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4),
                      (2, 32, 1, 1), (2, 32), (2, 10), (2, 10)]
    assert count_params(model) == 26340
    assert count_params(CifarResNet(64)) == 6_573_120  # the original ResNet-9 (no biases)


def test_flip_average_is_invariant_to_mirroring():
    torch.manual_seed(0)
    model = FlipAverage(CifarResNet(width=4)).eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x), model(x.flip(-1)))


def test_comparison_nets_differ_only_in_the_convolutions():
    # w = 4 on grey images: stem 1*4*9 + 8 (BN), head 16*10 + 10
    standard = SeparableComparisonNet("standard", width=4, in_channels=1)
    separable = SeparableComparisonNet("separable", width=4, in_channels=1)
    assert count_params(standard) == 44 + (288 + 16) + (1152 + 32) + (2304 + 32) + 170
    assert count_params(separable) == 44 + (36 + 32 + 16) + (72 + 128 + 32) + (144 + 256 + 32) + 170
    x = torch.zeros(3, 1, 28, 28)
    assert standard(x).shape == separable(x).shape == (3, 10)
    with pytest.raises(ValueError, match="standard"):
        SeparableComparisonNet("dilated")


# ---------------------------------------------------------------------------------------------
# depthwise-separable convolution


@pytest.mark.parametrize("stride,padding,bias", [(1, 1, False), (2, 0, True), (1, 2, True)])
def test_separable_equals_a_standard_conv_with_the_composed_kernel(stride, padding, bias):
    """Second route: depthwise D (C, 1, K, K) then pointwise P (F, C, 1, 1) is one K×K conv
    with weight W[f, c] = P[f, c] · D[c] and bias b[f] = P[f] · b_D + b_P."""
    torch.manual_seed(0)
    C, F, K = 3, 5, 3
    layer = DepthwiseSeparableConv2d(C, F, K, stride=stride, padding=padding, bias=bias)
    x = torch.randn(2, C, 7, 7, dtype=torch.float64)
    layer = layer.double()
    D = layer.depthwise.weight  # (C, 1, K, K)
    P = layer.pointwise.weight[:, :, 0, 0]  # (F, C)
    W = P[:, :, None, None] * D[:, 0][None]  # (F, C, K, K)
    b = None
    if bias:
        b = P @ layer.depthwise.bias + layer.pointwise.bias  # (F,)
    expected = nn.functional.conv2d(x, W, b, stride=stride, padding=padding)
    torch.testing.assert_close(layer(x), expected)


def test_count_formulas_hand_computed():
    assert conv_params(3, 4, 3) == 108
    assert conv_params(3, 4, 3, bias=True) == 112
    assert separable_params(3, 4, 3) == 27 + 12
    assert separable_params(3, 4, 3, bias=True) == 27 + 12 + 3 + 4
    assert conv_macs(3, 4, 3, 5, 5) == 2700
    assert separable_macs(3, 4, 3, 5, 5) == 675 + 300
    assert separable_ratio(128, 3) == pytest.approx(1 / 128 + 1 / 9)
    assert count_params(DepthwiseSeparableConv2d(3, 4, 3, bias=True)) == 46


def test_hooks_count_the_multiply_adds_of_the_formulas():
    x = torch.zeros(1, 3, 5, 5)
    assert count_macs(nn.Conv2d(3, 4, 3, padding=1, bias=False), x) == 2700
    assert count_macs(DepthwiseSeparableConv2d(3, 4, 3, padding=1), x) == 975
    assert count_macs(nn.Sequential(nn.Flatten(), nn.Linear(75, 2)), x) == 150
    # stride 2, no padding: a 2x2 output
    assert count_macs(DepthwiseSeparableConv2d(3, 4, 3, stride=2), x) == 4 * (27 + 12)


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


def _words(text: str) -> str:
    """The text with every number replaced by #: equal for two runs whose notes took the same
    branches, whatever their numbers."""
    return re.sub(r"-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?[%×]?", "#", text)


def _cifar_metrics(*, preset="cpu", total=812.0, tta=True, device="cpu") -> dict:
    return {"width": 16, "n_params": 411_000, "macs_per_image": 38_000_000, "epochs": 8,
            "n_train": 50_000, "dataset": "cifar10", "test_accuracy": 0.7312,
            "test_accuracy_last_epoch": 0.7204, "n_test": 10_000, "tta": tta, "device": device,
            "train_time_s": 731.0, "epoch_time_s": 91.2, "total_time_s": total,
            "preset": preset, "lr": 0.2,
            "most_confused": [{"true": "cat", "predicted": "dog", "count": 187}]}


def test_narrate_cifar10_judges_the_cpu_budget_only_for_the_cpu_preset():
    config = cifar_exp.CifarConfig()
    within = str(cifar_exp.narrate(_cifar_metrics(total=812.0), config))
    over = str(cifar_exp.narrate(_cifar_metrics(total=1012.0), config))
    gpu = str(cifar_exp.narrate(_cifar_metrics(preset="gpu", device="cuda"), config))
    assert "900" in within and "900" in over and "900" not in gpu
    assert _words(within) != _words(over)
    assert _words(gpu) != _words(within)  # bf16 on CUDA, float32 on the CPU


def test_narrate_cifar10_takes_augmentation_from_the_config():
    plain = str(cifar_exp.narrate(_cifar_metrics(tta=False),
                                  cifar_exp.CifarConfig(padding=0, flip=False)))
    augmented = str(cifar_exp.narrate(_cifar_metrics(), cifar_exp.CifarConfig(padding=6)))
    assert " 6 pixels" in augmented and " 6 pixels" not in plain
    assert "0.7204" in augmented and "0.7204" not in plain  # the flip average, when used
    assert _words(plain) != _words(augmented.replace(" 6 ", " # "))


def _separable_metrics(*, exact=True, match=True, behind=True, sizes=2, fallback="",
                       kept=(0.12, 0.31)) -> dict:
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
    }


def test_narrate_separable_branches_on_the_counts():
    config = separable_exp.SeparableConfig()
    base = str(separable_exp.narrate(_separable_metrics(), config))
    assert _words(str(separable_exp.narrate(_separable_metrics(exact=False), config))) != \
        _words(base)
    assert _words(str(separable_exp.narrate(_separable_metrics(match=False), config))) != \
        _words(base)


def test_narrate_separable_does_not_explain_a_speed_up_it_did_not_measure():
    # the verdict on time and what follows it come from the same measurement
    config = separable_exp.SeparableConfig()
    behind = str(separable_exp.narrate(_separable_metrics(behind=True), config))
    ahead = str(separable_exp.narrate(_separable_metrics(behind=False), config))
    assert _words(behind) != _words(ahead)
    assert "K²·F" in behind and "K²·F" not in ahead


def test_narrate_separable_with_one_timed_size_makes_no_size_comparison():
    config = separable_exp.SeparableConfig()
    two = str(separable_exp.narrate(_separable_metrics(sizes=2), config))
    one = str(separable_exp.narrate(_separable_metrics(sizes=1), config))
    assert "C = 128" in two and "C = 128" not in one
    assert "2.31" in two and "2.31" not in one  # a range only when there is one
    kept = str(separable_exp.narrate(_separable_metrics(kept=(0.31, 0.12)), config))
    assert _words(kept) != _words(two)


def test_narrate_separable_says_why_the_networks_are_not_on_cifar10():
    config = separable_exp.SeparableConfig()
    there = str(separable_exp.narrate(_separable_metrics(fallback=""), config))
    absent = str(separable_exp.narrate(_separable_metrics(fallback="CIFAR-10 is absent"),
                                       config))
    assert "stridelab data list" in absent and "stridelab data list" not in there
    assert "(0.7200) is lower than" in there  # compare() in either direction


def test_lessons_are_registered_as_data():
    from stridelab.experiments.registry import get

    (cifar,) = get("cifar10").lessons
    assert (cifar.metric, cifar.op, cifar.quick, cifar.full) == ("test_accuracy", ">=", None,
                                                                 0.70)
    params, macs = get("depthwise-separable").lessons
    assert (params.metric, macs.metric) == ("param_ratio", "mac_ratio")
    assert params.full == macs.full == "formula_ratio"
    assert not hasattr(cifar_exp, "TARGETS")


# ---------------------------------------------------------------------------------------------
# under torchrun: two processes, one run directory


@pytest.mark.slow
def test_torchrun_two_processes_write_one_run_directory(cifar_dir, tmp_path):
    root, _ = cifar_dir
    launcher = tmp_path / "launch.py"
    launcher.write_text(textwrap.dedent("""\
        import stridelab.experiments.cifar10  # registers cifar10 (a no-op once registered)
        from stridelab.cli import main

        raise SystemExit(main())
    """))
    out = tmp_path / "runs"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(launcher), "run", "cifar10", "--smoke", "--device", "cpu", "--data-dir", str(root),
         "--out", str(out)],
        capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["cifar10"]  # no .rank1-* directory
    metrics = json.loads((out / "cifar10" / "metrics.json").read_text())
    assert metrics["n_train"] == 256
    log = (out / "cifar10" / "log.txt").read_text()
    assert log.count("epoch 1/1") == 1
