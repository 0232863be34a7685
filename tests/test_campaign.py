"""A campaign runs what is not recorded yet, archives each record at once, and skips it on a rerun."""
import json

from ftn.campaign import run_campaign

TINY = ["experiment=table2", "dataset=synthetic", "schedule=smoke", "logger.mode=disabled",
        "trainer.enable_progress_bar=false", "trainer.accelerator=cpu", "model.width=4"]


def test_campaign_archives_records_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runs = [[*TINY, "pooling=max", "seed=0"], [*TINY, "pooling=lstm", "seed=0"]]
    dirs = dict(runs_dir=tmp_path / "runs", records_dir=tmp_path / "results" / "runs", logs_dir=tmp_path / "logs")
    assert run_campaign(runs, jobs=2, **dirs) == 0
    records = sorted((tmp_path / "results" / "runs").glob("**/summary.json"))
    assert [json.loads(p.read_text())["status"] for p in records] == ["finished", "finished"]
    assert run_campaign(runs, jobs=2, **dirs) == 0  # a rerun, as a later session would start it
    assert "2 of 2 runs already recorded; 0 to run" in capsys.readouterr().out


def test_a_failing_run_is_counted_and_not_archived(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dirs = dict(runs_dir=tmp_path / "runs", records_dir=tmp_path / "results" / "runs", logs_dir=tmp_path / "logs")
    assert run_campaign([[*TINY, "pooling=no_such_pooling"]], jobs=1, **dirs) == 1
    assert not (tmp_path / "results").exists()
