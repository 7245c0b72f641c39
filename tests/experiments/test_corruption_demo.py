"""corruption-demo: the distance to the parabola by hand, the smoke run, the notes both ways."""

import math

import numpy as np
import pytest

from stridelab.experiments import corruption_demo


def test_distance_to_parabola_by_hand():
    # (0, 1): min over t of t² + (t² − 1)² is at t² = 1/2, distance √(1/2 + 1/4)
    P = np.array([[0.0, 1.0], [0.5, 0.25], [0.0, -0.5]])
    d = corruption_demo.distance_to_parabola(P, -1.0, 1.0, n_grid=20001)
    assert d == pytest.approx([math.sqrt(0.75), 0.0, 0.5], abs=1e-6)


def test_corruption_demo_measures_its_corruption(smoke_runs, lessons_by_metric):
    result = smoke_runs.ok("corruption-demo")
    m = result.metrics
    # 400 draws: the sample std of N(0, 0.1²) is within 0.1 ± 0.015 (4.2 standard errors)
    assert m["measured_noise_std"] == pytest.approx(0.1, abs=0.015)
    assert m["noise_std_relative_error"] == pytest.approx(abs(m["measured_noise_std"] - 0.1)
                                                          / 0.1)
    # E|x̃ − x|² = 2σ² = 0.02 per point; 200 points: within ±30% (about 4 standard errors)
    assert m["mean_squared_displacement"] == pytest.approx(0.02, rel=0.3)
    assert m["mean_distance_clean"] < 1e-3 < m["mean_distance_corrupted"]
    assert lessons_by_metric(result)["noise_std_relative_error"]["met"] is True


def test_corruption_notes_both_ways():
    config = corruption_demo.CorruptionConfig(noise_std=0.2, n_points=50)
    base = {"measured_noise_std": 0.19, "mean_squared_displacement": 0.08}
    off = corruption_demo.narrate({**base, "mean_distance_clean": 1e-4,
                                   "mean_distance_corrupted": 0.15}, config)
    on = corruption_demo.narrate({**base, "mean_distance_clean": 0.2,
                                  "mean_distance_corrupted": 0.1}, config)
    assert off.branches == {"off_curve": True} and on.branches == {"off_curve": False}
    assert "50 clean points" in str(off) and "σ = 0.2" in str(off)
