"""fixed-filters and sepia-blur: fixed weights, checked against the NumPy engine and scipy."""

import numpy as np  # noqa: I001  (ruff takes tests/torch/ for `torch`)
import pytest
import torch
from PIL import Image

from stridelab.experiments.filters import (
    GAUSS_TABLE,
    SEPIA,
    blur_weights,
    sepia_blur_net,
    sepia_blur_scipy,
    sobel_engine,
    sobel_net,
    square_image,
)
from stridelab.experiments.runner import run_experiment


def _torch_sobel(X):
    with torch.no_grad():
        return sobel_net()(torch.from_numpy(X[None, None]).double().float())[0].double().numpy()


def _torch_sepia(X, padding):
    x = torch.from_numpy(X.transpose(2, 0, 1)[None].astype(np.float32))  # (1, 3, H, W)
    with torch.no_grad():
        return sepia_blur_net(padding)(x)[0].double().numpy().transpose(1, 2, 0)  # (OH, OW, 3)


# ---------------------------------------------------------------------------------------------
# Sobel


def test_sobel_weights_are_the_issues_w0_and_w1_and_frozen():
    conv = sobel_net()
    W = conv.weight.detach().numpy()
    assert W.shape == (2, 1, 3, 3) and conv.bias is None
    np.testing.assert_array_equal(W[0, 0], [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(W[1, 0], [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
    assert not conv.weight.requires_grad


def test_sobel_on_a_vertical_step_edge_by_hand():
    # columns 0..2 dark, 3..5 bright: W0 sees right − left = (1 + 2 + 1)·1 = 4 where its
    # window straddles the step (output columns 1 and 2), 0 elsewhere; W1 sees no change: 0
    X = np.zeros((5, 6))
    X[:, 3:] = 1.0
    expected_w0 = np.array([[0, 4, 4, 0]] * 3, dtype=float)
    for G in (sobel_engine(X), _torch_sobel(X)):
        assert G.shape == (2, 3, 4)
        np.testing.assert_allclose(G[0], expected_w0, atol=1e-6)
        np.testing.assert_allclose(G[1], 0.0, atol=1e-6)
    # the transposed image gives a horizontal edge: roles swap
    G = sobel_engine(X.T.copy())
    np.testing.assert_allclose(G[1], expected_w0.T, atol=1e-12)
    np.testing.assert_allclose(G[0], 0.0, atol=1e-12)


def test_sobel_torch_layer_agrees_with_the_numpy_engine_on_random_pixels():
    X = np.random.default_rng(0).random((23, 31))
    G_engine, G_torch = sobel_engine(X), _torch_sobel(X)
    assert G_engine.shape == G_torch.shape == (2, 21, 29)
    assert np.abs(G_engine - G_torch).max() < 1e-5  # float32 vs float64 rounding only
    # one output pixel written out: out0[i, j] = Σ W0[a, b]·X[i + a, j + b]
    i, j = 7, 11
    w0 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    assert G_engine[0, i, j] == pytest.approx(float(np.sum(w0 * X[i:i + 3, j:j + 3])))


# ---------------------------------------------------------------------------------------------
# sepia + blur


def test_sepia_and_blur_weights():
    net = sepia_blur_net("valid")
    w1 = net[0].weight.detach().double().numpy()
    w2 = net[2].weight.detach().double().numpy()
    assert w1.shape == (3, 3, 1, 1) and w2.shape == (3, 3, 5, 5)
    np.testing.assert_allclose(w1[:, :, 0, 0], [[0.393, 0.769, 0.189],
                                                [0.349, 0.686, 0.168],
                                                [0.272, 0.534, 0.131]], atol=1e-7)
    assert GAUSS_TABLE.sum() == 273 and GAUSS_TABLE[2, 2] == 41
    W = blur_weights()
    for o in range(3):
        for c in range(3):
            if o == c:
                np.testing.assert_allclose(W[o, c] * 273, GAUSS_TABLE)
            else:
                assert not W[o, c].any()  # a filter never reads another channel


@pytest.mark.parametrize("padding, side", [("valid", 124), ("same", 128)])
def test_sepia_blur_shapes_on_a_128_image(padding, side):
    X = np.random.default_rng(1).random((128, 128, 3))
    assert _torch_sepia(X, padding).shape == (side, side, 3)


def test_white_image_becomes_the_clipped_row_sums():
    # white: R' = .393 + .769 + .189 = 1.351 -> 1, G' = 1.203 -> 1, B' = .272 + .534 + .131
    # = .937; the blur's weights sum to 1, so a constant image stays constant (valid padding)
    out = _torch_sepia(np.ones((9, 9, 3)), "valid")
    assert out.shape == (5, 5, 3)
    np.testing.assert_allclose(out[..., 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[..., 1], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[..., 2], 0.937, atol=1e-6)
    # with same padding the corner window holds only the table's lower-right 3×3 block
    corner = _torch_sepia(np.ones((9, 9, 3)), "same")[0, 0, 2]
    assert corner == pytest.approx(0.937 * (41 + 26 + 7 + 26 + 16 + 4 + 7 + 4 + 1) / 273,
                                   abs=1e-6)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_sepia_blur_agrees_with_scipy(padding):
    X = np.random.default_rng(2).random((20, 17, 3))
    ref = sepia_blur_scipy(X, padding)
    out = _torch_sepia(X, padding)
    assert ref.shape == out.shape
    assert np.abs(ref - out).max() < 1e-5
    # the reference really is sepia: one pixel by hand in the interior, before the blur
    assert np.clip(X[4, 5] @ SEPIA.T, 0, 1)[0] == pytest.approx(
        min(1.0, 0.393 * X[4, 5, 0] + 0.769 * X[4, 5, 1] + 0.189 * X[4, 5, 2]))


def test_square_image_crops_the_centre_and_resizes():
    X = np.zeros((40, 60, 3))
    X[:, 10:50] = 1.0  # the centre 40×40 square is all ones
    Y = square_image(X, 20)
    assert Y.shape == (20, 20, 3)
    np.testing.assert_allclose(Y, 1.0, atol=1e-9)
    assert square_image(np.full((8, 8), 0.5), 8).shape == (8, 8, 3)


# ---------------------------------------------------------------------------------------------
# the registered studies, tiny


def test_fixed_filters_study_on_a_user_image_file(tmp_path):
    img = np.zeros((30, 40), dtype=np.uint8)
    img[:, 20:] = 255  # one vertical edge
    path = tmp_path / "edge.png"
    Image.fromarray(img).save(path)
    result = run_experiment("fixed-filters", smoke=True, out=tmp_path / "runs", echo=False,
                            device="cpu", overrides={"images": f"{path},camera"})
    assert result.status == "ok", result.reason
    m = result.metrics
    assert m["max_abs_diff_engine"] < 1e-5
    r = m["images"][str(path) if len(str(path)) < 40 else "…" + str(path)[-38:]]
    assert r["input_shape"] == [30, 40] and r["output_shape"] == [2, 28, 38]
    assert r["max"][0] == pytest.approx(4.0, abs=1e-5)  # black-to-white step: 1 + 2 + 1
    assert r["max"][1] == pytest.approx(0.0, abs=1e-6)  # no horizontal edge
    for fig in ("sobel_outputs", "sobel_weights"):
        assert (result.out / "figures" / f"{fig}.png").exists()
    assert "Sobel" in (result.out / "notes.md").read_text()


def test_fixed_filters_rejects_an_unknown_image(tmp_path):
    result = run_experiment("fixed-filters", smoke=True, out=tmp_path, echo=False, device="cpu",
                            overrides={"images": "no-such-photo"})
    assert result.status == "failed" and result.user_error
    assert "no image named" in result.reason


def test_sepia_blur_study_at_128(tmp_path):
    result = run_experiment("sepia-blur", out=tmp_path, echo=False, device="cpu")
    assert result.status == "ok", result.reason
    m = result.metrics
    assert m["input_shape"] == [128, 128, 3]
    assert m["valid_shape"] == [124, 124, 3] and m["same_shape"] == [128, 128, 3]
    assert m["max_abs_diff_scipy"] < 1e-5
    assert m["n_params"] == 3 * 3 + 3 * 5 * 5 * 3  # 9 + 225, no biases
    text = (result.out / "weights.txt").read_text()
    assert "0.393·R + 0.769·G + 0.189·B" in text and "41" in text
    assert "0.393" in (result.out / "log.txt").read_text()
    assert (result.out / "figures" / "sepia_blur.png").exists()
