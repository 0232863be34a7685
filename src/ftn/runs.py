"""A run folder's life: one live process (lock), checkpoints that belong to one config, divergence stops at once.

- ``RunLock``: an ``flock`` on ``<run>/.lock``. A second live process is refused with one line; the kernel drops
  the lock of a killed process, so a stale lock is taken over without any clean-up.
- ``RunCheckpoint``: ``checkpoints/last.ckpt`` every N optimizer steps, at each epoch end, at the end, and when
  SIGTERM or SIGINT stops the run (``Interrupted``), written atomically in its own folder (``AtomicCheckpointIO``).
  It carries the config hash and the global RNG state (augmentation, dropout); the batch order is the data
  module's state (``DeviceBatches.position``), which Lightning saves and restores.
- ``resume_checkpoint``: the file to resume from, refused with the differing keys when another config wrote it
  (``load_checkpoint`` and ``check_config``, which ``ftn.parking`` uses on a parked copy too).
- ``DivergenceGuard``: a solo run that the divergence rule (``ftn.health.MemberHealth``) finds dead raises
  ``Diverged`` (on the CPU before the optimizer step applies it; on a GPU within
  ``every_n_steps`` steps, without a host sync per step).
"""
from __future__ import annotations

import fcntl
import os
import signal
import socket
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, NoReturn

import pytorch_lightning as pl
import torch
from hydra.errors import CompactHydraException
from pytorch_lightning.plugins import TorchCheckpointIO

from .atomic import atomic_torch_save
from .health import MemberHealth
from .identity import config_hash, differing_keys, result_config

CHECKPOINT = Path("checkpoints") / "last.ckpt"
LOCK = ".lock"
IDENTITY_KEY = "ftn"  # the checkpoint entry holding the config hash, the config and the RNG state


class RunError(CompactHydraException):
    """A run refused or stopped for a reason that one line explains (Hydra prints it without a traceback)."""


def first_line(err: BaseException) -> str:
    """The first line of ``err``'s message (its type's name for an empty one): the reason a one-line refusal
    quotes from a library's multi-line error."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def compose_error(err: BaseException) -> str:
    """One line for an error Hydra or OmegaConf raised while composing a run's config (an unknown key): its first
    line, its cause's, and what is allowed."""
    cause = f" ({first_line(err.__cause__)})" if err.__cause__ else ""
    return (f"{first_line(err)}{cause}; allowed: the train config's keys and values (python -m ftn.train --cfg job "
            "lists them)")


class ConfigError(RunError, ValueError):
    """A bad config value, found before anything starts."""


class Diverged(RunError):
    """A non-finite loss or gradient, or an exploding loss."""

    status = "diverged"  # what the record says


class Interrupted(RunError):
    """SIGTERM or SIGINT stopped the run, after a checkpoint at the current step; the process exits 128 + signum."""

    status = "interrupted"

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum

    def exit(self) -> NoReturn:
        """End the process as a shell reports one that the signal ended: this message on stderr, exit status 128 +
        the signal's number (a run, a pack, a sweep and a campaign alike)."""
        print(self, file=sys.stderr, flush=True)
        sys.exit(128 + self.signum)


class RunLock:
    """Hold ``<run_dir>/.lock`` for the life of this process's run, or refuse with ``RunError``."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / LOCK
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            raise RunError(f"run folder {run_dir} is in use by another live process ({holder}); allowed: one "
                           "process per run folder: wait for it to end, or change an override") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def load_checkpoint(path: Path, ckpt_path: str) -> dict:
    """The checkpoint at ``path`` (which ``ckpt_path`` named), or one ``RunError`` line for a file torch cannot
    read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # truncated, garbage, or not a torch file at all: one line, whatever torch said
        # ckpt_path=null also drops a parked copy (ftn.parking) that deleting this file would resume from
        remedy = "delete it to resume from a parked copy if its records folder has one, " if ckpt_path == "last" else ""
        raise RunError(f"ckpt_path={ckpt_path}: {path} is not a readable checkpoint ({first_line(err)}); "
                       f"allowed: a checkpoint written by ftn.train, {remedy}or ckpt_path=null to start afresh"
                       ) from None


def check_config(checkpoint: dict, path: Path, ckpt_path: str, config: dict) -> None:
    """Refuse (``RunError``, with the differing keys) a loaded ``checkpoint`` that another config wrote."""
    identity = checkpoint.get(IDENTITY_KEY)
    if identity is None:
        warnings.warn(f"{path} predates config hashes; resuming without checking that its config matches")
    elif identity["config_hash"] != config_hash(config):
        diff = ", ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in
                         ((k, *v) for k, v in differing_keys(identity["config"], config).items()))
        raise RunError(f"ckpt_path={ckpt_path}: {path} was written by a different config ({diff or 'hash differs'});"
                       " allowed: the same config, or ckpt_path=null to start afresh")


def resume_checkpoint(ckpt_path: str | None, run_dir: Path, config: dict) -> str | None:
    """The checkpoint this run resumes from (None: from scratch), checked to come from the same config.

    ``ckpt_path``: "last" (this folder's last.ckpt, if any), null (start afresh) or a file.
    """
    if ckpt_path is None:
        return None
    path = run_dir / CHECKPOINT if ckpt_path == "last" else Path(ckpt_path)
    if ckpt_path == "last" and not path.exists():
        return None
    if not path.is_file():
        raise ConfigError(f"ckpt_path={ckpt_path} is not a file; allowed: 'last', null or a checkpoint path")
    check_config(load_checkpoint(path, ckpt_path), path, ckpt_path, config)
    return str(path)


def forget_checkpoint(run_dir: Path) -> None:
    """``ckpt_path=null``: drop the folder's last.ckpt now, so no later default run resumes stale state."""
    (run_dir / CHECKPOINT).unlink(missing_ok=True)


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temp file in their own folder, fsynced, then renamed over the old one. Lightning's
    own writer moves a temp file from $TMPDIR: across file systems that is a copy in place, which a crash tears."""

    def save_checkpoint(self, checkpoint: dict, path: str | Path, storage_options: Any = None) -> None:
        atomic_torch_save(checkpoint, Path(path))


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunCheckpoint(pl.Callback):
    """``<run_dir>/checkpoints/last.ckpt`` every ``every_n_steps`` optimizer steps, at each epoch end, at the end,
    and at SIGTERM or SIGINT, which stop the run with ``Interrupted`` at the end of the current step.

    Mid-epoch saves skip an epoch's last batch: the epoch-end save follows it, after validation. For the same
    reason a signal during an epoch's last batch or its validation stops the run after the epoch-end save, and one
    during testing stops it at once (the checkpoint is the end of training). Lightning's own SIGTERM handling
    would end the process with exit status 0 and no checkpoint, and a KeyboardInterrupt can land mid-step: these
    handlers replace both while training and testing run. A second signal stops the process at once.
    """

    def __init__(self, run_dir: Path, config: dict, every_n_steps: int) -> None:
        self.path = run_dir / CHECKPOINT
        self.identity = {"config_hash": config_hash(config), "config": result_config(config)}
        self.every_n_steps = every_n_steps
        self.saved_step = -1
        self.rng_to_restore: dict | None = None
        self.signalled: int | None = None
        self.found_handlers: dict = {}

    def _catch_stop_signals(self) -> None:
        # called once Lightning registered its own handlers; the ones found come back when fit or test ends
        if threading.current_thread() is threading.main_thread():  # as Lightning's: only there can it catch them
            self.found_handlers = {signum: signal.signal(signum, self._note_signal) for signum in STOP_SIGNALS}

    def _release_stop_signals(self) -> None:
        for signum, handler in self.found_handlers.items():
            signal.signal(signum, handler)
        self.found_handlers = {}

    def _note_signal(self, signum: int, frame: Any) -> None:
        self.signalled = signum
        signal.signal(signum, signal.SIG_DFL)
        print(f"{signal.Signals(signum).name}: stopping at the end of this step with a checkpoint "
              "(send it again to stop at once)", file=sys.stderr, flush=True)

    def _stop_if_signalled(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.signalled is None:
            return
        self.save(trainer, pl_module)
        raise Interrupted(f"{signal.Signals(self.signalled).name} at step {trainer.global_step}: stopped with a "
                          f"checkpoint at this step ({self.path}) and status 'interrupted'; the same command "
                          "resumes it", self.signalled)

    def save(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step == self.saved_step:
            return
        if not self.finite(pl_module):
            raise Diverged(f"training diverged at step {trainer.global_step}: non-finite parameters; "
                           f"the last finite checkpoint is kept ({self.path})")
        # the full state (optimizer, loops, callbacks), said so: left unset, Lightning logs its default at every save
        trainer.save_checkpoint(self.path, weights_only=False)
        self.saved_step = trainer.global_step

    def finite(self, pl_module: pl.LightningModule) -> bool:
        """Whether the weights may be saved (a pack's checkpoint asks this of its live members only)."""
        return all(torch.isfinite(p).all() for p in pl_module.parameters())

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.saved_step = trainer.global_step  # a resumed run does not write back the state it just read
        self._catch_stop_signals()
        if self.rng_to_restore is not None:  # here, not at load: nothing may draw from the RNG in between
            _set_rng_state(self.rng_to_restore)
            self.rng_to_restore = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if batch_idx + 1 >= trainer.num_training_batches:  # the epoch-end save comes after validation
            return
        if trainer.global_step - self.saved_step >= self.every_n_steps:
            self.save(trainer, pl_module)
        self._stop_if_signalled(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.save(trainer, pl_module)
        self._stop_if_signalled(trainer, pl_module)

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._catch_stop_signals()

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        self._stop_if_signalled(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.save(trainer, pl_module)
        self._release_stop_signals()

    # The handlers found go back before Lightning restores its own (it does so before the callbacks' teardown
    # hooks, and calls none when a run fails): after a run, as between a sweep's runs, a Ctrl-C acts as it did.
    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._release_stop_signals()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._release_stop_signals()

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        checkpoint[IDENTITY_KEY] = {**self.identity, "rng": _rng_state()}

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        self.rng_to_restore = checkpoint.get(IDENTITY_KEY, {}).get("rng")
        # Checkpoints written before the data module held the batch order keep it in the loop's loader state, which
        # today's loaders no longer take (Lightning would refuse the checkpoint): hand it to the data module, which
        # does. This runs after Lightning restored the data module and before it restores the loops.
        legacy = checkpoint.get("loops", {}).get("fit_loop", {}).get("state_dict", {}).pop("combined_loader", None)
        if legacy and trainer.datamodule is not None:
            trainer.datamodule.load_state_dict({"train_position": legacy[0]})


class DivergenceGuard(pl.Callback):
    """Stop a solo run with ``Diverged`` when ``MemberHealth`` finds it dead: a non-finite loss or gradient, or a
    loss that exploded.

    On the CPU each step is checked before its optimizer step can write a non-finite value into the weights. On an
    accelerator every check is a host sync that drains the step queue, so the health is read every
    ``every_n_steps`` steps and at each epoch end. Weights may then turn non-finite for up to that many steps, but
    never reach a checkpoint: ``RunCheckpoint`` refuses to save them. Which mode runs is decided by the model's
    device when training starts (``trainer.accelerator=auto`` included).
    """

    EXPLODED = MemberHealth.EXPLODED

    def __init__(self, every_n_steps: int = 100) -> None:
        self.every_n_steps = every_n_steps
        self.health = MemberHealth(1)
        self.checked_step = 0

    def state_dict(self) -> dict:  # the first loss's limit: a resumed run keeps the whole run's
        limit = float(self.health.loss_limit[0])
        return {"loss_limit": None if limit != limit else limit}

    def load_state_dict(self, state: dict) -> None:
        if state.get("loss_limit") is not None:
            self.health.loss_limit.fill_(state["loss_limit"])

    def _check_now(self, trainer: pl.Trainer, what: str) -> None:
        if self.every_n_steps == 1 and not self.health.alive.all():
            raise Diverged(f"training diverged at step {trainer.global_step}: {what}; "
                           "status 'diverged' is recorded and the last finite checkpoint is kept")

    def _read(self, trainer: pl.Trainer) -> None:
        if not self.health.alive.all():
            raise Diverged(f"training diverged between steps {self.checked_step} and {trainer.global_step}: a loss "
                           f"or gradient is not finite, or the loss exceeds {self.EXPLODED:g} times the first one; "
                           "status 'diverged' is recorded and the last finite checkpoint is kept")
        self.checked_step = trainer.global_step

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cpu":  # a check costs no sync there: check every step, before it is applied
            self.every_n_steps = 1

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        self.health.note_losses(loss.detach().reshape(1), trainer.global_step, trainer.current_epoch)
        self._check_now(trainer, f"the loss is not finite or exceeds {self.EXPLODED:g} times the first one")

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if grads:
            norm = torch.stack([torch.linalg.vector_norm(g) for g in grads]).sum()
            self.health.note_grad_norms(norm.reshape(1), trainer.global_step, trainer.current_epoch)
            self._check_now(trainer, "a gradient is not finite")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if trainer.global_step - self.checked_step >= self.every_n_steps:
            self._read(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._read(trainer)
