"""Concurrent runs through the Hydra launchers, the task's per-epoch logging and compile option, the GPU scripts."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.utils import instantiate

from ftn.record_files import SUMMARY
from ftn.config import compose_train
from ftn.train import run

REPO = Path(__file__).resolve().parents[1]
SMOKE = ["dataset=synthetic", "schedule=smoke", "trainer.enable_progress_bar=false", "trainer.accelerator=cpu"]


@pytest.mark.parametrize("packed", [False, True], ids=["task per run", "task per pack"])
def test_local_launcher_runs_a_two_job_sweep_as_separate_processes(tmp_path, warm_cache, packed):
    """submitit's local executor, as the SLURM one: a task (a process here, a SLURM job there) per run, or with
    ``max_members`` one task for the pack of both runs."""
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    pack = ["dataset.augmentation=crop_flip", "hydra.launcher.max_members=2"] if packed else []
    cmd = [sys.executable, "-m", "ftn.train", "-m", "experiment=table2", "pooling=max,lstm", "model.width=8", *SMOKE,
           "hydra/launcher=local", "hydra.sweeper.max_batch_size=2", *pack, f"hydra.sweep.dir={tmp_path}/runs/table2"]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    records = {p.parent: json.loads(p.read_text()) for p in (tmp_path / "runs").glob(f"**/{SUMMARY}")}
    assert sorted(r["config"]["pooling"]["kind"] for r in records.values()) == ["lstm", "max"]
    assert all(r["status"] == "finished" for r in records.values())
    for run_dir in records:  # each job has its own checkpoints and wandb run
        assert (run_dir / "checkpoints" / "last.ckpt").is_file()
        assert list(run_dir.glob("wandb/offline-run-*"))
    assert len({r["wandb_run_id"] for r in records.values()}) == 2
    assert all(("pack" in r) == packed for r in records.values())
    assert all(r["pack"]["size"] == 2 for r in records.values() if packed)
    tasks = [d for d in (tmp_path / "runs" / "table2" / ".submitit").iterdir() if d.name != "%j"]
    assert len(tasks) == (1 if packed else 2)  # it went through submitit, a task per run or per pack


def test_slurm_launcher_takes_site_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("FTN_SLURM_PARTITION", "gpu-small")
    monkeypatch.setenv("FTN_SLURM_ACCOUNT", "lab42")
    monkeypatch.setenv("FTN_SLURM_GPUS", "2")
    cfg = compose_train(["experiment=table2", "hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.account, launcher.gpus_per_node) == ("gpu-small", "lab42", 2)
    assert launcher.timeout_min == 720 and launcher.qos is None
    assert launcher.max_members is None  # a task per run unless hydra.launcher.max_members asks for packs


def test_train_metrics_are_logged_per_epoch_only_under_their_names(tmp_path, compose_cfg):
    cfg = compose_cfg(["experiment=table2", "pooling=lstm", "logger.mode=disabled", "dataset.limit_train=32",
                       *SMOKE], tmp_path)
    run(cfg)
    metrics = json.loads((tmp_path / SUMMARY).read_text())["metrics"]
    for name in ("train/loss", "train/error", "test/loss", "test/error", "final_test/error", "lr"):
        assert name in metrics
    assert not [k for k in metrics if k.endswith(("_step", "_epoch"))]  # no per-step copies to the host


def test_compile_option_keeps_parameter_names(tmp_path, compose_cfg):
    eager = instantiate(compose_cfg(["experiment=table2", "pooling=lstm"], tmp_path).task)
    compiled = instantiate(compose_cfg(["experiment=table2", "pooling=lstm", "task.compile=true"], tmp_path).task)
    assert list(compiled.state_dict()) == list(eager.state_dict())  # checkpoints and lstm/<layer> names stay
    assert compiled.model._compiled_call_impl is not None and eager.model._compiled_call_impl is None


@pytest.mark.parametrize("script", ["gpu_kit.sh", "gpu_run.sh"])
def test_gpu_scripts_parse(script):
    done = subprocess.run(["bash", "-n", str(REPO / "scripts" / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_gpu_run_unpacks_the_carried_records_and_sends_them_back_in_parts_with_a_packs_checkpoint_once(tmp_path):
    """A call with no stage: the records an earlier call brought back (.gpu_carry/records.tar.gz) are unpacked
    into the tree, hard links kept (a pack's parked checkpoint), and come back in parts under 16 MiB that join to
    an archive holding the 20 MB checkpoint once, though two members' folders link it."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts")
    staged = tmp_path / "staged" / "results" / "runs" / "gpu" / "table2"
    for member in ("m0", "m1"):
        (staged / member).mkdir(parents=True)
    (staged / "m0" / "resume.ckpt").write_bytes(os.urandom(20_000_000))  # incompressible, as a checkpoint
    os.link(staged / "m0" / "resume.ckpt", staged / "m1" / "resume.ckpt")
    (tmp_path / ".gpu_carry").mkdir()
    subprocess.run(["tar", "-czf", str(tmp_path / ".gpu_carry" / "records.tar.gz"), "-C", str(staged.parents[3]),
                    "results"], check=True)
    out = tmp_path / "out"
    done = subprocess.run(["bash", "scripts/gpu_run.sh"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "STAGES": "none", "OUT": str(out), "DEVICE": "cpu",
                               "PYTHON": sys.executable})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    here = tmp_path / "results" / "runs" / "gpu" / "table2"
    assert (here / "m0" / "resume.ckpt").stat().st_ino == (here / "m1" / "resume.ckpt").stat().st_ino
    parts = sorted(out.glob("records.tar.gz*"))
    assert [p.name for p in parts] == ["records.tar.gz.0", "records.tar.gz.1"]
    assert all(p.stat().st_size < 16 * 2**20 for p in parts) and sum(p.stat().st_size for p in parts) < 21_000_000
    joined = tmp_path / "joined.tar.gz"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    listing = subprocess.run(["tar", "-tvzf", str(joined)], capture_output=True, text=True, check=True).stdout
    assert listing.count("resume.ckpt link to results/runs/gpu/table2/m") == 1  # one member's file, one link
