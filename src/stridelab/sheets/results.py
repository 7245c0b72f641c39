"""What a solve computes, as data: a worked task's answer and the run behind an experiment task.

:mod:`stridelab.sheets.run` makes them; the references (:mod:`stridelab.sheets.values`), the page
(:mod:`stridelab.sheets.page`), the notebook and the hand-in read them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stridelab.sheets.model import Task

__all__ = ["WorkedResult", "RunRecord"]


@dataclass
class WorkedResult:
    """A computed worked task: its answer object, JSON form, Markdown and figures."""

    task: Task
    answer: Any
    data: dict
    markdown: str
    argv: list[str]  # the command line (figure paths as the sheet names them)
    args: argparse.Namespace
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class RunRecord:
    """The run behind one experiment task (tasks with the same settings share it)."""

    task: Task
    status: str  # ok, skipped or failed
    run_dir: Path | None
    reused: bool
    seconds: float
    metrics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)  # config.json
    lessons: list = field(default_factory=list)
    figures: list = field(default_factory=list)  # figures/index.json entries
    reason: str = ""
