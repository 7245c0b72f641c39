"""The built-in sheets, each solved once per test session in its smoke configuration, shared by
the tests of the page, the voice and the hand-in."""

from pathlib import Path

import pytest

IDENTITY = {
    "yale-663-2": ["--student", "Riddle, Tom Marvolo"],
    "rptu-2": ["--group", "7", "--student", "Riddle, Tom Marvolo", "--matriculation", "123456",
               "--student", "Granger, Hermione Jean", "--matriculation", "234567"],
}


def _chromium() -> bool:
    from stridelab.report.pdf import find_chromium

    browser, driver = find_chromium()
    return bool(browser and driver)


@pytest.fixture(scope="session")
def builtin_solution(smoke_runs, tmp_path_factory):
    """``solution(name) -> (exit code, solution directory)``: each sheet solved once (with its
    notebook executed), lazily,
    reading the shared smoke runs (linked into a runs directory of its own, so the runs that a
    sheet's own settings need are written beside them, not among them)."""
    from stridelab.cli import main

    root = tmp_path_factory.mktemp("builtin-sheets")
    runs = root / "runs"
    runs.mkdir()
    smoke_runs.all()  # the five sheets read nearly every study
    for run in Path(smoke_runs.root).iterdir():
        if run.is_dir():
            (runs / run.name).symlink_to(run.resolve(), target_is_directory=True)
    solved: dict[str, tuple[int, Path]] = {}

    def solution(name: str) -> tuple[int, Path]:
        if name not in solved:
            argv = ["sheet", "solve", name, "--smoke", "--out",
                    str(root / "out"), "--runs", str(runs), *IDENTITY.get(name, [])]
            if not _chromium():
                argv.append("--no-pdf")
            solved[name] = main(argv), root / "out" / name
        return solved[name]

    return solution
