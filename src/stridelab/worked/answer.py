"""The answer object every worked solution returns, and how it shows itself.

Each solver (``conv.solve``, ``shape.solve``, ``backprop.solve``, ``derive.derive``) returns a
dataclass that mixes in :class:`Answer` and implements two methods:

- ``to_markdown(self) -> str``: Markdown with ``$...$``/``$$...$$`` LaTeX, the typeset form
  only (display equations set by :mod:`stridelab.worked.equations` to fit a printed page);
- ``to_dict(self) -> dict``: the JSON form (plain lists, numbers and strings).

The mixin derives every other form from those two, so the command line, a notebook, the HTML
report and a solution sheet all show the same answer:

- ``to_json()``, ``to_text(width)`` (aligned matrices and equations, Unicode sub- and
  superscripts, rendered from the Markdown for a terminal), ``to_html()``;
- ``_repr_markdown_`` and ``_repr_latex_`` so Jupyter renders the answer;
- ``check(student)`` where the solver supports it (a student's own answer compared);
- ``gradable()`` and ``check_value(key, text)``: the values a sheet grades, and one value a
  student wrote checked with the slip named (:mod:`stridelab.worked.grading`); a subclass
  lists them in ``_grading_targets``.
"""

from __future__ import annotations

import json

# attributes where grading keeps what it computed for an answer
_CACHES = ("_grading_targets_cache", "_slip_outputs")


class Answer:
    """Mixin for worked-solution results; subclasses implement ``to_markdown`` and ``to_dict``."""

    def to_markdown(self) -> str:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def to_dict(self) -> dict:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def to_json(self, indent: int = 2) -> str:
        from stridelab.worked.numbers import dumps_json

        return dumps_json(self.to_dict(), indent=indent)

    def to_text(self, width: int = 100) -> str:
        from stridelab.worked._render import markdown_to_text

        return markdown_to_text(self.to_markdown(), width=width)

    def to_html(self) -> str:
        from stridelab.worked._render import markdown_to_html

        return markdown_to_html(self.to_markdown())

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_latex_(self) -> str | None:
        from stridelab.worked._render import markdown_to_latex

        return markdown_to_latex(self.to_markdown())

    def __str__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, p, cycle: bool) -> None:  # IPython's text/plain: the terminal form
        p.text(self.to_text())

    def gradable(self) -> list:
        """The values a sheet can grade: a list of :class:`~stridelab.worked.grading.Gradable`."""
        from stridelab.worked.grading import gradables

        return gradables(self)

    def check_value(self, key: str, text):
        """A student's ``text`` for value ``key`` checked (a
        :class:`~stridelab.worked.grading.ValueCheck`); never raises on what the student wrote."""
        from stridelab.worked.grading import check_value

        return check_value(self, key, text)

    def __getstate__(self):
        # what grading keeps on an answer (checks, slip outputs) is rebuilt when needed, and
        # holds closures: a copy or a pickle leaves it out
        state = dict(self.__dict__)
        for key in _CACHES:
            state.pop(key, None)
        return state

    def _grading_targets(self) -> list:
        """How each gradable value is checked (:class:`~stridelab.worked.grading.Target`)."""
        return []

    def __init_subclass__(cls, **kwargs):
        # IPython takes the first __repr__ or _repr_pretty_ along the MRO, and @dataclass puts
        # its __repr__ on the subclass itself: name _repr_pretty_ there too
        super().__init_subclass__(**kwargs)
        cls._repr_pretty_ = Answer._repr_pretty_


def as_plain(obj):
    """``obj`` through a JSON round trip: what a sheet reference or a test compares against."""
    return json.loads(json.dumps(obj, default=str))
