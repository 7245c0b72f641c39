"""The README and the documentation site: they build, their links resolve, and the examples they
show are what the code prints.

- ``mkdocs build --strict`` must succeed (a broken link, a page missing from the nav, or an API
  page whose object no longer exists fails it);
- every relative link in README.md points at a file that exists (and at a heading that exists);
- every Python example written as ``>>>`` in the README and the docs runs and prints what it
  shows, and every worked-command example (``$ stridelab conv|shape|backprop|derive …``) prints
  what it shows; a line ``…`` stands for any lines, a ``…`` inside a line for any text;
- the README's set-up commands are the ones CI runs (``.ci/run``), and the README stays short.
"""

import doctest
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
WORKED = {"conv", "shape", "backprop", "derive"}


def _fences(text: str, lang: str) -> list[tuple[int, str]]:
    """(line number, body) of each fenced code block of ``lang``."""
    return [(text[:m.start()].count("\n") + 2, m.group(1))
            for m in re.finditer(rf"^```{lang}\n(.*?)^```$", text, flags=re.M | re.S)]


def _elided(expected: str) -> re.Pattern:
    """A pattern for shown output: a line "…" is any lines (or none), "…" in a line any text."""
    parts = []
    for line in expected.rstrip("\n").split("\n"):
        if line.strip() == "…":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.rstrip().split("…"))
                         + r"\n")
    return re.compile("".join(parts), flags=re.S)


def _tidy(output: str) -> str:
    return "\n".join(line.rstrip() for line in output.rstrip().split("\n")) + "\n"


# ---------------------------------------------------------------------------------------------
# the site


def test_the_site_builds_strictly(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site"), "--config-file", str(ROOT / "mkdocs.yml")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    for page in ("index.html", "worked/index.html", "engine/index.html", "api/core/index.html"):
        assert (tmp_path / "site" / page).is_file()
    # the API pages were filled from the docstrings, not left as bare directives
    api = (tmp_path / "site" / "api" / "cluster" / "index.html").read_text(encoding="utf-8")
    assert 'id="stridelab.cluster.KMeans"' in api and ":::" not in api


def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in DOCS.rglob("*.md"):
        assert page.relative_to(DOCS).as_posix() in nav, f"{page} is not in mkdocs.yml's nav"


def test_docstrings_are_made_markdown_for_the_api_pages():
    spec = importlib.util.spec_from_file_location("griffe_docstrings",
                                                  DOCS / "griffe_docstrings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = ("Intro, see :func:`conv` and :mod:`stridelab.report.pdf`.\n\n"
            "    >>> a = [1,\n    ...      2]\n    >>> a\n    [1, 2]\n\nAfter.\n\n"
            "Examples\n--------\n>>> b = 2\n")
    assert module.to_markdown(text) == (
        "Intro, see `conv` and `stridelab.report.pdf`.\n\n"
        "    ```pycon\n    >>> a = [1,\n    ...      2]\n    >>> a\n    [1, 2]\n    ```\n\n"
        "After.\n\nExamples\n--------\n>>> b = 2\n")  # numpydoc's Examples: griffe's own


# ---------------------------------------------------------------------------------------------
# links


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading (where the README's links are followed)."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", text))


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```$", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {_slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)}


def test_every_relative_link_in_the_readme_resolves():
    text = re.sub(r"^```.*?^```$", "", README.read_text(encoding="utf-8"), flags=re.M | re.S)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links, "the README links to its documentation"
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue  # https:, mailto:
        target, _, anchor = link.partition("#")
        path = (README.parent / target) if target else README
        assert path.exists(), f"README.md links to {link}, which does not exist"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"README.md links to {link}: no such heading"


def test_the_slug_of_a_heading():
    assert _slug("Data sets") == "data-sets"
    assert _slug("`--check`: the slip in a hand-worked answer") == \
        "--check-the-slip-in-a-hand-worked-answer"
    assert _slug("Measured results") == "measured-results"


# ---------------------------------------------------------------------------------------------
# examples


class _Elision(doctest.OutputChecker):
    """doctest's ELLIPSIS, spelled "…" as the pages spell it."""

    def check_output(self, want, got, optionflags):
        return super().check_output(want.replace("…", "..."), got,
                                    optionflags | doctest.ELLIPSIS)


def _python_examples():
    for page in PAGES:
        for line, body in _fences(page.read_text(encoding="utf-8"), "python"):
            if ">>>" in body:
                yield pytest.param(page, line, body, id=f"{page.relative_to(ROOT)}:{line}")


@pytest.mark.parametrize("page, line, body", list(_python_examples()))
def test_python_examples_print_what_they_show(page, line, body):
    test = doctest.DocTestParser().get_doctest(body, {}, f"{page.name}:{line}", str(page), line)
    runner = doctest.DocTestRunner(checker=_Elision(), optionflags=doctest.ELLIPSIS)
    runner.run(test, out=lambda s: sys.stdout.write(s))
    assert runner.failures == 0, f"the example at {page.relative_to(ROOT)}:{line} is stale"


def _commands(body: str):
    """(argv, env, shown output) of each ``$ stridelab …`` in a text block; a command may go on
    over several lines (a trailing backslash, or a quote still open)."""
    lines = body.rstrip("\n").split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        command = lines[i][2:]
        i += 1
        while True:
            try:
                argv = shlex.split(command.replace("\\\n", " "))
            except ValueError:  # an open quote
                argv = None
            if argv is not None and not command.endswith("\\"):
                break
            command += "\n" + lines[i]
            i += 1
        start = i
        while i < len(lines) and not lines[i].startswith("$ "):
            i += 1
        env = {}
        while argv and re.fullmatch(r"[A-Z_]+=\S*", argv[0]):
            key, value = argv.pop(0).split("=", 1)
            env[key] = value
        yield argv, env, "\n".join(lines[start:i]) + "\n"


def _worked_examples():
    for page in PAGES:
        for line, body in _fences(page.read_text(encoding="utf-8"), "text"):
            for argv, env, shown in _commands(body):
                if len(argv) > 1 and argv[0] == "stridelab" and argv[1] in WORKED:
                    yield pytest.param(argv[1:], env, shown,
                                       id=f"{page.relative_to(ROOT)}:{line}:{argv[1]}")


@pytest.mark.parametrize("argv, env, shown", list(_worked_examples()))
def test_worked_examples_print_what_they_show(argv, env, shown, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", env.get("COLUMNS", "100"))  # the pages show 100 columns
    if "--format" not in argv and "--json" not in argv:
        argv = [*argv, "--format", "text"]  # what a terminal gets
    code, out, err = run_cli(*argv)
    assert code == 0, err
    assert _elided(shown).fullmatch(_tidy(out)), \
        f"`stridelab {' '.join(argv)}` no longer prints what the page shows:\n{out}"


def test_the_elision_rules():
    assert _elided("a\n…\nd\n").fullmatch("a\nb\nc\nd\n")
    assert _elided("a\n…\nd\n").fullmatch("a\nd\n")
    assert _elided("x = … end\n").fullmatch("x = 1 2 3 end\n")
    assert not _elided("a\nd\n").fullmatch("a\nb\nd\n")
    assert not _elided("x = 1\n").fullmatch("x = 2\n")


# ---------------------------------------------------------------------------------------------
# the README itself


def test_the_readme_set_up_is_what_ci_runs():
    def quiet(line: str) -> str:  # CI passes -q to pip and pytest; the README need not
        return " ".join(t for t in shlex.split(line, comments=True) if t != "-q")

    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_commands = {quiet(line) for line in ci.splitlines() if line.startswith("python ")}
    _, setup = _fences(README.read_text(encoding="utf-8"), "bash")[0]
    checked = [quiet(line) for line in setup.splitlines() if line.startswith("python ")]
    assert any("pip install" in c for c in checked) and any("pytest" in c for c in checked)
    for command in checked:
        assert command in ci_commands, f"README's `{command}` is not what .ci/run runs"


def test_the_readme_is_short():
    n_lines = len(README.read_text(encoding="utf-8").splitlines())
    assert n_lines <= 200, f"README.md has {n_lines} lines; depth belongs in docs/"
