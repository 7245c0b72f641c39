"""worked-answers: the sheets' hand exercises solved with their own numbers, each answer checked.

The model answers are computed by the worked-solution functions (:mod:`stridelab.worked`, the
same code as ``stridelab conv | shape | backprop | derive``) on the course sheets' exact numbers,
read from the built-in sheet files (:func:`sheet_numbers`), so each number is written once:

- RPTU exercise 2, task 2.1: the 5×5 image X cross-correlated with its three 3×3 filters with
  'same' padding (and, for the valid/same question, with 'valid' padding);
- LMU sheet 4, task 4-2 (a): the same three filters on the sheet's other 5×5 image, 'valid';
- Yale CPSC 663, problem 4.1: output sizes of two conv and two max-pooling layers on a 50×50
  input, each also checked against the PyTorch layer;
- TU Eindhoven assignment 4: one gradient step on the two-weight ReLU chain (w₀ = 1, w₁ = 2,
  learning rate 0.1) over the points (1, 2) and (2, 3), one point at a time and as one batch;
- every derivation topic, checked symbolically and at random points.

Each answer is written as Markdown (with LaTeX) under ``answers/`` and as JSON in
``answers.json``; ``measure`` records the key numbers and every check, ``narrate`` writes the
notes from them. No data set is needed; quick = full.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from stridelab.experiments.narrate import Lesson, Notes, fmt, num, value
from stridelab.experiments.registry import bounded, register

# ---------------------------------------------------------------------------------------------
# the sheets' numbers, read from the built-in sheet files as data (one place for each number)

SHEETS = Path(__file__).resolve().parent.parent / "sheets" / "builtin"


def sheet_task(sheet: str, label: str) -> dict:
    """The task labelled ``label`` of the built-in sheet file ``sheet`` (e.g. "rptu-2"), read
    as plain TOML data."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    doc = tomllib.loads((SHEETS / f"{sheet}.toml").read_text(encoding="utf-8"))
    for task in doc.get("task", []):
        if task.get("label") == label:
            return task
    raise LookupError(f"the sheet {sheet} has no task labelled {label!r}")


def _option(args: list[str], name: str) -> list[str]:
    """The values given to ``name`` in a worked command's argument list, in order."""
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == name]


def _layer(spec: str) -> tuple[str, str, int, int, int]:
    """``"conv:k=4,s=1,p=1"`` as (spec, kind, k, s, p)."""
    kind, _, params = spec.partition(":")
    values = dict(item.split("=") for item in params.split(","))
    return spec, kind, int(values["k"]), int(values["s"]), int(values["p"])


@functools.cache
def sheet_numbers() -> dict:
    """The numbers of the exercises this study solves, from the sheets that pose them:

    - ``rptu_x``, ``rptu_filters``, ``rptu_at``: RPTU 2.1 i)'s 5×5 image X, its three 3×3
      filters K₁, K₂, K₃ and its example position (row, column, counted from 1);
    - ``lmu_x``, ``lmu_filters``: LMU 4-2 (a)'s other 5×5 image and its filters;
    - ``yale_input`` (H, W, C) and ``yale_layers`` [(spec, kind, k, s, p)]: Yale 4.1 (a)–(d);
    - ``tue_chain``: the TU/e ReLU chain (weights, loss, learning rate, data points).
    """
    rptu = sheet_task("rptu-2", "2.1 i)")["args"]
    lmu = sheet_task("lmu-4", "4-2 (a)")["args"]
    yale = [sheet_task("yale-663-2", f"Problem 4.1 ({part})")["args"] for part in "abcd"]
    chain = dict(sheet_task("tue-4", "Backpropagation")["spec"])
    chain.pop("mode", None)  # the study runs both modes
    return {
        "rptu_x": _option(rptu, "--input")[0], "rptu_filters": _option(rptu, "--kernel"),
        "rptu_at": tuple(int(v) for v in _option(rptu, "--explain")[0].split(",")),
        "lmu_x": _option(lmu, "--input")[0], "lmu_filters": _option(lmu, "--kernel"),
        "yale_input": tuple(int(v) for v in _option(yale[0], "--input")[0].split("x")),
        "yale_layers": [_layer(args[-1]) for args in yale],
        "tue_chain": chain,
    }


ALL_CHECKED = Lesson("Every model answer agrees with its independent second check",
                     "checks_failed", "<=", quick=0, full=0,
                     label="checks that failed")


@dataclass
class WorkedAnswersConfig:
    derive_points: int = bounded(5, ge=1)  # random points at which each derivation is checked
    digits: int = bounded(6, ge=1)  # significant digits shown for float values


# ---------------------------------------------------------------------------------------------
# the answers


def _conv_checks(doc: dict, stem: str) -> list[dict]:
    return [{"check": f"{stem}: {r['kernel']} vs {c['route']}", "passed": bool(c["passed"]),
             "max_abs_error": float(c["max_abs_error"])}
            for r in doc["results"] for c in r["check"]]


def yale_torch_side(spec: tuple, size: tuple[int, int, int]) -> list[int]:
    """H and W after the PyTorch layer of ``spec`` on a zero input of ``size`` (H, W, C)."""
    import torch
    from torch import nn

    _, kind, k, s, p = spec
    h, w, c = size
    layer = (nn.Conv2d(c, 1, k, stride=s, padding=p) if kind == "conv"
             else nn.MaxPool2d(k, stride=s, padding=p))
    with torch.no_grad():
        out = layer(torch.zeros(1, c, h, w))  # (1, C', H', W')
    return [int(out.shape[2]), int(out.shape[3])]


def measure(config: WorkedAnswersConfig, ctx) -> dict:
    """Solve each sheet problem, write its answer files and figures, record every check."""
    from stridelab import worked
    from stridelab.worked import backprop as _backprop
    from stridelab.worked import conv as _conv

    answers: dict[str, dict] = {}
    checks: list[dict] = []
    files: list[str] = []

    def save(stem: str, title: str, answer) -> dict:
        name = f"answers/{len(files) + 1:02d}-{stem}.md"
        ctx.write_text(name, f"<!-- {title} -->\n{answer.to_markdown()}")
        files.append(name)
        doc = answer.to_dict()
        answers[stem] = {"title": title, **doc}
        return doc

    # 1. RPTU 2.1 i) and iii): the three filters on X, 'same' then 'valid'
    sheets = sheet_numbers()
    rptu_x, filters, rptu_at = sheets["rptu_x"], sheets["rptu_filters"], sheets["rptu_at"]
    same = worked.conv(rptu_x, kernels=filters, padding="same", stride=1, one_based=True,
                       explain=f"{rptu_at[0]},{rptu_at[1]}", digits=config.digits)
    rptu_same = save("rptu-2.1i-same", "RPTU exercise 2, task 2.1 i): three filters, 'same' "
                                       "padding", same)
    checks += _conv_checks(rptu_same, "rptu same")
    ctx.savefig(_conv.figure(same), "conv_rptu_same",
                caption="The RPTU 5×5 image and its three filter outputs ('same' padding)")
    rptu_valid = save("rptu-2.1iii-valid", "RPTU exercise 2, task 2.1 iii): the same filters, "
                                           "'valid' padding",
                      worked.conv(rptu_x, kernels=filters, padding="valid", one_based=True,
                                  digits=config.digits))
    checks += _conv_checks(rptu_valid, "rptu valid")

    # 2. LMU 4-2 (a): the filters on the other image, 'valid'
    lmu = worked.conv(sheets["lmu_x"], kernels=sheets["lmu_filters"], padding="valid", stride=1,
                      explain="0,0",
                      digits=config.digits)
    lmu_doc = save("lmu-4-2a-valid", "LMU sheet 4, task 4-2 (a): three filters, 'valid' "
                                     "padding", lmu)
    checks += _conv_checks(lmu_doc, "lmu valid")
    ctx.savefig(_conv.figure(lmu), "conv_lmu_valid",
                caption="The LMU 5×5 image and its three filter outputs ('valid' padding)")

    # 3. Yale 4.1: output sizes on 50×50, each against the PyTorch layer
    yale = []
    yale_input = sheets["yale_input"]
    input_text = "x".join(map(str, yale_input))
    for part, spec in zip("abcd", sheets["yale_layers"]):
        doc = save(f"yale-4.1{part}", f"Yale CPSC 663, problem 4.1 ({part}): {spec[0]}",
                   worked.shape(input_text, spec[0]))
        hw = [int(v) for v in doc["output_shape"][:2]]
        torch_hw = yale_torch_side(spec, yale_input)
        checks.append({"check": f"yale 4.1 ({part}) {spec[0]} vs torch.nn", "passed":
                       hw == torch_hw, "max_abs_error": float(max(abs(a - b) for a, b in
                                                                  zip(hw, torch_hw)))})
        yale.append({"part": part, "spec": spec[0], "k": spec[2], "s": spec[3], "p": spec[4],
                     "output": hw, "torch_output": torch_hw})

    # 4. TU/e: the ReLU chain, one point at a time and as one batch
    chain = {}
    for mode in ("sequential", "batch"):
        ans = worked.backprop({**sheets["tue_chain"], "mode": mode}, digits=config.digits)
        doc = save(f"tue-backprop-{mode}", f"TU Eindhoven assignment 4: the ReLU chain, {mode}",
                   ans)
        for i, step in enumerate(doc["steps"], start=1):
            c = step["check"]
            checks.append({"check": f"tue {mode} step {i} vs {c['route']}",
                           "passed": bool(c["passed"]),
                           "max_abs_error": float(c["max_abs_error"])})
        final = doc["final"]["layers"]
        chain[mode] = {"w0": float(final[0]["W"][0][0]), "w1": float(final[1]["W"][0][0]),
                       "losses": [float(step["loss"]) for step in doc["steps"]]}
        if mode == "sequential":
            chain["point2_grads"] = [float(doc["steps"][1]["grads"]["W1"][0][0]),
                                     float(doc["steps"][1]["grads"]["W2"][0][0])]
            ctx.savefig(_backprop.graph_figure(ans, step=2), "backprop_tue_graph",
                        caption="The TU/e ReLU chain at its second data point: values, "
                                "deltas and gradients")

    # 5. every derivation, verified symbolically and at random points
    topics = list(worked.derive("list").to_dict())
    for topic in topics:
        d = worked.derive(topic, points=config.derive_points, seed=ctx.seed)
        doc = save(f"derive-{topic}", d.to_dict()["title"], d)
        checks.append({"check": f"derive {topic} vs {doc['check']['route']}",
                       "passed": bool(doc["check"]["passed"]),
                       "max_abs_error": float(doc["check"]["max_abs_error"])})

    ctx.write_json("answers.json", answers)
    ctx.write_json("checks.json", checks)
    failed = [c["check"] for c in checks if not c["passed"]]
    for name in failed:
        ctx.log(f"check FAILED: {name}")
    i, j = rptu_at[0] - 1, rptu_at[1] - 1
    return {
        "checks_passed": len(checks) - len(failed),
        "checks_total": len(checks),
        "checks_failed": len(failed),
        "all_checks_passed": not failed,
        "max_abs_error": max(c["max_abs_error"] for c in checks),
        "n_answers": len(files),
        "rptu": {"input_shape": [len(rptu_same["input"]), len(rptu_same["input"][0])],
                 "at": list(rptu_at), "x_at": rptu_same["input"][i][j],
                 "same_shape": rptu_same["results"][0]["output_shape"],
                 "same_at": [r["output"][i][j] for r in rptu_same["results"]],
                 "valid_shape": rptu_valid["results"][0]["output_shape"],
                 "padding": rptu_same["results"][0]["padding"]["top"],
                 "valid_is_interior": all(
                     r_v["output"] == [row[1:-1] for row in r_s["output"][1:-1]]
                     for r_v, r_s in zip(rptu_valid["results"], rptu_same["results"]))},
        "lmu": {"input_shape": [len(lmu_doc["input"]), len(lmu_doc["input"][0])],
                "valid_shape": lmu_doc["results"][0]["output_shape"],
                "outputs": [r["output"] for r in lmu_doc["results"]],
                "centre": [r["output"][1][1] for r in lmu_doc["results"]]},
        "yale_input": list(yale_input),
        "yale": yale,
        "tue": chain,
        "n_derivations": len(topics),
        "derive_points": config.derive_points,
    }


# ---------------------------------------------------------------------------------------------
# the notes


def narrate(metrics: dict, config: WorkedAnswersConfig) -> Notes:
    """One paragraph per sheet problem with its key numbers, then the checks."""
    m = metrics
    notes = Notes()
    r, lmu, t = (value(m, key) for key in ("rptu", "lmu", "tue"))
    shape = lambda hw: "×".join(fmt(n) for n in hw[:2])  # noqa: E731
    notes.add(
        f"**RPTU, the three filters on the sheet's {shape(r['input_shape'])} image.** With "
        f"'same' padding ({num(r, 'padding')} zero on each side) each output keeps the size of "
        f"X; at the sheet's example position ({fmt(r['at'][0])}, {fmt(r['at'][1])}), where "
        f"X = {num(r, 'x_at')}, K₁, K₂ and K₃ give {fmt(r['same_at'][0])}, "
        f"{fmt(r['same_at'][1])} and {fmt(r['same_at'][2])}. Without padding the outputs are "
        f"{shape(r['valid_shape'])}",
        notes.claim("valid_is_interior", r["valid_is_interior"],
                    "and equal the interior of the 'same' outputs: only the border cells, whose "
                    "windows reach into the padding, are new.",
                    "and differ from the interior of the 'same' outputs."))
    notes.add(
        f"**LMU, the same filters on the sheet's other {shape(lmu['input_shape'])} image, "
        f"'valid' padding:** {shape(lmu['valid_shape'])} outputs whose centre values are "
        f"{fmt(lmu['centre'][0])}, {fmt(lmu['centre'][1])} and {fmt(lmu['centre'][2])}.")
    sizes = "; ".join(
        f"({y['part']}) {'conv' if y['spec'].startswith('conv') else 'max-pool'} "
        f"k = {num(y, 'k')}, s = {num(y, 's')}, p = {num(y, 'p')}: "
        f"{shape(y['output'])}" for y in m["yale"])
    agree = all(y["output"] == y["torch_output"] for y in m["yale"])
    notes.add(
        f"**Yale, output sizes of four layers on the sheet's {shape(m['yale_input'])} input**, "
        f"⌊(h + 2p − k)/s⌋ + 1 per side: {sizes}.",
        notes.claim(
            "sizes_agree_with_torch", agree, "PyTorch's Conv2d and MaxPool2d give the same sizes.",
            "PyTorch's layers give **different** sizes for some of them (see checks.json)."))
    sequential, batch, grads = (value(t, key) for key in ("sequential", "batch", "point2_grads"))
    notes.add(
        f"**TU/e, one gradient step on the ReLU chain**, one point after the other: the first "
        f"point's loss is {fmt(sequential['losses'][0], 'g')}",
        notes.claim("first_point_still", sequential["losses"][0] == 0,
                    "so its gradients are zero and the weights do not move;",
                    "so the weights move already at the first point;"),
        f"at the second point ∂L/∂w₀ = {fmt(grads[0], 'g')} and ∂L/∂w₁ = "
        f"{fmt(grads[1], 'g')}, giving w₀ = {num(sequential, 'w0', 'g')} and "
        f"w₁ = {num(sequential, 'w1', 'g')}. As one batch the step ends at "
        f"w₀ = {num(batch, 'w0', 'g')} and w₁ = {num(batch, 'w1', 'g')}:",
        notes.claim("batch_moves_w0_less", abs(batch["w0"] - 1) < abs(sequential["w0"] - 1),
                    "the batch step moves w₀ less, because the first point's zero gradient is "
                    "averaged in.",
                    "the batch step does not move w₀ less here."))
    notes.add(
        f"Every answer was checked a second, independent way before it was written "
        f"({num(m, 'n_answers')} files under `answers/`, Markdown with LaTeX): convolutions "
        "against `scipy.signal` and the NumPy engine, output sizes against PyTorch layers, "
        "each gradient against autograd, and each of the "
        f"{num(m, 'n_derivations')} derivations symbolically and at "
        f"{num(config, 'derive_points')} random point(s).",
        notes.claim("all_checks_passed", ALL_CHECKED.holds(m),
                    f"All {num(m, 'checks_total')} checks passed; the largest difference was "
                    f"{num(m, 'max_abs_error', '.2g')}.",
                    f"**{num(m, 'checks_failed')} of {num(m, 'checks_total')} checks failed** (see "
                    "checks.json and the log)."))
    return notes


register("worked-answers", WorkedAnswersConfig,
         description="the sheets' hand exercises with their own numbers (RPTU and LMU "
                     "filters, Yale output sizes, the TU/e ReLU chain, every derivation), "
                     "each checked a second way",
         quick={}, smoke={"derive_points": 1}, needs=None, key_metric="checks_passed",
         order=5, narrate=narrate,
         lessons=(ALL_CHECKED,))(measure)
