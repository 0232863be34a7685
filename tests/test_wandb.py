"""wandb runs compare: a group per configuration (seeds aggregate), tags, and the run's facts, read back from the
offline run files with wandb's own reader (`wandb leet inspect`)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftn.pooling import RESOLVED
from ftn.record_files import SUMMARY

SRC = str(Path(__file__).resolve().parents[1] / "src")
WANDB = Path(sys.executable).parent / "wandb"


def inspect(offline_run: Path, *flags: str) -> str:
    return subprocess.run([str(WANDB), "leet", "inspect", *flags, "--json", str(offline_run)], check=True,
                          capture_output=True, text=True).stdout


@pytest.mark.skipif(not WANDB.exists(), reason="the wandb command line is not installed beside this Python")
def test_offline_runs_group_seeds_and_carry_tags_metrics_and_facts(tmp_path, warm_cache):
    env = {**os.environ, "PYTHONPATH": SRC, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1",
           "FTN_RUNS": str(tmp_path / "runs")}
    cmd = [sys.executable, "-m", "ftn.train", "-m", "experiment=table2", "pooling=max,lstm", "seed=0,1",
           "dataset=synthetic", "schedule=smoke", "model.width=4", "trainer.accelerator=cpu",
           "trainer.enable_progress_bar=false", "records_dir=null"]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = {}
    for record_path in (tmp_path / "runs" / "table2").glob(f"*/{SUMMARY}"):
        record = json.loads(record_path.read_text())
        offline_run = next(record_path.parent.glob("wandb/offline-run-*"))
        summary = json.loads(inspect(offline_run, "--summary"))
        run_record = [json.loads(line)["run"] for line in inspect(offline_run).splitlines() if '"type":"run"' in line][-1]
        runs[(record["config"]["pooling"]["kind"], record["seed"])] = record, summary, run_record
    assert sorted(runs) == [("lstm", 0), ("lstm", 1), ("max", 0), ("max", 1)]
    # `wandb leet runs/table2/wandb` shows them together
    linked = {p.resolve() for p in (tmp_path / "runs" / "table2" / "wandb").iterdir()}
    assert linked == {Path(record["wandb_dir"]).parent.resolve() for record, _, _ in runs.values()}
    groups = {key: run["run_group"] for key, (_, _, run) in runs.items()}
    assert groups[("lstm", 0)] == groups[("lstm", 1)] != groups[("max", 0)] == groups[("max", 1)]
    for (pooling, seed), (record, summary, run) in runs.items():
        assert summary["state"] == "finished" and run["job_type"] == "train"
        assert {"experiment:table2", "dataset:synthetic", "model:convnet", "width:4", f"pooling:{pooling}",
                "schedule:smoke", "device:cpu"} <= set(summary["tags"])
        assert ("init:avg_soft" in summary["tags"]) == (pooling == "lstm")
        for name in ("final_test/error", "final_test/loss", "lr"):
            assert summary["summary"][name] == pytest.approx(record["metrics"][name])
        for fact in ("commit", "hardware", "params_total", "params_lstm", "pooling_impl"):
            assert summary["config"][fact] == record[fact]
        assert record["params_total"] > 0 and (record["params_lstm"] > 0) == (pooling == "lstm")
        assert record["pooling_impl"] in ((None,) if pooling == "max" else RESOLVED)


def test_a_disabled_logger_leaves_no_wandb_run_named_in_the_record(tmp_path, compose_cfg, monkeypatch):
    from ftn.tracking import wandb_mode
    from ftn.train import run

    monkeypatch.setenv("WANDB_MODE", "disabled")  # the environment wins over logger.mode (as wandb's own does)
    wandb_mode.cache_clear()
    run_dir = tmp_path / "run"
    try:
        run(compose_cfg(["dataset=synthetic", "schedule=smoke", "model.width=4", "logger.mode=disabled",
                         "trainer.enable_progress_bar=false", "trainer.accelerator=cpu"], run_dir))
    finally:
        wandb_mode.cache_clear()
    record = json.loads((run_dir / SUMMARY).read_text())
    assert record["status"] == "finished" and record["wandb_run_id"] is None and record["wandb_dir"] is None


def test_the_logger_passes_wandb_no_anonymous_setting(tmp_path):
    # Lightning always passes anonymous=None, about which wandb warns at every run although it means "unset"
    from ftn.tracking import make_wandb_logger

    assert "anonymous" not in make_wandb_logger(str(tmp_path), "run", "group", mode="disabled")._wandb_init
