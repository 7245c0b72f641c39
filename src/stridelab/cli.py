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

# worked-solution commands: name -> (module exposing add_arguments(parser) and main(args), help).
# A module is imported only when its command runs, so start-up stays fast.
WORKED = {
    "conv": ("stridelab.worked._conv",
             "convolve/correlate small matrices or photos, every product shown"),
    "shape": ("stridelab.worked._shape",
              "output shapes and parameter counts of a layer stack, with formulas"),
    "backprop": ("stridelab.worked._backprop",
                 "one gradient-descent step on a tiny network, every partial derivative shown"),
    "derive": ("stridelab.worked._derive",
               "symbolic derivations (softmax, cross-entropy, ridge, conv gradients ...)"),
}


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

    from stridelab.experiments.registry import all_experiments, config_doc

    table = Table(title="stridelab experiments (in `run all` order)", show_lines=args.verbose)
    table.add_column("name", style="bold")
    table.add_column("data")
    table.add_column("description")
    for exp in all_experiments():
        desc = exp.description
        if args.verbose:
            fields = "\n".join(f"  {n}: {t} = {d!r}" + ("  [quick: "
                               f"{exp.quick[n]!r}]" if n in exp.quick else "")
                               for n, t, d in config_doc(exp.config_cls))
            desc = f"{desc}\n{fields}"
        table.add_row(exp.name, exp.needs or "-", desc)
    _console(stderr=False).print(table)
    return 0


# ---------------------------------------------------------------------------------------------
# run


def _print_summary(console, results, total_seconds: float) -> None:
    from rich.table import Table

    table = Table(title=f"summary ({total_seconds:.0f} s)")
    for col in ("experiment", "status", "key metric", "time", "note"):
        table.add_column(col)
    colours = {"ok": "green", "skipped": "yellow", "failed": "red"}
    for r in results:
        key = ""
        if r.status == "ok":
            from stridelab.experiments.registry import get

            metric = get(r.name).key_metric
            value = r.metrics.get(metric)
            if value is not None:
                key = f"{metric} = {value:.4g}" if isinstance(value, float) else f"{metric} = {value}"
                if "target" in r.metrics:
                    mark = "✓" if r.metrics.get("target_met") else "✗"
                    key += f" (target {r.metrics['target']} {mark})"
        table.add_row(r.name, f"[{colours[r.status]}]{r.status}[/]", key, f"{r.seconds:.1f} s",
                      (r.reason[:80] + "…") if len(r.reason) > 80 else r.reason)
    console.print(table)


def _check_dataset_name(name: str | None) -> None:
    from stridelab.data import DATASET_NAMES

    if name is not None and name not in DATASET_NAMES:
        raise StridelabError(f"--dataset {name}: unknown; choose one of: "
                             f"{', '.join(DATASET_NAMES)}")


def cmd_run(args) -> int:
    import time

    from stridelab.experiments import registry
    from stridelab.experiments.runner import (
        distributed_rank,
        resolve_device,
        run_all,
        run_experiment,
    )

    overrides = registry.parse_set_args(args.set)
    resolve_device(args.device)  # a bad --device fails before any work starts
    is_main = distributed_rank() == 0  # under torchrun only rank 0 prints and writes
    console = _console() if is_main else _console(quiet=True)
    common = dict(dataset=args.dataset, data_dir=args.data_dir, out=args.out, seed=args.seed,
                  device=args.device, force=args.force, console=console, smoke=args.smoke)
    t0 = time.perf_counter()
    if args.name != "all":
        experiment = registry.get(args.name)
        experiment.make_config(quick=args.quick, overrides=overrides)  # type-check early
        _check_dataset_name(args.dataset)
        console.print(f"[bold]{experiment.name}[/bold]: {experiment.description}")
        result = run_experiment(experiment, quick=args.quick, overrides=overrides, **common)
        if result.status == "skipped" or result.user_error:
            raise StridelabError(result.reason)
        if result.status == "failed":
            console.print(f"[red]{experiment.name} failed[/red]: {result.reason} "
                          f"(traceback in {result.out / 'log.txt'})")
            return 1
        _print_summary(console, [result], time.perf_counter() - t0)
        console.print(f"artifacts in {result.out}")
        return 0

    _check_dataset_name(args.dataset)
    if overrides:
        raise StridelabError("--set applies to one experiment; use `stridelab run NAME --set ...`")
    experiments = registry.all_experiments()
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        for n in wanted:
            registry.get(n)
        experiments = [e for e in experiments if e.name in wanted]

    def on_start(i, n, exp):
        console.print(f"[bold][{i + 1}/{n}] {exp.name}[/bold]: {exp.description}")

    def on_done(i, n, result):
        colour = {"ok": "green", "skipped": "yellow", "failed": "red"}[result.status]
        extra = f" — {result.reason}" if result.reason else ""
        console.print(f"  [{colour}]{result.status}[/] in {result.seconds:.1f} s{extra}")

    results = run_all(quick=args.quick, names=[e.name for e in experiments],
                      on_start=on_start, on_done=on_done, **common)
    total = time.perf_counter() - t0
    _print_summary(console, results, total)
    if not args.no_report and is_main:
        from stridelab.report import build_report

        out_file = Path(args.report) if args.report else Path(args.out) / "report.html"
        build_report(args.out, out_file)
        console.print(f"report: {out_file}")
    failed = [r for r in results if r.status == "failed"]
    if failed:
        console.print("[red]failed:[/red] " + ", ".join(f"{r.name} ({r.reason})" for r in failed))
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
    out = Path(args.out) if args.out else runs / "report.html"
    path = build_report(runs, out)
    print(path)
    return 0


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
    for name, (module_name, help_text) in WORKED.items():
        if name != selected:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(func=module.main)
    return parser


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
