"""wandb (offline by default): each run's wandb run, its group, tags and status.

A run's wandb id lives in its run folder (``WANDB_ID``), so a resumed run continues the same wandb run. The wandb
run gets a group per configuration (seeds aggregate), tags naming the configuration, and at its end the run's
status. "online" without a reachable server logs offline instead.
"""
from __future__ import annotations

import functools
import hashlib
import os
import secrets
import socket
import threading
import warnings
from pathlib import Path
from urllib.parse import urlparse

from pytorch_lightning.loggers import WandbLogger

from .atomic import atomic_write_text
from .identity import cell_key

WANDB_ID = "wandb_id.txt"
REACH_TIMEOUT_S = 3.0


def _reachable(url: str) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``REACH_TIMEOUT_S`` (DNS included, hence the
    thread)."""
    parsed = urlparse(url)
    address = (parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80))
    opened = threading.Event()

    def connect() -> None:
        try:
            socket.create_connection(address, timeout=REACH_TIMEOUT_S).close()
            opened.set()
        except OSError:
            pass

    threading.Thread(target=connect, daemon=True).start()
    return opened.wait(REACH_TIMEOUT_S)


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
