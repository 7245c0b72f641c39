"""The solution notebook: one section per task, code that reproduces each answer, executed.

- a worked task becomes a call of the notebook API with the task's own numbers, e.g.
  ``worked.conv("8 2 9 8 3; ...", kernels=["1 0 -1; 2 0 -2; 1 0 -1"], padding="same")``
  (the same options as the command line, by name), whose answer Jupyter renders;
- an experiment task reads the run it used (by a path relative to the notebook): the metrics
  the sheet shows and its figures;
- an answer task is its Markdown with every reference filled in.

The notebook is executed with nbclient (kernel ``python3``) in the hand-in folder, where it is
saved with its outputs under the name the sheet asks for.
"""

from __future__ import annotations

import argparse
import json
import os
import pprint
import subprocess
from pathlib import Path
from typing import Any

from stridelab.sheets.commands import (
    command_parser,
    experiment_command_line,
    worked_argv,
    worked_command_line,
)
from stridelab.sheets.model import Sheet, Task
from stridelab.sheets.page import stand_in_note
from stridelab.sheets.run import figure_entry
from stridelab.sheets.submission import title_rows

__all__ = ["build_notebook", "execute_notebook", "write_notebook", "worked_call"]

KERNEL = "python3"
TIMEOUT_S = 600  # per cell


def _py(value: Any) -> str:
    """A Python literal for ``value`` (strings, numbers, lists, dicts)."""
    return pprint.pformat(value, width=88, sort_dicts=False)


def _kwarg(name: str, value: Any) -> str:
    return f"{name}={_py(value)}" if name.isidentifier() else f"**{{{name!r}: {_py(value)}}}"


def _options(parser: argparse.ArgumentParser, args: argparse.Namespace,
             skip: set[str]) -> list[str]:
    """``name=value`` for every option the task set (by its long name, as the API takes it)."""
    out = []
    for action in parser._actions:
        if not action.option_strings or action.dest in skip or action.dest == "help":
            continue
        value = getattr(args, action.dest, None)
        if value is None or value == action.default or value is False:
            continue
        long = next((o for o in action.option_strings if o.startswith("--")),
                    action.option_strings[0])
        name = long.lstrip("-").replace("-", "_")
        out.append(_kwarg(name, value))
    return out


def worked_call(task: Task, figure_dir: str = "figures") -> str:
    """Python source that reproduces ``task``'s answer with ``stridelab.worked``."""
    spec_path = f"{task.id}.json"
    parser = command_parser(task.command)
    args = parser.parse_args(worked_argv(task, spec_path))
    for option in ("out", "graph"):
        if getattr(args, option, None):
            args_value = getattr(args, option)
            setattr(args, option, f"{figure_dir}/{Path(args_value).name}")
    if getattr(args, "image", None) and hasattr(args, "out") and not args.out:
        args.out = f"{figure_dir}/{task.id}-{task.command}.png"
    if task.command == "conv":
        positional = []
        if args.input:
            positional.append(_py(args.input[0] if len(args.input) == 1
                                  else " | ".join(args.input)))
        options = _options(parser, args, {"input", "kernel", "padding", "stride", "dilation",
                                          "mode", "image", "json", "format"})
        named = []
        if args.image:
            named.append(_kwarg("image", args.image))
        if args.kernel:
            named.append(_kwarg("kernels", list(args.kernel)))
        for key in ("padding", "stride", "dilation", "mode"):
            value = getattr(args, key)
            default = parser.get_default(key)
            if value != default:
                named.append(_kwarg(key, value))
        call = "worked.conv", positional + named + options
    elif task.command == "shape":
        positional = [_py(args.input)] + [_py(layer) for layer in args.layers]
        call = "worked.shape", positional + _options(parser, args, {"input", "json", "format"})
    elif task.command == "backprop":
        spec: Any = task.spec
        if spec is None:
            text = str(args.spec)
            try:
                spec = json.loads(text)
            except ValueError:
                spec = text  # a file name
        call = "worked.backprop", [_py(spec)] + _options(parser, args, {"spec", "json", "format"})
    else:
        call = "worked.derive", [_py(args.topic)] + _options(parser, args,
                                                            {"topic", "json", "format"})
    name, arguments = call
    inner = ",\n    ".join(arguments)
    return f"answer = {name}(\n    {inner},\n)\nanswer" if len(inner) > 60 else \
        f"answer = {name}({inner})\nanswer"


def _experiment_cells(task: Task, record, final_dir: Path) -> list[str]:
    if record.run_dir is None or record.status != "ok":
        return [f"# {task.name} was {record.status}: nothing to read\n"
                f"print({record.reason!r})"]
    try:
        rel = os.path.relpath(Path(record.run_dir).resolve(), Path(final_dir).resolve())
    except ValueError:  # another drive
        rel = str(Path(record.run_dir).resolve())
    cells = [
        "import json\nfrom pathlib import Path\n\n"
        f"run = Path({rel!r})  # the {task.name} run this answer used\n"
        "metrics = json.loads((run / 'metrics.json').read_text())\n"
        "config = json.loads((run / 'config.json').read_text())\n"
        "print('configuration:', config['config'])\n"
        "print('data:', config.get('dataset'))"
    ]
    if task.metrics:
        keys = ", ".join(repr(m) for m in task.metrics)
        cells.append(
            "def value(path):\n"
            "    v = metrics\n"
            "    for part in path.split('.'):\n"
            "        v = v[int(part)] if isinstance(v, list) else v[part]\n"
            "    return v\n\n"
            f"{{m: value(m) for m in [{keys}]}}")
    if task.figures:
        names = [(figure_entry(record, f) or {"file": f})["file"] for f in task.figures]
        cells.append("from IPython.display import Image, display\n\n"
                     f"for name in {names!r}:\n"
                     "    display(Image(filename=str(run / 'figures' / name)))")
    if task.texts:
        cells.append("from IPython.display import Markdown, display\n\n"
                     f"for name in {list(task.texts)!r}:\n"
                     "    text = (run / name).read_text()\n"
                     "    display(Markdown(text) if name.endswith('.md') else text)")
    return cells


def build_notebook(sheet: Sheet, shown: list[Task], worked: dict, runs: dict, values,
                   final_dir: Path, options) -> Any:
    """The notebook (nbformat v4) for the shown tasks; references filled in by ``values``."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from stridelab import __version__

    who = "".join(f"- {label}: {text}\n" for label, text in
                  title_rows(sheet.submission, options.identity))
    cells = [new_markdown_cell(
        f"# {sheet.course}: {sheet.title}\n\n" + who + "\n"
        + (f"{sheet.source}\n\n" if sheet.source else "")
        + f"Model answers made by stridelab {__version__} (`stridelab sheet solve "
          f"{sheet.argument}"
          f"{' --quick' if options.quick else ''}`). Every number below is computed "
          "by the code cells, or read from the experiment runs they name; run this notebook "
          "from the folder it is in."),
        new_code_cell("from stridelab import worked")]
    for task in shown:
        head = f"## {task.label}\n\n> **Task.** " + task.statement.replace("\n", "\n> ")
        note = stand_in_note(sheet, task)
        if note:
            head += "\n\n" + note
        if task.kind == "worked":
            cells.append(new_markdown_cell(head + "\n\nThe same as `"
                                           + worked_command_line(task) + "`:"))
            cells.append(new_code_cell(worked_call(task)))
        elif task.kind == "experiment":
            cells.append(new_markdown_cell(
                head + "\n\nThe run was made by "
                f"`{experiment_command_line(task, options.mode, options.seed)}`; "
                "these cells read what it recorded."))
            cells += [new_code_cell(src) for src in _experiment_cells(task, runs[task.id],
                                                                       final_dir)]
        else:
            cells.append(new_markdown_cell(head))
        for key, text in (("answer", task.answer), ("if_skipped", task.if_skipped)):
            if not text:
                continue
            if key == "if_skipped" and (task.kind != "experiment"
                                        or runs[task.id].status != "skipped"):
                continue
            if key == "answer" and task.kind == "experiment" and runs[task.id].status != "ok":
                continue
            cells.append(new_markdown_cell(values.render(task, key, text)))
    nb = new_notebook(cells=cells)
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
