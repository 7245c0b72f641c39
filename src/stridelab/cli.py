"""The ``stridelab`` command line: the front door that knows every room.

Problems with what the user asked for print one line on stderr and exit with status 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import textwrap
from pathlib import Path

from stridelab import __version__
from stridelab.errors import StridelabError

EXIT_USAGE = 2

# commands whose module is imported only when they run, so start-up stays fast: the worked
# solutions (stridelab.worked.commands) and the sheets. name -> (module, one line of help)
def _lazy_commands() -> dict[str, tuple[str, str]]:
    from stridelab.worked.commands import COMMANDS

    table = {c.name: (c.module, c.help) for c in COMMANDS.values()}
    table["sheet"] = ("stridelab.sheets.cli",
                      "solution sheets: list, show and solve a course's exercise sheet")
    return table


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (exit 2) instead of the usage block."""

    def error(self, message: str):  # type: ignore[override]
        raise StridelabError(f"{message} (see `{self.prog} --help`)")


def _console(stderr: bool = True, quiet: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, quiet=quiet)


# ---------------------------------------------------------------------------------------------
# list


def cmd_list(args) -> int:
    from rich.table import Table
    from rich.text import Text

    from stridelab.experiments.registry import (
        all_experiments,
        config_doc,
        describe_bounds,
        field_bounds,
    )

    table = Table(title="stridelab experiments (in `run all` order)", show_lines=args.verbose)
    table.add_column("name", style="bold")
    table.add_column("data")
    table.add_column("description")
    for exp in all_experiments():
        desc = exp.description
        if args.verbose:
            bounds = field_bounds(exp)
            lines = []
            for n, t, d in config_doc(exp.config_cls):
                line = f"  {n}: {t} = {d!r}"
                if describe_bounds(bounds.get(n, {})):
                    line += f" ({describe_bounds(bounds[n])})"
                if n in exp.quick:
                    line += f"  [quick: {exp.quick[n]!r}]"
                lines.append(line)
            desc = "\n".join([desc, *lines])
        # Text, not markup: "[quick: 6]" and list values must print as written
        table.add_row(Text(exp.name), Text(", ".join(exp.families()) or "-"), Text(desc))
    _console(stderr=False).print(table)
    return 0


# ---------------------------------------------------------------------------------------------
# run


_STATUS_COLOURS = {"ok": "green", "skipped": "yellow", "failed": "red"}


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def lesson_line(record: dict) -> str:
    """One judged lesson in plain words: what it says, the measured value, target, met or not."""
    value = f"{record.get('label') or record.get('metric')} {_number(record.get('value'))}"
    if record.get("met") is None:
        return f"– {record.get('say')}: {value} (no target for a {record.get('mode')} run)"
    target = f"target {record.get('op')} {_number(record.get('target'))}"
    if record.get("target_metric"):
        target += f" (from {record['target_metric']})"
    verdict = "met" if record["met"] else "not met"
    return f"{'✓' if record['met'] else '✗'} {record.get('say')}: {value}, {target}: {verdict}"


def _result_text(r) -> str:
    """The summary's result cell: key metric and each lesson (ok), or the reason (otherwise)."""
    if r.status != "ok":
        return r.reason if len(r.reason) <= 300 else r.reason[:299] + "…"
    from stridelab.experiments.registry import get

    lines = []
    metric = get(r.name).key_metric
    if r.metrics.get(metric) is not None:
        line = f"{metric} = {_number(r.metrics[metric])}"
        if "target" in r.metrics:
            verdict = "met" if r.metrics.get("target_met") else "not met"
            line += f" (target {_number(r.metrics['target'])}: {verdict})"
        lines.append(line)
    lines += [lesson_line(record) for record in r.lessons]
    return "\n".join(lines)


def print_summary(console, results, total_seconds: float) -> None:
    """The end-of-run table: one row per experiment, its lessons judged; fits 80 columns."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"summary ({total_seconds:.0f} s)", expand=False)
    table.add_column("experiment", overflow="fold", max_width=20)
    table.add_column("status", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("result, lessons (or why not)", overflow="fold", ratio=1)
    for r in results:
        table.add_row(Text(r.name), Text(r.status, style=_STATUS_COLOURS[r.status]),
                      f"{r.seconds:.1f} s", Text(_result_text(r)))
    console.print(table)


def cmd_run(args) -> int:
    import time

    from rich.markup import escape

    from stridelab.experiments import registry
    from stridelab.experiments.runner import check_request, run_all, run_experiment
    from stridelab.torch.distributed import rank  # (imports no torch)

    overrides = registry.parse_set_args(args.set)
    is_main = rank() == 0  # under torchrun only rank 0 prints and writes
    console = _console() if is_main else _console(quiet=True)
    common = dict(dataset=args.dataset, data_dir=args.data_dir, out=args.out, seed=args.seed,
                  device=args.device, force=args.force, console=console, smoke=args.smoke)
    t0 = time.perf_counter()
    if args.name != "all":
        for option, given in (("--only", args.only), ("--report", args.report),
                              ("--no-report", args.no_report)):
            if given:
                raise StridelabError(f"{option} applies to `stridelab run all`")
        experiment = registry.get(args.name)
        # everything the user asked for is checked before anything is printed or made
        check_request(experiment, quick=args.quick, smoke=args.smoke, overrides=overrides,
                      dataset=args.dataset, data_dir=args.data_dir, out=args.out,
                      device=args.device)
        console.print(f"[bold]{escape(experiment.name)}[/bold]: {escape(experiment.description)}")
        result = run_experiment(experiment, quick=args.quick, overrides=overrides, **common)
        if result.status == "skipped" or result.user_error:
            raise StridelabError(result.reason)  # printed once, by main()
        if result.status == "failed":
            console.print(f"[red]{escape(experiment.name)} failed[/red]: {escape(result.reason)} "
                          f"(traceback in {escape(str(result.out / 'log.txt'))})")
            return 1
        print_summary(console, [result], time.perf_counter() - t0)
        console.print(f"artifacts in {escape(str(result.out))}")
        return 0

    if overrides:
        raise StridelabError("--set applies to one experiment; use `stridelab run NAME --set ...`")
    from stridelab.atomic import directory_problem
    from stridelab.data import DATASET_NAMES, check_data_dir
    from stridelab.experiments.artifacts import check_out_dir
    from stridelab.experiments.runner import resolve_device

    if args.dataset is not None and args.dataset not in DATASET_NAMES:
        raise StridelabError(f"--dataset {args.dataset}: unknown; choose one of: "
                             f"{', '.join(DATASET_NAMES)}")
    check_data_dir(args.data_dir)
    check_out_dir(args.out)
    resolve_device(args.device)
    if args.report and not args.no_report:
        problem = directory_problem(Path(args.report).absolute().parent)
        if problem is not None:
            raise StridelabError(f"--report {args.report}: {problem}")
    experiments = registry.all_experiments()
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        for n in wanted:
            registry.get(n)
        experiments = [e for e in experiments if e.name in wanted]

    def on_start(i, n, exp):
        console.print(f"[bold]\\[{i + 1}/{n}] {escape(exp.name)}[/bold]: "
                      f"{escape(exp.description)}")

    def on_done(i, n, result):
        # the reason is printed once, in the summary table
        console.print(f"  [{_STATUS_COLOURS[result.status]}]{result.status}[/] in "
                      f"{result.seconds:.1f} s")

    results = run_all(quick=args.quick, names=[e.name for e in experiments],
                      on_start=on_start, on_done=on_done, **common)
    total = time.perf_counter() - t0
    print_summary(console, results, total)
    if not args.no_report and is_main:
        from stridelab.report import build_report

        out_file = Path(args.report) if args.report else Path(args.out) / "report.html"
        build_report(args.out, out_file)
        console.print(f"report: {escape(str(out_file))}")
    failed = [r for r in results if r.status == "failed"]
    if failed:
        console.print("[red]failed:[/red] " + escape(", ".join(r.name for r in failed))
                      + " (reasons in the summary above)")
        return 1
    return 0


# ---------------------------------------------------------------------------------------------
# report, data


def cmd_report(args) -> int:
    from stridelab.report import build_report

    runs = Path(args.runs)
    if not runs.is_dir():
        raise StridelabError(f"--runs {runs}: no such directory; run an experiment first "
                             "(`stridelab run all --quick`)")
    if not _holds_a_run(runs):
        raise StridelabError(f"nothing to report in {runs}: it holds no run directories; run an "
                             f"experiment first (`stridelab run all --quick --out {runs}`)")
    out = Path(args.out) if args.out else runs / "report.html"
    if args.results is not None and not Path(args.results).is_dir():
        raise StridelabError(f"--results {args.results}: no such directory of result records")
    path = build_report(runs, out, results=args.results)
    print(path)
    return 0


def _holds_a_run(runs: Path, limit: int = 10_000) -> bool:
    """Whether ``runs`` has a run directory (one holding status.json or config.json)."""
    try:
        with os.scandir(runs) as entries:
            for _, entry in zip(range(limit), entries):
                if entry.name.startswith(".") or not entry.is_dir():
                    continue
                if any((Path(entry.path) / f).is_file() for f in ("status.json", "config.json")):
                    return True
    except OSError:
        return False
    return False


def cmd_data(args) -> int:
    import stridelab.data as data

    if args.action == "list":
        from rich.table import Table

        table = Table(title=f"data sets (data dir: {data.default_data_dir() if args.data_dir is None else args.data_dir})")
        for col in ("name", "present", "location", "description"):
            table.add_column(col)
        for row in data.list_sources(args.data_dir):
            table.add_row(row["name"], "yes" if row["present"] else "no",
                          str(row.get("location") or "-"), row.get("description", ""))
        _console(stderr=False).print(table)
        return 0
    if not args.name:
        raise StridelabError(f"`stridelab data {args.action}` needs a data set name, "
                             f"e.g. `stridelab data {args.action} mnist`")
    if args.action == "verify":
        print(data.verify_source(args.name, args.data_dir))
    else:
        print(data.fetch_source(args.name, args.data_dir))
    return 0


# ---------------------------------------------------------------------------------------------
# the parser


def _command_in(argv: list[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stridelab",
        description="The fundamentals of convolutional neural networks: worked solutions, "
                    "a NumPy autograd engine, k-means and reproducible PyTorch experiments.",
        epilog=textwrap.dedent("""\
            examples:
              stridelab list                                   experiments and what they show
              stridelab run all --quick                        every experiment, small, then a report
              stridelab run mnist-cnn --dataset mnist-5k --set epochs=5
              stridelab conv --input "8 2 9; 3 4 6; 5 9 3" --kernel sobel_x --padding same --explain
              stridelab shape --input 50x50x1 conv:k=4,s=1,p=1,n=8 pool:k=2,s=2 flatten dense:n=10
              stridelab report --runs runs --out report.html
            """),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stridelab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("list", help="list the experiments with one-line descriptions")
    p.add_argument("-v", "--verbose", action="store_true", help="also show each config field")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "run", help="run one experiment (or all) and write its artifacts",
        description="Run an experiment (see `stridelab list`) and write config.json, "
                    "metrics.json, figures and logs under OUT/NAME. `all` runs every "
                    "experiment in a fixed order, skips those whose data is absent, keeps going "
                    "past failures and ends with an HTML report.")
    p.add_argument("name", metavar="NAME|all", help="an experiment name, or `all`")
    p.add_argument("--quick", action="store_true",
                   help="the small documented configuration (minutes on a laptop CPU)")
    p.add_argument("--dataset", help="mnist, mnist-5k, fashion-mnist or cifar10 "
                   "(default: the full set when present, else the embedded mnist-5k)")
    p.add_argument("--data-dir", help="where data sets live (default: $STRIDELAB_DATA or "
                   "~/.cache/stridelab)")
    p.add_argument("--out", default="runs", help="root of the run directories (default: runs)")
    p.add_argument("--seed", type=int, default=0, help="seed for Python, NumPy and PyTorch (default 0)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto picks CUDA when a GPU is visible (default: auto)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config field, type-checked (repeatable)")
    p.add_argument("--force", action="store_true",
                   help="reuse OUT/NAME instead of making a new suffixed directory")
    p.add_argument("--only", help="with `all`: a comma-separated subset of experiments")
    p.add_argument("--report", help="with `all`: where to write the report (default OUT/report.html)")
    p.add_argument("--no-report", action="store_true", help="with `all`: do not write the report")
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tiny, for tests
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="build the HTML report from run artifacts")
    p.add_argument("--runs", default="runs", help="directory of runs (default: runs)")
    p.add_argument("--out", help="output HTML file (default: RUNS/report.html)")
    p.add_argument("--results", help="directory of full-run result records shown beside quick "
                   "runs (default: results/ of the source checkout, when there is one)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "data", help="list, verify or fetch data sets",
        description="Where stridelab finds its data sets, and how to get the ones it lacks.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""\
            actions:
              list             every data set, whether it is present, where, and what it holds
              verify NAME      load NAME with every structural check and compare its checksums
              fetch NAME       download NAME from its public mirrors into the data dir,
                               checking each file's MD5 (a set already present is kept)

            A copy of your own works too: put MNIST's four IDX files (gzipped or not) in
            DATA_DIR/mnist, or CIFAR-10's python tarball or its extracted folder in
            DATA_DIR/cifar10. mnist-5k ships with the install and needs nothing.

            examples:
              stridelab data list
              stridelab data fetch mnist
              stridelab data verify fashion-mnist"""))
    p.add_argument("action", choices=["list", "verify", "fetch"],
                   help="list, verify or fetch (see below)")
    p.add_argument("name", nargs="?", help="mnist, mnist-5k, fashion-mnist or cifar10")
    p.add_argument("--data-dir", help="where data sets live (default: $STRIDELAB_DATA or "
                   "~/.cache/stridelab)")
    p.set_defaults(func=cmd_data)

    selected = _command_in(argv or [])
    for name, (module_name, help_text) in _lazy_commands().items():
        if name != selected:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name):
                raise  # the module exists but something it imports is missing: a real bug
            p = sub.add_parser(name, help=help_text, add_help=False)
            p.add_argument("rest", nargs=argparse.REMAINDER)
            p.set_defaults(func=_unavailable(name, module_name))
            continue
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(func=module.main)
    return parser


def _unavailable(name: str, module_name: str):
    def refuse(args) -> int:
        raise StridelabError(f"`stridelab {name}` is not available in this installation "
                             f"({module_name} is missing)")

    return refuse


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("STRIDELAB_DEBUG") == "1"
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_USAGE
        return int(args.func(args) or 0)
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0) if isinstance(exc.code, int) else 0
    except (StridelabError, json.JSONDecodeError, FileNotFoundError, IsADirectoryError,
            PermissionError) as exc:
        if debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"stridelab: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("stridelab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `stridelab derive all | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
