"""The experiment registry.

An experiment is a typed config dataclass plus a ``run(config, ctx)`` function that writes
artifacts and returns its metrics. Modules register themselves with :func:`register`; the
package ``stridelab.experiments`` imports each module by name, so the registry is complete
once that package is imported.

Overrides from the command line (``--set key=value``) are parsed against the dataclass field
types and applied with :func:`dataclasses.replace`; nothing is ever ``eval``-ed.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stridelab.errors import ConfigError


@dataclass(frozen=True)
class Experiment:
    name: str  # the name used on the command line
    config_cls: type  # a dataclass whose defaults are the full configuration
    run: Callable[..., dict]  # run(config, ctx) -> metrics
    description: str  # one line for `stridelab list`
    quick: dict = field(default_factory=dict)  # overrides that make the --quick configuration
    smoke: dict = field(default_factory=dict)  # overrides (on top of quick) for the test suite
    needs: str | None = None  # data family ("mnist", "cifar10", ...) or None
    key_metric: str = "test_accuracy"  # the headline entry of metrics.json
    order: int = 100  # position in `run all` (lower first)
    lessons: tuple = ()  # narrate.Lesson records: what the sheet's question is about
    narrate: Callable[..., Any] | None = None  # narrate(metrics, config) -> notes (str or Notes)
    depends: tuple = ()  # experiments whose metrics this one reads (run first, or named runs)

    def make_config(self, *, quick: bool = False, smoke: bool = False,
                    overrides: dict[str, str] | None = None):
        """Build the config: defaults, then quick (and smoke) overrides, then user ``--set`` values."""
        config = self.config_cls()
        if quick or smoke:
            config = dataclasses.replace(config, **self.quick)
        if smoke:
            config = dataclasses.replace(config, **self.smoke)
        if overrides:
            config = apply_overrides(config, overrides)
        return config


_REGISTRY: dict[str, Experiment] = {}


def register(name: str, config_cls: type, *, description: str, quick: dict | None = None,
             smoke: dict | None = None, needs: str | None = None,
             key_metric: str = "test_accuracy", order: int = 100, lessons=(),
             narrate: Callable[..., Any] | None = None, depends=()):
    """Decorator that registers ``measure(config, ctx) -> metrics`` under ``name``.

    ``narrate(metrics, config)`` (pure: no files, no training) writes the study's notes from
    the measured metrics; ``lessons`` (:class:`stridelab.experiments.narrate.Lesson`) say which
    metric the sheet's question is about and its quick and full targets. The runner judges
    each lesson after ``measure`` and records it in ``lessons.json``.
    """
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"{name}: config_cls must be a dataclass, got {config_cls!r}")
    known = {f.name for f in dataclasses.fields(config_cls)}
    for label, overrides in (("quick", quick or {}), ("smoke", smoke or {})):
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"{name}: {label} overrides name unknown fields {sorted(unknown)}")

    def decorator(fn: Callable[..., dict]) -> Callable[..., dict]:
        if name in _REGISTRY:
            raise ValueError(f"experiment {name!r} is registered twice")
        _REGISTRY[name] = Experiment(name, config_cls, fn, description, dict(quick or {}),
                                     dict(smoke or {}), needs, key_metric, order,
                                     tuple(lessons), narrate, tuple(depends))
        return fn

    return decorator


def get(name: str) -> Experiment:
    import stridelab.experiments  # noqa: F401  (imports every experiment module)

    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown experiment {name!r}; known: {known} "
                          "(see `stridelab list`)") from None


def all_experiments() -> list[Experiment]:
    """Every registered experiment in `run all` order."""
    import stridelab.experiments  # noqa: F401

    return sorted(_REGISTRY.values(), key=lambda e: (e.order, e.name))


# ---------------------------------------------------------------------------------------------
# --set key=value, type-checked against the dataclass

def _parse_value(text: str, annotation: Any, key: str):
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.lower() in ("none", "null", ""):
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _parse_value(text, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"--set {key}={text}: expected {_type_name(annotation)}")
    if origin in (list, tuple):
        inner = args[0] if args else str
        items = [t.strip() for t in text.split(",") if t.strip()]
        values = [_parse_value(t, inner, key) for t in items]
        return tuple(values) if origin is tuple else values
    if origin is typing.Literal:
        if text in args:
            return text
        raise ConfigError(f"--set {key}={text}: expected one of {', '.join(map(str, args))}")
    if annotation is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--set {key}={text}: expected true or false")
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"--set {key}={text}: expected an integer") from None
    if annotation is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"--set {key}={text}: expected a number") from None
    if annotation is str:
        return text
    raise ConfigError(f"--set {key}: fields of type {_type_name(annotation)} cannot be set")


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def apply_overrides(config, overrides: dict[str, str]):
    """Return ``config`` with ``overrides`` (strings from the command line) parsed and applied."""
    hints = typing.get_type_hints(type(config))
    fields = {f.name for f in dataclasses.fields(config)}
    parsed = {}
    for key, text in overrides.items():
        if key not in fields:
            raise ConfigError(f"--set {key}: unknown key for {type(config).__name__}; "
                              f"known keys: {', '.join(sorted(fields))}")
        parsed[key] = _parse_value(text, hints[key], key)
    return dataclasses.replace(config, **parsed)


def parse_set_args(items: list[str] | None) -> dict[str, str]:
    """Turn ``["epochs=3", "lr=0.1"]`` into ``{"epochs": "3", "lr": "0.1"}``."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set epochs=3")
        out[key.strip()] = value.strip()
    return out


def config_doc(config_cls: type) -> list[tuple[str, str, Any]]:
    """(name, type, default) for each field, for `stridelab list --verbose`."""
    hints = typing.get_type_hints(config_cls)
    instance = config_cls()
    return [(f.name, _type_name(hints[f.name]), getattr(instance, f.name))
            for f in dataclasses.fields(config_cls)]
