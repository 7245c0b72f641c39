"""The report trusts nothing on disk: a damaged or hostile run directory is listed as damaged,
with its reason, the rest of the report is built, and no file outside a run's figures/ is read."""

import base64
import io
import json
import os

import matplotlib.pyplot as plt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stridelab.report import build_report, collect_runs
from stridelab.report.runs import MAX_JSON_BYTES


def _png(color) -> bytes:
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.imshow([[color]], cmap="gray", vmin=0, vmax=1)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=20)
    plt.close(fig)
    return buf.getvalue()


GOOD_PNG = _png(0.2)
SECRET_PNG = _png(0.9) + b"secret trailer"  # still a PNG by its first bytes


def _run(root, name, *, figure=GOOD_PNG):
    run = root / name
    (run / "figures").mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({
        "experiment": name, "status": "ok", "reason": "", "seconds": 1.0,
        "key_metric": "test_accuracy", "description": f"{name} study", "order": 1,
        "finished": "2026-01-01T00:00:00"}))
    (run / "config.json").write_text(json.dumps({"experiment": name, "config": {}, "seed": 0,
                                                 "quick": True}))
    (run / "metrics.json").write_text(json.dumps({"test_accuracy": 0.75}))
    (run / "notes.md").write_text(f"{name} notes")
    (run / "figures" / "curve.png").write_bytes(figure)
    (run / "figures" / "index.json").write_text(json.dumps([{"file": "curve.png",
                                                             "caption": f"{name} curve"}]))
    return run


@pytest.fixture
def setup(tmp_path):
    """runs/good (sound), runs/bad (to be damaged by each case), tmp/secret.png outside runs/."""
    runs = tmp_path / "runs"
    _run(runs, "good")
    bad = _run(runs, "bad")
    secret = tmp_path / "secret.png"
    secret.write_bytes(SECRET_PNG)
    return tmp_path, runs, bad, secret


def _index(bad, entries):
    (bad / "figures" / "index.json").write_text(json.dumps(entries))


def _symlink_figure(bad, secret):
    os.symlink(secret, bad / "figures" / "leak.png")
    _index(bad, [{"file": "leak.png", "caption": "leak"}])


def _unlisted_symlink(bad, secret):
    os.symlink(secret, bad / "figures" / "extra.png")  # not in index.json: found by the scan


def _deep(bad, secret):
    (bad / "metrics.json").write_text("[" * 100_000 + "]" * 100_000)


def _huge_json(bad, secret):
    with open(bad / "metrics.json", "wb") as fh:  # sparse: costs no disk
        fh.truncate(MAX_JSON_BYTES + 1)


def _huge_image(bad, secret):
    with open(bad / "figures" / "curve.png", "r+b") as fh:
        fh.truncate(20 * 1024 * 1024 + 1)


def _fifo(bad, secret):
    (bad / "status.json").unlink()
    os.mkfifo(bad / "status.json")  # opening it for reading would block for ever


def _symlink_status(bad, secret):
    (bad / "status.json").unlink()
    os.symlink(secret, bad / "status.json")


def _symlink_notes(bad, secret):
    (bad / "answers.md").symlink_to(secret)


def _symlink_figures_dir(bad, secret):
    fig_dir = bad / "figures"
    for p in fig_dir.iterdir():
        p.unlink()
    fig_dir.rmdir()
    target = secret.parent / "elsewhere"
    target.mkdir()
    (target / "secret.png").write_bytes(SECRET_PNG)
    (target / "index.json").write_text(json.dumps([{"file": "secret.png"}]))
    os.symlink(target, fig_dir)


CASES = {
    "status is a list": (lambda bad, s: (bad / "status.json").write_text("[1, 2]"),
                         "status.json holds a list, expected an object"),
    "status field of the wrong type": (
        lambda bad, s: (bad / "status.json").write_text(json.dumps(
            {"experiment": "bad", "status": "ok", "seconds": [1]})),
        "status.json: 'seconds' is a list, expected a number"),
    "metrics is a number": (lambda bad, s: (bad / "metrics.json").write_text("42"),
                            "metrics.json holds a number, expected an object"),
    "config is a string": (lambda bad, s: (bad / "config.json").write_text('"config"'),
                           "config.json holds a string, expected an object"),
    "lessons is an object": (lambda bad, s: (bad / "lessons.json").write_text("{}"),
                             "lessons.json holds an object, expected a list"),
    "lesson lacks keys": (lambda bad, s: (bad / "lessons.json").write_text('[{"say": "x"}]'),
                          "lessons.json entry 1 lacks 'metric', 'value'"),
    "index is a list of numbers": (lambda bad, s: _index(bad, [1, 2, 3]),
                                   "figures/index.json entry 1 is a number"),
    "index entry lacks file": (lambda bad, s: _index(bad, [{"caption": "no file"}]),
                               'figures/index.json entry 1 lacks "file"'),
    "notes not UTF-8": (lambda bad, s: (bad / "notes.md").write_bytes(b"caf\xe9 \xff\xfe"),
                        "notes.md is not UTF-8 text"),
    "nested too deeply": (_deep, "metrics.json is nested too deeply"),
    "huge JSON": (_huge_json, "metrics.json is 10,485,761 bytes, over the limit"),
    "huge image": (_huge_image, "curve.png is 20,971,521 bytes"),
    "status is a FIFO": (_fifo, "status.json is not a regular file"),
    "status is a symlink": (_symlink_status, "status.json is a symbolic link; not followed"),
    "text artifact is a symlink": (_symlink_notes, "answers.md is a symbolic link; not followed"),
    "traversal": (lambda bad, s: _index(bad, [{"file": "../../../secret.png"}]),
                  "figure '../../../secret.png' points outside figures/; not read"),
    "absolute path": (lambda bad, s: _index(bad, [{"file": str(s)}]),
                      "is an absolute path; not read"),
    "symlink out of figures": (_symlink_figure, "figure 'leak.png' resolves outside figures/"),
    "unlisted symlink out": (_unlisted_symlink, "figure 'extra.png' resolves outside figures/"),
    "figures dir is a symlink": (_symlink_figures_dir, "figures/ is a symbolic link"),
    "not an image": (lambda bad, s: (bad / "figures" / "curve.png").write_bytes(b"GIF89a..."),
                     "curve.png is not a PNG, JPEG or SVG image"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damaged_run_is_listed_and_the_rest_is_built(setup, case):
    tmp_path, runs, bad, secret = setup
    damage, reason = CASES[case]
    damage(bad, secret)
    page = build_report(runs, tmp_path / "report.html", results=tmp_path).read_text()
    # the damaged run is listed as damaged, with its reason
    (bad_run,) = [r for r in collect_runs(runs) if r.path.name == "bad"]
    assert bad_run.state == "damaged"
    assert any(reason in d for d in bad_run.damage), bad_run.damage
    assert '<span class="badge fail">damaged</span>' in page
    assert reason.replace("'", "&#x27;").replace('"', "&quot;") in page
    # the sound run is still built in full
    assert base64.b64encode(GOOD_PNG).decode() in page and "good notes" in page
    # the secret outside the run's figures/ is never read into the page
    assert base64.b64encode(SECRET_PNG).decode() not in page
    assert "secret trailer" not in page


def test_symlinked_run_directory_is_damaged_and_not_read(setup):
    tmp_path, runs, bad, secret = setup
    elsewhere = tmp_path / "elsewhere-run"
    _run(tmp_path, "elsewhere-run", figure=SECRET_PNG)
    os.symlink(elsewhere, runs / "linked")
    page = build_report(runs, tmp_path / "report.html", results=tmp_path).read_text()
    (linked,) = [r for r in collect_runs(runs) if r.path.name == "linked"]
    assert linked.damage == ["the run directory linked is a symbolic link; not followed"]
    assert base64.b64encode(SECRET_PNG).decode() not in page
    assert "elsewhere-run notes" not in page


def test_damaged_result_records_are_listed_not_used(setup):
    tmp_path, runs, bad, secret = setup
    results = tmp_path / "results"
    results.mkdir()
    (results / "a.json").write_text('{"name": 3, "metrics": {}}')
    (results / "b.json").write_bytes(b"\xff\xfe")
    os.symlink(secret, results / "c.json")
    page = build_report(runs, tmp_path / "report.html", results=results).read_text()
    assert "results/a.json lacks a string &#x27;experiment&#x27;" in page
    assert "results/b.json is not UTF-8 text" in page
    assert "results/c.json is a symbolic link; not followed" in page
    assert "no full-run record" in page


_JSONISH = st.one_of(
    st.binary(max_size=200),
    st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                 lambda children: st.lists(children, max_size=4)
                 | st.dictionaries(st.sampled_from(["file", "caption", "status", "seconds",
                                                    "say", "metric", "value", "met", "op"]),
                                   children, max_size=4),
                 max_leaves=12).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["status.json", "config.json", "metrics.json", "lessons.json",
                             "figures/index.json", "notes.md"]), content=_JSONISH)
def test_any_file_content_builds_a_report(setup, name, content):
    tmp_path, runs, bad, secret = setup
    (bad / name).write_bytes(content)
    page = build_report(runs, tmp_path / "report.html", results=tmp_path).read_text()
    assert base64.b64encode(GOOD_PNG).decode() in page
    assert base64.b64encode(SECRET_PNG).decode() not in page
