"""The experiment registry.

An experiment is a typed config dataclass plus a ``run(config, ctx)`` function that writes
artifacts and returns its metrics. Modules register themselves with :func:`register`; the
package ``stridelab.experiments`` imports each module by name, so the registry is complete
once that package is imported.

Overrides from the command line (``--set key=value``) are parsed against the dataclass field
types and applied with :func:`dataclasses.replace`; nothing is ever ``eval``-ed. The resolved
config is then checked against each field's bounds, in one place (:func:`check_config`).

Bounds sit beside the field they limit, as field metadata (scikit-learn's
``_parameter_constraints`` in spirit)::

    @dataclass
    class Config:
        epochs: int = 10                                        # passes over the training set
        lr: float = field(default=1e-3, metadata={"gt": 0})     # Adam learning rate
        dropout: float = bounded(0.2, ge=0, lt=1)               # drop probability
        x0: float = field(default=-1.0, metadata={"bounds": None})  # no generic rule at all

Keys: ``ge``/``min`` (value >= bound), ``gt`` (>), ``le``/``max`` (<=), ``lt`` (<) and
``finite`` (default True for float fields: NaN and ±inf are refused). ``register(...,
bounds={"field": {...}})`` declares the same per registration, for a config class shared by
several experiments. A field without declared bounds gets the generic rules of
:data:`GENERIC_BOUNDS` by its name (``epochs``, ``batch_size``, ``n_*`` at least 1, ``lr``
positive, ``dropout`` in [0, 1) ...), relaxed where the field's own default, quick or smoke
value lies outside them (``n_test = 0`` meaning "all" keeps 0 allowed).
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
    bounds: dict = field(default_factory=dict)  # field -> {"ge": .., "gt": .., ...} (see above)

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
        check_config(config, field_bounds(self), overrides=overrides, name=self.name)
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
             narrate: Callable[..., Any] | None = None, depends=(),
             bounds: dict[str, dict] | None = None):
    """Decorator that registers ``measure(config, ctx) -> metrics`` under ``name``.

    ``narrate(metrics, config)`` (pure: no files, no training) writes the study's notes from
    the measured metrics; ``lessons`` (:class:`stridelab.experiments.narrate.Lesson`) say which
    metric the sheet's question is about and its quick and full targets. The runner judges
    each lesson after ``measure`` and records it in ``lessons.json``.

    ``needs`` is the data family read (``"mnist"``, ``"cifar10"``), a tuple of families for a
    study that takes either, or None; an explicit ``--dataset`` outside them is refused for a
    single run. ``depends`` names experiments whose metrics ``measure`` reads through
    ``ctx.dependency(name)`` (``run all`` runs them first). ``bounds`` adds or replaces field
    bounds for this registration (see the module docstring).
    """
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"{name}: config_cls must be a dataclass, got {config_cls!r}")
    known = {f.name for f in dataclasses.fields(config_cls)}
    for label, overrides in (("quick", quick or {}), ("smoke", smoke or {})):
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"{name}: {label} overrides name unknown fields {sorted(unknown)}")
    unknown = set(bounds or {}) - known
    if unknown:
        raise TypeError(f"{name}: bounds name unknown fields {sorted(unknown)}")
    for key, spec in (bounds or {}).items():
        _check_bound_keys(name, key, spec)

    def decorator(fn: Callable[..., dict]) -> Callable[..., dict]:
        if name in _REGISTRY:
            raise ValueError(f"experiment {name!r} is registered twice")
        _REGISTRY[name] = Experiment(name, config_cls, fn, description, dict(quick or {}),
                                     dict(smoke or {}), needs, key_metric, order,
                                     tuple(lessons), narrate, tuple(depends),
                                     dict(bounds or {}))
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

_BOUND_KEYS = {"ge", "min", "gt", "le", "max", "lt", "finite"}

# Rules for fields that declare no bounds, by name (first match wins). A rule is relaxed to
# the field's own default, quick and smoke values where they lie outside it.
GENERIC_BOUNDS: tuple[tuple[str, dict], ...] = (
    ("epochs", {"ge": 1}),
    ("*_epochs", {"ge": 1}),
    ("batch_size", {"ge": 1}),
    ("*_batch_size", {"ge": 1}),
    ("n_*", {"ge": 1}),
    ("num_*", {"ge": 1}),
    ("lr", {"gt": 0}),
    ("*_lr", {"gt": 0}),
    ("dropout", {"ge": 0, "lt": 1}),
    ("weight_decay", {"ge": 0}),
    ("momentum", {"ge": 0, "le": 1}),
)


def bounded(default: Any, *, ge: float | None = None, gt: float | None = None,
            le: float | None = None, lt: float | None = None, finite: bool = True,
            **field_kwargs: Any) -> Any:
    """A dataclass field with its bounds beside it, e.g. ``dropout: float = bounded(0.2, ge=0, lt=1)``.

    ``finite=False`` lets a float field take ±inf; NaN is always refused.
    """
    spec = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    if not finite:
        spec["finite"] = False
    metadata = {**field_kwargs.pop("metadata", {}), **spec}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata,
                     **field_kwargs)
    return field(default=default, metadata=metadata, **field_kwargs)


def _check_bound_keys(owner: str, key: str, spec: Any) -> None:
    if spec is None:
        return
    if not isinstance(spec, dict) or set(spec) - _BOUND_KEYS:
        raise TypeError(f"{owner}: bounds of {key!r} must be a dict with keys among "
                        f"{sorted(_BOUND_KEYS)}, got {spec!r}")


def _normalise(spec: dict) -> dict:
    """``min``/``max`` spelled as ``ge``/``le``."""
    out = dict(spec)
    if "min" in out:
        out["ge"] = out.pop("min")
    if "max" in out:
        out["le"] = out.pop("max")
    return {k: v for k, v in out.items() if v is not None}


def _numbers(value: Any) -> list[float]:
    """The numbers in a field value: the value itself, or the items of a list/tuple."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [v for v in items if isinstance(v, numbers.Real) and not isinstance(v, bool)]


def _relax(spec: dict, values: list[float]) -> dict:
    """A generic rule widened just enough to admit the registered values (defaults, quick...)."""
    out = dict(spec)
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return out
    low, high = min(finite), max(finite)
    if ("ge" in out and low < out["ge"]) or ("gt" in out and low <= out["gt"]):
        out.pop("gt", None)
        out["ge"] = min(low, out.get("ge", low))
    if ("le" in out and high > out["le"]) or ("lt" in out and high >= out["lt"]):
        out.pop("lt", None)
        out["le"] = max(high, out.get("le", high))
    return out


def field_bounds(experiment: Experiment) -> dict[str, dict]:
    """Each field's bounds for ``experiment``: declared (registration, then field metadata),
    else the generic rule for its name relaxed to the registered values; {} for none."""
    import fnmatch

    instance = experiment.config_cls()
    out: dict[str, dict] = {}
    for f in dataclasses.fields(experiment.config_cls):
        if f.name in experiment.bounds:
            spec = experiment.bounds[f.name]
            out[f.name] = _normalise(spec) if spec else {}
            continue
        if "bounds" in f.metadata or _BOUND_KEYS & set(f.metadata):
            nested = f.metadata.get("bounds", {})
            _check_bound_keys(experiment.name, f.name, nested)
            declared = {**(nested or {}), **{k: v for k, v in f.metadata.items()
                                             if k in _BOUND_KEYS}}
            out[f.name] = _normalise(declared) if nested is not None else {}
            continue
        rule = next((spec for pattern, spec in GENERIC_BOUNDS
                     if fnmatch.fnmatchcase(f.name, pattern)), None)
        if rule is None:
            out[f.name] = {}
            continue
        registered = _numbers(getattr(instance, f.name))
        for overrides in (experiment.quick, experiment.smoke):
            if f.name in overrides:
                registered += _numbers(overrides[f.name])
        out[f.name] = _relax(rule, registered)
    return out


def describe_bounds(spec: dict) -> str:
    """``{"ge": 0, "lt": 1}`` as "in [0, 1)"; ``{"gt": 0}`` as "> 0"; "" for none."""
    low = ("[", spec["ge"]) if "ge" in spec else ("(", spec["gt"]) if "gt" in spec else None
    high = ("]", spec["le"]) if "le" in spec else (")", spec["lt"]) if "lt" in spec else None
    if low and high:
        return f"in {low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
    if low:
        return f"{'≥' if low[0] == '[' else '>'} {low[1]:g}"
    if high:
        return f"{'≤' if high[0] == ']' else '<'} {high[1]:g}"
    return ""


def _violation(x: float, spec: dict, is_float: bool) -> str | None:
    """What is wrong with the number ``x`` under ``spec`` (None: nothing)."""
    if is_float and spec.get("finite", True) and not math.isfinite(x):
        return "must be a finite number"
    if math.isnan(x):
        return "must be a number (not NaN)"
    if "ge" in spec and not x >= spec["ge"]:
        return f"must be at least {spec['ge']:g}"
    if "gt" in spec and not x > spec["gt"]:
        return f"must be greater than {spec['gt']:g}"
    if "le" in spec and not x <= spec["le"]:
        return f"must be at most {spec['le']:g}"
    if "lt" in spec and not x < spec["lt"]:
        return f"must be less than {spec['lt']:g}"
    return None


def check_config(config: Any, bounds: dict[str, dict], *,
                 overrides: dict[str, str] | None = None, name: str = "") -> None:
    """Raise :class:`ConfigError` for the first field value outside its bounds.

    Float values (also inside tuples) must be finite unless their bounds say ``finite: False``.
    The message names the ``--set key=value`` that gave the value, when one did.
    """
    overrides = overrides or {}
    for f in dataclasses.fields(config):
        spec = bounds.get(f.name, {})
        value = getattr(config, f.name)
        many = isinstance(value, (list, tuple))
        for x in _numbers(value):
            problem = _violation(float(x), spec, isinstance(x, float))
            if problem is None:
                continue
            where = (f"--set {f.name}={overrides[f.name]}" if f.name in overrides
                     else f"{name or type(config).__name__}: {f.name}={value!r}")
            what = f"each value of {f.name}" if many else f.name
            raise ConfigError(f"{where}: {what} {problem}")
