"""Plan a solve: what was asked for, which tasks to compute, and the checks made before any run.

- :class:`SolveOptions`: what ``stridelab sheet solve`` was asked for;
- :func:`select_tasks`: the tasks shown (``--tasks``) and the tasks computed (those and every task
  their answers read from);
- :func:`check_requests`: each experiment task's request as the runner checks it (bounds, device,
  data set), so a bad one stops the solve before anything trains;
- :func:`check_references`: every reference of every answer, against the worked answers once they
  are computed and against the runs' metrics once they are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stridelab.errors import ConfigError
from stridelab.sheets import refs as _refs
from stridelab.sheets.loader import answer_texts, check_reference, resolve_target, task_id
from stridelab.sheets.model import Sheet, Task
from stridelab.sheets.results import WorkedResult
from stridelab.sheets.submission import Identity
from stridelab.sheets.values import Values, value_at

__all__ = ["SolveOptions", "select_tasks", "check_requests", "check_references", "dataset_for"]


@dataclass
class SolveOptions:
    """What ``stridelab sheet solve`` was asked for."""

    quick: bool = False  # the experiments' --quick configurations
    smoke: bool = False  # the tiny test configurations (hidden --smoke)
    tasks: list[str] | None = None  # labels or ids to solve (with what they reference)
    out: Path = Path("solutions")  # the solution goes to OUT/NAME/
    runs: Path = Path("runs")  # where runs are looked for and written
    dataset: str | None = None
    data_dir: str | None = None
    seed: int = 0
    device: str = "auto"
    pdf: bool = True
    notebook: bool = True
    verbose: bool = False  # echo the experiments' logs
    identity: Identity = field(default_factory=Identity)  # who hands in (placeholders if empty)

    @property
    def mode(self) -> str:
        return "smoke" if self.smoke else "quick" if self.quick else "full"


# ---------------------------------------------------------------------------------------------
# which tasks


def _matches(task: Task, wanted: str) -> bool:
    """``2.1`` selects 2.1, 2.1i, 2.1ii ... (not 2.10); a label or an id selects itself only."""
    w = wanted.strip()
    if w in (task.label, task.id):
        return True
    w = task_id(w)
    if not w[-1:].isdigit():  # "2.1i" is one task: it must not also select 2.1ii, 2.1iii ...
        return task.id == w
    return task.id.startswith(w) and len(task.id) > len(w) \
        and not task.id[len(w)].isdigit()


def select_tasks(sheet: Sheet, wanted: list[str] | None) -> tuple[list[Task], list[Task]]:
    """(tasks shown, tasks computed): the selection, and it plus what it references."""
    if not wanted:
        return list(sheet.tasks), list(sheet.tasks)
    shown = []
    for w in wanted:
        hit = [t for t in sheet.tasks if _matches(t, w)]
        if not hit:
            labels = ", ".join(t.label for t in sheet.tasks)
            raise ConfigError(f"--tasks {w}: no task of {sheet.where} has that label or id "
                              f"(labels: {labels})")
        shown += [t for t in hit if t not in shown]
    needed = {t.id for t in shown}
    frontier = list(shown)
    while frontier:
        task = frontier.pop()
        for key, text in answer_texts(task):
            for ref in _refs.references(text):
                if ref.head == "record":  # a committed result record: nothing to compute
                    continue
                target, _ = resolve_target(sheet, task, key, ref)
                if target is not None and target.id not in needed:
                    needed.add(target.id)
                    frontier.append(target)
    order = [t for t in sheet.tasks if t in shown]
    return order, [t for t in sheet.tasks if t.id in needed]


# ---------------------------------------------------------------------------------------------
# checks before anything runs


def dataset_for(experiment, dataset: str | None) -> str | None:
    """``--dataset`` for this experiment: given only when it fits the experiment's data family."""
    if dataset is None:
        return None
    from stridelab.data import FAMILIES

    families = experiment.families() if hasattr(experiment, "families") else \
        ([experiment.needs] if experiment.needs else [])
    fits = {name for family in families for name in FAMILIES.get(family, (family,))}
    return dataset if dataset in fits else None



def check_requests(sheet: Sheet, tasks: list[Task], options: SolveOptions) -> None:
    """Each experiment task's request as the runner checks it (bounds, device, data set)."""
    from stridelab.experiments import registry
    from stridelab.experiments.runner import check_request

    for task in tasks:
        if task.kind != "experiment":
            continue
        experiment = registry.get(task.name)
        try:
            check_request(experiment, quick=options.quick, smoke=options.smoke,
                          overrides=task.set, dataset=dataset_for(experiment, options.dataset),
                          data_dir=options.data_dir, out=options.runs, device=options.device)
        except ConfigError as exc:
            key = next((f"set.{k}" for k in task.set if k in str(exc)), "name")
            raise sheet.error(task, key, str(exc)) from None



def check_references(sheet: Sheet, tasks: list[Task], known: dict[str, set[str]] | None,
                      worked: dict[str, WorkedResult]) -> None:
    values = Values(sheet, worked, {})
    for task in tasks:
        for key, text in answer_texts(task):
            for ref in _refs.references(text):
                check_reference(sheet, task, key, ref, known)
                if ref.head == "record":
                    continue
                target, path = resolve_target(sheet, task, key, ref)
                if target is not None and target.kind == "worked" and target.id in worked:
                    try:
                        values.value(target, path)
                    except KeyError as exc:
                        raise sheet.error(task, key, f"{ref.text}: {exc.args[0]}") from None
        if task.kind == "worked" and task.show and task.id in worked:
            for path in task.show:
                try:
                    value_at(worked[task.id].data, path.split("."), answer=worked[task.id].answer)
                except KeyError as exc:
                    raise sheet.error(task, "show", f"{path!r}: {exc.args[0]}") from None
