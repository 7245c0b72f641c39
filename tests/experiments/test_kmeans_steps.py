"""kmeans-steps: the smoke run's iterations from the region and from k-means++; the notes."""

from __future__ import annotations

import numpy as np
import pytest

from stridelab.cluster import KMeans
from stridelab.data.blobs import load_points
from stridelab.errors import ConfigError
from stridelab.experiments.kmeans_steps import StepsConfig
from stridelab.experiments.kmeans_steps import narrate as narrate_steps
from stridelab.experiments.runner import run_experiment


def _non_increasing(values, rtol=1e-9):
    values = np.asarray(values, dtype=float)
    return bool(np.all(values[1:] <= values[:-1] * (1 + rtol) + 1e-12))


def test_kmeans_steps_smoke_metrics(smoke_runs):
    result = smoke_runs.ok("kmeans-steps")
    m = result.metrics
    X, y, _ = load_points("stand-in-blobs")  # the default data
    init = np.asarray(m["region_init"])
    assert init.shape == (3, 2)
    # the sheet's instruction as written: three samples chosen in the region x0 > 4
    region = (X[:, 0] > 4) & (X[:, 0] <= 6)
    assert m["n_samples_in_region"] == region.sum() >= 3 and m["init_from_samples"] is True
    chosen = m["region_init_indices"]
    assert len(set(chosen)) == 3 and all(region[i] for i in chosen)
    np.testing.assert_array_equal(init, X[chosen])
    assert m["region_init_blobs"] == y[chosen].tolist()
    idx = m["kmeanspp_indices"]
    assert len(set(idx)) == 3 and all(0 <= i < len(X) for i in idx)

    # the same run again from the recorded start: same iterations and inertia, and the
    # recorded history only ever lowers the inertia
    km = KMeans(n_clusters=3, init=init, tol=0).fit(X)
    assert km.n_iter_ == m["n_iter_region_init"] == m["region_history"]["n_iter"]
    assert km.inertia_ == pytest.approx(m["inertia_region_init"], rel=1e-9)
    inertias = [h["inertia"] for h in km.history_]
    assert inertias == pytest.approx(m["region_history"]["inertia"], rel=1e-12)
    assert _non_increasing(inertias)
    # the means start together on the right: the first assignment is far worse than the last
    assert m["region_history"]["first_inertia"] > 2 * m["region_history"]["final_inertia"]
    assert len(m["region_history"]["moved"]) == km.n_iter_ - 1

    km_pp = KMeans(n_clusters=3, init=X[idx], tol=0).fit(X)
    assert km_pp.n_iter_ == m["n_iter_kmeanspp"]
    assert _non_increasing([h["inertia"] for h in km_pp.history_])

    by_init = m["by_init"]
    assert set(by_init) == {"region", "random samples", "k-means++"}
    for stats in by_init.values():
        assert 0.0 <= stats["fraction_at_lowest"] <= 1.0
        assert 1 <= stats["mean_n_iter"] <= stats["max_n_iter"]
        assert m["lowest_inertia"] <= stats["mean_inertia"] * (1 + 1e-9)
        assert stats["mean_inertia"] <= stats["worst_inertia"] * (1 + 1e-9)
    assert max(s["fraction_at_lowest"] for s in by_init.values()) > 0
    assert m["iterations_saved_by_kmeanspp"] == pytest.approx(
        by_init["region"]["mean_n_iter"] - by_init["k-means++"]["mean_n_iter"])
    for fig in ("steps_region_init", "steps_kmeanspp", "init_comparison"):
        assert (result.out / "figures" / f"{fig}.png").stat().st_size > 0


def test_a_region_without_k_samples_starts_from_uniform_points_there(tmp_path):
    """mlxtend's three blobs end at x0 = 3.25: no sample to choose in x0 > 4."""
    result = run_experiment("kmeans-steps", smoke=True, out=tmp_path, echo=False, device="cpu",
                            overrides={"data": "three-blobs"})
    m = result.metrics
    X, _, _ = load_points("three-blobs")
    init = np.asarray(m["region_init"])
    assert m["n_samples_in_region"] == 0 and m["init_from_samples"] is False
    assert m["region_init_indices"] is None and m["region_init_blobs"] is None
    assert np.all(init[:, 0] > 4) and np.all(init[:, 0] <= 6)
    assert np.all((init[:, 1] >= X[:, 1].min()) & (init[:, 1] <= X[:, 1].max()))
    assert narrate_steps(m, StepsConfig()).branches["init_from_samples"] is False


def test_kmeans_steps_refuses_an_empty_region(tmp_path):
    with pytest.raises(ConfigError, match="init_x0_max must be at least init_x0_min"):
        run_experiment("kmeans-steps", smoke=True, out=tmp_path, echo=False, device="cpu",
                       overrides={"init_x0_min": "5", "init_x0_max": "4"})
    assert not (tmp_path / "kmeans-steps").exists()


def _history(first, final, *, reseeded=0, max_moved=36):
    return {"first_inertia": first, "final_inertia": final, "n_iter": 4, "moved": [max_moved],
            "max_moved": max_moved, "max_moved_iteration": 2, "n_reseeded": reseeded,
            "mean_travel": 4.88, "n_samples": 150}


def _steps_metrics(*, from_samples=False, saved=1.76, reseeded=0) -> dict:
    return {
        "data": "fabricated points", "n_samples": 150,
        "n_samples_in_region": 5 if from_samples else 0, "init_from_samples": from_samples,
        "region_init_indices": [82, 55, 79] if from_samples else None,
        "region_init_blobs": [1, 1, 2] if from_samples else None,
        "data_x0_max": 3.25,
        "region_history": _history(3889.1, 72.5, reseeded=reseeded),
        "kmeanspp_history": _history(135.7, 72.5, max_moved=3),
        "lowest_inertia": 72.48, "iterations_saved_by_kmeanspp": saved,
        "by_init": {
            "region": {"mean_n_iter": 4.62, "worst_inertia": 274.8, "fraction_at_lowest": 0.8},
            "random samples": {"mean_n_iter": 4.39, "worst_inertia": 274.8,
                               "fraction_at_lowest": 0.7},
            "k-means++": {"mean_n_iter": 4.62 - saved, "worst_inertia": 72.48,
                          "fraction_at_lowest": 1.0},
        },
    }


def test_narrate_steps_says_how_the_means_were_chosen():
    config = StepsConfig()
    uniform = narrate_steps(_steps_metrics(from_samples=False), config)
    samples = narrate_steps(_steps_metrics(from_samples=True), config)
    assert uniform.branches["init_from_samples"] is False
    assert samples.branches["init_from_samples"] is True
    uniform, samples = str(uniform), str(samples)
    assert "3.25" in uniform and "3.25" not in samples  # the data's x0 end: 'uniform' only
    assert "samples #82, #55, #79 of blobs 1, 1, 2" in samples
    # the region comes from the config, not the sheet's literal
    moved = str(narrate_steps(_steps_metrics(), StepsConfig(init_x0_min=2.5, init_x0_max=7.0)))
    assert "(2.5, 7]" in moved and "(4, 6]" in uniform


def test_narrate_steps_reports_reseeded_means_only_when_there_were_some():
    config = StepsConfig()
    none = narrate_steps(_steps_metrics(reseeded=0), config)
    some = narrate_steps(_steps_metrics(reseeded=7), config)
    assert not none.branches["region_reseeded"] and some.branches["region_reseeded"]
    assert not some.branches["kmeanspp_reseeded"]  # the k-means++ run had none
    assert " 7 time" in str(some)


def test_narrate_steps_says_whether_kmeanspp_saved_iterations():
    config = StepsConfig()
    saved = narrate_steps(_steps_metrics(saved=1.76), config)
    lost = narrate_steps(_steps_metrics(saved=-0.43), config)
    assert saved.branches["kmeanspp_saves"] and not lost.branches["kmeanspp_saves"]
    assert "1.76" in str(saved) and "-0.43" in str(lost)
    assert saved.branches["kmeanspp_worst_no_worse"]  # 72.48 against 274.8 for the others
