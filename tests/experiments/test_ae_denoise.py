"""ae-denoise: the smoke run measures the corruption it states and compares with the models
trained on clean images; the notes both ways."""

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


def test_ae_denoise_compares_with_the_models_trained_on_clean_images(smoke_runs):
    """The denoisers repeat 6.1 and 6.2 with only the noise changed: the same training record
    as ae-conv and ae-conv-skip, whose test MSEs on clean images it reads."""
    m = smoke_runs.ok("ae-denoise").metrics
    plain, skip = smoke_runs.ok("ae-conv").metrics, smoke_runs.ok("ae-conv-skip").metrics
    assert m["training"] == plain["training"] == skip["training"]
    assert m["clean_trained_test_mse"] == plain["test_mse"]
    assert m["clean_trained_test_mse_skip"] == skip["test_mse"]
    assert m["clean_trained_knn_accuracy_skip"] == skip["knn_accuracy"]
    # digit by digit against the clean images: the test MSE lies among the per-digit errors
    for name, total in (("no_skips", m["test_mse"]), ("with_skips", m["test_mse_skip"])):
        per_digit = [v for v in m[name]["mse_by_digit"] if v is not None]
        assert min(per_digit) <= total <= max(per_digit)


def _denoise_metrics(fake_seen, plain, skip, noisy=0.09, to_noisy=(0.12, 0.10),
                     clean=(0.038, 0.002)):
    return {"test_mse": plain, "test_mse_skip": skip, "noisy_input_mse": noisy,
            "output_to_noisy_mse": to_noisy[0], "output_to_noisy_mse_skip": to_noisy[1],
            "clean_input_mse": 0.04, "clean_input_mse_skip": 0.006, "pca2_test_mse": 0.06,
            "knn_accuracy": 0.5, "knn_accuracy_skip": 0.3, "dataset": "mnist-5k",
            "n_train": 4000, "n_test": 2000,
            "clean_trained_test_mse": clean[0], "clean_trained_test_mse_skip": clean[1],
            "clean_trained_knn_accuracy": None if clean[0] is None else 0.45,
            "clean_trained_knn_accuracy_skip": None if clean[1] is None else 0.3,
            "no_skips": fake_seen(), "with_skips": fake_seen(overlap=False, misread=False)}


@pytest.mark.parametrize("numbers, branches", [
    ((0.046, 0.007), {"plain_denoises": True, "skip_denoises": True,
                      "neither_copies": True, "skips_help": True}),
    ((0.095, 0.007), {"plain_denoises": False, "skip_denoises": True,
                      "neither_copies": True, "skips_help": True}),
    ((0.046, 0.095), {"plain_denoises": True, "skip_denoises": False,
                      "neither_copies": True, "skips_help": False}),
    ((0.046, 0.007, 0.09, (0.03, 0.10)),
     {"plain_denoises": True, "skip_denoises": True, "neither_copies": False,
      "skips_help": True}),
])
def test_denoise_notes_compare_the_output_with_the_noisy_input(numbers, branches, fake_seen):
    metrics = _denoise_metrics(fake_seen, *numbers)
    notes = ae_denoise.narrate(metrics, ae_denoise.DenoiseConfig(noise_std=0.25))
    assert {k: notes.branches[k] for k in branches} == branches
    assert notes.branches["skip_beats_identity"] == branches["skip_denoises"]
    assert notes.branches["skip_better_on_clean"] and notes.branches["skip_code_loses_digits"]
    assert "σ = 0.25" in str(notes)  # σ from the config


@pytest.mark.parametrize("clean, costs", [
    ((0.038, 0.002), {"noise_costs_clean": True, "noise_costs_clean_skip": True}),
    ((0.041, 0.007), {"noise_costs_clean": False, "noise_costs_clean_skip": False}),
    ((None, 0.002), {"noise_costs_clean_skip": True}),
])
def test_denoise_notes_say_what_training_on_noise_costs_on_clean_images(clean, costs,
                                                                         fake_seen):
    metrics = _denoise_metrics(fake_seen, 0.046, 0.007, clean=clean)
    notes = ae_denoise.narrate(metrics, ae_denoise.DenoiseConfig())
    assert {k: v for k, v in notes.branches.items() if k.startswith("noise_costs")} == costs
    text = str(notes)
    assert ("No `ae-conv` run trained like this one" in text) is (clean[0] is None)
    assert "6 look most like 8" in text  # the plain denoiser's misread digits (fake_seen)
