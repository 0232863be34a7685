"""Where a run ran: the code's commit (``-dirty`` with local changes) and the hardware, as records name them."""
from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
# What a run executes: a change here, tracked or not, makes the recorded commit "-dirty".
CODE_PATHS = ("src", "configs")


@functools.lru_cache(maxsize=None)  # once per process: a sweep's jobs all run the code it started with
def git_commit(repo: Path = REPO) -> str:
    if os.environ.get("FTN_COMMIT"):  # a copy of the tree whose .git, if any, is not its own (the GPU machine)
        return f"{os.environ['FTN_COMMIT']} (tree copy)"
    if not (repo / "src" / "ftn").is_dir():  # an installed package: no checkout of ours to ask
        return f"ftn {importlib.metadata.version('ftn')} (installed, not a git checkout)"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True, cwd=repo).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", *CODE_PATHS],
                               capture_output=True, text=True, check=True, cwd=repo).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def training_device(accelerator: str) -> torch.device:
    """Where ``accelerator`` (Lightning's ``trainer.accelerator``: "cpu", "gpu" or "cuda", or "auto": the GPU where
    one is visible) trains. The one place that reads those names: the run folder, the hardware a record names and
    the up-front check for a missing GPU all ask here."""
    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if gpu else "cpu")


def hardware(device: str = "auto") -> str:
    """The processor that ``device`` (an accelerator name, as ``training_device`` reads it) names: a GPU by its
    name, a CPU as "<model> (<N> cores, CPU)" (``results.records.trained_on`` reads that suffix)."""
    if training_device(device).type == "cuda":
        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu} ({os.cpu_count()} cores, CPU)"
