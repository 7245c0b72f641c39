"""Autoencoders: the architectures layer by layer, the skip wiring, noise, angles, the studies."""

import json  # noqa: I001  (ruff files `torch` under stridelab.torch)
import math
import subprocess
import sys

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


_RESULTS: dict = {}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("ae-runs")


def _run(name, runs, **overrides):
    """The smoke run of ``name`` (with ``overrides``), made once per module."""
    key = (name, tuple(sorted(overrides.items())))
    if key not in _RESULTS:
        _RESULTS[key] = run_experiment(name, smoke=True, out=runs, echo=False, device="cpu",
                                       overrides={k: str(v) for k, v in overrides.items()})
    result = _RESULTS[key]
    assert result.status == "ok", result.reason
    return result


def _lessons(result) -> dict:
    return {record["metric"]: record
            for record in json.loads((result.out / "lessons.json").read_text())}


def test_ae_conv_study_saves_the_models_and_judges_its_lessons(runs):
    result = _run("ae-conv", runs)
    m = result.metrics
    assert m["dataset"] == "mnist-5k" and m["n_parameters"] == 16859
    assert "target_met" not in m and "target" not in m  # lessons replace hand-made targets
    assert 0 < m["test_mse"] < 0.3 and 0 < m["pca2_test_mse"] < 0.1
    assert 0 <= m["knn_accuracy"] <= 1
    assert [(r["in_features"], r["out_features"]) for r in m["dead_relu_units"]] == [
        (392, 20), (2, 20), (20, 392)]
    assert all(0 <= r["dead"] <= r["out_features"] for r in m["dead_relu_units"])
    # the code's separation: one recall per digit, best and worst among them
    recall = m["knn_recall_by_digit"]
    assert len(recall) == 10 and recall[m["best_separated_digit"]] == max(recall)
    assert recall[m["worst_separated_digit"]] == min(recall)
    ConvAutoencoder().load_state_dict(torch.load(result.out / "mnist_cae.pt", weights_only=True))
    for fig in ("reconstructions", "embeddings", "loss_curves"):
        assert (result.out / "figures" / f"{fig}.png").exists()
    lessons = _lessons(result)
    knn = lessons["knn_accuracy"]
    assert knn["target_metric"] == "pca2_knn_accuracy" and knn["target"] == m["pca2_knn_accuracy"]
    assert knn["met"] == (m["knn_accuracy"] > m["pca2_knn_accuracy"])
    mse = [r for r in json.loads((result.out / "lessons.json").read_text())
           if r["metric"] == "test_mse"]
    assert [r["target"] is None for r in mse] == [False, True]  # 0.040: full runs only


_LOAD_IN_PLAIN_TORCH = """
import sys
import torch
program = torch.export.load(sys.argv[1]).module()
x = torch.load(sys.argv[2], weights_only=True)
torch.save(program(x), sys.argv[3])
loaded = sorted(m for m in sys.modules if m == "stridelab" or m.startswith("stridelab."))
assert not loaded, f"stridelab was imported: {loaded}"
"""


def _plain_torch_output(pt2, x, tmp_path):
    """Run ``pt2`` on ``x`` in a fresh interpreter that imports torch only."""
    torch.save(x, tmp_path / "x.pt")
    subprocess.run([sys.executable, "-c", _LOAD_IN_PLAIN_TORCH, str(pt2), str(tmp_path / "x.pt"),
                    str(tmp_path / "y.pt")], check=True, cwd=tmp_path, capture_output=True,
                   timeout=300)
    return torch.load(tmp_path / "y.pt", weights_only=True)


@pytest.mark.parametrize("name, stem, model", [
    ("ae-linear", "mnist_ae", lambda: MLPAutoencoder()),
    ("ae-conv", "mnist_cae", lambda: ConvAutoencoder()),
    ("ae-conv-skip", "mnist-cae-skip", lambda: ConvAutoencoder(skip=True)),
])
def test_the_sheets_models_run_in_plain_pytorch_as_exported_programs(runs, tmp_path, name, stem,
                                                                      model):
    result = _run(name, runs)
    reference = model()
    reference.load_state_dict(torch.load(result.out / f"{stem}.pt", weights_only=True))
    reference.eval()
    # a batch size other than the example's (2): the program takes any batch
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = _plain_torch_output(result.out / f"{stem}.pt2", x, tmp_path)
    with torch.no_grad():
        expected = reference(x)
    assert y.shape == (5, 1, 28, 28)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-6)
    assert not list(result.out.glob(".*.tmp"))  # written atomically


def test_ae_conv_skip_study_saves_a_loadable_skip_model_and_bypass_numbers(runs):
    result = _run("ae-conv-skip", runs)
    m = result.metrics
    for key in ("test_mse", "test_mse_no_skip", "knn_accuracy", "knn_accuracy_no_skip",
                "mse_skips_only", "mse_embedding_only", "pca2_test_mse"):
        assert key in m and math.isfinite(m[key])
    assert 0 < m["test_mse"] < 0.3 and 0 <= m["knn_accuracy"] <= 1
    assert m["n_parameters"] == 16859  # addition: the skips add no parameter
    state = torch.load(result.out / "mnist-cae-skip.pt", weights_only=True)
    model = ConvAutoencoder(skip=True)
    model.load_state_dict(state)
    for fig in ("skip_reconstructions", "skip_embeddings", "skip_losses"):
        assert (result.out / "figures" / f"{fig}.png").stat().st_size > 1000
    history = json.loads((result.out / "history.json").read_text())
    assert set(history) == {"no skips", "with skips"}
    lessons = _lessons(result)
    assert lessons["mse_skips_only"]["met"] == (m["mse_skips_only"] < m["test_mse_no_skip"])
    assert lessons["test_mse"]["met"] == (m["test_mse"] < m["test_mse_no_skip"])


def test_ae_denoise_study_measures_the_corruption_it_states(runs):
    result = _run("ae-denoise", runs, noise_std=0.2)
    m = result.metrics
    assert "noise_std" not in m  # a config value, not a measurement
    # 128 test images · 784 pixels of N(0, 0.2²) noise: the mean square is 0.04 ± ~1%
    assert m["noisy_input_mse"] == pytest.approx(0.04, rel=0.03)
    for key in ("test_mse", "test_mse_skip", "clean_input_mse", "output_to_noisy_mse",
                "knn_accuracy", "knn_accuracy_skip"):
        assert math.isfinite(m[key])
    for stem in ("mnist_dae", "mnist-dae-skip"):
        assert (result.out / f"{stem}.pt").exists() and (result.out / f"{stem}.pt2").exists()
    assert _lessons(result)["test_mse"]["met"] == (m["test_mse"] < m["noisy_input_mse"])


def test_pca_vs_linear_ae_study_reports_angles_between_subspaces(runs):
    result = _run("pca-vs-linear-ae", runs)
    m = result.metrics
    assert len(m["decoder_angles_deg"]) == 2 and len(m["encoder_angles_deg"]) == 2
    assert all(0 <= a <= 90 for a in m["decoder_angles_deg"] + m["encoder_angles_deg"])
    assert m["max_angle_deg"] == pytest.approx(max(m["decoder_angles_deg"]))
    assert m["pca2_test_mse"] > 0 and m["test_mse"] > 0
    assert m["mse_ratio"] == pytest.approx(m["test_mse"] / m["pca2_test_mse"])
    assert m["n_linear_per_half"] == 4  # hidden (128, 64, 12), then the code
    assert 1 <= m["span_dim"] <= 784


def test_corruption_demo_measures_its_corruption(runs):
    result = _run("corruption-demo", runs, noise_std=0.1, n_points=200)
    m = result.metrics
    # 400 draws: the sample std of N(0, 0.1²) is within 0.1 ± 0.015 (4.2 standard errors)
    assert m["measured_noise_std"] == pytest.approx(0.1, abs=0.015)
    assert m["noise_std_relative_error"] == pytest.approx(abs(m["measured_noise_std"] - 0.1)
                                                          / 0.1)
    # E|x̃ − x|² = 2σ² = 0.02 per point; 200 points: within ±30% (about 4 standard errors)
    assert m["mean_squared_displacement"] == pytest.approx(0.02, rel=0.3)
    assert m["mean_distance_clean"] < 1e-3 < m["mean_distance_corrupted"]
    assert _lessons(result)["noise_std_relative_error"]["met"] is True


# ---------------------------------------------------------------------------------------------
# narration: fabricated metrics, each branch


def _recall(best=1, worst=8):
    recall = [0.5] * 10
    recall[best], recall[worst] = 0.95, 0.1
    return {"knn_recall_by_digit": recall, "best_separated_digit": best,
            "worst_separated_digit": worst,
            "most_confused": {"true": 4, "predicted": 9, "fraction": 0.3}}


def _single(test_mse, pca_mse, knn, pca_knn, **extra):
    return {"test_mse": test_mse, "pca2_test_mse": pca_mse, "knn_accuracy": knn,
            "pca2_knn_accuracy": pca_knn, "dataset": "mnist-5k", "n_train": 4000,
            "n_test": 2000, "n_parameters": 16859, **_recall(), **extra}


_DEAD = [{"in_features": 392, "out_features": 20, "dead": 3},
         {"in_features": 2, "out_features": 20, "dead": 0},
         {"in_features": 20, "out_features": 392, "dead": 11}]


@pytest.mark.parametrize("narrate, config", [
    (ae.narrate_linear, ae.AEConfig()), (ae.narrate_conv, ae.ConvAEConfig(knn_k=7))])
def test_single_model_notes_take_the_branch_the_numbers_decide(narrate, config):
    above = str(narrate(_single(0.045, 0.056, 0.61, 0.42, dead_relu_units=_DEAD), config))
    below = str(narrate(_single(0.058, 0.056, 0.37, 0.42, dead_relu_units=_DEAD), config))
    assert ae.BEATS_PCA in above and ae.NOT_PCA not in above
    assert ae.NOT_PCA in below and ae.BEATS_PCA not in below
    for notes in (above, below):
        assert f"{config.knn_k}-NN" in notes  # k from the config, whatever it is
        assert "digit 1 right" in notes and "digit 4 read as 9" in notes
    assert "**0.61**" in above and "**0.37**" in below  # the measured accuracy, in bold


def test_conv_notes_count_dead_units_per_layer():
    notes = str(ae.narrate_conv(_single(0.045, 0.056, 0.61, 0.42, dead_relu_units=_DEAD),
                                ae.ConvAEConfig(relu_bias=0.5)))
    assert "3 of 20 in the layer from 392" in notes and "11 of 392 in the layer from 20" in notes
    assert "bias 0.5" in notes


def test_schedule_text_follows_the_config():
    constant = ae._schedule_text(ae.AEConfig(lr=0.002, cosine=False))
    cosine = ae._schedule_text(ae.LinearAEConfig(lr=0.001, cosine=True, warmup=0.0))
    one_cycle = ae._schedule_text(ae.ConvAEConfig(lr=0.003, warmup=0.2))
    assert "0.002" in constant and "cosine" not in constant
    assert "0.001" in cosine and "cosine" in cosine and "rising" not in cosine
    assert "0.003" in one_cycle and "0.2" in one_cycle and "rising" in one_cycle


def _skip_metrics(skip_mse, plain_mse, mean_code_mse, knn, knn_plain):
    return {"test_mse": skip_mse, "test_mse_no_skip": plain_mse, "mse_skips_only": mean_code_mse,
            "mse_embedding_only": 0.11, "knn_accuracy": knn, "knn_accuracy_no_skip": knn_plain,
            "dataset": "mnist-5k", "n_train": 4000, "n_parameters": 16859}


def test_skip_notes_say_the_code_is_bypassed_only_when_measured():
    config = ae.ConvAEConfig()
    bypassed = str(ae.narrate_skip(_skip_metrics(0.0023, 0.046, 0.0024, 0.30, 0.55), config))
    relies = str(ae.narrate_skip(_skip_metrics(0.0300, 0.046, 0.0800, 0.60, 0.55), config))
    assert ae.BYPASSED in bypassed and ae.RELIES not in bypassed
    assert ae.RELIES in relies and ae.BYPASSED not in relies
    assert "0.0024" in bypassed and "0.0800" in relies


def _denoise_metrics(plain, skip, noisy=0.09, to_noisy=(0.12, 0.10)):
    return {"test_mse": plain, "test_mse_skip": skip, "noisy_input_mse": noisy,
            "output_to_noisy_mse": to_noisy[0], "output_to_noisy_mse_skip": to_noisy[1],
            "clean_input_mse": 0.04, "clean_input_mse_skip": 0.006, "pca2_test_mse": 0.06,
            "knn_accuracy": 0.5, "knn_accuracy_skip": 0.3, "dataset": "mnist-5k",
            "n_train": 4000, "n_test": 2000}


def test_denoise_notes_compare_the_output_with_the_noisy_input():
    config = ae.DenoiseConfig(noise_std=0.25)
    good = str(ae.narrate_denoise(_denoise_metrics(0.046, 0.007), config))
    bad = str(ae.narrate_denoise(_denoise_metrics(0.095, 0.007), config))
    assert ae.DENOISES in good and ae.NO_DENOISE not in good
    assert ae.NO_DENOISE in bad and ae.DENOISES not in bad
    assert "σ = 0.25" in good  # σ from the config


def _pca_metrics(max_angle, r2=0.9999):
    return {"max_angle_deg": max_angle, "decoder_angles_deg": [max_angle, max_angle / 2],
            "encoder_angles_deg": [16.6, 15.2], "encoder_angles_in_span_deg": [2.2, 1.9],
            "span_dim": 318, "test_mse": 0.0565, "pca2_test_mse": 0.0565,
            "code_to_pca_r2": r2, "n_linear_per_half": 4, "dataset": "mnist-5k",
            "n_train": 4000}


def test_pca_notes_claim_the_same_plane_only_when_the_angles_are_small():
    config = ae.LinearAEConfig(variance_span=0.95)
    near = str(ae.narrate_pca_vs_linear(_pca_metrics(0.3), config))
    far = str(ae.narrate_pca_vs_linear(_pca_metrics(25.0, r2=0.7), config))
    assert ae.SAME_PLANE in near and ae.NOT_YET not in near
    assert ae.NOT_YET in far and ae.SAME_PLANE not in far
    assert "0.95" in near and "318" in near  # the span and its size, from config and metrics


def test_corruption_notes_both_ways():
    config = ae.CorruptionConfig(noise_std=0.2, n_points=50)
    base = {"measured_noise_std": 0.19, "mean_squared_displacement": 0.08}
    off = str(ae.narrate_corruption({**base, "mean_distance_clean": 1e-4,
                                     "mean_distance_corrupted": 0.15}, config))
    on = str(ae.narrate_corruption({**base, "mean_distance_clean": 0.2,
                                    "mean_distance_corrupted": 0.1}, config))
    assert ae.OFF_CURVE in off and ae.ON_CURVE not in off
    assert ae.ON_CURVE in on and ae.OFF_CURVE not in on
    assert "50 clean points" in off and "σ = 0.2" in off


def test_narration_refuses_a_missing_metric():
    metrics = _single(0.045, 0.056, 0.61, 0.42)
    del metrics["pca2_knn_accuracy"]
    with pytest.raises(KeyError):  # NarrationError is a KeyError: never a guess
        ae.narrate_linear(metrics, ae.AEConfig())


def test_a_channels_last_model_exports_without_warnings(tmp_path):
    """Trained models hold channels-last weights; their program saves without torch.export's
    "No complete tensor found in the group!" and computes what the model computes."""
    import warnings

    torch.manual_seed(0)
    model = ConvAutoencoder(skip=True).to(memory_format=torch.channels_last).eval()
    assert not model.encoder[3].weight.is_contiguous()  # (8, 4, 3, 3) stored channels-last
    program = ae.export_program(model, torch.rand(2, 1, 28, 28))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.export.save(program, tmp_path / "m.pt2")
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(torch.export.load(tmp_path / "m.pt2").module()(x), model(x))
    assert not model.encoder[3].weight.is_contiguous()  # the model itself is left as it was
