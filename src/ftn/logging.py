"""wandb (offline by default) and the run record each run writes beside its wandb run.

An offline wandb run writes no summary or config JSON, so ``RunRecord`` writes
``summary.json`` into the run directory: config, final metrics, command, commit,
hardware, wall time, seed and the wandb run id. ``ftn.results`` builds tables from these.
"""
from __future__ import annotations

import functools
import json
import secrets
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger

SUMMARY = "summary.json"


def make_wandb_logger(run_dir: str, name: str, group: str, project: str = "ftn", mode: str = "offline") -> WandbLogger:
    """A logger whose run id lives in the run directory, so a resumed run continues the same wandb run."""
    run_dir_path = Path(run_dir)
    run_dir_path.mkdir(parents=True, exist_ok=True)
    id_file = run_dir_path / "wandb_id.txt"
    if not id_file.exists():
        id_file.write_text(secrets.token_hex(4))
    mode = os.environ.get("WANDB_MODE", mode)
    logger = WandbLogger(project=project, name=name, group=group, id=id_file.read_text().strip(),
                         save_dir=str(run_dir_path), mode=mode, resume="allow")
    return logger


REPO = Path(__file__).resolve().parents[2]
# What a run executes: a change here, tracked or not, makes the recorded commit "-dirty".
CODE_PATHS = ("src", "configs")


@functools.lru_cache(maxsize=None)  # once per process: a sweep's jobs all run the code it started with
def git_commit(repo: Path = REPO) -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True, cwd=repo).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", *CODE_PATHS],
                               capture_output=True, text=True, check=True, cwd=repo).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu} ({os.cpu_count()} cores, CPU)"


def _number(value):
    return value.item() if isinstance(value, torch.Tensor) else value


class RunRecord(pl.Callback):
    """Writes ``summary.json`` when a run's fit and test are done (and after each validation)."""

    def __init__(self, run_dir: str, experiment: str, config: dict, overrides: list[str], seed: int):
        self.path = Path(run_dir) / SUMMARY
        self.base = {"experiment": experiment, "overrides": overrides, "config": config, "seed": seed,
                     # the job's own overrides: for a sweep, the command that reruns this one cell
                     "command": " ".join(["python -m ftn.train", *(overrides or sys.argv[1:])]),
                     "commit": git_commit(),
                     "hardware": hardware(), "torch": torch.__version__}
        self.started = time.time()
        self.metrics: dict = {}  # fit metrics stay when test adds its own
        self.history: list[dict] = []  # metrics after every validation: the learning curves
        self.previous_wall = 0.0
        if self.path.exists():  # a resumed run keeps its curve and adds to the wall time it spent
            previous = json.loads(self.path.read_text())
            self.previous_wall = previous.get("wall_time_s", 0.0)
            self.history = previous.get("history", [])

    def write(self, trainer: pl.Trainer, status: str) -> None:
        logger = trainer.logger
        self.metrics.update({k: _number(v) for k, v in trainer.callback_metrics.items()})
        record = {**self.base, "status": status,
                  "wall_time_s": round(self.previous_wall + time.time() - self.started, 1),
                  "epochs": trainer.current_epoch, "steps": trainer.global_step,
                  "wandb_run_id": getattr(logger, "version", None),
                  "wandb_dir": getattr(getattr(logger, "experiment", None), "dir", None),
                  "metrics": self.metrics, "history": self.history}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1, default=str))
        tmp.replace(self.path)

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            metrics = {k: _number(v) for k, v in trainer.callback_metrics.items()}
            self.history = [h for h in self.history if h["step"] < trainer.global_step]
            self.history.append({"epoch": trainer.current_epoch, "step": trainer.global_step, **metrics})
            self.write(trainer, "running")

    def on_test_end(self, trainer, pl_module):
        self.write(trainer, "finished")
