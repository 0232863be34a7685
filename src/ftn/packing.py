"""Run a pack: K runs that differ only in seed and pooling, trained as one model in one process (``Pack``).

``run_pack(cfgs)`` takes the members' composed configs (as ``ftn.train`` would run each alone) and gives every
member what its solo run has: its run folder (the same name and lock), its config hash, its ``summary.json`` and
committed record, its wandb run (group, tags, job type), its parked checkpoint. What is the pack's own:

- the checkpoint. One file holds the pack's state (the pack identity, every member's weights, optimizer, batch
  order and augmentation streams); each member's ``checkpoints/last.ckpt`` is a hard link to it. A member cannot
  resume alone from it (it is not a solo checkpoint, and a solo run refuses it in one line, as any checkpoint of
  another config): a pack resumes as the same pack, every member from the same step.
- the record names the pack (``pack``: its size, this member's index and every member's run folder).

Before anything starts, a pack whose members differ in another key, or that mixes augmentations, is one line.
"""
from __future__ import annotations

import contextlib
import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, run_job
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from .atomic import atomic_link
from .data.packed import PackedCifarData, check_packable
from .identity import config_hash, differing_keys, flatten, result_config
from .logging import (WANDB_ID, RunRecord, finish_wandb, link_wandb_run, record_folder, wandb_group, wandb_tags)
from .models.packed import Pack
from .parking import ParkedOnce, ParkRun, drop, unpark
from .pooling.packed import check_packable_pooling
from .runs import (CHECKPOINT, AtomicCheckpointIO, Diverged, Interrupted, RunCheckpoint, RunError, RunLock,
                   forget_checkpoint, resume_checkpoint)
from .tasks.packed import PackedClassification, member_metrics
from .train import file_system_errors_in_one_line, rejected_in_one_line, require_writable
from .validation import validate


def _member_key(key: str) -> bool:
    """What members of one pack may differ in: their seed and their pooling choice."""
    return key in ("seed", "dataset.seed") or key.startswith("pooling.")


@dataclass
class PackMember:
    """One run of a pack: its config (resolved, without the ``hydra`` node; ``run_dir`` set), its command-line
    overrides and its Hydra group choices (for its wandb tags)."""

    cfg: DictConfig
    overrides: list[str]
    choices: dict[str, str]


def check_pack(configs: list[dict]) -> None:
    """One line for members that differ in more than seed and pooling, or for the same run twice."""
    for k, config in enumerate(configs[1:], start=1):
        other = {key: v for key, v in differing_keys(configs[0], config).items() if not _member_key(key)}
        if other:
            key, (first, mine) = next(iter(other.items()))
            raise RunError(f"pack member {k} differs from member 0 in {key} ({mine!r}, member 0: {first!r}); allowed "
                           "in one pack: runs that differ in seed and pooling only")
    hashes = [config_hash(c) for c in configs]
    if len(set(hashes)) < len(hashes):
        raise RunError("a pack holds the same run twice; allowed: members that differ in seed or pooling")


def pack_identity(configs: list[dict]) -> dict:
    """What the pack's checkpoint is checked against: every member's result-changing config, in pack order."""
    return {"pack": [result_config(c) for c in configs]}


class PackCheckpoint(RunCheckpoint):
    """``RunCheckpoint`` for the pack: one file, hard-linked into every member's run folder; saved while the
    live members' weights are finite (a dead member's may not be)."""

    def __init__(self, run_dirs: list[Path], identity: dict, every_n_steps: int) -> None:
        super().__init__(run_dirs[0], identity, every_n_steps)
        self.links = [d / CHECKPOINT for d in run_dirs[1:]]

    def finite(self, pl_module: PackedClassification) -> bool:
        weights = pl_module.model.member_square_norms({p: p.detach() for p in pl_module.model.parameters()})
        return bool((weights.isfinite() | ~pl_module.health.alive).all())

    def save(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        saved = self.saved_step
        super().save(trainer, pl_module)
        if self.saved_step != saved:
            for link in self.links:
                atomic_link(self.path, link)


class MemberRecord(RunRecord):
    """A member's ``RunRecord``: the metrics under its prefix, renamed to the solo run's; its own logger; its
    solo model's parameter counts; and, once it died, the record as its solo run left it at its divergence."""

    def __init__(self, member: int, logger, solo_model: torch.nn.Module, pack: dict, **record) -> None:
        super().__init__(**record)
        self.member, self.logger, self.solo_model = member, logger, solo_model
        self.base["pack"] = pack
        self.frozen: dict | None = None  # its metrics at its last validation before it died

    def alive(self, trainer: pl.Trainer) -> bool:
        return bool(trainer.lightning_module.health.alive[self.member])

    def _metrics(self, trainer: pl.Trainer) -> dict:
        return self.frozen if self.frozen is not None else member_metrics(super()._metrics(trainer), self.member)

    def _loggers(self, trainer: pl.Trainer) -> list:
        return [self.logger]

    def _model(self, pl_module: pl.LightningModule) -> torch.nn.Module:
        return self.solo_model

    def _ended_at(self, trainer: pl.Trainer) -> tuple[int, int]:
        task = trainer.lightning_module
        if self.alive(trainer):
            return trainer.current_epoch, trainer.global_step
        return int(task.health.died_in_epoch[self.member]), int(task.health.died_at[self.member])

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.frozen is not None:
            return
        if not self.alive(trainer):  # died during this epoch: its record is the one of its last epoch
            self.frozen = {k: v for k, v in (self.history[-1] if self.history else {}).items()
                           if k not in ("epoch", "step")}
            return
        super().on_validation_end(trainer, pl_module)

    def status(self, trainer: pl.Trainer, pack_status: str) -> str:
        return "diverged" if pack_status in ("finished", "interrupted") and not self.alive(trainer) else pack_status


def _solo_model(cfg: DictConfig) -> torch.nn.Module:
    """A member's model, built as ``ftn.train`` builds it alone: under its seed, after its data module."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    instantiate(cfg.dataset)  # as the solo run: anything it draws comes before the model
    return instantiate(cfg.task).model


def _device(accelerator: str) -> torch.device:
    """Where Lightning will train: ``auto`` is the GPU where one is visible."""
    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if gpu else "cpu")


def check_fits(task: PackedClassification, datamodule: PackedCifarData, device: torch.device) -> None:
    """One forward and backward of a training batch on ``device``, before anything runs: a pack too large for the
    device's memory is one line. In eval mode, so no BN statistics or dropout streams move; gradients are dropped."""
    images = datamodule.raw["train"][0]
    x = torch.zeros(task.model.size, datamodule.batch_size, *images.shape[1:], device=device)
    model = task.model.to(device).eval()
    try:
        model(x).sum().backward()
    except torch.OutOfMemoryError:
        free, total = torch.cuda.mem_get_info(device) if device.type == "cuda" else (0, 0)
        raise RunError(f"a pack of {task.model.size} runs does not fit in the memory of {device} ({total / 2**30:.0f} "
                       f"GiB) at dataset.batch_size={datamodule.batch_size}; allowed: fewer members "
                       "(hydra.launcher.max_members, ftn.campaign --pack K)") from None
    finally:
        model.zero_grad(set_to_none=True)
        model.train()
        if device.type == "cuda":
            torch.cuda.empty_cache()


def run_pack(members: list[PackMember]) -> list[str]:
    """Train ``members`` as one pack (ordered by pooling, so each kind is one call per layer); returns each
    member's status ("finished" or "diverged"; an interrupted pack raises ``Interrupted``)."""
    cfgs = [m.cfg for m in members]
    run_dirs = [Path(cfg.run_dir) for cfg in cfgs]
    with contextlib.ExitStack() as stack:
        for d in run_dirs:
            stack.enter_context(RunLock(d))
        with file_system_errors_in_one_line():
            with contextlib.ExitStack() as rejected:  # a rejected pack leaves none of its run folders behind
                for d in run_dirs:
                    rejected.enter_context(rejected_in_one_line(d))
                configs = [OmegaConf.to_container(cfg, resolve=True) for cfg in cfgs]
                for config in configs:
                    validate(config)
                check_pack(configs)
                prepared = _prepare(cfgs, configs, run_dirs, [m.overrides for m in members])
            return _train(members, configs, run_dirs, *prepared)


def _prepare(cfgs, configs, run_dirs, overrides):
    identity = pack_identity(configs)
    parked = [record_folder(cfg.records_dir, cfg.name, d, c, o) for cfg, d, c, o in zip(cfgs, run_dirs, configs,
                                                                                          overrides)]
    seeds = [int(cfg.seed) for cfg in cfgs]
    dataset = {k: v for k, v in configs[0]["dataset"].items() if k not in ("_target_", "seed")}
    datamodule = PackedCifarData(seeds, **dataset)
    datamodule.prepare_data()
    models = [_solo_model(cfg) for cfg in cfgs]
    cfg0 = cfgs[0]  # the optimizer, schedule and compile choice every member shares
    task = PackedClassification(Pack(models, seeds), instantiate(cfg0.optimizer), configs[0]["schedule"],
                                compile=cfg0.task.get("compile", False),
                                channels_last=cfg0.task.get("channels_last", False))
    check_fits(task, datamodule, _device(cfg0.trainer.accelerator))
    ckpt_path = cfgs[0].ckpt_path
    if ckpt_path == "last":
        for d, folder in zip(run_dirs, parked):
            if folder:
                unpark(d, folder, identity)
    resumed = resume_checkpoint(ckpt_path, run_dirs[0], identity)
    for d, folder in zip(run_dirs, parked):
        require_writable((d / CHECKPOINT).parent, "run_dir")
        if folder:
            require_writable(folder, "records_dir")
        (d / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
        if ckpt_path is None:
            forget_checkpoint(d)
            (d / WANDB_ID).unlink(missing_ok=True)
            if folder:
                drop(folder)
    return identity, parked, models, datamodule, task, resumed


def _train(members, configs, run_dirs, identity, parked, models, datamodule, task, ckpt_path) -> list[str]:
    cfgs = [m.cfg for m in members]
    cfg0 = cfgs[0]
    pack_facts = {"size": len(cfgs), "members": [d.name for d in run_dirs]}
    loggers, records, parks = [], [], []
    parked_once = ParkedOnce(len(cfgs))  # the pack's checkpoint parked once, linked into each records folder
    for k, (cfg, d, config, mine) in enumerate(zip(cfgs, run_dirs, configs, (m.overrides for m in members))):
        label = "/".join(o for o in mine if not o.startswith(("experiment=", "ckpt_path="))) or "defaults"
        logger = instantiate(cfg.logger, run_dir=str(d), name=f"{cfg.name}/{label}", group=wandb_group(config))
        loggers.append(logger)
        records.append(MemberRecord(k, logger, models[k], {**pack_facts, "member": k}, run_dir=str(d),
                                    experiment=cfg.name, config=config, overrides=mine, seed=cfg.seed,
                                    fresh=cfg.ckpt_path is None, records_dir=cfg.records_dir))
        parks.append(ParkRun(d, parked[k], cfg.park_max_mib, parked_once) if parked[k] else None)
    checkpoint = PackCheckpoint(run_dirs, identity, cfg0.checkpoint_every_n_steps)
    trainer = instantiate(cfg0.trainer, logger=False, callbacks=[checkpoint, *records, *filter(None, parks)],
                          default_root_dir=str(run_dirs[0]), plugins=[AtomicCheckpointIO()],
                          enable_checkpointing=False)
    trainer.loggers = [_MemberLogger(logger, k) for k, logger in enumerate(loggers)]
    status = "failed"
    try:
        for k, (logger, config) in enumerate(zip(loggers, configs)):
            logger.experiment.tags = wandb_tags(config, members[k].choices, trainer.strategy.root_device.type)
            if run_dirs[k].parent.name == cfgs[k].name and logger.experiment.dir:
                link_wandb_run(logger, run_dirs[k].parent)
            logger.log_hyperparams({**config, "pack": {**pack_facts, "member": k}})
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
        trainer.test(task, datamodule=datamodule)
        status = "finished"
    except (Interrupted, Diverged) as stopped:
        status = stopped.status
        raise
    finally:
        statuses = [record.status(trainer, status) for record in records]
        for k, (record, park, logger) in enumerate(zip(records, parks, loggers)):
            try:
                record.write(trainer, statuses[k])
                if park and statuses[k] == "interrupted":
                    park.park(trainer.global_step)
                elif park and statuses[k] != "failed":
                    drop(parked[k])
            finally:
                finish_wandb(logger, statuses[k])
    return statuses


class _MemberLogger:
    """What Lightning sees of member k's wandb logger: the metrics under its prefix, renamed, and the pack's own
    (the learning rate); the others' are not its to log."""

    def __init__(self, logger, member: int) -> None:
        self.logger, self.member = logger, member

    def __getattr__(self, name: str):
        return getattr(self.logger, name)

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        self.logger.log_metrics(member_metrics(metrics, self.member), step)

    def log_hyperparams(self, params) -> None:
        pass  # each member's config and facts are logged to its own run, by run_pack and MemberRecord


# ---- the sweep: hydra/launcher=packed (hydra_plugins.ftn_packed_launcher) --------------------------------------
def _collect(task_cfg: DictConfig) -> PackMember:
    """A job's resolved config, under its own Hydra config (Hydra's job function while a sweep's jobs are
    gathered)."""
    hydra = HydraConfig.get()
    cfg = copy.deepcopy(task_cfg)
    OmegaConf.resolve(cfg)
    return PackMember(cfg, list(hydra.overrides.task), dict(hydra.runtime.choices))


def pack_key(config: dict) -> str:
    """Runs with equal keys may share a pack: everything but the member keys."""
    flat = flatten(result_config(config))
    return json.dumps({k: v for k, v in flat.items() if not _member_key(k)}, sort_keys=True, default=str)


def group_packs(configs: list[dict], max_members: int) -> list[list[int]]:
    """Job indices per pack, from the jobs' resolved configs: grouped by ``pack_key``, in sweep order, each pack
    ordered by pooling (so each kind is one call per layer) and split into packs of at most ``max_members``."""
    if isinstance(max_members, bool) or not isinstance(max_members, int) or max_members < 1:
        raise RunError(f"hydra.launcher.max_members={max_members!r}; allowed: an integer >= 1, the most runs in a pack")
    groups: dict[str, list[int]] = {}
    for index, config in enumerate(configs):
        groups.setdefault(pack_key(config), []).append(index)
    packs = []
    for indices in groups.values():
        by_pooling = sorted(indices, key=lambda i: json.dumps(configs[i]["pooling"], sort_keys=True))
        packs += [by_pooling[i:i + max_members] for i in range(0, len(by_pooling), max_members)]
    return packs


def sweep_packs(hydra_context, config: DictConfig, job_overrides, max_members: int) -> list[list[int]]:
    """``group_packs`` of a sweep's jobs, read from their sweep configs alone: nothing runs and no folder is made.
    Each pack is checked (``check_pack``, its augmentation and its members' pooling kinds): a refusal is one line,
    before any job's folder exists and before anything is submitted."""
    configs, launching = [], HydraConfig.instance().cfg
    try:
        for overrides in job_overrides:
            sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
            HydraConfig.instance().set_config(sweep_config)  # the sweep folder's interpolations read it
            sweep = sweep_config.hydra.sweep
            with read_write(sweep_config.hydra.runtime), open_dict(sweep_config.hydra.runtime):  # as run_job does
                sweep_config.hydra.runtime.output_dir = str((Path(str(sweep.dir)) / str(sweep.subdir)).absolute())
            HydraConfig.instance().set_config(sweep_config)  # it keeps a copy: again, with the job's folder
            configs.append(OmegaConf.to_container(_without_hydra(sweep_config), resolve=True))
    finally:
        HydraConfig.instance().cfg = launching  # the launcher's state, which submitted tasks take with them
    try:
        packs = group_packs(configs, max_members)
        for pack in packs:
            check_pack([configs[i] for i in pack])
            check_packable(configs[pack[0]]["dataset"])
            for i in pack:
                check_packable_pooling(instantiate(configs[i]["pooling"]))
    except (RunError, ValueError) as err:
        sys.exit(str(err))  # one line
    return packs


def launch_packs(hydra_context, config: DictConfig, jobs: list[tuple[int, list[str]]],
                 max_members: int) -> list[JobReturn]:
    """Check the packs of the jobs (each its number in the sweep and its overrides; ``sweep_packs``), gather every
    job as Hydra would run it (its folder, ``.hydra/`` and logging), then train the packs one after another. A
    pack that fails fails its members' jobs and the sweep goes on; a signal stops the sweep (exit status 128 + the
    signal's number, as ``ftn.train``)."""
    packs = sweep_packs(hydra_context, config, [overrides for _, overrides in jobs], max_members)
    returns = []
    for number, overrides in jobs:
        sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = sweep_config.hydra.job.num = number
        returns.append(run_job(hydra_context=hydra_context, task_function=_collect, config=sweep_config,
                               job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir"))
    members = [r.return_value for r in returns]
    for pack in packs:
        print(f"pack of {len(pack)}: " + "; ".join(" ".join(members[i].overrides) for i in pack), flush=True)
        try:
            statuses = run_pack([members[i] for i in pack])
        except Interrupted as err:
            print(err, file=sys.stderr, flush=True)
            sys.exit(128 + err.signum)
        except Exception as err:  # the members' jobs fail; Hydra reports them at the end of the sweep
            statuses = [err] * len(pack)
        for i, status in zip(pack, statuses):
            returns[i].return_value = status
            returns[i].status = JobStatus.FAILED if isinstance(status, Exception) else JobStatus.COMPLETED
    return returns


# ---- a pack from lists of overrides: python -m ftn.packing (ftn.campaign --pack) ----------------------------
def compose_member(overrides: list[str]) -> PackMember:
    """The member ``python -m ftn.train <overrides>`` would run: its config, with its run folder as Hydra names it
    (``hydra.run.dir``), and that folder's ``.hydra/`` files."""
    from hydra import compose, initialize_config_dir
    from hydra.core.utils import _save_config

    from .train import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    run_dir = Path(str(cfg.hydra.run.dir)).resolve()
    with read_write(cfg.hydra.runtime), open_dict(cfg.hydra.runtime):  # as Hydra's run_job sets it
        cfg.hydra.runtime.output_dir = str(run_dir)
    HydraConfig.instance().set_config(cfg)
    member = _collect(_without_hydra(cfg))
    _save_config(member.cfg, "config.yaml", run_dir / ".hydra")
    _save_config(cfg.hydra.overrides.task, "overrides.yaml", run_dir / ".hydra")
    return member


def _without_hydra(cfg: DictConfig) -> DictConfig:
    task = copy.deepcopy(cfg)
    with open_dict(task):
        del task["hydra"]
    return task


def main(argv: list[str] | None = None) -> None:
    """``python -m ftn.packing '<json list of overrides>' ...``: one pack, a member per argument."""
    members = [compose_member(json.loads(arg)) for arg in (argv if argv is not None else sys.argv[1:])]
    try:
        statuses = run_pack(members)
    except Interrupted as err:
        print(err, file=sys.stderr, flush=True)
        sys.exit(128 + err.signum)
    except RunError as err:
        sys.exit(str(err))
    for member, state in zip(members, statuses):
        print(f"{state}: {' '.join(member.overrides)}", flush=True)


if __name__ == "__main__":
    main()
