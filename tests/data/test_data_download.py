"""Verified downloads against an HTTP server on 127.0.0.1 (one good file, one corrupted)."""

import dataclasses
import hashlib
import socket
import tarfile

import numpy as np
import pytest
from _datafiles import STEMS, idx_bytes, write_cifar_dir, write_idx_set

from stridelab.data import cifar, download, fetch_source, file_md5, load_dataset
from stridelab.data import sources as sources_mod
from stridelab.data.mnist import MNIST
from stridelab.errors import DataError, DataNotFound

GOOD = bytes(range(256)) * 300  # 76,800 bytes
GOOD_MD5 = hashlib.md5(GOOD).hexdigest()


@pytest.fixture
def served(http_dir):
    """good.bin is the file; corrupt.bin is the same file with one flipped byte."""
    directory, url = http_dir
    (directory / "good.bin").write_bytes(GOOD)
    corrupt = bytearray(GOOD)
    corrupt[1000] ^= 0x01
    (directory / "corrupt.bin").write_bytes(bytes(corrupt))
    return directory, url


def _leftovers(d):
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


def test_good_download_lands_after_verification(served, tmp_path):
    _, url = served
    dest = tmp_path / "dl" / "file.bin"
    assert download(url + "good.bin", dest, GOOD_MD5, progress=False) == dest
    assert dest.read_bytes() == GOOD
    assert file_md5(dest) == GOOD_MD5
    assert _leftovers(dest.parent) == []


def test_good_download_with_progress_bar(served, tmp_path):
    _, url = served
    dest = tmp_path / "file.bin"
    download(url + "good.bin", dest, GOOD_MD5, progress=True)
    assert dest.read_bytes() == GOOD


def test_corrupted_download_never_lands(served, tmp_path):
    _, url = served
    dest = tmp_path / "file.bin"
    corrupt_md5 = file_md5(served[0] / "corrupt.bin")
    with pytest.raises(DataError, match=rf"corrupt\.bin: checksum mismatch \(md5 {corrupt_md5}"):
        download(url + "corrupt.bin", dest, GOOD_MD5, progress=False)
    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_corrupted_download_keeps_an_existing_good_file(served, tmp_path):
    _, url = served
    dest = tmp_path / "file.bin"
    dest.write_bytes(GOOD)
    with pytest.raises(DataError):
        download(url + "corrupt.bin", dest, GOOD_MD5, progress=False)
    assert dest.read_bytes() == GOOD


def test_mirrors_are_tried_in_order(served, tmp_path):
    _, url = served
    dest = tmp_path / "file.bin"
    mirrors = [url + "missing.bin", url + "corrupt.bin", url + "good.bin"]
    download(mirrors, dest, GOOD_MD5, progress=False)
    assert dest.read_bytes() == GOOD


def test_unreachable_mirror_is_data_not_found(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "file.bin"
    with pytest.raises(DataNotFound, match=r"could not download file\.bin .*place the file at"):
        download(f"http://127.0.0.1:{port}/good.bin", dest, GOOD_MD5, progress=False, timeout=5)
    assert not dest.exists()


def test_404_only_is_data_not_found(served, tmp_path):
    _, url = served
    with pytest.raises(DataNotFound, match="HTTP Error 404"):
        download(url + "missing.bin", tmp_path / "x", GOOD_MD5, progress=False)


# ---- fetch_source end to end, with the mirrors pointed at the local server ------------------


def test_fetch_mnist_downloads_verifies_and_loads(http_dir, tmp_path, monkeypatch):
    directory, url = http_dir
    arrays = write_idx_set(directory, gz=True, seed=7)
    md5 = {s + ".gz": file_md5(directory / (s + ".gz")) for s in STEMS.values()}
    local = dataclasses.replace(MNIST, mirrors=(url + "nothing-here/", url), md5=md5)
    monkeypatch.setitem(sources_mod.SOURCES, "mnist", local)
    data_dir = tmp_path / "data"

    where = fetch_source("mnist", data_dir=data_dir, progress=False)
    assert where == data_dir / "mnist"
    assert sorted(p.name for p in where.iterdir()) == sorted(md5)
    ds = load_dataset("mnist", data_dir=data_dir)
    np.testing.assert_array_equal(ds.X_train, arrays[0])
    np.testing.assert_array_equal(ds.y_test, arrays[3])
    # Present now: a second fetch downloads nothing (the server's files may even vanish).
    for p in directory.iterdir():
        p.unlink()
    assert fetch_source("mnist", data_dir=data_dir, progress=False) == data_dir / "mnist"


def test_fetch_mnist_with_a_corrupted_mirror_file(http_dir, tmp_path, monkeypatch):
    directory, url = http_dir
    write_idx_set(directory, gz=True)
    md5 = {s + ".gz": file_md5(directory / (s + ".gz")) for s in STEMS.values()}
    (directory / "t10k-labels-idx1-ubyte.gz").write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    monkeypatch.setitem(sources_mod.SOURCES, "mnist",
                        dataclasses.replace(MNIST, mirrors=(url,), md5=md5))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: no mirror delivered"):
        fetch_source("mnist", data_dir=tmp_path, progress=False)
    assert not (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()
    with pytest.raises(DataNotFound, match="incomplete"):  # the good three stay, no bad fourth
        load_dataset("mnist", data_dir=tmp_path)


def test_fetch_cifar_downloads_extracts_and_loads(http_dir, tmp_path, monkeypatch):
    directory, url = http_dir
    written = write_cifar_dir(tmp_path / "src" / "cifar-10-batches-py", n=2)
    with tarfile.open(directory / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(cifar, "URLS", (url + "cifar-10-python.tar.gz",))
    monkeypatch.setattr(cifar, "MD5", file_md5(directory / "cifar-10-python.tar.gz"))

    where = fetch_source("cifar10", data_dir=tmp_path / "data", progress=False)
    assert where == tmp_path / "data" / "cifar10" / "cifar-10-batches-py"
    ds = load_dataset("cifar10", data_dir=tmp_path / "data")
    assert ds.source == str(where)
    np.testing.assert_array_equal(ds.y_test, written["test_batch"][1])


def test_fetch_offline_names_every_file_and_the_place(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setitem(sources_mod.SOURCES, "mnist",
                        dataclasses.replace(MNIST, mirrors=(f"http://127.0.0.1:{port}/",)))
    with pytest.raises(DataNotFound) as err:
        fetch_source("mnist", data_dir=tmp_path, progress=False)
    msg = str(err.value)
    assert msg.startswith("could not download mnist (")
    assert msg.endswith(
        "when offline, place train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        f"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz in {tmp_path / 'mnist'}"
    )
