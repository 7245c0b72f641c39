"""fixed-filters: the Sobel layer by hand and against the engine, the study, its notes."""

import numpy as np
import pytest
import torch
from PIL import Image

from stridelab.experiments.fixed_filters import (
    FixedFiltersConfig,
    float32_error_bound,
    probe_images,
    sobel_engine,
    sobel_scipy,
)
from stridelab.experiments.fixed_filters import narrate as narrate_fixed_filters
from stridelab.experiments.narrate import NarrationError
from stridelab.experiments.runner import run_experiment
from stridelab.programs.conv_layer import sobel_net


def _torch_sobel(X):
    with torch.no_grad():
        return sobel_net()(torch.from_numpy(X[None, None]).double().float())[0].double().numpy()


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


def _fixed_metrics(*, separates=True, flat=0.0, diff=4.5e-7, mean_abs=(0.226, 0.2341)) -> dict:
    image = {"input_shape": [48, 48], "output_shape": [2, 46, 46], "min": [-2.65, -2.58],
             "max": [2.42, 2.01], "mean_abs": list(mean_abs), "edge_fraction": [0.148, 0.15]}
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


_BRANCHES = {"separates_directions": True, "flat_gives_zero": True,
             "within_float32_bound": True, "camera_more_vertical_edges": False}


@pytest.mark.parametrize("metrics, flipped", [
    (_fixed_metrics(), None),
    (_fixed_metrics(separates=False), "separates_directions"),
    (_fixed_metrics(flat=0.125), "flat_gives_zero"),
    (_fixed_metrics(diff=4.5e-3), "within_float32_bound"),
    (_fixed_metrics(mean_abs=(0.25, 0.2341)), "camera_more_vertical_edges"),
])
def test_narrate_fixed_filters_takes_the_branches_the_probes_decide(metrics, flipped):
    expected = dict(_BRANCHES)
    if flipped:
        expected[flipped] = not expected[flipped]
    assert narrate_fixed_filters(metrics, FixedFiltersConfig()).branches == expected


def test_narrate_fixed_filters_says_which_edges_dominate_each_photo():
    vertical = str(narrate_fixed_filters(_fixed_metrics(mean_abs=(0.25, 0.2341)),
                                         FixedFiltersConfig()))
    horizontal = str(narrate_fixed_filters(_fixed_metrics(), FixedFiltersConfig()))
    assert "W0's mean response (0.2500) is above W1's (0.2341)" in vertical
    assert "W1's mean response (0.2341) is at least W0's (0.2260)" in horizontal


def test_narrate_fixed_filters_prints_the_numbers_of_its_branch():
    config = FixedFiltersConfig()
    zero = str(narrate_fixed_filters(_fixed_metrics(flat=0.0), config))
    some = str(narrate_fixed_filters(_fixed_metrics(flat=0.125), config))
    assert "0.125" in some and "0.125" not in zero
    assert "4.53e-06" in zero  # the float32 bound, either way
    assert "0.5" in zero  # the edge threshold from the config
    assert "0.25" in str(narrate_fixed_filters(_fixed_metrics(),
                                               FixedFiltersConfig(edge_threshold=0.25)))


def test_narrate_refuses_missing_metrics():
    m = _fixed_metrics()
    del m["float32_error_bound"]
    with pytest.raises((NarrationError, KeyError)):
        narrate_fixed_filters(m, FixedFiltersConfig())
