"""Result records and the measured-results tables of the README and the documentation.

Records are made here from real smoke runs in a temporary directory (never by hand); the
tables built from them are checked against their values; and the committed tables in README.md
and docs/ must agree with the committed records in results/.
"""

import importlib.util
import json
import statistics
from pathlib import Path

import pytest

from stridelab.experiments.runner import run_experiment

ROOT = Path(__file__).resolve().parents[1]


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


record_result = _script("record_result")
results_table = _script("results_table")


@pytest.fixture(scope="module")
def smoke_records(tmp_path_factory):
    """Two real smoke runs of svc-baseline (seeds 0 and 1) and their records."""
    root = tmp_path_factory.mktemp("runs")
    results = root / "results"
    runs = [run_experiment("svc-baseline", smoke=True, dataset="mnist-5k", out=root, seed=seed,
                           device="cpu", echo=False) for seed in (0, 1)]
    assert all(r.status == "ok" for r in runs), [r.reason for r in runs]
    paths = [record_result.write_record(r.out, results) for r in runs]
    return root, results, runs, paths


def test_a_record_holds_the_run_evidence(smoke_records):
    _, results, runs, paths = smoke_records
    assert [p.name for p in paths] == ["svc-baseline--mnist-5k--smoke--seed0.json",
                                       "svc-baseline--mnist-5k--smoke--seed1.json"]
    record = json.loads(paths[0].read_text())
    config = json.loads((runs[0].out / "config.json").read_text())
    status = json.loads((runs[0].out / "status.json").read_text())
    assert record["metrics"] == json.loads((runs[0].out / "metrics.json").read_text())
    assert record["config"] == config["config"] and record["seed"] == 0
    assert record["dataset"]["sha256"] == config["dataset"]["sha256"]
    assert record["dataset"]["name"] == "mnist-5k"
    assert record["wall_time_s"] == status["seconds"] and record["date"] == status["finished"]
    assert record["machine"]["cpu"] and record["machine"]["cpu_count"] >= 1
    assert record["machine"]["torch_threads"] >= 1
    assert record["versions"]["stridelab"] and record["versions"]["torch"]
    assert record["mode"] == "smoke" and record["overrides"] == {}


def test_recording_the_same_run_again_is_idempotent_another_is_refused(smoke_records, tmp_path):
    _, results, runs, paths = smoke_records
    assert record_result.write_record(runs[0].out, results) == paths[0]
    changed = json.loads(paths[0].read_text())
    changed["wall_time_s"] = -1.0
    clash = tmp_path / "results"
    clash.mkdir()
    (clash / paths[0].name).write_text(json.dumps(changed))
    with pytest.raises(record_result.RecordError, match="exists and holds another run"):
        record_result.write_record(runs[0].out, clash)
    assert record_result.write_record(runs[0].out, clash, force=True) == clash / paths[0].name


def test_only_finished_runs_are_recorded(smoke_records, tmp_path, capsys):
    root, _, runs, _ = smoke_records
    failed = tmp_path / "svc-baseline"
    failed.mkdir()
    for name in ("config.json", "metrics.json"):
        (failed / name).write_text((runs[0].out / name).read_text())
    (failed / "status.json").write_text(json.dumps({"status": "failed"}))
    assert record_result.main([str(failed), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "status is 'failed'" in err
    assert record_result.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_variant_tags():
    assert record_result.variant_tag("full", {}) == ""
    assert record_result.variant_tag("quick", {}) == "quick"
    assert record_result.variant_tag("full", {"epochs": "8", "lr": "0.1"}) == "epochs=8-lr=0.1"
    long = record_result.variant_tag("full", {f"k{i}": "x" * 10 for i in range(6)})
    assert long.startswith("set") and len(long) == 13


def test_summarise_gives_mean_and_min_max():
    assert results_table.summarise([0.947]) == "0.947"
    assert results_table.summarise([0.9, 0.9]) == "0.9"  # seeds that agree: no spread
    assert results_table.summarise([0.5, 0.75, 1.0]) == "0.75 (0.5–1)"
    assert results_table.summarise([0.9412, 0.9388]) == "0.94 (0.9388–0.9412)"


def test_the_table_agrees_with_the_records(smoke_records):
    _, results, _, paths = smoke_records
    records = [json.loads(p.read_text()) for p in paths]
    table = results_table.build_table(results_table.load_records(results))
    rows = table.strip().splitlines()[2:]
    # two seeds of one study/data/config: one row per lesson (or one for the key metric), n = 2
    lessons = records[0]["lessons"]
    assert len(rows) == max(1, len(lessons))
    for i, row in enumerate(rows):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[:4] == ["`svc-baseline`", "mnist-5k", "smoke", "2"]
        if lessons:
            label = lessons[i]["label"]
            values = [r["lessons"][i]["value"] for r in records]
            met = sum(bool(r["lessons"][i]["met"]) for r in records)
            if lessons[i]["target"] is not None:
                assert cells[6] == f"{met}/2"
        else:
            label = "test_accuracy"
            values = [r["metrics"]["test_accuracy"] for r in records]
        spread = "" if len(set(values)) == 1 else f" ({min(values):.4g}–{max(values):.4g})"
        assert cells[4] == f"{label} {statistics.fmean(values):.4g}{spread}"


def _marked_checkout(root: Path) -> Path:
    """A checkout with every marked file that results_table writes, and no benchmark scripts."""
    for rel, names in (("README.md", ("engine-vs-torch", "kmeans-vs-sklearn", "results-summary")),
                       ("docs/experiments.md", ("results",)),
                       ("docs/benchmarks.md", ("time-to-accuracy",)),
                       ("docs/engine.md", ("engine-vs-torch",)),
                       ("docs/kmeans.md", ("kmeans-vs-sklearn",))):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        blocks = "".join(f"<!-- {name}:start -->\nold\n<!-- {name}:end -->\n\n" for name in names)
        path.write_text(f"# {rel}\n\n{blocks}after\n")
    return root


def _block(path: Path, name: str) -> str:
    text = path.read_text()
    return text.split(f"<!-- {name}:start -->\n", 1)[1].split(f"<!-- {name}:end -->", 1)[0]


def test_tables_are_written_between_markers_and_checked(smoke_records, tmp_path, capsys):
    _, results, _, paths = smoke_records
    root = _marked_checkout(tmp_path / "checkout")
    argv = ["--root", str(root), "--results", str(results)]
    assert results_table.main(argv + ["--check"]) == 1
    assert "README.md (results-summary)" in capsys.readouterr().err
    assert results_table.main(argv) == 0
    records = results_table.load_records(results)
    assert _block(root / "docs" / "experiments.md", "results") == \
        results_table.build_table(records)
    assert _block(root / "README.md", "results-summary") == \
        results_table.build_summary_table(records)
    assert (root / "README.md").read_text().endswith("<!-- results-summary:end -->\n\nafter\n")
    # no time-to-accuracy records and no benchmark scripts here: those blocks stay as they were
    for rel, name in (("docs/benchmarks.md", "time-to-accuracy"),
                      ("docs/engine.md", "engine-vs-torch"),
                      ("docs/kmeans.md", "kmeans-vs-sklearn")):
        assert _block(root / rel, name) == "old\n"
    err = capsys.readouterr().err
    assert "engine_vs_torch.py has no --table option" in err and "kmeans_vs_sklearn.py" in err
    assert results_table.main(argv + ["--check"]) == 0
    # a record that changes makes the tables stale
    record = json.loads(paths[1].read_text())
    record["metrics"]["test_accuracy"] = 0.123
    for lesson in record["lessons"]:
        lesson["value"] = 0.123
    other = tmp_path / "results"
    other.mkdir()
    (other / paths[0].name).write_text(paths[0].read_text())
    (other / paths[1].name).write_text(json.dumps(record))
    assert results_table.main(["--root", str(root), "--results", str(other), "--check"]) == 1
    assert "differ from the records" in capsys.readouterr().err


def test_the_summary_has_one_row_per_study_in_the_default_configuration(smoke_records):
    _, _, _, paths = smoke_records
    records = [json.loads(p.read_text()) for p in paths]
    assert results_table.build_summary_table(records).count("\n") == 2  # smoke runs: no rows
    for record in records:  # the same two seeds, read as the full default configuration
        record["mode"] = "full"
    rows = results_table.build_summary_table(records).strip().splitlines()[2:]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[:3] == ["`svc-baseline`", "mnist-5k", "2"]
    lessons = records[0]["lessons"]
    if lessons:
        i = next((k for k, lesson in enumerate(lessons)
                  if lesson["metric"] == records[0]["key_metric"]), 0)
        values = [r["lessons"][i]["value"] for r in records]
        judged = [lesson for r in records for lesson in r["lessons"]
                  if lesson["target"] is not None]
        assert cells[4] == f"{sum(bool(j['met']) for j in judged)}/{len(judged)}"
        label = lessons[i]["label"]
    else:
        values = [r["metrics"]["test_accuracy"] for r in records]
        label = "test_accuracy"
    spread = "" if len(set(values)) == 1 else f" ({min(values):.4g}–{max(values):.4g})"
    assert cells[3].startswith(f"{label} {statistics.fmean(values):.4g}{spread}")


def test_a_benchmark_script_with_a_table_option_fills_its_block(tmp_path, capsys):
    root = _marked_checkout(tmp_path / "checkout")
    (root / "results").mkdir()
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "engine_vs_torch.py").write_text(
        "import argparse\n"
        "parser = argparse.ArgumentParser()\n"
        'parser.add_argument("--table", action="store_true")\n'
        "if parser.parse_args().table:\n"
        '    print("| case | ratio |\\n|---|---|\\n| a | 0.9 |")\n')
    (root / "benchmarks" / "kmeans_vs_sklearn.py").write_text("print('{}')\n")
    assert results_table.main(["--root", str(root)]) == 0
    assert _block(root / "docs" / "engine.md", "engine-vs-torch") == \
        "| case | ratio |\n|---|---|\n| a | 0.9 |\n"
    # the README shows the same table
    assert _block(root / "README.md", "engine-vs-torch") == \
        _block(root / "docs" / "engine.md", "engine-vs-torch")
    assert _block(root / "docs" / "kmeans.md", "kmeans-vs-sklearn") == "old\n"
    assert "kmeans_vs_sklearn.py has no --table option" in capsys.readouterr().err
    # a script whose --table fails: one line, exit 2, nothing rewritten
    (root / "benchmarks" / "kmeans_vs_sklearn.py").write_text(
        'import sys\nif "--table" in sys.argv:\n    sys.exit("no records in results/benchmarks")\n')
    before = {p: p.read_text() for p in root.rglob("*.md")}
    assert results_table.main(["--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kmeans_vs_sklearn.py --table failed" in err
    assert "no records in results/benchmarks" in err
    assert {p: p.read_text() for p in root.rglob("*.md")} == before


def test_a_file_without_markers_is_refused_and_nothing_is_rewritten(tmp_path, capsys):
    root = _marked_checkout(tmp_path / "checkout")
    (root / "results").mkdir()
    (root / "docs" / "experiments.md").write_text("# no markers\n")
    before = {p: p.read_text() for p in root.rglob("*.md")}
    assert results_table.main(["--root", str(root), "--check"]) == 1
    assert results_table.main(["--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "docs/experiments.md needs one <!-- results:start --> line" in err
    assert "nothing rewritten" in err
    assert {p: p.read_text() for p in root.rglob("*.md")} == before


def test_committed_tables_match_committed_records():
    assert results_table.main(["--check"]) == 0, \
        "a table in README.md or docs/ differs from results/*.json: run " \
        "`python scripts/results_table.py`"


def test_a_label_with_bars_stays_in_its_cell():
    record = {"experiment": "fixed-filters", "metrics": {}, "seed": 0,
              "lessons": [{"metric": "max_abs_diff", "label": "max |a − b|", "value": 1e-7,
                           "op": "<=", "target": 1e-5, "met": True}]}
    row = results_table.build_table([record]).splitlines()[-1]
    cells = [c for c in row.replace("\\|", "¦").split("|")][1:-1]
    assert len(cells) == 8 and "max ¦a − b¦ 1e-07" in cells[4]
