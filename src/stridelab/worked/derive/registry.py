"""The derivation topics, each registered with its options by :func:`topic`, and :func:`derive`.

A topic module declares each derivation once::

    @topic("ridge", "closed-form minimiser of …", options=("X", "y", "lam"), read=read_ridge)
    def ridge(rng, points, values) -> Derivation: ...

``options`` are the value options it takes (keys of :data:`VALUE_OPTIONS`); ``read`` validates
the values given (and returns them parsed) before any derivation work, so a malformed or
oversized value is refused in one line without waiting for SymPy. :data:`TOPICS` holds the
topics in the order they were registered.

What a sheet grades is declared there too: ``formulas`` are the formulas the topic asks a
student to derive (:class:`~stridelab.worked.derive.formulas.Formula`, in the task's own
symbols), ``values`` the function that lists the numbers it grades when given values
(:mod:`stridelab.worked.derive.graded`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stridelab.errors import ConfigError, DataError
from stridelab.worked._args import positive_int
from stridelab.worked.derive.answer import Derivation, DerivationSet
from stridelab.worked.derive.formulas import Formula, formula_target
from stridelab.worked.limits import MAX_POINTS, check_limit
from stridelab.worked.values import read_vector

# every value option: its flag (for messages and --help)
VALUE_OPTIONS: dict[str, str] = {
    "z": "--z",
    "y": "--y",
    "X": "--X",
    "lam": "--lam",
    "x": "--x",
    "w": "--w",
    "b": "--b",
    "stride": "--stride",
    "activation": "--activation",
    "a": "--a",
}

Reader = Callable[[dict, list[str]], dict]


@dataclass(frozen=True)
class Topic:
    """One derivation: its name, one line on what it shows, and how to run it."""

    name: str
    summary: str
    func: Callable[..., Derivation]  # (rng, points, values) or (rng, points) without options
    options: tuple[str, ...] = ()  # the value options it takes (keys of VALUE_OPTIONS)
    read: Reader | None = None  # (values given, notes) -> values parsed; raises on bad input
    formulas: tuple[Formula, ...] = ()  # what a student is asked to derive, gradable
    values: Callable[[Derivation], list] | None = None  # the numbers graded (given values)

    def run(self, rng: np.random.Generator, points: int, values: dict) -> Derivation:
        return self.func(rng, points, values) if self.options else self.func(rng, points)

    def targets(self, d: Derivation) -> list:
        """How each gradable value of ``d`` is checked: the formulas, then the numbers."""
        out = [formula_target(f) for f in self.formulas]
        if self.values is not None:
            out += self.values(d)
        return out


TOPICS: dict[str, Topic] = {}


def topic(name: str, summary: str, *, options: tuple[str, ...] = (),
          read: Reader | None = None, formulas: tuple[Formula, ...] = (),
          values: Callable[[Derivation], list] | None = None) -> Callable:
    """Register the decorated function as derivation ``name`` (see the module docstring)."""
    unknown = [o for o in options if o not in VALUE_OPTIONS]
    keys = [f.key for f in formulas]
    if unknown or name in TOPICS or len(set(keys)) != len(keys):  # pragma: no cover
        raise ValueError(f"topic {name!r}: unknown options {unknown}, registered twice or "
                         "two formulas with one key")

    def register(func: Callable) -> Callable:
        TOPICS[name] = Topic(name, summary, func, tuple(options), read, tuple(formulas), values)
        return func

    return register


def need(v: dict, names: tuple[str, ...], topic: str) -> None:
    """All of ``names`` must be given together."""
    missing = [VALUE_OPTIONS[k] for k in names if k not in v]
    if missing:
        given = " ".join(VALUE_OPTIONS[k] for k in v)
        raise ConfigError(
            f"{topic} with {given} also needs {' '.join(missing)}; give "
            + " ".join(VALUE_OPTIONS[k] for k in names)
        )


def read_z_and_y(v: dict, notes: list[str], topic: str, *, per: str,
                 targets: Callable[..., list] = read_vector) -> dict:
    """``--z`` and ``--y`` given together, one target per value of z (a ``per``)."""
    need(v, ("z", "y"), topic)
    z = read_vector(v["z"], what="--z", notes=notes)
    y = targets(v["y"], what="--y", notes=notes)
    if len(y) != len(z):
        raise DataError(f"--y has {len(y)} values but --z has {len(z)}; give one target per "
                        f"{per}")
    return {"z": z, "y": y}


def _topic_key(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    if key not in TOPICS:
        shown = str(name)[:40]
        raise ConfigError(f"unknown topic {shown!r}; choose one of: {', '.join(TOPICS)} (or all)")
    return key


def check_points(seed, points) -> tuple[int, int]:
    """``--seed`` (>= 0) and ``--points`` (1 to MAX_POINTS) as ints, or one-line errors."""
    seed = positive_int(seed, name="--seed", minimum=0)
    points = positive_int(points, name="--points")
    check_limit(points, MAX_POINTS, what="--points")
    return seed, points


def derive(topic: str, *, seed: int = 0, points: int = 5, **values) -> Derivation | DerivationSet:
    """Derive ``topic`` (or ``"all"``), checked numerically.

    Without values, the check uses ``points`` random points drawn with ``seed`` (at most
    MAX_POINTS). With values — ``z``, ``y``, ``X``, ``lam``, ``x``, ``w``, ``b``, ``stride``,
    ``activation``, ``a`` as the topic takes them (``derive list`` shows which) — the answer
    is computed with those numbers and checked at them. A value is a string (a literal such
    as ``"1 2; 3 4"`` or a file name) or a number, list or ndarray; a float such as ``0.1``
    is read as the decimal it prints as (1/10). Shapes: ``z``, ``y`` (n,); ``X`` (n, d);
    ``x`` (C, L) and ``w`` (C, M) for conv1d (rows are channels), (C, H, W) and (C, KH, KW)
    or one matrix for conv2d.
    """
    seed, points = check_points(seed, points)
    given = {k: val for k, val in values.items() if val is not None}
    unknown = [k for k in given if k not in VALUE_OPTIONS]
    if unknown:
        raise ConfigError(f"unknown value {unknown[0]!r}; the values are: "
                          + ", ".join(VALUE_OPTIONS))
    if str(topic).strip().lower() == "all":
        if given:
            raise ConfigError("values (" + " ".join(VALUE_OPTIONS[k] for k in given)
                              + ") go with one topic, not with 'all'")
        return DerivationSet([derive(t, seed=seed, points=points) for t in TOPICS])
    spec = TOPICS[_topic_key(topic)]
    extra = [k for k in given if k not in spec.options]
    if extra:
        takes = (" ".join(VALUE_OPTIONS[k] for k in spec.options) if spec.options else
                 "no values (use `stridelab backprop` for a network with numbers)")
        raise ConfigError(f"{spec.name} does not take {VALUE_OPTIONS[extra[0]]}; it takes {takes}")
    notes: list[str] = []
    rng = np.random.default_rng(seed)
    # inf and nan from extreme values are handled where they arise (refused, or compared as
    # IEEE values by the checks); NumPy's warnings about them would be a second, raw message
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        parsed = spec.read(given, notes) if given and spec.read else given
        d = spec.run(rng, points, parsed)
    d.notes[:0] = [n for n in notes if n not in d.notes]
    d.check["seed"] = seed
    d.grading = spec.targets
    return d
