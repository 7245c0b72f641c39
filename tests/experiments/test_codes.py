"""Measurements on codes: reconstruction error, k-NN on the code, PCA, principal angles."""

import math  # noqa: I001  (ruff files `torch` under stridelab.torch)

import numpy as np
import pytest
import torch

from stridelab.experiments import codes
from stridelab.programs.prob5_AE import MLPAutoencoder


def test_reconstruction_mse_and_knn_by_hand():
    assert codes.reconstruction_mse(np.array([[0.0, 1.0], [0.5, 0.5]]),
                                 np.array([[0.0, 0.0], [0.0, 1.0]])) == pytest.approx(
        (0 + 1 + 0.25 + 0.25) / 4)
    Z_train = np.array([[0, 0], [0, 1], [1, 0], [9, 9], [9, 10], [10, 9]], dtype=float)
    y_train = np.array([0, 0, 0, 1, 1, 1])
    Z_test = np.array([[0.2, 0.2], [9.5, 9.5], [5.6, 5.6]])
    # the third point has neighbours 1, 1, 1 with k = 3 → predicted 1; the truth says 0
    assert codes.knn_accuracy(Z_train, y_train, Z_test, np.array([0, 1, 0]), k=3) == \
        pytest.approx(2 / 3)


def test_principal_angles_of_two_planes_by_hand():
    theta = math.radians(30)
    U = np.zeros((5, 2))
    U[0, 0] = U[1, 1] = 1.0  # span(e1, e2)
    V = np.zeros((5, 2))
    V[0, 0] = 2.0  # span(e1, cos θ e2 + sin θ e3), with a non-orthonormal basis
    V[1, 1], V[2, 1] = math.cos(theta), math.sin(theta)
    V[:, 1] += 3 * V[:, 0]
    assert sorted(codes.principal_angles_deg(U, V)) == pytest.approx([0.0, 30.0], abs=1e-9)


def test_principal_components_agree_with_scikit_learn():
    from sklearn.decomposition import PCA

    rs = np.random.RandomState(1)
    A = rs.standard_normal((200, 6)) @ rs.standard_normal((6, 6)) + 3.0  # (200, 6)
    mean, V, variances = codes.principal_components(A, 2)
    reference = PCA(2, svd_solver="full").fit(A)
    np.testing.assert_allclose(mean, reference.mean_, atol=1e-12)
    np.testing.assert_allclose(np.abs(V.T @ reference.components_.T), np.eye(2), atol=1e-8)
    np.testing.assert_allclose(variances[:2], reference.explained_variance_, rtol=1e-10)
    assert variances.sum() == pytest.approx(np.var(A, axis=0, ddof=1).sum())


def test_linear_autoencoder_set_to_the_pca_solution_matches_pca_exactly():
    """Encoder Vᵀ(x − μ), decoder Vz + μ: the PCA reconstruction, with angle 0 to PCA's plane."""
    from sklearn.decomposition import PCA

    rs = np.random.RandomState(0)
    X = torch.as_tensor(rs.rand(64, 1, 28, 28))  # (64, 1, 28, 28) float64
    flat = X.reshape(64, 784).numpy()
    # an exact solver: on 64×784 PCA's "auto" picks an unseeded randomized SVD
    pca = PCA(2, svd_solver="full").fit(flat)
    V, mu = pca.components_.T, pca.mean_  # (784, 2), (784,)
    model = MLPAutoencoder(hidden=(), activation=False).double()
    with torch.no_grad():
        model.encoder[1].weight.copy_(torch.as_tensor(V.T))
        model.encoder[1].bias.copy_(torch.as_tensor(-V.T @ mu))
        model.decoder[0].weight.copy_(torch.as_tensor(V))
        model.decoder[0].bias.copy_(torch.as_tensor(mu))
    A, a, B, b = (t.numpy() for t in model.affine_maps())
    # an angle near 0 is known to about sqrt(float64 eps) rad ≈ 1e-6 degrees, so 1e-5 is the
    # tightest bound float64 supports; a decoder off the PCA plane is off by whole degrees
    assert codes.principal_angles_deg(B, V) == pytest.approx([0.0, 0.0], abs=1e-5)
    assert codes.principal_angles_deg(A.T, V) == pytest.approx([0.0, 0.0], abs=1e-5)
    X_hat = model(X).detach().reshape(64, 784).numpy()
    np.testing.assert_allclose(X_hat, pca.inverse_transform(pca.transform(flat)), atol=1e-10)
    # a plane sharing PCA's first direction, its second orthogonal to PCA's plane: 0° and 90°
    # (the 0° is known to the same ~1e-6 degrees as above: 1.7e-6 has been seen)
    B_off = np.column_stack([V[:, 0], np.linalg.qr(np.column_stack([V, rs.randn(784)]))[0][:, 2]])
    assert sorted(codes.principal_angles_deg(B_off, V)) == pytest.approx([0.0, 90.0], abs=1e-5)


def _cross(centre):
    """Four points at distance 1 around ``centre`` (left, right, below, above): RMS spread 1."""
    return [np.add(centre, offset) for offset in ((-1, 0), (1, 0), (0, -1), (0, 1))]


def test_code_geometry_of_three_round_clouds_by_hand():
    Z = np.array(_cross((0, 0)) + _cross((2, 0)) + _cross((10, 0)), dtype=float)  # (12, 2)
    y = np.repeat([0, 1, 2], 4)
    g = codes.code_geometry(Z, y, n_classes=3)
    assert g["centroids"] == [[0.0, 0.0], [2.0, 0.0], [10.0, 0.0]]
    assert g["spread_by_digit"] == pytest.approx([1.0, 1.0, 1.0])
    # centroid distance over the mean spread: 2, 8 and 10
    assert [p["digits"] for p in g["closest_pairs"]] == [[0, 1], [1, 2], [0, 2]]
    assert [p["separation"] for p in g["closest_pairs"]] == pytest.approx([2.0, 8.0, 10.0])
    assert g["most_isolated_digit"] == {"digit": 2, "nearest": 1,
                                        "separation": pytest.approx(8.0)}
    # squared deviations from the mean x = 4: 66 + 18 + 146 = 230; in y: 2 per cloud
    assert g["variance_by_axis"] == pytest.approx([230 / 236, 6 / 236])
    assert g["main_axis_share"] == pytest.approx(230 / 236)
    # round clouds: half of each cloud's variance along any direction, no arms
    assert g["radial_share"] == pytest.approx(0.5) and g["elongation"] == pytest.approx(0.5)
    assert g["radial_arms"] is False


def test_code_geometry_sees_arms_radiating_from_the_centre():
    r = np.arange(1.0, 6.0)  # 1..5 along each ray
    zero = np.zeros(5)
    Z = np.concatenate([np.column_stack(c) for c in ((r, zero), (zero, r), (-r, zero),
                                                     (zero, -r))])  # (20, 2)
    y = np.repeat([0, 1, 2, 3], 5)
    g = codes.code_geometry(Z, y, n_classes=4)
    assert g["radial_share"] == pytest.approx(1.0) and g["elongation"] == pytest.approx(1.0)
    assert g["radial_arms"] is True
    # neighbouring arms: centroids 3·√2 apart, spreads √2 each
    assert g["closest_pairs"][0]["separation"] == pytest.approx(3.0)
    assert g["variance_by_axis"] == pytest.approx([0.5, 0.5])


def test_code_confusion_names_the_pairs_a_knn_classifier_confuses():
    y_test = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([1, 0, 0, 1, 2, 1])  # 0 ↔ 1 twice, 2 → 1 once
    pairs = codes.code_confusion(y_test, y_pred, n_classes=3)
    assert [(p["labels"], p["count"]) for p in pairs] == [([0, 1], 2), ([1, 2], 1)]


def test_reconstruction_by_digit_by_hand():
    means = codes.class_means(np.array([[0, 0], [0, 0], [1, 1]], float), [0, 0, 1], 2)
    np.testing.assert_array_equal(means, [[0, 0], [1, 1]])
    X = np.array([[0, 0], [0.2, 0], [0, 0.2], [1, 1], [0.8, 1]])
    y = np.array([0, 0, 0, 1, 1])
    # two of the three 0s are reconstructed near the mean 1
    X_hat = np.array([[0.1, 0], [0.9, 0.9], [0.8, 1.0], [1, 1], [1, 1]])
    np.testing.assert_array_equal(codes.nearest_mean(X_hat, means), [0, 1, 1, 1, 1])
    r = codes.reconstruction_by_digit(X_hat, X, y, means)
    assert r["mse_by_digit"] == pytest.approx([(0.005 + 0.65 + 0.64) / 3, 0.01])
    assert r["worst_reconstructed_digit"]["digit"] == 0
    assert r["best_reconstructed_digit"] == {"digit": 1, "mse": pytest.approx(0.01)}
    assert r["read_as_own_digit"] == pytest.approx(3 / 5)
    assert r["originals_read_as_own_digit"] == 1.0
    assert r["misread_digits"] == [{"digit": 0, "read_as": 1, "fraction": pytest.approx(2 / 3),
                                    "own_fraction": pytest.approx(1 / 3),
                                    "original_own_fraction": 1.0}]
    assert r["read_as_pairs"] == [{"digit": 0, "read_as": 1, "count": 2,
                                   "fraction": pytest.approx(2 / 3)}]
