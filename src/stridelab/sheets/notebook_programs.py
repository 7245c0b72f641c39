"""The notebook's cells for a hand-in program: its source, then what it draws from the solve.

A program's source is one cell (:func:`stridelab.sheets.programs.cell_source`), so the
notebook holds the same definition as the file beside it and the study that measured it. Where
a program's models or data are in the folder, a second cell uses the program's own functions on
them: it loads the weights the solve trained (no training again), scores them on the test
sample, and draws the program's figures. Each recipe here names the files it needs; the solve
copies them into the folder (:mod:`stridelab.sheets.bundle`) before the notebook runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stridelab.sheets.results import RunRecord

__all__ = ["Recipe", "recipe_for"]

_SAMPLE_LINES = (
    'sample = np.load("data/mnist_test_sample.npz")  # test images the solve put beside this\n'
    'X, y = image_tensor(sample["X"]), sample["y"]  # (N, 1, 28, 28) in [0, 1], (N,)\n'
    'os.makedirs("figures", exist_ok=True)\n'
)


@dataclass
class Recipe:
    """A cell that uses a program on the solve's files."""

    source: str  # the cell
    uses: tuple[str, ...]  # the program's names the cell uses (imported when shown before)
    sample: bool = False  # needs data/mnist_test_sample.npz
    blobs: bool = False  # needs data/blobs.csv
    models: dict[str, str] = field(default_factory=dict)  # folder name -> file of the run


def _show(paths: str) -> str:
    return f"for path in {paths}:\n    display(Image(filename=path))\n"


def _prob4(record: RunRecord) -> Recipe | None:
    cfg = record.config.get("config", {})
    # prob4_CNN.py's CNN is the study's network with these settings (40 then 64 filters)
    if list(cfg.get("channels", [])) != [40, 64] or cfg.get("convs_per_block") != 1 \
            or cfg.get("hidden") != 128:
        return None
    return Recipe(
        "import os\n\nimport torch\n\n" + _SAMPLE_LINES
        + "model = CNN()\n"
        'model.load_state_dict(torch.load("prob4_cnn.pt", weights_only=True))  # the solve\'s '
        "weights\n"
        'y_pred = predict(model, X, "cpu")\n'
        'print(f"accuracy on these {len(y)} test images: {(y_pred == y).mean():.4f}")\n'
        + _show('save_figures(model, y, y_pred, "figures")'),
        ("CNN", "image_tensor", "predict", "save_figures"), sample=True,
        models={"prob4_cnn.pt": "model.pt"})


def _mnist_cnn(record: RunRecord) -> Recipe | None:
    cfg = record.config.get("config", {})
    if "channels" not in cfg:
        return None
    args = (f"{list(cfg['channels'])!r}, convs_per_block={cfg.get('convs_per_block', 1)}, "
            f"hidden={cfg.get('hidden', 128)}, dropout={cfg.get('dropout', 0.3)}")
    return Recipe(
        "import os\n\nimport torch\n\n" + _SAMPLE_LINES
        + f"model = MnistCNN({args})  # as the run configured it\n"
        'model.load_state_dict(torch.load("mnist_cnn.pt", weights_only=True))  # the solve\'s '
        "weights\n"
        'loss, acc = evaluate(model, X, torch.as_tensor(y), "cpu")\n'
        'print(f"accuracy on these {len(y)} test images: {acc:.4f} (cross-entropy {loss:.4f})")\n'
        'history = run["history"]  # the learning curves the run recorded\n'
        'y_pred = predict(model, X, "cpu").argmax(1).numpy()\n'
        + _show('save_figures(model, history, X, y, y_pred, "cpu", "figures")'),
        ("MnistCNN", "image_tensor", "evaluate", "predict", "save_figures"), sample=True,
        models={"mnist_cnn.pt": "model.pt"})


def _prob5(record: RunRecord) -> Recipe | None:
    return Recipe(
        "import os\n\nimport torch\n\n" + _SAMPLE_LINES
        + "model = MLPAutoencoder(hidden=(128, 64, 12), latent_dim=2, activation=True)\n"
        'model.load_state_dict(torch.load("mnist_ae.pt", weights_only=True))  # the solve\'s '
        "weights\n"
        'print(f"test MSE per pixel on these {len(y)} images: {evaluate(model, X, \'cpu\'):.4f}")\n'
        + _show('save_figures(model, X, y, "cpu", "figures", n_embed=len(X))'),
        ("MLPAutoencoder", "image_tensor", "evaluate", "save_figures"), sample=True)


def _prob6(skip: bool, model_file: str, history: str = ""):
    def recipe(record: RunRecord) -> Recipe | None:
        stem = model_file.removesuffix(".pt")
        return Recipe(
            "import os\n\nimport torch\n\n" + _SAMPLE_LINES
            + f"model = ConvAutoencoder(latent_dim=2, skip={skip})\n"
            f'model.load_state_dict(torch.load("{model_file}", weights_only=True))  # the '
            "solve's weights\n"
            f'history = run["history"]{history}  # the losses the run recorded\n'
            'print(f"test MSE per pixel on these {len(y)} images: '
            "{evaluate(model, X, X, 'cpu'):.4f}\")\n"
            + _show(f'save_figures(model, X, X, y, history, "cpu", "figures", "{stem}", '
                    "n_embed=len(X))"),
            ("ConvAutoencoder", "image_tensor", "evaluate", "save_figures"), sample=True)
    return recipe


def _kmeans(record: RunRecord | None) -> Recipe | None:
    return Recipe(
        "import matplotlib.pyplot as plt\n\n"
        'X = read_points("data/blobs.csv")  # (N, 2); the label column is not used\n'
        "fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))\n"
        "for ax, k in zip(axes, (2, 3, 4)):\n"
        '    km = KMeans(n_clusters=k, init="k-means++", n_init=10, random_state=0).fit(X)\n'
        "    ax.scatter(X[:, 0], X[:, 1], c=km.labels_, cmap=\"tab10\", s=12)\n"
        "    ax.scatter(*km.cluster_centers_.T, c=\"black\", marker=\"x\", s=80)\n"
        '    ax.set_title(f"k = {k}: inertia {km.inertia_:.2f}, {km.n_iter_} iterations")\n'
        "plt.show()",
        ("KMeans", "read_points"), blobs=True)


# (program, experiment or "" for a task without a run) -> recipe
_RECIPES = {
    ("prob4_CNN.py", "mnist-cnn"): _prob4,
    ("mnist_cnn.py", "mnist-cnn"): _mnist_cnn,
    ("prob5_AE.py", "ae-linear"): _prob5,
    ("prob6_CAE.py", "ae-conv"): _prob6(False, "mnist_cae.pt"),
    ("prob6_CAE.py", "ae-conv-skip"): _prob6(True, "mnist-cae-skip.pt", '["with skips"]'),
    ("kmeans.py", ""): _kmeans,
}


def recipe_for(program: str, experiment: str, record: RunRecord | None) -> Recipe | None:
    """The cell that uses ``program`` on the solve's files for a task, or None."""
    build = _RECIPES.get((program, experiment))
    if build is None or (experiment and (record is None or record.status != "ok")):
        return None
    return build(record)
