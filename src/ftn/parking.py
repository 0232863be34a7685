"""A running run parked beside its committed record, so a campaign outlives the machine it ran on.

Only git survives from one session to the next here, and ``runs/`` (checkpoints included) is not in git. So at
each epoch end ``ParkRun`` copies the run's last checkpoint (as ``resume.ckpt``) and the running summary that
matches it into the run's records folder, ``<records_dir>/<experiment>/<run folder>/``. Commit that folder and,
on a fresh clone, ``unpark`` puts both back into the run folder before ``ckpt_path=last`` looks for a checkpoint:
the run continues from its last epoch with its history and wall time. A finished or diverged run drops its
parked checkpoint (``drop``); only its record stays. A checkpoint over ``park_max_mib`` (VGG16's) is never
parked: it does not belong in git.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytorch_lightning as pl

from .atomic import atomic_write
from .logging import SUMMARY
from .runs import CHECKPOINT

PARKED = "resume.ckpt"


def _copy(source: Path, target: Path) -> None:
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


class ParkRun(pl.Callback):
    """At each epoch end, after ``RunCheckpoint`` saved and ``RunRecord`` wrote the epoch's summary, copy both
    into ``folder`` (the run's records folder), unless the checkpoint is over ``max_mib``."""

    def __init__(self, run_dir: Path, folder: Path, max_mib: float) -> None:
        self.run_dir, self.folder, self.max_bytes = Path(run_dir), Path(folder), max_mib * 2**20

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        checkpoint, summary = self.run_dir / CHECKPOINT, self.run_dir / SUMMARY
        if checkpoint.exists() and summary.exists() and checkpoint.stat().st_size <= self.max_bytes:
            # the summary first: a kill between the two leaves a summary newer than the checkpoint, whose extra
            # history the resumed run trims at its next validation (the other way round would leave a gap)
            _copy(summary, self.folder / SUMMARY)
            _copy(checkpoint, self.folder / PARKED)


def unpark(run_dir: Path, folder: Path) -> bool:
    """Put a parked run back into a run folder that has no checkpoint of its own (a fresh clone); True if it did.
    A checkpoint already in the run folder wins: it is this machine's own, at least as new as the parked one."""
    parked = folder / PARKED
    if (run_dir / CHECKPOINT).exists() or not parked.exists():
        return False
    _copy(parked, run_dir / CHECKPOINT)
    if (folder / SUMMARY).exists():
        _copy(folder / SUMMARY, run_dir / SUMMARY)
    print(f"resuming from the checkpoint parked in {folder}", flush=True)
    return True


def drop(folder: Path) -> None:
    """A run that ended (or starts afresh) keeps no parked checkpoint."""
    (folder / PARKED).unlink(missing_ok=True)
