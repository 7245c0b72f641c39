"""sepia-blur: the fixed weights, the layers against scipy, the study at 128 pixels, its notes."""

import numpy as np
import pytest
import torch

from stridelab.experiments.narrate import NarrationError
from stridelab.experiments.runner import run_experiment
from stridelab.experiments.sepia_blur import (
    SepiaBlurConfig,
    layer_record,
    sepia_blur_scipy,
    square_image,
)
from stridelab.experiments.sepia_blur import narrate as narrate_sepia_blur
from stridelab.programs.sepia_blur_cnn import GAUSS_TABLE, SEPIA, blur_weights, sepia_blur_net


def _torch_sepia(X, padding):
    x = torch.from_numpy(X.transpose(2, 0, 1)[None].astype(np.float32))  # (1, 3, H, W)
    with torch.no_grad():
        return sepia_blur_net(padding)(x)[0].double().numpy().transpose(1, 2, 0)  # (OH, OW, 3)


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


_BASE = {"clips": True, "own_channel_only": True, "filters_sum_to_one": True,
         "blur_smooths": True, "valid_size_formula": True}


@pytest.mark.parametrize("changes, branch", [
    ({}, None),
    ({"row_sums": (0.9, 0.8, 0.7)}, "clips"),
    ({"own": False}, "own_channel_only"),
    ({"sums": 1.5}, "filters_sum_to_one"),
    ({"steps": (0.0635, 0.1141)}, "blur_smooths"),
    ({"size_error": 3}, "valid_size_formula"),
])
def test_narrate_sepia_blur_branches_on_the_read_back_weights(changes, branch):
    """One branch per case: the one whose measurement was changed turns false."""
    notes = narrate_sepia_blur(_sepia_metrics(**changes), SepiaBlurConfig())
    assert notes.branches == {**_BASE, **({branch: False} if branch else {})}


def test_narrate_sepia_prints_the_numbers_of_its_branch():
    config = SepiaBlurConfig()
    clipped = str(narrate_sepia_blur(_sepia_metrics(), config))
    unclipped = str(narrate_sepia_blur(_sepia_metrics(row_sums=(0.9, 0.8, 0.7)), config))
    assert "13.4%" in clipped and "13.4%" not in unclipped
    mixing = str(narrate_sepia_blur(_sepia_metrics(own=False), config))
    assert "81" in mixing and "75" in clipped and "75" not in mixing
    assert "1.5" in str(narrate_sepia_blur(_sepia_metrics(sums=1.5), config))
    off = str(narrate_sepia_blur(_sepia_metrics(size_error=3), config))
    assert "128 − 5 + 1" in clipped and "128 − 5 + 1" not in off and "121×124×3" in off


def test_narrate_refuses_missing_metrics():
    m = _sepia_metrics()
    del m["gauss_table_sum"]
    with pytest.raises(NarrationError):
        narrate_sepia_blur(m, SepiaBlurConfig())
