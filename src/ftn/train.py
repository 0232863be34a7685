"""The one entry point: ``python -m ftn.train experiment=table2 pooling=lstm`` (add ``-m`` to sweep).

Builds everything from the Hydra config with ``instantiate``, trains, tests, and
leaves runs/<name>/<overrides>/ with checkpoints, the wandb run and summary.json.

A run is checked before anything starts (config values, the dataset, the checkpoint to resume, the run
folder's lock, and that the run and records folders are writable); a rejected run is one line on stderr and
leaves no run folder behind. Once it trains, a full or read-only disk is one line too, and SIGTERM or SIGINT
stop it with a checkpoint at that step, status "interrupted" and exit status 128 + the signal's number.
"""
from __future__ import annotations

import contextlib
import errno
import shutil
import sys
import tempfile
import warnings
from pathlib import Path, PurePath
from typing import Iterator

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from .data.sources import DatasetError
from .identity import device_folder, run_folder_name
from .logging import WANDB_ID, RunRecord, finish_wandb, link_wandb_run, record_folder, wandb_group, wandb_tags
from .parking import ParkRun, drop, unpark
from .runs import (CHECKPOINT, LOCK, AtomicCheckpointIO, DivergenceGuard, Diverged, Interrupted, RunCheckpoint,
                   RunError, RunLock, forget_checkpoint, resume_checkpoint)
from .validation import validate

# Inside the package, so an installed ftn-train finds them from any directory (the repo's configs/ links here).
CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")
# Lightning 2.6 calls a torch pytree API that torch 2.13 deprecates, with a warning in every run: not ours to fix
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
OmegaConf.register_new_resolver("ftn_run_name", lambda overrides: run_folder_name(overrides), replace=True)


def device_path(base: str, accelerator: str) -> str:
    """``base``, or its ``gpu/`` subfolder for a GPU run (``ftn.identity.device_folder``); ``auto`` is the GPU
    where one is visible, as Lightning picks it."""
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    return str(PurePath(base, device_folder(accelerator)))


OmegaConf.register_new_resolver("ftn_device_path", device_path, replace=True)
# What Hydra and the lock put into a run folder before the run starts: a folder holding nothing else is removed
# when the run is rejected.
BOOKKEEPING = {".hydra", LOCK}


@contextlib.contextmanager
def rejected_in_one_line(run_dir: Path) -> Iterator[None]:
    """Turn a bad-input error into one ``RunError`` line, and remove a run folder that holds nothing but
    bookkeeping (Hydra creates it before this code runs). Used while this process holds the folder's lock."""
    try:
        yield
    except (RunError, ValueError, DatasetError, InstantiationException) as err:
        if run_dir.is_dir() and all(p.name in BOOKKEEPING or p.suffix == ".log" for p in run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)
        cause = err.__cause__ if isinstance(err, InstantiationException) and err.__cause__ is not None else err
        if isinstance(cause, RunError):
            raise
        if not isinstance(cause, (ValueError, DatasetError)):
            raise  # a bug, not bad input: keep its traceback
        raise RunError(str(cause).strip().splitlines()[0]) from None


# Failures of the file system rather than of the run: one line naming the file, the last good checkpoint and record kept
# (every checkpoint, record and cache is written atomically, ``ftn.atomic``).
FILE_SYSTEM_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


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
    """Refuse a run whose ``folder`` (or, where it does not exist yet, the nearest folder above it) cannot take a
    new file, before it trains: a probe file, not the mode bits (they do not stop root, and a read-only mount
    stops everyone), so the reason is the file system's own."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as err:
        raise RunError(f"{key}: {existing} is not writable ({err.strerror}); allowed: a folder this user can "
                       "write") from None


def _prepare(cfg: DictConfig, run_dir: Path, config: dict,
             parked: Path | None) -> tuple[pl.LightningDataModule, pl.LightningModule, str | None]:
    """Everything that can reject a run, before any wandb run exists: values, data, model, checkpoint, folder.
    ``parked``: the run's records folder, where a checkpoint from another machine may wait (``ftn.parking``)."""
    validate(config)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.dataset)
    datamodule.prepare_data()  # decodes or reads the cache: a bad dataset fails here, not after wandb started
    task = instantiate(cfg.task)
    if parked and cfg.ckpt_path == "last":
        unpark(run_dir, parked, config)  # a checkpoint the records folder brought, put where "last" looks
    ckpt_path = resume_checkpoint(cfg.ckpt_path, run_dir, config)
    checkpoints = (run_dir / CHECKPOINT).parent
    require_writable(checkpoints, "run_dir")  # both before the folder exists: a rejected run leaves none
    if parked:  # where the record goes when the run ends
        require_writable(parked, "records_dir")
    checkpoints.mkdir(parents=True, exist_ok=True)
    if cfg.ckpt_path is None:  # afresh: no stale checkpoint or wandb run survives to be resumed later
        forget_checkpoint(run_dir)
        (run_dir / WANDB_ID).unlink(missing_ok=True)
        if parked:
            drop(parked)
    return datamodule, task, ckpt_path


def command_overrides() -> list[str]:
    """The run's command-line overrides (none outside a Hydra app: tests compose their configs)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _train(cfg: DictConfig, run_dir: Path, config: dict, parked: Path | None, datamodule: pl.LightningDataModule,
           task: pl.LightningModule, ckpt_path: str | None) -> dict:
    overrides = command_overrides()
    label = "/".join(o for o in overrides if not o.startswith(("experiment=", "ckpt_path="))) or "defaults"
    logger = instantiate(cfg.logger, run_dir=str(run_dir), name=f"{cfg.name}/{label}", group=wandb_group(config))
    record = RunRecord(str(run_dir), cfg.name, config, overrides, cfg.seed, fresh=cfg.ckpt_path is None,
                       records_dir=cfg.records_dir)
    callbacks = [DivergenceGuard(), RunCheckpoint(run_dir, config, cfg.checkpoint_every_n_steps), record]
    park = ParkRun(run_dir, parked, cfg.park_max_mib) if parked else None
    if park:  # last: it copies what the checkpoint and the record callbacks wrote at the epoch end
        callbacks.append(park)
    trainer = instantiate(cfg.trainer, logger=logger, callbacks=callbacks, default_root_dir=str(run_dir),
                          plugins=[AtomicCheckpointIO()],
                          enable_checkpointing=False)  # RunCheckpoint is the one checkpoint writer
    status = "failed"
    try:
        choices = dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
        logger.experiment.tags = wandb_tags(config, choices, trainer.strategy.root_device.type)
        if run_dir.parent.name == cfg.name and logger.experiment.dir:  # a run folder under runs/<experiment>/
            link_wandb_run(logger, run_dir.parent)
        logger.log_hyperparams(config)
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
        metrics = trainer.test(task, datamodule=datamodule)[0]
        status = "finished"
        return metrics
    except (Diverged, Interrupted) as stopped:
        status = stopped.status
        raise
    finally:  # every run, failed or not, leaves its record and ends its wandb run
        try:
            try:
                record.write(trainer, status)
            except OSError:
                if status != "failed":
                    raise
                # the error in flight (a full disk, say) is the one to report; the last good record stays
            if park and status == "interrupted":  # its checkpoint at the signal travels with the record
                park.park(trainer.global_step)
            elif park and status != "failed":  # an ended run needs no checkpoint in git; a crashed one resumes
                drop(parked)
        finally:
            finish_wandb(logger, status)


def run(cfg: DictConfig) -> dict:
    run_dir = Path(cfg.run_dir)
    lock = RunLock(run_dir)  # first: a second live process is refused before it touches anything
    try:
        with file_system_errors_in_one_line():
            with rejected_in_one_line(run_dir):
                config = OmegaConf.to_container(cfg, resolve=True)
                parked = record_folder(cfg.records_dir, cfg.name, run_dir, config, command_overrides())
                datamodule, task, ckpt_path = _prepare(cfg, run_dir, config, parked)
            return _train(cfg, run_dir, config, parked, datamodule, task, ckpt_path)
    finally:
        lock.release()


@hydra.main(config_path=CONFIG_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except Interrupted as err:  # a sweep stops too; 128 + signum, as a shell reports a process the signal ended
        print(err, file=sys.stderr, flush=True)
        sys.exit(128 + err.signum)
    except RunError as err:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the sweep goes on with its other cells; Hydra reports this one (compactly) at the end
        sys.exit(str(err))  # one line on stderr, exit status 1, no traceback


if __name__ == "__main__":
    main()
