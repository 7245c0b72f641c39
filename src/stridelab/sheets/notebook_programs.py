"""The notebook's cells for a hand-in program: its source, then what it draws from the solve.

A program's source is one cell (:func:`stridelab.sheets.programs.cell_source`), so the
notebook holds the same definition as the file beside it and the study that measured it. Where
a program's models or data are in the folder, a second cell uses the program's own functions on
them: it loads the weights the solve trained (no training again) and scores them on the test
sample, applies fixed filters to the photos the run fed them, or feeds the run's recorded curves
to the program's figure function, and draws the program's figures; where it can, it asserts that
it gets the run's own numbers again. Each recipe here names the files it needs; the solve
copies them into the folder (:mod:`stridelab.sheets.bundle`) before the notebook runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stridelab.sheets.results import RunRecord

__all__ = ["Recipe", "recipe_for"]

_MAKEDIRS = 'os.makedirs("figures", exist_ok=True)  # where the figures are saved\n'
_LOAD_SAMPLE = 'sample = np.load("data/mnist_test_sample.npz")  # test images the solve put ' \
    "beside this\n"
_SAMPLE_LINES = (
    _LOAD_SAMPLE +
    'X, y = image_tensor(sample["X"]), sample["y"]  # (N, 1, 28, 28) in [0, 1], (N,)\n'
    + _MAKEDIRS
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
        "import os\n\nimport matplotlib.pyplot as plt\n\n" + _MAKEDIRS
        + 'X = read_points("data/blobs.csv")  # (N, 2); the label column is not used\n'
        "fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))\n"
        "for ax, k in zip(axes, (2, 3, 4)):\n"
        '    km = KMeans(n_clusters=k, init="k-means++", n_init=10, random_state=0).fit(X)\n'
        "    ax.scatter(X[:, 0], X[:, 1], c=km.labels_, cmap=\"tab10\", s=12)\n"
        "    ax.scatter(*km.cluster_centers_.T, c=\"black\", marker=\"x\", s=80)\n"
        '    ax.set_title(f"k = {k}: inertia {km.inertia_:.2f}, {km.n_iter_} iterations")\n'
        'fig.savefig("figures/kmeans_k.png", dpi=110, bbox_inches="tight")\n'
        "plt.close(fig)\n"
        + _show('["figures/kmeans_k.png"]'),
        ("KMeans", "read_points"), blobs=True)


def _conv_layer(record: RunRecord) -> Recipe | None:
    labels = list(record.metrics.get("images") or {})
    if not labels:
        return None
    return Recipe(
        "import os\n\n" + _MAKEDIRS
        + "net = sobel_net()  # W0 and W1 fixed in one Conv2d layer\n"
        f"images = {{name: read_gray(f\"data/{{name}}.npy\") for name in {labels!r}}}  "
        "# as the run fed them\n"
        "outputs = {name: apply_to_image(net, X[None]) for name, X in images.items()}\n"
        "for name, G in outputs.items():\n"
        "    print(f\"{name}: {images[name].shape} -> {G.shape}; mean |output| of W0 "
        "{np.abs(G[0]).mean():.3f}, W1 {np.abs(G[1]).mean():.3f}\")\n"
        "    assert np.allclose(np.abs(G).mean(axis=(1, 2)), "
        "value(run, f\"images.{name}.mean_abs\"),\n"
        "                       rtol=1e-5)  # the run's own measurement again\n"
        + _show('[outputs_figure(images, outputs, "figures/sobel_outputs.png")]'),
        ("sobel_net", "read_gray", "apply_to_image", "outputs_figure"),
        models={f"data/{name}.npy": f"inputs/{name}.npy" for name in labels})


def _sepia_blur(record: RunRecord) -> Recipe | None:
    size = record.config.get("config", {}).get("size")
    if not size:
        return None
    return Recipe(
        "import os\n\n" + _MAKEDIRS
        + f'X = read_rgb("data/photo.npy", size={int(size)})  # (H, W, 3), as the run fed it\n'
        'net = sepia_blur_net("valid")  # layer 1: 1x1 sepia, clip; layer 2: 5x5 blur\n'
        "S = apply_to_image(net[:2], X.transpose(2, 0, 1)).transpose(1, 2, 0)  # sepia only\n"
        "B = apply_to_image(net, X.transpose(2, 0, 1)).transpose(1, 2, 0)  # sepia + blur\n"
        'print(f"input {X.shape} -> sepia {S.shape} -> blurred {B.shape}")\n'
        + _show('[figure(X, S, B, "figures/sepia_blur.png")]'),
        ("read_rgb", "sepia_blur_net", "apply_to_image", "figure"),
        models={"data/photo.npy": "inputs/photo.npy"})


def _samples(record: RunRecord) -> Recipe | None:
    return Recipe(
        "import os\n\n"
        + _LOAD_SAMPLE
        + _MAKEDIRS
        + _show('[samples_figure(sample["X"], sample["y"], "figures/samples.png", '
                'title=f"One random image of each digit among the first {len(sample[\'y\'])} '
                'test images")]'),
        ("samples_figure",), sample=True)


def _cnn_vs_mlp(record: RunRecord) -> Recipe | None:
    cfg, m = record.config.get("config", {}), record.metrics
    if m.get("n_inputs") != 784 or "mlp_width" not in m or "cnn_channels" not in cfg:
        return None
    return Recipe(
        "import os\n\nimport torch\n\n"
        + _LOAD_SAMPLE
        + 'X, y = image_tensor(sample["X"]), torch.as_tensor(sample["y"])\n'
        + _MAKEDIRS
        + 'states = torch.load("cnn_vs_mlp.pt", weights_only=True)  # the solve\'s weights\n'
        f"models = {{\"CNN\": CNN({tuple(cfg['cnn_channels'])!r}), "
        f"\"MLP\": FeedForward({int(m['mlp_width'])})}}  # as the run configured them\n"
        "for name, model in models.items():\n"
        "    model.load_state_dict(states[name.lower()])\n"
        "params = {name: count_parameters(model) for name, model in models.items()}\n"
        f"shifts = range(1, {int(cfg.get('max_shift', 3))} + 1)\n"
        'acc = {name: [accuracy(model, X, y, "cpu")]\n'
        '       + [shifted_accuracy(model, sample["X"], y, s, "cpu") for s in shifts]\n'
        "       for name, model in models.items()}\n"
        "for name, values in acc.items():\n"
        '    print(f"{name} ({params[name]:,} parameters): accuracy on these {len(y)} test '
        'images by shift " + ", ".join(f"{a:.3f}" for a in values))\n'
        'n = run["metrics"]["n_test"]  # the run scored the first n test images\n'
        "if n <= len(y):  # then the loaded weights give the run's own accuracies again\n"
        "    for name, model in models.items():\n"
        '        again = [accuracy(model, X[:n], y[:n], "cpu")] + [shifted_accuracy(\n'
        '            model, sample["X"][:n], y[:n], s, "cpu") for s in shifts]\n'
        '        assert np.allclose(again, run["metrics"][f"{name.lower()}_accuracy_by_shift"],'
        "\n                           atol=1.5 / n), name  # one image either way at most\n"
        '    print(f"the run\'s accuracies on its {n} test images, recomputed: the same")\n'
        + _show('[shift_figure(acc, params, "figures/accuracy_vs_shift.png")]'),
        ("CNN", "FeedForward", "count_parameters", "image_tensor", "accuracy",
         "shifted_accuracy", "shift_figure"), sample=True,
        models={"cnn_vs_mlp.pt": "model.pt"})


def _deep_mlp(record: RunRecord) -> Recipe | None:
    cfg = record.config.get("config", {})
    activations, depths = list(cfg.get("activations", [])), list(cfg.get("depths", []))
    if not activations or not depths:
        return None
    width, dropout = int(cfg.get("width", 512)), float(cfg.get("dropout", 0.2))
    return Recipe(
        "import os\n\n" + _MAKEDIRS
        + f"activations, depths, width = {activations!r}, {depths!r}, {width}\n"
        "for depth in depths:  # the networks the run trained, built here\n"
        f"    model = MLP(depth, width, activations[0], {dropout})\n"
        '    print(f"{depth} hidden layer{\'s\' if depth > 1 else \'\'} of {width} units: "\n'
        '          f"{sum(p.numel() for p in model.parameters()):,} parameters")\n'
        'results = {(a, d): run["history"][f"{a}_{d}"] for a in activations for d in depths}'
        "  # as the run recorded them\n"
        + _show('[figure(results, "figures/accuracy_curves.png")]'),
        ("MLP", "figure"))


def _depthwise(record: RunRecord) -> Recipe | None:
    cfg, m = record.config.get("config", {}), record.metrics
    curves = {k: m.get(f"{k}_test_accuracy_by_epoch") for k in ("standard", "separable")}
    if not all(curves.values()) or "width" not in cfg:
        return None
    channels = 3 if m.get("dataset") == "cifar10" else 1
    return Recipe(
        "import os\n\n" + _MAKEDIRS
        + f"nets = {{kind: SeparableComparisonNet(kind, {int(cfg['width'])}, n_classes=10, "
        f"in_channels={channels}) for kind in (\"standard\", \"separable\")}}\n"
        "params = {kind: sum(p.numel() for p in net.parameters()) for kind, net in "
        "nets.items()}\n"
        'print(f"parameters: standard {params[\'standard\']:,}, separable '
        "{params['separable']:,} ({params['separable'] / params['standard']:.2f} of the "
        'standard)")\n'
        'assert params == {kind: value(run, f"{kind}_params") for kind in nets}  # as the run '
        "counted\n"
        'curves = {kind: value(run, f"{kind}_test_accuracy_by_epoch") for kind in nets}'
        "  # as the run recorded them\n"
        + _show('[accuracy_figure(curves, params, "figures/separable_vs_standard.png")]'),
        ("SeparableComparisonNet", "accuracy_figure"))


def _calculator(record: RunRecord) -> Recipe | None:
    cfg = record.config.get("config", {})
    need = ("n_digits", "n_numbers", "cnn_channels", "cnn_hidden", "hidden", "cell", "reader")
    if any(k not in cfg for k in need):
        return None
    cnn = (f"DigitCNN(channels={tuple(cfg['cnn_channels'])!r}, hidden={cfg['cnn_hidden']}, "
           f"convs_per_block={cfg.get('cnn_convs_per_block', 1)}, "
           f"batch_norm={bool(cfg.get('cnn_batch_norm', False))})")
    rnn = f"SumRNN(D, K, {cfg['hidden']}, {cfg['cell']!r}, {cfg['reader']!r})"
    return Recipe(
        "import torch\n\n"
        + _LOAD_SAMPLE
        + 'X_bank = torch.from_numpy(sample["X"].astype(np.float32) / 255.0)[:, None]  '
        "# (N, 1, 28, 28)\n"
        f"D, K = {int(cfg['n_digits'])}, {int(cfg['n_numbers'])}  # D-digit numbers, K of them\n"
        "models = {  # as the run configured them, with the weights it trained\n"
        f"    \"separately trained, chained\": DigitCalculator({cnn}, {rnn}, "
        f"readout={cfg.get('chain_readout', 'onehot')!r}),\n"
        f"    \"end to end\": DigitCalculator({cnn}, {rnn}, "
        f"normalise={bool(cfg.get('e2e_normalise', True))}, "
        f"sharpen={float(cfg.get('e2e_sharpen', 1.0))}),\n"
        "}\n"
        'for (name, model), file in zip(models.items(), ("mnist_calculator.pt", '
        '"mnist_calculator_e2e.pt")):\n'
        "    model.load_state_dict(torch.load(file, weights_only=True))\n"
        "rng = np.random.default_rng(0)\n"
        'idx, targets = make_sequences(sample["y"], 1000, D, K, rng)  # new sequences of these '
        "images\n"
        "for name, model in models.items():\n"
        "    sums = predict_sums(model, X_bank, idx)\n"
        '    print(f"{name}: exact sums on {len(idx)} sequences of these {len(X_bank)} test '
        'images: {(sums == targets).all(1).mean():.3f}")\n'
        "    for i in range(3):\n"
        '        numbers = ["".join(map(str, n)) for n in sample["y"][idx[i]].reshape(K, D)]\n'
        '        print(f"   {\' + \'.join(numbers)} = {\'\'.join(map(str, targets[i]))}, '
        "written {''.join(map(str, sums[i]))}\")",
        ("DigitCNN", "SumRNN", "DigitCalculator", "make_sequences", "predict_sums"),
        sample=True, models={"mnist_calculator.pt": "separate.pt",
                             "mnist_calculator_e2e.pt": "end_to_end.pt"})


def _captioner(record: RunRecord) -> Recipe | None:
    cfg = record.config.get("config", {})
    if any(k not in cfg for k in ("feature_dim", "hidden", "dropout")):
        return None
    return Recipe(
        "import torch\n\n"
        'clips = np.load("data/test_clips.npz")  # test clips of the run, their captions and '
        "the vocabulary\n"
        'words = [str(w) for w in clips["vocabulary"]]\n'
        'frames = torch.from_numpy(clips["clips"]).float() / 255.0  # (N, T, 64, 64)\n'
        'lengths = torch.from_numpy(clips["lengths"])\n'
        "\n\ndef decode(ids):  # the words up to the first <end> or <pad>\n"
        "    out = []\n"
        "    for i in ids:\n"
        "        if words[i] in (END, PAD):\n"
        "            break\n"
        "        out.append(words[i])\n"
        "    return out\n\n\n"
        'true = [" ".join(decode(c)) for c in clips["captions"].tolist()]\n'
        'examples = json.loads(Path("runs", "video-captioning", "examples.json").read_text())\n'
        'for variant in ("frames", "motion"):\n'
        f"    model = VideoCaptioner(len(words), bos=words.index(BOS), end=words.index(END),\n"
        f"                           motion=variant == \"motion\", "
        f"feature_dim={int(cfg['feature_dim'])}, hidden={int(cfg['hidden'])},\n"
        f"                           dropout={float(cfg['dropout'])})  # as the run configured "
        "it\n"
        '    model.load_state_dict(torch.load(f"captioner_{variant}.pt", weights_only=True))\n'
        "    model.eval()\n"
        "    ids = model.greedy(frames, lengths, max_len=len(clips[\"captions\"][0])).tolist()\n"
        '    written = [" ".join(decode(row)) for row in ids]\n'
        "    exact = np.mean([w == t for w, t in zip(written, true)])\n"
        "    same = np.mean([w == e[variant] for w, e in zip(written, examples)])\n"
        '    print(f"{variant}: {exact:.2f} of these {len(true)} test captions exactly right; "\n'
        '          f"{same:.2f} as the run wrote them")\n'
        "    for w, t in list(zip(written, true))[:3]:\n"
        '        print(f"   true: {t!r:42} written: {w!r}")\n'
        "    assert same >= 0.9  # the same captioner: ties on another device aside, the same words",
        ("VideoCaptioner", "BOS", "END", "PAD"),
        models={"data/test_clips.npz": "test_clips.npz",
                "captioner_frames.pt": "captioner_frames.pt",
                "captioner_motion.pt": "captioner_motion.pt",
                "runs/video-captioning/examples.json": "examples.json"})


# (program, experiment or "" for a task without a run) -> recipe
_RECIPES = {
    ("prob4_CNN.py", "mnist-cnn"): _prob4,
    ("mnist_cnn.py", "mnist-cnn"): _mnist_cnn,
    ("prob5_AE.py", "ae-linear"): _prob5,
    ("prob6_CAE.py", "ae-conv"): _prob6(False, "mnist_cae.pt"),
    ("prob6_CAE.py", "ae-conv-skip"): _prob6(True, "mnist-cae-skip.pt", '["with skips"]'),
    ("kmeans.py", ""): _kmeans,
    ("conv_layer.py", "fixed-filters"): _conv_layer,
    ("sepia_blur_cnn.py", "sepia-blur"): _sepia_blur,
    ("svc_baseline.py", "mnist-samples"): _samples,
    ("cnn_vs_mlp.py", "mlp-vs-cnn"): _cnn_vs_mlp,
    ("deep_mlp.py", "depth-sweep"): _deep_mlp,
    ("depthwise_separable.py", "depthwise-separable"): _depthwise,
    ("mnist_calculator.py", "mnist-calculator"): _calculator,
    ("video_captioner.py", "video-captioning"): _captioner,
}


def recipe_for(program: str, experiment: str, record: RunRecord | None) -> Recipe | None:
    """The cell that uses ``program`` on the solve's files for a task, or None."""
    build = _RECIPES.get((program, experiment))
    if build is None or (experiment and (record is None or record.status != "ok")):
        return None
    return build(record)
