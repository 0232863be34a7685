"""A packed sweep: each member's run folder, record, wandb run and training are those of its solo run."""
import json
import os
import shutil
import signal
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from ftn.lifecycle import Member
from ftn.packing import run_pack
from ftn.results import main as results_main
from ftn.record_files import SUMMARY
from ftn.runs import CHECKPOINT, RunError
from ftn.train import run

# 64 synthetic images in batches of 16: 4 steps an epoch, 3 epochs; no dropout, each run its own crop_flip stream
SMALL = ["experiment=table2", "dataset=synthetic", "dataset.limit_train=64", "dataset.augmentation=crop_flip",
         "model.width=4", "model.dropout=0.0", "schedule=smoke", "schedule.max_steps=12", "schedule.max_epochs=3",
         "trainer.enable_progress_bar=false", "trainer.accelerator=cpu", "records_dir=null"]
MEMBERS = [["pooling=max", "seed=0"], ["pooling=max", "seed=1"], ["pooling=lstm", "seed=0"], ["pooling=lstm", "seed=1"]]


def _env():
    # WANDB_SERVICE: the service an in-process run of this session started; a subprocess sharing it would find the
    # runs of a killed subprocess still open there
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    return {**env, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def _sweep(runs: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ftn.train", "-m", *SMALL, "pooling=max,lstm", "seed=0,1", *extra,
            f"hydra.sweep.dir={runs}"]


def _records(runs: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in runs.glob(f"*/{SUMMARY}")}


def _curve(record: dict) -> list[tuple[int, float]]:
    return [(h["step"], h["test/loss"]) for h in record["history"]]


def _members(compose_cfg, root: Path, members) -> list[Member]:
    return [Member(compose_cfg([*SMALL, *o], root / "_".join(o).replace("=", "-")), o, {}) for o in members]


KILL_AT = """
import os, signal, sys
from ftn import runs
save = runs.RunCheckpoint.on_train_batch_end
def killed_after(self, trainer, *args):
    save(self, trainer, *args)
    if trainer.global_step == 7:
        os.kill(os.getpid(), signal.SIGKILL)
runs.RunCheckpoint.on_train_batch_end = killed_after
from ftn.train import main
sys.argv = ["ftn.train", *sys.argv[1:]]
main()
"""
PACKED = ["hydra/launcher=packed", "checkpoint_every_n_steps=2"]  # checkpoints: display-only, the same runs


def test_a_packed_sweep_gives_every_member_its_solo_run_and_resumes_after_sigkill(tmp_path, warm_cache):
    solo, packed, killed = tmp_path / "solo", tmp_path / "packed", tmp_path / "killed"
    for runs, extra in ((solo, []), (packed, PACKED)):
        done = subprocess.run(_sweep(runs, *extra), env=_env(), cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    alone, together = _records(solo), _records(packed)
    assert sorted(together) == sorted(alone) and len(alone) == 4  # the same run folders
    for name, record in together.items():
        twin = alone[name]
        assert record["config_hash"] == twin["config_hash"] and record["status"] == "finished"
        assert record["pack"]["size"] == 4 and sorted(record["pack"]["members"]) == sorted(alone)
        assert len(_curve(record)) >= 3
        for (step, loss), (twin_step, twin_loss) in zip(_curve(record), _curve(twin)):
            assert step == twin_step and abs(loss - twin_loss) < 1e-3, name
        assert abs(record["metrics"]["final_test/loss"] - twin["metrics"]["final_test/loss"]) < 1e-3
        assert record["params_total"] == twin["params_total"] and record["wandb_run_id"] != twin["wandb_run_id"]
        # figure 3, measured by each max member on its own trained weights as by its solo run
        assert record.get("max_locations") == twin.get("max_locations") and ("max_locations" in record) == (
            "pooling=max" in name)
    assert len({r["wandb_run_id"] for r in together.values()}) == 4
    # one checkpoint file for the pack, in every member's folder
    assert len({(packed / name / CHECKPOINT).stat().st_ino for name in together}) == 1
    results_main(["table2", "--runs", str(packed), "--out", str(tmp_path / "results"), "--readme", ""])
    table = (tmp_path / "results" / "table2.md").read_text()
    assert all(r["wandb_run_id"] in table for r in together.values())
    # the same pack killed at step 7 (last checkpoint: 6) and started again ends as the straight one
    cut = subprocess.run([sys.executable, "-c", KILL_AT, *_sweep(killed, *PACKED)[3:]], env=_env(), cwd=tmp_path,
                         capture_output=True, text=True)
    assert cut.returncode == -signal.SIGKILL, cut.stderr[-3000:]
    assert all(torch.load(d / CHECKPOINT, weights_only=False)["global_step"] == 6 for d in killed.glob("*=*"))
    resumed = subprocess.run(_sweep(killed, *PACKED), env=_env(), cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ends = _records(killed)
    assert sorted(ends) == sorted(together)
    for name, end in ends.items():
        assert end["status"] == "finished" and end["steps"] == 12 and end["resumed_at_steps"] == [6]
        assert _curve(end) == _curve(together[name])
        assert end["metrics"]["final_test/loss"] == together[name]["metrics"]["final_test/loss"]


def test_a_pack_cut_off_on_a_lost_machine_resumes_from_the_checkpoint_its_members_parked_once(tmp_path):
    """What a GPU window's records carry to the next: the pack's checkpoint parked once at the end of epoch 1
    (step 5: 20 images in batches of 4), hard-linked into every member's records folder; the machine is lost
    (its run folders deleted) and the same sweep resumes every member from step 5."""
    from test_data import write_image_folder_archive

    archive = write_image_folder_archive(tmp_path)
    sweep = [*_sweep(tmp_path / "runs", *PACKED)[3:], "dataset=cifar10_jpeg", f"dataset.root={archive}",
             f"dataset.cache_dir={tmp_path}/cache", "dataset.limit_train=null", "dataset.batch_size=4",
             "dataset.eval_batch_size=10", "schedule.max_steps=10", "checkpoint_every_n_steps=100",
             f"records_dir={tmp_path}/records"]
    cut = subprocess.run([sys.executable, "-c", KILL_AT, *sweep], env=_env(), cwd=tmp_path, capture_output=True,
                         text=True)
    assert cut.returncode == -signal.SIGKILL, cut.stderr[-3000:]
    parked = sorted((tmp_path / "records").glob("*/*/resume.ckpt"))
    assert len(parked) == 4 and len({p.stat().st_ino for p in parked}) == 1  # one file, carried once
    assert torch.load(parked[0], weights_only=False)["global_step"] == 5
    shutil.rmtree(tmp_path / "runs")
    resumed = subprocess.run([sys.executable, "-m", "ftn.train", "-m", *sweep], env=_env(), cwd=tmp_path,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ends = [json.loads(p.read_text()) for p in (tmp_path / "records").glob(f"*/*/{SUMMARY}")]
    assert len(ends) == 4 and all(e["status"] == "finished" and e["resumed_at_steps"] == [5] for e in ends)
    assert not any((tmp_path / "records").glob("*/*/resume.ckpt"))  # finished: nothing left parked


def test_a_pack_of_one_is_the_solo_run(tmp_path, compose_cfg):
    [member] = _members(compose_cfg, tmp_path / "pack", [["pooling=lstm", "seed=3"]])
    assert run_pack([member]) == ["finished"]
    run(compose_cfg([*SMALL, "pooling=lstm", "seed=3"], tmp_path / "solo"))
    packed, solo = (json.loads((d / SUMMARY).read_text()) for d in (Path(member.cfg.run_dir), tmp_path / "solo"))
    assert [s for s, _ in _curve(packed)] == [s for s, _ in _curve(solo)]
    assert all(abs(a - b) < 1e-4 for (_, a), (_, b) in zip(_curve(packed), _curve(solo)))


def test_a_diverged_member_is_recorded_as_alone_while_its_pack_mate_finishes(tmp_path, compose_cfg, monkeypatch):
    """Member (max, seed 0) gets an infinite weight at its start, in the pack and alone."""
    from ftn.models import ConvNet
    from ftn.tasks.classification import Classification

    built = Classification.__init__

    def poisoned(self, model, *args, **kwargs):
        built(self, model, *args, **kwargs)
        if isinstance(model, ConvNet) and torch.initial_seed() == 0:  # seed_everything(0) built it
            with torch.no_grad():
                model.features[0].weight[0, 0, 0, 0] = float("inf")

    monkeypatch.setattr(Classification, "__init__", poisoned)
    members = _members(compose_cfg, tmp_path / "pack", [["pooling=max", "seed=0"], ["pooling=max", "seed=1"]])
    assert run_pack(members) == ["diverged", "finished"]
    with pytest.raises(RunError, match="training diverged at step 0"):
        run(compose_cfg([*SMALL, "pooling=max", "seed=0"], tmp_path / "solo"))
    dead, mate, solo = (json.loads((Path(d) / SUMMARY).read_text())
                        for d in (members[0].cfg.run_dir, members[1].cfg.run_dir, tmp_path / "solo"))
    for key in ("status", "steps", "epochs", "history"):
        assert dead[key] == solo[key], key
    assert mate["status"] == "finished" and mate["steps"] == 12 and len(_curve(mate)) == 3
    assert "max_locations" in mate and "max_locations" not in dead  # a dead member is not measured
    assert all(torch.isfinite(torch.tensor(loss)) for _, loss in _curve(mate))


@pytest.mark.parametrize("members, message", [
    ([["pooling=max", "seed=0"], ["pooling=max", "seed=1", "model.width=8"]],
     "pack member 1 differs from member 0 in model.width"),
    ([["pooling=max", "seed=0"], ["pooling=max", "seed=0"]], "a pack holds the same run twice"),
    ([["pooling=max", "seed=0", "dataset.augmentation=kornia"], ["pooling=lstm", "seed=0",
                                                                 "dataset.augmentation=kornia"]],
     "dataset.augmentation='kornia' cannot be packed"),
    ([["pooling=lstm_region", "seed=0"], ["pooling=max", "seed=0"]], "pooling=lstm_region cannot be packed"),
])
def test_a_bad_pack_is_one_line_and_leaves_no_run_folder(tmp_path, compose_cfg, members, message):
    built = [Member(compose_cfg([*SMALL, *o], tmp_path / f"m{k}"), o, {}) for k, o in enumerate(members)]
    with pytest.raises(RunError, match=message) as err:
        run_pack(built)
    assert "\n" not in str(err.value) and "allowed" in str(err.value)
    assert not any(tmp_path.glob("m*/summary.json")) and not any(tmp_path.glob("m*/checkpoints"))


@pytest.mark.parametrize("launcher, message", [
    (["hydra/launcher=packed", "hydra.launcher.max_members=0"], "hydra.launcher.max_members=0; allowed: an integer"),
    (["hydra/launcher=packed", "dataset.augmentation=kornia"], "dataset.augmentation='kornia' cannot be packed"),
    (["hydra/launcher=local", "hydra.launcher.max_members=2", "dataset.augmentation=kornia"],
     "dataset.augmentation='kornia' cannot be packed"),
    (["hydra/launcher=local", "hydra.launcher.max_members=2", "pooling=max,gated"], "GatedPool cannot be packed"),
])
def test_a_bad_packed_sweep_is_one_line_before_any_run_or_task(tmp_path, launcher, message):
    pooling = [] if any(o.startswith("pooling=") for o in launcher) else ["pooling=max,lstm"]
    sweep = [sys.executable, "-m", "ftn.train", "-m", *SMALL, *pooling, *launcher,
             f"hydra.sweep.dir={tmp_path / 'runs'}"]
    done = subprocess.run(sweep, env=_env(), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].startswith(message), done.stderr[-2000:]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["multirun.yaml"]  # no run folder, nothing submitted


def test_a_pack_too_large_for_the_device_is_one_line_before_it_runs(tmp_path, compose_cfg, monkeypatch):
    from ftn.models.packed import Pack

    def out_of_memory(self, images):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

    monkeypatch.setattr(Pack, "forward", out_of_memory)
    members = _members(compose_cfg, tmp_path, [["pooling=max", "seed=0"], ["pooling=lstm", "seed=0"]])
    with pytest.raises(RunError, match="a pack of 2 runs does not fit in the memory of cpu") as err:
        run_pack(members)
    assert "hydra.launcher.max_members" in str(err.value) and "\n" not in str(err.value)
    assert not any(tmp_path.glob("*/summary.json")) and not any(tmp_path.glob("*/wandb"))


def test_a_members_data_is_its_own_in_any_pack(tmp_path):
    """Its batch order and crop/flip draws depend on its seed alone: the same in two different packs."""
    from ftn.data.packed import PackedCifarData

    class Training:  # on_after_batch_transfer augments while the trainer trains
        training = True

    batches = []
    for seeds in ([0, 1], [5, 0]):
        data = PackedCifarData(seeds, name="synthetic", source="synthetic", root=".", cache_dir=str(tmp_path),
                               batch_size=16, augmentation="crop_flip", synthetic_size=8)
        data.setup()
        data.trainer = Training()
        batches.append(data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0))
    (xa, ya), (xb, yb) = batches
    assert torch.equal(xa[0], xb[1]) and torch.equal(ya[0], yb[1])  # seed 0 in both
    assert not torch.equal(xa[0], xa[1])


def test_a_dead_member_of_an_interrupted_pack_is_recorded_interrupted_until_its_pack_ends():
    from ftn.packing import MemberRecord

    dead = types.SimpleNamespace(alive=lambda trainer: False)
    assert MemberRecord.status(dead, None, "interrupted") == "interrupted"  # the pack resumes with every member
    assert MemberRecord.status(dead, None, "finished") == "diverged"
