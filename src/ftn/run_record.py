"""The run record: ``summary.json``, which each run writes beside its wandb run.

An offline wandb run writes no summary or config JSON, so ``RunRecord`` writes
``summary.json`` into the run directory: config, final metrics, command, commit,
hardware, parameter counts, the pooling implementation that ran, wall time, seed and the
wandb run id. ``ftn.results`` builds tables from these.
A finished or diverged run also copies it to ``<records_dir>/<experiment>/<run folder>/summary.json``, the
committed records (a running one is parked there by ``ftn.parking``). A run resumed on another kind of device
records both (``device: "cuda+cpu"``), so no table cell takes it for a run of one.
"""
from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import LearningRateMonitor
from torch import nn

from .atomic import atomic_write_text
from .identity import config_hash
from .pooling import LSTMPool2d, resolved_impl
from .provenance import git_commit, hardware
from .record_files import ENDED, SUMMARY, read_summary


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


class RunRecord(pl.Callback):
    """Writes ``summary.json`` after each validation ("running") and, through ``write``, when its session ends.

    A rerun or resumed run keeps the metrics and history it had and adds to them; ``fresh`` (a run that resumes
    no checkpoint) starts a new record.
    """

    def __init__(self, run_dir: str, experiment: str, config: dict, overrides: list[str], seed: int,
                 fresh: bool = False, records_folder: Path | None = None) -> None:
        self.path = Path(run_dir) / SUMMARY
        # where an ended run's record is copied (record_files.record_folder; None: nowhere)
        self.copy_path = records_folder / SUMMARY if records_folder else None
        self.base = {"experiment": experiment, "overrides": overrides, "config": config, "seed": seed,
                     "config_hash": config_hash(config),
                     # the job's own overrides: for a sweep, the command that reruns this one cell
                     "command": " ".join(["python -m ftn.train", *(overrides or sys.argv[1:])]),
                     "commit": git_commit(),
                     "hardware": hardware(), "threads": torch.get_num_threads(), "torch": torch.__version__}
        self.started = time.time()
        previous = {} if fresh else read_summary(self.path)
        self.previous_wall = previous.get("wall_time_s", 0.0)
        self.metrics: dict = previous.get("metrics", {})  # fit metrics stay when test adds its own
        self.history: list[dict] = previous.get("history", [])  # metrics after every validation: the curves
        self.resumed_at: list[int] = previous.get("resumed_at_steps", [])
        # the threads of each training segment, by the step it started at: a campaign may resume a run with more.
        # A record written before this key knew its last segment's threads only.
        self.threads_at: dict[str, int] = previous.get("threads_at_steps") or (
            {str((self.resumed_at or [0])[-1]): previous["threads"]} if "threads" in previous else {})
        # every tree the run trained under, in order: a run resumed on a later commit names both
        ran = previous.get("commits") or ([previous["commit"]] if previous.get("commit") else [])
        self.base["commits"] = ran + ([] if ran[-1:] == [self.base["commit"]] else [self.base["commit"]])
        self.devices: list[str] = [d for d in (previous.get("device") or "").split("+") if d]  # where it trained so far

    # What a pack's member record (ftn.packing) replaces: its own metrics, logger, model, end and status.
    def _metrics(self, trainer: pl.Trainer) -> dict:
        return _logged_metrics(trainer)

    def _loggers(self, trainer: pl.Trainer) -> list:
        return trainer.loggers

    def _model(self, pl_module: pl.LightningModule) -> nn.Module:
        return pl_module

    def trained_model(self, pl_module: pl.LightningModule) -> nn.Module:
        """The run's network with the weights it trained (a measurement's input, ``ftn.locations``)."""
        return pl_module.model

    def _ended_at(self, trainer: pl.Trainer) -> tuple[int, int]:
        return trainer.current_epoch, trainer.global_step

    def status(self, trainer: pl.Trainer, session_status: str) -> str:
        """Its run's status when the session that trained it ended with ``session_status`` (``ftn.lifecycle``)."""
        return session_status

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """What ran, beside the config: in the record and in the wandb config (the model is on its device now)."""
        here = pl_module.device.type  # where it trains, also under trainer.accelerator=auto
        if self.devices and here not in self.devices:
            warnings.warn(f"{self.path.parent} trained on {'+'.join(self.devices)} and resumes on {here}: its record "
                          f"says {'+'.join(self.devices + [here])}, a table cell of its own", stacklevel=2)
        self.devices += [] if here in self.devices else [here]
        model = self._model(pl_module)
        self.base.update(parameter_counts(model), pooling_impl=pooling_impl(model, trainer),
                         device="+".join(self.devices), hardware=hardware(here))  # a CPU run on a GPU host: the CPU
        facts = {k: self.base[k] for k in ("commit", "hardware", "torch", "params_total", "params_lstm",
                                           "pooling_impl", "device")}
        for logger in self._loggers(trainer):
            logger.log_hyperparams(facts)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step > 0:
            self.resumed_at.append(trainer.global_step)
        self.threads_at[str(trainer.global_step)] = self.base["threads"]

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
                  "resumed_at_steps": self.resumed_at, "threads_at_steps": self.threads_at,
                  "wandb_run_id": getattr(logger, "version", None) if logged else None,
                  "wandb_dir": run.dir if logged else None,
                  "metrics": self.metrics, "history": self.history}
        text = json.dumps(record, indent=1, default=str)
        atomic_write_text(self.path, text)
        if self.copy_path is not None and status in ENDED:
            atomic_write_text(self.copy_path, text)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            metrics = self._metrics(trainer)
            self.history = [h for h in self.history if h["step"] < trainer.global_step]
            self.history.append({"epoch": trainer.current_epoch, "step": trainer.global_step, **metrics})
            self.write(trainer, "running")
