"""A campaign runs what is not recorded yet, each run archives its own record, and a rerun skips it."""
import json
from pathlib import Path

import pytest

from ftn.campaign import (OTHER_READINGS, _log_name, _report, find_record, main as campaign_main, run_campaign, table1,
                          zoo)
from ftn.identity import run_folder_name
from ftn.pooling import ZOO_KINDS, PoolFactory

# Table 1 at toy size: generated windows, but not smoke data, so its records are archived like real ones
TINY = ["experiment=table1", "dataset.seq_len=4", "dataset.train_batches=50", "dataset.eval_batches=20",
        "dataset.eval_chunk=10", "trainer.max_epochs=1", "logger.mode=disabled", "trainer.enable_progress_bar=false"]


def test_campaign_archives_records_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runs = [[*TINY, "seed=0"], [*TINY, "seed=1"]]
    dirs = dict(runs_dir=tmp_path / "runs", records_dir=tmp_path / "results" / "runs", logs_dir=tmp_path / "logs")
    assert run_campaign(runs, jobs=2, threads=2, **dirs) == 0
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "results" / "runs").glob("**/summary.json"))]
    assert [(r["status"], r["threads"], r["threads_at_steps"]) for r in records] == [("finished", 2, {"0": 2})] * 2
    assert run_campaign(runs, jobs=2, **dirs) == 0  # a rerun, as a later session would start it
    assert "2 of 2 runs already recorded; 0 to run" in capsys.readouterr().out


def test_a_failing_run_is_counted_leaves_no_record_and_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    dirs = dict(runs_dir=tmp_path / "runs", records_dir=tmp_path / "results" / "runs", logs_dir=tmp_path / "logs")
    assert run_campaign([[*TINY, "seed=abc"]], jobs=1, **dirs) == 1  # rejected up front
    assert not (tmp_path / "results").exists()
    failed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("FAILED"))
    assert "seed='abc' is invalid" in failed  # the run's own one-line rejection, not only its log's path


def test_one_queue_of_several_campaigns_on_the_gpu(tmp_path, capsys):
    campaign_main(["init_study,scans", "--init", "avg_soft", "--seeds", "0-1", "--trainer", "gpu", "--dry-run",
                   "--records", str(tmp_path), "schedule.max_steps=20"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * 10 + 2 * 3  # init study: 10 cells per seed; scans: 3 more (its row scan is the study's)
    assert all(line.startswith("todo") and "trainer=gpu" in line and line.endswith("schedule.max_steps=20")
               for line in lines)
    assert sum("pooling.scan=" in line for line in lines) == 6


@pytest.mark.parametrize("argv, message", [(["conv16", "--dry-run"], "needs --init"),
                                           (["init_study,nope", "--dry-run"], "campaign 'nope' is unknown"),
                                           (["init_study", "--seeds", "0-x", "--dry-run"], "--seeds='0-x'"),
                                           (["conv16", "--init", "median", "--dry-run"], "--init: invalid choice: 'median'"),
                                           (["vgg16_cpu", "--threads", "0", "--dry-run"], "--threads=0: allowed are"),
                                           # an empty range or a negative pack would run the default seeds or nothing
                                           (["init_study", "--seeds", "3-1", "--dry-run"], "--seeds='3-1'"),
                                           (["vgg16_cpu", "--pack", "-1", "--dry-run"], "--pack=-1: allowed are"),
                                           (["cpu_science", "--init", "lasagne", "--dry-run"],
                                            "--init=lasagne: no campaign here takes it"),
                                           # the overrides added to every run: once, before any run starts
                                           (["table1", "--dry-run", "modle.width=8"],
                                            "Could not override 'modle.width'. (Key 'modle' is not in struct); "
                                            "allowed: the train config's keys"),
                                           (["table1", "--dry-run", "seed=-5"], "seed=-5 is invalid; allowed: an"),
                                           (["table1", "--dry-run", "pooling=maxx"],
                                            "pooling=maxx: not an option of the pooling config group; allowed: avg"),
                                           (["--init", "avg_soft"], "required: campaign\n"),
                                           (["table1", "--dry-run", "--records", "/dev/null"],
                                            "--records=/dev/null: not a folder")])
def test_bad_campaign_arguments_say_what_is_allowed(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        campaign_main(argv)
    assert message in capsys.readouterr().err + str(stop.value.code)  # argparse's line, or sys.exit's


def _record(root, overrides, **fields):
    """A run's record where the campaign and the tables look for it: <root>/<experiment>/<run folder>/."""
    path = root / "table1" / run_folder_name(overrides) / "summary.json"
    path.parent.mkdir(parents=True)
    config = {"seed": 0, "dataset": {"seq_len": 4}, "schedule": {"max_epochs": 20}, "task": {"target": "max"}}
    path.write_text(json.dumps({"experiment": "table1", "status": "finished", "config": config, "metrics": {},
                                "seed": 0, "overrides": overrides, "device": "cpu", **fields}))
    return path


def test_a_record_is_found_in_its_own_devices_folder_only(tmp_path):
    overrides = ["experiment=table1", "seed=0"]  # Table 1 runs do not name their device
    on_gpu = _record(tmp_path / "gpu", overrides, status="running", device="cuda")
    assert find_record(tmp_path, overrides) is None
    on_cpu = _record(tmp_path, overrides)
    assert find_record(tmp_path, overrides) == on_cpu and find_record(tmp_path / "gpu", overrides) == on_gpu


def test_dry_run_gives_a_cut_off_runs_step_and_the_time_left_at_its_pace(tmp_path, capsys):
    config = {"seed": 0, "dataset": {"seq_len": 4}, "schedule": {"max_epochs": -1, "max_steps": 1200},
              "task": {"target": "max"}}
    parked, unparked = list(table1())[:2]
    _record(tmp_path / "records", parked, status="interrupted", steps=300, wall_time_s=600.0, config=config)
    # too large to park: its running summary is in its run folder only
    _record(tmp_path / "runs", unparked, status="running", steps=900, wall_time_s=600.0, config=config)
    campaign_main(["table1", "--dry-run", "--records", str(tmp_path / "records"), "--runs", str(tmp_path / "runs")])
    first, second, *others = capsys.readouterr().out.splitlines()
    assert first == f"interrupted at step 300 of 1,200, about 30 min left at its pace {' '.join(parked)}"
    assert second == (f"running at step 900 of 1,200, about 3 min left at its pace (its checkpoint is on this machine "
                      f"only) {' '.join(unparked)}")
    assert others and all(line.startswith("todo ") for line in others)


def test_a_record_no_table_may_trust_leaves_its_run_to_do(tmp_path, capsys):
    """With --skip-bad-records the tables leave such a record out, and the campaign trains its run again."""
    overrides = ["experiment=table1", "seed=0"]
    _record(tmp_path, overrides, seed=1)  # its seed disagrees with its config's
    assert find_record(tmp_path, overrides) is None
    with pytest.raises(SystemExit, match="its seed 1 disagrees with its config's seed 0"):
        campaign_main(["table1", "--dry-run", "--records", str(tmp_path)])
    with pytest.warns(UserWarning, match="skipped bad record"):
        campaign_main(["table1", "--dry-run", "--skip-bad-records", "--records", str(tmp_path)])
    assert all(line.startswith("todo") for line in capsys.readouterr().out.splitlines())


@pytest.mark.parametrize("experiment", ["table1", "table1_paper"])
def test_table1_records_go_where_its_campaigns_look_on_a_gpu_host_too(experiment, monkeypatch):
    import torch

    from ftn.config import compose_train

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cfg = compose_train([f"experiment={experiment}"])
    # not their gpu/ subfolders: where the campaign, which adds no trainer to Table 1 runs, reads them
    assert "gpu" not in (Path(cfg.paths.records).name, Path(cfg.paths.runs).name)


def test_a_run_recorded_meanwhile_is_skipped_and_logs_are_appended(tmp_path, monkeypatch, capsys):
    """Two campaigns at once: the second neither truncates the first's log nor reruns what the first finished."""
    import ftn.campaign as campaign

    done, todo = ["experiment=table2", "seed=0"], ["experiment=table2", "seed=1", "model.width=0"]
    found = iter([None])  # the first look (building the queue) finds nothing; by launch time it is recorded

    def find(root, overrides):
        if overrides == done:
            return next(found, tmp_path / "done.json")
        return None

    (tmp_path / "done.json").write_text(json.dumps({"status": "finished"}))
    monkeypatch.setattr(campaign, "find_record", find)
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "table2_1_0.log"
    log.write_text("the first campaign's output\n")
    failed = campaign.run_campaign([done, todo], 1, tmp_path / "runs", tmp_path / "records", logs)
    out = capsys.readouterr().out
    assert "skip   experiment=table2 seed=0: recorded since this campaign started" in out
    assert failed == 1  # model.width=0 is refused in one line
    text = log.read_text()
    assert text.startswith("the first campaign's output\n=== ") and "model.width=0 is invalid" in text


def test_a_packed_campaign_archives_every_members_record(tmp_path, monkeypatch, capsys):
    from test_data import write_image_folder_archive

    monkeypatch.chdir(tmp_path)
    archive = write_image_folder_archive(tmp_path)  # a real source: synthetic data keeps no record
    tiny = ["experiment=table2", "dataset=cifar10_jpeg", f"dataset.root={archive}", "dataset.batch_size=4",
            f"dataset.cache_dir={tmp_path}/cache", "dataset.augmentation=crop_flip", "schedule=smoke",
            "schedule.max_steps=5", "model.width=4", "logger.mode=disabled", "trainer.enable_progress_bar=false",
            "trainer.accelerator=cpu"]
    runs = [[*tiny, f"pooling={p}", f"seed={s}"] for s in (0, 1) for p in ("max", "lstm")]
    dirs = dict(runs_dir=tmp_path / "runs", records_dir=tmp_path / "results" / "runs", logs_dir=tmp_path / "logs")
    assert run_campaign(runs, jobs=1, pack=4, **dirs) == 0
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "runs").glob("**/summary.json")]
    assert sorted(r["status"] for r in records) == ["finished"] * 4 and {r["pack"]["size"] for r in records} == {4}
    assert run_campaign(runs, jobs=1, pack=4, **dirs) == 0
    assert "4 of 4 runs already recorded; 0 to run" in capsys.readouterr().out


def test_packs_group_runs_that_differ_in_seed_and_pooling_only():
    from ftn.campaign import packs

    runs = [["model.width=8", f"seed={s}", f"pooling={p}"] for s in (0, 1) for p in ("max", "lstm")]
    runs += [["model.width=16", "seed=0", "pooling=max"], ["model.width=8", "seed=2", "pooling=lstm",
                                                            "pooling.init=lasagne"]]
    jobs = packs(runs, 3)
    assert [len(job) for job in jobs] == [3, 2, 1]  # width 8: five runs in packs of 3 and 2; width 16 alone
    assert [r[2] for r in jobs[0]] == ["pooling=lstm", "pooling=lstm", "pooling=lstm"]  # ordered by pooling
    assert packs(runs, 0) == [[run] for run in runs]


def test_a_campaign_groups_runs_into_packs_as_a_packed_sweep_groups_their_configs(tmp_path, compose_cfg):
    """One rule (``ftn.pack_rule``), read from a campaign's overrides and from the configs they compose."""
    from omegaconf import OmegaConf

    from ftn.campaign import packs
    from ftn.packing import group_packs

    width8 = ["experiment=table2", "model.width=8"]
    runs = [[*width8, f"seed={s}", f"pooling={p}"] for s in (0, 1) for p in ("max", "lstm")]
    runs += [["experiment=table2", "model.width=16", "seed=0", "pooling=max"],
             [*width8, "seed=2", "pooling=lstm", "pooling.init=lasagne"], [*width8, "seed=3", "optimizer.lr=0.1"]]
    configs = [OmegaConf.to_container(compose_cfg(run, tmp_path / str(i)), resolve=True) for i, run in enumerate(runs)]
    by_overrides = sorted(sorted(runs.index(run) for run in job) for job in packs(runs, 10))
    by_configs = sorted(sorted(pack) for pack in group_packs(configs, 10))
    assert by_overrides == by_configs == [[0, 1, 2, 3, 5], [4], [6]]


def test_the_zoo_trains_each_kind_then_the_gru_then_each_other_reading_at_three_seeds():
    runs = list(zoo())
    kinds = [next(o.split("=")[1] for o in r if o.startswith("pooling=")) for r in runs]
    assert sorted(set(kinds[:33])) == sorted(ZOO_KINDS[:-1]) and kinds[33:36] == ["gru"] * 3
    assert len(runs) == 3 * (len(ZOO_KINDS) + len(OTHER_READINGS))
    for (kind, *overrides), run in zip(OTHER_READINGS * 3, runs[36:]):
        assert run[-1 - len(overrides):] == [f"pooling={kind}", *overrides]
        PoolFactory(kind, **{o.split("=")[0].removeprefix("pooling."): o.split("=")[1] for o in overrides})


def test_a_log_name_is_a_file_name_however_deep_the_paths_in_its_values():
    deep = "/" + "/".join(["a_rather_long_folder_name"] * 12)
    job = [[f"dataset.archive={deep}/tiny.tar.gz", f"dataset.cache={deep}/cache", "seed=0", "pooling=lstm"]]
    assert _log_name(job, 0) == "tiny.tar.gz_cache_0_lstm.log"
    long = [[f"tag={'x' * 300}", "seed=1"]]
    name = _log_name(long, 2)
    assert "/" not in name and len(name) <= 255 and name.endswith(".log")
    assert name != _log_name([[f"tag={'x' * 301}", "seed=1"]], 2)  # the hash keeps long names apart


def test_a_run_stopped_with_a_checkpoint_too_large_to_park_is_reported_stopped_not_failed(tmp_path, capsys):
    overrides = ["experiment=table4", "seed=0", "pooling=max"]
    records, runs = tmp_path / "records", tmp_path / "runs"
    own = runs / "table4" / run_folder_name(overrides) / "summary.json"
    own.parent.mkdir(parents=True)
    own.write_text(json.dumps({"experiment": "table4", "status": "interrupted", "steps": 1655, "metrics": {},
                               "config": {"seed": 0, "run_dir": str(own.parent), "dataset": {"name": "cifar10"},
                                          "schedule": {"max_steps": 3000}, "pooling": {"kind": "max"}},
                               "seed": 0, "overrides": overrides}))
    assert _report(records, runs, overrides, 0.0, tmp_path / "log", 143)  # the records folder has nothing
    assert capsys.readouterr().out.startswith("stopped with a checkpoint at step 1655 in its run folder, not parked")
    own.unlink()
    assert not _report(records, runs, overrides, 0.0, tmp_path / "log", 143)
    assert capsys.readouterr().out.startswith("FAILED exit 143")
