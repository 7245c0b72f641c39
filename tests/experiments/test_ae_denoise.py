"""ae-denoise: the smoke run measures the corruption it states; the notes both ways."""

import math

import pytest

from stridelab.experiments import ae_denoise


def test_ae_denoise_study_measures_the_corruption_it_states(smoke_runs, lessons_by_metric):
    result = smoke_runs.ok("ae-denoise")
    m = result.metrics
    assert "noise_std" not in m  # a config value, not a measurement
    sigma = ae_denoise.DenoiseConfig().noise_std
    # 128 test images · 784 pixels of N(0, σ²) noise: the mean square is σ² ± ~1%
    assert m["noisy_input_mse"] == pytest.approx(sigma**2, rel=0.03)
    for key in ("test_mse", "test_mse_skip", "clean_input_mse", "output_to_noisy_mse",
                "knn_accuracy", "knn_accuracy_skip"):
        assert math.isfinite(m[key])
    for stem in ("mnist_dae", "mnist-dae-skip"):
        assert (result.out / f"{stem}.pt").exists() and (result.out / f"{stem}.pt2").exists()
    assert lessons_by_metric(result)["test_mse"]["met"] == (m["test_mse"] < m["noisy_input_mse"])


def _denoise_metrics(plain, skip, noisy=0.09, to_noisy=(0.12, 0.10)):
    return {"test_mse": plain, "test_mse_skip": skip, "noisy_input_mse": noisy,
            "output_to_noisy_mse": to_noisy[0], "output_to_noisy_mse_skip": to_noisy[1],
            "clean_input_mse": 0.04, "clean_input_mse_skip": 0.006, "pca2_test_mse": 0.06,
            "knn_accuracy": 0.5, "knn_accuracy_skip": 0.3, "dataset": "mnist-5k",
            "n_train": 4000, "n_test": 2000}


@pytest.mark.parametrize("metrics, branches", [
    (_denoise_metrics(0.046, 0.007), {"plain_denoises": True, "skip_denoises": True,
                                      "neither_copies": True, "skips_help": True}),
    (_denoise_metrics(0.095, 0.007), {"plain_denoises": False, "skip_denoises": True,
                                      "neither_copies": True, "skips_help": True}),
    (_denoise_metrics(0.046, 0.095), {"plain_denoises": True, "skip_denoises": False,
                                      "neither_copies": True, "skips_help": False}),
    (_denoise_metrics(0.046, 0.007, to_noisy=(0.03, 0.10)),
     {"plain_denoises": True, "skip_denoises": True, "neither_copies": False,
      "skips_help": True}),
])
def test_denoise_notes_compare_the_output_with_the_noisy_input(metrics, branches):
    notes = ae_denoise.narrate(metrics, ae_denoise.DenoiseConfig(noise_std=0.25))
    assert {k: notes.branches[k] for k in branches} == branches
    assert notes.branches["skip_beats_identity"] == branches["skip_denoises"]
    assert notes.branches["skip_better_on_clean"] and notes.branches["skip_code_loses_digits"]
    assert "σ = 0.25" in str(notes)  # σ from the config
