"""The command line: exit codes, one-line errors, --set type checks, runs end to end."""

import json
import subprocess
import sys

import pytest

from stridelab.cli import main


def test_version(run_cli):
    code, out, _ = run_cli("--version")
    assert code == 0
    assert out.startswith("stridelab 0.")


def test_list_names_every_experiment(run_cli):
    from stridelab.experiments.registry import all_experiments

    code, out, _ = run_cli("list")
    assert code == 0
    for exp in all_experiments():
        assert exp.name in out


def test_data_help_explains_every_action(run_cli):
    code, out, _ = run_cli("data", "--help")
    assert code == 0
    for line in ("list ", "verify NAME", "fetch NAME"):
        assert line in out


@pytest.mark.parametrize("argv, fragment", [
    (["run", "no-such-experiment"], "unknown experiment"),
    (["run", "svc-baseline", "--set", "no_such_key=1"], "unknown key"),
    (["run", "svc-baseline", "--set", "n_train=ten"], "expected an integer"),
    (["run", "svc-baseline", "--set", "C=big"], "expected a number"),
    (["run", "svc-baseline", "--set", "n_train"], "expected key=value"),
    (["run", "svc-baseline", "--device", "tpu"], "invalid choice"),
    (["run", "all", "--set", "epochs=1"], "one experiment"),
    (["report", "--runs", "/nonexistent/runs"], "no such directory"),
    (["frobnicate"], "invalid choice"),
    (["data", "verify"], "needs a data set name"),
])
def test_bad_input_is_one_line_and_exit_2(run_cli, argv, fragment):
    code, _, err = run_cli(*argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("stridelab: error:")
    assert fragment in lines[0]


def test_bad_dataset_name_exit_2(run_cli, tmp_path):
    code, _, err = run_cli("run", "svc-baseline", "--smoke", "--dataset", "imagenet",
                           "--out", str(tmp_path))
    assert code == 2
    assert "imagenet" in err and len(err.strip().splitlines()) == 1


def test_cuda_without_gpu_is_exit_2(run_cli, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    code, _, err = run_cli("run", "svc-baseline", "--device", "cuda", "--out",
                           str(tmp_path))
    assert code == 2 and "no CUDA device" in err


def test_run_writes_artifacts_and_never_overwrites(capsys, tmp_path):
    argv = ["run", "svc-baseline", "--smoke", "--dataset", "mnist-5k", "--out", str(tmp_path),
            "--seed", "3"]
    assert main(argv) == 0
    assert main(argv) == 0
    capsys.readouterr()
    first, second = tmp_path / "svc-baseline", tmp_path / "svc-baseline-2"
    for run in (first, second):
        config = json.loads((run / "config.json").read_text())
        assert config["seed"] == 3
        assert config["dataset"]["name"] == "mnist-5k"
        assert len(config["dataset"]["sha256"]) == 64
        for key in ("python", "numpy", "torch", "sklearn", "device"):
            assert config["environment"][key]
        assert (run / "figures" / "confusion_matrix.png").stat().st_size > 1000
        assert (run / "log.txt").read_text().strip()
    m1 = json.loads((first / "metrics.json").read_text())
    m2 = json.loads((second / "metrics.json").read_text())
    assert m1["test_accuracy"] == m2["test_accuracy"]  # same seed, same data: same result
    assert main(argv + ["--force"]) == 0
    assert not (tmp_path / "svc-baseline-3").exists()


def test_python_m_entry_point_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "stridelab", "run", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_run_all_keeps_going_past_a_failure_and_exits_non_zero(capsys, tmp_path, monkeypatch):
    from dataclasses import dataclass

    from stridelab.errors import DataNotFound
    from stridelab.experiments import registry

    @dataclass
    class Empty:
        n: int = 1  # unused

    def boom(config, ctx):
        raise RuntimeError("deliberate failure")

    def absent(config, ctx):
        raise DataNotFound("toy data not found: place toy.bin in DIR")

    def fine(config, ctx):
        return {"test_accuracy": 1.0}

    toy = {name: registry.Experiment(name, Empty, fn, f"{name} toy", order=i)
           for i, (name, fn) in enumerate((("t-boom", boom), ("t-absent", absent),
                                           ("t-fine", fine)))}
    monkeypatch.setattr(registry, "_REGISTRY", toy)
    monkeypatch.setenv("COLUMNS", "200")  # a wide console: the summary rows do not wrap
    code = main(["run", "all", "--out", str(tmp_path / "runs"), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 1
    # each reason is printed once, in the summary table, and the failed run is named at the end
    assert err.count("RuntimeError: deliberate failure") == 1, err
    assert err.count("toy data not found") == 1, err
    assert err.strip().splitlines()[-1].startswith("failed: t-boom")
    status = {n: json.loads((tmp_path / "runs" / n / "status.json").read_text())["status"]
              for n in toy}
    assert status == {"t-boom": "failed", "t-absent": "skipped", "t-fine": "ok"}
    assert "Traceback" in (tmp_path / "runs" / "t-boom" / "log.txt").read_text()
    page = (tmp_path / "runs" / "report.html").read_text()
    assert "toy data not found" in page and "deliberate failure" in page


def _toy_registry(monkeypatch, **experiments):
    """Replace the registry with toy experiments ``name=(measure, extra register kwargs)``."""
    from dataclasses import dataclass

    from stridelab.experiments import registry

    @dataclass
    class Toy:
        epochs: int = registry.bounded(2, ge=1)  # passes
        lr: float = registry.bounded(0.1, gt=0)  # step size

    toy = {name.replace("_", "-"): registry.Experiment(name.replace("_", "-"), Toy, fn,
                                                       "a toy", order=i, **kwargs)
           for i, (name, (fn, kwargs)) in enumerate(experiments.items())}
    monkeypatch.setattr(registry, "_REGISTRY", toy)
    return toy


def test_list_verbose_shows_quick_values_and_bounds(run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    _toy_registry(monkeypatch, t_list=(lambda c, ctx: {}, {"quick": {"epochs": 1}}))
    code, out, _ = run_cli("list", "-v")
    assert code == 0
    assert "epochs: int = 2 (≥ 1)  [quick: 1]" in out  # rich would eat "[quick: 1]" as markup
    assert "lr: float = 0.1 (> 0)" in out


def test_a_failed_run_prints_its_reason_once(run_cli, monkeypatch, tmp_path):
    def boom(config, ctx):
        raise RuntimeError("deliberate failure")

    _toy_registry(monkeypatch, t_boom=(boom, {}))
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run_cli("run", "t-boom", "--out", str(tmp_path), "--device", "cpu")
    assert code == 1
    assert (out + err).count("deliberate failure") == 1, out + err
    assert "Traceback" in (tmp_path / "t-boom" / "log.txt").read_text()


def test_a_user_error_inside_a_run_is_one_line_once(run_cli, monkeypatch, tmp_path):
    from stridelab.errors import TrainingDiverged

    def diverge(config, ctx):
        ctx.log("epoch 1: loss 1.0")
        raise TrainingDiverged("the training loss became nan at batch 3; lower the lr")

    _toy_registry(monkeypatch, t_nan=(diverge, {}))
    code, out, err = run_cli("run", "t-nan", "--out", str(tmp_path), "--device", "cpu")
    assert code == 2
    assert err.count("became nan") == 1 and out.count("became nan") == 0
    assert err.strip().splitlines()[-1].startswith("stridelab: error: the training loss")
    # the run started, so its record stays (with the last good checkpoint, had it one)
    assert json.loads((tmp_path / "t-nan" / "status.json").read_text())["status"] == "failed"


def _judged(say, value, op, target, met, mode="quick", target_metric=None, label="acc"):
    return {"say": say, "metric": "m", "label": label, "op": op, "value": value,
            "target": target, "target_metric": target_metric, "met": met, "mode": mode}


def test_summary_shows_each_lesson_and_fits_80_columns(monkeypatch):
    import io

    from rich.console import Console

    from stridelab.cli import lesson_line, print_summary
    from stridelab.experiments.runner import RunResult

    _toy_registry(monkeypatch, depthwise_separable_and_long=(lambda c, ctx: {}, {}))
    lessons = [
        _judged("ReLU at 3 hidden layers beats sigmoid at 3 by a wide margin", 0.934, ">=",
                0.209, True, target_metric="sigmoid_3", label="ReLU-3 accuracy"),
        _judged("the CNN beats the SVC", 0.941, ">=", 0.98, False),
        _judged("no quick target", 0.5, ">=", None, None),
    ]
    results = [RunResult("depthwise-separable-and-long", "ok", None, 12.3,
                         {"test_accuracy": 0.941}, lessons=lessons),
               RunResult("depthwise-separable-and-long", "failed", None, 1.0,
                         reason="RuntimeError: " + "a long reason " * 20)]
    buf = io.StringIO()
    print_summary(Console(file=buf, width=80, color_system=None), results, 13.3)
    text = buf.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80, text
    flat = " ".join(text.replace("│", " ").split())
    assert "test_accuracy = 0.941" in flat
    assert lesson_line(lessons[0]) == ("✓ ReLU at 3 hidden layers beats sigmoid at 3 by a wide "
                                       "margin: ReLU-3 accuracy 0.934, target >= 0.209 (from "
                                       "sigmoid_3): met")
    assert lesson_line(lessons[1]).endswith("acc 0.941, target >= 0.98: not met")
    assert lesson_line(lessons[2]) == "– no quick target: acc 0.5 (no target for a quick run)"
    for record in lessons:
        assert " ".join(lesson_line(record).split()) in flat


def test_sheet_command_is_registered(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    assert "sheet" in out and "solution sheets: list, show and solve" in " ".join(out.split())
    import importlib.util

    code, out, err = run_cli("sheet", "list")
    if importlib.util.find_spec("stridelab.sheets") is None:
        assert code == 2 and "not available" in err and len(err.strip().splitlines()) == 1
