"""Shared test set-up: a headless matplotlib, and torch limited to the cores CI has."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("STRIDELAB_DATA", os.path.join(os.path.dirname(__file__), ".no-data-dir"))


import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests draw the same examples on every run, so a red CI run reproduces and a green
# one stays green; STRIDELAB_FUZZ=1 draws new examples each run, to hunt for more.
settings.register_profile("fixed", derandomize=True)
settings.register_profile("fuzz", derandomize=False)
settings.load_profile("fuzz" if os.environ.get("STRIDELAB_FUZZ") else "fixed")


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """Every registered experiment run once, in its smoke configuration, in `run all` order
    (dependencies first), and the report built from those runs: (root, {name: RunResult},
    report path). The main-job and contract tests read the same runs, so each study trains
    once per test session."""
    from stridelab.experiments.runner import run_all
    from stridelab.report import build_report

    root = tmp_path_factory.mktemp("smoke-runs")
    results = run_all(smoke=True, out=root, seed=0, device="cpu", echo=False)
    report = build_report(root, root / "report.html")
    return root, {r.name: r for r in results}, report


@pytest.fixture
def run_cli(capsys):
    """``run_cli(*argv) -> (exit code, stdout, stderr)``: the command line in this process."""
    from stridelab.cli import main

    def run(*argv):
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
