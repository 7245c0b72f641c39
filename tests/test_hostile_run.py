"""Hostile input to `stridelab run`, `data` and `report` (issue 18, items 4 and 5).

Every example answers with one line on stderr and exit status 2, before any work, and leaves
nothing behind: no run directory, no `--out` root, no data dir, no report.
"""

import os
import sys

import pytest

from stridelab.cli import main


def _tree(root):
    """Every path under ``root`` (relative), to show that a refused command wrote nothing."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def place(tmp_path):
    """A directory holding one regular file, FILE, and an empty directory, EMPTY."""
    (tmp_path / "FILE").write_text("a regular file\n")
    (tmp_path / "EMPTY").mkdir()
    return tmp_path


def refused(capsys, root, argv, *fragments):
    """Run ``argv``; assert exit 2, one stderr line holding each fragment, nothing written."""
    before = _tree(root)
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("stridelab: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in err and "Errno" not in err
    assert out == ""  # nothing was started, so nothing was announced
    assert _tree(root) == before
    return lines[0]


# ---------------------------------------------------------------------------------------------
# item 4: paths


def test_out_is_a_regular_file(capsys, place):
    refused(capsys, place, ["run", "kmeans-blobs", "--out", place / "FILE"],
            f"--out {place / 'FILE'}: it is a file, not a directory")


def test_out_below_a_regular_file(capsys, place):
    refused(capsys, place, ["run", "kmeans-blobs", "--out", place / "FILE" / "runs"],
            "cannot create it", f"{place / 'FILE'} is a file, not a directory")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_out_where_nothing_can_be_created(capsys, place):
    line = refused(capsys, place, ["run", "kmeans-blobs", "--out", "/proc/x"],
                   "--out /proc/x: cannot create it: /proc is not writable")
    assert "No such file or directory" not in line  # says what is wrong, not a bare errno
    assert not os.path.exists("/proc/x")


def test_run_all_out_is_a_regular_file(capsys, place):
    refused(capsys, place, ["run", "all", "--quick", "--out", place / "FILE"],
            "it is a file, not a directory")


def test_data_fetch_into_a_data_dir_that_is_a_file(capsys, place):
    refused(capsys, place, ["data", "fetch", "mnist", "--data-dir", place / "FILE"],
            f"--data-dir {place / 'FILE'}: it is a file, not a directory")


def test_data_fetch_into_a_data_dir_below_a_file(capsys, place):
    refused(capsys, place, ["data", "fetch", "mnist", "--data-dir", place / "FILE" / "data"],
            "cannot create it", "is a file, not a directory")


def test_data_verify_with_a_data_dir_that_is_a_file(capsys, place):
    line = refused(capsys, place, ["data", "verify", "mnist", "--data-dir", place / "FILE"],
                   "it is a file, not a directory")
    assert "not found" not in line and "FILE/mnist" not in line


def test_run_with_a_data_dir_that_is_a_file(capsys, place):
    line = refused(capsys, place, ["run", "svc-baseline", "--data-dir", place / "FILE",
                                   "--out", place / "runs"],
                   f"--data-dir {place / 'FILE'}: it is a file, not a directory")
    assert "not found" not in line


def test_report_of_an_empty_directory(capsys, place):
    refused(capsys, place, ["report", "--runs", place / "EMPTY"],
            f"nothing to report in {place / 'EMPTY'}")


def test_report_of_a_directory_without_runs(capsys, place):
    (place / "EMPTY" / "notes").mkdir()  # a directory, but no run in it
    refused(capsys, place, ["report", "--runs", place / "EMPTY"], "nothing to report in")


# ---------------------------------------------------------------------------------------------
# item 5: config values


@pytest.mark.parametrize("setting, fragment", [
    ("lr=nan", "--set lr=nan: lr must be a finite number"),
    ("lr=inf", "--set lr=inf: lr must be a finite number"),
    ("lr=-inf", "lr must be a finite number"),
    ("lr=-1", "--set lr=-1: lr must be greater than 0"),
    ("epochs=-1", "--set epochs=-1: epochs must be at least 1"),
    ("epochs=0", "epochs must be at least 1"),
    ("batch_size=0", "--set batch_size=0: batch_size must be at least 1"),
    ("dropout=1.5", "dropout must be less than 1"),
    ("n_train=-5", "n_train must be at least 0"),
])
def test_config_values_out_of_bounds(capsys, place, setting, fragment):
    out = place / "D"
    refused(capsys, place, ["run", "mnist-cnn", "--set", setting, "--out", out], fragment)
    assert not out.exists()  # not even the --out root is made


def test_epochs_minus_one_leaves_no_failed_run_for_the_report(capsys, place):
    out = place / "D"
    out.mkdir()
    refused(capsys, place, ["run", "mnist-cnn", "--set", "epochs=-1", "--out", out],
            "epochs must be at least 1")
    assert list(out.iterdir()) == []  # no D/mnist-cnn with a failed status


def test_non_finite_float_in_a_tuple_field(capsys, place):
    refused(capsys, place, ["run", "gd-1d", "--set", "quadratic_lrs=0.1,nan",
                            "--out", place / "D"],
            "each value of quadratic_lrs must be a finite number")


def test_a_dataset_of_another_family_for_one_experiment(capsys, place):
    refused(capsys, place, ["run", "mnist-cnn", "--dataset", "cifar10", "--out", place / "D"],
            "--dataset cifar10 does not fit mnist-cnn", "mnist, mnist-5k, fashion-mnist")


def test_a_dataset_for_an_experiment_that_reads_none(capsys, place):
    refused(capsys, place, ["run", "kmeans-blobs", "--dataset", "mnist", "--out", place / "D"],
            "kmeans-blobs reads no data set")


def test_an_unknown_dataset(capsys, place):
    refused(capsys, place, ["run", "all", "--dataset", "imagenet", "--out", place / "D"],
            "--dataset imagenet: unknown")


# ---------------------------------------------------------------------------------------------
# a study's own ConfigError, inside measure: its new run directory goes, the reason shows once


@pytest.fixture
def checking_study(monkeypatch):
    from dataclasses import dataclass

    from stridelab.errors import ConfigError
    from stridelab.experiments import registry

    @dataclass
    class Cfg:
        width: int = 3  # must be odd (the study checks it itself)

    def measure(config, ctx):
        ctx.log("started")
        ctx.write_json("partial.json", {"width": config.width})
        if config.width % 2 == 0:
            raise ConfigError(f"--set width={config.width}: the width must be odd")
        return {"test_accuracy": 1.0}

    toy = {"t-odd": registry.Experiment("t-odd", Cfg, measure, "a toy", order=1)}
    monkeypatch.setattr(registry, "_REGISTRY", toy)


def test_a_config_error_inside_measure_removes_the_new_run(capsys, place, checking_study):
    out = place / "D"
    before = _tree(place)
    code = main(["run", "t-odd", "--set", "width=4", "--out", str(out), "--device", "cpu"])
    _, err = capsys.readouterr()
    assert code == 2
    # the run had started (its header and log lines are out), so the error is the last line,
    # and it is printed once
    assert err.strip().splitlines()[-1] == ("stridelab: error: --set width=4: the width must "
                                            "be odd")
    assert err.count("the width must be odd") == 1
    assert _tree(place) == before and not out.exists()
    out.mkdir()
    (out / "t-odd").mkdir()  # an earlier run of the same name stays untouched
    (out / "t-odd" / "status.json").write_text('{"status": "ok"}')
    before = _tree(place)
    assert main(["run", "t-odd", "--set", "width=4", "--out", str(out), "--device", "cpu"]) == 2
    assert _tree(place) == before
    capsys.readouterr()


def test_python_m_stridelab_says_it_in_one_line(place):
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "stridelab", "run", "mnist-cnn", "--set",
                           "lr=nan", "--out", str(place / "D")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "lr must be a finite number" in proc.stderr
    assert not (place / "D").exists()
