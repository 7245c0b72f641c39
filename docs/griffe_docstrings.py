"""A griffe extension for the API pages: docstrings written for the terminal read well on the site.

stridelab's docstrings are numpydoc, read with ``help()`` and in an editor as much as on this
site. Two habits of that style would render badly as Markdown, so they are rewritten before the
docstrings are parsed (the source is left alone):

- a doctest run (``>>> `` lines, their ``... `` continuations and the output up to a blank line)
  outside a numpydoc "Examples" section would become a nested quotation: it is fenced as
  ``pycon`` code instead (griffe already treats "Examples" sections this way);
- Sphinx roles (``:func:`conv```, ``:class:`Section```, ``:mod:`stridelab.report.pdf```) become
  code spans.

Loaded by mkdocs.yml (``extensions: [docs/griffe_docstrings.py]``); not a page of the site.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|obj|exc):`~?([^`]+)`")
_UNDERLINE = re.compile(r"\s*-{3,}\s*")


def fence_doctests(text: str) -> str:
    """``text`` with each doctest run outside an "Examples" section fenced as ``pycon``."""
    lines = text.split("\n")
    out: list[str] = []
    in_examples = in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if i + 1 < len(lines) and _UNDERLINE.fullmatch(lines[i + 1]) and stripped:
            in_examples = stripped == "Examples"  # a numpydoc section header
        if in_fence or in_examples or not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[:len(line) - len(line.lstrip())]
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        out += [f"{indent}```pycon", *(f"{indent}{b}" for b in block), f"{indent}```"]
    return "\n".join(out)


def to_markdown(text: str) -> str:
    """A docstring's text with its doctest runs fenced and its Sphinx roles as code spans."""
    return _ROLE.sub(r"`\1`", fence_doctests(text))


class DocstringMarkdown(griffe.Extension):
    """Rewrite every docstring with :func:`to_markdown` as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if not obj.is_alias and obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
