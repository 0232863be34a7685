"""``hydra/launcher=packed``: a sweep's jobs grouped into packs and trained in this process (``ftn.packing``).

    python -m ftn.train -m experiment=table2 pooling=max,avg,lstm,lstm_shared seed=0,1,2 \
        dataset.augmentation=crop_flip hydra/launcher=packed

Jobs that differ only in seed and pooling form one pack (at most ``max_members``); packs that cannot merge (two
widths, say) run one after another. Hydra wants its plugins in this namespace package; the work is in ftn.packing.
"""

from dataclasses import dataclass
from typing import Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher


@dataclass
class PackedLauncherConf:
    _target_: str = "hydra_plugins.ftn_packed_launcher.PackedLauncher"
    max_members: int = 64  # a larger group is split into packs of at most this many


ConfigStore.instance().store(group="hydra/launcher", name="packed", node=PackedLauncherConf, provider="ftn")


class PackedLauncher(Launcher):
    def __init__(self, max_members: int = 64) -> None:
        self.max_members = max_members
        self.hydra_context = self.config = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.hydra_context, self.config = hydra_context, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from ftn.packing import launch_packs

        return launch_packs(self.hydra_context, self.config, job_overrides, initial_job_idx, self.max_members)
