"""wandb (offline by default) and the run record each run writes beside its wandb run.

An offline wandb run writes no summary or config JSON, so ``RunRecord`` writes
``summary.json`` into the run directory: config, final metrics, command, commit,
hardware, wall time, seed and the wandb run id. ``ftn.results`` builds tables from these.
A finished or diverged run also copies it to ``<records_dir>/<experiment>/<run folder>/summary.json``.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import urlparse

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger

from .atomic import atomic_write_text
from .identity import config_hash

SUMMARY = "summary.json"
WANDB_ID = "wandb_id.txt"
REACH_TIMEOUT_S = 3.0


def _reachable(url: str, timeout: float = REACH_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout`` (DNS included, hence the thread)."""
    parsed = urlparse(url)
    address = (parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80))
    opened = threading.Event()

    def connect() -> None:
        try:
            socket.create_connection(address, timeout=timeout).close()
            opened.set()
        except OSError:
            pass

    threading.Thread(target=connect, daemon=True).start()
    return opened.wait(timeout)


@functools.lru_cache(maxsize=None)  # once per process: one check, one warning for a whole sweep
def wandb_mode(mode: str) -> str:
    """``mode`` (or $WANDB_MODE), except that "online" without a reachable server falls back to "offline"."""
    mode = os.environ.get("WANDB_MODE", mode)
    url = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    if mode == "online" and not _reachable(url):
        warnings.warn(f"wandb: {url} is unreachable; logging offline instead (upload later with `wandb sync`)",
                      stacklevel=2)
        os.environ["WANDB_MODE"] = "offline"  # wandb reads the environment too
        return "offline"
    return mode


def make_wandb_logger(run_dir: str, name: str, group: str, project: str = "ftn", mode: str = "offline") -> WandbLogger:
    """A logger whose run id lives in the run directory, so a resumed run continues the same wandb run."""
    run_dir_path = Path(run_dir)
    id_file = run_dir_path / WANDB_ID
    if not id_file.exists():
        atomic_write_text(id_file, secrets.token_hex(4))
    return WandbLogger(project=project, name=name, group=group, id=id_file.read_text().strip(),
                       save_dir=str(run_dir_path), mode=wandb_mode(mode), resume="allow")


def finish_wandb(logger: WandbLogger, status: str) -> None:
    """End the wandb run with the run's status ("finished", "failed", "diverged"), so the next run of a sweep
    starts its own instead of logging into this one."""
    run = logger.experiment
    run.summary["status"] = status
    if status != "finished":
        run.tags = (*(run.tags or ()), status)
    run.finish(exit_code=0 if status == "finished" else 1)


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


def read_summary(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


class RunRecord(pl.Callback):
    """Writes ``summary.json`` after each validation ("running") and when the run ends (``finish``).

    A rerun or resumed run keeps the metrics and history it had and adds to them; ``fresh`` (ckpt_path=null)
    starts a new record.
    """

    def __init__(self, run_dir: str, experiment: str, config: dict, overrides: list[str], seed: int,
                 fresh: bool = False, records_dir: str | None = None):
        self.path = Path(run_dir) / SUMMARY
        self.copy_path = Path(records_dir) / experiment / Path(run_dir).name / SUMMARY if records_dir else None
        self.base = {"experiment": experiment, "overrides": overrides, "config": config, "seed": seed,
                     "config_hash": config_hash(config),
                     # the job's own overrides: for a sweep, the command that reruns this one cell
                     "command": " ".join(["python -m ftn.train", *(overrides or sys.argv[1:])]),
                     "commit": git_commit(),
                     "hardware": hardware(), "torch": torch.__version__}
        self.started = time.time()
        previous = {} if fresh else read_summary(self.path)
        self.previous_wall = previous.get("wall_time_s", 0.0)
        self.metrics: dict = previous.get("metrics", {})  # fit metrics stay when test adds its own
        self.history: list[dict] = previous.get("history", [])  # metrics after every validation: the curves
        self.resumed_at: list[int] = previous.get("resumed_at_steps", [])

    def on_train_start(self, trainer, pl_module):
        if trainer.global_step > 0:
            self.resumed_at.append(trainer.global_step)

    def write(self, trainer: pl.Trainer, status: str) -> None:
        logger = trainer.logger
        self.metrics.update({k: _number(v) for k, v in trainer.callback_metrics.items()})
        record = {**self.base, "status": status,
                  "wall_time_s": round(self.previous_wall + time.time() - self.started, 1),
                  "epochs": trainer.current_epoch, "steps": trainer.global_step,
                  "resumed_at_steps": self.resumed_at,
                  "wandb_run_id": getattr(logger, "version", None),
                  "wandb_dir": getattr(getattr(logger, "experiment", None), "dir", None),
                  "metrics": self.metrics, "history": self.history}
        text = json.dumps(record, indent=1, default=str)
        atomic_write_text(self.path, text)
        if self.copy_path is not None and status in ("finished", "diverged"):
            atomic_write_text(self.copy_path, text)

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            metrics = {k: _number(v) for k, v in trainer.callback_metrics.items()}
            self.history = [h for h in self.history if h["step"] < trainer.global_step]
            self.history.append({"epoch": trainer.current_epoch, "step": trainer.global_step, **metrics})
            self.write(trainer, "running")
