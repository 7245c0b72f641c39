"""The command lines behind a sheet's tasks, built in one place.

A worked task is a call of a worked command (``stridelab conv ...``) with the command line's own
arguments; an experiment task is ``stridelab run NAME`` with its ``--set`` overrides. The loader
parses a worked task's arguments with :func:`command_parser`, the solution page prints
:func:`worked_command_line` and :func:`experiment_command_line`, and the notebook rebuilds the
same call from :func:`worked_argv`. Every worked command is reached through
:mod:`stridelab.worked.commands`, never through the module that implements it.
"""

from __future__ import annotations

import argparse
import functools
import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stridelab.sheets.model import Task

__all__ = ["command_parser", "worked_argv", "worked_command_line", "experiment_command_line"]


@functools.cache
def command_parser(command: str) -> argparse.ArgumentParser:
    """The parser with the worked command's own options (what ``stridelab COMMAND`` takes).

    Built once per command: every variant of a class parses its tasks' arguments, and building
    a parser cost more than parsing with it; ``parse_args`` leaves a parser as it was.
    """
    from stridelab.worked.commands import command_parser as worked_parser

    # no abbreviations: a sheet file spells every option out, so a typo is never taken for one
    return worked_parser(command, add_help=False, allow_abbrev=False)


def worked_argv(task: Task, spec_path: str | None = None) -> list[str]:
    """The argument list of a worked task, with an inline backprop spec's file put first."""
    argv = list(task.args)
    if task.spec is not None:
        argv = [spec_path or "SPEC.json"] + argv
    return argv


def worked_command_line(task: Task) -> str:
    """``stridelab conv --input ...`` as a user would type it (an inline spec as ID.json)."""
    return shlex.join(["stridelab", task.command] + worked_argv(task, f"{task.id}.json"))


def experiment_command_line(task: Task, mode: str = "full", seed: int = 0) -> str:
    """``stridelab run NAME [--quick] [--set k=v ...] [--seed N]`` for an experiment task.

    ``mode`` is ``full``, ``quick`` or ``smoke`` (the test suite's tiny configurations).
    """
    argv = ["stridelab", "run", task.name]
    if mode in ("quick", "smoke"):
        argv.append(f"--{mode}")
    for k, v in task.set.items():
        argv += ["--set", f"{k}={v}"]
    if seed:
        argv += ["--seed", str(seed)]
    return shlex.join(argv)
