"""Run records: where they are, which device a run trained on, and which runs share a table cell.

Records are read from every runs folder given (by default the local ``runs/`` and the committed
``results/runs/``); the same run found twice counts once. Only finished runs enter a table, and a cell holds
runs whose result-changing configs differ in the seed alone (``ftn.identity.cell_key``).

A record no table may trust stops every reader (``BadRecords``, one line naming each file): one that cannot be
parsed or lacks a key of a run's record, whose seed disagrees with its config, whose folders disagree with it (its
run folder with its overrides: a record copied or renamed into another run's folder; and for a copy in a records
folder, its experiment folder with its experiment and a gpu/ folder with its device), or that repeats another
folder's run. ``skip_bad=True`` skips them instead,
with a warning each.
"""
from __future__ import annotations

import json
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..identity import cell_key, config_hash, device_folder, flatten, folder_identity, not_a_result, run_folder_name
from ..record_files import RECORDS, RUNS, SUMMARY
from .stats import MIN_PAIRS

RUNS_DIRS = (RUNS, RECORDS)
# What every record a Hydra run writes holds (ftn.run_record.RunRecord); the tables and the campaign read them.
RUN_KEYS = {"experiment": str, "status": str, "config": dict, "metrics": dict, "seed": int}
KIND_NAMES = {str: "a string", dict: "a mapping", int: "an integer"}
# The config keys the tables read from every run record: Table 1's sequence tasks, and the classifiers
TABLE1_CONFIG_KEYS = ("dataset.seq_len", "schedule.max_epochs", "task.target")
CLASSIFIER_CONFIG_KEYS = ("dataset.name", "schedule.max_steps", "pooling.kind")
DEVICE_LABELS = {"cpu": "CPU", "gpu": "GPU", "cuda": "GPU"}
DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "cifar10_jpeg": "CIFAR-10 (JPEG copy)",
                  "synthetic": "synthetic (generated)"}


def _steps(record: dict) -> tuple[int, bool, str]:
    """How far a record got: a run's steps and status; a benchmark's record (no steps) by its date, the newer."""
    return record.get("steps") or 0, record.get("status") == "finished", record.get("date", "")


def trained_on(record: dict) -> str:
    """Where a run trained ("cpu", "cuda", "cuda+cpu" if resumed elsewhere): the record's ``device``; older records
    only have the configured accelerator, and for ``auto`` their hardware tells (``provenance.hardware`` names a
    CPU as "... (N cores, CPU)" and a GPU by its name)."""
    accelerator = record.get("device") or record.get("config", {}).get("trainer", {}).get("accelerator", "cpu")
    if accelerator == "auto" and "hardware" in record:
        return "cpu" if record["hardware"].endswith("CPU)") else "cuda"
    return accelerator


def device(record: dict) -> str:
    """The device a run trained on, as a label ("CPU", "GPU", "GPU+CPU"). Cells and tables never mix devices: a
    run's folder and config hash leave the device out (a checkpoint may resume elsewhere), but the kernels differ,
    so CPU and GPU seeds are different draws and each device's seed 0 is its own run."""
    return "+".join(DEVICE_LABELS.get(part, part) for part in trained_on(record).split("+"))


def devices(records: list[dict]) -> str:
    """The devices ``records`` trained on, as one label: "CPU", or "CPU/GPU" for runs of both."""
    return "/".join(sorted({device(r) for r in records}))


@dataclass(frozen=True, order=True)
class Setting:
    """One dataset, budget and device: the runs a comparison, a table's section or a figure's panel stays within."""
    dataset: str  # the config's name ("cifar10_jpeg")
    steps: int
    device: str   # "CPU", "GPU"

    def label(self, unit: str = "it") -> str:
        """"CIFAR-10 (JPEG copy), 15000 it, CPU", the iterations' unit named ``unit`` ("iterations" in headings)."""
        return f"{DATASET_LABELS.get(self.dataset, self.dataset)}, {self.steps} {unit}, {self.device}"


def setting(record: dict) -> Setting:
    config = record["config"]
    return Setting(config["dataset"]["name"], config["schedule"]["max_steps"], device(record))


def preferred(seed_counts: dict[Setting, int]) -> Setting:
    """Of the settings that ran something, the one whose seeds a comparison can use (its smallest cell's count, up
    to ``MIN_PAIRS``), the largest budget among equals: a longer budget's first runs do not displace a finished
    shorter one until they have those seeds."""
    return max(seed_counts, key=lambda where: (min(MIN_PAIRS, seed_counts[where]), where.steps))


class BadRecords(ValueError):
    """Records no table may trust, as one line: each file and what is wrong with it."""

    def __init__(self, problems: dict[Path, str]) -> None:
        self.problems = problems
        listed = "; ".join(f"{path}: {why}" for path, why in problems.items())
        super().__init__(f"{len(problems)} bad record(s), nothing written: {listed}. Fix or remove them, or pass "
                         "--skip-bad-records to leave them out")


def problem(path: Path, record: dict | None) -> str | None:
    """What is wrong with one record on its own, or None."""
    if not isinstance(record, dict):
        return "not a readable JSON record"
    # a benchmark's record has some of these keys only; those it has are read as a run's are
    if wrong := [key for key, kind in RUN_KEYS.items() if key in record and not isinstance(record[key], kind)]:
        return f"its {wrong[0]} is {type(record[wrong[0]]).__name__}, not {KIND_NAMES[RUN_KEYS[wrong[0]]]}"
    if "config" in record:  # a run's record (a benchmark's has none)
        table1 = str(record.get("experiment", "")).startswith("table1")
        needed = TABLE1_CONFIG_KEYS if table1 else CLASSIFIER_CONFIG_KEYS
        if missing := [key for key in needed if key not in flatten(record["config"])]:
            return f"its config lacks {', '.join(missing)} (the tables read {', '.join(needed)})"
    if "seed" in record.get("config", {}) and record.get("seed") != record["config"]["seed"]:
        return f"its seed {record.get('seed')!r} disagrees with its config's seed {record['config'].get('seed')!r}"
    if not record.get("overrides"):  # made outside a Hydra app (a composed config): its folder is its caller's
        return None
    if missing := [key for key in RUN_KEYS if key not in record]:
        return f"it lacks {', '.join(missing)} (a run's record has {', '.join(RUN_KEYS)})"
    expected = run_folder_name(record["overrides"])
    if path.parent.name != expected and folder_identity(path.parent.name) != folder_identity(expected):
        return f"its overrides belong in folder {expected!r}, not {path.parent.name!r}"
    if path.parent.resolve() == Path(record["config"].get("run_dir", "")).resolve():
        return None  # the run's own record, in the run folder wherever Hydra put it (hydra.sweep.dir, ...)
    # a copy in a records folder: <records>/[gpu/]<experiment>/<run folder>/ (record_files.record_folder), the gpu/
    # folder for a run on a GPU (ftn.identity.device_folder)
    if path.parent.parent.name != record["experiment"]:
        return f"its experiment {record['experiment']!r} belongs in folder {record['experiment']}/, not " \
               f"{path.parent.parent.name}/"
    if (path.parents[2].name == "gpu") != (device_folder(trained_on(record)) == "gpu"):
        where = "a gpu/ folder" if device_folder(trained_on(record)) else "no gpu/ folder"
        return f"it trained on the {device(record)}, so it belongs under {where}"
    return None


def runs_dirs_problem(runs_dirs: Iterable[Path]) -> str | None:
    """The one line for the first of ``runs_dirs`` (``--runs``) that is not a folder, but the default ones (a fresh
    clone has no ``runs/``): a mistyped ``--runs`` would otherwise read as "no runs yet"."""
    for d in map(Path, runs_dirs):
        if not d.is_dir() and d not in RUNS_DIRS:
            what = "is not a folder" if d.exists() else "does not exist"
            return f"--runs {d} {what}; allowed: folders of run records"
    return None


def read_records(runs_dirs: Path | Iterable[Path], skip_bad: bool = False) -> list[tuple[Path, dict]]:
    """Every record under ``runs_dirs`` with its path, each run once: a run found in several folders (same
    experiment, device and run folder name, e.g. runs/ and its committed copy in results/runs/) counts once, the
    longer record (of a benchmark's, the newer). Raises ``BadRecords`` (or, with ``skip_bad``, warns and skips) for records no table may trust."""
    dirs = [runs_dirs] if isinstance(runs_dirs, (str, Path)) else list(runs_dirs)
    problems: dict[Path, str] = {}
    best: dict[str, tuple[Path, dict]] = {}
    for runs_dir in dirs:
        for path in sorted(Path(runs_dir).glob(f"**/{SUMMARY}")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                record = None
            if why := problem(path, record):
                problems[path] = why
                continue
            run = f"{record.get('experiment')}/{device(record)}/{path.parent.name}"
            if run not in best or _steps(record) > _steps(best[run][1]):
                best[run] = (path, record)
    seen: dict[tuple, Path] = {}  # the same run (device, experiment, config and seed) in two folders
    for path, record in best.values():
        if "config" in record and "overrides" in record:
            identity = (record.get("experiment"), device(record), config_hash(record["config"]))
            if identity in seen:
                problems[path] = f"it repeats the run of {seen[identity]}"
            seen.setdefault(identity, path)
    if problems and not skip_bad:
        raise BadRecords(problems)
    for path, why in problems.items():
        warnings.warn(f"skipped bad record {path}: {why}", stacklevel=2)
    return [(path, record) for path, record in best.values() if path not in problems]


def load_runs(runs_dirs: Path | Iterable[Path], experiment: str, skip_bad: bool = False,
              results_only: bool = True) -> list[dict]:
    """The finished runs of ``experiment`` under ``runs_dirs`` (``read_records``); with ``results_only``, not the
    smoke, quick and rehearsal runs that ``ftn.identity.not_a_result`` keeps out of the committed tables."""
    return [r for _, r in read_records(runs_dirs, skip_bad)
            if r.get("experiment") == experiment and r.get("status") == "finished"
            and not (results_only and not_a_result(r.get("overrides", [])))]


def cells(records: list[dict]) -> list[list[dict]]:
    """Group runs into cells (``cell_key``: same result-changing config but the seed; same device), one run per
    seed."""
    by_cell: dict[tuple[str, str], dict] = defaultdict(dict)
    for r in records:
        seeds = by_cell[(device(r), cell_key(r["config"]))]
        if r["seed"] not in seeds or _steps(r) > _steps(seeds[r["seed"]]):
            seeds[r["seed"]] = r
    return [list(seeds.values()) for seeds in by_cell.values()]
