"""Names, resolution, the data dir, and the CLI-facing list/verify/fetch functions."""

import dataclasses
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _datafiles import write_cifar_dir, write_idx_set

import stridelab.data as data
from stridelab.data import (
    Dataset,
    arrays_sha256,
    choose_dataset,
    default_data_dir,
    list_sources,
    load_dataset,
    resolve_dataset,
    verify_source,
)
from stridelab.data import sources as sources_mod
from stridelab.data.fashion import FASHION_MNIST
from stridelab.errors import ConfigError, DataError, DataNotFound


@pytest.fixture
def no_system_fashion(monkeypatch):
    """Hide Debian's Fashion-MNIST (it may be installed on this machine)."""
    monkeypatch.setitem(sources_mod.SOURCES, "fashion-mnist",
                        dataclasses.replace(FASHION_MNIST, system_dirs=()))


def test_import_does_not_pull_torch():
    code = (
        "import sys, stridelab.data, stridelab.data.images, stridelab.data.blobs\n"
        "from stridelab.data import load_dataset\n"
        "ds = load_dataset('mnist-5k')\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "print(ds.X_train.shape, bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(4000, 28, 28) []"


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("STRIDELAB_DATA", str(tmp_path / "here"))
    assert default_data_dir() == tmp_path / "here"
    monkeypatch.delenv("STRIDELAB_DATA")
    assert default_data_dir() == Path.home() / ".cache" / "stridelab"


def test_env_var_is_used_when_no_data_dir_is_given(monkeypatch, tmp_path):
    write_idx_set(tmp_path / "mnist")
    monkeypatch.setenv("STRIDELAB_DATA", str(tmp_path))
    assert data.load_dataset("mnist").source == str(tmp_path / "mnist")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown dataset 'mnist10'; choose one of: mnist, "
                                          "mnist-5k, fashion-mnist, cifar10"):
        data.load_dataset("mnist10")


def test_resolution_rules(tmp_path, no_system_fashion):
    empty = tmp_path / "empty"
    # explicit wins, even when absent (loading it then says how to get it)
    assert choose_dataset("mnist", "mnist", empty) == ("mnist", None)
    assert choose_dataset("fashion-mnist", "mnist", empty) == ("fashion-mnist", None)
    # otherwise the full set when present ...
    write_idx_set(tmp_path / "full" / "mnist")
    assert choose_dataset(None, "mnist", tmp_path / "full") == ("mnist", None)
    # ... else the embedded subset with a one-line notice
    name, notice = choose_dataset(None, "mnist", empty)
    assert name == "mnist-5k"
    assert "using the embedded mnist-5k" in notice and "\n" not in notice
    # the other families have no embedded fallback
    with pytest.raises(DataNotFound, match="stridelab data fetch cifar10"):
        choose_dataset(None, "cifar10", empty)
    with pytest.raises(DataNotFound, match="stridelab data fetch fashion-mnist"):
        choose_dataset(None, "fashion-mnist", empty)
    write_cifar_dir(tmp_path / "full" / "cifar10" / "cifar-10-batches-py", n=1)
    assert choose_dataset(None, "cifar10", tmp_path / "full") == ("cifar10", None)


def test_resolution_errors():
    with pytest.raises(ConfigError, match="unknown dataset 'svhn'"):
        choose_dataset("svhn")
    with pytest.raises(ConfigError, match="'cifar10' does not fit .*mnist, mnist-5k"):
        choose_dataset("cifar10", family="mnist")
    with pytest.raises(ConfigError, match="unknown data family 'audio'"):
        choose_dataset(None, family="audio")


def test_resolve_dataset_reports_the_notice(tmp_path, caplog):
    lines = []
    assert resolve_dataset(None, "mnist", tmp_path, notify=lines.append) == "mnist-5k"
    assert len(lines) == 1 and "mnist-5k" in lines[0]
    with caplog.at_level(logging.WARNING, logger="stridelab.data"):
        assert resolve_dataset(None, "mnist", tmp_path) == "mnist-5k"
    assert "using the embedded mnist-5k" in caplog.text
    lines.clear()
    assert resolve_dataset("mnist-5k", "mnist", tmp_path, notify=lines.append) == "mnist-5k"
    assert lines == []


def test_dataset_record_checks_itself():
    X = np.zeros((2, 28, 28), np.uint8)
    y = np.array([0, 1])
    ds = Dataset("t", X, y, X, y, ["a", "b"], source="test")
    assert ds.sha256 == arrays_sha256(X, y, X, y) and len(ds.sha256) == 64
    assert "arrays" not in repr(ds) and "sha256=" in repr(ds)
    with pytest.raises(DataError, match="y_train must be int64"):
        Dataset("t", X, y.astype(np.int32), X, y, ["a", "b"])
    with pytest.raises(DataError, match=r"labels span \[0, 1\] but there are 1 classes"):
        Dataset("t", X, y, X, y, ["a"])
    with pytest.raises(DataError, match="X_test must be a uint8"):
        Dataset("t", X, y, X.astype(np.float32), y, ["a", "b"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "u"


def test_arrays_sha256_hand_check():
    import hashlib

    a = np.array([1, 2], dtype=np.uint8)
    expected = hashlib.sha256(b"|u1(2,)" + b"\x01\x02").hexdigest()
    assert arrays_sha256(a) == expected
    assert arrays_sha256(a.reshape(1, 2)) != expected  # the shape is part of the digest


def test_list_sources(tmp_path, no_system_fashion):
    write_idx_set(tmp_path / "mnist", gz=True)
    rows = {r["name"]: r for r in list_sources(tmp_path)}
    assert list(rows) == ["mnist", "mnist-5k", "fashion-mnist", "cifar10"]
    assert rows["mnist"]["present"] and rows["mnist"]["location"] == str(tmp_path / "mnist")
    expected_size = sum(p.stat().st_size for p in (tmp_path / "mnist").iterdir())
    assert rows["mnist"]["size_bytes"] == expected_size
    assert rows["mnist"]["n_samples"] == 70_000
    assert rows["mnist-5k"]["present"] and rows["mnist-5k"]["n_samples"] == 5000
    assert not rows["cifar10"]["present"] and rows["cifar10"]["size_bytes"] is None
    assert rows["cifar10"]["location"] == str(tmp_path / "cifar10")
    assert not rows["fashion-mnist"]["present"]
    assert all(r["description"] for r in rows.values())


def test_verify_source(tmp_path, no_system_fashion):
    write_idx_set(tmp_path / "mnist")
    # generated files load (the structure is right) but cannot match MNIST's content hashes
    assert load_dataset("mnist", tmp_path).X_train.shape == (12, 28, 28)
    with pytest.raises(DataError, match="checksum mismatch"):
        verify_source("mnist", tmp_path)
    # generated files cannot match Fashion-MNIST's published checksums
    write_idx_set(tmp_path / "fashion-mnist", gz=True)
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: checksum mismatch"):
        verify_source("fashion-mnist", tmp_path)
    with pytest.raises(DataNotFound):
        verify_source("cifar10", tmp_path)
    line = verify_source("mnist-5k")
    assert line.startswith("mnist-5k: 4000 train / 1000 test") and "sha256 ok" in line


def test_fetch_source_of_present_sets_downloads_nothing(tmp_path):
    assert data.fetch_source("mnist-5k").name == "mnist_5k.csv.gz"
    write_idx_set(tmp_path / "mnist")
    assert data.fetch_source("mnist", tmp_path) == tmp_path / "mnist"


@pytest.mark.parametrize("call", [
    lambda d: data.load_dataset("mnist", d),
    lambda d: data.verify_source("mnist", d),
    lambda d: data.fetch_source("mnist", d),
    lambda d: data.list_sources(d),
    lambda d: data.choose_dataset(None, "mnist", d),
])
def test_a_data_dir_that_is_a_file_is_named_as_such(tmp_path, call):
    a_file = tmp_path / "data.bin"
    a_file.write_bytes(b"not a directory")
    with pytest.raises(ConfigError) as info:
        call(a_file)
    message = str(info.value)
    assert message == (f"--data-dir {a_file}: it is a file, not a directory; give a directory "
                       "for the data sets")
    assert "mnist not found" not in message
    assert a_file.read_bytes() == b"not a directory"


def test_the_env_data_dir_is_named_when_it_is_a_file(tmp_path, monkeypatch):
    a_file = tmp_path / "data.bin"
    a_file.write_bytes(b"")
    monkeypatch.setenv("STRIDELAB_DATA", str(a_file))
    with pytest.raises(ConfigError, match=r"the data dir \(\$STRIDELAB_DATA or default\) .*a file"):
        data.load_dataset("mnist")
    assert data.load_dataset("mnist-5k").name == "mnist-5k"  # shipped: needs no data dir


def test_fetch_refuses_a_data_dir_it_cannot_create(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"cannot create it: .*blocker is a file"):
        data.fetch_source("mnist", blocker / "data")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mnist").write_text("")  # where the files would go is a file
    with pytest.raises(ConfigError, match=r"cannot fetch mnist: .*mnist is a file"):
        data.fetch_source("mnist", tmp_path / "data")
    assert data.check_data_dir(tmp_path / "absent") == tmp_path / "absent"  # fine for reading
    assert not (tmp_path / "absent").exists()
