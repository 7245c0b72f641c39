"""Solution sheets: a course's exercise sheet in, a checked model answer and its hand-in out.

A sheet is a TOML file (``docs/sheets.md``) listing the sheet's tasks in its own order and
numbering; each task is a worked-solution call, an experiment, or a written answer whose numbers
are references to computed values; a ``[submission]`` table says how the course wants the work
handed in. Five course sheets are built in (``builtin/*.toml``).

- :mod:`~stridelab.sheets.loader` reads and validates a sheet (one-line errors naming file, task
  and key); :mod:`~stridelab.sheets.submission` its submission rules and the student's identity;
- :func:`solve_sheet` (:mod:`~stridelab.sheets.solve`) plans (:mod:`~stridelab.sheets.plan`),
  runs (:mod:`~stridelab.sheets.run`), renders (:mod:`~stridelab.sheets.page`,
  :mod:`~stridelab.sheets.notebook`) and hands in (:mod:`~stridelab.sheets.handin`);
- :mod:`stridelab.sheets.cli` is ``stridelab sheet list | show | solve``.

Importing this package imports neither torch nor the experiments.
"""

from stridelab.sheets.loader import Sheet, SheetError, Task, builtin_names, load_sheet
from stridelab.sheets.plan import SolveOptions
from stridelab.sheets.solve import Solution, solve_sheet

__all__ = ["Sheet", "SheetError", "Solution", "SolveOptions", "Task", "builtin_names",
           "load_sheet", "solve_sheet"]
