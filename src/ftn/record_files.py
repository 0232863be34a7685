"""Where a run's record lives and how it is read: the file name, the statuses that end a run, the committed
records folder, a run's folder in a records folder, and other records of the same run. Plain files and config
dicts (no Lightning), shared by the run lifecycle (``run_record``, ``lifecycle``), the campaigns and
``ftn.results``."""
from __future__ import annotations

import json
from pathlib import Path

from .identity import config_hash, not_a_result
from .provenance import REPO

SUMMARY = "summary.json"
COMMITTED_RECORDS = REPO / "results" / "runs"
# The command lines' defaults, relative to the working directory (the repository's root): the run folders, the
# committed records beside the tables they feed, and those tables (configs/paths/default.yaml sets the first two
# for a run, from FTN_RUNS and FTN_RECORDS).
RUNS, RECORDS, RESULTS = Path("runs"), Path("results/runs"), Path("results")


def read_summary(path: Path) -> dict:
    """A record as a dict; {} for a missing or unreadable (say, half-written) file."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


# A run that ended with a result (a diverged run's record is one too): its record is copied to the records folder.
ENDED = ("finished", "diverged")


def record_folder(records_dir: str | None, experiment: str, run_dir: Path, config: dict,
                  overrides: list[str]) -> Path | None:
    """``<records_dir>/<experiment>/<run folder>/``, where a run's committed record goes; None without
    ``records_dir``, for generated smoke data (``dataset.source=synthetic``), and, where ``records_dir`` is this
    checkout's committed ``results/runs/``, for a run that is no result (``ftn.identity.not_a_result``: a smoke
    schedule or a budget override). Other records folders (a rehearsal's, a test's) take every run."""
    if not records_dir or config.get("dataset", {}).get("source") == "synthetic":
        return None
    folder = Path(records_dir)
    if folder.resolve().is_relative_to(COMMITTED_RECORDS) and not_a_result(overrides):
        return None
    return folder / experiment / run_dir.name


def same_run_elsewhere(folder: Path, config: dict) -> list[Path]:
    """The records folders beside ``folder`` that record this config's run under another name (its overrides
    spelled otherwise, say ``pooling.init`` left to its default): a second record of one run, which the tables
    refuse (``ftn.results.records``), so the run that ends in ``folder`` replaces them."""
    wanted = config_hash(config)
    return [path.parent for path in sorted(folder.parent.glob(f"*/{SUMMARY}"))
            if path.parent != folder and "config" in (record := read_summary(path))
            and config_hash(record["config"]) == wanted]
