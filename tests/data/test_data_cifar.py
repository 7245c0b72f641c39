"""CIFAR-10 batches, the restricted unpickler and safe tar extraction."""

import io
import pickle
import tarfile

import numpy as np
import pytest
from _datafiles import CIFAR_BATCHES, cifar_batch, write_cifar_dir
from hypothesis import given, settings
from hypothesis import strategies as st

from stridelab.data import load_dataset
from stridelab.data.cifar import parse_batch
from stridelab.data.safety import restricted_load, safe_extract
from stridelab.errors import DataError, DataNotFound

# ---- the restricted unpickler -------------------------------------------------------------


def test_os_system_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    # Protocol 0 by hand: GLOBAL 'os system', a one-string tuple, REDUCE.
    evil = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    with pytest.raises(DataError, match=r"evil.pkl: refused to unpickle os\.system"):
        restricted_load(evil, source="evil.pkl")
    assert not marker.exists()
    # The same bytes do run under plain pickle (so the test above really tests something).
    pickle.loads(evil)
    assert marker.exists()


class _Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("fn", [eval, exec, getattr, __import__, open, io.BytesIO])
def test_other_callables_are_refused(fn):
    data = pickle.dumps(_Reduce(fn, ("1",)), protocol=2)
    with pytest.raises(DataError, match="refused to unpickle"):
        restricted_load(data, source="x.pkl")


def test_arbitrary_classes_are_refused():
    class_pickle = pickle.dumps(_Reduce(dict, ()))  # a class outside the allow-list
    assert pickle.loads(class_pickle) == {}
    with pytest.raises(DataError, match=r"builtins\.dict"):
        restricted_load(class_pickle)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_plain_data_and_numpy_arrays_pass(protocol):
    obj = {
        b"data": np.arange(12, dtype=np.uint8).reshape(3, 4),
        "floats": np.linspace(0, 1, 5),
        "labels": [1, 2, 3],
        "t": (1.5, None, True),
        "s": {1, 2},
        "b": b"\x00\xff",
    }
    out = restricted_load(pickle.dumps(obj, protocol=protocol))
    np.testing.assert_array_equal(out[b"data"], obj[b"data"])
    np.testing.assert_array_equal(out["floats"], obj["floats"])
    assert out["labels"] == [1, 2, 3] and out["t"] == (1.5, None, True)
    assert out["s"] == {1, 2} and out["b"] == b"\x00\xff"


PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | st.binary(),
    lambda children: st.lists(children, max_size=4) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(PLAIN, st.sampled_from([0, 2, 4, 5]))
def test_any_plain_data_round_trips(obj, protocol):
    assert restricted_load(pickle.dumps(obj, protocol=protocol), encoding="utf-8") == obj


@pytest.mark.parametrize("ctor", ["bytes", "bytearray"])
def test_allocation_by_size_is_refused(ctor):
    bomb = f"cbuiltins\n{ctor}\n(I1000000000000\ntR.".encode()  # {ctor}(10**12)
    with pytest.raises(DataError, match=rf"bomb.pkl: not a readable pickle .*{ctor}\(10+\)"):
        restricted_load(bomb, source="bomb.pkl")


def test_truncated_pickle():
    data = pickle.dumps({b"data": np.zeros(100, np.uint8)}, protocol=2)
    with pytest.raises(DataError, match="b.pkl: not a readable pickle"):
        restricted_load(data[:-20], source="b.pkl")


# ---- batches ------------------------------------------------------------------------------


def test_batch_is_channel_last():
    data = np.zeros((1, 3072), dtype=np.uint8)
    data[0, :1024] = 10  # red plane
    data[0, 1024:2048] = 20  # green plane
    data[0, 2048:] = 30  # blue plane
    data[0, 1024 + 5 * 32 + 7] = 99  # green value of the pixel at row 5, column 7
    X, y = parse_batch(pickle.dumps({b"data": data, b"labels": [4]}, protocol=2), "b")
    assert X.shape == (1, 32, 32, 3) and X.dtype == np.uint8
    assert X[0, 0, 0].tolist() == [10, 20, 30]
    assert X[0, 5, 7].tolist() == [10, 99, 30]
    assert y.tolist() == [4] and y.dtype == np.int64


@pytest.mark.parametrize(
    "batch, message",
    [
        ([1, 2], "expected a dict batch, found list"),
        ({b"labels": [1]}, "a CIFAR batch needs 'data' and 'labels'"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [1, 2]}, "type float32"),
        ({b"data": np.zeros((2, 1024), np.uint8), b"labels": [1, 2]}, r"shape \(2, 1024\)"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}, "2 images but 1 labels"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 10]}, r"labels span \[1, 10\]"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": ["cat"]}, "list of integers"),
    ],
)
def test_bad_batches(batch, message):
    with pytest.raises(DataError, match="batch.pkl: .*" + message):
        parse_batch(pickle.dumps(batch, protocol=2), "batch.pkl")


def _expected(written):
    X_train = np.concatenate([written[b][0] for b in CIFAR_BATCHES[:5]])
    X_train = X_train.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    y_train = np.concatenate([written[b][1] for b in CIFAR_BATCHES[:5]])
    return X_train, y_train


@pytest.mark.parametrize("sub", ["cifar10/cifar-10-batches-py", "cifar-10-batches-py"])
def test_cifar_from_directory(tmp_path, sub):
    written = write_cifar_dir(tmp_path / sub, n=3)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    X_train, y_train = _expected(written)
    assert ds.X_train.shape == (15, 32, 32, 3) and ds.X_test.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(ds.X_train, X_train)
    np.testing.assert_array_equal(ds.y_train, y_train)
    np.testing.assert_array_equal(ds.y_test, written["test_batch"][1])
    assert ds.classes[0] == "airplane" and ds.classes[9] == "truck"


def _make_tar(path, src_dir, arcname="cifar-10-batches-py"):
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src_dir, arcname=arcname)
    return path


def test_cifar_from_tar_gz(tmp_path):
    written = write_cifar_dir(tmp_path / "src" / "cifar-10-batches-py", n=2)
    (tmp_path / "data" / "cifar10").mkdir(parents=True)
    _make_tar(tmp_path / "data" / "cifar10" / "cifar-10-python.tar.gz",
              tmp_path / "src" / "cifar-10-batches-py")
    ds = load_dataset("cifar10", data_dir=tmp_path / "data")
    X_train, y_train = _expected(written)
    np.testing.assert_array_equal(ds.X_train, X_train)
    np.testing.assert_array_equal(ds.y_train, y_train)
    assert ds.source.endswith("cifar-10-python.tar.gz")
    assert not (tmp_path / "data" / "cifar10" / "cifar-10-batches-py").exists()  # not extracted


def test_cifar_refuses_a_malicious_batch(tmp_path):
    d = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar_dir(d, n=2)
    (d / "data_batch_3").write_bytes(b"cposix\nsystem\n(S'echo hi'\ntR.")
    with pytest.raises(DataError, match=r"data_batch_3: refused to unpickle posix\.system"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_cifar_truncated_batch(tmp_path):
    d = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar_dir(d, n=2)
    buf = (d / "test_batch").read_bytes()
    (d / "test_batch").write_bytes(buf[: len(buf) // 2])
    with pytest.raises(DataError, match="test_batch: not a readable pickle"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_cifar_missing_batches(tmp_path):
    d = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar_dir(d, n=2)
    (d / "data_batch_5").unlink()
    with pytest.raises(DataNotFound, match="incomplete in .*missing data_batch_5"):
        load_dataset("cifar10", data_dir=tmp_path)
    with pytest.raises(DataNotFound, match=r"cifar10 not found: place cifar-10-python\.tar\.gz"):
        load_dataset("cifar10", data_dir=tmp_path / "elsewhere")


def test_cifar_tar_missing_a_batch(tmp_path):
    src = tmp_path / "src" / "cifar-10-batches-py"
    write_cifar_dir(src, n=2)
    (src / "test_batch").unlink()
    _make_tar(tmp_path / "cifar-10-python.tar.gz", src)
    with pytest.raises(DataError, match="the archive lacks test_batch"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_cifar_truncated_tar(tmp_path):
    src = tmp_path / "src" / "cifar-10-batches-py"
    write_cifar_dir(src, n=2)
    path = _make_tar(tmp_path / "cifar-10-python.tar.gz", src)
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(DataError, match="cifar-10-python.tar.gz: "):
        load_dataset("cifar10", data_dir=tmp_path)


# ---- tar extraction -----------------------------------------------------------------------


def _tar_with(path, members):
    """members: list of (TarInfo, bytes or None)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, payload in members:
            if payload is not None:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                tar.addfile(info)
    return path


def _file(name, payload=b"ok"):
    return tarfile.TarInfo(name), payload


def _link(name, target, kind):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize(
    "bad, reason",
    [
        (_file("../escape.txt"), r"'\.\.' component"),
        (_file("cifar-10-batches-py/../../escape.txt"), r"'\.\.' component"),
        (_file("/etc/cron.d/escape"), "absolute path"),
        (_link("cifar-10-batches-py/link", "/etc/passwd", tarfile.SYMTYPE), "a link"),
        (_link("cifar-10-batches-py/hard", "cifar-10-batches-py/a", tarfile.LNKTYPE), "a link"),
        (_link("cifar-10-batches-py/fifo", "", tarfile.FIFOTYPE), "special file"),
    ],
)
def test_unsafe_tar_is_refused_before_anything_is_extracted(tmp_path, bad, reason):
    # The good member comes first: a streaming extractor would already have written it.
    archive = _tar_with(tmp_path / "a.tar.gz", [_file("cifar-10-batches-py/a"), bad])
    dest = tmp_path / "out"
    with pytest.raises(DataError, match="a.tar.gz: refused to extract: member .* has .*" + reason):
        safe_extract(archive, dest)
    assert not dest.exists() or not any(dest.rglob("*"))
    assert not (tmp_path / "escape.txt").exists()


def test_safe_extract_writes_regular_files(tmp_path):
    archive = _tar_with(tmp_path / "a.tar.gz", [
        _file("top/a", b"alpha"), _file("top/sub/b", b"beta"), _file("./top/c", b"gamma"),
    ])
    written = safe_extract(archive, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "top/a", "top/c", "top/sub/b",
    ]
    assert (tmp_path / "out" / "top" / "sub" / "b").read_bytes() == b"beta"
    assert not [p for p in (tmp_path / "out").rglob(".*")]  # no temporary files left


def test_cifar_tar_with_traversal_is_refused_on_load(tmp_path):
    buf, _, _ = cifar_batch(1, 0)
    _tar_with(tmp_path / "cifar-10-python.tar.gz", [_file("../data_batch_1", buf)])
    with pytest.raises(DataError, match="refused to extract"):
        load_dataset("cifar10", data_dir=tmp_path)


# ---- checksums ----------------------------------------------------------------------------


def test_verify_cifar_batches_against_md5(tmp_path, monkeypatch):
    from stridelab.data import cifar, file_md5, verify_source

    d = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar_dir(d, n=2)
    # Generated batches cannot match the published MD5s ...
    with pytest.raises(DataError, match=r"data_batch_1: checksum mismatch \(md5 [0-9a-f]{32}"):
        verify_source("cifar10", tmp_path)
    # ... and pass once the table holds their own MD5s.
    monkeypatch.setattr(cifar, "BATCH_MD5", {b: file_md5(d / b) for b in CIFAR_BATCHES})
    line = verify_source("cifar10", tmp_path)
    assert line.startswith("cifar10: 10 train / 2 test images (32x32x3 uint8, 10 classes)")
    assert line.endswith("md5 ok x6")


def test_verify_cifar_archive_md5(tmp_path):
    from stridelab.data import verify_source

    src = tmp_path / "src" / "cifar-10-batches-py"
    write_cifar_dir(src, n=1)
    _make_tar(tmp_path / "cifar-10-python.tar.gz", src)
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz: checksum mismatch .*published "
                                        "c58f30108f718f92721af3b95e74349a"):
        verify_source("cifar10", tmp_path)
