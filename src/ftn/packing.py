"""Run a pack: K runs that differ only in seed and pooling, trained as one model in one process (``Pack``).

``run_pack(members)`` takes the members (``ftn.lifecycle.Member``: each a composed config, as ``ftn.train`` would
run it alone) and, through the lifecycle a solo run goes through (``ftn.lifecycle``), gives every member what its
solo run has: its run folder (the same name and lock), its config hash, its ``summary.json`` and committed record,
its wandb run (group, tags, job type), its parked checkpoint. What is the pack's own:

- the checkpoint. One file holds the pack's state (the pack identity, every member's weights, optimizer, batch
  order and augmentation streams); each member's ``checkpoints/last.ckpt`` is a hard link to it. A member cannot
  resume alone from it (it is not a solo checkpoint, and a solo run refuses it in one line, as any checkpoint of
  another config): a pack resumes as the same pack, every member from the same step.
- the record names the pack (``pack``: its size, this member's index and every member's run folder).

Before anything starts, a pack whose members differ in another key, or that mixes augmentations, is one line.
"""
from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, run_job
from hydra.errors import HydraException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from .atomic import atomic_link
from .data.packed import PackedCifarData, check_packable
from .identity import config_hash, differing_keys, result_config
from .config import compose_train
from .lifecycle import Member, RunSession, build_run
from .models.packed import Pack
from .pack_rule import member_key, shared_config, split_into_packs
from .pooling.packed import check_packable_pooling
from .provenance import training_device
from .record_files import SUMMARY, read_summary
from .run_record import RunRecord
from .runs import CHECKPOINT, Interrupted, RunCheckpoint, RunError, compose_error
from .tasks.packed import PackedClassification, member_metrics
from .validation import check_choices


def check_pack(configs: list[dict]) -> None:
    """One line for members that differ in more than seed and pooling (``ftn.pack_rule``), or for the same run
    twice."""
    for k, config in enumerate(configs[1:], start=1):
        other = {key: v for key, v in differing_keys(configs[0], config).items() if not member_key(key)}
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

    def trained_model(self, pl_module: pl.LightningModule) -> torch.nn.Module:
        self.solo_model.load_state_dict(pl_module.model.member_state_dict(self.member))
        return self.solo_model.to(pl_module.device)

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

    def status(self, trainer: pl.Trainer, session_status: str) -> str:
        # a member that died in a pack that was then interrupted stays "interrupted" until its pack ends: an ended
        # record would drop it from the campaign's queue, which would cut the survivors into a new pack that its
        # checkpoint (written for every member) no longer fits
        return "diverged" if session_status == "finished" and not self.alive(trainer) else session_status




def check_fits(task: PackedClassification, datamodule: PackedCifarData, device: torch.device) -> None:
    """One forward and backward of a training batch on ``device``, before anything runs: a pack too large for the
    device's memory is one line. In eval mode, so no BN statistics or dropout streams move; gradients are dropped."""
    images = datamodule.raw["train"][0]
    x = torch.zeros(task.model.size, datamodule.batch_size, *images.shape[1:], device=device)
    model = task.model.to(device).eval()
    try:
        model(x).sum().backward()
    except torch.OutOfMemoryError:
        total = torch.cuda.mem_get_info(device)[1] if device.type == "cuda" else 0
        raise RunError(f"a pack of {task.model.size} runs does not fit in the memory of {device} ({total / 2**30:.0f} "
                       f"GiB) at dataset.batch_size={datamodule.batch_size}; allowed: fewer members "
                       "(hydra.launcher.max_members, ftn.campaign --pack K)") from None
    finally:
        model.zero_grad(set_to_none=True)
        model.train()
        if device.type == "cuda":
            torch.cuda.empty_cache()


class PackRun(RunSession):
    """A pack's session (``ftn.lifecycle``): one data module with a batch order and crop/flip stream per member,
    one ``Pack`` of the members' solo models, one checkpoint file, and per member its record and wandb run."""

    def __init__(self, members: list[Member]) -> None:
        super().__init__(members)
        self.models: list[torch.nn.Module] = []  # the members' solo models, whose weights the pack holds

    def prepare(self) -> dict:
        configs = [m.config for m in self.members]
        check_pack(configs)
        seeds = [int(m.cfg.seed) for m in self.members]
        dataset = {k: v for k, v in configs[0]["dataset"].items() if k not in ("_target_", "seed")}
        self.datamodule = PackedCifarData(seeds, **dataset)
        self.datamodule.prepare_data()
        self.models = [build_run(m.cfg)[1].model for m in self.members]  # each as its solo run builds it
        # the optimizer, schedule, compile and memory layout choices every member shares
        self.task = PackedClassification(Pack(self.models, seeds), instantiate(self.cfg.optimizer),
                                         configs[0]["schedule"], compile=self.cfg.task.get("compile", False),
                                         channels_last=self.cfg.task.get("channels_last", False))
        check_fits(self.task, self.datamodule, training_device(self.cfg.trainer.accelerator))
        return pack_identity(configs)

    def checkpoint(self, identity: dict) -> PackCheckpoint:
        return PackCheckpoint([m.run_dir for m in self.members], identity, self.cfg.checkpoint_every_n_steps)

    def facts(self, index: int) -> dict:
        return {"pack": {"size": len(self.members), "members": [m.run_dir.name for m in self.members],
                         "member": index}}

    def record(self, index: int, member: Member, fresh: bool) -> MemberRecord:
        return MemberRecord(index, member.logger, self.models[index], self.facts(index)["pack"],
                            **member.record_args(fresh))

    def loggers(self) -> list:
        return [_MemberLogger(m.logger, k) for k, m in enumerate(self.members)]


def run_pack(members: list[Member]) -> list[str]:
    """Train ``members`` as one pack (ordered by pooling, so each kind is one call per layer); returns each
    member's status ("finished" or "diverged"; an interrupted pack raises ``Interrupted``)."""
    PackRun(members).run()
    return [m.status for m in members]


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
        pass  # each member's config and facts are logged to its own run, by the session and MemberRecord


# ---- the sweep: hydra/launcher=packed (hydra_plugins.ftn_packed_launcher) --------------------------------------
def _collect(task_cfg: DictConfig) -> Member:
    """A job's resolved config, under its own Hydra config (Hydra's job function while a sweep's jobs are
    gathered)."""
    cfg = copy.deepcopy(task_cfg)
    OmegaConf.resolve(cfg)
    return Member.of_hydra_job(cfg)


def group_packs(configs: list[dict], max_members: int) -> list[list[int]]:
    """Job indices per pack, from the jobs' resolved configs: grouped by what they share (``ftn.pack_rule``), in
    sweep order, each pack ordered by pooling (so each kind is one call per layer) and split into packs of at most
    ``max_members``."""
    if isinstance(max_members, bool) or not isinstance(max_members, int) or max_members < 1:
        raise RunError(f"hydra.launcher.max_members={max_members!r}; allowed: an integer >= 1, the most runs in a pack")
    pooling = [json.dumps(config["pooling"], sort_keys=True) for config in configs]
    return split_into_packs([shared_config(config) for config in configs], pooling, max_members)


def sweep_packs(hydra_context, config: DictConfig, job_overrides, max_members: int) -> list[list[int]]:
    """``group_packs`` of a sweep's jobs, read from their sweep configs alone: nothing runs and no folder is made.
    Each pack is checked (``check_pack``, its augmentation and its members' pooling kinds): a refusal is one line,
    before any job's folder exists and before anything is submitted."""
    configs, launching = [], HydraConfig.instance().cfg
    try:
        for overrides in job_overrides:
            sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
            _enter_job(sweep_config, "hydra.sweep.dir", "hydra.sweep.subdir")
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
            err.exit()
        except Exception as err:  # the members' jobs fail; Hydra reports them at the end of the sweep
            statuses = [err] * len(pack)
        for i, status in zip(pack, statuses):
            returns[i].return_value = status
            returns[i].status = JobStatus.FAILED if isinstance(status, Exception) else JobStatus.COMPLETED
    return returns


# ---- a pack from lists of overrides: python -m ftn.packing (ftn.campaign --pack) ----------------------------
def compose_member(overrides: list[str]) -> Member:
    """The member ``python -m ftn.train <overrides>`` would run: its config, with its run folder as Hydra names it
    (``hydra.run.dir``), and that folder's ``.hydra/`` files."""
    from hydra.core.utils import _save_config

    check_choices(overrides)
    cfg = compose_train(overrides, return_hydra_config=True)
    run_dir = _enter_job(cfg, "hydra.run.dir")
    member = _collect(_without_hydra(cfg))
    _save_config(member.cfg, "config.yaml", run_dir / ".hydra")
    _save_config(cfg.hydra.overrides.task, "overrides.yaml", run_dir / ".hydra")
    return member


def _enter_job(cfg: DictConfig, *folder_keys: str) -> Path:
    """Make ``cfg`` Hydra's current job, its output folder (``folder_keys``' values joined, absolute) set as Hydra's
    ``run_job`` sets it; returns that folder. The run's own keys that read it (``run_dir``) then resolve."""
    HydraConfig.instance().set_config(cfg)  # the folder's interpolations read it
    folder = Path(os.path.abspath(os.path.join(*(str(OmegaConf.select(cfg, key)) for key in folder_keys))))
    with read_write(cfg.hydra.runtime), open_dict(cfg.hydra.runtime):
        cfg.hydra.runtime.output_dir = str(folder)
    HydraConfig.instance().set_config(cfg)  # it keeps a copy: again, with the job's folder
    return folder


def _without_hydra(cfg: DictConfig) -> DictConfig:
    task = copy.deepcopy(cfg)
    with open_dict(task):
        del task["hydra"]
    return task


def member_overrides(args: list[str]) -> list[list[str]]:
    """Each argument's list of overrides; ``RunError`` (one line) for no argument or one that is no such list."""
    if not args:
        raise RunError("no pack member given; allowed: one JSON list of overrides per member")
    lists = []
    for k, arg in enumerate(args):
        try:
            overrides = json.loads(arg)
        except json.JSONDecodeError:
            overrides = None
        if not (isinstance(overrides, list) and all(isinstance(o, str) for o in overrides)):
            raise RunError(f"pack member {k} is {arg!r}; allowed: a JSON list of overrides, such as "
                           '\'["experiment=table2", "seed=0"]\'')
        lists.append(overrides)
    return lists


def main(argv: list[str] | None = None) -> None:
    """``python -m ftn.packing '<json list of overrides>' ...``: one pack, a member per argument."""
    try:
        members = [compose_member(o) for o in member_overrides(argv if argv is not None else sys.argv[1:])]
    except RunError as err:
        sys.exit(str(err))
    except (HydraException, OmegaConfBaseException) as err:  # an unknown key
        sys.exit(compose_error(err))
    try:
        statuses = run_pack(members)
    except Interrupted as err:
        err.exit()
    except RunError as err:
        sys.exit(str(err))
    for member, state in zip(members, statuses):
        steps = read_summary(member.run_dir / SUMMARY).get("steps")
        print(f"{state} at step {steps}: {' '.join(member.overrides)}", flush=True)
    if any(state != "finished" for state in statuses):  # as a solo run that diverged: its record says so, exit 1
        sys.exit("a pack member did not finish (diverged: lower optimizer.lr, or see its record); the others' "
                 "records are complete")


if __name__ == "__main__":
    main()
