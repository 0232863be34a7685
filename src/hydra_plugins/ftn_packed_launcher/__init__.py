"""Launchers that train a sweep's runs as packs (``ftn.packing``).

``hydra/launcher=packed``: the packs train in this process, one after another.

    python -m ftn.train -m experiment=table2 pooling=max,avg,lstm,lstm_shared seed=0,1,2 \
        dataset.augmentation=crop_flip hydra/launcher=packed

``hydra/launcher=slurm`` (and ``local``) with ``hydra.launcher.max_members=K``: one submitit task per pack, so one
SLURM job (one GPU) trains a pack; without it, one task per run, as submitit's own launchers do.

    python -m ftn.train -m experiment=table2 model.width=8,16 pooling=max,avg,lstm,lstm_shared seed=0,1,2,3,4 \
        dataset.augmentation=crop_flip hydra/launcher=slurm hydra.launcher.max_members=20

Jobs that differ only in seed and pooling form one pack (at most ``max_members``); packs that cannot merge (two
widths, say) run one after another, or as tasks of their own. Hydra wants its plugins in this namespace package;
the work is in ftn.packing.
"""

import json
from dataclasses import dataclass
from typing import Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher, SlurmLauncher


@dataclass
class PackedLauncherConf:
    _target_: str = "hydra_plugins.ftn_packed_launcher.PackedLauncher"
    max_members: int = 64  # a larger group is split into packs of at most this many


@dataclass
class PackingSlurmConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.ftn_packed_launcher.PackingSlurmLauncher"
    max_members: Optional[int] = None  # None: a task per run; K: a task per pack of at most K runs


@dataclass
class PackingLocalConf(LocalQueueConf):
    _target_: str = "hydra_plugins.ftn_packed_launcher.PackingLocalLauncher"
    max_members: Optional[int] = None  # as PackingSlurmConf's


store = ConfigStore.instance()
store.store(group="hydra/launcher", name="packed", node=PackedLauncherConf, provider="ftn")
# the bases of configs/hydra/launcher/slurm.yaml and local.yaml
store.store(group="hydra/launcher", name="ftn_slurm_base", node=PackingSlurmConf, provider="ftn")
store.store(group="hydra/launcher", name="ftn_local_base", node=PackingLocalConf, provider="ftn")


class PackedLauncher(Launcher):
    def __init__(self, max_members: int = 64) -> None:
        self.max_members = max_members
        self.hydra_context = self.config = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.hydra_context, self.config = hydra_context, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from ftn.packing import launch_packs

        jobs = [(initial_job_idx + i, list(overrides)) for i, overrides in enumerate(job_overrides)]
        return launch_packs(self.hydra_context, self.config, jobs, self.max_members)


class _TaskPerPack:
    """Mixed into a submitit launcher: with ``max_members``, the sweep's jobs are grouped into packs here, and each
    pack is one task, whose "overrides" are its jobs (numbers and overrides) as one JSON string. On the node the
    task runs ``launch_packs`` on them, as ``hydra/launcher=packed`` would, and hands back its members' returns."""

    def __init__(self, max_members: Optional[int] = None, **params) -> None:
        super().__init__(**params)
        self.max_members = max_members

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        if self.max_members is None:
            return super().launch(job_overrides, initial_job_idx)
        from ftn.packing import sweep_packs

        packs = sweep_packs(self.hydra_context, self.config, job_overrides, self.max_members)
        tasks = [[json.dumps([(initial_job_idx + i, list(job_overrides[i])) for i in pack])] for pack in packs]
        returns = {}
        for pack, members in zip(packs, super().launch(tasks, initial_job_idx)):
            returns.update(zip(pack, members))
        return [returns[i] for i in range(len(job_overrides))]

    def __call__(self, sweep_overrides, job_dir_key, job_num, job_id, singleton_state):
        if self.max_members is None:
            return super().__call__(sweep_overrides, job_dir_key, job_num, job_id, singleton_state)
        from hydra.core.singleton import Singleton
        from hydra.core.utils import setup_globals

        from ftn.packing import launch_packs

        Singleton.set_state(singleton_state)
        setup_globals()
        jobs = [(number, overrides) for number, overrides in json.loads(sweep_overrides[0])]
        return launch_packs(self.hydra_context, self.config, jobs, self.max_members)


class PackingSlurmLauncher(_TaskPerPack, SlurmLauncher):
    pass


class PackingLocalLauncher(_TaskPerPack, LocalLauncher):
    pass
