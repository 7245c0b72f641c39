"""mnist-samples: one image per class, the counts, and notes from them."""

from __future__ import annotations

import numpy as np
import pytest

from stridelab.experiments.mnist_samples import SamplesConfig, narrate


def test_samples_run_shows_one_image_of_each_class(smoke_runs):
    result = smoke_runs.ok("mnist-samples")
    m = result.metrics
    # mnist-5k: 400 training and 100 test images of each of the 10 classes
    assert sorted(m["labels"]) == list(range(10)) and m["n_shown"] == 10
    assert m["train_counts"] == [400] * 10 and m["test_counts"] == [100] * 10
    assert m["train_count_min"] == m["train_count_max"] == 400
    assert (m["image_height"], m["image_width"]) == (28, 28)
    assert 0.5 < m["background_fraction"] < 1.0 and 0.0 < m["pixel_mean"] < 0.5
    for fig in ("samples", "class_counts"):
        assert (result.out / "figures" / f"{fig}.png").stat().st_size > 1000


def _fake(*, lo=400, hi=400, background=0.81) -> dict:
    return {"dataset": "mnist-5k", "n_train": 4000, "n_test": 1000, "image_height": 28,
            "image_width": 28, "n_classes": 10, "train_count_min": lo, "train_count_max": hi,
            "pixel_mean": 0.1307, "pixel_std": 0.3081, "background_fraction": background}


@pytest.mark.parametrize("metrics, branches", [
    (_fake(), {"balanced": True, "mostly_background": True}),
    (_fake(lo=350, hi=470), {"balanced": False, "mostly_background": True}),
    (_fake(background=np.float64(0.3)), {"balanced": True, "mostly_background": False}),
])
def test_narrate_reads_balance_and_background_from_the_counts(metrics, branches):
    notes = narrate(metrics, SamplesConfig())
    assert notes.branches == branches
    assert f"{metrics['train_count_min']}" in str(notes)
    assert f"{metrics['background_fraction']:.1%}" in str(notes)
