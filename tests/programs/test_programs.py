"""The hand-in programs (``src/stridelab/programs``): each stands alone and agrees with its study.

One helper, :func:`check_program`, and one line per program. For each program it checks that

* its imports are the courses' libraries only (NumPy, SciPy, PyTorch, matplotlib, the standard
  library; scikit-learn only where the sheet allows it), never stridelab;
* copied alone into an empty folder with a tiny generated data set in the real format, it runs
  in a fresh, isolated interpreter (``python -I``: no PYTHONPATH, stridelab made unimportable)
  for one short epoch and writes the files the sheet names;
* it agrees with its study: the network the program's ``main`` builds and the one the study's
  own code builds (both caught at construction, before any training) have the same layers, the
  same parameter count and the same state-dict keys and shapes; where the study imports the
  program's class it *is* that class; and the model file the program wrote loads into the
  study's network.
"""

from __future__ import annotations  # noqa: I001  (ruff takes tests/torch/ for `torch`)

import ast
import contextlib
import io
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import stridelab.programs
from stridelab.experiments import cifar10 as cifar_study
from stridelab.experiments import depthwise_separable as separable_study
from stridelab.experiments import mnist_calculator as calc_study
from stridelab.experiments import mnist_cnn as cnn_study
from stridelab.experiments import svc_baseline as svc_study
from stridelab.experiments import video_captioning as caption_study
from stridelab.experiments.registry import get
from stridelab.experiments.runner import run_experiment

PROGRAMS = Path(stridelab.programs.__file__).parent
SHEETS = Path(stridelab.__file__).parent / "sheets" / "builtin"
COURSE_LIBRARIES = {"numpy", "scipy", "torch", "matplotlib"}
SKLEARN_ALLOWED = {"prob4_CNN", "svc_baseline"}  # Yale 4.2(b) and TU Wien 4.2.1 name it

# ---------------------------------------------------------------------------------------------
# tiny data sets in the programs' formats


def _digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, 28, 28) of faint noise with a bright bar whose row says the label."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    X = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    for k in range(10):
        X[y == k, 2 + 2 * k:4 + 2 * k, 4:24] = 220
    return X, y.astype(np.int64)


def mnist_npz(folder: Path) -> list[str]:
    X_train, y_train = _digits(60, 0)
    X_test, y_test = _digits(30, 1)
    np.savez(folder / "mnist.npz", X_train=X_train, y_train=y_train, X_test=X_test,
             y_test=y_test)
    return ["--data", "mnist.npz"]


def keras_mnist_npz(folder: Path) -> list[str]:
    """Keras' layout of mnist.npz: lower-case x_train, x_test."""
    X_train, y_train = _digits(60, 0)
    X_test, y_test = _digits(30, 1)
    np.savez(folder / "mnist.npz", x_train=X_train, y_train=y_train, x_test=X_test,
             y_test=y_test)
    return ["--data", "mnist.npz"]


def cifar_npz(folder: Path) -> list[str]:
    rng = np.random.default_rng(0)
    arrays = {f"X_{s}": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
              for s, n in (("train", 40), ("test", 20))}
    arrays |= {f"y_{s}": np.arange(len(arrays[f"X_{s}"])) % 10 for s in ("train", "test")}
    np.savez(folder / "cifar10.npz", **arrays)
    return ["--data", "cifar10.npz"]


def clips_npz(folder: Path) -> list[str]:
    """Moving-digit clips as the video-captioning study makes them, captions as strings."""
    from stridelab.data.moving_digits import decode_caption, make_clips

    images, labels = _digits(40, 2)
    arrays = {}
    for split, n, seed in (("train", 48, 0), ("test", 8, 1)):
        clips = make_clips(images, labels, n, np.random.default_rng(seed), min_frames=3,
                           max_frames=4)
        arrays |= {f"X_{split}": clips["clips"], f"lengths_{split}": clips["lengths"],
                   f"y_{split}": np.array([" ".join(decode_caption(c))
                                           for c in clips["captions"]])}
    words = {w for caption in arrays["y_train"] for w in caption.split()}
    assert len(words) == 17  # every word of the study's vocabulary, so both build one size
    np.savez(folder / "clips.npz", **arrays)
    return ["--data", "clips.npz"]


def photos(folder: Path) -> list[str]:
    """A grey and an RGB PNG photo-like image (smooth gradients with an edge)."""
    import matplotlib.image

    yy, xx = np.mgrid[0:36, 0:40] / 40.0
    grey = np.clip(xx + (yy > 0.5) * 0.3, 0, 1)
    matplotlib.image.imsave(folder / "grey.png", grey, cmap="gray", vmin=0, vmax=1)
    matplotlib.image.imsave(folder / "photo.png", np.stack([xx, yy, grey], axis=-1))
    return ["grey.png", "photo.png"]


def photo(folder: Path) -> list[str]:
    return photos(folder)[1:]


# ---------------------------------------------------------------------------------------------
# catching a network at construction


class Built(BaseException):  # noqa: N818  (not an error: it carries what was built)
    """Raised with the instance a spied class built; a BaseException, so no study's
    ``except Exception`` swallows it."""


@contextlib.contextmanager
def stop_at(cls, nth: int = 1):
    """Within the block, the ``nth`` construction of ``cls`` anywhere in stridelab (programs and
    studies, imported at the top or inside a function) raises :class:`Built` with it."""
    count = [0]

    def spy(*args, **kwargs):
        instance = cls(*args, **kwargs)
        count[0] += 1
        if count[0] == nth:
            raise Built(instance)
        return instance

    holders = [(module, name) for module in list(sys.modules.values())
               if getattr(module, "__name__", "").startswith("stridelab.")
               for name, obj in list(vars(module).items()) if obj is cls]
    with pytest.MonkeyPatch.context() as mp:
        for module, name in holders:
            mp.setattr(module, name, spy)
        yield


def built(cls, run, nth: int = 1):
    """The ``nth`` instance of ``cls`` that ``run()`` builds (``run`` is stopped there)."""
    with stop_at(cls, nth), pytest.raises(Built) as caught:
        run()
    return caught.value.args[0]


def architecture(model: torch.nn.Module) -> dict:
    """What two builds of one network share: the leaf layers (name and repr), the state-dict
    keys and shapes, the parameter count."""
    return {"layers": [(n, repr(m)) for n, m in model.named_modules() if not list(m.children())],
            "state": {k: tuple(v.shape) for k, v in model.state_dict().items()},
            "n_parameters": sum(p.numel() for p in model.parameters())}


# ---------------------------------------------------------------------------------------------
# what each study builds (its own code, up to the construction)


def _smoke(name: str, tmp_path: Path, dataset: str | None = "mnist-5k", **full: str):
    """The study's smoke run, with the fields ``full`` set back to their full values (the
    smoke configuration shrinks some networks; the programs build the full ones)."""
    return lambda: run_experiment(name, smoke=True, out=tmp_path / "runs", device="cpu",
                                  echo=False, dataset=dataset, overrides=full)


def _yale_mnist_cnn_config():
    """mnist-cnn as the Yale sheet sets it for Problem 4 (read from the sheet file)."""
    sheet = tomllib.loads((SHEETS / "yale-663-2.toml").read_text(encoding="utf-8"))
    sets = [t["set"] for t in sheet["task"] if t.get("name") == "mnist-cnn" and "set" in t]
    assert sets and all(s == sets[0] for s in sets)
    text = {k: ",".join(map(str, v)) if isinstance(v, list) else str(v)
            for k, v in sets[0].items()}
    return get("mnist-cnn").make_config(overrides=text)


def study_builds(program: str, tmp_path: Path):
    """{class name: the network the study's code builds} for the study of ``program``."""
    P = _program(program)
    if program == "prob4_CNN":  # the network of mnist-cnn as the Yale sheet configures it
        return {"CNN": cnn_study.build_model(_yale_mnist_cnn_config())}
    if program == "mnist_cnn":
        return {"MnistCNN": built(P.MnistCNN, lambda: cnn_study.build_model(
            get("mnist-cnn").make_config()))}
    if program == "prob5_AE":
        return {"MLPAutoencoder": built(P.MLPAutoencoder, _smoke("ae-linear", tmp_path))}
    if program == "prob6_CAE":
        # ae-conv-skip builds the plain model first, then the skip one; a --set of a training
        # field (epochs, at its smoke value) makes it train the plain model itself instead of
        # taking ae-conv's, so the second build is the skip model (training skipped)
        from stridelab.experiments import autoencoding

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(autoencoding, "train", lambda *args, **kwargs: {})
            mp.setattr(autoencoding, "score", lambda *args, **kwargs: {})
            skip = built(P.ConvAutoencoder, _smoke("ae-conv-skip", tmp_path, epochs="1"),
                         nth=2)
        return {"ConvAutoencoder": built(P.ConvAutoencoder, _smoke("ae-conv", tmp_path)),
                "ConvAutoencoder (skip)": skip}
    if program == "cnn_vs_mlp":
        run = _smoke("mlp-vs-cnn", tmp_path, cnn_channels="8,16,32")
        return {"CNN": built(P.CNN, run), "FeedForward": built(P.FeedForward, run)}
    if program == "deep_mlp":  # the first of its runs: sigmoid, one hidden layer
        return {"MLP": built(P.MLP, _smoke("depth-sweep", tmp_path, width="512"))}
    if program == "cifar10":
        config = cifar_study.resolve_preset(cifar_study.CifarConfig(), "cpu")[1]
        X, y = torch.zeros(8, 3, 32, 32, dtype=torch.uint8), torch.arange(8) % 10
        return {"CifarResNet": built(P.CifarResNet, lambda: cifar_study.train_cifar(
            config, X, y, X, y, device="cpu"))}
    if program == "depthwise_separable":
        X, y = torch.zeros(8, 3, 32, 32, dtype=torch.uint8), torch.arange(8) % 10
        return {f"SeparableComparisonNet ({kind})": built(
            P.SeparableComparisonNet, lambda kind=kind: separable_study._train_comparison(
                kind, separable_study.SeparableConfig(), (X, y, X, y), colour=True,
                ctx=SimpleNamespace(seed=0))) for kind in ("standard", "separable")}
    if program == "video_captioner":
        return {"VideoCaptioner": built(P.VideoCaptioner, lambda: caption_study.train_captioner(
            False, {}, 0, caption_study.CaptioningConfig(), None))}
    if program == "mnist_calculator":  # end to end, as the quick configuration trains it
        X, y = torch.zeros(20, 1, 28, 28), np.arange(20) % 10
        config = get("mnist-calculator").make_config(quick=True)
        return {"DigitCalculator": built(P.DigitCalculator, lambda: calc_study.train_end_to_end(
            3, X, y, X, np.zeros((2, 6), dtype=np.int64), np.zeros((2, 4), dtype=np.int64),
            config, None, np.random.default_rng(0)))}
    if program == "svc_baseline":
        X, y = np.zeros((4, 28, 28), dtype=np.uint8), np.arange(4)
        return {"SVC": built(P.make_svc, lambda: svc_study.fit_svc(X, y, X, y,
                                                                  svc_study.SVCConfig()))}
    if program == "conv_layer":
        return {"sobel_net": built(P.sobel_net, _smoke("fixed-filters", tmp_path, None))}
    if program == "sepia_blur_cnn":
        return {"sepia_blur_net": built(P.sepia_blur_net, _smoke("sepia-blur", tmp_path, None))}
    raise KeyError(program)


def program_builds(program: str, study: dict, folder: Path, argv: list[str]) -> dict:
    """{class name: the network the program's main builds}, for the keys of ``study``."""
    P = _program(program)
    out = {}
    for key in study:
        name, nth = key.split(" (")[0], 1
        if key.endswith("(skip)"):
            extra = ["--skip"]
        elif key.endswith("(separable)"):
            extra, nth = [], 2
        else:
            extra = []
        if program == "mnist_calculator":
            nth = 2  # the end-to-end network (the first is the chained one)
        thing = getattr(P, name if name != "SVC" else "make_svc")
        out[key] = built(thing, lambda extra=extra: P.main([*argv, *extra]), nth=nth)
    return out


# ---------------------------------------------------------------------------------------------
# the helper


def _program(name: str):
    import importlib

    return importlib.import_module(f"stridelab.programs.{name}")


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module the file imports (relative imports refused)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: a relative import ties it to a package"
            names.add(node.module.split(".")[0])
    return names


# Runs the program in an isolated interpreter with stridelab unimportable, as a student's
# machine would (the package may be installed here; a hand-in must not lean on it).
_BOOT = r"""
import runpy, sys
from importlib.abc import MetaPathFinder

class Refuse(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "stridelab":
            raise ImportError("stridelab is not available to a hand-in program")

sys.meta_path.insert(0, Refuse())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def check_program(tmp_path: Path, program: str, write_data, argv: list[str],
                  outputs: list[str]) -> None:
    path = PROGRAMS / f"{program}.py"
    allowed = COURSE_LIBRARIES | ({"sklearn"} if program in SKLEARN_ALLOWED else set())
    outside = {m for m in imported_modules(path)
               if m not in allowed and m not in sys.stdlib_module_names}
    assert not outside, f"{program} imports {outside}"

    folder = tmp_path / "handin"
    folder.mkdir()
    shutil.copy(path, folder / path.name)
    data_argv = write_data(folder)
    env = {"PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-I", "-c", _BOOT, path.name, *data_argv, *argv],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in outputs:
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    P = _program(program)
    helped = io.StringIO()
    with contextlib.redirect_stdout(helped), pytest.raises(SystemExit) as done:
        P.main(["--help"])
    assert done.value.code == 0 and helped.getvalue().startswith(f"usage: {path.name}")

    # the networks: the program's and the study's, caught where they are built
    study = study_builds(program, tmp_path)
    with contextlib.chdir(folder), contextlib.redirect_stdout(io.StringIO()):
        ours = program_builds(program, study, folder, [*data_argv, *argv])
    # (catching the study's network through the program's class or function already shows the
    # study builds it with the program's definition: a copy of its own would not be caught)
    for key, theirs in study.items():
        mine = ours[key]
        if isinstance(theirs, torch.nn.Module):
            assert architecture(mine) == architecture(theirs), key
        else:  # the SVC: the same estimator with the same parameters
            assert type(mine) is type(theirs) and mine.get_params() == theirs.get_params()
    # the model file the sheet names loads into the network the study builds
    saved = [folder / o for o in outputs if o.endswith(".pt")]
    if saved:
        state = torch.load(saved[0], weights_only=True)
        state = state.get("state_dict", state)
        first = next(iter(study.values()))
        if program in ("cnn_vs_mlp", "depthwise_separable"):  # two networks in one file
            pairs = zip(state.values(), study.values())
        else:
            pairs = [(state, first)]
        for weights, network in pairs:
            network.load_state_dict(weights)


# ---------------------------------------------------------------------------------------------
# every program, one line: (program, data, arguments, files it must write)

CASES = [
    ("prob4_CNN", mnist_npz, ["--epochs", "1", "--device", "cpu"],
     ["prob4_cnn.pt", "prob4_filters.png", "prob4_confusion_matrix.png"]),
    ("prob5_AE", keras_mnist_npz, ["--epochs", "1", "--device", "cpu"],
     ["mnist_ae.pt", "prob5_reconstructions.png", "prob5_embedding.png"]),
    ("prob6_CAE", mnist_npz, ["--epochs", "1", "--device", "cpu"],
     ["mnist_cae.pt", "mnist_cae_reconstructions.png", "mnist_cae_embedding.png"]),
    ("mnist_cnn", mnist_npz, ["--epochs", "1", "--device", "cpu"],
     ["mnist_cnn.pt", "mnist_cnn_learning_curves.png", "mnist_cnn_confusion_matrix.png",
      "mnist_cnn_feature_maps.png"]),
    ("svc_baseline", mnist_npz, ["--n-train", "0"], ["mnist_samples.png"]),
    ("conv_layer", photos, [], ["sobel_outputs.png"]),
    ("cnn_vs_mlp", mnist_npz, ["--epochs", "1", "--max-shift", "1", "--device", "cpu"],
     ["cnn_vs_mlp.pt", "cnn_vs_mlp_shift.png"]),
    ("deep_mlp", mnist_npz, ["--epochs", "1", "--depths", "1", "--device", "cpu"],
     ["deep_mlp.png"]),
    ("sepia_blur_cnn", photo, ["--size", "16"], ["sepia_blur.png"]),
    ("cifar10", cifar_npz, ["--epochs", "1", "--batch-size", "20", "--device", "cpu"],
     ["cifar10_resnet.pt", "cifar10_curves.png"]),
    ("depthwise_separable", cifar_npz, ["--epochs", "1", "--width", "32", "--device", "cpu"],
     ["depthwise_separable.pt", "depthwise_separable_accuracy.png"]),
    ("video_captioner", clips_npz, ["--epochs", "1", "--device", "cpu"],
     ["video_captioner.pt"]),
    ("mnist_calculator", mnist_npz, ["--epochs", "1", "--adder-epochs", "1", "--adder-sequences",
                                     "64", "--e2e-epochs", "1", "--n-sequences", "32",
                                     "--n-test-sequences", "50", "--device", "cpu"],
     ["mnist_calculator_e2e.pt", "mnist_calculator.pt"]),
]


@pytest.mark.parametrize("program, write_data, argv, outputs", CASES, ids=[c[0] for c in CASES])
def test_program(tmp_path, program, write_data, argv, outputs):
    check_program(tmp_path, program, write_data, argv, outputs)


def test_every_program_is_tested():
    files = {p.stem for p in PROGRAMS.glob("*.py")} - {"__init__", "kmeans"}
    assert files == {c[0] for c in CASES}


@pytest.mark.parametrize("arrays, says", [
    ({"X_train": np.zeros((3, 28, 28)), "y_train": np.zeros(3, np.int64)},  # floats, not pixels
     "X_train must be uint8 images of shape (N, 28, 28)"),
    ({"X_train": np.zeros((3, 28, 28), np.uint8)}, "needs arrays X_train and y_train"),
])
def test_a_program_refuses_a_bad_data_file_in_one_line(tmp_path, capsys, arrays, says):
    from stridelab.programs import prob5_AE

    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(SystemExit) as done:
        prob5_AE.main(["--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "m.pt")])
    err = capsys.readouterr().err
    assert done.value.code == 2 and not (tmp_path / "m.pt").exists()
    assert err.count("\n") == 1 and err.startswith("prob5_AE.py: error: ") and says in err
