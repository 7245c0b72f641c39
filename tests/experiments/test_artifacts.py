"""Run directories and atomic writes: a failure half-way leaves the old file, never half a file."""

import json
import os

import numpy as np
import pytest

from stridelab.experiments.artifacts import (
    RunContext,
    atomic_write,
    new_run_dir,
    write_json_atomic,
)


def test_atomic_write_keeps_old_content_when_the_writer_fails(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text('{"old": 1}')
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write('{"new": ')
        raise RuntimeError("killed half-way")
    assert json.loads(target.read_text()) == {"old": 1}
    assert os.listdir(tmp_path) == ["metrics.json"]  # no temporary file left behind


def test_atomic_write_replaces_on_success(tmp_path):
    target = tmp_path / "sub" / "x.txt"
    with atomic_write(target) as fh:
        fh.write("hello")
    assert target.read_text() == "hello"


def test_json_writer_handles_numpy_and_non_finite(tmp_path):
    path = write_json_atomic(tmp_path / "m.json", {"a": np.float32(0.5), "b": np.arange(3),
                                                   "c": float("nan"), "d": np.bool_(True)})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1, 2], "c": None, "d": True}


def test_new_run_dir_suffixes_and_force(tmp_path):
    a = new_run_dir(tmp_path, "exp")
    b = new_run_dir(tmp_path, "exp")
    c = new_run_dir(tmp_path, "exp")
    assert [p.name for p in (a, b, c)] == ["exp", "exp-2", "exp-3"]
    (a / "metrics.json").write_text("{}")
    (a / "model.pt").write_text("weights")
    again = new_run_dir(tmp_path, "exp", force=True)
    assert again == a
    assert not (a / "metrics.json").exists()  # stale results do not survive a forced rerun


def test_context_records_and_figures(tmp_path):
    import matplotlib.pyplot as plt

    ctx = RunContext(tmp_path / "run", name="toy", config={"k": 1}, seed=5, device="cpu",
                     echo=False)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["seed"] == 5 and config["config"] == {"k": 1}
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    ctx.savefig(fig, "line", caption="a line")
    ctx.log("one")
    ctx.log("two")
    ctx.note("A *paragraph*.")
    assert (tmp_path / "run" / "figures" / "line.png").read_bytes()[:4] == b"\x89PNG"
    index = json.loads((tmp_path / "run" / "figures" / "index.json").read_text())
    assert index == [{"file": "line.png", "caption": "a line"}]
    assert (tmp_path / "run" / "log.txt").read_text().count("\n") == 2
    assert "paragraph" in (tmp_path / "run" / "notes.md").read_text()


def test_non_main_rank_writes_nothing(tmp_path):
    ctx = RunContext(tmp_path / "rank1", name="toy", config={}, seed=0, device="cpu",
                     is_main=False, echo=False)
    ctx.log("x")
    ctx.write_json("m.json", {})
    assert not (tmp_path / "rank1").exists()


# ---------------------------------------------------------------------------------------------
# --out checks, the run record, the data set a run may read

def test_check_out_dir_refuses_files_and_unwritable_places(tmp_path):
    from stridelab.errors import ConfigError
    from stridelab.experiments.artifacts import check_out_dir

    a_file = tmp_path / "runs.txt"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match=r"--out .*runs.txt: it is a file, not a directory"):
        check_out_dir(a_file)
    with pytest.raises(ConfigError, match=r"cannot create it: .*runs.txt is a file"):
        check_out_dir(a_file / "sub")
    assert check_out_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    if os.path.isdir("/proc/self"):  # Linux: /proc takes no new entries, even from root
        with pytest.raises(ConfigError, match="cannot create it: /proc is not writable"):
            check_out_dir("/proc/stridelab-runs")


def test_config_records_mode_overrides_and_machine(tmp_path):
    ctx = RunContext(tmp_path / "run", name="toy", config={"k": 1}, seed=5, device="cpu",
                     smoke=True, overrides={"k": "1"}, echo=False)
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (record["mode"], record["quick"], record["overrides"]) == ("smoke", True, {"k": "1"})
    assert ctx.mode == "smoke"
    env = record["environment"]
    assert env["cpu"] and env["cpu_count"] == os.cpu_count()


def test_a_dataset_outside_the_family_is_refused_unless_falling_back(tmp_path):
    from stridelab.errors import ConfigError

    strict = RunContext(tmp_path / "a", name="toy", config={}, seed=0, device="cpu",
                        dataset="mnist-5k", echo=False)
    with pytest.raises(ConfigError, match="--dataset mnist-5k does not fit toy"):
        strict.load_dataset(family="cifar10")
    lenient = RunContext(tmp_path / "b", name="toy", config={}, seed=0, device="cpu",
                         dataset="cifar10", echo=False, dataset_fallback=True)
    assert lenient.load_dataset(family="mnist").name in ("mnist", "mnist-5k")
    assert "does not fit" in (tmp_path / "b" / "log.txt").read_text()


def test_log_lines_with_brackets_reach_the_console_as_written(tmp_path):
    import io

    from rich.console import Console

    buf = io.StringIO()
    ctx = RunContext(tmp_path / "run", name="toy", config={}, seed=0, device="cpu",
                     console=Console(file=buf, width=200))
    ctx.log("losses [0.5, 0.25] and [bold]not bold[/bold]")
    ctx.log("only in the file", show=False)
    assert "losses [0.5, 0.25] and [bold]not bold[/bold]" in buf.getvalue()
    assert "only in the file" not in buf.getvalue()
    assert "only in the file" in (tmp_path / "run" / "log.txt").read_text()


# ---------------------------------------------------------------------------------------------
# ctx.dependency: the metrics of another experiment, found under --out or run now

@pytest.fixture
def toy_pair(monkeypatch):
    """``t-base`` (draws a number) and ``t-dep`` (reads t-base's metrics, then draws)."""
    from dataclasses import dataclass

    from stridelab.experiments import registry

    @dataclass
    class Cfg:
        bonus: float = 0.0  # added to the base value
        base_run: str = ""  # a named t-base run to read (empty: find or run one)

    calls = []

    def base(config, ctx):
        calls.append("t-base")
        return {"value": 0.5 + config.bonus, "seed": ctx.seed}

    def dep(config, ctx):
        got = ctx.dependency("t-base", config.base_run or None)
        return {"base_value": got["value"], "draw": float(np.random.random())}

    toy = {"t-base": registry.Experiment("t-base", Cfg, base, "base", order=1),
           "t-dep": registry.Experiment("t-dep", Cfg, dep, "dep", order=2, depends=("t-base",))}
    monkeypatch.setattr(registry, "_REGISTRY", toy)
    return calls


def test_dependency_is_run_when_missing_then_found(tmp_path, toy_pair):
    from stridelab.experiments.runner import run_experiment

    first = run_experiment("t-dep", out=tmp_path, device="cpu", echo=False)
    assert first.status == "ok", first.reason
    assert first.metrics["base_value"] == 0.5 and toy_pair == ["t-base"]
    assert json.loads((tmp_path / "t-base" / "status.json").read_text())["status"] == "ok"
    record = json.loads((first.out / "config.json").read_text())["dependencies"]
    assert record == {"t-base": {"run": str(tmp_path / "t-base"), "source": "ran"}}
    second = run_experiment("t-dep", out=tmp_path, device="cpu", echo=False)
    assert toy_pair == ["t-base"]  # found, not run again
    assert json.loads((second.out / "config.json").read_text())["dependencies"]["t-base"] == \
        {"run": str(tmp_path / "t-base"), "source": "found"}
    # the dependent's own random draws do not depend on whether its dependency had to run
    assert first.metrics["draw"] == second.metrics["draw"]


def test_dependency_in_another_mode_is_not_used(tmp_path, toy_pair):
    from stridelab.experiments.runner import run_experiment

    run_experiment("t-base", out=tmp_path, device="cpu", echo=False, quick=True)
    run_experiment("t-dep", out=tmp_path, device="cpu", echo=False)
    assert toy_pair == ["t-base", "t-base"]  # the quick run does not stand in for a full one
    assert (tmp_path / "t-base-2" / "metrics.json").exists()


def test_dependency_from_a_named_run(tmp_path, toy_pair):
    from stridelab.experiments.runner import run_experiment

    named = run_experiment("t-base", out=tmp_path / "elsewhere", device="cpu", echo=False,
                           overrides={"bonus": "0.25"})
    result = run_experiment("t-dep", out=tmp_path, device="cpu", echo=False,
                            overrides={"base_run": str(named.out)})
    assert result.metrics["base_value"] == 0.75
    assert toy_pair == ["t-base"]
    broken = run_experiment("t-dep", out=tmp_path, device="cpu", echo=False,
                            overrides={"base_run": str(tmp_path)})
    assert broken.status == "failed" and broken.user_error
    assert "not a finished t-base run" in broken.reason
    assert broken.out is None  # a ConfigError: the new run directory is removed


def test_undeclared_dependency_is_a_programming_error(tmp_path):
    ctx = RunContext(tmp_path / "run", name="toy", config={}, seed=0, device="cpu", echo=False)
    with pytest.raises(ValueError, match="not declared"):
        ctx.dependency("svc-baseline")


# ---------------------------------------------------------------------------------------------
# helpers every study shares (experiments.plots)

def test_take():
    from stridelab.experiments.plots import take

    assert (take(0, 10), take(3, 10), take(30, 10)) == (10, 3, 10)


def test_subsample_is_stratified_seeded_and_ordered():
    from stridelab.experiments.plots import subsample

    y = np.array([0] * 6 + [1] * 3 + [2] * 1)  # shares 0.6, 0.3, 0.1
    X = np.arange(10) * 10
    X_sub, y_sub = subsample(X, y, 5, seed=0)
    # 5 · (0.6, 0.3, 0.1) = (3, 1.5, 0.5): floors (3, 1, 0) sum to 4, and the one left goes to
    # the first of the two largest remainders (class 1)
    assert np.bincount(y_sub, minlength=3).tolist() == [3, 2, 0]
    assert np.all(np.diff(X_sub) > 0)  # original order kept
    assert np.array_equal(X_sub // 10, np.flatnonzero(np.isin(X, X_sub)))
    assert np.array_equal(y[X_sub // 10], y_sub)  # rows stay paired
    again, _ = subsample(X, y, 5, seed=0)
    assert np.array_equal(again, X_sub)
    draws = {tuple(subsample(X, y, 5, seed=s)[0]) for s in range(10)}
    assert len(draws) > 1
    for n in (0, 10, 11):
        X_all, y_all = subsample(X, y, n, seed=0)
        assert np.array_equal(X_all, X) and np.array_equal(y_all, y)
    with pytest.raises(ValueError, match="10 samples but y has 9"):
        subsample(X, y[:9], 5, seed=0)


def test_to_float():
    from stridelab.experiments.plots import to_float

    out = to_float(np.array([[0, 255, 51]], dtype=np.uint8))
    assert out.dtype == np.float32 and out.shape == (1, 3)
    assert out[0].tolist() == pytest.approx([0.0, 1.0, 0.2])
    with pytest.raises(TypeError, match="uint8"):
        to_float(np.zeros(3))
