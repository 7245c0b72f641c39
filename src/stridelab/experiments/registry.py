"""The experiment registry.

An experiment is a typed config dataclass plus a ``run(config, ctx)`` function that writes
artifacts and returns its metrics. Modules register themselves with :func:`register`; the
package ``stridelab.experiments`` imports each module by name, so the registry is complete
once that package is imported.

Overrides from the command line (``--set key=value``) are parsed against the dataclass field
types and applied with :func:`dataclasses.replace`; nothing is ever ``eval``-ed. The resolved
config is then checked against each field's bounds, once, in :meth:`Experiment.make_config`
(:func:`check_config`).

A field's bounds sit beside it, declared with :func:`bounded` (scikit-learn's
``_parameter_constraints`` in spirit); a field without them has none, except that a float
must be finite::

    @dataclass
    class Config:
        epochs: int = bounded(10, ge=1)                 # passes over the training set
        lr: float = bounded(1e-3, gt=0)                 # Adam learning rate
        dropout: float = bounded(0.2, ge=0, lt=1)       # drop probability
        x_low: float = -1.0                             # left end of the interval
        x_high: float = bounded(1.0, gt="x_low")        # right end: above the left one

Keys: ``ge`` (value >= bound), ``gt`` (>), ``le`` (<=), ``lt`` (<), each a number or the name
of another field of the same config, and ``finite`` (default True for float fields: NaN and
±inf are refused). A tuple or list field is bounded item by item. A choice among words is a
``Literal`` type, checked when ``--set`` is parsed.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
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
        """Build the config: defaults, then quick (and smoke) overrides, then user ``--set`` values.

        The result is checked against every field's bounds (:func:`check_config`): a value out
        of bounds raises :class:`ConfigError` naming the ``--set`` that gave it.
        """
        config = self.config_cls()
        if quick or smoke:
            config = dataclasses.replace(config, **self.quick)
        if smoke:
            config = dataclasses.replace(config, **self.smoke)
        if overrides:
            config = apply_overrides(config, overrides)
        check_config(config, overrides=overrides, name=self.name)
        return config

    def families(self) -> tuple[str, ...]:
        """The data families this experiment reads (``needs`` as a tuple; empty for none)."""
        if self.needs is None:
            return ()
        return (self.needs,) if isinstance(self.needs, str) else tuple(self.needs)


_REGISTRY: dict[str, Experiment] = {}


def register(name: str, config_cls: type, *, description: str, quick: dict | None = None,
             smoke: dict | None = None, needs: str | tuple[str, ...] | None = None,
             key_metric: str = "test_accuracy", order: int = 100, lessons=(),
             narrate: Callable[..., Any] | None = None, depends=()):
    """Decorator that registers ``measure(config, ctx) -> metrics`` under ``name``.

    ``narrate(metrics, config)`` (pure: no files, no training) writes the study's notes from
    the measured metrics; ``lessons`` (:class:`stridelab.experiments.narrate.Lesson`) say which
    metric the sheet's question is about and its quick and full targets. The runner judges
    each lesson after ``measure`` and records it in ``lessons.json``.

    ``needs`` is the data family read (``"mnist"``, ``"cifar10"``), a tuple of families for a
    study that takes either, or None; an explicit ``--dataset`` outside them is refused for a
    single run. ``depends`` names experiments whose metrics ``measure`` reads through
    ``ctx.dependency(name)`` (``run all`` runs them first). The config's bounds are declared
    beside its fields (see the module docstring) and checked when they are registered.
    """
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"{name}: config_cls must be a dataclass, got {config_cls!r}")
    known = {f.name for f in dataclasses.fields(config_cls)}
    for label, overrides in (("quick", quick or {}), ("smoke", smoke or {})):
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"{name}: {label} overrides name unknown fields {sorted(unknown)}")
    for key, spec in field_bounds(config_cls).items():
        for bound in spec.values():
            if isinstance(bound, str) and bound not in known:
                raise TypeError(f"{name}: the bounds of {key!r} name an unknown field "
                                f"{bound!r}")

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


# ---------------------------------------------------------------------------------------------
# bounds: declared beside each field, checked once in make_config

_BOUND_KEYS = ("ge", "gt", "le", "lt")


def bounded(default: Any, *, ge: float | str | None = None, gt: float | str | None = None,
            le: float | str | None = None, lt: float | str | None = None, finite: bool = True,
            **field_kwargs: Any) -> Any:
    """A dataclass field with its bounds beside it, e.g. ``dropout: float = bounded(0.2, ge=0,
    lt=1)``; a bound given as a string is the value of that other field of the config
    (``x_high: float = bounded(1.0, gt="x_low")``).

    ``finite=False`` lets a float field take ±inf; NaN is always refused.
    """
    spec = {k: v for k, v in zip(_BOUND_KEYS, (ge, gt, le, lt)) if v is not None}
    if not finite:
        spec["finite"] = False
    metadata = {**field_kwargs.pop("metadata", {}), "bounds": spec}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata,
                     **field_kwargs)
    return field(default=default, metadata=metadata, **field_kwargs)


def field_bounds(config: Any) -> dict[str, dict]:
    """Each field's declared bounds ({} for none), for a config class, a config or an
    :class:`Experiment`."""
    config_cls = config.config_cls if isinstance(config, Experiment) else config
    return {f.name: dict(f.metadata.get("bounds", {}))
            for f in dataclasses.fields(config_cls)}


def describe_bounds(spec: dict) -> str:
    """``{"ge": 0, "lt": 1}`` as "in [0, 1)"; ``{"gt": 0}`` as "> 0"; ``{"gt": "x_low"}`` as
    "> x_low"; "" for none."""
    text = lambda v: v if isinstance(v, str) else f"{v:g}"  # noqa: E731
    low = ("[", spec["ge"]) if "ge" in spec else ("(", spec["gt"]) if "gt" in spec else None
    high = ("]", spec["le"]) if "le" in spec else (")", spec["lt"]) if "lt" in spec else None
    if low and high:
        return f"in {low[0]}{text(low[1])}, {text(high[1])}{high[0]}"
    if low:
        return f"{'≥' if low[0] == '[' else '>'} {text(low[1])}"
    if high:
        return f"{'≤' if high[0] == ']' else '<'} {text(high[1])}"
    return ""


def _numbers(value: Any) -> list[float]:
    """The numbers in a field value: the value itself, or the items of a list/tuple."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [v for v in items if isinstance(v, numbers.Real) and not isinstance(v, bool)]


_WORDS = {"ge": "at least", "gt": "greater than", "le": "at most", "lt": "less than"}
_HOLDS = {"ge": lambda x, b: x >= b, "gt": lambda x, b: x > b, "le": lambda x, b: x <= b,
          "lt": lambda x, b: x < b}


def _violation(x: float, spec: dict, is_float: bool, config: Any) -> tuple[str, str] | None:
    """What is wrong with the number ``x`` under ``spec``, and the field whose value it was
    compared with ("" for a number); None when nothing is."""
    if is_float and spec.get("finite", True) and not math.isfinite(x):
        return "must be a finite number", ""
    if math.isnan(x):
        return "must be a number (not NaN)", ""
    for key in _BOUND_KEYS:
        if key not in spec:
            continue
        bound = spec[key]
        other = bound if isinstance(bound, str) else ""
        limit = getattr(config, other) if other else bound
        if limit is None or _HOLDS[key](x, limit):
            continue
        return (f"must be {_WORDS[key]} {other} ({limit:g})" if other
                else f"must be {_WORDS[key]} {limit:g}"), other
    return None


def check_config(config: Any, *, overrides: dict[str, str] | None = None,
                 name: str = "") -> None:
    """Raise :class:`ConfigError` for the first field value outside its declared bounds.

    Float values (also inside tuples) must be finite unless their bounds say ``finite: False``.
    The message names the ``--set key=value`` that gave the value, or that gave the other
    field it was compared with, when one did.
    """
    overrides = overrides or {}
    bounds = field_bounds(type(config))
    for f in dataclasses.fields(config):
        spec = bounds[f.name]
        value = getattr(config, f.name)
        many = isinstance(value, (list, tuple))
        for x in _numbers(value):
            problem = _violation(float(x), spec, isinstance(x, float), config)
            if problem is None:
                continue
            what, other = problem
            given = f.name if f.name in overrides else other if other in overrides else None
            where = (f"--set {given}={overrides[given]}" if given
                     else f"{name or type(config).__name__}: {f.name}={value!r}")
            field_text = f"each value of {f.name}" if many else f.name
            raise ConfigError(f"{where}: {field_text} {what}")
