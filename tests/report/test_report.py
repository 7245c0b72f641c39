"""The report is built from artifacts alone and shows every run, its lessons, figures and notes."""

import json
import subprocess
import sys

import matplotlib.pyplot as plt
import pytest

from stridelab.errors import StridelabError
from stridelab.experiments.artifacts import RunContext, write_json_atomic
from stridelab.experiments.narrate import Lesson
from stridelab.report import build_report, collect_runs
from stridelab.report.page import format_value

LESSON = Lesson(say="The CNN beats the SVC baseline", metric="test_accuracy", op=">=",
                quick=0.98, full=0.975, label="CNN test accuracy")


def fake_run(root, name, status="ok", metrics=None, finished="2026-01-01T00:00:00",
             dirname=None, quick=True, lessons=(LESSON,), dataset="mnist-5k"):
    ctx = RunContext(root / (dirname or name), name=name, config={"epochs": 1}, seed=0,
                     device="cpu", echo=False, quick=quick)
    if dataset:
        ctx.data_record = {"name": dataset, "sha256": "ab" * 32}
        ctx.write_config()
    fig, ax = plt.subplots()
    ax.set_title(f"{name} figure")
    ctx.savefig(fig, "curve", caption=f"{name} curve")
    ctx.note(f"**{name}** says hello.")
    ctx.write_text("answers.md", "# Answer\n\n$y = 1$")
    metrics = metrics or {"test_accuracy": 0.5}
    if status == "ok":
        write_json_atomic(ctx.out / "metrics.json", metrics)
        if lessons:
            write_json_atomic(ctx.out / "lessons.json",
                              [lesson.judge(metrics, quick=quick) for lesson in lessons])
    write_json_atomic(ctx.out / "status.json", {
        "experiment": name, "status": status, "reason": "" if status == "ok" else "why not",
        "seconds": 1.5, "key_metric": "test_accuracy", "description": f"{name} desc",
        "finished": finished, "order": 1})
    return ctx.out


def record(name, value, *, dataset="mnist-5k", seed=0, met=True):
    return {"name": name, "dataset": {"name": dataset, "sha256": "cd" * 32},
            "metrics": {"test_accuracy": value},
            "lessons": [{"say": LESSON.say, "metric": "test_accuracy", "label": LESSON.label,
                         "op": ">=", "value": value, "target": 0.975, "target_metric": None,
                         "met": met, "mode": "full"}],
            "config": {"epochs": 10}, "seed": seed, "date": "2026-01-02",
            "machine": "2-core CPU", "stridelab_version": "0.1.0"}


def index_row(page, name):
    start = page.index(f'<a href="#run-{name}">')
    return page[start:page.index("</tr>", start)]


def test_report_lists_runs_lessons_and_embeds_figures(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "alpha", metrics={"test_accuracy": 0.987})
    fake_run(runs, "beta", status="skipped")
    page = build_report(runs, tmp_path / "report.html", results=tmp_path).read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "<strong>alpha</strong> says hello." in page
    row = index_row(page, "alpha")
    # the lesson in plain words, its value and target, met (0.987 >= 0.98)
    assert "The CNN beats the SVC baseline: CNN test accuracy <b>0.987</b>, target ≥ 0.98" in row
    assert '<span class="badge ok">met</span>' in row
    assert "test_accuracy" not in row  # plain words, not the raw metric key
    assert "why not" in index_row(page, "beta") and ">skipped<" in index_row(page, "beta")
    assert "<h1>Answer</h1>" in page  # the text artifact, expanded
    assert "<details" not in page  # nothing collapsed: printing shows every answer


def test_a_lesson_not_met_shows_not_met(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "alpha", metrics={"test_accuracy": 0.97})  # below the quick target 0.98
    page = build_report(runs, tmp_path / "r.html", results=tmp_path).read_text()
    assert '<span class="badge fail">not met</span>' in index_row(page, "alpha")
    assert '<h2>alpha <span class="badge fail">not met</span></h2>' in page


def test_header_says_quick_run_when_any_run_was_quick(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "alpha", quick=False, metrics={"test_accuracy": 0.99})
    page = build_report(runs, tmp_path / "r.html", results=tmp_path).read_text()
    assert "quick run" not in page and '<p class="subtitle">full runs</p>' in page
    fake_run(runs, "beta", quick=True, metrics={"test_accuracy": 0.99})
    page = build_report(runs, tmp_path / "r.html", results=tmp_path).read_text()
    assert "quick run: 1 of 2 runs used the --quick configuration" in page
    assert "2 of 2 judged lessons met" in page


def test_quick_run_shows_the_full_run_record_beside_it(tmp_path):
    runs, results = tmp_path / "runs", tmp_path / "results"
    fake_run(runs, "alpha", metrics={"test_accuracy": 0.982})
    fake_run(runs, "beta", metrics={"test_accuracy": 0.99})
    results.mkdir()
    (results / "alpha-mnist-5k.json").write_text(json.dumps(record("alpha", 0.988)))
    (results / "alpha-mnist.json").write_text(json.dumps(record("alpha", 0.9966,
                                                                dataset="mnist")))
    (results / "broken.json").write_text("[1, 2]")
    page = build_report(runs, tmp_path / "r.html", results=results).read_text()
    # the record on the run's own data set first, in the index and in the lessons table
    assert "full run: 0.988 on mnist-5k, target ≥ 0.975: met" in index_row(page, "alpha")
    assert "0.988 on mnist-5k, target ≥ 0.975: met; 0.9966 on mnist, target ≥ 0.975: met" in page
    assert "no full-run record" in index_row(page, "beta")
    assert "2 result records" in page
    assert "results/broken.json holds a list, expected an object" in page


def test_several_seeds_give_mean_and_range(tmp_path):
    runs, results = tmp_path / "runs", tmp_path / "results"
    fake_run(runs, "alpha", metrics={"test_accuracy": 0.982})
    results.mkdir()
    for seed, value in enumerate((0.97, 0.98, 0.99)):
        (results / f"alpha-{seed}.json").write_text(json.dumps(
            record("alpha", value, seed=seed, met=value >= 0.975)))
    page = build_report(runs, tmp_path / "r.html", results=results).read_text()
    # mean of 0.97, 0.98, 0.99 is 0.98; two of the three meet 0.975
    assert "mean 0.98 (n = 3, 0.97–0.99) on mnist-5k, target ≥ 0.975: met in 2 of 3" in page


def test_runs_without_lessons_show_their_key_metric(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "alpha", metrics={"test_accuracy": 0.5}, lessons=())
    page = build_report(runs, tmp_path / "r.html", results=tmp_path).read_text()
    assert "test_accuracy = <b>0.5</b>" in index_row(page, "alpha")
    assert "no full-run record" in page


def test_newest_run_of_an_experiment_wins(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "alpha", metrics={"test_accuracy": 0.1}, finished="2026-01-01T00:00:00")
    fake_run(runs, "alpha", metrics={"test_accuracy": 0.9}, finished="2026-02-01T00:00:00",
             dirname="alpha-2")
    (collected,) = collect_runs(runs)
    assert collected.metrics["test_accuracy"] == 0.9
    assert [p.name for p in collected.earlier] == ["alpha"]


def test_unrelated_directories_are_not_runs_and_broken_json_is_damage(tmp_path):
    runs = tmp_path / "runs"
    (runs / "not-a-run").mkdir(parents=True)
    (runs / ".hidden").mkdir()
    (runs / "broken").mkdir()
    (runs / "broken" / "status.json").write_text("{not json")
    (collected,) = collect_runs(runs)
    assert collected.name == "broken" and collected.state == "damaged"
    assert collected.damage[0].startswith("status.json is not valid JSON")


def test_nothing_to_report_is_an_error(tmp_path):
    (tmp_path / "runs" / "not-a-run").mkdir(parents=True)
    with pytest.raises(StridelabError, match="nothing to report"):
        build_report(tmp_path / "runs", tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
    proc = subprocess.run([sys.executable, "-m", "stridelab", "report", "--runs",
                           str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "nothing to report" in proc.stderr


def test_a_missing_results_directory_is_a_config_error(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "alpha")
    with pytest.raises(StridelabError, match="no such directory of result records"):
        build_report(runs, tmp_path / "r.html", results=tmp_path / "nope")


def test_report_module_never_imports_torch(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "alpha")
    code = ("import sys; from stridelab.report import build_report; "
            f"build_report({str(runs)!r}, {str(tmp_path / 'r.html')!r}); "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'stridelab'))))")
    proc = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True,
                          text=True, check=True, timeout=120)
    modules = json.loads(proc.stdout)
    assert not [m for m in modules if m == "torch" or m.startswith("torch.")]
    assert not [m for m in modules if m.startswith("stridelab.experiments")]


def test_katex_is_inlined_only_when_there_is_math(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "alpha")
    page = build_report(runs, tmp_path / "r.html").read_text()
    assert "katex.render" in page and "data:font/woff2;base64," in page
    assert "fonts/KaTeX" not in page  # no font is fetched from a path that does not exist
    (runs / "alpha" / "answers.md").write_text("no formula")
    (runs / "alpha" / "notes.md").write_text("no formula either")
    page = build_report(runs, tmp_path / "r.html").read_text()
    assert "data:font/woff2" not in page and "data-katex-done" in page


@pytest.mark.parametrize("value, text", [
    (0.98765, "0.9877"), (2.749e-28, "2.75e-28"), (123456.0, "1.23e+05"), (0.0, "0"),
    (12, "12"), (1234567, "1,234,567"), (True, "yes"), (None, "–"),
    (float("nan"), "NaN"), (float("-inf"), "−∞"),
])
def test_format_value(value, text):
    assert format_value(value) == text


def test_records_written_by_record_result_are_read(tmp_path):
    """The committed records (scripts/record_result.py's layout) are read, not called damaged."""
    from pathlib import Path

    from stridelab.report.runs import load_records

    results = Path(__file__).resolve().parents[2] / "results"
    if not any(results.glob("*.json")):
        import pytest

        pytest.skip("no committed result records")
    records, problems = load_records(results)
    assert not problems, problems
    assert {r.name for r in records} >= {"svc-baseline"}
