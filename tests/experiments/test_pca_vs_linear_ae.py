"""pca-vs-linear-ae: the smoke run's angles between subspaces; the notes both ways."""

import pytest

from stridelab.experiments import pca_vs_linear_ae


def test_pca_vs_linear_ae_study_reports_angles_between_subspaces(smoke_runs):
    result = smoke_runs.ok("pca-vs-linear-ae")
    m = result.metrics
    assert len(m["decoder_angles_deg"]) == 2 and len(m["encoder_angles_deg"]) == 2
    assert all(0 <= a <= 90 for a in m["decoder_angles_deg"] + m["encoder_angles_deg"])
    assert m["max_angle_deg"] == pytest.approx(max(m["decoder_angles_deg"]))
    assert m["pca2_test_mse"] > 0 and m["test_mse"] > 0
    assert m["mse_ratio"] == pytest.approx(m["test_mse"] / m["pca2_test_mse"])
    assert m["n_linear_per_half"] == 4  # hidden (128, 64, 12), then the code
    assert 1 <= m["span_dim"] <= 784
    for key in ("code_geometry", "pca2_geometry"):
        g = m[key]
        assert len(g["centroids"]) == 10 and g["closest_pairs"]
        assert sum(g["variance_by_axis"]) == pytest.approx(1.0)


def _geometry(pair, isolated):
    return {"closest_pairs": [{"digits": list(pair), "separation": 0.31}],
            "most_isolated_digit": {"digit": isolated, "nearest": 7, "separation": 2.5}}


def _pca_metrics(max_angle, r2=0.9999, pca_pair=(5, 3)):
    return {"max_angle_deg": max_angle, "decoder_angles_deg": [max_angle, max_angle / 2],
            "encoder_angles_deg": [16.6, 15.2], "encoder_angles_in_span_deg": [2.2, 1.9],
            "span_dim": 318, "test_mse": 0.0565, "pca2_test_mse": 0.0565,
            "code_to_pca_r2": r2, "n_linear_per_half": 4, "dataset": "mnist-5k",
            "n_train": 4000, "code_geometry": _geometry((3, 5), 1),
            "pca2_geometry": _geometry(pca_pair, 1)}


@pytest.mark.parametrize("metrics, branches", [
    (_pca_metrics(0.3), {"same_plane": True, "code_is_pca_in_another_basis": True,
                         "same_overlap": True}),
    (_pca_metrics(25.0, r2=0.7, pca_pair=(4, 9)),
     {"same_plane": False, "code_is_pca_in_another_basis": False, "same_overlap": False}),
    (_pca_metrics(2.0, r2=0.98), {"same_plane": True, "code_is_pca_in_another_basis": False,
                                  "same_overlap": True}),
])
def test_pca_notes_claim_the_same_plane_only_when_the_angles_are_small(metrics, branches):
    notes = pca_vs_linear_ae.narrate(metrics, pca_vs_linear_ae.LinearAEConfig(variance_span=0.95))
    assert notes.branches == branches
    assert "0.95" in str(notes) and "318" in str(notes)  # the span and its size
