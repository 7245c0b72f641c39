#!/usr/bin/env python
"""Turn a finished run directory into a committed result record.

    python scripts/record_result.py RUN_DIR [--out results/] [--force]

writes ``results/<name>--<dataset>[--<variant>]--seed<k>.json``: the run's metrics, judged
lessons, resolved config, seed, data set (name and sha256), the machine it ran on (CPU model,
cores, torch threads, GPU), the stridelab, torch and other library versions, the date and the
wall time, all read from the run's own files (``config.json``, ``status.json``,
``metrics.json``, ``lessons.json``). ``<variant>`` is absent for the full default
configuration, else the mode ("quick", "smoke") and the ``--set`` values. Only a run whose
status is "ok" is recorded: a record is evidence of a real run, never made by hand.

``scripts/results_table.py`` builds the README's measured-results table from these records.
Problems are one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

RECORD_VERSION = 1


class RecordError(Exception):
    """Something about the run directory or the destination the user can fix."""


def _read_object(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path}: missing; is {path.parent} a stridelab run directory?") \
            from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RecordError(f"{path}: unreadable ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise RecordError(f"{path}: not a JSON object")
    return obj


def _overrides(config_record: dict) -> dict[str, str]:
    """The run's ``--set`` values; for runs that predate recording them, the fields that differ
    from the registered configuration of the run's mode."""
    if isinstance(config_record.get("overrides"), dict):
        return {str(k): str(v) for k, v in config_record["overrides"].items()}
    from stridelab.atomic import _to_jsonable
    from stridelab.experiments.registry import get

    mode = _mode(config_record)
    registered = _to_jsonable(get(config_record["experiment"]).make_config(
        quick=mode == "quick", smoke=mode == "smoke"))
    ran = config_record.get("config") or {}
    return {k: json.dumps(v) for k, v in ran.items() if registered.get(k) != v}


def _mode(config_record: dict) -> str:
    return config_record.get("mode") or ("quick" if config_record.get("quick") else "full")


def variant_tag(mode: str, overrides: dict[str, str]) -> str:
    """"" for the full default config; else e.g. "quick" or "epochs=8" or "quick-lr=0.1"."""
    parts = [] if mode == "full" else [mode]
    parts += [f"{k}={v}" for k, v in sorted(overrides.items())]
    tag = re.sub(r"[^A-Za-z0-9=.,_+-]", "_", "-".join(parts))
    if len(tag) > 48:  # a long --set list: a short, stable digest of it instead
        digest = hashlib.sha256(json.dumps(sorted(overrides.items())).encode()).hexdigest()[:10]
        tag = "-".join(([] if mode == "full" else [mode]) + [f"set{digest}"])
    return tag


def build_record(run_dir: Path) -> dict[str, Any]:
    """The result record of the finished run in ``run_dir``."""
    status = _read_object(run_dir / "status.json")
    if status.get("status") != "ok":
        raise RecordError(f"{run_dir}: status is {status.get('status')!r}, not 'ok'; only a "
                          "finished run is recorded")
    config_record = _read_object(run_dir / "config.json")
    metrics = _read_object(run_dir / "metrics.json")
    lessons: list = []
    if (run_dir / "lessons.json").exists():
        try:
            lessons = json.loads((run_dir / "lessons.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise RecordError(f"{run_dir / 'lessons.json'}: unreadable "
                              f"({type(exc).__name__})") from None
        if not isinstance(lessons, list) or not all(isinstance(x, dict) for x in lessons):
            raise RecordError(f"{run_dir / 'lessons.json'}: not a list of lesson records")
    name = config_record.get("experiment") or status.get("experiment")
    if not isinstance(name, str) or not name:
        raise RecordError(f"{run_dir}: config.json names no experiment")
    data = config_record.get("dataset") or {}
    env = config_record.get("environment") or {}
    mode = _mode(config_record)
    overrides = _overrides(config_record)
    seed = config_record.get("seed")
    if not isinstance(seed, int):
        raise RecordError(f"{run_dir / 'config.json'}: no integer seed")
    command = ["stridelab", "run", name]
    if mode == "quick":
        command.append("--quick")
    if data.get("name"):
        command += ["--dataset", data["name"]]
    command += ["--seed", str(seed)]
    for key, text in sorted(overrides.items()):
        command += ["--set", f"{key}={text}"]
    return {
        "record_version": RECORD_VERSION,
        "experiment": name,
        "mode": mode,
        "overrides": overrides,
        "seed": seed,
        "command": " ".join(command) + (" (test-suite smoke configuration)"
                                        if mode == "smoke" else ""),
        "dataset": {k: data.get(k) for k in ("name", "sha256", "n_train", "n_test")}
        if data else None,
        "key_metric": status.get("key_metric"),
        "order": status.get("order"),
        "metrics": metrics,
        "lessons": lessons,
        "config": config_record.get("config"),
        "dependencies": {k: {"source": v.get("source")} for k, v in
                         (config_record.get("dependencies") or {}).items()},
        "machine": {
            "cpu": env.get("cpu"),
            "cpu_count": env.get("cpu_count"),
            "torch_threads": env.get("torch_threads"),
            "gpu": env.get("cuda_device"),
            "device": env.get("device"),
            "platform": env.get("platform"),
        },
        "versions": {k: env.get(k) for k in ("stridelab", "torch", "python", "numpy", "sklearn",
                                             "scipy", "cuda") if env.get(k) is not None},
        "date": status.get("finished"),
        "wall_time_s": status.get("seconds"),
    }


def record_path(record: dict, out: Path) -> Path:
    dataset = (record.get("dataset") or {}).get("name") or "no-data"
    tag = variant_tag(record["mode"], record["overrides"])
    parts = [record["experiment"], dataset] + ([tag] if tag else []) + [f"seed{record['seed']}"]
    return out / ("--".join(parts) + ".json")


def write_record(run_dir: str | Path, out: str | Path = "results", *, force: bool = False) -> Path:
    """Write the record of ``run_dir`` under ``out``; returns its path.

    An existing record with other content is kept unless ``force`` (the same run recorded
    twice is simply rewritten).
    """
    run_dir, out = Path(run_dir), Path(out)
    if not run_dir.is_dir():
        raise RecordError(f"{run_dir}: no such run directory")
    if out.exists() and not out.is_dir():
        raise RecordError(f"--out {out}: it is a file, not a directory")
    record = build_record(run_dir)
    path = record_path(record, out)
    text = json.dumps(record, indent=2, sort_keys=False, allow_nan=False) + "\n"
    if path.exists() and not force and path.read_text(encoding="utf-8") != text:
        raise RecordError(f"{path} exists and holds another run; pass --force to replace it")
    from stridelab.atomic import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run, e.g. runs/mnist-cnn")
    parser.add_argument("--out", default="results", help="where records go (default: results)")
    parser.add_argument("--force", action="store_true", help="replace a different record")
    args = parser.parse_args(argv)
    try:
        path = write_record(args.run_dir, args.out, force=args.force)
    except (RecordError, ValueError) as exc:
        print(f"record_result: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
