"""A running run parked beside its record, so it can move to another machine with its records folder.

At each epoch end, and when a signal stops the run (``ftn.runs.Interrupted``), ``ParkRun`` copies the run's last
checkpoint (as ``resume.ckpt``) and the summary that matches it into the run's records folder,
``<records_dir>/<experiment>/<run folder>/``. That folder is what travels (``scripts/gpu_run.sh`` brings it back in
records.tar.gz, and a device call can carry it); ``runs/`` does not. Checkpoints never go into git (.gitignore):
the summary is committed, ``resume.ckpt`` is not.

Where the folder arrives with its ``resume.ckpt``, ``unpark`` puts both back into the run folder before
``ckpt_path=last`` looks for a checkpoint: the run continues from its last epoch with its history and wall time,
once the parked checkpoint passes the same config check as any resume. A finished or diverged run drops its
parked checkpoint (``drop``); only its record stays. Never parked: a checkpoint over ``park_max_mib`` (VGG16's;
for a pack, each member's share of its one file, which the members' folders hold as hard links to one copy), and
a rerun over a finished or diverged record (that record stays until the rerun ends, as without parking).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import pytorch_lightning as pl

from .atomic import atomic_copy, atomic_link
from .record_files import ENDED, SUMMARY, read_summary
from .runs import CHECKPOINT, RunError, check_config, load_checkpoint

PARKED = "resume.ckpt"


class ParkedOnce:
    """How the members of a pack park their one checkpoint file (each member's ``checkpoints/last.ckpt`` is a hard
    link to it): the first member to park a given file copies it, the others hard-link their ``resume.ckpt`` to
    that copy, so it travels once (tar and a device call carry a linked file once). ``members`` splits the size
    limit: each member's share of the file is what it adds to the records. A solo run is a pack of one."""

    def __init__(self, members: int = 1) -> None:
        self.members = members
        self.placed: tuple[tuple[int, int, int], Path] | None = None  # (the file's inode, mtime, size), its copy

    def place(self, checkpoint: Path, target: Path) -> None:
        stat = checkpoint.stat()
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self.placed is not None and self.placed[0] == key and self.placed[1].exists():
            atomic_link(self.placed[1], target)
        else:
            atomic_copy(checkpoint, target)
            self.placed = key, target


class ParkRun(pl.Callback):
    """At each epoch end, after ``RunCheckpoint`` saved and ``RunRecord`` wrote the epoch's summary, copy both
    into ``folder`` (the run's records folder): only a matching pair (the summary written at this step), never
    a checkpoint over ``max_mib`` (per member, for a pack: ``parked``), and never over a finished or diverged
    record."""

    def __init__(self, run_dir: Path, folder: Path, max_mib: float, parked: ParkedOnce | None = None) -> None:
        self.run_dir, self.folder = Path(run_dir), Path(folder)
        self.parked = parked or ParkedOnce()
        self.max_bytes = max_mib * 2**20 * self.parked.members
        self.warned = False

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.park(trainer.global_step)

    def park(self, step: int) -> None:
        """Copy the checkpoint and summary of ``step`` (the run's current optimizer step), if both are there."""
        checkpoint, summary = self.run_dir / CHECKPOINT, self.run_dir / SUMMARY
        if not checkpoint.exists() or checkpoint.stat().st_size > self.max_bytes:
            return
        if read_summary(summary).get("steps") != step:  # no validation (no summary) this epoch
            return
        if (ended := read_summary(self.folder / SUMMARY).get("status")) in ENDED:
            if not self.warned:
                warnings.warn(f"{self.folder} holds a {ended} record: this rerun is not parked there, so that "
                              "record stays until the rerun ends", stacklevel=2)
                self.warned = True
            return
        # the summary first: a kill between the two leaves a summary newer than the checkpoint, whose extra
        # history the resumed run trims at its next validation (the other way round would leave a gap)
        atomic_copy(summary, self.folder / SUMMARY)
        self.parked.place(checkpoint, self.folder / PARKED)


def _step(own: Path) -> int:
    """The optimizer step of the run folder's own checkpoint; -1 for one that cannot be read (any parked one is
    further)."""
    try:
        return int(load_checkpoint(own, "last").get("global_step", 0))
    except RunError:
        return -1


def unpark(run_dir: Path, folder: Path, config: dict) -> bool:
    """Put a parked run back into its run folder (the run was cut off on another machine, and its records folder
    came here); True if it did.
    A checkpoint already in the run folder wins, as this machine's own, unless the parked one trained further (the
    run went on elsewhere since). A parked checkpoint that cannot be read, or that another config wrote (a
    result-changing default changed since), is left alone, with a warning: the run goes on without it (from its own
    checkpoint, or afresh) and parks over it."""
    parked, own = folder / PARKED, run_dir / CHECKPOINT
    if not parked.exists():
        return False
    try:  # the checks every resume gets, before anything is copied
        checkpoint = load_checkpoint(parked, str(parked))
        if own.exists() and int(checkpoint.get("global_step", 0)) <= _step(own):
            return False
        check_config(checkpoint, parked, str(parked), config)
    except RunError as err:
        why = str(err).split("; allowed")[0]  # what is wrong with it; the remedies are a resume's, not a park's
        then = "resumes its own checkpoint" if own.exists() else "starts afresh"
        warnings.warn(f"the checkpoint parked at {parked} is not resumed ({why}): the run {then} and parks over it",
                      stacklevel=2)
        return False
    atomic_copy(parked, own)
    if (folder / SUMMARY).exists():
        atomic_copy(folder / SUMMARY, run_dir / SUMMARY)
    print(f"resuming from the checkpoint parked in {folder}", flush=True)
    return True


def drop(folder: Path) -> None:
    """A run that ended (or starts afresh) keeps no parked checkpoint."""
    (folder / PARKED).unlink(missing_ok=True)
