"""The solution notebook: one section per task, standing alone in the hand-in folder.

The notebook imports no stridelab and reads nothing outside its own folder, so the folder can be
zipped, handed in and run elsewhere with the libraries a course allows (NumPy, SciPy, PyTorch,
matplotlib, scikit-learn):

- a worked task shows the answer the solve computed (Markdown with formulas) and, for
  convolutions, layer shapes, gradient steps and derivations on numbers, a cell that computes
  the same values a second way and asserts that they agree; a derived formula is checked
  against autograd at random points (:mod:`stridelab.sheets.notebook_worked`);
- an experiment task reads the run it used from ``runs/<key>.json`` (configuration, data set,
  metrics) and shows the figures the run drew (copied to ``runs/<key>/``);
- a task that asks for a program shows the program's source in a cell (built from the file
  handed in beside it, so there is one definition), and where the solve trained its model, a cell
  that loads those weights and draws the program's figures from a sample of test images
  (:mod:`stridelab.sheets.notebook_programs`);
- an answer task is its Markdown with every reference filled in.

The notebook is executed with nbclient (kernel ``python3``) in the hand-in folder, where it is
saved with its outputs under the name the sheet asks for.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from stridelab.sheets import bundle
from stridelab.sheets.commands import experiment_command_line, worked_command_line
from stridelab.sheets.handin import HandIn
from stridelab.sheets.model import Sheet, Task
from stridelab.sheets.notebook_programs import recipe_for
from stridelab.sheets.notebook_worked import helper_cells, recompute_cell, recompute_heading
from stridelab.sheets.page import stand_in_note
from stridelab.sheets.programs import cell_source
from stridelab.sheets.submission import title_rows
from stridelab.sheets.values import value_at

__all__ = ["build_notebook", "execute_notebook", "write_notebook"]

KERNEL = "python3"
TIMEOUT_S = 600  # per cell

SETUP = """\
import json
import os
from pathlib import Path

import numpy as np
from IPython.display import Image, Markdown, display


def load_run(key):
    \"\"\"A run's record in this folder: experiment, mode, seed, config, dataset, metrics.\"\"\"
    return json.loads(Path("runs", f"{key}.json").read_text())


def value(record, path):
    \"\"\"A metric by its dotted path, e.g. value(run, "most_confused.0.true").\"\"\"
    v = record["metrics"]
    for part in path.split("."):
        v = v[int(part)] if isinstance(v, list) else v[part]
    return v
"""


def _demote(markdown: str, by: int = 2) -> str:
    return "\n".join("#" * by + line if line.startswith("#") else line
                     for line in markdown.splitlines())


class _Builder:
    """Collects the cells, and the files they need in the hand-in folder."""

    def __init__(self, sheet: Sheet, hand_in: HandIn, runs: dict, options):
        from nbformat.v4 import new_code_cell, new_markdown_cell

        self.sheet, self.hand_in, self.runs, self.options = sheet, hand_in, runs, options
        self.md, self.code = new_markdown_cell, new_code_cell
        self.cells: list = []
        self.shown_programs: dict[str, str] = {}  # program -> label of the task that shows it

    def worked(self, task: Task, result) -> None:
        self.cells.append(self.md(f"Computed by stridelab (`{worked_command_line(task)}`):"))
        if task.show:
            from stridelab.sheets import refs

            body = "\n\n".join(
                f"**{path}**: " + refs.format_value(value_at(result.data, path.split("."),
                                                             answer=result.answer))
                for path in task.show)
        else:
            body = _demote(result.markdown.strip())
        for fig in result.figures:  # figures the worked command drew: beside the notebook
            name = f"figures/{fig.name}"
            if name not in self.hand_in.entries:
                self.hand_in.path("figures").mkdir(exist_ok=True)
                self.hand_in.add_copy(name, fig, f"a figure of the worked task {task.label}")
        self.cells.append(self.md(body))
        cell = recompute_cell(result)
        if cell:
            self.cells.append(self.md(recompute_heading(result)))
            self.cells.append(self.code(cell))

    def experiment(self, task: Task) -> None:
        record = self.runs[task.id]
        command = experiment_command_line(task, self.options.mode, self.options.seed)
        if record.status != "ok":
            self.cells.append(self.md(f"The run (`{command}`) was **{record.status}**: "
                                      f"{record.reason}"))
            return
        key = bundle.run_key(self.sheet, task)
        files = bundle.add_run(self.hand_in, key, task, record)
        self.cells.append(self.md(f"Run by `{command}`; its record is `runs/{key}.json`."))
        lines = [f"run = load_run({key!r})",
                 "print('configuration:', run['config'])",
                 "print('data:', run['dataset'])"]
        if task.metrics:
            lines += ["{m: value(run, m) for m in " + repr(list(task.metrics)) + "}"]
        self.cells.append(self.code("\n".join(lines)))
        if files["figures"]:
            self.cells.append(self.code(f"for path in {files['figures']!r}:  # as the run drew "
                                        "them\n    display(Image(filename=path))"))
        for text in files["texts"]:
            self.cells.append(self.code(f"text = Path({text!r}).read_text()\n"
                                        + ("display(Markdown(text))" if text.endswith(".md")
                                           else "print(text)")))

    def programs(self, task: Task) -> None:
        record = self.runs.get(task.id) if task.kind == "experiment" else None
        for name in task.programs:
            module = name.removesuffix(".py")
            shown_in = self.shown_programs.get(name)
            recipe = recipe_for(name, task.name if task.kind == "experiment" else "", record)
            if recipe is not None and not self._needs(recipe, record):
                recipe = None
            if shown_in is None:
                self.shown_programs[name] = task.label
                what = self.hand_in.entries.get(name, "")
                self.cells.append(self.md(
                    f"**`{name}`** — {what} Its source, as handed in beside this notebook "
                    "(without its command-line entry point, which runs it as a script):"))
                self.cells.append(self.code(f"# {name}\n" + cell_source(name)))
            else:
                self.cells.append(self.md(f"**`{name}`** is shown under {shown_in} above."))
                if recipe is not None:
                    self.cells.append(self.code(f"from {module} import "
                                                + ", ".join(recipe.uses)))
            if recipe is not None:
                self.cells.append(self.md(f"`{name}` on what this solve trained and recorded:"))
                self.cells.append(self.code(recipe.source))

    def _needs(self, recipe, record) -> bool:
        """Copy what ``recipe`` reads into the folder; False when something is not there."""
        if recipe.sample:
            dataset = (record.config.get("dataset") or {}).get("name") if record else None
            if not dataset or bundle.add_mnist_sample(self.hand_in, dataset,
                                                      self.options.data_dir) is None:
                return False
        if recipe.blobs:
            data = next((r.config.get("config", {}).get("data") for r in self.runs.values()
                         if r.status == "ok" and r.task.name.startswith("kmeans-")
                         and r.config.get("config", {}).get("data")), "stand-in-blobs")
            if bundle.add_blobs(self.hand_in, data) is None:
                return False
        for name, run_file in recipe.models.items():
            what = f"the weights the `{record.task.name}` run trained (`{run_file}`), which " \
                   "the notebook loads"
            if bundle.add_run_file(self.hand_in, record, run_file, name, what) is None:
                return False
        return True


def build_notebook(sheet: Sheet, shown: list[Task], worked: dict, runs: dict, values,
                   hand_in: HandIn, options) -> Any:
    """The notebook (nbformat v4) for the shown tasks; the files it reads are put in
    ``hand_in``'s folder as it is built."""
    import nbformat
    from nbformat.v4 import new_notebook

    from stridelab import __version__

    b = _Builder(sheet, hand_in, runs, options)
    who = "".join(f"- {label}: {text}\n" for label, text in
                  title_rows(sheet.submission, options.identity))
    b.cells.append(b.md(
        f"# {sheet.course}: {sheet.title}\n\n" + who + "\n"
        + (f"{sheet.source}\n\n" if sheet.source else "")
        + f"Model answers made by stridelab {__version__} (`stridelab sheet solve "
          f"{sheet.argument}{' --quick' if options.quick else ''}`). This notebook needs only "
          "NumPy, SciPy, PyTorch, matplotlib and scikit-learn, and reads only the files in its "
          "own folder: the programs (`*.py`), the trained models (`*.pt`), each run's record "
          "(`runs/`) and a sample of the data (`data/`). Run it from that folder."))
    b.cells.append(b.code(SETUP))
    helpers = helper_cells({t.command for t in shown if t.kind == "worked"})
    b.cells += [b.code(src) for src in helpers]
    for task in shown:
        head = f"## {task.label}\n\n> **Task.** " + task.statement.replace("\n", "\n> ")
        note = stand_in_note(sheet, task)
        if note:
            head += "\n\n" + note
        b.cells.append(b.md(head))
        if task.kind == "worked":
            b.worked(task, worked[task.id])
        elif task.kind == "experiment":
            b.experiment(task)
        b.programs(task)
        for key, text in (("answer", task.answer), ("if_skipped", task.if_skipped)):
            if not text:
                continue
            if key == "if_skipped" and (task.kind != "experiment"
                                        or runs[task.id].status != "skipped"):
                continue
            if key == "answer" and task.kind == "experiment" and runs[task.id].status != "ok":
                continue
            b.cells.append(b.md(values.render(task, key, text)))
    nb = new_notebook(cells=b.cells)
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    return nb


def execute_notebook(nb: Any, cwd: Path, timeout: int = TIMEOUT_S) -> tuple[Any, str | None]:
    """Run every cell (in ``cwd``); returns the notebook with outputs and an error line or None."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    env_backend = os.environ.get("MPLBACKEND")
    os.environ.setdefault("MPLBACKEND", "Agg")  # the kernel inherits it: no window, no display
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(cwd)}})
    try:
        # the kernel's own start-up chatter (transport warnings) is not the notebook's output
        client.execute(cwd=str(cwd), stderr=subprocess.DEVNULL)
    except CellExecutionError as exc:
        name = getattr(exc, "ename", "") or "error"
        value = getattr(exc, "evalue", "") or str(exc).strip().splitlines()[-1]
        return nb, f"a cell raised {name}: {value}"
    except CellTimeoutError:
        return nb, f"a cell ran longer than {timeout} s"
    except Exception as exc:  # no kernel, a kernel that died ...
        return nb, f"the notebook could not be executed: {type(exc).__name__}: " \
                   f"{str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        if env_backend is None:
            os.environ.pop("MPLBACKEND", None)
    return nb, None


def write_notebook(nb: Any, path: Path) -> Path:
    import nbformat

    from stridelab.atomic import write_text_atomic

    return write_text_atomic(path, nbformat.writes(nb))
