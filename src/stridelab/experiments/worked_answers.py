"""worked-answers: the sheet-style exercises solved exactly, each answer checked by a second route.

Runs the worked-solution commands on the classic hand exercises and writes each model answer
as Markdown (with LaTeX) under ``answers/`` plus every answer's JSON in ``answers.json``, so the
HTML report can show them: a 3x3 input filtered with several kernels and padding/stride
variants, a chain of layers with output shapes and parameter counts, single gradient-descent
steps on tiny networks, and every derivation. No data set is needed; quick = full.
"""

from __future__ import annotations

from dataclasses import dataclass

from stridelab.errors import StridelabError
from stridelab.experiments.registry import register
from stridelab.worked import _backprop as backprop
from stridelab.worked import _conv as conv
from stridelab.worked import _derive as derive
from stridelab.worked import _shape as shape

SHEET_INPUT = "8 2 9; 3 4 6; 5 9 3"
SHEET_KERNEL = "1 0 -1; 2 0 -2; 1 0 -1"

# (file stem, title, kwargs for conv.solve)
CONV_CASES = [
    (
        "conv-valid",
        "3x3 input, four kernels, no padding",
        dict(kernels=[SHEET_KERNEL, "sobel_x", "laplace4", "box3"], padding="valid", explain="all"),
    ),
    (
        "conv-same",
        "3x3 input, 'same' padding: every product written out",
        dict(kernels=[SHEET_KERNEL, "sobel_y", "sharpen", "box3"], padding="same", explain="all"),
    ),
    (
        "conv-stride2",
        "3x3 input, padding 1 and stride 2",
        dict(kernels=[SHEET_KERNEL, "laplace8"], padding=1, stride=2, explain="all"),
    ),
    (
        "conv-convolve",
        "true convolution (kernel rotated by 180 degrees) vs correlation",
        dict(
            kernels=[SHEET_KERNEL, "1 2 0; 0 1 0; 0 0 -1"],
            padding="same",
            mode="convolve",
            explain="0,0;1,1",
        ),
    ),
    (
        "conv-dilation",
        "5x5 input, a 3x3 kernel with dilation 2",
        dict(kernels=["1 0 -1; 2 0 -2; 1 0 -1"], padding="valid", dilation=2, explain="all"),
        "; ".join(" ".join(str(5 * r + c + 1) for c in range(5)) for r in range(5)),
    ),
    (
        "conv-channels",
        "two input channels, one two-channel filter",
        dict(kernels=["1 0; 0 1 | 0 1; 1 0"], padding="valid", explain="all"),
        "1 2 0; 3 4 1; 0 1 2 | 5 6 1; 7 8 0; 1 0 2",
    ),
]

SHAPE_CASES = [
    ("shape-sheet", "50x50x1", ["conv:k=4,s=1,p=1,n=8", "pool:k=2,s=2", "flatten", "dense:n=10"]),
    (
        "shape-cnn",
        "32x32x3",
        [
            "conv:k=3,p=same,n=16",
            "relu",
            "pool:k=2",
            "conv:k=3,p=same,n=32",
            "relu",
            "pool:k=2",
            "dwsep:k=3,n=64",
            "gap",
            "dense:n=10",
        ],
    ),
    ("shape-conv1d", "100x4", ["conv1d:k=5,s=2,n=8", "pool:k=2", "flatten", "dense:n=1"]),
]

BACKPROP_CASES = [
    (
        "backprop-relu-exact",
        "a 2-2-1 relu network, two points one after the other (exact)",
        {
            "layers": [
                {"W": [[1, -1], [2, 0]], "b": [0, 1], "activation": "relu"},
                {"W": [[1, 1]], "b": [0], "activation": "linear"},
            ],
            "loss": "sse_half",
            "lr": 0.1,
            "mode": "sequential",
            "data": [{"x": [1, 2], "y": [1]}, {"x": [0, 1], "y": [0]}],
        },
    ),
    (
        "backprop-relu-batch",
        "the same network and points, one averaged (batch) update",
        {
            "layers": [
                {"W": [[1, -1], [2, 0]], "b": [0, 1], "activation": "relu"},
                {"W": [[1, 1]], "b": [0], "activation": "linear"},
            ],
            "loss": "sse_half",
            "lr": 0.1,
            "mode": "batch",
            "data": [{"x": [1, 2], "y": [1]}, {"x": [0, 1], "y": [0]}],
        },
    ),
    (
        "backprop-sigmoid",
        "the classic 2-2-2 sigmoid network, one step with lr 0.5",
        {
            "layers": [
                {"W": [[0.15, 0.2], [0.25, 0.3]], "b": [0.35, 0.35], "activation": "sigmoid"},
                {"W": [[0.4, 0.45], [0.5, 0.55]], "b": [0.6, 0.6], "activation": "sigmoid"},
            ],
            "loss": "sse_half",
            "lr": 0.5,
            "data": [{"x": [0.05, 0.1], "y": [0.01, 0.99]}],
        },
    ),
    (
        "backprop-softmax",
        "a softmax classifier with cross-entropy: delta = y_hat - y",
        {
            "layers": [
                {"W": [[0.5, -0.5], [0, 1], [-1, 0.5]], "b": [0, 0, 0], "activation": "softmax"}
            ],
            "loss": "cross_entropy",
            "lr": 1,
            "data": [{"x": [1, 2], "y": [0, 1, 0]}],
        },
    ),
]


@dataclass
class WorkedAnswersConfig:
    derive_points: int = 5  # random points at which each derivation is checked by autograd
    image: str = "camera"  # sample image for the filter figure ("" for none)
    digits: int = 6  # significant digits shown for float values


def _as_spec(d: dict) -> backprop.Spec:
    """The example dicts hold Python floats; read them the way the CLI reads JSON (exactly)."""
    import json

    return backprop.load_spec(json.dumps(d))


# ---------------------------------------------------------------------------------------------
# the written questions whose answers are arithmetic: every number below is computed


def _out(n: int, k: int, s: int = 1, p: int = 0) -> int:
    return (n + 2 * p - k) // s + 1


def written_questions() -> list[str]:
    """Short answers, with computed numbers, to the course's questions on padding, stride and
    the name softmax."""
    import numpy as np

    from stridelab.core import functional as F

    # valid vs same: how the map shrinks, and how often each input pixel is used
    X = np.array([[8, 2, 9], [3, 4, 6], [5, 9, 3]], dtype=float)[None, None]  # (1, 1, 3, 3)
    K = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)[None, None]
    valid, same = F.conv2d(X, K, padding="valid").data, F.conv2d(X, K, padding="same").data
    sizes_valid = [28]
    for _ in range(5):
        sizes_valid.append(_out(sizes_valid[-1], 3))
    # how many valid 3×3 windows each input pixel of a 28×28 image enters: the 26×26 map of
    # window positions, fully correlated with a 3×3 box of ones, back at 28×28
    feeds = F.conv2d(np.ones((1, 1, 26, 26)), np.ones((1, 1, 3, 3)), padding=2).data[0, 0]
    padding = (
        "**Valid vs same padding.** With *valid* padding the kernel only visits positions where "
        f"it lies wholly inside the input: the sheet's 3×3 input and 3×3 kernel give a "
        f"{valid.shape[2]}×{valid.shape[3]} output ({valid[0, 0, 0, 0]:g}), and a 28×28 image "
        f"shrinks {' → '.join(map(str, sizes_valid))} through five 3×3 layers. *Same* padding adds "
        f"⌊(k−1)/2⌋ = 1 zero on each side so the output keeps the input's size "
        f"({same.shape[2]}×{same.shape[3]} here; ⌈n/s⌉ in general). Valid padding also "
        f"under-uses the border: on a 28×28 input a corner pixel enters {int(feeds[0, 0])} of "
        f"the 3×3 window sums, a centre pixel {int(feeds[13, 13])}. Same padding keeps shapes "
        "easy to stack and lets border pixels count, at the price of made-up zeros at the edge."
    )
    # stride: output size, and that stride s samples every s-th output of stride 1
    rng = np.random.default_rng(0)
    img, w = rng.random((1, 1, 28, 28)), rng.random((1, 1, 3, 3))
    full = F.conv2d(img, w, padding=1).data
    strided = F.conv2d(img, w, padding=1, stride=2).data
    same_values = np.allclose(strided, full[:, :, ::2, ::2])
    sizes = {s_: _out(28, 3, s_, 1) for s_ in (1, 2, 3)}
    stride = (
        "**The effect of stride.** The output size is ⌊(n + 2p − k)/s⌋ + 1: for a 28×28 input, "
        "a 3×3 kernel and padding 1, strides 1, 2 and 3 give "
        + ", ".join(f"{v}×{v}" for v in sizes.values())
        + f", i.e. about s² times fewer outputs and multiply-adds. A stride-2 output is exactly "
        f"every second row and column of the stride-1 output (checked numerically: "
        f"{'equal' if same_values else 'NOT equal'}), so a stride is convolution followed by "
        "subsampling: cheaper, with a larger receptive field for the next layer, but it can step "
        "over thin features and makes the map less shift-invariant."
    )
    # the name softmax: a smooth version of (arg)max
    z = np.array([1.0, 2.0, 3.0])

    def soft(v):
        e = np.exp(v - v.max())
        return e / e.sum()

    rows = "; ".join(f"T = {T:g}: ({', '.join(f'{p:.3g}' for p in soft(z / T))})"
                     for T in (10.0, 1.0, 0.1))
    lse = float(np.log(np.exp(z).sum()))
    name = (
        "**Where the name softmax comes from.** $\\mathrm{softmax}(z)_k = e^{z_k} / \\sum_j e^{z_j}$ "
        "is a *soft* "
        "(smooth, differentiable) version of the arg max: it puts most of the mass on the "
        f"largest score without discarding the others. For z = (1, 2, 3) divided by a "
        f"temperature T: {rows} — as T → 0 it becomes the one-hot arg max, as T grows it tends "
        f"to uniform. Its normaliser $\\log\\sum_j e^{{z_j}}$ = {lse:.3f} is likewise a smooth maximum "
        f"of z (max = {z.max():g}), which is the 'soft max' the name refers to; its gradient is "
        "the softmax itself."
    )
    return [padding, stride, name]


@register(
    "worked-answers",
    WorkedAnswersConfig,
    description="exact worked solutions (convolutions, shapes, backprop steps, "
    "derivations), each checked by a second route",
    quick={},
    smoke={"derive_points": 1, "image": ""},
    needs=None,
    key_metric="checks_passed",
    order=5,
)
def run(config: WorkedAnswersConfig, ctx) -> dict:
    answers: dict[str, dict] = {}
    checks: list[tuple[str, bool, float]] = []  # (answer, passed, max_abs_error)
    files: list[str] = []

    def save(stem: str, title: str, markdown: str, doc: dict) -> None:
        name = f"answers/{len(files) + 1:02d}-{stem}.md"
        ctx.write_text(name, f"<!-- {title} -->\n{markdown}")
        files.append(name)
        answers[stem] = {"title": title, **doc}

    # 1. convolutions by hand
    for case in CONV_CASES:
        stem, title, kw = case[:3]
        X = conv.read_input([case[3] if len(case) > 3 else SHEET_INPUT])
        ans = conv.solve(X, **kw)
        for res in ans.results:
            for c in res.checks:
                checks.append(
                    (f"{stem}: {res.kernel.name} vs {c['route']}", c["passed"], c["max_abs_error"])
                )
        save(stem, title, conv.to_markdown(ans, config.digits), conv.to_dict(ans))
        if stem == "conv-same":
            ctx.savefig(
                conv.figure(ans),
                "conv_sheet_example",
                caption="The 3x3 sheet input and its filter responses ('same' padding)",
            )
    if config.image:
        try:
            img = conv._load_image(config.image)
        except StridelabError as exc:
            ctx.log(f"image {config.image!r} skipped: {exc}")
        else:
            ans_img = conv.solve_image(
                img,
                ["sobel_x", "sobel_y", "laplace4", "gaussian5"],
                name=config.image,
                padding="same",
            )
            for k, cs in zip(ans_img.kernels, ans_img.checks):
                checks += [
                    (
                        f"image {config.image}: {k.name} vs {c['route']}",
                        c["passed"],
                        c["max_abs_error"],
                    )
                    for c in cs
                ]
            ctx.savefig(
                conv.figure(ans_img),
                "conv_image",
                caption=f"Edge, Laplacian and Gaussian filters on `{config.image}`",
            )
            save(
                "conv-image",
                f"filters on the {config.image} image",
                conv.to_markdown(ans_img),
                conv.to_dict(ans_img),
            )

    # 2. shapes and parameter counts (checked against torch layers in the test suite)
    shape_md = []
    for stem, inp, layers in SHAPE_CASES:
        ans = shape.solve(inp, layers)
        shape_md.append(shape.to_markdown(ans))
        answers[stem] = shape.to_dict(ans)
    save(
        "shapes",
        "output shapes and parameter counts",
        "\n".join(shape_md),
        {k: answers.pop(k) for k, _, _ in SHAPE_CASES},
    )

    # 3. gradient-descent steps, every gradient checked by autograd
    for stem, title, d in BACKPROP_CASES:
        ans = backprop.solve(_as_spec(d))
        for i, st in enumerate(ans.steps, start=1):
            c = st.check
            checks.append((f"{stem} step {i} vs {c['route']}", c["passed"], c["max_abs_error"]))
        save(stem, title, backprop.to_markdown(ans, config.digits), backprop.to_dict(ans))
        if stem == "backprop-sigmoid":
            ctx.savefig(
                backprop.graph_figure(ans),
                "backprop_graph",
                caption="Compute graph of one step on the 2-2-2 sigmoid network",
            )

    # 4. derivations, each verified symbolically and at random points
    for topic in derive.TOPICS:
        d = derive.solve(topic, seed=ctx.seed, points=config.derive_points)
        checks.append(
            (f"derive {topic} vs {d.check['route']}", d.check["passed"], d.check["max_abs_error"])
        )
        save(f"derive-{topic}", d.title, derive.to_markdown(d), derive.to_dict(d))

    ctx.write_json("answers.json", answers)
    ctx.write_json(
        "checks.json", [{"check": n, "passed": p, "max_abs_error": e} for n, p, e in checks]
    )
    failed = [n for n, p, _ in checks if not p]
    for n in failed:
        ctx.log(f"check FAILED: {n}")
    n_pass = len(checks) - len(failed)
    ctx.note(
        f"Model answers to the hand exercises, written to `answers/` ({len(files)} files, "
        "Markdown with LaTeX) and `answers.json`. Every answer was checked by an independent "
        "route before it was written: convolutions against `scipy.signal` and the NumPy "
        "engine, every backpropagation gradient against autograd, and every derivation "
        "symbolically (SymPy) and numerically at random points against PyTorch autograd. "
        f"{n_pass} of {len(checks)} checks passed; the largest absolute difference was "
        f"{max(e for _, _, e in checks):.2g}."
    )
    for paragraph in written_questions():
        ctx.note(paragraph)
    return {
        "checks_passed": n_pass,
        "checks_total": len(checks),
        "all_checks_passed": not failed,
        "max_abs_error": max(e for _, _, e in checks),
        "n_answers": len(files),
    }
