"""Sample photos, user image files, blob data and the points CSV loader."""

import numpy as np
import pytest
from PIL import Image

from stridelab.data.blobs import load_points_csv, make_blob_data, three_blobs
from stridelab.data.images import image_names, load_image
from stridelab.errors import DataError

# ---- images -------------------------------------------------------------------------------


def test_image_names_are_the_bundled_samples():
    names = image_names()
    assert {"camera", "astronaut", "coffee", "chelsea", "rocket"} <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize("name", image_names())
def test_every_listed_sample_loads_in_unit_range(name):
    X = load_image(name)
    assert X.dtype == np.float64 and X.ndim in (2, 3)
    assert X.ndim == 2 or X.shape[2] == 3
    assert 0.0 <= X.min() and X.max() <= 1.0 and X.max() > X.min()


def test_camera_values_are_pixels_over_255():
    import skimage.data

    raw = skimage.data.camera()  # (512, 512) uint8
    X = load_image("camera")
    assert X.shape == (512, 512)
    assert X[100, 200] == raw[100, 200] / 255


def test_gray_conversion():
    X = load_image("astronaut", gray=True)
    assert X.shape == (512, 512)
    rgb = load_image("astronaut")
    r, g, b = rgb[10, 20]
    assert X[10, 20] == pytest.approx(0.2125 * r + 0.7154 * g + 0.0721 * b)


def test_rgb_file(tmp_path):
    X = np.zeros((2, 3, 3), dtype=np.uint8)
    X[0, 0] = [255, 0, 51]
    X[1, 2] = [0, 102, 255]
    Image.fromarray(X).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert out.shape == (2, 3, 3)
    np.testing.assert_allclose(out[0, 0], [1.0, 0.0, 0.2])
    np.testing.assert_allclose(out[1, 2], [0.0, 0.4, 1.0])


def test_rgba_is_composited_on_white(tmp_path):
    X = np.zeros((1, 2, 4), dtype=np.uint8)
    X[0, 0] = [255, 0, 0, 0]  # fully transparent red -> white
    X[0, 1] = [255, 0, 0, 255]  # opaque red stays red
    Image.fromarray(X, mode="RGBA").save(tmp_path / "a.png")
    out = load_image(str(tmp_path / "a.png"))
    np.testing.assert_allclose(out[0, 0], [1, 1, 1])
    np.testing.assert_allclose(out[0, 1], [1, 0, 0])


def test_16_bit_grey_file(tmp_path):
    X = np.array([[0, 65535], [32768, 13107]], dtype=np.uint16)
    Image.fromarray(X).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    np.testing.assert_allclose(out, [[0, 1], [32768 / 65535, 0.2]])


def test_palette_file(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    im.putpixel((1, 0), 1)
    im.save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    np.testing.assert_allclose(out, [[[0, 0, 0], [1, 1, 1]]])


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DataError, match="no image named 'cameraman': .*astronaut, .*camera"):
        load_image("cameraman")


def test_not_an_image(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="notes.txt: not an image file Pillow can read"):
        load_image(tmp_path / "notes.txt")


def test_truncated_image(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    buf = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(buf[: len(buf) // 2])
    with pytest.raises(DataError, match="a.png: cannot decode the image"):
        load_image(tmp_path / "a.png")


# ---- blobs and points ---------------------------------------------------------------------


def test_make_blob_data():
    X, y = make_blob_data()
    assert X.shape == (150, 2) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [50, 50, 50]
    X2, y2 = make_blob_data()
    np.testing.assert_array_equal(X, X2)
    X3, _ = make_blob_data(n_samples=40, centers=4, random_state=1)
    assert X3.shape == (40, 2) and not np.array_equal(X3, X[:40])


def test_three_blobs():
    X, y = three_blobs()
    assert X.shape == (150, 2) and y.shape == (150,)
    assert np.bincount(y).tolist() == [50, 50, 50]


def test_points_csv_with_and_without_labels(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("x0,x1,label\n1.5,-2,0\n3,4e-1,2\n\n")
    X, y = load_points_csv(p)
    np.testing.assert_array_equal(X, [[1.5, -2.0], [3.0, 0.4]])
    assert y.tolist() == [0, 2] and y.dtype == np.int64
    p.write_text(" x0 , x1 \n0,1\n")
    X, y = load_points_csv(p)
    assert X.tolist() == [[0.0, 1.0]] and y is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty file"),
        ("1,2\n3,4\n", r"line 1 is '1,2'; the header must be x0,x1"),
        ("a,b\n1,2\n", "the header must be x0,x1 or x0,x1,label"),
        ("x0,x1\n", "no data rows"),
        ("x0,x1\n1,2\n3\n", "line 3 has 1 fields, the header has 2"),
        ("x0,x1\n1,two\n", "line 2: x1 = 'two' is not a number"),
        ("x0,x1\nnan,1\n", "line 2: x0 = nan is not finite"),
        ("x0,x1,label\n1,2,0.5\n", "line 2: label '0.5' is not an integer"),
    ],
)
def test_points_csv_errors(tmp_path, text, message):
    p = tmp_path / "p.csv"
    p.write_text(text)
    with pytest.raises(DataError, match="p.csv: .*" + message):
        load_points_csv(p)


def test_points_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.csv: no such file"):
        load_points_csv(tmp_path / "nope.csv")
