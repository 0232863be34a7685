"""One run lifecycle for a solo run (``ftn.train``) and a pack (``ftn.packing``): a ``RunSession``.

A session trains one or more run folders (its ``Member``s) with one trainer, in this process:

1. lock: every member's run folder (``RunLock``), first: a second live process is refused before it touches
   anything.
2. prepare: everything that can reject the run, before any wandb run exists: config values, the data, the model,
   the checkpoint to resume (one parked beside the record included, ``ftn.parking``), and that the run and records
   folders are writable. A rejected run is one line on stderr and leaves no run folder behind.
3. loggers and records: each member's wandb run (``ftn.tracking``) and record (``ftn.run_record``); then fit and
   test (a Table 2 max-pooling run then measures figure 3 into its record, ``ftn.locations``).
4. clean-up, in ``finally``: each member's record is written with its status, its checkpoint parked (interrupted)
   or dropped (ended), and its wandb run finished.

Once it trains, a full or read-only disk is one line too, and SIGTERM or SIGINT stop it with a checkpoint at that
step, status "interrupted" and, from the command line, exit status 128 + the signal's number
(``ftn.runs.Interrupted``). What a solo run and a pack build differently (the data, the task, the checkpoint, the
records, what Lightning logs to) is a subclass's: ``SoloRun`` here, ``ftn.packing.PackRun``.
"""
from __future__ import annotations

import contextlib
import errno
import shutil
from pathlib import Path
from typing import Iterator

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .atomic import remove_leftovers, unwritable
from .data.sources import DatasetError
from .locations import MaxLocations, measures_locations
from .parking import ParkedOnce, ParkRun, drop, unpark
from .progress import ProgressLines
from .record_files import ENDED, SUMMARY, record_folder, same_run_elsewhere
from .run_record import RunRecord
from .runs import (CHECKPOINT, LOCK, AtomicCheckpointIO, ConfigError, DivergenceGuard, Diverged, Interrupted,
                   RunCheckpoint, RunError, RunLock, first_line, forget_checkpoint, resume_checkpoint)
from .tracking import WANDB_ID, finish_wandb, link_wandb_run, wandb_group, wandb_tags
from .validation import validate

# What Hydra and the lock put into a run folder before the run starts: a folder holding nothing else is removed
# when the run is rejected.
BOOKKEEPING = {".hydra", LOCK}
# Failures of the file system rather than of the run: one line naming the file, the last good checkpoint and record
# kept (every checkpoint, record and cache is written atomically, ``ftn.atomic``).
FILE_SYSTEM_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


@contextlib.contextmanager
def rejected_in_one_line(run_dir: Path) -> Iterator[None]:
    """Turn a bad-input error into one ``RunError`` line, and remove a run folder that holds nothing but
    bookkeeping (Hydra creates it before this code runs). Used while this process holds the folder's lock."""
    try:
        yield
    except (RunError, ValueError, DatasetError, InstantiationException) as err:
        if run_dir.is_dir() and all(p.name in BOOKKEEPING or p.suffix == ".log" for p in run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)
            with contextlib.suppress(OSError):  # and runs/<name>/ if this was its only run
                run_dir.parent.rmdir()
        cause = err.__cause__ if isinstance(err, InstantiationException) and err.__cause__ is not None else err
        if isinstance(cause, RunError):
            raise
        if not isinstance(cause, (ValueError, DatasetError)):
            raise  # a bug, not bad input: keep its traceback
        raise RunError(first_line(cause)) from None


@contextlib.contextmanager
def file_system_errors_in_one_line() -> Iterator[None]:
    try:
        yield
    except OSError as err:
        if err.errno not in FILE_SYSTEM_ERRORS:
            raise
        raise RunError(f"cannot write {err.filename or 'a file'}: {err.strerror} ({errno.errorcode[err.errno]}); "
                       "what was on disk before is kept (the last good checkpoint and record); allowed: a writable "
                       "file system with free space") from None


def require_writable(folder: Path, key: str) -> None:
    """Refuse a run whose ``folder`` cannot take a new file (``ftn.atomic.unwritable``), before it trains."""
    if problem := unwritable(folder):
        existing, reason = problem
        raise RunError(f"{key}: {existing} is not writable ({reason}); allowed: a folder this user can write")


class Member:
    """One run folder of a session, a solo run or a member of a pack, as ``python -m ftn.train <overrides>`` would
    run it alone: its folder name, lock, config hash, record, wandb run and parked checkpoint.

    Args:
        cfg: its composed config (``run_dir`` set).
        overrides: its command-line overrides (its record's command, its wandb name, where its record may go).
        choices: its Hydra group choices (its wandb tags; none for a config composed in code).
    """

    def __init__(self, cfg: DictConfig, overrides: list[str], choices: dict[str, str]) -> None:
        self.cfg, self.overrides, self.choices = cfg, overrides, choices
        self.run_dir = Path(cfg.run_dir)
        self.config: dict = {}  # resolved, once the session prepares it
        self.records_folder: Path | None = None  # where its record goes, and a checkpoint from another machine may wait
        self.logger = self.record = self.park = None
        self.status: str | None = None  # once the session ended

    @classmethod
    def of_hydra_job(cls, cfg: DictConfig) -> "Member":
        """``cfg`` as the run of Hydra's current job: its overrides and group choices (none outside a Hydra app:
        tests compose their configs)."""
        if not HydraConfig.initialized():
            return cls(cfg, [], {})
        hydra = HydraConfig.get()
        return cls(cfg, list(hydra.overrides.task), dict(hydra.runtime.choices))

    def resolve(self) -> None:
        """Its resolved config, checked (``ftn.validation``), and its records folder."""
        try:
            self.config = OmegaConf.to_container(self.cfg, resolve=True)
        except OmegaConfBaseException as err:  # experiment=table1 dataset=synthetic: the task reads dataset.seq_len
            raise ConfigError(f"{getattr(err, 'full_key', None) or 'the config'}: {first_line(err)}; allowed: group "
                              "choices that have every key the config reads (--cfg job shows it composed)") from None
        self.records_folder = record_folder(self.cfg.records_dir, self.cfg.name, self.run_dir, self.config,
                                            self.overrides)
        validate(self.config)

    def check_writable(self) -> None:
        """Its checkpoints folder, records folder and data cache take files: checked before the checkpoints folder
        exists, so a rejected run leaves none."""
        require_writable((self.run_dir / CHECKPOINT).parent, "run_dir")
        if self.records_folder:  # where the record goes when the run ends
            require_writable(self.records_folder, "records_dir")
        if cache := self.config.get("dataset", {}).get("cache_dir"):  # the decoded and whitened data
            require_writable(Path(cache), "dataset.cache_dir")

    def make_ready(self, fresh: bool) -> None:
        """Its checkpoints folder made, without the temp files of a process killed mid-write (under the lock, no
        other process writes there); ``fresh`` (``ckpt_path=null``): no stale checkpoint, wandb run or parked
        checkpoint survives to be resumed later."""
        (self.run_dir / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
        for folder in (self.run_dir, (self.run_dir / CHECKPOINT).parent, self.records_folder):
            if folder is not None and folder.is_dir():
                remove_leftovers(folder)
        if fresh:
            forget_checkpoint(self.run_dir)
            (self.run_dir / WANDB_ID).unlink(missing_ok=True)
            if self.records_folder:
                drop(self.records_folder)

    def open_logger(self):
        """Its wandb logger, named by its overrides, in its configuration's group (its run starts at first use)."""
        label = "/".join(o for o in self.overrides if not o.startswith(("experiment=", "ckpt_path="))) or "defaults"
        self.logger = instantiate(self.cfg.logger, run_dir=str(self.run_dir), name=f"{self.cfg.name}/{label}",
                                  group=wandb_group(self.config))
        return self.logger

    def record_args(self, fresh: bool) -> dict:
        """What its ``RunRecord`` (or a pack member's record) is made of."""
        return dict(run_dir=str(self.run_dir), experiment=self.cfg.name, config=self.config, overrides=self.overrides,
                    seed=self.cfg.seed, fresh=fresh, records_folder=self.records_folder)

    def start(self, device: str, facts: dict) -> None:
        """Its wandb run tagged, linked under its experiment and given its config (and ``facts``: a pack's)."""
        self.logger.experiment.tags = wandb_tags(self.config, self.choices, device)
        if self.run_dir.parent.name == self.cfg.name and self.logger.experiment.dir:  # a folder under runs/<name>/
            link_wandb_run(self.logger, self.run_dir.parent)
        self.logger.log_hyperparams({**self.config, **facts})

    def close(self, trainer: pl.Trainer, session_status: str) -> None:
        """Whatever happened: its record written with its status, its checkpoint at a signal parked (it travels
        with the record) or, once it ended, dropped, and its wandb run finished."""
        self.status = status = self.record.status(trainer, session_status)
        try:
            try:
                self.record.write(trainer, status)
            except OSError:
                if status != "failed":
                    raise
                # the error in flight (a full disk, say) is the one to report; the last good record stays
            if self.park and status == "interrupted":
                self.park.park(trainer.global_step)
            elif self.park and status != "failed":  # an ended run needs no checkpoint in git; a crashed one resumes
                drop(self.records_folder)
            if self.records_folder and status in ENDED:  # its record, copied there, is the run's one
                for other in same_run_elsewhere(self.records_folder, self.config):
                    drop(other)
                    (other / SUMMARY).unlink()
                    with contextlib.suppress(OSError):  # a folder holding anything else stays
                        other.rmdir()
        finally:
            finish_wandb(self.logger, status)


class RunSession:
    """The lifecycle of ``members`` trained together (module docstring). A subclass says what to build:
    ``prepare`` (data and task), ``checkpoint``, ``guards``, ``record``, ``facts`` and ``loggers``."""

    def __init__(self, members: list[Member]) -> None:
        self.members = members
        self.cfg = members[0].cfg  # what the members share: the trainer, the checkpoint to resume, the schedule
        self.datamodule: pl.LightningDataModule | None = None
        self.task: pl.LightningModule | None = None

    # ---- what a solo run and a pack build differently ----------------------------------------------------------
    def prepare(self) -> dict:
        """Build ``datamodule`` and ``task`` (their data read or decoded: a bad dataset fails here, not after wandb
        started); returns the identity the checkpoint is checked against."""
        raise NotImplementedError

    def checkpoint(self, identity: dict) -> RunCheckpoint:
        raise NotImplementedError

    def guards(self) -> list[pl.Callback]:
        """Callbacks before the checkpoint's (a solo run's divergence guard)."""
        return []

    def record(self, index: int, member: Member, fresh: bool) -> RunRecord:
        raise NotImplementedError

    def facts(self, index: int) -> dict:
        """What a member's wandb config gets beside its config."""
        return {}

    def loggers(self) -> list:
        """What Lightning logs to."""
        raise NotImplementedError

    # ---- the lifecycle -----------------------------------------------------------------------------------------
    def run(self) -> list[dict]:
        """Lock, prepare, train and test; returns the test metrics. Each member's ``status`` says how it ended."""
        if len(folders := [m.run_dir for m in self.members]) > len(set(folders)):  # its second lock would refuse it
            twice = next(f for f in folders if folders.count(f) > 1)
            raise RunError(f"run_dir: {twice} is the folder of two members; allowed: a folder of its own per member")
        with contextlib.ExitStack() as locks:
            for member in self.members:  # first: a second live process is refused before it touches anything
                locks.enter_context(RunLock(member.run_dir))
            with file_system_errors_in_one_line():
                with contextlib.ExitStack() as rejected:  # a rejected run leaves none of its run folders behind
                    for member in self.members:
                        rejected.enter_context(rejected_in_one_line(member.run_dir))
                    identity, ckpt_path = self._prepare()
                return self._train(identity, ckpt_path)

    def _prepare(self) -> tuple[dict, str | None]:
        """Everything that can reject the run, before any wandb run exists; returns the checkpoint's identity and
        the checkpoint to resume from (None: from scratch)."""
        for member in self.members:
            member.resolve()
        for member in self.members:  # before the data are prepared: they write the cache
            member.check_writable()
        identity = self.prepare()
        if self.cfg.ckpt_path == "last":
            for member in self.members:
                if member.records_folder:  # a checkpoint the records folder brought, put where "last" looks
                    unpark(member.run_dir, member.records_folder, identity)
        ckpt_path = resume_checkpoint(self.cfg.ckpt_path, self.members[0].run_dir, identity)
        for member in self.members:
            member.make_ready(fresh=self.cfg.ckpt_path is None)
        return identity, ckpt_path

    def _train(self, identity: dict, ckpt_path: str | None) -> list[dict]:
        parked_once = ParkedOnce(len(self.members))  # a pack's one checkpoint file is parked once
        for index, member in enumerate(self.members):
            member.open_logger()
            # a run that resumes nothing (ckpt_path=null, or no checkpoint found) starts its record afresh too: a
            # summary left by an attempt cut off before its first checkpoint holds steps this run trains again
            member.record = self.record(index, member, fresh=ckpt_path is None)
            if member.records_folder:
                member.park = ParkRun(member.run_dir, member.records_folder, member.cfg.park_max_mib, parked_once)
        # the parks after the checkpoint and the records: they copy what those wrote at the epoch end
        callbacks = [*self.guards(), self.checkpoint(identity), *(m.record for m in self.members),
                     *(m.park for m in self.members if m.park), ProgressLines(),
                     *(MaxLocations(m.record) for m in self.members if measures_locations(m.cfg.name, m.config))]
        trainer = instantiate(self.cfg.trainer, logger=False, callbacks=callbacks,
                              default_root_dir=str(self.members[0].run_dir), plugins=[AtomicCheckpointIO()],
                              enable_checkpointing=False)  # the session's checkpoint is the one checkpoint writer
        trainer.loggers = self.loggers()  # as Trainer(logger=...) sets them, for loggers Lightning would not take
        status = "failed"
        try:
            for index, member in enumerate(self.members):
                member.start(trainer.strategy.root_device.type, self.facts(index))
            trainer.fit(self.task, datamodule=self.datamodule, ckpt_path=ckpt_path)
            metrics = trainer.test(self.task, datamodule=self.datamodule)
            status = "finished"
            return metrics
        except (Diverged, Interrupted) as stopped:
            status = stopped.status
            raise
        finally:  # every member, failed or not, leaves its record and ends its wandb run
            with contextlib.ExitStack() as closing:
                for member in reversed(self.members):  # the stack closes the first member first
                    closing.callback(member.close, trainer, status)


def build_run(cfg: DictConfig) -> tuple[pl.LightningDataModule, pl.LightningModule]:
    """A run's data module and task, under its seed, the data module first (anything it draws comes before the
    model's init). A pack builds each member's model here too, so that it starts where the member's solo run would."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.dataset)
    return datamodule, instantiate(cfg.task)


class SoloRun(RunSession):
    """A run alone: ``cfg.dataset`` and ``cfg.task`` as configured, its own logger, a divergence guard."""

    def __init__(self, member: Member) -> None:
        super().__init__([member])

    def prepare(self) -> dict:
        self.datamodule, self.task = build_run(self.cfg)
        self.datamodule.prepare_data()  # reads and whitens the data: draws nothing
        return self.members[0].config

    def checkpoint(self, identity: dict) -> RunCheckpoint:
        return RunCheckpoint(self.members[0].run_dir, identity, self.cfg.checkpoint_every_n_steps)

    def guards(self) -> list[pl.Callback]:
        return [DivergenceGuard()]

    def record(self, index: int, member: Member, fresh: bool) -> RunRecord:
        return RunRecord(**member.record_args(fresh))

    def loggers(self) -> list:
        return [self.members[0].logger]
