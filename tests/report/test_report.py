"""The report is built from artifacts alone and shows every run, its figures and its notes."""

import json
import subprocess
import sys

import matplotlib.pyplot as plt

from stridelab.experiments.artifacts import RunContext, write_json_atomic
from stridelab.report import build_report, collect_runs


def fake_run(root, name, status="ok", metrics=None, finished="2026-01-01T00:00:00",
             dirname=None):
    ctx = RunContext(root / (dirname or name), name=name, config={"epochs": 1}, seed=0,
                     device="cpu", echo=False)
    fig, ax = plt.subplots()
    ax.set_title(f"{name} figure")
    ctx.savefig(fig, "curve", caption=f"{name} curve")
    ctx.note(f"**{name}** says hello.")
    ctx.write_text("answers.md", "# Answer\n\n$y = 1$")
    if status == "ok":
        write_json_atomic(ctx.out / "metrics.json", metrics or {"test_accuracy": 0.5})
    write_json_atomic(ctx.out / "status.json", {
        "experiment": name, "status": status, "reason": "" if status == "ok" else "why not",
        "seconds": 1.5, "key_metric": "test_accuracy", "description": f"{name} desc",
        "finished": finished, "order": 1})
    return ctx.out


def test_report_lists_runs_and_embeds_figures(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "alpha", metrics={"test_accuracy": 0.987, "target": 0.975, "target_met": True})
    fake_run(runs, "beta", status="skipped")
    out = build_report(runs, tmp_path / "report.html")
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "<strong>alpha</strong> says hello." in page
    assert "0.987" in page and "✓ met" in page
    assert "why not" in page and "skipped" in page
    assert "<h1>Answer</h1>" in page


def test_newest_run_of_an_experiment_wins(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "alpha", metrics={"test_accuracy": 0.1}, finished="2026-01-01T00:00:00")
    fake_run(runs, "alpha", metrics={"test_accuracy": 0.9}, finished="2026-02-01T00:00:00",
             dirname="alpha-2")
    (collected,) = collect_runs(runs)
    assert collected.metrics["test_accuracy"] == 0.9
    assert [p.name for p in collected.earlier] == ["alpha"]


def test_report_ignores_unrelated_directories(tmp_path):
    runs = tmp_path / "runs"
    (runs / "not-a-run").mkdir(parents=True)
    (runs / "broken").mkdir()
    (runs / "broken" / "status.json").write_text("{not json")
    assert collect_runs(runs) == []
    assert "0 experiments" in build_report(runs, tmp_path / "r.html").read_text()


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
    assert "stridelab.experiments" not in modules


def test_math_survives_markdown_and_code_stays_code():
    from stridelab.report import _md

    out = _md("Cost $x_1 = \\frac{a}{b}$, $$Y = \\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}$$ "
              "for $5 only.\n\n```text\nplain $b$\n```")
    assert '<span class="math" data-display="0">x_1 = \\frac{a}{b}</span>' in out
    assert "1 &amp; 2 \\\\ 3 &amp; 4" in out  # the row break is not eaten by Markdown
    assert "$5 only" in out  # a lone dollar is not math
    assert "plain $b$" in out  # math signs inside code are left alone


def test_katex_is_inlined_only_when_there_is_math(tmp_path):
    runs = tmp_path / "runs"
    fake_run(runs, "alpha")
    page = build_report(runs, tmp_path / "r.html").read_text()
    assert "katex.render" in page and "data:font/woff2;base64," in page
    assert "fonts/KaTeX" not in page  # no font is fetched from a path that does not exist
