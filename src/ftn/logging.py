"""wandb (offline by default) and the run record each run writes beside its wandb run.

An offline wandb run writes no summary or config JSON, so ``RunRecord`` writes
``summary.json`` into the run directory: config, final metrics, command, commit,
hardware, parameter counts, the pooling implementation that ran, wall time, seed and the
wandb run id. ``ftn.results`` builds tables from these. The wandb run gets the same facts in its
config, a group per configuration (seeds aggregate) and tags naming the configuration.
A finished or diverged run also copies it to ``<records_dir>/<experiment>/<run folder>/summary.json``, the
committed records (a running one is parked there by ``ftn.parking``). A run resumed on another kind of device
records both (``device: "cuda+cpu"``), so no table cell takes it for a run of one.
"""
from __future__ import annotations

import functools
import importlib.metadata
import hashlib
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
from pytorch_lightning.callbacks import LearningRateMonitor
from pytorch_lightning.loggers import WandbLogger
from torch import nn

from .atomic import atomic_write_text
from .identity import cell_key, config_hash, not_a_result
from .pooling import LSTMPool2d, resolved_impl

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


def make_wandb_logger(run_dir: str, name: str, group: str, project: str = "ftn", mode: str = "offline",
                      job_type: str = "train") -> WandbLogger:
    """A logger whose run id lives in the run directory, so a resumed run continues the same wandb run."""
    run_dir_path = Path(run_dir)
    id_file = run_dir_path / WANDB_ID
    if not id_file.exists():
        atomic_write_text(id_file, secrets.token_hex(4))
    # reinit="create_new": a run of its own even while another is open (a pack's members log side by side), and
    # the global wandb.run untouched, so a later WandbLogger does not take it over
    logger = WandbLogger(project=project, name=name, group=group, id=id_file.read_text().strip(),
                         job_type=job_type, save_dir=str(run_dir_path), mode=wandb_mode(mode), resume="allow",
                         reinit="create_new")
    # Lightning always passes anonymous=None, which wandb 0.2x+ warns about at every run although it means "unset"
    logger._wandb_init.pop("anonymous", None)
    return logger


def link_wandb_run(logger: WandbLogger, experiment_dir: Path) -> None:
    """Link the run's wandb folder into ``<experiment_dir>/wandb/``: each run keeps its wandb run in its own
    folder, and ``wandb leet runs/<experiment>/wandb`` shows all of them side by side."""
    run_files = Path(logger.experiment.dir).parent  # .../wandb/offline-run-<time>-<id>/files -> the run's folder
    links = experiment_dir / "wandb"
    links.mkdir(parents=True, exist_ok=True)
    link = links / run_files.name
    if not link.is_symlink():
        try:
            link.symlink_to(run_files.resolve(), target_is_directory=True)
        except FileExistsError:  # another process of a sweep linked the same run: nothing to do
            pass


def wandb_group(config: dict) -> str:
    """"<experiment>-<hash>": one group per result-changing configuration without the seed
    (``ftn.identity.cell_key``, the same rule as a table cell), so the seeds of a configuration aggregate."""
    return f"{config['name']}-{hashlib.sha256(cell_key(config).encode()).hexdigest()[:8]}"


def wandb_tags(config: dict, choices: dict[str, str], device: str) -> list[str]:
    """"key:value" tags: experiment, dataset, model, width, pooling, init, schedule and device.

    ``choices`` are Hydra's group choices (``hydra.runtime.choices``); without them (a config composed in
    code) the names come from the config itself, and a schedule has none.
    """
    dataset, model, pooling = (config.get(k) or {} for k in ("dataset", "model", "pooling"))
    values = {"experiment": config.get("name"),
              "dataset": choices.get("dataset") or dataset.get("name"),
              "model": choices.get("model") or model.get("_target_", "").rsplit(".", 1)[-1].lower() or None,
              "width": model.get("width"),
              "pooling": choices.get("pooling") or pooling.get("kind"),
              "init": pooling.get("init") or (config.get("task") or {}).get("init"),
              "schedule": choices.get("schedule"),
              "device": device}
    return [f"{key}:{value}"[:64] for key, value in values.items() if value is not None]  # wandb: 64 characters


def finish_wandb(logger: WandbLogger, status: str) -> None:
    """End the wandb run with the run's status ("finished", "failed", "diverged", "interrupted"), so the next run
    of a sweep starts its own instead of logging into this one. wandb knows only finished and failed (any exit
    code but 0): the status is in the summary and, where not finished, a tag."""
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


def _number(value: object) -> object:
    return value.item() if isinstance(value, torch.Tensor) else value


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """{"params_total", "params_lstm"}: every parameter once (a shared LSTM unit counts once)."""
    lstm = {id(p): p.numel() for m in model.modules() if isinstance(m, LSTMPool2d) for p in m.parameters()}
    return {"params_total": sum(p.numel() for p in model.parameters()), "params_lstm": sum(lstm.values())}


def pooling_impl(model: nn.Module, trainer: pl.Trainer) -> str | None:
    """The implementation the first LSTM pooling layer runs ("fused-cpu", "fused-triton", "reference"); None
    without one. Its input has its parameters' dtype and device, under the trainer's precision (autocast)."""
    pool = next((m for m in model.modules() if isinstance(m, LSTMPool2d)), None)
    if pool is None:
        return None
    with trainer.precision_plugin.forward_context():
        return resolved_impl(pool.params.new_zeros(1), pool.params, pool.impl)


def _logged_metrics(trainer: pl.Trainer) -> dict:
    """The metrics logged so far: the modules' own and the latest learning rates of a ``LearningRateMonitor``
    (which writes to the loggers only, not to ``callback_metrics``)."""
    metrics = {k: _number(v) for k, v in trainer.callback_metrics.items()}
    for callback in trainer.callbacks:
        if isinstance(callback, LearningRateMonitor):
            metrics.update({name: values[-1] for name, values in callback.lrs.items() if values})
    return metrics


def read_summary(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


COMMITTED_RECORDS = REPO / "results" / "runs"


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


class RunRecord(pl.Callback):
    """Writes ``summary.json`` after each validation ("running") and when the run ends (``finish``).

    A rerun or resumed run keeps the metrics and history it had and adds to them; ``fresh`` (ckpt_path=null)
    starts a new record.
    """

    def __init__(self, run_dir: str, experiment: str, config: dict, overrides: list[str], seed: int,
                 fresh: bool = False, records_dir: str | None = None) -> None:
        self.path = Path(run_dir) / SUMMARY
        folder = record_folder(records_dir, experiment, Path(run_dir), config, overrides)
        self.copy_path = folder / SUMMARY if folder else None
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
        # every tree the run trained under, in order: a run resumed on a later commit names both
        ran = previous.get("commits") or ([previous["commit"]] if previous.get("commit") else [])
        self.base["commits"] = ran + ([] if ran[-1:] == [self.base["commit"]] else [self.base["commit"]])
        self.devices: list[str] = [d for d in (previous.get("device") or "").split("+") if d]  # where it trained so far

    # What a pack's member record (ftn.packing) replaces: its own metrics, logger, model and end.
    def _metrics(self, trainer: pl.Trainer) -> dict:
        return _logged_metrics(trainer)

    def _loggers(self, trainer: pl.Trainer) -> list:
        return trainer.loggers

    def _model(self, pl_module: pl.LightningModule) -> nn.Module:
        return pl_module

    def _ended_at(self, trainer: pl.Trainer) -> tuple[int, int]:
        return trainer.current_epoch, trainer.global_step

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """What ran, beside the config: in the record and in the wandb config (the model is on its device now)."""
        here = pl_module.device.type  # where it trains, also under trainer.accelerator=auto
        if self.devices and here not in self.devices:
            warnings.warn(f"{self.path.parent} trained on {'+'.join(self.devices)} and resumes on {here}: its record "
                          f"says {'+'.join(self.devices + [here])}, a table cell of its own", stacklevel=2)
        self.devices += [] if here in self.devices else [here]
        model = self._model(pl_module)
        self.base.update(parameter_counts(model), pooling_impl=pooling_impl(model, trainer),
                         device="+".join(self.devices))
        facts = {k: self.base[k] for k in ("commit", "hardware", "torch", "params_total", "params_lstm",
                                           "pooling_impl", "device")}
        for logger in self._loggers(trainer):
            logger.log_hyperparams(facts)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step > 0:
            self.resumed_at.append(trainer.global_step)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # now: trainer.test attaches the task's callbacks afresh, and its new LearningRateMonitor holds no values
        self.metrics.update(self._metrics(trainer))

    def write(self, trainer: pl.Trainer, status: str) -> None:
        logger = next(iter(self._loggers(trainer)), None)
        run = getattr(logger, "experiment", None)
        logged = run is not None and not getattr(run, "disabled", False)  # logger.mode=disabled: no run to name
        self.metrics.update(self._metrics(trainer))
        epochs, steps = self._ended_at(trainer)
        record = {**self.base, "status": status,
                  "wall_time_s": round(self.previous_wall + time.time() - self.started, 1),
                  "epochs": epochs, "steps": steps,
                  "resumed_at_steps": self.resumed_at,
                  "wandb_run_id": getattr(logger, "version", None) if logged else None,
                  "wandb_dir": run.dir if logged else None,
                  "metrics": self.metrics, "history": self.history}
        text = json.dumps(record, indent=1, default=str)
        atomic_write_text(self.path, text)
        if self.copy_path is not None and status in ("finished", "diverged"):
            atomic_write_text(self.copy_path, text)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            metrics = self._metrics(trainer)
            self.history = [h for h in self.history if h["step"] < trainer.global_step]
            self.history.append({"epoch": trainer.current_epoch, "step": trainer.global_step, **metrics})
            self.write(trainer, "running")
