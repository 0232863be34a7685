"""Figure 3's measurement: distinct max locations per window, from a run's checkpoint into its record."""
import json

import torch

from ftn.locations import location_histogram, update
from ftn.record_files import SUMMARY
from ftn.train import run


def test_histogram_counts_distinct_argmax_locations():
    one_each = torch.zeros(3, 4, 8, 8)
    for c in range(4):  # channel c keeps location c of every 4x4 window
        one_each[:, c, c // 2::4, c % 2::4] = 1.0
    assert location_histogram(one_each, 4, patches=50)[4] == 50
    same = torch.zeros(3, 4, 8, 8)
    same[:, :, 0::4, 0::4] = 1.0  # every channel keeps the same corner
    assert location_histogram(same, 4, patches=50)[1] == 50


def test_a_max_pooling_run_measures_itself_as_its_checkpoint_measures_it(tmp_path, compose_cfg):
    common = ["experiment=table2", "dataset=synthetic", "schedule=smoke", "logger.mode=disabled",
              "trainer.enable_progress_bar=false", "trainer.accelerator=cpu", "records_dir=null"]
    run(compose_cfg([*common, "pooling=max"], tmp_path / "max"))
    run(compose_cfg([*common, "pooling=lstm"], tmp_path / "lstm"))
    summary = tmp_path / "max" / SUMMARY
    record = json.loads(summary.read_text())
    itself = record.pop("max_locations")
    assert sum(itself["histogram"]) == 5000 and "max_locations" not in json.loads((tmp_path / "lstm" / SUMMARY)
                                                                                  .read_text())
    summary.write_text(json.dumps(record))  # as a run recorded before runs measured themselves
    assert update(tmp_path, tmp_path / "records") == [summary]
    assert json.loads(summary.read_text())["max_locations"] == itself


def test_update_adds_the_measurement_to_both_records(tmp_path, compose_cfg):
    run_dir = tmp_path / "runs" / "table2" / "r"
    run(compose_cfg(["experiment=table2", "pooling=max", "dataset=synthetic", "schedule=smoke",
                     "logger.mode=disabled", "trainer.enable_progress_bar=false", "trainer.accelerator=cpu"], run_dir))
    archived = tmp_path / "results" / "runs" / "table2" / "r" / SUMMARY
    archived.parent.mkdir(parents=True)
    archived.write_text(json.dumps({**json.loads((run_dir / SUMMARY).read_text()), "commit_note": "records only"}))
    for path in (run_dir / SUMMARY, archived):  # as records made before runs measured themselves
        path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "max_locations"}))
    for other, text in (("bench", '{"status": "finished"}'), ("half", '{"status": "fin')):  # no config; half-written
        (tmp_path / "runs" / other).mkdir()
        (tmp_path / "runs" / other / SUMMARY).write_text(text)
    assert update(tmp_path / "runs", tmp_path / "results" / "runs") == [run_dir / SUMMARY]
    for path in (run_dir / SUMMARY, archived):
        measured = json.loads(path.read_text())["max_locations"]
        assert measured["kernel_size"] == 4 and sum(measured["histogram"]) == measured["patches"] == 5000
        assert measured["histogram"][0] == 0 and len(measured["histogram"]) == 17
    assert json.loads(archived.read_text())["commit_note"] == "records only"  # a copy's own fields stay
    assert update(tmp_path / "runs", tmp_path / "results" / "runs") == []  # measured once
