"""The registry: --set parsing against dataclass types, quick/smoke overrides, field bounds."""

from dataclasses import dataclass, field

import pytest

from stridelab.errors import ConfigError
from stridelab.experiments.registry import (
    Experiment,
    all_experiments,
    apply_overrides,
    bounded,
    describe_bounds,
    field_bounds,
    parse_set_args,
    register,
)


@dataclass
class Toy:
    epochs: int = 10  # passes
    lr: float = 0.1  # step size
    name: str = "a"  # label
    augment: bool = False  # on/off
    sizes: tuple[int, ...] = (1, 2)  # layer widths
    limit: int | None = None  # optional cap


def test_overrides_are_parsed_by_type():
    cfg = apply_overrides(Toy(), {"epochs": "3", "lr": "1e-3", "augment": "true",
                                  "sizes": "4,5,6", "limit": "none", "name": "b"})
    assert cfg == Toy(epochs=3, lr=1e-3, name="b", augment=True, sizes=(4, 5, 6), limit=None)
    assert apply_overrides(Toy(), {"limit": "7"}).limit == 7


@pytest.mark.parametrize("overrides, fragment", [
    ({"epochs": "3.5"}, "integer"),
    ({"lr": "fast"}, "number"),
    ({"augment": "maybe"}, "true or false"),
    ({"sizes": "1,x"}, "integer"),
    ({"nope": "1"}, "unknown key"),
])
def test_bad_overrides_raise_config_error(overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        apply_overrides(Toy(), overrides)


def test_parse_set_args():
    assert parse_set_args(["a=1", "b = x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ConfigError):
        parse_set_args(["novalue"])


def test_quick_and_smoke_layering():
    exp = Experiment("toy", Toy, lambda c, ctx: {}, "toy", quick={"epochs": 2},
                     smoke={"lr": 0.5})
    assert exp.make_config().epochs == 10
    assert exp.make_config(quick=True) == Toy(epochs=2)
    assert exp.make_config(smoke=True) == Toy(epochs=2, lr=0.5)
    assert exp.make_config(quick=True, overrides={"epochs": "4"}).epochs == 4


def test_register_rejects_unknown_quick_fields_and_non_dataclasses():
    with pytest.raises(TypeError):
        register("bad-quick", Toy, description="x", quick={"nope": 1})
    with pytest.raises(TypeError):
        register("bad-config", dict, description="x")


def test_every_experiment_is_well_formed():
    experiments = all_experiments()
    assert len({e.name for e in experiments}) == len(experiments)
    for exp in experiments:
        assert exp.description and "\n" not in exp.description
        exp.make_config(quick=True)
        exp.make_config(smoke=True)


# ---------------------------------------------------------------------------------------------
# bounds: declared beside the fields, generic rules by name, checked once in make_config

@dataclass
class Bounded:
    epochs: int = 10  # generic: >= 1
    n_test: int = 0  # generic n_* >= 1, relaxed to >= 0 by this default ("0: all")
    batch_size: int = 32  # generic: >= 1
    lr: float = 0.1  # generic: > 0
    dropout: float = bounded(0.2, ge=0, lt=1)  # declared
    depth: int = field(default=3, metadata={"min": 1, "max": 5})  # declared, brief spelling
    x0: float = field(default=-2.0, metadata={"bounds": None})  # no rule; finite still
    cap: float = bounded(1.0, gt=0, finite=False)  # may be inf
    sizes: tuple[int, ...] = (4, 8)  # no rule by name
    rates: tuple[float, ...] = (0.1, 0.2)  # each finite
    n_epochs_per_plot: int = 1  # n_*: >= 1


def _bounded(**kwargs):
    return Experiment("bounded", Bounded, lambda c, ctx: {}, "toy", **kwargs)


@pytest.mark.parametrize("key, text, fragment", [
    ("epochs", "-1", "--set epochs=-1: epochs must be at least 1"),
    ("epochs", "0", "epochs must be at least 1"),
    ("batch_size", "0", "--set batch_size=0: batch_size must be at least 1"),
    ("lr", "-1", "--set lr=-1: lr must be greater than 0"),
    ("lr", "0", "lr must be greater than 0"),
    ("lr", "nan", "--set lr=nan: lr must be a finite number"),
    ("lr", "inf", "lr must be a finite number"),
    ("lr", "-inf", "lr must be a finite number"),
    ("n_test", "-1", "n_test must be at least 0"),
    ("dropout", "1", "dropout must be less than 1"),
    ("dropout", "-0.1", "dropout must be at least 0"),
    ("depth", "6", "depth must be at most 5"),
    ("depth", "0", "depth must be at least 1"),
    ("x0", "nan", "x0 must be a finite number"),
    ("cap", "nan", "cap must be a number (not NaN)"),
    ("cap", "0", "cap must be greater than 0"),
    ("rates", "0.1,inf", "each value of rates must be a finite number"),
    ("n_epochs_per_plot", "0", "must be at least 1"),
])
def test_values_out_of_bounds_are_one_config_error(key, text, fragment):
    with pytest.raises(ConfigError) as info:
        _bounded().make_config(overrides={key: text})
    message = str(info.value)
    assert fragment in message and "\n" not in message


@pytest.mark.parametrize("key, text, expected", [
    ("n_test", "0", 0), ("x0", "-1e6", -1e6), ("cap", "inf", float("inf")),
    ("dropout", "0", 0.0), ("depth", "5", 5), ("sizes", "0,-3", (0, -3)), ("lr", "1e-9", 1e-9),
])
def test_values_inside_bounds_pass(key, text, expected):
    assert getattr(_bounded().make_config(overrides={key: text}), key) == expected


def test_generic_rules_relax_to_registered_values_only():
    # a quick value of 0 epochs (say, "skip training") keeps 0 allowed, but not -1
    exp = _bounded(quick={"epochs": 0})
    assert field_bounds(exp)["epochs"] == {"ge": 0}
    assert exp.make_config(quick=True).epochs == 0
    with pytest.raises(ConfigError, match="at least 0"):
        exp.make_config(overrides={"epochs": "-1"})
    assert field_bounds(_bounded())["epochs"] == {"ge": 1}


def test_register_bounds_replace_field_and_generic_ones():
    exp = _bounded(bounds={"lr": {"gt": 0, "le": 1}, "depth": {}})
    assert describe_bounds(field_bounds(exp)["lr"]) == "in (0, 1]"
    with pytest.raises(ConfigError, match="lr must be at most 1"):
        exp.make_config(overrides={"lr": "2"})
    assert exp.make_config(overrides={"depth": "50"}).depth == 50  # declared: no bounds


def test_defaults_out_of_declared_bounds_name_the_experiment():
    @dataclass
    class Broken:
        dropout: float = bounded(1.5, ge=0, lt=1)  # an author's mistake

    exp = Experiment("broken", Broken, lambda c, ctx: {}, "toy")
    with pytest.raises(ConfigError, match=r"^broken: dropout=1.5: dropout must be less than 1"):
        exp.make_config()


def test_register_rejects_unknown_bound_fields_and_keys():
    with pytest.raises(TypeError, match="unknown fields"):
        register("bad-bounds", Toy, description="x", bounds={"nope": {"ge": 0}})
    with pytest.raises(TypeError, match="keys among"):
        register("bad-bound-key", Toy, description="x", bounds={"lr": {"above": 0}})


def test_describe_bounds():
    assert describe_bounds({"ge": 1}) == "≥ 1"
    assert describe_bounds({"gt": 0}) == "> 0"
    assert describe_bounds({"ge": 0, "lt": 1}) == "in [0, 1)"
    assert describe_bounds({"le": 5}) == "≤ 5"
    assert describe_bounds({}) == ""


def test_every_registered_default_quick_and_smoke_config_is_in_bounds():
    for exp in all_experiments():
        for mode in ({}, {"quick": True}, {"smoke": True}):
            exp.make_config(**mode)  # raises ConfigError naming the field otherwise


def test_needs_as_families():
    assert _bounded(needs="mnist").families() == ("mnist",)
    assert _bounded(needs=("mnist", "cifar10")).families() == ("mnist", "cifar10")
    assert _bounded().families() == ()
