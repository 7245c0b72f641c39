"""benchmarks/time_to_accuracy.py on a tiny generated set in the real MNIST file format, and
the README table scripts/results_table.py builds from its records (no network, no real data)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from tests.data._datafiles import STEMS, idx_bytes

ROOT = Path(__file__).resolve().parents[1]


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tta = _module(ROOT / "benchmarks" / "time_to_accuracy.py", "time_to_accuracy")
results_table = _module(ROOT / "scripts" / "results_table.py", "results_table")


def _learnable_digits(directory: Path, n_train: int = 300, n_test: int = 100) -> None:
    """Class k: a bright 6×6 square at the k-th of ten places, on noise (learnable in one
    epoch), written as the four raw IDX files of MNIST."""
    rng = np.random.default_rng(0)

    def split(n):
        y = np.arange(n, dtype=np.uint8) % 10
        X = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
        for i, k in enumerate(y):
            r, c = divmod(int(k), 5)
            X[i, 4 + 10 * r:10 + 10 * r, 1 + 5 * c:7 + 5 * c] = 255
        return X, y

    directory.mkdir(parents=True)
    arrays = (*split(n_train), *split(n_test))
    for stem, arr in zip(STEMS.values(), arrays):
        (directory / stem).write_bytes(idx_bytes(arr))


@pytest.fixture(scope="module")
def benchmark_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tta")
    _learnable_digits(root / "data" / "mnist")
    return root


def test_the_recorded_command_names_no_paths():
    assert tta.portable_command(["--data-dir", "/home/x/data", "--datasets", "mnist",
                                 "--record=/tmp/r", "--set", "epochs=3"]) == (
        "time_to_accuracy.py --data-dir DIR --datasets mnist --record=DIR --set epochs=3")
    assert tta.portable_command(["--quick"]) == "time_to_accuracy.py --quick"


def test_time_to_is_the_first_epoch_at_the_target():
    assert tta.time_to([0.9, 0.99, 0.995, 0.993], [10, 20, 30, 40], 0.99) == 20
    assert tta.time_to([0.9, 0.99, 0.995, 0.993], [10, 20, 30, 40], 0.995) == 30
    assert tta.time_to([0.9, 0.98], [10, 20], 0.99) is None


def test_the_reference_is_the_pytorch_examples_network():
    import torch

    net = tta.ReferenceNet()
    # conv 1→32 (320) + conv 32→64 (18,496) + dense 9216→128 (1,179,776) + 128→10 (1,290)
    assert sum(p.numel() for p in net.parameters()) == 1_199_882
    out = net(torch.zeros(2, 1, 28, 28))
    assert out.shape == (2, 10)
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(2))  # log-softmax outputs


def test_the_benchmark_prints_verdicts_and_writes_a_record(benchmark_run, capsys):
    root = benchmark_run
    code = tta.main(["--data-dir", str(root / "data"), "--datasets", "mnist", "--quick",
                     "--threads", "1", "--n-train", "300", "--n-test", "100",
                     "--set", "channels=4,8", "--set", "hidden=16", "--set", "batch_size=16",
                     "--record", str(root / "results" / "benchmarks")])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"]["name"] == "mnist" and out["dataset"]["n_train"] == 300
    assert out["threads"] == 1 and out["quick"] is True
    assert out["stridelab_config"]["channels"] == [4, 8]
    for name in ("stridelab", "reference"):
        r = out[name]
        assert r["epochs"] == 2 and len(r["test_accuracy"]) == 2
        assert 0 < r["train_seconds"][0] < r["train_seconds"][1]
        assert r["best_accuracy"] == max(r["test_accuracy"])
        assert r["time_to_0.99_s"] == tta.time_to(r["test_accuracy"], r["train_seconds"], 0.99)
        assert r["flops_per_image"] > 0 and r["flop_utilisation"] > 0
    # the squares are found: both recipes are well above chance after two epochs
    assert out["stridelab"]["best_accuracy"] > 0.5 and out["reference"]["best_accuracy"] > 0.5
    for v in out["verdicts"]:
        if v["ratio"] is None:
            assert v["met"] is False
        else:
            assert v["met"] == (v["ratio"] >= v["limit"] if v.get("direction") == ">="
                                else v["ratio"] <= v["limit"])
    record = json.loads((root / "results" / "benchmarks" / "time-to-accuracy--mnist.json")
                        .read_text())
    assert record["stridelab"]["test_accuracy"] == out["stridelab"]["test_accuracy"]
    assert record["machine"]["cpu_count"] >= 1 and record["dataset"]["sha256"]
    # the command is the one given, without the places it named on this machine
    assert record["command"].startswith("time_to_accuracy.py --data-dir DIR --datasets mnist")
    assert "--record DIR" in record["command"] and str(root) not in record["command"]

    table = results_table.build_tta_table(results_table.load_benchmark_records(root / "results"))
    assert f"{out['stridelab']['best_accuracy']:.4f}" in table
    assert f"{out['reference']['best_accuracy']:.4f}" in table
    assert "mnist (quick)" in table and table.count("| stridelab |") == 1


def test_a_bad_override_is_one_line_and_exit_2(capsys):
    assert tta.main(["--quick", "--set", "epochs=-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "epochs" in err[0]


def test_a_data_set_that_is_not_there_stops_before_any_training(tmp_path, capsys):
    _learnable_digits(tmp_path / "data" / "mnist", n_train=20, n_test=10)
    code = tta.main(["--data-dir", str(tmp_path / "data"), "--datasets", "mnist,fashion-mnist",
                     "--quick"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "fashion-mnist" in err[0]
    assert "epoch" not in captured.err  # mnist was not trained first


def test_a_record_path_that_cannot_be_a_directory_is_refused(tmp_path, capsys):
    _learnable_digits(tmp_path / "data" / "mnist", n_train=20, n_test=10)
    (tmp_path / "file").write_text("x")
    code = tta.main(["--data-dir", str(tmp_path / "data"), "--datasets", "mnist", "--quick",
                     "--record", str(tmp_path / "file" / "sub")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--record" in err[0]


# ---------------------------------------------------------------------- engine_vs_torch.py

engine_bench = _module(ROOT / "benchmarks" / "engine_vs_torch.py", "engine_vs_torch")


def test_engine_benchmark_records_what_ran_and_tables_it(tmp_path, capsys):
    code = engine_bench.main(["--threads", "1", "--cases", "bd", "--repeats", "1",
                              "--warmup", "0", "--rounds", "1", "--no-tuned-malloc",
                              "--record", str(tmp_path)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    [path] = tmp_path.glob("engine-*.json")
    assert json.loads(path.read_text()) == report
    assert path.name == engine_bench.record_name(report) and path.name.endswith("--1t.json")
    # the CPU, its SIMD flags, the BLAS library, version and kernel, threads and load
    assert report["cpu"]["model"] and isinstance(report["cpu"]["flags_of_note"], list)
    blas = [b for b in report["blas"] if b["user_api"] == "blas"]
    assert blas and {"internal_api", "version", "architecture", "library"} <= set(blas[0])
    assert "/" not in blas[0]["library"]                       # a file name, not a path
    assert report["threads"] == report["engine_threads"] == 1
    assert set(report["load_average_1min"]) == {"before", "during_max", "after"}
    for case in "bd":
        r = report["cases"][case]["default_malloc"]
        assert r["engine_ms"] > 0 and r["torch_ms"] > 0
        assert r["ratio"] == report["ratio_engine_over_torch"][case]
        assert report["verdict"][case] == ("met" if r["ratio"] <= 1.5 else "not met")
        assert r["max_rel_diff"] < 1e-4

    assert engine_bench.main(["--table", str(tmp_path)]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert table[0].startswith("| CPU | SIMD | BLAS kernel | threads | (b) | (d) |")
    assert len(table) == 3 and f"{report['ratio_engine_over_torch']['d']:.2f}" in table[2]


def test_engine_benchmark_refuses_bad_arguments(capsys, tmp_path):
    assert engine_bench.main(["--cases", "az"]) == 2
    assert engine_bench.main(["--table", str(tmp_path)]) == 2
    assert engine_bench.main(["--all"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("stridelab: error:") for line in err)


# ---------------------------------------------------------------------------------------------
# benchmarks/kmeans_vs_sklearn.py on a small generated matrix

kmeans_bench = _module(ROOT / "benchmarks" / "kmeans_vs_sklearn.py", "kmeans_vs_sklearn")


def _small_blobs(data_dir=None):
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=600, n_features=20, centers=10, cluster_std=3.0,
                      random_state=0)
    return X.astype(np.float32), "make_blobs (test)"


def test_the_kmeans_benchmark_writes_a_record_and_the_table_reads_it(tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.setattr(kmeans_bench, "load_matrix", _small_blobs)
    code = kmeans_bench.main(["--repeats", "2", "--threads", "1,2", "--pause", "0",
                              "--record", str(tmp_path)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    [path] = tmp_path.glob("kmeans--*.json")
    record = json.loads(path.read_text())
    assert path.name == out["record"] and record["results"] == out["results"]
    machine = record["machine"]
    assert machine["cpu"]["model"] and machine["cpu"]["simd_level"]
    assert machine["blas"] and all({"library", "version", "kernel"} <= set(b)
                                   for b in machine["blas"])
    assert path.name.endswith(f"--{kmeans_bench._slug(machine['blas_kernel'])}.json")
    assert [r["threads"] for r in record["results"]] == [1, 2]
    for r in record["results"]:
        med = r["median_s"]
        assert r["ratio"] == pytest.approx(med["stridelab"] / med["sklearn"])
        assert len(r["all_wall_s"]["stridelab"]) == 2
        assert r["load_1min"]["before"] >= 0 and r["load_1min"]["after"] >= 0
        # the same initial centres on separated blobs: the same clustering
        assert r["iterations_identical"] and r["labels_identical"]
        assert r["target_met"] == (r["ratio"] <= 1.0)
    assert record["labels_same_at_every_thread_count"]["stridelab"]

    assert kmeans_bench.main(["--table", str(tmp_path)]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert len(table) == 2 + 2  # header, rule, one row per thread count
    for line, r in zip(table[2:], record["results"]):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[3] == str(r["threads"]) and cells[6] == f"{r['ratio']:.2f}"
        assert cells[0] == machine["cpu"]["model"]


def test_the_kmeans_benchmark_refuses_bad_options_in_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for argv in (["--threads", "0"], ["--threads", "one"], ["--repeats", "0"],
                 ["--record", str(tmp_path / "file")], ["--table", str(tmp_path)]):
        assert kmeans_bench.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("kmeans_vs_sklearn: error:")
