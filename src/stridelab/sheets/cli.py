"""``stridelab sheet list | show | solve | variant``: a course's exercise sheet in, its model
answers and each student's variant out.

  stridelab sheet list                    the built-in sheets: name, course, title, tasks
  stridelab sheet show NAME|FILE          each task and what it will compute or run (nothing run)
  stridelab sheet variant NAME|FILE --student ID | --roster CSV [--out DIR] [--no-pdf]
                                          each student's numbers: DIR/ID/NAME.toml,
                                          DIR/ID/exercise.{html,pdf} (the sheet without answers)
                                          and DIR/ID/answers.toml (blank)
  stridelab sheet answers NAME|FILE [--student ID | --roster CSV] [--out DIR]
                                          the blank answers files alone
  stridelab sheet grade NAME|FILE ANSWERS... [--out DIR] [--jobs N] [--runs DIR] [--no-pdf]
                                          DIR/grades.csv, DIR/feedback/ID.{html,pdf} and
                                          DIR/model-answers.html (the tasks graded by hand)
  stridelab sheet check NAME|FILE ANSWERS a student's own check: what is right, which slip
  stridelab sheet solve NAME|FILE [--quick] [--tasks 2.1,2.4] [--out DIR] [--runs DIR]
                                  [--dataset D] [--data-dir DIR] [--seed N]
                                  [--device auto|cpu|cuda] [--no-pdf] [--no-notebook]
                                  [--student "Last, Given" [--matriculation N]]... [--group N]
                                  [--student-file student.toml]

solve writes DIR/NAME/solution.html and DIR/NAME/hand-in/: the PDF (headless Chromium) and the
executed notebook under the names the sheet's submission rules give, and the files the sheet
asks for by name; a zip of the hand-in where the sheet asks for one. The student's name (and
group and numbers, where the sheet asks) go into the file names and the title block; without
them the hand-in holds marked placeholders. Experiment runs are reused from --runs
when their config, seed, mode and data sha256 match what this solve would run, so re-solving
after editing one answer takes seconds. A sheet is validated whole before anything runs; a
problem is one line naming the file, the task and the key (exit 2). docs/sheets.md describes
the sheet format.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from stridelab.errors import ConfigError

_EXAMPLES = textwrap.dedent("""\
    examples:
      stridelab sheet list
      stridelab sheet show rptu-2
      stridelab sheet solve rptu-2 --quick
      stridelab sheet solve tuwien-4 --quick --tasks 4.2 --out solutions
      stridelab sheet solve yale-663-2 --quick --student "Riddle, Tom Marvolo"
      stridelab sheet solve rptu-2 --quick --group 7 --student "Riddle, Tom" --matriculation 123456
      stridelab sheet solve my-sheet.toml --no-pdf
      stridelab sheet variant rptu-2 --student s1234567
      stridelab sheet variant rptu-2 --roster roster.csv --out variants
      stridelab sheet grade rptu-2 variants/*/answers.toml --out grades --jobs 2
      stridelab sheet check rptu-2 variants/s1234567/answers.toml
    """)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sheet`` sub-command's actions and options."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__.split("\n\n")[0].strip() if __doc__ else None
    parser.epilog = _EXAMPLES
    sub = parser.add_subparsers(dest="sheet_action", metavar="ACTION",
                                parser_class=type(parser))
    sub.add_parser("list", help="the built-in sheets: name, course, title, number of tasks")
    p = sub.add_parser("show", help="each task and what it will compute or run (nothing runs)")
    p.add_argument("sheet", metavar="NAME|FILE", help="a built-in sheet's name or a .toml file")
    p.add_argument("--quick", action="store_true",
                   help="show the --quick configuration's commands")
    p = sub.add_parser(
        "solve", help="compute, run and write the model answers and the hand-in",
        description="Solve a sheet into OUT/NAME/: solution.html, and hand-in/ with the PDF, "
                    "the notebook and the files the sheet asks for, under the sheet's names.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EXAMPLES)
    p.add_argument("sheet", metavar="NAME|FILE", help="a built-in sheet's name or a .toml file")
    p.add_argument("--quick", action="store_true",
                   help="run each experiment's small documented configuration")
    p.add_argument("--tasks", metavar="LABELS",
                   help="comma-separated labels or ids to solve, e.g. 2.1,2.4 (2.1 also "
                        "selects 2.1 i), 2.1 ii) ...); what they reference is computed too")
    p.add_argument("--out", default="solutions",
                   help="the solution goes to OUT/NAME/ (default: solutions)")
    p.add_argument("--runs", default="runs",
                   help="where experiment runs are reused from and written (default: runs)")
    p.add_argument("--dataset", help="mnist, mnist-5k, fashion-mnist or cifar10, for the "
                   "experiments it fits (default: the full set when present, else mnist-5k)")
    p.add_argument("--data-dir", help="where data sets live (default: $STRIDELAB_DATA or "
                   "~/.cache/stridelab)")
    p.add_argument("--seed", type=int, default=0, help="seed of every experiment (default 0)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto picks CUDA when a GPU is visible (default: auto)")
    p.add_argument("--no-pdf", action="store_true", help="print no PDF (a solve that cannot "
                   "print the PDF it was asked for ends with status 1)")
    p.add_argument("--no-notebook", action="store_true", help="write no notebook")
    who = p.add_argument_group(
        "who hands in", "the names, group and numbers the sheet's submission rules ask for "
        "(file names and the title block); without them, marked placeholders")
    who.add_argument("--student", action="append", metavar="NAME",
                     help='a student\'s name, "Last, Given names" (repeat for each group member)')
    who.add_argument("--matriculation", action="append", metavar="N",
                     help="the matriculation (student) number of the --student before it")
    who.add_argument("--group", metavar="N", help="the group number")
    who.add_argument("--student-file", metavar="FILE",
                     help="a TOML file instead of the three options above: group = 7 and one "
                          "[[student]] table per member with name and matriculation")
    p.add_argument("-v", "--verbose", action="store_true", help="show the experiments' logs")
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tiny, for tests
    p = sub.add_parser(
        "variant", help="each student's variant: the sheet with their numbers, and the exercise",
        description="Draw a student's numbers for every task the sheet varies ([task.vary]) "
                    "from a seed made of the sheet and the student id (the same student always "
                    "gets the same variant), and write OUT/ID/NAME.toml (a complete sheet file "
                    "that records the student and the seed) and OUT/ID/exercise.html and .pdf "
                    "(the statements with those numbers, no answers).",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EXAMPLES)
    p.add_argument("sheet", metavar="NAME|FILE", help="a built-in sheet's name or a .toml file")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--student", metavar="ID", help="one student's id (letters, digits, ._@+-)")
    who.add_argument("--roster", metavar="CSV", help="a CSV of student ids in the first column "
                     "and optionally names in the second; one folder per student")
    p.add_argument("--name", help="the student's name for the exercise's title block")
    p.add_argument("--out", default="variants", help="the folders go to OUT/ID/ (default: "
                   "variants)")
    p.add_argument("--no-pdf", action="store_true", help="write exercise.html only")
    p = sub.add_parser(
        "answers", help="a blank answers file per student, one key per value to grade",
        description="Write OUT/ID/answers.toml: one table per task graded automatically and "
                    "one key per value, each with what it is as a comment, to be filled in as "
                    "on the command line. A variant file names its student itself.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EXAMPLES)
    p.add_argument("sheet", metavar="NAME|FILE", help="a built-in sheet's name, a sheet file "
                   "or a student's variant file")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--student", metavar="ID", help="the student (a variant file names it)")
    who.add_argument("--roster", metavar="CSV", help="one answers file per student of it")
    p.add_argument("--out", default="variants", help="the files go to OUT/ID/answers.toml "
                   "(default: variants)")
    p = sub.add_parser(
        "grade", help="grade answers files: grades.csv and a feedback page per student",
        description="Grade each answers file against its student's variant (rebuilt from the "
                    "sheet and the id the file names): points per task by the sheet's marks "
                    "and credit rules, each wrong value with its slip named. Writes "
                    "OUT/grades.csv, OUT/feedback/ID.html and .pdf, and "
                    "OUT/model-answers.html with the tasks to grade by hand.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EXAMPLES)
    p.add_argument("sheet", metavar="NAME|FILE", help="the sheet the variants were drawn from")
    p.add_argument("answers", metavar="ANSWERS", nargs="+", help="answers files (TOML)")
    p.add_argument("--out", default="grades", help="where the grades go (default: grades)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="grade in N processes (default 1)")
    p.add_argument("--roster", metavar="CSV", help="names for the ids (second column)")
    p.add_argument("--runs", default="runs", help="finished runs for the model answers of "
                   "experiment tasks, as `sheet solve` leaves them (default: runs)")
    p.add_argument("--quick", action="store_true", help="the runs are --quick ones")
    p.add_argument("--no-pdf", action="store_true", help="feedback pages in HTML only")
    p = sub.add_parser(
        "check", help="a student's own check of an answers file before handing it in",
        description="Check every value of an answers file against its variant: what is "
                    "right, and for each wrong value the slip it most likely is.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EXAMPLES)
    p.add_argument("sheet", metavar="NAME|FILE", help="the sheet (or the student's variant)")
    p.add_argument("answers", metavar="ANSWERS", help="the answers file")


def _console(stderr: bool = True):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def cmd_list() -> int:
    from rich.table import Table

    from stridelab.sheets.loader import builtin_names, load_sheet

    table = Table(title="built-in sheets (`stridelab sheet show NAME` lists the tasks)")
    for col in ("name", "course", "title", "tasks"):
        table.add_column(col, justify="right" if col == "tasks" else "left")
    for name in builtin_names():
        sheet = load_sheet(name)
        table.add_row(sheet.name, sheet.course, sheet.title, str(len(sheet.tasks)))
    _console(stderr=False).print(table)
    return 0


def _what(task, quick: bool) -> str:
    from stridelab.sheets import refs
    from stridelab.sheets.commands import experiment_command_line, worked_command_line
    from stridelab.sheets.loader import answer_texts

    if task.kind == "worked":
        return worked_command_line(task)
    if task.kind == "experiment":
        line = experiment_command_line(task, "quick" if quick else "full")
        shown = [f"metrics {', '.join(task.metrics)}" if task.metrics else "",
                 f"figures {', '.join(task.figures)}" if task.figures else "",
                 f"files {', '.join(task.files)}" if task.files else ""]
        extra = "; ".join(s for s in shown if s)
        return line + (f"  ({extra})" if extra else "")
    used = sorted({r.text.strip("{}") for _, t in answer_texts(task) for r in refs.references(t)})
    return "written answer" + (f" reading {', '.join(used)}" if used else "")


def load(argument: str, **kwargs):
    """A sheet as the commands take it; a variant file is checked to be what its seed draws."""
    from stridelab.sheets.loader import load_sheet

    sheet = load_sheet(argument, **kwargs)
    if sheet.variant is not None:
        from stridelab.sheets.variant import verify_variant

        verify_variant(sheet)
    return sheet


def cmd_show(args) -> int:
    sheet = load(args.sheet, quick=args.quick)
    lines = [f"{sheet.course}: {sheet.title}"] + ([sheet.source] if sheet.source else [])
    lines.append(f"{len(sheet.tasks)} tasks (id in brackets: what references and --tasks use)")
    for task in sheet.tasks:
        lines += ["", f"{task.label}  [{task.id}]  {task.kind}"]
        statement = " ".join(task.statement.split())
        lines += textwrap.wrap(statement, width=96, initial_indent="  ",
                               subsequent_indent="  ")
        lines.append(f"  -> {_what(task, args.quick)}")
    for s in sheet.stand_ins:
        lines += ["", f"stand-in for {s.file}: {s.instead}"]
    lines += ["", "hand in: " + ", ".join(_hand_in_names(sheet))]
    print("\n".join(lines))
    return 0


def _hand_in_names(sheet, identity=None) -> list[str]:
    from stridelab.sheets.submission import Identity, hand_in_name

    rules, who = sheet.submission, identity or Identity()
    names = [hand_in_name(rules.pdf, who), hand_in_name(rules.notebook, who), *rules.files]
    if rules.zip:
        names.append(f"all zipped as {hand_in_name(rules.zip, who)}")
    return names


def _identity(args, sheet):
    """The identity from the options or the student file, checked before any work."""
    from stridelab.sheets.submission import check_identity, identity_from_options, read_identity

    given = [o for o, v in (("--student", args.student), ("--matriculation", args.matriculation),
                            ("--group", args.group)) if v is not None]
    if args.student_file is not None:
        if given:
            raise ConfigError(f"--student-file: give it or {', '.join(given)}, not both")
        identity = read_identity(args.student_file)
    else:
        identity = identity_from_options(args.student, args.matriculation, args.group)
    return check_identity(sheet.submission, identity, sheet.name)


def cmd_solve(args) -> int:
    from stridelab.sheets.plan import SolveOptions
    from stridelab.sheets.solve import solve_sheet

    if args.smoke and args.quick:
        raise ConfigError("--smoke already implies the small configurations; drop --quick")
    if args.dataset is not None:
        from stridelab.data import DATASET_NAMES

        if args.dataset not in DATASET_NAMES:
            raise ConfigError(f"--dataset {args.dataset}: unknown; choose one of: "
                              f"{', '.join(DATASET_NAMES)}")
    sheet = load(args.sheet, quick=args.quick, smoke=args.smoke)
    identity = _identity(args, sheet)
    wanted = [w.strip() for w in (args.tasks or "").split(",") if w.strip()] or None
    options = SolveOptions(quick=args.quick, smoke=args.smoke, tasks=wanted, out=Path(args.out),
                           runs=Path(args.runs), dataset=args.dataset, data_dir=args.data_dir,
                           seed=args.seed, device=args.device, pdf=not args.no_pdf,
                           notebook=not args.no_notebook, verbose=args.verbose,
                           identity=identity)
    console = _console()
    console.print(f"[bold]{sheet.course}: {sheet.title}[/bold] ({options.mode})", highlight=False)
    solution = solve_sheet(sheet, options, console=console)
    return _report(solution, options, console)


def _report(solution, options, console) -> int:
    """What the solve wrote, what the hand-in lacks, and the exit status (0 only if complete)."""
    from rich.markup import escape

    def say(text: str) -> None:
        console.print(text, highlight=False)

    say(f"solution.html: {escape(str(solution.html))}")
    if solution.notebook_error:
        say(f"[red]the notebook was not fully executed[/red]: {escape(solution.notebook_error)}")
    say(f"hand-in: {escape(str(solution.hand_in))}/")
    for path in solution.files:
        say(f"  {escape(str(path.relative_to(solution.hand_in)))}")
    if solution.zip is not None:
        say(f"zipped: {escape(str(solution.zip))}")
    if options.identity.missing:
        say(f"[yellow]not given[/yellow]: {', '.join(options.identity.missing)}; the file names "
            "and the title block hold marked placeholders (--student, --matriculation, --group "
            "or --student-file)")
    named = [n for n in solution.missing if n != solution.pdf_name]
    if named:
        say("[yellow]not in the hand-in[/yellow]: the sheet asks for "
            f"{escape(', '.join(named))}, which this solve does not write")
    if solution.zip_name and solution.zip is None:
        say(f"[yellow]no zip[/yellow]: {escape(solution.zip_name)} is made only of a complete "
            f"hand-in (missing: {escape(', '.join(solution.missing))})")
    say(f"solved in {solution.seconds:.1f} s")
    status = 0
    if solution.failed:
        say(f"[red]failed[/red]: the experiments of {escape(', '.join(solution.failed))}")
        status = 1
    if solution.notebook_error:
        status = 1
    if options.pdf and solution.pdf is None:
        # one plain line (no console wrapping), naming the page that does exist
        print(f"stridelab: error: no PDF was printed ({solution.pdf_reason}); the HTML is at "
              f"{solution.html}: install Chromium and chromedriver (Debian: apt-get install "
              "chromium chromium-driver) and solve again, or solve with --no-pdf to ask for "
              "none", file=sys.stderr)
        status = 1
    return status


def cmd_variant(args) -> int:
    from rich.markup import escape

    from stridelab.sheets.course import write_variants
    from stridelab.sheets.variant import read_roster

    if args.roster is not None and args.name is not None:
        raise ConfigError("--name: give names in the roster's second column")
    sheet = load(args.sheet)
    students = read_roster(args.roster) if args.roster is not None else \
        [(args.student, args.name or "")]
    console = _console()
    varied = [t.label for t in sheet.tasks if t.vary]
    if not varied:
        console.print(f"[yellow]{escape(sheet.where)} varies no task[/yellow]: every student "
                      "gets the sheet's own numbers", highlight=False)

    def said(done) -> None:
        names = ", ".join(escape(p.name) for p in done.files)
        console.print(f"{escape(done.variant.student)}: {escape(str(done.dir))}/ ({names}; "
                      f"seed {done.variant.seed})", highlight=False)

    written = write_variants(sheet, students, Path(args.out), pdf=not args.no_pdf,
                             progress=said)
    failed = [w for w in written if w.pdf_reason]
    if failed:
        print(f"stridelab: error: no exercise PDF was printed ({failed[0].pdf_reason}) for "
              f"{len(failed)} of {len(written)} students; the HTML is at "
              f"{failed[0].dir / 'exercise.html'}: install Chromium and chromedriver, or "
              "run with --no-pdf to ask for none", file=sys.stderr)
        return 1
    return 0


def _students(args, sheet) -> list[tuple[str, str]]:
    from stridelab.sheets.variant import read_roster

    record = sheet.variant
    if record is not None:
        if args.roster is not None or (args.student and args.student != record.student):
            raise ConfigError(f"{sheet.where} is the variant of student {record.student!r}; "
                              "give the sheet it was drawn from for other students")
        return [(record.student, record.name)]
    if args.roster is not None:
        return read_roster(args.roster)
    if not args.student:
        raise ConfigError("give --student ID or --roster CSV")
    return [(args.student, "")]


def cmd_answers(args) -> int:
    from stridelab.sheets.course import write_answers

    sheet = load(args.sheet)
    students = _students(args, sheet)
    for path in write_answers(sheet, students, Path(args.out)):
        print(path)
    return 0


def cmd_grade(args) -> int:
    from rich.markup import escape

    from stridelab.sheets.course import grade_class
    from stridelab.sheets.feedback import points_text
    from stridelab.sheets.variant import read_roster

    if not 1 <= args.jobs <= 64:
        raise ConfigError(f"--jobs {args.jobs}: give 1 to 64")
    sheet = load(args.sheet)
    names = dict(read_roster(args.roster)) if args.roster else {}
    console = _console()

    def said(grade) -> None:
        worth = f"{points_text(grade.total)} points, " if sheet.max_points is not None else ""
        console.print(f"{escape(grade.student)}: {worth}{grade.right} of {grade.values} values "
                      "right", highlight=False)

    done = grade_class(sheet, args.answers, Path(args.out), pdf=not args.no_pdf, jobs=args.jobs,
                       runs=Path(args.runs), quick=args.quick, names=names, progress=said)
    console.print(f"grades: {escape(str(done.csv))}; feedback: {escape(str(done.feedback))}/"
                  + (f"; to grade by hand: {escape(str(done.models))}" if done.models else ""),
                  highlight=False)
    if done.pdf_reasons:
        first = next(iter(done.pdf_reasons.values()))
        print(f"stridelab: error: no feedback PDF was printed ({first}) for "
              f"{len(done.pdf_reasons)} of {len(done.grades)} students; the HTML pages are in "
              f"{done.feedback}: install Chromium and chromedriver, or grade with --no-pdf",
              file=sys.stderr)
        return 1
    return 0


def cmd_check(args) -> int:
    from stridelab.sheets.answers import read_answers
    from stridelab.sheets.grade import Grader

    sheet = load(args.sheet)
    answers = read_answers(args.answers)
    grade = Grader(sheet).grade(answers)
    lines = [f"{grade.student} (variant {grade.seed}): {grade.right} of {grade.values} values "
             "right"]
    for task in grade.tasks:
        lines += ["", f"{task.label}: {task.right} of {task.n_graded} right"]
        for c in task.checks:
            if c.correct and not c.problem:
                lines.append(f"  {c.key}: right")
            else:
                lines.append(f"  {c.key}: {c.message}")
    if grade.by_hand:
        lines += ["", "graded by hand: " + ", ".join(h.label for h in grade.by_hand)]
    print("\n".join(lines))
    return 0


_ACTIONS = {"list": lambda args: cmd_list(), "show": cmd_show, "solve": cmd_solve,
            "variant": cmd_variant, "answers": cmd_answers, "grade": cmd_grade,
            "check": cmd_check}


def main(args: argparse.Namespace) -> int:
    action = getattr(args, "sheet_action", None)
    if action in _ACTIONS:
        return _ACTIONS[action](args)
    raise ConfigError(f"`stridelab sheet` needs an action: {', '.join(_ACTIONS)} "
                      "(see `stridelab sheet --help`)")
