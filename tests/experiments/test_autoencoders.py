"""Autoencoders: the architectures layer by layer, the skip wiring, noise, angles, the studies."""

import json  # noqa: I001  (ruff files `torch` under stridelab.torch)
import math

import numpy as np
import pytest
import torch
from torch import nn

import stridelab.experiments.autoencoders as ae
from stridelab.errors import ConfigError
from stridelab.experiments.runner import run_experiment
from stridelab.torch.models.autoencoders import ConvAutoencoder, MLPAutoencoder

# ---------------------------------------------------------------------------------------------
# architectures


def _spec(module: nn.Module):
    """A comparable description of one layer."""
    if isinstance(module, nn.Linear):
        return ("Linear", module.in_features, module.out_features)
    if isinstance(module, nn.Conv2d):
        return ("Conv", module.in_channels, module.out_channels, module.kernel_size,
                module.stride, module.padding)
    if isinstance(module, nn.MaxPool2d):
        return ("MaxPool", module.kernel_size, module.stride)
    if isinstance(module, nn.Upsample):
        return ("Upsample", module.scale_factor, module.mode)
    if isinstance(module, nn.Unflatten):
        return ("Unflatten", tuple(module.unflattened_size))
    return (type(module).__name__,)


def _shapes(sequential: nn.Sequential, x: torch.Tensor):
    out = []
    for layer in sequential:
        x = layer(x)
        out.append(tuple(x.shape))
    return out


def test_mlp_autoencoder_layers_and_shapes():
    model = MLPAutoencoder()
    assert [_spec(m) for m in model.encoder] == [
        ("Flatten",), ("Linear", 784, 128), ("ReLU",), ("Linear", 128, 64), ("ReLU",),
        ("Linear", 64, 12), ("ReLU",), ("Linear", 12, 2)]
    assert [_spec(m) for m in model.decoder] == [
        ("Linear", 2, 12), ("ReLU",), ("Linear", 12, 64), ("ReLU",), ("Linear", 64, 128),
        ("ReLU",), ("Linear", 128, 784), ("Unflatten", (1, 28, 28))]
    x = torch.rand(5, 1, 28, 28)
    assert model.encode(x).shape == (5, 2)
    assert model.decode(torch.zeros(5, 2)).shape == (5, 1, 28, 28)
    assert model(x).shape == (5, 1, 28, 28)
    # 784·128+128 + 128·64+64 + 64·12+12 + 12·2+2, and the mirror image
    encoder_params = 100480 + 8256 + 780 + 26
    decoder_params = 36 + 832 + 8320 + 101136
    assert sum(p.numel() for p in model.parameters()) == encoder_params + decoder_params


def test_linear_autoencoder_has_no_nonlinearity_and_its_affine_maps_reproduce_it():
    torch.manual_seed(0)
    model = MLPAutoencoder(activation=False).double()
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    A, a, B, b = model.affine_maps()
    assert A.shape == (2, 784) and B.shape == (784, 2) and a.shape == (2,) and b.shape == (784,)
    # Flatten, then four Linear layers and nothing between them
    assert [_spec(m) for m in model.encoder] == [
        ("Flatten",), ("Linear", 784, 128), ("Linear", 128, 64), ("Linear", 64, 12),
        ("Linear", 12, 2)]
    e = model.encoder
    A_by_hand = e[4].weight @ e[3].weight @ e[2].weight @ e[1].weight  # (2, 784)
    torch.testing.assert_close(A, A_by_hand)
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    z = x.reshape(4, 784) @ A.T + a  # (4, 2)
    torch.testing.assert_close(model.encode(x), z)
    torch.testing.assert_close(model(x).reshape(4, 784), z @ B.T + b)
    with pytest.raises(ValueError, match="activation=False"):
        MLPAutoencoder().affine_maps()


def test_conv_autoencoder_layers_exactly_as_specified():
    model = ConvAutoencoder()
    assert [_spec(m) for m in model.encoder] == [
        ("Conv", 1, 4, (3, 3), (1, 1), (1, 1)), ("ReLU",), ("MaxPool", 2, 2),
        ("Conv", 4, 8, (3, 3), (1, 1), (1, 1)), ("ReLU",), ("MaxPool", 2, 2),
        ("Flatten",), ("Linear", 392, 20), ("ReLU",), ("Linear", 20, 2)]
    assert [_spec(m) for m in model.decoder] == [
        ("Linear", 2, 20), ("ReLU",), ("Linear", 20, 392), ("ReLU",),
        ("Unflatten", (8, 7, 7)), ("Upsample", 2.0, "nearest"),
        ("Conv", 8, 4, (3, 3), (1, 1), (1, 1)), ("ReLU",), ("Upsample", 2.0, "nearest"),
        ("Conv", 4, 1, (3, 3), (1, 1), (1, 1)), ("Sigmoid",)]
    x = torch.rand(3, 1, 28, 28)
    assert _shapes(model.encoder, x) == [
        (3, 4, 28, 28), (3, 4, 28, 28), (3, 4, 14, 14), (3, 8, 14, 14), (3, 8, 14, 14),
        (3, 8, 7, 7), (3, 392), (3, 20), (3, 20), (3, 2)]
    assert _shapes(model.decoder, torch.zeros(3, 2)) == [
        (3, 20), (3, 20), (3, 392), (3, 392), (3, 8, 7, 7), (3, 8, 14, 14), (3, 4, 14, 14),
        (3, 4, 14, 14), (3, 4, 28, 28), (3, 1, 28, 28), (3, 1, 28, 28)]
    # conv 1·4·9+4, 4·8·9+8; linear 392·20+20, 20·2+2 | 2·20+20, 20·392+392; conv 8·4·9+4, 4·9+1
    expected = 40 + 296 + 7860 + 42 + 60 + 8232 + 292 + 37
    assert sum(p.numel() for p in model.parameters()) == expected == 16859
    assert sum(p.numel() for p in ConvAutoencoder(skip=True).parameters()) == expected
    y = model(x).detach()
    assert y.shape == (3, 1, 28, 28) and float(y.min()) > 0 and float(y.max()) < 1


def test_conv_autoencoder_starts_its_relu_linears_with_the_given_bias():
    model = ConvAutoencoder(relu_bias=0.5)
    shapes = [(layer.in_features, layer.out_features) for layer in model.relu_linears()]
    assert shapes == [(392, 20), (2, 20), (20, 392)]  # not 20→2: the embedding is linear
    for layer in model.relu_linears():
        assert torch.equal(layer.bias, torch.full_like(layer.bias, 0.5))
    assert not torch.equal(model.encoder[9].bias, torch.full_like(model.encoder[9].bias, 0.5))
    torch.manual_seed(0)
    default = ConvAutoencoder(relu_bias=None).relu_linears()[0].bias
    assert len(set(default.tolist())) == 20  # PyTorch's random biases are kept


def test_dead_relu_units_counts_units_no_image_activates():
    model = ConvAutoencoder()
    enc, dec_in, dec_out = model.relu_linears()
    with torch.no_grad():
        for layer in (enc, dec_in, dec_out):
            layer.weight.zero_()  # every pre-activation is its bias, whatever the image
            layer.bias.fill_(1.0)
        enc.bias[:5] = -1.0
        dec_out.bias[100:107] = 0.0  # exactly 0 is no activation either
    dead = ae.dead_relu_units(model, torch.rand(10, 1, 28, 28), "cpu", batch_size=4)
    assert dead == {"392→20": 5, "2→20": 0, "20→392": 7}
    assert not any(layer._forward_hooks for layer in model.relu_linears())  # hooks removed


def test_skip_connections_add_each_pooled_map_before_its_mirror_upsampling():
    torch.manual_seed(1)
    model = ConvAutoencoder(skip=True)
    e, d = model.encoder, model.decoder
    x = torch.rand(2, 1, 28, 28)
    p1 = e[2](e[1](e[0](x)))  # (2, 4, 14, 14)
    p2 = e[5](e[4](e[3](p1)))  # (2, 8, 7, 7)
    z = e[9](e[8](e[7](e[6](p2))))  # (2, 2)
    h = d[4](d[3](d[2](d[1](d[0](z)))))  # (2, 8, 7, 7)
    h = d[7](d[6](d[5](h + p2)))  # (2, 4, 14, 14)
    by_hand = d[10](d[9](d[8](h + p1)))  # (2, 1, 28, 28)
    torch.testing.assert_close(model(x), by_hand)

    z2, pooled = model.encode_with_skips(x)
    assert [tuple(p.shape) for p in pooled] == [(2, 4, 14, 14), (2, 8, 7, 7)]
    torch.testing.assert_close(z2, model.encode(x))
    # without skips the same weights compute the plain model; with them the output changes
    plain = ConvAutoencoder(skip=False)
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(model.decode(z2, None), plain(x))
    assert not torch.allclose(model(x), plain(x))


# ---------------------------------------------------------------------------------------------
# noise, metrics, geometry


def test_gaussian_noise_is_seeded_fresh_per_batch_and_of_the_right_size():
    x = torch.full((400, 1, 28, 28), 0.5)
    first, second = ae.GaussianNoise(0.3, seed=7), ae.GaussianNoise(0.3, seed=7)
    a1, a2 = first(x), first(x)
    torch.testing.assert_close(a1, second(x))  # same seed, same first batch
    assert not torch.equal(a1, a2)  # a new corruption for every batch
    eps = (a1 - x).double()
    # 313,600 draws: the sample std is within 0.3 ± 0.002 with overwhelming probability
    assert abs(float(eps.std()) - 0.3) < 2e-3 and abs(float(eps.mean())) < 2e-3


def test_corrupt_is_deterministic_and_unclipped():
    x = torch.zeros(50, 1, 28, 28)
    torch.testing.assert_close(ae.corrupt(x, 0.3, seed=3), ae.corrupt(x, 0.3, seed=3))
    assert not torch.equal(ae.corrupt(x, 0.3, seed=3), ae.corrupt(x, 0.3, seed=4))
    noisy = ae.corrupt(x, 0.3, seed=3)
    assert float(noisy.min()) < 0  # no clipping to [0, 1]
    # E[(x̃ − x)²] = σ² = 0.09
    assert ae.reconstruction_mse(noisy, x) == pytest.approx(0.09, rel=0.02)


def test_reconstruction_mse_and_knn_by_hand():
    assert ae.reconstruction_mse(np.array([[0.0, 1.0], [0.5, 0.5]]),
                                 np.array([[0.0, 0.0], [0.0, 1.0]])) == pytest.approx(
        (0 + 1 + 0.25 + 0.25) / 4)
    Z_train = np.array([[0, 0], [0, 1], [1, 0], [9, 9], [9, 10], [10, 9]], dtype=float)
    y_train = np.array([0, 0, 0, 1, 1, 1])
    Z_test = np.array([[0.2, 0.2], [9.5, 9.5], [5.6, 5.6]])
    # the third point has neighbours 1, 1, 1 with k = 3 → predicted 1; the truth says 0
    assert ae.knn_accuracy(Z_train, y_train, Z_test, np.array([0, 1, 0]), k=3) == \
        pytest.approx(2 / 3)


def test_principal_angles_of_two_planes_by_hand():
    theta = math.radians(30)
    U = np.zeros((5, 2))
    U[0, 0] = U[1, 1] = 1.0  # span(e1, e2)
    V = np.zeros((5, 2))
    V[0, 0] = 2.0  # span(e1, cos θ e2 + sin θ e3), with a non-orthonormal basis
    V[1, 1], V[2, 1] = math.cos(theta), math.sin(theta)
    V[:, 1] += 3 * V[:, 0]
    assert sorted(ae.principal_angles_deg(U, V)) == pytest.approx([0.0, 30.0], abs=1e-9)


def test_distance_to_parabola_by_hand():
    # (0, 1): min over t of t² + (t² − 1)² is at t² = 1/2, distance √(1/2 + 1/4)
    P = np.array([[0.0, 1.0], [0.5, 0.25], [0.0, -0.5]])
    d = ae.distance_to_parabola(P, -1.0, 1.0, n_grid=20001)
    assert d == pytest.approx([math.sqrt(0.75), 0.0, 0.5], abs=1e-6)


def test_principal_components_agree_with_scikit_learn():
    from sklearn.decomposition import PCA

    rs = np.random.RandomState(1)
    A = rs.standard_normal((200, 6)) @ rs.standard_normal((6, 6)) + 3.0  # (200, 6)
    mean, V, variances = ae.principal_components(A, 2)
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
    assert ae.principal_angles_deg(B, V) == pytest.approx([0.0, 0.0], abs=1e-5)
    assert ae.principal_angles_deg(A.T, V) == pytest.approx([0.0, 0.0], abs=1e-5)
    X_hat = model(X).detach().reshape(64, 784).numpy()
    np.testing.assert_allclose(X_hat, pca.inverse_transform(pca.transform(flat)), atol=1e-10)
    # a plane sharing PCA's first direction, its second orthogonal to PCA's plane: 0° and 90°
    # (the 0° is known to the same ~1e-6 degrees as above: 1.7e-6 has been seen)
    B_off = np.column_stack([V[:, 0], np.linalg.qr(np.column_stack([V, rs.randn(784)]))[0][:, 2]])
    assert sorted(ae.principal_angles_deg(B_off, V)) == pytest.approx([0.0, 90.0], abs=1e-5)


@pytest.mark.parametrize("config, fragment", [
    (ae.DenoiseConfig(noise_std=-0.1), "noise_std"),
    (ae.AEConfig(epochs=0), "epochs"),
    (ae.LinearAEConfig(hidden=(128, 0)), "hidden"),
    (ae.CorruptionConfig(x_low=1.0, x_high=-1.0), "x_low"),
    (ae.ConvAEConfig(warmup=1.0), "warmup"),
    (ae.ConvAEConfig(warmup=-0.1), "warmup"),
])
def test_bad_configs_raise_config_errors(config, fragment):
    with pytest.raises(ConfigError, match=fragment):
        ae.check_config(config)
    ae.check_config(type(config)())  # the defaults are valid


# ---------------------------------------------------------------------------------------------
# the studies, tiny


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("ae-runs")


def _run(name, runs, **overrides):
    result = run_experiment(name, smoke=True, out=runs, echo=False, device="cpu",
                            overrides={k: str(v) for k, v in overrides.items()})
    assert result.status == "ok", result.reason
    return result


def test_ae_conv_study_saves_the_model_and_judges_no_target_off_full_mnist(runs):
    result = _run("ae-conv", runs)
    m = result.metrics
    assert m["dataset"] == "mnist-5k" and m["n_parameters"] == 16859
    assert "target_met" not in m  # the 0.040 target is set for full MNIST only
    assert 0 < m["test_mse"] < 0.3 and 0 < m["pca2_test_mse"] < 0.1
    assert 0 <= m["knn_accuracy"] <= 1
    assert set(m["dead_relu_units"]) == {"392→20", "2→20", "20→392"}
    ConvAutoencoder().load_state_dict(torch.load(result.out / "mnist_cae.pt", weights_only=True))
    for fig in ("reconstructions", "embeddings", "loss_curves"):
        assert (result.out / "figures" / f"{fig}.png").exists()


def test_ae_conv_skip_study_saves_a_loadable_skip_model_and_bypass_numbers(runs):
    result = _run("ae-conv-skip", runs)
    m = result.metrics
    for key in ("test_mse", "test_mse_no_skip", "knn_accuracy", "knn_accuracy_no_skip",
                "mse_skips_only", "mse_embedding_only", "pca2_test_mse"):
        assert key in m and math.isfinite(m[key])
    assert 0 < m["test_mse"] < 0.3 and 0 <= m["knn_accuracy"] <= 1
    state = torch.load(result.out / "mnist-cae-skip.pt", weights_only=True)
    model = ConvAutoencoder(skip=True)
    model.load_state_dict(state)
    for fig in ("skip_reconstructions", "skip_embeddings", "skip_losses"):
        assert (result.out / "figures" / f"{fig}.png").stat().st_size > 1000
    history = json.loads((result.out / "history.json").read_text())
    assert set(history) == {"no skips", "with skips"}
    notes = (result.out / "notes.md").read_text()
    assert f"{m['mse_skips_only']:.4f}" in notes and "bypass" in notes


def test_ae_denoise_study_measures_the_corruption_it_states(runs):
    result = _run("ae-denoise", runs, noise_std=0.2)
    m = result.metrics
    assert m["noise_std"] == 0.2
    # 128 test images · 784 pixels of N(0, 0.2²) noise: the mean square is 0.04 ± ~1%
    assert m["noisy_input_mse"] == pytest.approx(0.04, rel=0.03)
    for key in ("test_mse", "test_mse_skip", "clean_input_mse", "output_to_noisy_mse",
                "knn_accuracy", "knn_accuracy_skip"):
        assert math.isfinite(m[key])
    assert (result.out / "mnist_dae.pt").exists() and (result.out / "mnist-dae-skip.pt").exists()
    assert "N(x̃; x, σ² I)" in (result.out / "notes.md").read_text()


def test_pca_vs_linear_ae_study_reports_angles_between_subspaces(runs):
    result = _run("pca-vs-linear-ae", runs)
    m = result.metrics
    assert len(m["decoder_angles_deg"]) == 2 and len(m["encoder_angles_deg"]) == 2
    assert all(0 <= a <= 90 for a in m["decoder_angles_deg"] + m["encoder_angles_deg"])
    assert m["max_angle_deg"] == pytest.approx(max(m["decoder_angles_deg"]))
    assert m["pca2_test_mse"] > 0 and m["test_mse"] > 0


def test_corruption_demo_states_and_measures_its_corruption(runs):
    result = _run("corruption-demo", runs, noise_std=0.1, n_points=200)
    m = result.metrics
    assert m["expected_squared_displacement"] == pytest.approx(2 * 0.1 ** 2)
    # 400 draws: the sample std of N(0, 0.1²) is within 0.1 ± 0.015 (4.2 standard errors)
    assert m["measured_noise_std"] == pytest.approx(0.1, abs=0.015)
    assert m["mean_distance_clean"] < 1e-3 < m["mean_distance_corrupted"]
    assert "C(x̃ | x) = N(x̃; x, σ² I)" in (result.out / "notes.md").read_text()
