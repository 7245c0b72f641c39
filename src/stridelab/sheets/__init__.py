"""Solution sheets: a course's exercise sheet in, a checked model-answer document out.

A sheet is a TOML file (``docs/sheets.md``) listing the sheet's tasks in its own order and
numbering; each task is a worked-solution call, an experiment, or a written answer whose numbers
are references to computed values. Five course sheets are built in (``builtin/*.toml``).

- :func:`load_sheet` reads and validates a sheet (one-line errors naming file, task and key);
- :func:`solve_sheet` computes and runs what it needs and writes ``solution.html``,
  ``solution.pdf`` and ``solution.ipynb`` through :mod:`stridelab.report.render`;
- :mod:`stridelab.sheets.cli` is ``stridelab sheet list | show | solve``.

Importing this package imports neither torch nor the experiments.
"""

from stridelab.sheets.loader import Sheet, SheetError, Task, builtin_names, load_sheet
from stridelab.sheets.solve import Solution, SolveOptions, solve_sheet

__all__ = ["Sheet", "SheetError", "Solution", "SolveOptions", "Task", "builtin_names",
           "load_sheet", "solve_sheet"]
