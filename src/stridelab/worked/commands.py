"""The worked-solution commands in one table: what the CLI, the sheets and the notebook API use.

Each command (``conv``, ``shape``, ``backprop``, ``derive``) is a package of the same name whose
``cli`` module has ``add_arguments(parser)``, ``answer_from_args(args) -> Answer`` and
``main(args) -> int`` (its docstring is the command's ``--help``). Callers go through this
table, never through the modules by name, so the modules can move freely:

>>> from stridelab.worked.commands import COMMANDS, command_parser, answer
>>> sorted(COMMANDS)
['backprop', 'conv', 'derive', 'shape']
>>> answer("shape", ["--input", "50x50x1", "conv:k=4,s=1,p=1,n=8"]).output
(49, 49, 8)

A module is imported only when its command is used, so ``stridelab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from types import ModuleType

from stridelab.errors import ConfigError

__all__ = ["COMMANDS", "Command", "RaisingParser", "answer", "command_parser", "module"]


@dataclass(frozen=True)
class Command:
    name: str  # what follows `stridelab`
    module: str  # the module with add_arguments, answer_from_args and main (and the --help text)
    help: str  # one line for `stridelab --help`


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("conv", "stridelab.worked.conv.cli",
            "convolve/correlate small matrices or photos, every product shown"),
    Command("shape", "stridelab.worked.shape.cli",
            "output shapes and parameter counts of a layer stack, with formulas"),
    Command("backprop", "stridelab.worked.backprop.cli",
            "one gradient-descent step on a tiny network, every partial derivative shown"),
    Command("derive", "stridelab.worked.derive.cli",
            "symbolic derivations (softmax, cross-entropy, ridge, conv gradients ...)"),
)}


class RaisingParser(argparse.ArgumentParser):
    """A command's parser whose usage errors are raised as one-line ConfigErrors (no exit)."""

    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def module(name: str) -> ModuleType:
    """The module that implements command ``name`` (ConfigError for an unknown one)."""
    if name not in COMMANDS:
        raise ConfigError(f"unknown worked command {name!r}; choose from {', '.join(COMMANDS)}")
    return importlib.import_module(COMMANDS[name].module)


def command_parser(name: str, parser_class: type[argparse.ArgumentParser] = RaisingParser,
                   **kwargs) -> argparse.ArgumentParser:
    """A fresh parser with command ``name``'s options (what ``stridelab NAME`` takes)."""
    kwargs.setdefault("prog", f"stridelab {name}")
    parser = parser_class(**kwargs)
    module(name).add_arguments(parser)
    return parser


def answer(name: str, argv: list[str]):
    """Parse ``argv`` with command ``name``'s own parser and build its answer (nothing printed)."""
    args = command_parser(name).parse_args(argv)
    return answer_from_args(name, args)


def answer_from_args(name: str, args: argparse.Namespace):
    """The answer of command ``name`` for already parsed ``args``."""
    return module(name).answer_from_args(args)
