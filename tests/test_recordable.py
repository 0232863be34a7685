"""One rule keeps smoke, quick and rehearsal runs out of the committed records and tables."""
from pathlib import Path

import pytest

from ftn.identity import not_a_result
from ftn.record_files import COMMITTED_RECORDS, record_folder

CONFIG = {"dataset": {"source": "archive"}}


@pytest.mark.parametrize("overrides, why", [
    (["experiment=table2", "schedule=medium", "pooling=lstm"], None),
    (["experiment=table1", "dataset.seq_len=4", "task.target=max"], None),
    (["experiment=table2", "schedule=smoke"], "schedule=smoke is not a result schedule"),
    (["experiment=table2", "schedule=medium", "schedule.max_steps=6"], "schedule.max_steps=6 changes the budget"),
    (["trainer.max_steps=300"], "trainer.max_steps=300 changes the budget"),
    (["dataset.limit_train=2000"], "dataset.limit_train=2000 changes"),
    (["experiment=table1", "dataset.train_batches=1000", "name=table1_quick"], "dataset.train_batches=1000"),
])
def test_the_rule(overrides, why):
    assert (why is None and not_a_result(overrides) is None) or why in not_a_result(overrides)


def test_only_the_committed_records_folder_refuses_a_smoke_run(tmp_path):
    smoke = ["experiment=table2", "schedule=smoke"]
    assert record_folder(str(COMMITTED_RECORDS), "table2", Path("runs/x"), CONFIG, smoke) is None
    assert record_folder(str(COMMITTED_RECORDS / "gpu"), "table2", Path("runs/x"), CONFIG, smoke) is None
    assert record_folder(str(COMMITTED_RECORDS), "table2", Path("runs/x"), CONFIG, ["schedule=medium"]) \
        == COMMITTED_RECORDS / "table2" / "x"
    # a rehearsal's or a test's records folder takes every run
    assert record_folder(str(tmp_path), "table2", Path("runs/x"), CONFIG, smoke) == tmp_path / "table2" / "x"


def test_the_committed_tables_leave_smoke_records_out(tmp_path):
    import json

    from ftn.identity import run_folder_name
    from ftn.record_files import SUMMARY
    from ftn.results import load_runs

    for overrides in (["schedule=medium", "seed=0"], ["schedule=smoke", "seed=0"]):
        folder = tmp_path / "table2" / run_folder_name(overrides)
        folder.mkdir(parents=True)
        config = {"seed": 0, "schedule": {"name": overrides[0], "max_steps": 10}, "dataset": {"name": "synthetic"},
                  "pooling": {"kind": "max"}}
        (folder / SUMMARY).write_text(json.dumps({"experiment": "table2", "status": "finished", "overrides": overrides,
                                                  "seed": 0, "config": config, "metrics": {}}))
    assert [r["overrides"][0] for r in load_runs(tmp_path, "table2")] == ["schedule=medium"]
    assert len(load_runs(tmp_path, "table2", results_only=False)) == 2
