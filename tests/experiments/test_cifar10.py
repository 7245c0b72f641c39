"""cifar10 on generated CIFAR-10 pickle batches: the run, its evidence, the skip, the presets,
the notes, and two processes under torchrun."""

import json  # noqa: I001  (ruff takes tests/torch/ for `torch`)
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import stridelab.experiments.cifar10 as cifar_exp
from stridelab.cli import main
from stridelab.data.dataset import arrays_sha256
from stridelab.experiments.registry import get
from stridelab.experiments.runner import run_experiment

pytestmark = pytest.mark.usefixtures("one_thread")

PER_BATCH = 64  # the generated batches' size (tests/experiments/conftest.py)


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
# narrate, from fabricated metrics


def _cifar_metrics(*, preset="cpu", total=812.0, tta=True, device="cpu") -> dict:
    return {"width": 16, "n_params": 411_000, "macs_per_image": 38_000_000, "epochs": 8,
            "n_train": 50_000, "dataset": "cifar10", "test_accuracy": 0.7312,
            "test_accuracy_last_epoch": 0.7204, "n_test": 10_000, "tta": tta, "device": device,
            "train_time_s": 731.0, "epoch_time_s": 91.2, "total_time_s": total,
            "preset": preset, "lr": 0.2,
            "most_confused": [{"true": "cat", "predicted": "dog", "count": 187}]}


def test_narrate_cifar10_judges_the_cpu_budget_only_for_the_cpu_preset():
    config = cifar_exp.CifarConfig()
    within = cifar_exp.narrate(_cifar_metrics(total=812.0), config)
    over = cifar_exp.narrate(_cifar_metrics(total=1012.0), config)
    gpu = cifar_exp.narrate(_cifar_metrics(preset="gpu", device="cuda"), config)
    assert not within.branches["gpu_preset"] and within.branches["within_budget"]
    assert not over.branches["gpu_preset"] and not over.branches["within_budget"]
    assert gpu.branches["gpu_preset"] and gpu.branches["ran_on_cuda"]  # no budget sentence
    assert not within.branches["ran_on_cuda"]  # bf16 on CUDA, float32 on the CPU
    assert "900" in str(within) and "900" in str(over) and "900" not in str(gpu)


def test_narrate_cifar10_takes_augmentation_from_the_config():
    plain = cifar_exp.narrate(_cifar_metrics(tta=False),
                              cifar_exp.CifarConfig(padding=0, flip=False))
    augmented = cifar_exp.narrate(_cifar_metrics(), cifar_exp.CifarConfig(padding=6))
    assert {k: plain.branches[k] for k in ("flip_averaged", "cropped", "flipped")} == \
        {"flip_averaged": False, "cropped": False, "flipped": False}
    assert {k: augmented.branches[k] for k in ("flip_averaged", "cropped", "flipped")} == \
        {"flip_averaged": True, "cropped": True, "flipped": True}
    plain, augmented = str(plain), str(augmented)
    assert " 6 pixels" in augmented and " 6 pixels" not in plain
    assert "0.7204" in augmented and "0.7204" not in plain  # the flip average, when used



def test_the_lesson_is_registered_as_data():
    (cifar,) = get("cifar10").lessons
    assert (cifar.metric, cifar.op, cifar.quick, cifar.full) == ("test_accuracy", ">=", None,
                                                                 0.70)
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
