"""IDX and npz readers: exact round trips and every corrupt-file case."""

import gzip

import numpy as np
import pytest
from _datafiles import idx_bytes
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from stridelab.data.formats import (
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    parse_idx,
    read_idx,
    read_npz,
    write_idx,
)
from stridelab.errors import DataError

X = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)


def test_idx_header_is_parsed_by_hand():
    buf = bytes([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]) + bytes(range(24))
    out = parse_idx(buf)
    assert out.shape == (2, 3, 4) and out.dtype == np.uint8
    assert out[1, 2, 3] == 23 and out[0, 1, 0] == 4


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_raw_and_gzip(tmp_path, gz):
    path = tmp_path / ("x.gz" if gz else "x")
    path.write_bytes(gzip.compress(idx_bytes(X)) if gz else idx_bytes(X))
    out = read_idx(path, magic=IDX_IMAGES_MAGIC, item_shape=(3, 4))
    np.testing.assert_array_equal(out, X)


def test_gzip_is_sniffed_not_guessed_from_the_name(tmp_path):
    path = tmp_path / "no-suffix"
    path.write_bytes(gzip.compress(idx_bytes(X)))
    np.testing.assert_array_equal(read_idx(path), X)


def test_big_endian_int32_idx(tmp_path):
    values = np.array([1, -2, 70000], dtype=">i4")
    buf = bytes([0, 0, 0x0C, 1, 0, 0, 0, 3]) + values.tobytes()
    out = parse_idx(buf)
    assert out.tolist() == [1, -2, 70000]


@pytest.mark.parametrize("compress", [False, True])
def test_write_idx_round_trip(tmp_path, compress):
    path = write_idx(tmp_path / "x.idx", X, compress=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    np.testing.assert_array_equal(read_idx(path), X)


def test_wrong_magic_number_names_file_and_kinds(tmp_path):
    labels = tmp_path / "train-images-idx3-ubyte"
    labels.write_bytes(idx_bytes(np.zeros(5, dtype=np.uint8)))  # a label file under an image name
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: wrong magic number 0x00000801"):
        read_idx(labels, magic=IDX_IMAGES_MAGIC)


def test_garbage_is_not_idx(tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(DataError, match="junk: wrong magic number 0x504b0304"):
        read_idx(path)


@pytest.mark.parametrize("cut", [2, 10, 16 + 23])
def test_truncated_idx(tmp_path, cut):
    path = tmp_path / "x"
    path.write_bytes(idx_bytes(X)[:cut])  # full file is 16 + 24 bytes
    with pytest.raises(DataError, match=r"x: truncated"):
        read_idx(path)


def test_truncated_body_says_how_much_is_missing(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(idx_bytes(X)[:-5])
    with pytest.raises(DataError, match=r"promises shape \(2, 3, 4\) \(24 bytes.*only 19 bytes"):
        read_idx(path)


def test_trailing_bytes_are_an_error(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(idx_bytes(X) + b"\0\0\0")
    with pytest.raises(DataError, match="3 unexpected bytes"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(X))[:-12])
    with pytest.raises(DataError, match=r"x.gz: truncated gzip"):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    blob = bytearray(gzip.compress(idx_bytes(np.arange(4000, dtype=np.uint8) % 7)))
    blob[12:20] = b"\xff" * 8  # wreck the deflate stream
    path = tmp_path / "x.gz"
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="x.gz: (corrupt|truncated) gzip"):
        read_idx(path)


def test_wrong_item_shape(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(idx_bytes(np.zeros((2, 32, 32), dtype=np.uint8)))
    with pytest.raises(DataError, match=r"items of shape \(32, 32\), expected \(28, 28\)"):
        read_idx(path, magic=IDX_IMAGES_MAGIC, item_shape=(28, 28))


def test_labels_magic_accepts_labels(tmp_path):
    path = tmp_path / "y"
    path.write_bytes(idx_bytes(np.array([3, 1, 4], dtype=np.uint8)))
    assert read_idx(path, magic=IDX_LABELS_MAGIC, item_shape=()).tolist() == [3, 1, 4]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope: cannot read"):
        read_idx(tmp_path / "nope")


def test_npz_round_trip_and_missing_key(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, x_train=X, y_train=np.arange(2))
    out = read_npz(path, ("x_train", "y_train"))
    np.testing.assert_array_equal(out["x_train"], X)
    with pytest.raises(DataError, match=r"a.npz: missing array\(s\) x_test"):
        read_npz(path, ("x_train", "x_test"))


def test_truncated_npz(tmp_path):
    path = tmp_path / "a.npz"
    np.savez_compressed(path, x_train=np.arange(10000))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="a.npz: "):
        read_npz(path, ("x_train",))


def test_npz_object_arrays_are_refused(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="a.npz: cannot read array"):
        read_npz(path, ("x_train",))



# ---- properties ---------------------------------------------------------------------------

IDX_TYPES = st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])


@settings(max_examples=40, deadline=None)
@given(arrays(IDX_TYPES, array_shapes(min_dims=1, max_dims=4, max_side=5)), st.booleans())
def test_idx_round_trip_property(tmp_path_factory, X, compress):
    path = write_idx(tmp_path_factory.mktemp("idx") / "x", X, compress=compress)
    back = read_idx(path)
    assert back.dtype == X.dtype and back.shape == X.shape
    np.testing.assert_array_equal(back, X)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 16 + 60 - 1))
def test_every_truncation_is_an_error(cut):
    buf = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))  # 16-byte header + 60
    with pytest.raises(DataError, match="truncated"):
        parse_idx(buf[:cut], "x")
