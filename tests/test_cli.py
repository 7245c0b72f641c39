"""The command line: exit codes, one-line errors, --set type checks, runs end to end."""

import json
import subprocess
import sys

import pytest

from stridelab.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert out.startswith("stridelab 0.")


def test_list_names_every_experiment(capsys):
    from stridelab.experiments.registry import all_experiments

    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for exp in all_experiments():
        assert exp.name in out


def test_data_help_explains_every_action(capsys):
    code, out, _ = run_cli(capsys, "data", "--help")
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
def test_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("stridelab: error:")
    assert fragment in lines[0]


def test_bad_dataset_name_exit_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "svc-baseline", "--smoke", "--dataset", "imagenet",
                           "--out", str(tmp_path))
    assert code == 2
    assert "imagenet" in err and len(err.strip().splitlines()) == 1


def test_cuda_without_gpu_is_exit_2(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    code, _, err = run_cli(capsys, "run", "svc-baseline", "--device", "cuda", "--out",
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
    code = main(["run", "all", "--out", str(tmp_path / "runs"), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "t-boom (RuntimeError: deliberate failure)" in " ".join(err.split())
    status = {n: json.loads((tmp_path / "runs" / n / "status.json").read_text())["status"]
              for n in toy}
    assert status == {"t-boom": "failed", "t-absent": "skipped", "t-fine": "ok"}
    assert "Traceback" in (tmp_path / "runs" / "t-boom" / "log.txt").read_text()
    page = (tmp_path / "runs" / "report.html").read_text()
    assert "toy data not found" in page and "deliberate failure" in page
