"""Runs that survive: kill and resume, one process per run, divergence, caches, records, bad input.

Subprocess tests run the real command line on tiny generated data for a few steps.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from ftn.atomic import atomic_write_text
from ftn.data.cifar import CifarData, DeviceBatches, balanced_subset
from ftn.identity import cell_key, config_hash, run_folder_name
from ftn.parking import PARKED, ParkedOnce, ParkRun, drop, unpark
from ftn.results import main as results_main
from ftn.record_files import SUMMARY
from ftn.runs import CHECKPOINT, Diverged, DivergenceGuard, RunError, RunLock
from ftn.tracking import wandb_mode
from ftn.train import run

from test_data import write_image_folder_archive

SRC = str(Path(__file__).resolve().parents[1] / "src")
SMOKE = ["dataset=synthetic", "schedule=smoke", "trainer.enable_progress_bar=false", "trainer.accelerator=cpu",
         "records_dir=null", "model.width=4"]


def _env(**extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": SRC, "WANDB_SILENT": "true", "WANDB_MODE": "disabled", **extra}


def _train_cmd(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "ftn.train", *overrides]


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / SUMMARY).read_text())


# ---- identity ------------------------------------------------------------------------------------------------
def test_folder_name_keeps_result_keys_and_drops_display_only_ones():
    name = run_folder_name(["pooling=lstm", "dataset.root=../d/x.tar.gz", "trainer.enable_progress_bar=false",
                            "logger.mode=disabled", "experiment=table2", "dataset.cache_dir=/c", "pooling.impl=fused"])
    assert name == "dataset.root=..%2Fd%2Fx.tar.gz,pooling=lstm"
    assert run_folder_name(["seed=1", "trainer=cpu"]) == "seed=1" and run_folder_name([]) == "defaults"
    assert len(run_folder_name([f"+x{i}=1" for i in range(100)])) <= 200


def test_hash_ignores_display_only_keys_and_cells_ignore_only_the_seed():
    base = {"seed": 0, "trainer": {"max_steps": 4, "enable_progress_bar": True}, "pooling": {"kind": "lstm", "impl": "auto"},
            "model": {"width": 8, "pool": {"kind": "lstm", "impl": "auto"}}, "dataset": {"seed": 0, "cache_dir": "a"},
            "optimizer": {"lr": 0.01}}
    shown = json.loads(json.dumps(base))
    shown["trainer"]["enable_progress_bar"] = False
    shown["pooling"]["impl"] = shown["model"]["pool"]["impl"] = "fused"
    shown["dataset"]["cache_dir"] = "b"
    assert config_hash(shown) == config_hash(base)
    other_seed = json.loads(json.dumps(base))
    other_seed["seed"] = other_seed["dataset"]["seed"] = 1
    assert config_hash(other_seed) != config_hash(base) and cell_key(other_seed) == cell_key(base)
    other_lr = json.loads(json.dumps(base))
    other_lr["optimizer"]["lr"] = 1e30
    assert cell_key(other_lr) != cell_key(base)


def test_a_key_added_later_keeps_the_old_records_identity_at_its_default():
    old = {"seed": 0, "dataset": {"seed": 0, "augment": True}}
    kornia = json.loads(json.dumps(old))
    kornia["dataset"]["augmentation"] = "kornia"
    own = json.loads(json.dumps(old))
    own["dataset"]["augmentation"] = "crop_flip"
    assert config_hash(kornia) == config_hash(old) and cell_key(kornia) == cell_key(old)
    assert config_hash(own) != config_hash(old) and cell_key(own) != cell_key(old)
    assert run_folder_name(["seed=0", "dataset.augmentation=kornia"]) == "seed=0"
    assert run_folder_name(["dataset.augmentation=crop_flip"]) == "dataset.augmentation=crop_flip"


@pytest.mark.parametrize("value,same", [("map", True), ("layer", False)])
def test_mixed_poolings_draw_key_keeps_the_committed_mixed_records_cell_at_its_default(value, same):
    old = {"seed": 0, "pooling": {"kind": "mixed"}}
    new = {"seed": 0, "pooling": {"kind": "mixed", "draw": value}}
    assert (cell_key(new) == cell_key(old)) is same and (config_hash(new) == config_hash(old)) is same


# ---- data ----------------------------------------------------------------------------------------------------
def test_limit_picks_a_seeded_class_balanced_subset():
    labels = torch.arange(10).repeat_interleave(50)  # class-sorted, like the decoded splits
    keep = balanced_subset(labels, 20)
    assert torch.bincount(labels[keep], minlength=10).tolist() == [2] * 10
    assert torch.equal(keep, balanced_subset(labels, 20)) and not torch.equal(keep, balanced_subset(labels, 20, seed=1))
    assert len(set(balanced_subset(labels, 500).tolist())) == 500


def test_device_batches_resume_mid_epoch_in_the_same_order():
    x, y = torch.arange(40.0)[:, None], torch.arange(40)
    straight = DeviceBatches(x, y, 4, shuffle=True, seed=3)
    first = [b[1] for b in straight] + [b[1] for b in straight]  # two epochs
    interrupted = DeviceBatches(x, y, 4, shuffle=True, seed=3)
    seen = [b[1] for b in interrupted]
    it = iter(interrupted)
    seen += [next(it)[1] for _ in range(3)]  # killed after 3 batches of epoch 2
    resumed = DeviceBatches(x, y, 4, shuffle=True, seed=99)
    resumed.seek(interrupted.position())
    assert torch.equal(resumed.position()["generator"], interrupted.position()["generator"])  # saved again at once
    seen += [b[1] for b in resumed]
    assert all(torch.equal(a, b) for a, b in zip(first, seen, strict=True))


def test_table1_sequences_resume_mid_epoch_with_the_same_items():
    from ftn.data.sequences import SequenceData

    make = lambda: SequenceData(seq_len=4, batch_size=3, train_batches=10, steps_per_item=2,
                                zero_fractions=(0.0, 0.5), seed=7).train_dataloader()
    straight = make()
    first = list(straight) + list(straight)  # two epochs, each its own items
    interrupted = make()
    seen = list(interrupted)
    it = iter(interrupted)
    seen += [next(it) for _ in range(3)]  # killed after 3 items of epoch 2
    resumed = make()
    resumed.seek(interrupted.position())
    assert resumed.position() == interrupted.position() == {"epoch": 1, "served": 3}  # saved again at once
    seen += list(resumed)
    assert not torch.equal(first[0], first[5]) and len(seen) == 10
    assert all(torch.equal(a, b) for a, b in zip(first, seen, strict=True))


def test_corrupt_caches_are_rebuilt_with_a_warning_that_names_them(tmp_path):
    dm = CifarData("synthetic", "synthetic", ".", cache_dir=str(tmp_path), batch_size=16, synthetic_size=8)
    dm.setup()
    reference = dm.splits["train"][0].clone()
    split, whitening = tmp_path / f"{dm._cache_key()}.pt", tmp_path / f"{dm._cache_key()}-gcnzca.pt"
    split.write_bytes(split.read_bytes()[:100])  # a kill during an old-style save
    whitening.write_bytes(b"garbage")
    fresh = CifarData("synthetic", "synthetic", ".", cache_dir=str(tmp_path), batch_size=16, synthetic_size=8, seed=5)
    with pytest.warns(UserWarning) as caught:
        fresh.setup()
    assert {str(split), str(whitening)} <= {w for c in caught for w in str(c.message).split() if w.startswith("/")}
    assert torch.equal(fresh.splits["train"][0], reference)  # same data and whitening for every seed
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([split.name, whitening.name])  # no temp files left


def test_a_cache_that_reads_but_holds_other_content_is_rebuilt(tmp_path):
    dm = CifarData("synthetic", "synthetic", ".", cache_dir=str(tmp_path), batch_size=16, synthetic_size=8)
    dm.setup()
    split = tmp_path / f"{dm._cache_key()}.pt"
    torch.save({"train": dm.splits["train"]}, split)  # no test split: a run would fail at its test
    fresh = CifarData("synthetic", "synthetic", ".", cache_dir=str(tmp_path), batch_size=16, synthetic_size=8)
    with pytest.warns(UserWarning, match=f"cache {split} is unreadable"):
        fresh.setup()
    assert torch.equal(fresh.splits["test"][1], dm.splits["test"][1])


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path):
    target = tmp_path / "summary.json"
    atomic_write_text(target, "old")

    class Killed(BaseException):
        pass

    def dies(tmp: Path) -> None:
        tmp.write_text("half")
        raise Killed

    from ftn.atomic import atomic_write

    with pytest.raises(Killed):
        atomic_write(target, dies)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_link_onto_the_file_it_already_is_leaves_no_temp_link(tmp_path):
    from ftn.atomic import atomic_link

    source = tmp_path / "last.ckpt"
    source.write_bytes(b"state")
    atomic_link(source, tmp_path / "resume.ckpt")
    atomic_link(tmp_path / "resume.ckpt", tmp_path / "resume.ckpt")  # a pack's member parking an unchanged file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "resume.ckpt"]


def test_a_written_file_gets_the_mode_the_umask_gives_not_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "summary.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "summary.json").stat().st_mode & 0o777 == 0o644


def test_a_rerun_removes_the_temp_files_a_killed_writer_left(tmp_path, compose_cfg):
    run_dir = tmp_path / "run"
    (run_dir / CHECKPOINT).parent.mkdir(parents=True)
    stale = [(run_dir / CHECKPOINT).parent / ".last.ckpt.k1ll3d.tmp", run_dir / ".summary.json.x.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    run(compose_cfg([*SMOKE, f"dataset.cache_dir={tmp_path}/cache"], run_dir))
    assert not any(path.exists() for path in stale)
    assert (run_dir / CHECKPOINT).exists()


# ---- bad input: one line naming the key, before any wandb run or run folder ---------------------------------
def _truncated_archive(tmp_path: Path) -> str:
    archive = write_image_folder_archive(tmp_path)
    archive.write_bytes(archive.read_bytes()[:300])
    archive.with_name(archive.name + ".sha256").unlink()
    return str(archive)


def _garbage_checkpoint(tmp_path: Path) -> str:
    (tmp_path / "garbage.ckpt").write_bytes(b"not a checkpoint")
    return str(tmp_path / "garbage.ckpt")


BAD_VALUES = [  # (overrides, pattern the one-line message must match)
    (["model.width=0"], r"model.width=0 is invalid; allowed: a positive integer"),
    (["model.width=-8"], r"model.width=-8 is invalid"),
    (["model.width=abc"], r"model.width='abc' is invalid"),
    (["seed=abc"], r"seed='abc' is invalid; allowed: an integer"),
    (["seed=-1"], r"seed=-1 is invalid; allowed: an integer in \[0, 2\^32 - 1\]"),
    (["schedule.milestones=[100,50]"], r"schedule.milestones=\[100, 50\] is invalid; allowed: a list of increasing"),
    (["optimizer.momentum=2"], r"optimizer.momentum=2 is invalid; allowed: a number in \[0, 1\)"),
    (["trainer.gradient_clip_val=-1"], r"trainer.gradient_clip_val=-1 is invalid; allowed: null \(no clipping\)"),
    (["pooling=rank", "pooling.alpha=2"], r"pooling.alpha=2 is invalid; allowed: a float in \(0, 1\] \(pooling=rank\)"),
    (["dataset.batch_size=0"], r"dataset.batch_size=0 is invalid"),
    (["optimizer.lr=-1"], r"optimizer.lr=-1 is invalid; allowed: a finite number > 0"),
    (["trainer.devices=2"], r"trainer.devices=2 is invalid; allowed: 1 \(the on-device batches are not sharded"),
    (["checkpoint_every_n_steps=0"], r"checkpoint_every_n_steps=0 is invalid"),
    (["pooling=lstm", "pooling.scan=diagonal"], r"pooling.scan='diagonal' is unknown; allowed: row, "),
    (["park_max_mib=-1"], r"park_max_mib=-1 is invalid; allowed: a number of MiB >= 0"),
    (["park_max_mib=false"], r"park_max_mib=false is invalid"),  # as typed, not Python's False
    (["seed=true"], r"seed=true is invalid; allowed: an integer"),
    (["dataset.limit_train=8"], r"dataset.limit_train=8 leaves 8 training images, fewer than dataset.batch_size=16"),
    (["dataset=cifar10_jpeg", "dataset.root={tmp}/missing.tar.gz"], r"dataset.root=.*missing.tar.gz does not exist"),
    (["dataset=cifar10_jpeg", "dataset.root={truncated}"], r"dataset.root=.*tiny.tar.gz: not a readable tar archive"),
    (["dataset=cifar100", "dataset.root={tmp}/c100"], r"dataset.root=.*c100: cifar100 is not there and downloading it failed"),
    (["ckpt_path={garbage}"], r"ckpt_path=.*garbage.ckpt is not a readable checkpoint"),
    (["ckpt_path={tmp}/none.ckpt"], r"ckpt_path=.*none.ckpt is not a file"),
    (["dataset=cifar10_jpeg", "dataset.root={garbage}"], r"dataset.root=.*garbage.ckpt: not a readable tar archive "
                                                         r"\(.*\); allowed: a complete"),
    # the Trainer is built after the logger: its own checks would leave a run folder and a wandb run behind
    (["trainer.accelerator=tpuu"], r"trainer.accelerator='tpuu' is invalid; allowed: cpu or gpu or cuda or auto"),
    (["trainer.max_epochs=-5"], r"trainer.max_epochs=-5 is invalid; allowed: null or -1 \(no limit\)"),
    (["dataset.cache_dir={garbage}"], r"dataset.cache_dir: .*garbage.ckpt is not writable \(Not a directory\)"),
    # each of these trained, or failed in a traceback once the wandb run existed, before it had a rule
    (["schedule.gamma=-1"], r"schedule.gamma=-1 is invalid; allowed: a number in \(0, 1\]"),
    (["dataset.num_classes=0"], r"dataset.num_classes=0 is invalid; allowed: an integer >= 2"),
    (["dataset.synthetic_size=0"], r"dataset.synthetic_size=0 is invalid; allowed: a positive integer"),
    (["model.negative_slope=abc"], r"model.negative_slope='abc' is invalid; allowed: a number in \[0, 1\]"),
    (["model.dropout=2.0"], r"model.dropout=2.0 is invalid; allowed: a number in \[0, 1\]"),
    (["task.compile=bogus"], r"task.compile='bogus' is invalid; allowed: false, true, default, reduce-overhead"),
    (["name=../escape"], r"name='../escape' is invalid; allowed: a non-empty name without '/'"),
    (["pooling=max", "+pooling.init=avg_soft"], r"pooling.init='avg_soft' is not a key of pooling=max; allowed: only"),
    (["+modle.width=8"], r"modle: not a key of the train config; allowed: checkpoint_every_n_steps, ckpt_path, "),
    (["pooling=lstm", "pooling.impl=bogus"], r"pooling.impl='bogus' is unknown; allowed: auto, fused, reference"),
    # a key the built class does not take stopped instantiate with a TypeError traceback
    (["+model.foo=1"], r"^model.foo: not an argument of ftn.models.ConvNet; allowed: width, pool, num_classes, "),
    (["+trainer.foo=1"], r"^trainer.foo: not an argument of pytorch_lightning.Trainer; allowed: accelerator, "),
    (["+schedule.foo=1"], r"^schedule.foo: not a key of the schedule; allowed: gamma, max_epochs, max_steps, "),
    (["model._target_=ftn.models.Nope"], r"^model._target_='ftn.models.Nope' cannot be imported \(.*\); allowed"),
]


@pytest.mark.parametrize("accelerator", ["gpu", "cuda"])
def test_a_gpu_run_on_a_machine_without_one_is_one_line(accelerator, monkeypatch):
    from ftn.runs import ConfigError
    from ftn.validation import validate

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on CI, and on a GPU host too
    with pytest.raises(ConfigError, match=rf"^trainer.accelerator='{accelerator}' is invalid; allowed: cpu or auto: "
                                          "torch sees no GPU on this machine$"):
        validate({"trainer": {"accelerator": accelerator}})
    validate({"trainer": {"accelerator": "auto"}})


@pytest.mark.parametrize("overrides, message", BAD_VALUES, ids=[" ".join(o) for o, _ in BAD_VALUES])
def test_bad_values_are_one_line_before_anything_starts(overrides, message, tmp_path, compose_cfg, monkeypatch):
    import urllib.request
    from urllib.error import URLError

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)  # dataset=cifar100 offline, whatever this machine has
    paths = {"tmp": tmp_path, "truncated": _truncated_archive(tmp_path) if "{truncated}" in " ".join(overrides) else "",
             "garbage": _garbage_checkpoint(tmp_path)}
    run_dir = tmp_path / "run"
    cfg = compose_cfg([*SMOKE, f"dataset.cache_dir={tmp_path}/cache", *(o.format(**paths) for o in overrides)], run_dir)
    with pytest.raises(RunError, match=message) as err:
        run(cfg)
    assert "\n" not in str(err.value)
    assert not run_dir.exists()  # no folder, lock, checkpoint or wandb run left behind


def test_a_key_the_chosen_groups_lack_is_one_line_and_leaves_no_folder(tmp_path, compose_cfg):
    """Table 1's task reads dataset.seq_len, which a CIFAR-like dataset lacks: Hydra printed the interpolation's
    error, and the run folder stayed."""
    run_dir = tmp_path / "run"
    with pytest.raises(RunError, match=r"^task.seq_len: Interpolation key 'dataset.seq_len' not found; allowed: "
                                       r"group choices that have every key the config reads") as err:
        run(compose_cfg(["experiment=table1", "dataset=synthetic"], run_dir))
    assert "\n" not in str(err.value) and not run_dir.exists()


@pytest.mark.parametrize("overrides, refused", [
    (["pooling=maxx"], "pooling=maxx"), (["pooling="], "pooling="), (["-m", "pooling=max,,avg"], "pooling="),
    (["experiment=table9"], "experiment=table9"), (["hydra/launcher=packd"], "hydra/launcher=packd"),
    # what Hydra words well itself, or that is not a group choice: left to it
    (["pooling=max,avg", "hydra/launcher=packed", "+pooling.init=avg_soft", "pooling=choice(max,avg)",
      "model.width=8", "pooling@x=max"], None),
])
def test_a_group_option_without_a_config_is_refused_before_hydra_composes(overrides, refused):
    from ftn.runs import ConfigError
    from ftn.validation import check_choices

    if refused is None:
        check_choices(overrides)
        return
    with pytest.raises(ConfigError, match=rf"^{refused}: not an option of the [\w/]+ config group; allowed: "):
        check_choices(overrides)


@pytest.mark.parametrize("override, message", [
    ("model.width=abc", "model.width='abc' is invalid; allowed: a positive integer"),
    # before Hydra composes, whose own message lists the options over twenty lines
    ("pooling=max,maxx", "pooling=maxx: not an option of the pooling config group; allowed: avg, gated, gru, "),
])
def test_command_line_rejects_a_bad_value_in_one_line_and_leaves_no_folder(override, message, tmp_path):
    run_dir = tmp_path / "runs" / "x"
    out = subprocess.run(_train_cmd(*SMOKE, override, f"hydra.run.dir={run_dir}"), cwd=tmp_path,
                         env=_env(), capture_output=True, text=True)
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.strip() and "HYDRA_FULL_ERROR" not in line]
    assert len(lines) == 1 and lines[0].startswith(message), out.stderr
    assert not run_dir.parent.exists()  # nor an empty runs/<name>/ folder


# ---- identity on resume, ckpt_path=null, reruns keep their record ---------------------------------------------
def test_resume_refuses_another_configs_checkpoint_and_null_starts_afresh(tmp_path, compose_cfg):
    run_dir = tmp_path / "run"
    run(compose_cfg(SMOKE, run_dir))
    first = _summary(run_dir)
    rerun = run(compose_cfg(SMOKE, run_dir))  # finished: 0 more steps, the record keeps what it had
    kept = _summary(run_dir)
    assert kept["steps"] == 4 and kept["history"] == first["history"]
    assert set(first["metrics"]) <= set(kept["metrics"]) and rerun["final_test/loss"] == first["metrics"]["final_test/loss"]
    with pytest.raises(RunError, match=r"written by a different config \(optimizer.lr: 0.01 -> 0.5\)"):
        run(compose_cfg([*SMOKE, "optimizer.lr=0.5"], run_dir))
    run(compose_cfg([*SMOKE, "ckpt_path=null", "trainer.max_steps=2"], run_dir))  # afresh, stops early
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["last.ckpt"]  # never last-v1.ckpt
    fresh = _summary(run_dir)
    assert fresh["steps"] == 2 and fresh["resumed_at_steps"] == [] and fresh["wandb_run_id"] != first["wandb_run_id"]


def test_a_run_with_no_checkpoint_to_resume_starts_its_record_afresh(tmp_path, compose_cfg):
    run_dir = tmp_path / "run"
    run(compose_cfg([*SMOKE, "schedule.max_steps=2"], run_dir))
    # as an attempt on another machine, cut off before its first checkpoint, leaves its folder
    (run_dir / CHECKPOINT).unlink()
    left = {**_summary(run_dir), "device": "cuda", "commits": ["aaaaaaa"], "wall_time_s": 1e6}
    (run_dir / SUMMARY).write_text(json.dumps(left))
    run(compose_cfg(SMOKE, run_dir))  # ckpt_path=last finds none: from step 0, and nothing of that attempt counts
    again = _summary(run_dir)
    assert again["device"] == "cpu" and "aaaaaaa" not in again["commits"] and again["wall_time_s"] < 1e6


def test_second_live_process_is_refused(tmp_path, compose_cfg):
    run_dir = tmp_path / "run"
    with RunLock(run_dir):
        with pytest.raises(RunError, match=r"is in use by another live process \(pid \d+"):
            run(compose_cfg(SMOKE, run_dir))
        assert (run_dir / ".lock").exists()  # the refused run does not clean up the live run's folder
    run(compose_cfg(SMOKE, run_dir))  # released: the next run proceeds


def _unwritable(folder: Path, monkeypatch, errno_: int) -> None:
    """``folder`` refuses new files with ``errno_`` (chmod does not stop root, and a test cannot mount)."""
    import tempfile

    probe = tempfile.TemporaryFile

    def refused(*args, dir=None, **kwargs):
        if Path(dir) == folder:
            raise OSError(errno_, os.strerror(errno_))
        return probe(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", refused)


def test_unwritable_checkpoint_folder_is_refused(tmp_path, compose_cfg, monkeypatch):
    import errno

    # checked before checkpoints/ exists, on the nearest folder that does: the run folder (its lock is in it)
    _unwritable(tmp_path / "run", monkeypatch, errno.EACCES)
    with pytest.raises(RunError, match=rf"^run_dir: {tmp_path / 'run'} is not writable \(Permission denied\)"):
        run(compose_cfg(SMOKE, tmp_path / "run"))
    assert not (tmp_path / "run").exists()


# ---- divergence ------------------------------------------------------------------------------------------------
def test_divergence_check_mode_follows_the_models_device():
    """Decided where the model is when training starts, not from the config (trainer.accelerator=auto)."""
    from types import SimpleNamespace
    guard = DivergenceGuard(every_n_steps=100)
    import pytorch_lightning as pl
    guard.on_train_start(SimpleNamespace(global_step=0), pl.LightningModule())  # on the CPU
    assert guard.every_n_steps == 1


def test_folded_divergence_check_reads_the_flag_every_n_steps():
    """The GPU mode: a non-finite loss is only noted on the device; the read at the next interval raises."""
    from types import SimpleNamespace
    guard, trainer = DivergenceGuard(every_n_steps=5), SimpleNamespace(global_step=0, current_epoch=0)
    for step in range(1, 5):
        trainer.global_step = step
        guard.on_before_backward(trainer, None, torch.tensor(float("nan") if step == 2 else 1.0))
        guard.on_train_batch_end(trainer, None, None, None, step)  # no read yet: no host sync, no raise
    trainer.global_step = 5
    with pytest.raises(Diverged, match="between steps 0 and 5"):
        guard.on_train_batch_end(trainer, None, None, None, 5)
    finite = DivergenceGuard(every_n_steps=5)
    finite.on_before_backward(trainer, None, torch.tensor(1.0))
    finite.on_train_epoch_end(trainer, None)
    assert finite.health.alive.all() and finite.checked_step == 5


def test_diverging_run_stops_is_recorded_and_stays_out_of_the_table(tmp_path, compose_cfg):
    common = [*SMOKE, "experiment=table2", "schedule.max_steps=12"]
    with pytest.raises(Diverged, match=r"training diverged at step \d+"):
        run(compose_cfg([*common, "optimizer.lr=1e30"], tmp_path / "runs" / "table2" / "huge_lr"))
    diverged = _summary(tmp_path / "runs" / "table2" / "huge_lr")
    assert diverged["status"] == "diverged" and diverged["steps"] < 12
    ckpt = tmp_path / "runs" / "table2" / "huge_lr" / CHECKPOINT
    assert not ckpt.exists() or all(torch.isfinite(v).all() for v in torch.load(ckpt, weights_only=False)["state_dict"].values())
    for seed in (0, 1):
        run(compose_cfg([*common, f"seed={seed}"], tmp_path / "runs" / "table2" / f"seed_{seed}"))
    # diverged records are kept, but not tabled (synthetic runs are never copied to records_dir, so read runs/)
    results_main(["table2", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--readme", ""])
    table = (tmp_path / "out" / "table2.md").read_text()
    assert "(2 seeds) |" in table and diverged["wandb_run_id"] not in table


def _fake_record(config: dict, seed: int, steps: int, status: str = "finished") -> dict:
    return {"experiment": "table2", "status": status, "config": {**config, "seed": seed}, "seed": seed, "steps": steps,
            "metrics": {"final_test/error": 0.1 * (seed + 1)}, "wandb_run_id": f"id{seed}-{steps}"}


def test_cells_never_merge_other_configs_and_a_run_counts_once(tmp_path):
    def config(lr: float) -> dict:
        return {"seed": 0, "optimizer": {"lr": lr}, "schedule": {"max_steps": 10}, "model": {"width": 8},
                "pooling": {"kind": "max"}, "dataset": {"name": "synthetic"}, "trainer": {"enable_progress_bar": True}}

    local, committed = tmp_path / "runs" / "table2", tmp_path / "results" / "runs" / "table2"
    for folder, record in [(local / "a", _fake_record(config(0.01), 0, 10)),
                           (committed / "a", _fake_record(config(0.01), 0, 4, "diverged")),  # same run, shorter
                           (committed / "b", _fake_record(config(0.01), 1, 10)),
                           (committed / "c", _fake_record(config(0.5), 0, 10)),
                           (local / "d", _fake_record(config(0.5), 1, 3, "running")),
                           (tmp_path / "runs" / "gpu" / "table2" / "e", {**_fake_record(config(0.5), 2, 10), "device": "cuda"}),
                           # an older record, without ``device``: its configured accelerator places it
                           (tmp_path / "runs" / "gpu" / "table2" / "f",
                            _fake_record({**config(0.5), "trainer": {"accelerator": "gpu"}}, 3, 10))]:
        folder.mkdir(parents=True)
        (folder / SUMMARY).write_text(json.dumps(record))
    results_main(["table2", "--runs", str(tmp_path / "runs"), str(tmp_path / "results" / "runs"),
                  "--out", str(tmp_path / "out"), "--readme", ""])
    table = (tmp_path / "out" / "table2.md").read_text()
    assert "15.00 ± 7.07 (2 seeds) [optimizer.lr=0.01]<br>10.00 (1 seed) [optimizer.lr=0.5]" in table
    assert "id0-4" not in table and "id1-3" not in table
    results_main(["--runs", str(tmp_path / "runs"), "--collect", str(tmp_path / "records")])  # running d stays out
    assert [p.parent.name for p in (tmp_path / "records").glob(f"table2/*/{SUMMARY}")] == ["a"]
    assert sorted(p.parent.name for p in (tmp_path / "records").glob(f"gpu/table2/*/{SUMMARY}")) == ["e", "f"]


@pytest.mark.parametrize("trainer, cuda, folder", [("cpu", True, ""), ("gpu", False, "gpu"), ("default", False, ""),
                                                   ("default", True, "gpu")])
def test_a_gpu_run_gets_run_and_record_folders_of_its_own(trainer, cuda, folder, tmp_path, compose_cfg, monkeypatch):
    """The folder name and hash leave the device out, so the paths group puts a GPU run (trainer.accelerator=auto
    where a GPU is visible) under gpu/: it never resumes a CPU run's checkpoint or overwrites its record."""
    monkeypatch.setenv("FTN_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FTN_RECORDS", str(tmp_path / "records"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    cfg = compose_cfg(["experiment=table2", f"trainer={trainer}"], tmp_path / "run")
    assert cfg.paths.runs == str(tmp_path / "runs" / folder)
    assert cfg.paths.records == str(tmp_path / "records" / folder)


def test_cpu_and_gpu_runs_of_one_config_are_separate_cells(tmp_path):
    """The folder name and hash leave the device out, but the tables do not: each device's seed 0 is its own run."""
    def config(accelerator: str) -> dict:
        return {"seed": 0, "schedule": {"max_steps": 10}, "model": {"width": 8}, "pooling": {"kind": "max"},
                "dataset": {"name": "synthetic"}, "trainer": {"accelerator": accelerator}}

    for where in ("cpu", "gpu"):
        folder = tmp_path / "results" / "runs" / ("" if where == "cpu" else "gpu") / "table2" / "a"
        folder.mkdir(parents=True)
        (folder / SUMMARY).write_text(json.dumps(_fake_record(config(where), 0, 10)))
    results_main(["table2", "--runs", str(tmp_path / "results" / "runs"), "--out", str(tmp_path / "out"), "--readme", ""])
    table = (tmp_path / "out" / "table2.md").read_text()
    assert "10 iterations, GPU" in table and "10 iterations, CPU" in table and "(2 seeds)" not in table


# ---- wandb -------------------------------------------------------------------------------------------------------
def test_wandb_online_without_network_falls_back_to_offline(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    wandb_mode.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert wandb_mode("offline") == "offline" and wandb_mode("offline") == "offline"
    assert len([w for w in caught if "unreachable" in str(w.message)]) == 1
    assert os.environ["WANDB_MODE"] == "offline"
    wandb_mode.cache_clear()


def test_sweep_with_a_diverging_cell_ends_each_wandb_run(tmp_path, warm_cache):
    out = subprocess.run(_train_cmd("-m", *SMOKE, warm_cache, "schedule.max_steps=12", "optimizer.lr=1e30,0.01",
                                    f"hydra.sweep.dir={tmp_path}/runs"), cwd=tmp_path,
                         env=_env(WANDB_MODE="offline"), capture_output=True, text=True)
    assert out.returncode == 1 and "training diverged at step" in out.stderr.splitlines()[-3:][0] + out.stderr
    assert "Traceback" not in out.stderr
    cells = {r["config"]["optimizer"]["lr"]: r for r in map(_summary, {p.parent for p in tmp_path.glob("runs/*/*")})}
    bad, good = cells[1e30], cells[0.01]
    assert bad["status"] == "diverged" and good["status"] == "finished"
    assert bad["wandb_run_id"] != good["wandb_run_id"]
    assert good["wandb_dir"].startswith(good["config"]["run_dir"])  # not logged into the failed cell's wandb run


# ---- processes: kill -9 and resume, two at once -------------------------------------------------------------------
KILL_AT = """
import os, signal, sys
from ftn import runs
save = runs.RunCheckpoint.on_train_batch_end
def killed_after(self, trainer, *args):
    save(self, trainer, *args)
    if trainer.global_step == {step}:
        os.kill(os.getpid(), signal.SIGKILL)
runs.RunCheckpoint.on_train_batch_end = killed_after
from ftn.train import main
sys.argv = ["ftn.train", *sys.argv[1:]]
main()
"""


def _start(*overrides: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(_train_cmd(*overrides), cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _kill_at(step: int, *overrides: str, cwd: Path) -> None:
    killed = subprocess.run([sys.executable, "-c", KILL_AT.format(step=step), *overrides], cwd=cwd, env=_env(),
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr


def _same_end(done: dict, reference: dict, steps: int, resumed_at: list[int], metric: str, per_epoch: str) -> int:
    """The resumed run ended where the straight one did; returns the number of validations in its history."""
    assert done["status"] == "finished" and done["steps"] == steps and done["resumed_at_steps"] == resumed_at
    assert done["metrics"][metric] == reference["metrics"][metric]
    curve = lambda record: [(h["step"], h[per_epoch]) for h in record["history"]]
    assert curve(done) == curve(reference)
    return len(curve(done))


def test_killed_run_resumes_from_its_checkpoint_to_the_same_end(tmp_path, warm_cache):
    # 64 images in batches of 16: 4 steps an epoch; checkpoints at 2, 4, 6, 8; killed at 7, mid-epoch 2
    common = [*SMOKE, warm_cache, "pooling=lstm", "dataset.limit_train=64", "schedule.max_steps=10",
              "checkpoint_every_n_steps=2"]
    straight_dir, killed_dir = tmp_path / "straight", tmp_path / "killed"
    straight = _start(*common, f"hydra.run.dir={straight_dir}", cwd=tmp_path)
    _kill_at(7, *common, f"hydra.run.dir={killed_dir}", cwd=tmp_path)
    assert torch.load(killed_dir / CHECKPOINT, weights_only=False)["global_step"] == 6
    # the killed process's lock is stale: of two resumes started together, one takes it over, one is refused
    resumes = [_start(*common, f"hydra.run.dir={killed_dir}", cwd=tmp_path) for _ in range(2)]
    outcomes = sorted((p.wait(), p.stderr.read()) for p in resumes)
    assert straight.wait() == 0, straight.stderr.read()
    assert [rc for rc, _ in outcomes] == [0, 1], outcomes
    assert "is in use by another live process" in outcomes[1][1]
    validations = _same_end(_summary(killed_dir), _summary(straight_dir), 10, [6], "final_test/loss", "test/loss")
    assert validations >= 2  # epoch 1 before the kill, the rest after


def test_a_checkpoint_that_kept_the_batch_order_in_the_loop_resumes_to_the_same_end(tmp_path, warm_cache):
    # the layout of checkpoints written before the data module held the batch order (GPU runs of the init study)
    common = [*SMOKE, warm_cache, "dataset.limit_train=64", "schedule.max_steps=10", "checkpoint_every_n_steps=2"]
    straight_dir, killed_dir = tmp_path / "straight", tmp_path / "killed"
    straight = _start(*common, f"hydra.run.dir={straight_dir}", cwd=tmp_path)
    _kill_at(7, *common, f"hydra.run.dir={killed_dir}", cwd=tmp_path)
    checkpoint = torch.load(killed_dir / CHECKPOINT, weights_only=False)
    checkpoint["loops"]["fit_loop"]["state_dict"]["combined_loader"] = [checkpoint.pop("CifarData")["train_position"]]
    torch.save(checkpoint, killed_dir / CHECKPOINT)
    resumed = _start(*common, f"hydra.run.dir={killed_dir}", cwd=tmp_path)
    assert straight.wait() == 0 and resumed.wait() == 0, straight.stderr.read() + resumed.stderr.read()
    assert _same_end(_summary(killed_dir), _summary(straight_dir), 10, [6], "final_test/loss", "test/loss") >= 2


@pytest.mark.parametrize("every_n, resumed_at", [(5, 30), (100, 20)], ids=["mid-epoch", "epoch-end"])
def test_killed_table1_run_resumes_to_the_same_end(every_n, resumed_at, tmp_path):
    # 4 items of 5 optimizer steps an epoch; killed at step 30, mid-epoch 2. Its last checkpoint is mid-epoch, or
    # the end of epoch 1, which an epoch-counted run (Table 1) resumes without the loop's own loader state.
    common = ["experiment=table1", "dataset.seq_len=4", "dataset.train_batches=20", "dataset.steps_per_item=5",
              "dataset.eval_batches=20", "dataset.eval_chunk=10", "trainer.max_epochs=3",
              f"checkpoint_every_n_steps={every_n}", "trainer.enable_progress_bar=false", "trainer.accelerator=cpu",
              "records_dir=null"]
    straight_dir, killed_dir = tmp_path / "straight", tmp_path / "killed"
    straight = _start(*common, f"hydra.run.dir={straight_dir}", cwd=tmp_path)
    _kill_at(30, *common, f"hydra.run.dir={killed_dir}", cwd=tmp_path)
    resumed = _start(*common, f"hydra.run.dir={killed_dir}", cwd=tmp_path)
    assert straight.wait() == 0 and resumed.wait() == 0, straight.stderr.read() + resumed.stderr.read()
    assert _same_end(_summary(killed_dir), _summary(straight_dir), 60, [resumed_at], "test/T1_mae", "val/mae") == 3


def _tiny_jpeg(tmp_path: Path) -> list[str]:
    """20 images in batches of 4, 5 steps an epoch: a run on an archive keeps a record (synthetic data keeps none)."""
    archive = write_image_folder_archive(tmp_path)
    return ["dataset=cifar10_jpeg", f"dataset.root={archive}", f"dataset.cache_dir={tmp_path}/cache",
            "dataset.batch_size=4", "dataset.eval_batch_size=10", "schedule=smoke", "model.width=4",
            "trainer.enable_progress_bar=false", "trainer.accelerator=cpu"]


def test_run_killed_on_a_lost_machine_resumes_from_the_checkpoint_parked_beside_its_record(tmp_path):
    # 20 images in batches of 4: 5 steps an epoch; parked at the end of epoch 1 (step 5), killed at step 7, then
    # the machine is lost (its runs/ folder deleted): what git carried, the records folder, is all that is left
    common = [*_tiny_jpeg(tmp_path), "schedule.max_steps=15", "pooling=lstm", "checkpoint_every_n_steps=100"]
    straight = _start(*common, f"records_dir={tmp_path}/straight_records", f"hydra.run.dir={tmp_path}/straight/run",
                      cwd=tmp_path)
    assert straight.wait() == 0, straight.stderr.read()  # before the others: it decodes the archive once for all
    records = tmp_path / "records"
    parked = records / "default" / "run"
    _kill_at(7, *common, f"records_dir={records}", f"hydra.run.dir={tmp_path}/lost/run", cwd=tmp_path)
    assert torch.load(parked / PARKED, weights_only=False)["global_step"] == 5
    assert [h["step"] for h in _summary(parked)["history"]] == [5] and _summary(parked)["status"] == "running"
    shutil.rmtree(tmp_path / "lost")
    resumed = subprocess.run(_train_cmd(*common, f"records_dir={records}", f"hydra.run.dir={tmp_path}/new/run"),
                             cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from the checkpoint parked in" in resumed.stdout
    validations = _same_end(_summary(parked), _summary(tmp_path / "straight" / "run"), 15, [5], "final_test/loss",
                            "test/loss")
    assert validations == 3  # epoch 1 from the lost machine
    assert not (parked / PARKED).exists()  # an ended run leaves only its record in git


# ---- signals: SIGTERM (a scheduler's) and SIGINT (Ctrl-C) stop a run with a checkpoint at that step ---------------
SIGNAL_AT = """
import os, signal, sys
from ftn import runs
end_of_batch = runs.RunCheckpoint.on_train_batch_end
def signalled_at(self, trainer, *args):
    if trainer.global_step == {step}:
        os.kill(os.getpid(), signal.{signal})
    end_of_batch(self, trainer, *args)
runs.RunCheckpoint.on_train_batch_end = signalled_at
from ftn.train import main
sys.argv = ["ftn.train", *sys.argv[1:]]
main()
"""


def _signal_at(step: int, signum: signal.Signals, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SIGNAL_AT.format(step=step, signal=signum.name), *overrides],
                          cwd=cwd, env=_env(), capture_output=True, text=True)


def test_sigterm_mid_epoch_stops_with_a_checkpoint_at_that_step_and_the_same_command_resumes(tmp_path):
    # checkpoints every 2 steps: SIGTERM at step 7 (mid-epoch 2) is saved at 7, not at the last save (6)
    common = [*_tiny_jpeg(tmp_path), "pooling=lstm", "schedule.max_steps=15", "checkpoint_every_n_steps=2"]
    records = tmp_path / "records"
    straight = _start(*common, f"records_dir={tmp_path}/straight_records", f"hydra.run.dir={tmp_path}/straight",
                      cwd=tmp_path)  # beside it: both decode the archive into one cache, as runs started together do
    stopped = _signal_at(7, signal.SIGTERM, *common, f"records_dir={records}", f"hydra.run.dir={tmp_path}/run",
                         cwd=tmp_path)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    last_line = stopped.stderr.strip().splitlines()[-1]
    assert last_line.startswith("SIGTERM at step 7: stopped with a checkpoint at this step") and "resumes it" in last_line
    run_dir, parked = tmp_path / "run", records / "default" / "run"
    assert torch.load(run_dir / CHECKPOINT, weights_only=False)["global_step"] == 7
    assert _summary(run_dir)["status"] == "interrupted" and _summary(run_dir)["steps"] == 7
    # the checkpoint at the signal travels with the record, as at an epoch end
    assert torch.load(parked / PARKED, weights_only=False)["global_step"] == 7 and _summary(parked)["steps"] == 7
    assert not (run_dir / "train.log").exists()  # the run's log is its stdout
    shutil.rmtree(run_dir)  # and it resumes on another machine from what its records folder carried
    resumed = subprocess.run(_train_cmd(*common, f"records_dir={records}", f"hydra.run.dir={run_dir}"),
                             cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert resumed.returncode == 0 and straight.wait() == 0, resumed.stderr + straight.stderr.read()
    _same_end(_summary(parked), _summary(tmp_path / "straight"), 15, [7], "final_test/loss", "test/loss")
    assert not (parked / PARKED).exists()


def test_sigint_in_an_epochs_last_batch_stops_after_the_epoch_end_save(tmp_path, compose_cfg, warm_cache,
                                                                      monkeypatch):
    from ftn.runs import Interrupted, RunCheckpoint

    end_of_batch = RunCheckpoint.on_train_batch_end

    def ctrl_c_at_step_8(self, trainer, *args):  # the last batch of epoch 2 (4 steps an epoch)
        if trainer.global_step == 8:
            os.kill(os.getpid(), signal.SIGINT)
        end_of_batch(self, trainer, *args)

    monkeypatch.setattr(RunCheckpoint, "on_train_batch_end", ctrl_c_at_step_8)
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted, match=r"^SIGINT at step 8: stopped with a checkpoint") as stopped:
        run(compose_cfg([*SMOKE, warm_cache, "dataset.limit_train=64", "schedule.max_steps=12",
                         "checkpoint_every_n_steps=100"], run_dir))
    assert stopped.value.signum == signal.SIGINT  # main() exits 128 + 2
    assert torch.load(run_dir / CHECKPOINT, weights_only=False)["global_step"] == 8
    assert [h["step"] for h in _summary(run_dir)["history"]] == [4, 8]  # epoch 2's validation ran first
    assert _summary(run_dir)["status"] == "interrupted"


def test_a_run_gives_back_the_signal_handlers_it_found(tmp_path, compose_cfg, warm_cache):
    # a sweep's next run, or the code around run(), must get Ctrl-C as it was, not a finished run's handler
    found = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    run(compose_cfg([*SMOKE, warm_cache], tmp_path / "run"))
    with pytest.raises(RunError):
        run(compose_cfg([*SMOKE, warm_cache, "experiment=table2", "schedule.max_steps=12", "optimizer.lr=1e30"],
                        tmp_path / "diverged"))
    assert {signum: signal.getsignal(signum) for signum in found} == found


def test_a_campaign_passes_a_stop_signal_on_once_and_starts_nothing_new():
    from ftn.campaign import _stop_on_signal

    found = signal.getsignal(signal.SIGTERM)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    running = {child: ()}
    with _stop_on_signal(running) as stopped:
        os.kill(os.getpid(), signal.SIGTERM)
        assert child.wait(timeout=30) == -signal.SIGTERM and stopped == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is found


def test_a_run_started_by_a_campaign_is_stopped_when_the_campaign_dies():
    campaign = subprocess.run([sys.executable, "-c", "import subprocess, sys\nfrom ftn.campaign import "
                               "_stop_with_the_campaign\nrun = subprocess.Popen(['sleep', '60'], stdout=subprocess."
                               "DEVNULL, start_new_session=True, preexec_fn=_stop_with_the_campaign)\nprint(run.pid)"],
                              env=_env(), capture_output=True, text=True, timeout=60)
    status = Path(f"/proc/{campaign.stdout.strip()}/status")
    for _ in range(100):  # gone, or a zombie where nothing reaps orphans
        if not status.exists() or "\tZ" in status.read_text():
            break
        time.sleep(0.1)
    assert not status.exists() or "\tZ" in status.read_text()


# ---- the disk: checkpoints written beside their target, a full or read-only disk in one line ------------------------
def test_checkpoints_are_written_beside_their_target_and_synced_before_the_rename(tmp_path, compose_cfg,
                                                                                 warm_cache, monkeypatch):
    import ftn.atomic

    renames, synced = [], set()
    replace, fsync = os.replace, os.fsync
    monkeypatch.setattr(ftn.atomic.os, "fsync", lambda fd: (synced.add(os.readlink(f"/proc/self/fd/{fd}")), fsync(fd)))
    monkeypatch.setattr(ftn.atomic.os, "replace", lambda a, b: (renames.append((Path(a), Path(b))), replace(a, b)))
    run_dir = tmp_path / "run"
    run(compose_cfg([*SMOKE, warm_cache], run_dir))
    saves = [(tmp, target) for tmp, target in renames if target == run_dir / CHECKPOINT]
    assert saves and all(tmp.parent == target.parent and str(tmp) in synced for tmp, target in saves)


def test_a_full_disk_is_one_line_naming_the_file_and_keeps_the_last_good_checkpoint_and_record(
        tmp_path, compose_cfg, warm_cache, monkeypatch):
    import errno

    import ftn.atomic

    # the disk fills at the third checkpoint (step 6, mid-epoch 2), and stays full: every later write fails too
    fsync, full, checkpoint_syncs = os.fsync, [], []

    def fsync_on_a_filling_disk(fd: int) -> None:
        if "last.ckpt" in os.readlink(f"/proc/self/fd/{fd}"):
            checkpoint_syncs.append(fd)
            full.append(len(checkpoint_syncs) == 3 or bool(full) and full[-1])
        if full and full[-1]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fsync(fd)

    monkeypatch.setattr(ftn.atomic.os, "fsync", fsync_on_a_filling_disk)
    run_dir = tmp_path / "run"
    with pytest.raises(RunError) as failed:
        run(compose_cfg([*SMOKE, warm_cache, "dataset.limit_train=64", "schedule.max_steps=10",
                         "checkpoint_every_n_steps=2"], run_dir))
    assert str(failed.value) == (f"cannot write {run_dir / CHECKPOINT}: No space left on device (ENOSPC); what was "
                                 "on disk before is kept (the last good checkpoint and record); allowed: a writable "
                                 "file system with free space")
    assert torch.load(run_dir / CHECKPOINT, weights_only=False)["global_step"] == 4  # the end of epoch 1
    assert _summary(run_dir)["status"] == "running" and _summary(run_dir)["steps"] == 4  # and its validation
    assert not list(run_dir.rglob("*.tmp"))


def test_a_read_only_records_folder_is_refused_before_the_run_starts(tmp_path, compose_cfg, monkeypatch):
    import errno

    records = tmp_path / "records"
    records.mkdir()
    _unwritable(records, monkeypatch, errno.EROFS)
    with pytest.raises(RunError, match=rf"^records_dir: {records} is not writable \(Read-only file system\); allowed"):
        run(compose_cfg([*_tiny_jpeg(tmp_path), f"records_dir={records}"], tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_parking_takes_only_a_matching_small_pair_and_never_covers_an_ended_record(tmp_path):
    run_dir, folder = tmp_path / "run", tmp_path / "records" / "run"
    (run_dir / CHECKPOINT).parent.mkdir(parents=True)
    (run_dir / CHECKPOINT).write_bytes(b"x" * 2**20 + b"x")
    running = json.dumps({"status": "running", "steps": 5})
    (run_dir / SUMMARY).write_text(running)
    at = lambda step: types.SimpleNamespace(global_step=step)
    ParkRun(run_dir, folder, max_mib=1).on_train_epoch_end(at(5), None)
    assert not (folder / PARKED).exists()  # over the limit: not for git
    ParkRun(run_dir, folder, max_mib=4).on_train_epoch_end(at(10), None)
    assert not (folder / PARKED).exists()  # the summary is not this step's: no matching pair
    ParkRun(run_dir, folder, max_mib=4).on_train_epoch_end(at(5), None)
    assert (folder / PARKED).stat().st_size == 2**20 + 1 and (folder / SUMMARY).read_text() == running
    drop(folder)
    assert not (folder / PARKED).exists() and (folder / SUMMARY).exists()
    (folder / SUMMARY).write_text(json.dumps({"status": "finished", "steps": 15}))
    with pytest.warns(UserWarning, match="holds a finished record: this rerun is not parked"):
        ParkRun(run_dir, folder, max_mib=4).on_train_epoch_end(at(5), None)
    assert not (folder / PARKED).exists() and _summary(folder)["status"] == "finished"


def test_a_packs_members_park_one_file_and_each_counts_its_share_against_the_limit(tmp_path):
    """The pack's checkpoint (one file, hard-linked into every member's run folder) is parked once: the other
    members' resume.ckpt are hard links to that copy, so the records carry it once. 3 members of a 2 MiB + 1 byte
    file each hold a share under the 1 MiB limit; alone, the file is over it."""
    runs, folders = [tmp_path / f"run{k}" for k in range(3)], [tmp_path / "records" / f"run{k}" for k in range(3)]
    (runs[0] / CHECKPOINT).parent.mkdir(parents=True)
    (runs[0] / CHECKPOINT).write_bytes(b"x" * 2**21 + b"x")
    for run_dir in runs:
        (run_dir / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
        if run_dir != runs[0]:
            os.link(runs[0] / CHECKPOINT, run_dir / CHECKPOINT)
        (run_dir / SUMMARY).write_text(json.dumps({"status": "running", "steps": 5}))
    at = types.SimpleNamespace(global_step=5)
    ParkRun(runs[0], folders[0], max_mib=1).on_train_epoch_end(at, None)
    assert not (folders[0] / PARKED).exists()  # a solo run of that size is over the limit
    once = ParkedOnce(members=3)
    for run_dir, folder in zip(runs, folders):
        ParkRun(run_dir, folder, max_mib=1, parked=once).on_train_epoch_end(at, None)
    assert len({(folder / PARKED).stat().st_ino for folder in folders}) == 1
    assert (folders[2] / PARKED).read_bytes() == (runs[0] / CHECKPOINT).read_bytes()
    assert (folders[0] / PARKED).stat().st_ino != (runs[0] / CHECKPOINT).stat().st_ino  # a copy, not the run's file
    drop(folders[1])  # a member that ended drops its link only
    assert (folders[0] / PARKED).exists() and (folders[2] / PARKED).exists()


def test_unpark_checks_the_config_first_and_replaces_the_run_folders_own_only_when_further(tmp_path):
    run_dir, folder = tmp_path / "run", tmp_path / "records" / "run"
    config, other = {"seed": 0, "model": {"width": 8}}, {"seed": 0, "model": {"width": 16}}
    folder.mkdir(parents=True)
    torch.save({"ftn": {"config_hash": config_hash(other), "config": other}}, folder / PARKED)
    (folder / SUMMARY).write_text(json.dumps({"status": "running", "steps": 5}))
    with pytest.warns(UserWarning, match=r"the checkpoint parked at .* is not resumed \(.*model.width: 16 -> 8"):
        assert not unpark(run_dir, folder, config)
    assert not run_dir.exists()  # nothing copied: the run starts afresh, and a rejected run leaves no folder
    (folder / PARKED).write_bytes(b"half a checkpoint")
    with pytest.warns(UserWarning) as caught:
        assert not unpark(run_dir, folder, config)
    message = str(caught[0].message)  # what is wrong and what happens now, not a resume's remedies
    assert "not a readable checkpoint" in message and message.endswith("the run starts afresh and parks over it")
    assert "ckpt_path=null" not in message
    parked = lambda step: torch.save({"ftn": {"config_hash": config_hash(config), "config": config},
                                      "global_step": step}, folder / PARKED)
    parked(5)
    assert unpark(run_dir, folder, config) and (run_dir / CHECKPOINT).exists() and _summary(run_dir)["steps"] == 5
    for not_further in (3, 5):  # this machine's own checkpoint wins, silently
        parked(not_further)
        assert not unpark(run_dir, folder, config)
        assert torch.load(run_dir / CHECKPOINT, weights_only=False)["global_step"] == 5
    (folder / PARKED).write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="not a readable checkpoint .*: the run resumes its own checkpoint and parks"):
        assert not unpark(run_dir, folder, config)
    assert torch.load(run_dir / CHECKPOINT, weights_only=False)["global_step"] == 5
    parked(9)  # the run went on elsewhere: the parked checkpoint is further, and replaces this machine's
    (folder / SUMMARY).write_text(json.dumps({"status": "running", "steps": 9}))
    assert unpark(run_dir, folder, config) and _summary(run_dir)["steps"] == 9
    assert torch.load(run_dir / CHECKPOINT, weights_only=False)["global_step"] == 9


def test_a_run_resumed_on_another_device_says_so_and_is_a_cell_of_its_own(tmp_path):
    from ftn.run_record import RunRecord
    from ftn.results import device

    (tmp_path / SUMMARY).write_text(json.dumps({"status": "running", "steps": 5, "device": "cuda"}))
    record = RunRecord(str(tmp_path), "table2", {"dataset": {}}, [], 0)
    with pytest.warns(UserWarning, match="trained on cuda and resumes on cpu: its record says cuda\\+cpu"):
        record.on_fit_start(types.SimpleNamespace(loggers=[]), pl.LightningModule())
    assert record.base["device"] == "cuda+cpu" and device({"device": "cuda+cpu", "config": {}}) == "GPU+CPU"


def test_a_cpu_run_on_a_gpu_host_names_the_cpu_as_its_hardware(tmp_path, monkeypatch):
    from ftn.provenance import hardware
    from ftn.run_record import RunRecord

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Fake GPU")
    assert hardware() == hardware("cuda") == "Fake GPU" and hardware("cpu").endswith(" cores, CPU)")
    record = RunRecord(str(tmp_path), "table2", {"dataset": {}}, [], 0)
    record.on_fit_start(types.SimpleNamespace(loggers=[]), pl.LightningModule())  # a module on the CPU
    assert record.base["device"] == "cpu" and record.base["hardware"] == hardware("cpu")


def test_a_run_resumed_on_a_later_commit_names_every_commit_it_ran(tmp_path, monkeypatch):
    import ftn.run_record
    from ftn.results import provenance

    (tmp_path / SUMMARY).write_text(json.dumps({"status": "running", "steps": 5, "commit": "aaaaaaa"}))
    monkeypatch.setattr(ftn.run_record, "git_commit", lambda: "bbbbbbb")
    record = ftn.run_record.RunRecord(str(tmp_path), "table2", {"dataset": {}}, [], 0)
    assert record.base["commit"] == "bbbbbbb" and record.base["commits"] == ["aaaaaaa", "bbbbbbb"]
    assert "| aaaaaaa → bbbbbbb |" in "\n".join(provenance([{**record.base, "seed": 0}], lambda r: "run"))
    monkeypatch.setattr(ftn.run_record, "git_commit", lambda: "aaaaaaa")
    (tmp_path / SUMMARY).write_text(json.dumps({"status": "running", "steps": 5, "commit": "aaaaaaa"}))
    assert ftn.run_record.RunRecord(str(tmp_path), "table2", {"dataset": {}}, [], 0).base["commits"] == ["aaaaaaa"]


def test_a_run_resumed_with_more_threads_records_each_segments_threads(tmp_path, monkeypatch):
    from ftn.run_record import RunRecord

    # written before threads_at_steps: its last segment (from step 424) ran on 1 thread
    (tmp_path / SUMMARY).write_text(json.dumps({"status": "running", "steps": 500, "threads": 1,
                                                "resumed_at_steps": [424]}))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    record = RunRecord(str(tmp_path), "table2", {"dataset": {}}, [], 0)
    record.on_train_start(types.SimpleNamespace(global_step=500), pl.LightningModule())
    assert record.base["threads"] == 2 and record.resumed_at == [424, 500]
    assert record.threads_at == {"424": 1, "500": 2}


def test_two_different_runs_on_an_empty_cache_both_finish(tmp_path):
    archive = write_image_folder_archive(tmp_path)
    common = ["dataset=cifar10_jpeg", f"dataset.root={archive}", f"dataset.cache_dir={tmp_path}/cache",
              "dataset.batch_size=4", "dataset.eval_batch_size=10", "schedule=smoke", "model.width=4",
              "trainer.enable_progress_bar=false", "trainer.accelerator=cpu", "records_dir=null"]
    procs = [subprocess.Popen(_train_cmd(*common, f"seed={seed}", f"hydra.run.dir={tmp_path}/s{seed}"),
                              cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for seed in (0, 1)]
    assert [p.wait() for p in procs] == [0, 0], [p.stderr.read() for p in procs]
    assert all(_summary(tmp_path / f"s{seed}")["status"] == "finished" for seed in (0, 1))
    cache = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cache) == 3 and not [n for n in cache if n.startswith(".")]  # one split, one whitening, one tree


def test_a_rerun_spelled_otherwise_replaces_the_record_of_its_run_instead_of_adding_a_second(tmp_path, compose_cfg):
    from ftn.results.records import read_records
    from ftn.train import run

    records = tmp_path / "records"
    common = [*_tiny_jpeg(tmp_path), "logger.mode=disabled", f"records_dir={records}"]
    run(compose_cfg([*common, "seed=0"], tmp_path / "runs" / "table2" / "first-spelling"))
    run(compose_cfg([*common, "seed=1"], tmp_path / "runs" / "table2" / "another-run"))
    run(compose_cfg([*common, "seed=0"], tmp_path / "runs" / "table2" / "second-spelling"))
    folders = sorted(p.parent.name for p in records.glob(f"*/*/{SUMMARY}"))
    assert folders == ["another-run", "second-spelling"]  # the same run's first record replaced, another kept
    assert len(read_records(records)) == 2  # and the tables take them


def test_generated_smoke_data_never_enters_the_committed_records(tmp_path, compose_cfg):
    from ftn.train import run

    records = tmp_path / "records"
    run(compose_cfg(["experiment=table2", "dataset=synthetic", "schedule=smoke", "logger.mode=disabled",
                     "trainer.enable_progress_bar=false", "trainer.accelerator=cpu", f"records_dir={records}"],
                    tmp_path / "runs" / "table2" / "smoke"))
    assert (tmp_path / "runs" / "table2" / "smoke" / "summary.json").exists() and not records.exists()


def test_a_finite_but_exploding_loss_is_divergence():
    from types import SimpleNamespace

    guard = DivergenceGuard(every_n_steps=1)
    trainer = SimpleNamespace(global_step=3, current_epoch=0)
    guard.on_before_backward(trainer, None, torch.tensor(2.3))
    guard.on_before_backward(trainer, None, torch.tensor(2.3e5))  # far up, still within 10^6 of the start
    with pytest.raises(Diverged, match=r"at step 3: the loss is not finite or exceeds 1e\+06 times the first one"):
        guard.on_before_backward(trainer, None, torch.tensor(1.3e11))
    # the limit is part of the checkpoint, so a resumed run keeps the first loss of the whole run
    resumed = DivergenceGuard(every_n_steps=1)
    resumed.load_state_dict(guard.state_dict())
    with pytest.raises(Diverged):
        resumed.on_before_backward(trainer, None, torch.tensor(1e7))
