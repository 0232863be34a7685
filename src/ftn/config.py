"""The Hydra configs: where they live, the resolvers they use, and composing the training config outside a Hydra
app (a pack's members, the benchmarks, the tests) as ``python -m ftn.train`` composes it. Importing this module
registers the resolvers, so a config composed here resolves as the entry point's does."""
from __future__ import annotations

from pathlib import Path, PurePath
from typing import Iterable

from omegaconf import DictConfig, OmegaConf

from .identity import device_folder, run_folder_name
from .provenance import training_device

# Inside the package, so an installed ftn-train finds them from any directory (the repo's configs/ links here).
CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")


def device_path(base: str, accelerator: str) -> str:
    """``base``, or its ``gpu/`` subfolder for a run that trains on a GPU (``ftn.identity.device_folder``)."""
    return str(PurePath(base, device_folder(training_device(accelerator).type)))


OmegaConf.register_new_resolver("ftn_run_name", lambda overrides: run_folder_name(overrides), replace=True)
OmegaConf.register_new_resolver("ftn_device_path", device_path, replace=True)


def compose_train(overrides: Iterable[str], return_hydra_config: bool = False) -> DictConfig:
    """The ``train`` config with these command-line ``overrides``, as the entry point would compose it."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=return_hydra_config)
