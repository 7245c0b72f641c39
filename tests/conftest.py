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


class SmokeRuns:
    """Every registered study run once per test session, in its smoke configuration, seed 0, on
    the CPU, into one directory, on first use (a study's dependencies first), as `run all`
    runs them: ``smoke_runs[name]`` is the :class:`RunResult`, ``smoke_runs.ok(name)`` the same
    after asserting that it finished, ``smoke_runs.all()`` runs the rest in `run all` order and
    ``smoke_runs.report()`` builds the report from them all. Per-study tests read these runs
    instead of training the same configuration again."""

    def __init__(self, root):
        self.root = root
        self._results = {}
        self._report = None

    def __getitem__(self, name: str):
        from stridelab.experiments.registry import get
        from stridelab.experiments.runner import run_experiment

        if name not in self._results:
            experiment = get(name)
            for dependency in experiment.depends:
                self[dependency]
            self._results[name] = run_experiment(
                experiment, smoke=True, out=self.root, seed=0, device="cpu", echo=False,
                dataset_fallback=True)  # as in `run all`: a skipped run keeps its directory
        return self._results[name]

    def ok(self, name: str):
        result = self[name]
        assert result.status == "ok", f"{name}: {result.reason}"
        return result

    def all(self) -> dict:
        from stridelab.experiments.registry import all_experiments
        from stridelab.experiments.runner import run_order

        return {e.name: self[e.name] for e in run_order(all_experiments())}

    def report(self):
        from stridelab.report import build_report

        if self._report is None:
            self.all()
            self._report = build_report(self.root, self.root / "report.html")
        return self._report


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """The session's :class:`SmokeRuns`: each study trains once per test session."""
    return SmokeRuns(tmp_path_factory.mktemp("smoke-runs"))


@pytest.fixture
def run_cli(capsys):
    """``run_cli(*argv) -> (exit code, stdout, stderr)``: the command line in this process."""
    from stridelab.cli import main

    def run(*argv):
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
