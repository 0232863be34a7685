"""``python -m ftn.results`` writes where it is asked, and every generated Markdown table is well-formed."""
import json
import re
from pathlib import Path

import pytest

from ftn.results import main as results_main, pooling_zoo, table2
from ftn.record_files import SUMMARY

ROOT = Path(__file__).resolve().parents[1]


def columns(line: str) -> int:
    """The cells of a Markdown table row (a `|` inside backticks is text, not a border)."""
    return len(re.sub(r"`[^`]*`", "", line.strip()).strip("|").split("|"))


def malformed_tables(text: str) -> list[str]:
    """Each table whose separator or a row has another number of cells than its header."""
    bad, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|(-+\|)+", lines[i + 1].strip()):
            width = columns(line)
            rows = [lines[i + 1]]
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(row)
            bad += [f"{line!r} ({width} cells) over {row!r}" for row in rows if columns(row) != width]
    return bad


def record(kind, seed, error):
    config = {"dataset": {"name": "cifar10_jpeg"}, "schedule": {"max_steps": 100}, "model": {"width": 8},
              "seed": seed, "pooling": {"kind": kind}}
    return {"experiment": "table2", "status": "finished", "config": config, "seed": seed, "params_total": 10,
            "metrics": {"final_test/error": error}, "command": "python -m ftn.train a=b", "commit": "abc",
            "hardware": "test CPU", "wall_time_s": 1.0, "wandb_run_id": f"{kind}{seed}", "device": "cpu"}


DOCUMENTS = [*sorted(ROOT.glob("results/*.md")), *sorted(ROOT.glob("docs/*.md")), ROOT / "README.md"]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_committed_table_is_well_formed(path):
    assert malformed_tables(path.read_text()) == []


def test_the_headline_puts_the_papers_values_beside_the_mean_of_our_largest_cell(tmp_path):
    from ftn.results.headline import headline
    from ftn.results.labels import HEADLINE_INIT
    from ftn.results.readme import update_readme

    lstm = record("lstm", 0, 0.55)
    lstm["config"]["pooling"]["init"] = HEADLINE_INIT
    unit = {"experiment": "table1", "config": {"task": {"target": "max"}, "dataset": {"seq_len": 9},
                                               "schedule": {"max_epochs": 20}}}
    table1_runs = [{**unit, "seed": seed, "metrics": {"test/T1_mae_1e5": mae}} for seed, mae in ((0, 1.0), (1, 3.0))]
    text = "\n".join(headline([record("max", 0, 0.60), record("max", 1, 0.62), lstm, *table1_runs])) + "\n"
    assert "| paper | 8.97 | 4.42 | 5.41 |\n| ours: our recipe, generated windows, 20 epochs, CPU, 2 seeds | — | 2.00 | — |" in text
    assert ("| Conv 8, paper | 57.44 | 56.18 | 50.96 | 50.52 |\n"
            "| Conv 8, ours: CIFAR-10 (JPEG copy), 100 iterations, CPU, 1-2 seeds so far | 61.00 | — | — | 55.00 |") in text
    assert malformed_tables(text) == []
    # a longer budget's first run does not displace the row whose cells have the seeds a comparison needs; at the
    # paper's budget it gets a row of its own, saying its seeds are not enough yet
    full = [record(kind, seed, 0.5) for kind in ("max", "avg", "lstm_shared", "lstm") for seed in range(3)]
    for r in full[6:]:
        r["config"]["pooling"]["init"] = HEADLINE_INIT
    longer, paper_budget = record("max", 0, 0.4), record("max", 0, 0.45)
    longer["config"]["schedule"]["max_steps"] = 2000
    paper_budget["config"]["schedule"]["max_steps"] = 122000
    rows = [line for line in headline([*full, longer, paper_budget]) if line.startswith("| Conv 8, ours")]
    assert rows == ["| Conv 8, ours: CIFAR-10 (JPEG copy), 100 iterations, CPU, 3 seeds | 50.00 | 50.00 | 50.00 | 50.00 |",
                    "| Conv 8, ours: CIFAR-10 (JPEG copy), 122000 iterations, CPU, 1 seed so far | 45.00 | — | — | — |"]
    readme = tmp_path / "README.md"
    readme.write_text("## Headline\n\n<!-- headline -->\nold\n<!-- /headline -->\n")
    update_readme(readme, "headline", text)
    assert readme.read_text().startswith("## Headline\n\n<!-- headline -->\n| Table 1: max pooling")  # no title


def test_a_section_with_one_cell_is_well_formed():
    text = "\n".join(table2([record("lstm", 0, 0.5)])) + "\n" + "\n".join(pooling_zoo([record("max", 0, 0.5)]))
    assert malformed_tables(text) == []
    assert malformed_tables("| a | b |\n|---|\n| 1 | 2 |")  # the checker can fail


def test_out_elsewhere_never_rewrites_the_readme_unless_asked(tmp_path, monkeypatch):
    runs = tmp_path / "runs" / "table2" / "r"
    runs.mkdir(parents=True)
    (runs / SUMMARY).write_text(json.dumps(record("max", 0, 0.5)))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- table2 -->\nold\n<!-- /table2 -->\n")
    monkeypatch.chdir(tmp_path)
    results_main(["table2", "--runs", "runs", "--out", str(tmp_path / "elsewhere")])
    assert (tmp_path / "elsewhere" / "table2.md").exists() and "old" in readme.read_text()
    results_main(["table2", "--runs", "runs", "--out", str(tmp_path / "elsewhere"), "--readme", "README.md"])
    assert "old" not in readme.read_text()
    results_readme = tmp_path / "results" / "README.md"
    results_readme.parent.mkdir()
    for page in (readme, results_readme):
        page.write_text("intro\n<!-- table2 -->\nold\n<!-- /table2 -->\n")
    results_main(["table2", "--runs", "runs"])  # the default outputs: results/ and both READMEs' blocks
    assert (tmp_path / "results" / "table2.md").exists()
    assert "old" not in readme.read_text() and "old" not in results_readme.read_text()


def test_all_builds_every_table(tmp_path, monkeypatch, capsys):
    from ftn.results import BUILDERS

    runs = tmp_path / "runs" / "table2" / "r"
    runs.mkdir(parents=True)
    (runs / SUMMARY).write_text(json.dumps(record("max", 0, 0.5)))
    monkeypatch.chdir(tmp_path)
    results_main(["--all", "--runs", "runs", "--out", "out"])
    # each table says what it wrote, or that it has no runs here (Table 1 and Table 4)
    assert sorted(line.split(":")[0] for line in capsys.readouterr().out.splitlines()) == sorted(BUILDERS)
    assert (tmp_path / "out" / "table2.md").exists() and not (tmp_path / "out" / "table1.md").exists()


def test_the_tables_are_built_without_loading_the_training_stack():
    # ftn.results reads records: the record format lives in ftn.record_files, not in the Lightning callback
    import subprocess
    import sys
    code = "import sys, ftn.results; print(sorted(m for m in sys.modules if m.startswith('pytorch_lightning')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_the_readme_block_drops_the_learned_units_subsection_and_nothing_after_it(tmp_path):
    from ftn.results.readme import update_readme

    table = ("# Title\n\nintro\n\n## 20 epochs\n\n| a |\n\n### learned units\n\n| w |\n\n"
             "## 60 epochs\n\n| b |\n\n### notes\n\ntext\n\n## Runs\n\n| run |\n")
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- table1 -->\nold\n<!-- /table1 -->\nafter\n")
    update_readme(readme, "table1", table)
    block = readme.read_text().split("<!-- table1 -->\n")[1].split("\n<!-- /table1 -->")[0]
    assert block == "### 20 epochs\n\n| a |\n\n### 60 epochs\n\n| b |\n\n#### notes\n\ntext"
    assert readme.read_text().endswith("after\n")


CONV16_MAX = "dataset=cifar10_jpeg,model.width=16,pooling=max,schedule=medium,seed={}"


@pytest.fixture
def committed_copy(tmp_path):
    """Conv 16 max, seeds 0-2: three committed records, copied under tmp_path/runs/table2/."""
    for seed in range(3):
        target = tmp_path / "runs" / "table2" / CONV16_MAX.format(seed)
        target.mkdir(parents=True)
        (target / SUMMARY).write_text((ROOT / "results" / "runs" / "table2" / CONV16_MAX.format(seed) / SUMMARY).read_text())
    return tmp_path / "runs" / "table2"


def truncate(folder):
    path = folder / CONV16_MAX.format(0) / SUMMARY
    path.write_text(path.read_text()[: len(path.read_text()) // 2])


def copy_seed0_over_seed1(folder):
    (folder / CONV16_MAX.format(1) / SUMMARY).write_text((folder / CONV16_MAX.format(0) / SUMMARY).read_text())


def rename_seed2_to_seed5(folder):
    (folder / CONV16_MAX.format(2)).rename(folder / CONV16_MAX.format(5))


def drop_seed1_metrics(folder):
    path = folder / CONV16_MAX.format(1) / SUMMARY
    record = json.loads(path.read_text())
    del record["metrics"]
    path.write_text(json.dumps(record))


def null_seed1_metrics(folder):
    path = folder / CONV16_MAX.format(1) / SUMMARY
    path.write_text(json.dumps({**json.loads(path.read_text()), "metrics": None}))


def drop_seed1_dataset_name(folder):
    path = folder / CONV16_MAX.format(1) / SUMMARY
    record = json.loads(path.read_text())
    del record["config"]["dataset"]["name"]
    path.write_text(json.dumps(record))


def move_seed1_to_table4(folder):
    (folder.parent / "table4").mkdir()
    (folder / CONV16_MAX.format(1)).rename(folder.parent / "table4" / CONV16_MAX.format(1))


def move_seed1_under_gpu(folder):
    (folder.parent / "gpu" / "table2").mkdir(parents=True)
    (folder / CONV16_MAX.format(1)).rename(folder.parent / "gpu" / "table2" / CONV16_MAX.format(1))


@pytest.mark.parametrize("damage, why", [(truncate, "not a readable JSON record"),
                                         (copy_seed0_over_seed1, "its overrides belong in folder"),
                                         (rename_seed2_to_seed5, "its overrides belong in folder"),
                                         (drop_seed1_metrics, "it lacks metrics"),
                                         (null_seed1_metrics, "its metrics is NoneType, not a mapping"),
                                         # a KeyError in whichever table read it first, before the rule
                                         (drop_seed1_dataset_name, "its config lacks dataset.name (the tables read"),
                                         (move_seed1_to_table4, "its experiment 'table2' belongs in folder table2/"),
                                         (move_seed1_under_gpu, "it trained on the CPU, so it belongs under no gpu/")])
def test_a_bad_record_stops_the_tables_the_figures_and_the_campaign_in_one_line(committed_copy, damage, why,
                                                                                 tmp_path, capsys):
    from ftn.campaign import main as campaign_main
    from ftn.figures import main as figures_main

    damage(committed_copy)
    runs, out = str(tmp_path / "runs"), tmp_path / "out"
    for command in (lambda: results_main(["table2", "--runs", runs, "--out", str(out)]),
                    lambda: figures_main(["--runs", runs, "--out", str(out)]),
                    lambda: campaign_main(["conv16", "--init", "avg_soft", "--records", runs, "--dry-run"])):
        with pytest.raises(SystemExit) as stop:
            command()
        message = str(stop.value.code)
        assert why in message and "bad record" in message and "\n" not in message and "summary.json" in message
    assert not out.exists()  # nothing written
    # asked to, the tables leave the bad record out, with a warning, and go on
    with pytest.warns(UserWarning, match="skipped bad record"):
        results_main(["table2", "--runs", runs, "--out", str(out), "--skip-bad-records"])
    assert "| max | 2 |" in (out / "table2.md").read_text()


def test_the_same_run_in_two_folders_is_a_bad_record(committed_copy, tmp_path):
    from ftn.results.records import BadRecords, read_records

    # an older folder name of the same run (a now display-only override kept in it) is the same run
    twin = committed_copy / (CONV16_MAX.format(0) + ",trainer.enable_progress_bar=false")
    twin.mkdir()
    (twin / SUMMARY).write_text((committed_copy / CONV16_MAX.format(0) / SUMMARY).read_text())
    with pytest.raises(BadRecords, match="it repeats the run of"):
        read_records([tmp_path / "runs"])
    # the same folder under runs/ and results/runs/ is one run, not a repeat
    (twin / SUMMARY).unlink()
    twin.rmdir()
    copy = tmp_path / "results" / "runs" / "table2" / CONV16_MAX.format(0)
    copy.mkdir(parents=True)
    (copy / SUMMARY).write_text((committed_copy / CONV16_MAX.format(0) / SUMMARY).read_text())
    assert len(read_records([tmp_path / "runs", tmp_path / "results" / "runs"])) == 3


def test_a_mistyped_runs_folder_is_refused_instead_of_read_as_no_runs(tmp_path, capsys):
    from ftn.figures import main as figures_main

    missing = tmp_path / "ruins"
    for command in (lambda: results_main(["table2", "--runs", str(missing), "--out", str(tmp_path / "out")]),
                    lambda: figures_main(["--runs", str(missing), "--out", str(tmp_path / "out")])):
        with pytest.raises(SystemExit) as stop:
            command()
        assert stop.value.code == 2
        assert f"--runs {missing} does not exist" in capsys.readouterr().err
    a_file = tmp_path / "summary.json"
    a_file.write_text("{}")
    with pytest.raises(SystemExit):
        results_main(["table2", "--runs", str(a_file), "--out", str(tmp_path / "out")])
    assert f"--runs {a_file} is not a folder; allowed: folders of run records" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_no_table_named_is_one_line_not_a_silent_exit(capsys):
    with pytest.raises(SystemExit) as stop:
        results_main([])
    assert stop.value.code == 2 and "nothing to do; allowed: --all" in capsys.readouterr().err


def test_a_generated_block_keeps_its_place_among_the_files_others_and_makes_its_folder(tmp_path):
    from ftn.results.markdown import replace_block

    report = tmp_path / "new" / "throughput.md"  # a bench's --out into a folder that does not exist yet
    replace_block(report, "a", "first")
    replace_block(report, "b", "second")
    replace_block(report, "a", "first, again")
    assert report.read_text() == "<!-- a -->\nfirst, again\n<!-- /a -->\n\n<!-- b -->\nsecond\n<!-- /b -->\n"


def test_an_older_record_with_accelerator_auto_is_placed_by_its_hardware():
    from ftn.results.records import cells, device, devices

    older = {**record("max", 0, 0.6), "hardware": "Intel(R) Xeon(R) Processor (2 cores, CPU)"}
    older.pop("device")
    older["config"]["trainer"] = {"accelerator": "auto"}
    newer = record("max", 1, 0.62)
    newer["config"]["trainer"] = {"accelerator": "auto"}
    assert device(older) == "CPU" and len(cells([older, newer])) == 1  # one cell: seeds of one device
    assert device({**older, "hardware": "NVIDIA H100 80GB HBM3"}) == "GPU"
    assert devices([older, {**newer, "device": "cuda"}]) == "CPU/GPU"


def test_collect_keeps_the_newer_of_two_copies_of_a_benchmark_record(tmp_path):
    """A benchmark's record has no steps: of two copies (a worktree's older one, this tree's rerun), the newer."""
    old, new = tmp_path / "worktree" / "runs", tmp_path / "results" / "runs"
    for root, date, ratio in ((old, "2026-12-01T00:00:00+00:00", 1.3), (new, "2026-12-07T00:00:00+00:00", 1.2)):
        (root / "table3" / "cpu").mkdir(parents=True)
        (root / "table3" / "cpu" / SUMMARY).write_text(json.dumps(
            {"experiment": "table3", "status": "finished", "device": "cpu", "date": date, "ratio": ratio}))
    results_main(["--runs", str(old), str(new), "--collect", str(new)])
    assert json.loads((new / "table3" / "cpu" / SUMMARY).read_text())["ratio"] == 1.2
