"""Run records: where they are, which device a run trained on, and which runs share a table cell.

Records are read from every runs folder given (by default the local ``runs/`` and the committed
``results/runs/``); the same run found twice counts once. Only finished runs enter a table, and a cell holds
runs whose result-changing configs differ in the seed alone (``ftn.identity.cell_key``).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable

from ..identity import cell_key
from ..logging import SUMMARY, read_summary

RUNS_DIRS = (Path("runs"), Path("results/runs"))
DEVICE_LABELS = {"cpu": "CPU", "gpu": "GPU", "cuda": "GPU"}
DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "cifar10_jpeg": "CIFAR-10 (JPEG copy)",
                  "synthetic": "synthetic (generated)"}


def _steps(record: dict) -> tuple[int, bool]:
    return record.get("steps") or 0, record.get("status") == "finished"


def trained_on(record: dict) -> str:
    """Where a run trained ("cpu", "cuda", "cuda+cpu" if resumed elsewhere): the record's ``device``; older records
    only have the configured accelerator (``auto`` stays as it is)."""
    return record.get("device") or record.get("config", {}).get("trainer", {}).get("accelerator", "cpu")


def device(record: dict) -> str:
    """The device a run trained on, as a label ("CPU", "GPU", "GPU+CPU"). Cells and tables never mix devices: a
    run's folder and config hash leave the device out (a checkpoint may resume elsewhere), but the kernels differ,
    so CPU and GPU seeds are different draws and each device's seed 0 is its own run."""
    return "+".join(DEVICE_LABELS.get(part, part) for part in trained_on(record).split("+"))


def load_runs(runs_dirs: Path | Iterable[Path], experiment: str) -> list[dict]:
    """The finished runs of ``experiment`` under ``runs_dirs``. A run found in several folders (same experiment,
    device and run folder name, e.g. runs/ and its committed copy in results/runs/) counts once: the longer
    record."""
    dirs = [runs_dirs] if isinstance(runs_dirs, (str, Path)) else list(runs_dirs)
    best: dict[str, dict] = {}
    for runs_dir in dirs:
        for path in sorted(Path(runs_dir).glob(f"**/{SUMMARY}")):
            record = read_summary(path)
            if record.get("experiment") != experiment:
                continue
            run = f"{device(record)}/{path.parent.name}"
            if run not in best or _steps(record) > _steps(best[run]):
                best[run] = record
    return [r for r in best.values() if r.get("status") == "finished"]


def cells(records: list[dict]) -> list[list[dict]]:
    """Group runs into cells (``cell_key``: same result-changing config but the seed; same device), one run per
    seed."""
    by_cell: dict[tuple[str, str], dict] = defaultdict(dict)
    for r in records:
        seeds = by_cell[(device(r), cell_key(r["config"]))]
        if r["seed"] not in seeds or _steps(r) > _steps(seeds[r["seed"]]):
            seeds[r["seed"]] = r
    return [list(seeds.values()) for seeds in by_cell.values()]
