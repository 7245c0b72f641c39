"""The hand-in program src/stridelab/programs/kmeans.py: it stands alone (NumPy and the standard
library only, run in a fresh interpreter that cannot import stridelab), it clusters as
stridelab.cluster.KMeans does from the same initial centres, and its k-means++ draws points
with probability proportional to D^2."""

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs

import stridelab.programs.kmeans as program
from stridelab.cluster import KMeans as ReferenceKMeans

PROGRAM = Path(program.__file__)


def _write_points(path: Path, X: np.ndarray, y: np.ndarray | None = None) -> Path:
    header = ["x0", "x1"] + (["label"] if y is not None else [])
    lines = [",".join(header)]
    for i, row in enumerate(X):
        lines.append(",".join([repr(float(v)) for v in row] + ([str(y[i])] if y is not None
                                                               else [])))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def blobs_csv(tmp_path):
    X, y = make_blobs(n_samples=150, centers=3, cluster_std=1.2, random_state=0)
    return _write_points(tmp_path / "blobs.csv", X, y), X


# ---------------------------------------------------------------------------------------------
# it stands alone

def test_it_imports_only_numpy_and_the_standard_library():
    tree = ast.parse(PROGRAM.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import ties the file to a package"
            imported.add(node.module.split(".")[0])
    outside = {name for name in imported
               if name != "numpy" and name not in sys.stdlib_module_names}
    assert imported >= {"numpy"} and not outside, outside


# Run in a fresh, isolated interpreter (-I: no PYTHONPATH, no user site) from a copy of the file
# in an empty folder, with stridelab and scikit-learn made unimportable; report the modules
# that running the program added, beyond those the interpreter had loaded at start.
_BOOTSTRAP = r"""
import json, runpy, sys
from importlib.abc import MetaPathFinder

class Refuse(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("stridelab", "sklearn", "scipy", "torch", "matplotlib"):
            raise ImportError(f"{name} is not available to a hand-in program")

sys.meta_path.insert(0, Refuse())
before = set(sys.modules)
program, report, *argv = sys.argv[1:]
sys.argv = [program, *argv]
try:
    runpy.run_path(program, run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
added = sorted({m.split(".")[0] for m in set(sys.modules) - before})
with open(report, "w") as f:
    json.dump({"code": code, "added": added}, f)
"""


def _run_isolated(tmp_path, *argv):
    folder = tmp_path / "handin"
    folder.mkdir(exist_ok=True)
    shutil.copy(PROGRAM, folder / "kmeans.py")
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-I", "-c", _BOOTSTRAP, str(folder / "kmeans.py"), str(report),
         *map(str, argv)],
        cwd=folder, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"},
    )
    result = json.loads(report.read_text())
    return result, proc.stdout, proc.stderr


def _modules_numpy_loads() -> set[str]:
    """Top-level modules that importing NumPy (with numpy.random) loads in a fresh interpreter:
    numpy itself and the Cython runtime modules its compiled parts register."""
    code = ("import json, sys; before = set(sys.modules); import numpy, numpy.random; "
            "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return set(json.loads(out))


def test_it_runs_as_a_script_in_a_fresh_interpreter_that_cannot_see_stridelab(tmp_path,
                                                                               blobs_csv):
    csv_path, X = blobs_csv
    labels_path = tmp_path / "labels.csv"
    result, out, err = _run_isolated(tmp_path, csv_path, "--k", 3, "--seed", 0,
                                     "--labels", labels_path)
    assert result["code"] == 0, err
    added = {m for m in result["added"] if m not in sys.stdlib_module_names}
    assert "numpy" in added and added <= _modules_numpy_loads(), added
    assert "k-means with k=3 on 150 points of 2 features" in out
    labels = np.loadtxt(labels_path, skiprows=1, dtype=int)
    # the label column of the file is not a coordinate; the clusters are the reference's
    ref = ReferenceKMeans(n_clusters=3, random_state=0).fit(X)
    np.testing.assert_array_equal(labels, ref.labels_)
    assert f"inertia: {ref.inertia_:.6g}" in out
    for j in range(3):
        assert f"cluster {j}: {np.sum(ref.labels_ == j)} points" in out


def test_help_explains_and_bad_input_is_one_line_and_exit_2(tmp_path, blobs_csv):
    csv_path, _ = blobs_csv
    result, out, _ = _run_isolated(tmp_path, "--help")
    assert result["code"] == 0
    for words in ("k-means", "k-means++", "CSV", "--k", "--init", "--seed", "--labels"):
        assert words in out
    (tmp_path / "bad.csv").write_text("x0,x1\n1,2\n3,oops\n")
    for argv, message in [
        ((tmp_path / "missing.csv",), "no such file"),
        ((tmp_path / "bad.csv",), "line 3 is not all finite numbers"),
        ((csv_path, "--k", 0), "n_clusters must be an int >= 1"),
        ((csv_path, "--k", 151), "n_samples=150 should be >= n_clusters=151"),
        ((csv_path, "--init", "kmeans"), "invalid choice"),
    ]:
        result, out, err = _run_isolated(tmp_path, *argv)
        assert result["code"] == 2 and out == ""
        assert err.count("\n") == 1 and err.startswith("kmeans.py: error: ") and message in err


def test_read_points_takes_headers_labels_and_bare_numbers(tmp_path):
    (tmp_path / "bare.csv").write_text("1,2\n3,4\n\n5,6\n")
    np.testing.assert_array_equal(program.read_points(str(tmp_path / "bare.csv")),
                                  [[1, 2], [3, 4], [5, 6]])
    (tmp_path / "named.csv").write_text("a,label,b\n1,0,2\n3,1,4\n")
    np.testing.assert_array_equal(program.read_points(str(tmp_path / "named.csv")),
                                  [[1, 2], [3, 4]])
    (tmp_path / "ragged.csv").write_text("x0,x1\n1,2\n3\n")
    with pytest.raises(ValueError, match="line 3 has 1 fields, not 2"):
        program.read_points(str(tmp_path / "ragged.csv"))


# ---------------------------------------------------------------------------------------------
# it clusters as stridelab.cluster.KMeans does

CASES = {
    # name: (data, n_clusters, rows of the initial centres, max_iter, tol)
    "three blobs": (make_blobs(n_samples=300, centers=3, cluster_std=2.0, random_state=1)[0],
                    3, [0, 1, 2], 300, 1e-4),
    "overlapping, many steps": (
        make_blobs(n_samples=600, n_features=5, centers=8, cluster_std=3.5, random_state=2)[0],
        8, list(range(8)), 300, 0.0),
    "stopped by max_iter": (
        make_blobs(n_samples=400, centers=6, cluster_std=3.0, random_state=3)[0],
        6, list(range(6)), 3, 0.0),
    "empty cluster re-seeded": (np.array([[0.0], [1.0], [2.0], [3.0], [50.0], [51.0]]),
                                3, [0, 1, 2], 300, 0.0),
}


@pytest.mark.parametrize("case", CASES)
def test_same_labels_and_inertia_as_stridelab_from_the_same_initial_centres(case):
    X, k, rows, max_iter, tol = CASES[case]
    init = X[rows] if case != "empty cluster re-seeded" else np.array([[0.5], [1.5], [200.0]])
    ours = program.KMeans(n_clusters=k, init=init, max_iter=max_iter, tol=tol).fit(X)
    ref = ReferenceKMeans(n_clusters=k, init=init, max_iter=max_iter, tol=tol).fit(X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)
    assert ours.n_iter_ == ref.n_iter_ == len(ours.history_)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-9,
                               atol=1e-9)
    for mine, theirs in zip(ours.history_, ref.history_):
        np.testing.assert_allclose(mine["centers"], theirs["centers"], rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(mine["labels"], theirs["labels"])
        np.testing.assert_array_equal(mine["counts"], theirs["counts"])
        assert mine["inertia"] == pytest.approx(theirs["inertia"], rel=1e-9)
    if case == "empty cluster re-seeded":
        assert ours.history_[0]["counts"][2] == 0  # the far centre wins no sample
        assert len(set(ours.labels_.tolist())) == 3  # and is re-seeded
    if case == "stopped by max_iter":
        assert ours.n_iter_ == 3


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_same_fit_as_stridelab_from_the_same_seed(init):
    # the same draws from the same seed: a study can use either class and get the same result
    X = make_blobs(n_samples=400, centers=5, cluster_std=2.5, random_state=0)[0]
    for seed in range(5):
        ours = program.KMeans(n_clusters=5, init=init, n_init=3, random_state=seed).fit(X)
        ref = ReferenceKMeans(n_clusters=5, init=init, n_init=3, random_state=seed).fit(X)
        np.testing.assert_array_equal(ours.labels_, ref.labels_)
        assert ours.n_iter_ == ref.n_iter_
        assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)


def test_the_estimator_methods_agree_with_each_other():
    X = make_blobs(n_samples=200, n_features=3, centers=4, random_state=7)[0]
    km = program.KMeans(n_clusters=4, random_state=0)
    labels = km.fit_predict(X)
    np.testing.assert_array_equal(labels, km.labels_)
    np.testing.assert_array_equal(km.predict(X), labels)
    D = km.transform(X)
    assert D.shape == (200, 4)
    np.testing.assert_array_equal(D.argmin(axis=1), labels)
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-9)
    assert km.history_[0]["centers"].shape == (4, 3)
    assert km.get_params()["n_clusters"] == 4
    assert km.set_params(n_clusters=2).n_clusters == 2
    with pytest.raises(RuntimeError, match="not fitted"):
        program.KMeans().predict(X)
    with pytest.raises(ValueError, match="number of features of the data 3"):
        program.KMeans(n_clusters=2, init=np.zeros((2, 5))).fit(X)
    with pytest.raises(ValueError, match="number of clusters 4"):
        program.KMeans(n_clusters=4, init=np.zeros((2, 3))).fit(X)


# ---------------------------------------------------------------------------------------------
# k-means++ draws with probability proportional to D^2

def test_kmeans_plusplus_draws_with_probability_proportional_to_d_squared():
    # Four points on a line: the first centre i is uniform (1/4), the second j has probability
    # (x_j - x_i)^2 / sum_m (x_m - x_i)^2. Pearson's chi-square over the 12 pairs (i, j) from
    # 6,000 seedings with one fixed seed; 11 degrees of freedom: P(chi2 > 31.26) = 0.001 when
    # the draws follow these probabilities, and the test fails above it.
    x = np.array([0.0, 1.0, 3.0, 7.0])
    X = x[:, None]
    expected = np.zeros((4, 4))
    for i in range(4):
        d2 = (x - x[i]) ** 2
        expected[i] = 0.25 * d2 / d2.sum()
    rng = np.random.RandomState(0)
    n = 6000
    counts = np.zeros((4, 4))
    for _ in range(n):
        _, (i, j) = program.kmeans_plusplus(X, 2, random_state=rng)
        counts[i, j] += 1
    assert np.all(counts[np.eye(4, dtype=bool)] == 0)  # a chosen point has D = 0
    off = ~np.eye(4, dtype=bool)
    chi2 = (((counts - n * expected) ** 2)[off] / (n * expected)[off]).sum()
    assert chi2 < 31.26, (chi2, counts / n, expected)
    # and far points are the likely second picks: from 0, the point 7 (49/59 of the mass)
    assert counts[0, 3] / counts[0].sum() == pytest.approx(49 / 59, abs=0.05)


def test_kmeans_plusplus_returns_distinct_rows_of_the_data():
    X = make_blobs(n_samples=100, centers=4, random_state=0)[0]
    centers, indices = program.kmeans_plusplus(X, 4, random_state=1)
    assert len(set(indices.tolist())) == 4
    np.testing.assert_array_equal(centers, X[indices])
