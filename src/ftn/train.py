"""The one entry point: ``python -m ftn.train experiment=table2 pooling=lstm`` (add ``-m`` to sweep).

Builds everything from the Hydra config with ``instantiate``, trains, tests, and
leaves runs/<name>/<overrides>/ with checkpoints, the wandb run and summary.json.
"""
from __future__ import annotations

from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from .logging import RunRecord

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


def resolve_ckpt(ckpt_path: str | None, run_dir: Path) -> str | None:
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        last = run_dir / "checkpoints" / "last.ckpt"
        return str(last) if last.exists() else None
    if not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path} is not a file; allowed: 'last', null or a checkpoint path")
    return ckpt_path


def run(cfg: DictConfig) -> dict:
    run_dir = Path(cfg.run_dir)
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.dataset)
    task = instantiate(cfg.task)
    config = OmegaConf.to_container(cfg, resolve=True)
    label = "/".join(o for o in overrides if not o.startswith(("experiment=", "ckpt_path="))) or "defaults"
    logger = instantiate(cfg.logger, run_dir=str(run_dir), name=f"{cfg.name}/{label}", group=cfg.name)
    logger.log_hyperparams(config)
    callbacks = [ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0),
                 RunRecord(str(run_dir), cfg.name, config, overrides, cfg.seed)]
    trainer = instantiate(cfg.trainer, logger=logger, callbacks=callbacks, default_root_dir=str(run_dir))
    trainer.fit(task, datamodule=datamodule, ckpt_path=resolve_ckpt(cfg.ckpt_path, run_dir))
    metrics = trainer.test(task, datamodule=datamodule)[0]
    logger.experiment.finish()
    return metrics


@hydra.main(config_path=CONFIG_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
