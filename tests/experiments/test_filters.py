"""fixed-filters and sepia-blur: fixed weights, checked against the NumPy engine and scipy; the
probes and read-back weights by hand; each narrate through its branches on fabricated metrics."""

import re  # noqa: I001  (ruff takes tests/torch/ for `torch`)

import numpy as np
import pytest
import torch
from PIL import Image

from stridelab.experiments.filters import (
    GAUSS_TABLE,
    SEPIA,
    FixedFiltersConfig,
    SepiaBlurConfig,
    blur_weights,
    float32_error_bound,
    layer_record,
    narrate_fixed_filters,
    narrate_sepia_blur,
    probe_images,
    sepia_blur_net,
    sepia_blur_scipy,
    sobel_engine,
    sobel_net,
    sobel_scipy,
    square_image,
)
from stridelab.experiments.narrate import NarrationError
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


def test_sobel_scipy_route_agrees_with_the_engine():
    X = np.random.default_rng(3).random((9, 12))
    np.testing.assert_allclose(sobel_scipy(X), sobel_engine(X), atol=1e-12)


def test_probe_images_and_the_sobel_responses_by_hand():
    probes = probe_images(8)
    assert probes["vertical_step"][:, :4].max() == 0 and probes["vertical_step"][:, 4:].min() == 1
    np.testing.assert_array_equal(probes["horizontal_step"], probes["vertical_step"].T)
    G = sobel_engine(probes["vertical_step"])
    # W0 on the step: right column minus left column, weights 1 + 2 + 1 = 4; W1 sees nothing
    assert np.abs(G[0]).max() == 4 and np.abs(G[1]).max() == 0
    assert np.abs(sobel_engine(probes["flat"])).max() == 0  # the weights sum to 0


def test_float32_error_bound_by_hand():
    # 9 products and one input rounding, Σ|W0| = 8, max|x| = 1: 10 · 2⁻²⁴ · 8
    X = np.array([[0.0, 1.0], [0.5, 0.25]])
    assert float32_error_bound(np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]), X) == \
        pytest.approx(80 * 2.0**-24)


def test_layer_record_reads_the_weights_back_from_the_layers():
    record = layer_record(sepia_blur_net("valid"))
    np.testing.assert_allclose(record["sepia_weights"], SEPIA, atol=1e-9)
    assert record["gauss_table"] == GAUSS_TABLE.astype(int).tolist()
    assert record["gauss_table_sum"] == 273
    assert record["blur_filter_sums"] == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)
    assert record["blur_own_channel_only"] is True
    # layer 1: 3·3·1·1 weights, all non-zero; layer 2: 3·3·5·5, only the 3 diagonal 5×5 slabs
    assert record["n_weights"] == [9, 225] and record["n_nonzero_weights"] == [9, 75]
    assert record["layer1_kernel"] == [1, 1] and record["layer2_kernel"] == [5, 5]
    assert record["sepia_row_sums"] == pytest.approx([1.351, 1.203, 0.937])
    assert layer_record(sepia_blur_net("same"))["same_padding"] == 2


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
    assert m["max_abs_diff_engine"] < 1e-5 and m["max_abs_diff_scipy"] < 1e-5
    assert m["max_abs_diff"] == max(m["max_abs_diff_engine"], m["max_abs_diff_scipy"])
    assert m["max_abs_diff"] <= m["float32_error_bound"]
    assert set(m["images"]) == {"edge", "camera"}  # a file by its stem
    r = m["images"]["edge"]
    assert r["input_shape"] == [30, 40] and r["output_shape"] == [2, 28, 38]
    assert r["max"][0] == pytest.approx(4.0, abs=1e-5)  # black-to-white step: 1 + 2 + 1
    assert r["max"][1] == pytest.approx(0.0, abs=1e-6)  # no horizontal edge
    assert m["weights"]["W0"] == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]  # read from the layer
    assert m["probes"]["vertical_step"]["max_abs"] == pytest.approx([4.0, 0.0], abs=1e-6)
    assert m["probes"]["horizontal_step"]["max_abs"] == pytest.approx([0.0, 4.0], abs=1e-6)
    assert m["valid_shrink"] == 2
    for fig in ("sobel_outputs", "sobel_weights", "sobel_magnitude"):
        assert (result.out / "figures" / f"{fig}.png").exists()
    assert result.lessons[0]["met"] is True
    log = (result.out / "log.txt").read_text()
    assert "[[" not in log and "W0 rows -1 0 1 / -2 0 2 / -1 0 1" in log  # no raw arrays


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
    assert m["valid_size_error"] == 0
    assert m["max_abs_diff_scipy"] < 1e-5
    assert m["n_params"] == 3 * 3 + 3 * 5 * 5 * 3  # 9 + 225, no biases
    assert [j["met"] for j in result.lessons] == [True, True]
    text = (result.out / "weights.txt").read_text()
    assert "0.393·R + 0.769·G + 0.189·B" in text and "41" in text
    assert "0.393" in (result.out / "log.txt").read_text()
    assert (result.out / "figures" / "sepia_blur.png").exists()


# ---------------------------------------------------------------------------------------------
# narrate, from fabricated metrics


def _words(text: str) -> str:
    """The text with every number replaced by #: equal for two runs whose notes took the same
    branches, whatever their numbers."""
    return re.sub(r"-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?%?", "#", text)


def _fixed_metrics(*, separates=True, flat=0.0, diff=4.5e-7) -> dict:
    image = {"input_shape": [48, 48], "output_shape": [2, 46, 46], "min": [-2.65, -2.58],
             "max": [2.42, 2.01], "mean_abs": [0.226, 0.2341], "edge_fraction": [0.148, 0.15]}
    return {
        "probes": {"vertical_step": {"max_abs": [4.0, 0.0 if separates else 4.0],
                                     "max": [4.0, 0.0]},
                   "horizontal_step": {"max_abs": [0.0 if separates else 4.0, 4.0],
                                       "max": [0.0, 4.0]},
                   "flat": {"max_abs": [flat, flat], "max": [flat, flat]}},
        "weight_sums": [0.0, 0.0], "kernel_shape": [3, 3], "valid_shrink": 2,
        "images": {"camera": image}, "device": "cpu", "max_abs_diff": diff,
        "max_abs_diff_engine": diff, "max_abs_diff_scipy": diff, "float32_error_bound": 4.53e-6,
    }


def test_narrate_fixed_filters_reads_the_directions_from_the_probes():
    config = FixedFiltersConfig()
    good = str(narrate_fixed_filters(_fixed_metrics(separates=True), config))
    bad = str(narrate_fixed_filters(_fixed_metrics(separates=False), config))
    assert _words(bad) != _words(good)  # another sentence, not only other numbers


def test_narrate_fixed_filters_says_whether_a_flat_image_gives_zero():
    config = FixedFiltersConfig()
    zero = str(narrate_fixed_filters(_fixed_metrics(flat=0.0), config))
    some = str(narrate_fixed_filters(_fixed_metrics(flat=0.125), config))
    assert "0.125" in some and "0.125" not in zero
    assert _words(zero) != _words(some)


def test_narrate_fixed_filters_compares_the_difference_with_the_float32_bound():
    config = FixedFiltersConfig()
    within = str(narrate_fixed_filters(_fixed_metrics(diff=4.5e-7), config))
    beyond = str(narrate_fixed_filters(_fixed_metrics(diff=4.5e-3), config))
    assert _words(beyond) != _words(within)
    assert "4.53e-06" in within and "4.53e-06" in beyond
    assert "0.5" in within  # the edge threshold from the config
    assert "0.25" in str(narrate_fixed_filters(_fixed_metrics(),
                                               FixedFiltersConfig(edge_threshold=0.25)))


def _sepia_metrics(*, row_sums=(1.351, 1.203, 0.937), own=True, sums=1.0,
                   steps=(0.1141, 0.0635), size_error=0) -> dict:
    return {
        "sepia_weights": SEPIA.tolist(), "sepia_row_sums": list(row_sums),
        "layer1_kernel": [1, 1], "layer2_kernel": [5, 5], "n_filters": 3,
        "n_weights": [9, 225], "n_nonzero_weights": [9, 75 if own else 81],
        "clipped_fraction": [0.134, 0.022, 0.0], "gauss_table_sum": 273,
        "blur_own_channel_only": own, "blur_filter_sums": [sums] * 3,
        "neighbour_step_before": steps[0], "neighbour_step_after": steps[1],
        "input_shape": [128, 128, 3], "valid_shape": [124 - size_error, 124, 3],
        "same_shape": [128, 128, 3], "valid_size_error": size_error, "same_padding": 2,
        "border_ratio_same": 0.817, "max_abs_diff_valid": 1.9e-7, "max_abs_diff_same": 2.1e-7,
        "device": "cpu",
    }


def test_narrate_sepia_clips_only_when_a_row_sum_exceeds_one():
    config = SepiaBlurConfig()
    clipped = str(narrate_sepia_blur(_sepia_metrics(), config))
    unclipped = str(narrate_sepia_blur(_sepia_metrics(row_sums=(0.9, 0.8, 0.7)), config))
    assert "13.4%" in clipped and "13.4%" not in unclipped
    assert _words(clipped) != _words(unclipped)


def test_narrate_sepia_blur_branches_on_the_read_back_weights():
    config = SepiaBlurConfig()
    base = str(narrate_sepia_blur(_sepia_metrics(), config))
    mixing = str(narrate_sepia_blur(_sepia_metrics(own=False), config))
    assert "81" in mixing and "75" in base and "75" not in mixing
    assert _words(base) != _words(mixing)
    unnormalised = str(narrate_sepia_blur(_sepia_metrics(sums=1.5), config))
    assert "1.5" in unnormalised and _words(base) != _words(unnormalised)
    sharper = str(narrate_sepia_blur(_sepia_metrics(steps=(0.0635, 0.1141)), config))
    assert _words(sharper) != _words(base)
    # and the same branches with other numbers read alike
    assert _words(str(narrate_sepia_blur(_sepia_metrics(steps=(0.2, 0.1)), config))) == \
        _words(base)


def test_narrate_sepia_states_the_size_formula_only_when_it_holds():
    config = SepiaBlurConfig()
    holds = str(narrate_sepia_blur(_sepia_metrics(size_error=0), config))
    off = str(narrate_sepia_blur(_sepia_metrics(size_error=3), config))
    assert "128 − 5 + 1" in holds and "128 − 5 + 1" not in off and "121×124×3" in off


def test_narrate_refuses_missing_metrics():
    m = _sepia_metrics()
    del m["gauss_table_sum"]
    with pytest.raises(NarrationError):
        narrate_sepia_blur(m, SepiaBlurConfig())
    m = _fixed_metrics()
    del m["float32_error_bound"]
    with pytest.raises((NarrationError, KeyError)):
        narrate_fixed_filters(m, FixedFiltersConfig())
