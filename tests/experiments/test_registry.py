"""The registry: --set parsing against dataclass types, quick/smoke overrides, field bounds."""

import dataclasses
from dataclasses import dataclass

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
# bounds: declared beside the fields with bounded(), checked once in make_config

@dataclass
class Bounded:
    epochs: int = bounded(10, ge=1)  # passes
    n_test: int = bounded(0, ge=0)  # 0: all
    lr: float = bounded(0.1, gt=0)  # step size
    dropout: float = bounded(0.2, ge=0, lt=1)  # drop probability
    depth: int = bounded(3, ge=1, le=5)  # layers
    x0: float = -2.0  # no bounds; finite still
    cap: float = bounded(1.0, gt=0, finite=False)  # may be inf
    sizes: tuple[int, ...] = (4, 8)  # no bounds
    rates: tuple[float, ...] = bounded((0.1, 0.2), gt=0)  # each positive and finite
    low: float = 0.0  # left end
    high: float = bounded(1.0, gt="low")  # right end, above the left one
    batch_size: int = 32  # no bounds: no rule by name either


def _bounded(**kwargs):
    return Experiment("bounded", Bounded, lambda c, ctx: {}, "toy", **kwargs)


@pytest.mark.parametrize("key, text, fragment", [
    ("epochs", "-1", "--set epochs=-1: epochs must be at least 1"),
    ("epochs", "0", "epochs must be at least 1"),
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
    ("rates", "0.1,-0.2", "each value of rates must be greater than 0"),
    ("high", "0", "--set high=0: high must be greater than low (0)"),
    ("low", "2", "--set low=2: high must be greater than low (2)"),
])
def test_values_out_of_bounds_are_one_config_error(key, text, fragment):
    with pytest.raises(ConfigError) as info:
        _bounded().make_config(overrides={key: text})
    message = str(info.value)
    assert fragment in message and "\n" not in message


@pytest.mark.parametrize("key, text, expected", [
    ("n_test", "0", 0), ("x0", "-1e6", -1e6), ("cap", "inf", float("inf")),
    ("dropout", "0", 0.0), ("depth", "5", 5), ("sizes", "0,-3", (0, -3)), ("lr", "1e-9", 1e-9),
    ("batch_size", "0", 0), ("low", "0.5", 0.5), ("high", "7", 7.0),
])
def test_values_inside_bounds_pass(key, text, expected):
    assert getattr(_bounded().make_config(overrides={key: text}), key) == expected


def test_field_bounds_and_their_description_come_from_the_fields():
    bounds = field_bounds(Bounded)
    assert bounds["dropout"] == {"ge": 0, "lt": 1} and bounds["batch_size"] == {}
    assert field_bounds(_bounded()) == bounds == field_bounds(Bounded())
    assert describe_bounds(bounds["depth"]) == "in [1, 5]"
    assert describe_bounds(bounds["high"]) == "> low"


def test_defaults_out_of_declared_bounds_name_the_experiment():
    @dataclass
    class Broken:
        dropout: float = bounded(1.5, ge=0, lt=1)  # an author's mistake

    exp = Experiment("broken", Broken, lambda c, ctx: {}, "toy")
    with pytest.raises(ConfigError, match=r"^broken: dropout=1.5: dropout must be less than 1"):
        exp.make_config()


def test_register_rejects_a_bound_naming_an_unknown_field():
    @dataclass
    class Typo:
        high: float = bounded(1.0, gt="lwo")

    with pytest.raises(TypeError, match="unknown field 'lwo'"):
        register("bad-bound-field", Typo, description="x")


def test_registered_fields_declare_their_bounds_one_way():
    """Every bound of every study sits beside its field (``bounded``): no field carries
    bounds in another spelling."""
    for exp in all_experiments():
        for f in dataclasses.fields(exp.config_cls):
            assert set(f.metadata) <= {"bounds"}, (exp.name, f.name, dict(f.metadata))


def test_describe_bounds():
    assert describe_bounds({"ge": 1}) == "≥ 1"
    assert describe_bounds({"ge": "min_speed", "le": 18}) == "in [min_speed, 18]"
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
