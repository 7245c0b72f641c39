"""The registry: --set parsing against dataclass types, quick/smoke overrides."""

from dataclasses import dataclass

import pytest

from stridelab.errors import ConfigError
from stridelab.experiments.registry import (
    Experiment,
    all_experiments,
    apply_overrides,
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
