"""The one entry point: ``python -m ftn.train experiment=table2 pooling=lstm`` (add ``-m`` to sweep).

Builds everything from the Hydra config with ``instantiate``, trains, tests, and
leaves runs/<name>/<overrides>/ with checkpoints, the wandb run and summary.json.

A run is checked before anything starts (config values, the dataset, the checkpoint to resume, the run
folder's lock, and that the run and records folders are writable); a rejected run is one line on stderr and
leaves no run folder behind. Once it trains, a full or read-only disk is one line too, and SIGTERM or SIGINT
stop it with a checkpoint at that step, status "interrupted" and exit status 128 + the signal's number. The
steps, and the faults each one answers, are ``ftn.lifecycle``'s, which a pack (``ftn.packing``) goes through too.
"""
from __future__ import annotations

import sys
import warnings

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from .config import CONFIG_DIR
from .lifecycle import Member, SoloRun
from .runs import ConfigError, Interrupted, RunError
from .validation import check_choices

# Lightning 2.6 calls a torch pytree API that torch 2.13 deprecates, with a warning in every run: not ours to fix
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
# Lightning warns on every mid-epoch resume unless the loader itself is stateful; ours are restored by their data
# modules (the same batches from the same batch on: tests/test_lifecycle.py), so the warning is a false alarm
warnings.filterwarnings("ignore", message=r"You're resuming from a checkpoint that ended before the epoch ended")


def run(cfg: DictConfig) -> dict:
    """Train and test the run ``cfg`` describes, alone; returns its test metrics."""
    return SoloRun(Member.of_hydra_job(cfg)).run()[0]


@hydra.main(config_path=CONFIG_DIR, config_name="train", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except Interrupted as err:  # a sweep stops too
        err.exit()
    except RunError as err:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the sweep goes on with its other cells; Hydra reports this one (compactly) at the end
        sys.exit(str(err))  # one line on stderr, exit status 1, no traceback


def main() -> None:
    """The command line: a group option that names no config (``pooling=maxx``) is one line before Hydra composes."""
    try:
        check_choices(arg for arg in sys.argv[1:] if not arg.startswith("-"))
    except ConfigError as err:
        sys.exit(str(err))
    hydra_main()


if __name__ == "__main__":
    main()
