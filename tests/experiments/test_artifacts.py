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
