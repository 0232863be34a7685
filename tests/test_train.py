"""End to end on generated data: configs compose, tasks fit, runs resume, sweeps and tables get built."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ftn.results import HEADLINE_INIT, main as results_main
from ftn.record_files import SUMMARY
from ftn.config import CONFIG_DIR
from ftn.train import run
from ftn.validation import validate

TINY_TABLE1 = ["experiment=table1", "dataset.seq_len=4", "dataset.train_batches=50", "dataset.eval_batches=20",
               "dataset.eval_chunk=10", "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "records_dir=null"]
SMOKE = ["dataset=synthetic", "schedule=smoke", "trainer.enable_progress_bar=false", "trainer.accelerator=cpu",
         "records_dir=null"]


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml")))
def test_every_experiment_composes(experiment, tmp_path, compose_cfg):
    cfg = compose_cfg([f"experiment={experiment}"], tmp_path)
    assert cfg.name == experiment
    assert instantiate(cfg.task) is not None
    validate(OmegaConf.to_container(cfg, resolve=True))  # its keys and values pass the up-front checks


def test_table1_run_writes_summary_with_provenance(tmp_path, compose_cfg):
    metrics = run(compose_cfg(TINY_TABLE1, tmp_path))
    record = json.loads((tmp_path / SUMMARY).read_text())
    assert record["status"] == "finished" and record["experiment"] == "table1"
    for key in ("command", "commit", "hardware", "wall_time_s", "seed", "wandb_run_id"):
        assert record[key] not in (None, "")
    for name in ("T1", "T2", "T3"):
        assert record["metrics"][f"test/{name}_mae_1e5"] == pytest.approx(metrics[f"test/{name}_mae"] * 1e5, rel=1e-5)
    assert list(tmp_path.glob("wandb/offline-run-*"))  # the run reached wandb (offline)


def test_table1_learning_rate_floors_at_min_lr_and_the_run_lasts_its_epochs(tmp_path, compose_cfg):
    # the paper's recipe barely learns in a few steps: validation plateaus, and each plateau divides the lr by 10
    run(compose_cfg([*TINY_TABLE1, "experiment=table1_paper", "trainer.max_epochs=5", "task.min_lr=0.001"], tmp_path))
    record = json.loads((tmp_path / SUMMARY).read_text())
    rates = [h["lr"] for h in record["history"]]
    assert record["epochs"] == 5 and len(rates) == 5
    assert min(rates) == pytest.approx(0.001) and rates[-1] == pytest.approx(0.001)


@pytest.mark.parametrize("model", ["convnet", "vgg16"])
@pytest.mark.parametrize("pooling", ["max", "avg", "lstm", "lstm_shared", "lstm_region"])
def test_two_step_fit_of_each_model_and_pooling(model, pooling, tmp_path, compose_cfg):
    cfg = compose_cfg(["experiment=table2", f"model={model}", f"pooling={pooling}", "schedule.max_steps=2",
                       "logger.mode=disabled", *SMOKE], tmp_path)
    before = {n: p.clone() for n, p in instantiate(cfg.task).named_parameters()}
    metrics = run(cfg)
    assert 0.0 <= metrics["final_test/error"] <= 1.0
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 2
    if pooling.startswith("lstm"):  # the pooling units were trained and kept feasible
        lstm = {k: v for k, v in last["state_dict"].items() if k.endswith(".params")}
        assert lstm and all((v[3, 0] > 0).all() and (v[3, 2] >= 0).all() for v in lstm.values())
        assert any(not torch.equal(v, before[k.removeprefix("model.").join(["model.", ""])]) for k, v in lstm.items())


def test_sweep_from_the_command_line_and_table(tmp_path, warm_cache):
    env = {**os.environ, "WANDB_MODE": "offline"}
    cmd = [sys.executable, "-m", "ftn.train", "-m", "experiment=table2", "pooling=max,lstm", "model.width=8",
           *SMOKE, f"hydra.sweep.dir={tmp_path}/runs/table2"]
    subprocess.run(cmd, check=True, env=env, cwd=tmp_path.parent, capture_output=True)
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob(f"**/{SUMMARY}")]
    assert sorted(r["config"]["pooling"]["kind"] for r in records) == ["lstm", "max"]
    results_main(["table2", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "results"), "--readme", ""])
    table = (tmp_path / "results" / "table2.md").read_text()
    assert "| Conv 8 | 57.44 |" in table and "synthetic" in table
    assert all(r["wandb_run_id"] in table for r in records)


def _record(experiment, config, metrics, seed, run_id):
    return {"experiment": experiment, "status": "finished", "config": config, "metrics": metrics, "seed": seed,
            "command": "python -m ftn.train ...", "commit": "abc1234", "hardware": "test CPU",
            "wall_time_s": 60.0, "wandb_run_id": run_id}


def test_table1_from_fabricated_records(tmp_path):
    for i, (seed, mae, target) in enumerate([(0, 1.0, "max"), (1, 3.0, "max"), (0, 5.0, "avg")]):
        metrics = {f"test/{t}_mae_1e5": mae for t in ("T1", "T2", "T3")}
        config = {"task": {"target": target}, "dataset": {"seq_len": 9}, "schedule": {"max_epochs": 20}}
        run_dir = tmp_path / "runs" / f"r{i}"
        run_dir.mkdir(parents=True)
        (run_dir / SUMMARY).write_text(json.dumps(_record("table1", config, metrics, seed, f"id{i}")))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- table1 -->\nold\n<!-- /table1 -->\ntail\n")
    results_main(["table1", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--readme", str(readme)])
    table = (tmp_path / "out" / "table1.md").read_text()
    row = "| 3x3 | 4.42 | 2.00 ± 1.41 (2 seeds) | 4.39 |"
    assert row in table
    assert "id0" in table and "id1" in table
    text = readme.read_text()
    assert row in text and "old" not in text and text.endswith("<!-- /table1 -->\ntail\n")
    assert "### avg pooling" in text and "5.00 (1 seed)" in text  # every result section, demoted
    assert "id0" not in text  # the provenance stays in the file


def test_figures_from_fabricated_records(tmp_path):
    from ftn.figures import main as figures_main
    from ftn.results.units import learned_units
    from ftn.pooling import init_params

    max_unit = init_params("max_exact", 16)
    metrics = {"final_test/error": 0.5}
    for layer in ("features.6", "features.13"):
        for g, gate in enumerate("ifog"):
            for c, col in enumerate("wrb"):
                metrics[f"lstm/{layer}/{col}_{gate}"] = float(max_unit[g, c])
    assert torch.equal(learned_units(metrics)["features.6"], max_unit)
    config = {"model": {"width": 8, "negative_slope": 0.0}, "pooling": {"kind": "lstm", "init": HEADLINE_INIT},
              "dataset": {"name": "synthetic"}, "schedule": {"max_steps": 30}}
    history = [{"epoch": e, "step": 10 * e, "test/error": 0.9 - 0.1 * e} for e in range(3)]
    table2 = {**_record("table2", config, metrics, 0, "id0"), "history": history}
    baseline = {**_record("table2", {**config, "pooling": {"kind": "max"}}, metrics, 0, "id1"), "history": history,
                "max_locations": {"patches": 10, "kernel_size": 4, "histogram": [0, 2, 3, 5] + [0] * 13}}
    table4 = {**_record("table4", {**config, "model": {"width": None}}, metrics, 0, "id2"), "history": history}
    for i, record in enumerate((table2, baseline, table4)):
        (tmp_path / "runs" / f"r{i}").mkdir(parents=True)
        (tmp_path / "runs" / f"r{i}" / SUMMARY).write_text(json.dumps(record))
    figures_main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    for name in ("fig3_max_locations.png", "fig4_learned_pooling.png", "convnet_test_error.png",
                 "fig5_vgg16_test_error.png"):
        assert (tmp_path / "out" / name).read_bytes()[:4] == b"\x89PNG"


def test_the_gain_figure_draws_each_seeds_gain_over_max_at_each_width(tmp_path, monkeypatch):
    import ftn.figures as figures

    def record(kind, width, seed, error):
        pooling = {"kind": kind, **({"init": HEADLINE_INIT, "scan": "row"} if kind.startswith("lstm") else {})}
        config = {"seed": seed, "dataset": {"name": "cifar10_jpeg"}, "schedule": {"max_steps": 15000},
                  "model": {"width": width}, "pooling": pooling}
        return {**_record("table2", config, {"final_test/error": error / 100}, seed, "id"), "device": "cpu"}

    errors = {(8, "max"): (60, 58), (8, "lstm"): (50, 51), (32, "max"): (30, 31), (32, "lstm"): (28, 27)}
    records = [record(kind, width, seed, e) for (width, kind), pair in errors.items() for seed, e in enumerate(pair)]
    drawn = []
    monkeypatch.setattr(figures, "save", lambda fig, out: drawn.append(fig) or out)
    assert figures.plot_gain_by_width(records, tmp_path / "gain.png") == tmp_path / "gain.png"
    (ax,) = drawn[0].axes
    dots = sorted(y for c in ax.collections if c.get_offsets().shape[1] == 2 and len(c.get_offsets()) == 2
                  for _, y in c.get_offsets().tolist())
    assert dots == pytest.approx(sorted([10.0, 7.0, 2.0, 4.0]))  # max − lstm per seed: Conv 8 seeds 0, 1, Conv 32 seeds 0, 1
    # one width has no gain to set against another's
    assert figures.plot_gain_by_width([r for r in records if r["config"]["model"]["width"] == 8], tmp_path / "x") is None


def test_a_longer_budgets_first_runs_wait_and_each_setting_is_a_row_of_panels():
    import ftn.figures as figures
    from ftn.results.records import Setting, preferred

    short, long_ = Setting("cifar10_jpeg", 15000, "CPU"), Setting("cifar10_jpeg", 122000, "CPU")
    assert preferred({short: 3, long_: 1}) == short and preferred({short: 3, long_: 3}) == long_
    assert preferred({short: 1, long_: 2}) == long_ and preferred({short: 5, long_: 4}) == long_  # 3 seeds suffice
    fig, axes = figures.grid([(short, 8), (short, 32), (long_, 8)], 4, 3)
    assert fig.axes[0] is axes[short, 8] and fig.axes[1] is axes[short, 32] and fig.axes[2] is axes[long_, 8]
    assert not fig.axes[3].axison  # the long budget has no Conv 32: its place is blank


@pytest.mark.parametrize("epochs", [6, 25], ids=["the CPU's first epochs", "a whole run"])
def test_figure_5_draws_a_short_run_as_panel_b_beside_each_seeds_gap(epochs, tmp_path):
    import matplotlib.pyplot as plt

    from ftn.figures import plot_gaps, plot_vgg_error_curves

    config = lambda kind: {"model": {"width": None}, "pooling": {"kind": kind}, "dataset": {"name": "cifar10_jpeg"},
                           "schedule": {"max_steps": 500 * epochs}}
    history = lambda offset: [{"epoch": e, "step": 500 * (e + 1), "test/error": 0.8 - 0.02 * e + offset}
                              for e in range(epochs)]
    runs = [{**_record("table4", config(kind), {}, seed, f"{kind}{seed}"), "history": history(gap + 0.01 * seed)}
            for kind, gap in (("max", 0.0), ("lstm", -0.03)) for seed in (0, 1)]
    plot_vgg_error_curves(runs, tmp_path / "fig5.png")
    assert (tmp_path / "fig5.png").read_bytes()[:4] == b"\x89PNG"
    fig, ax = plt.subplots()
    plot_gaps(ax, runs[:3])  # seed 1 has no lstm run: one line, seed 0's
    (line,) = ax.get_lines()[:-1]  # the last is the zero line
    assert line.get_label() == "seed 0" and list(line.get_xdata()) == list(range(1, epochs + 1))
    assert [round(y, 6) for y in line.get_ydata()] == [-3.0] * epochs
    plt.close(fig)


def test_results_notebook_runs_on_records(tmp_path, monkeypatch):
    import types

    notebook = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "results.ipynb").read_text())
    shown = []
    display = types.ModuleType("IPython.display")  # the notebook's only IPython needs, captured
    display.display, display.Markdown, display.Image = shown.append, str, lambda filename: filename
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: None
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    metrics = {f"test/{t}_mae_1e5": 1.0 for t in ("T1", "T2", "T3")}
    (tmp_path / "runs" / "r").mkdir(parents=True)
    (tmp_path / "runs" / "r" / SUMMARY).write_text(json.dumps(
        _record("table1", {"task": {"target": "max"}, "dataset": {"seq_len": 4}, "schedule": {"max_epochs": 20}},
                metrics, 0, "id0")))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]), namespace)
    assert any("| 2x2 | 8.97 | 1.00 (1 seed) |" in s for s in shown)
    assert (tmp_path / "runs" / "figures").is_dir() and not (tmp_path / "results").exists()  # committed ones untouched


def test_paired_differences_refuse_runs_of_two_protocols():
    from ftn.results.table2 import error_difference

    def run(kind, seed, error, **dataset):
        config = {"dataset": {"name": "cifar10_jpeg", "seed": seed, "root": f"/machine{seed}/c.tar.gz", **dataset},
                  "seed": seed, "pooling": {"kind": kind}}
        return _record("table2", config, {"final_test/error": error / 100}, seed, f"{kind}{seed}")

    lstm = [run("lstm", s, 55.0 + s) for s in range(3)]
    assert error_difference(lstm, [run("max", s, 60.0) for s in range(3)]).mean == pytest.approx(-4.0)  # root: a path
    with pytest.raises(ValueError, match=r"differ in dataset.augmentation \(.*\); allowed: runs that differ in "
                                         "pooling and seed only"):
        error_difference(lstm, [run("max", s, 60.0, augmentation="crop_flip") for s in range(3)])
    assert error_difference(lstm, []).n == error_difference([], lstm).n == 0  # a cell not run yet: no pairs


def test_table2_headline_detail_and_paired_differences():
    from ftn.pooling import init_params, unit_values
    from ftn.results import table2

    def table2_record(kind, init, seed, error, scan="row"):
        config = {"dataset": {"name": "cifar10_jpeg"}, "schedule": {"max_steps": 15000}, "model": {"width": 8},
                  "seed": seed, "pooling": {"kind": kind, **({"init": init, "scan": scan} if init else {})}}
        metrics = {"final_test/error": error / 100}
        if init:  # a learned unit, as the classification task logs it
            metrics |= {f"lstm/features.6/{k}": v for k, v in unit_values(init_params("avg_soft", 16)).items()}
        return _record("table2", config, metrics, seed, f"{kind}{init}{scan}{seed}")

    records = [table2_record("max", None, s, e) for s, e in enumerate([60.0, 64.0, 62.0])]
    records += [table2_record("avg", None, s, e) for s, e in enumerate([61.0, 63.0, 63.0])]
    records += [table2_record("lstm", HEADLINE_INIT, s, e) for s, e in enumerate([58.0, 61.0, 60.5])]
    records += [table2_record("lstm", "lasagne", s, e) for s, e in enumerate([70.0, 71.0])]
    records += [table2_record("lstm", HEADLINE_INIT, 0, 59.0, scan="snake")]
    text = "\n".join(table2(records))
    # the headline row averages only the headline init's row-scan runs
    assert "| Conv 8 | 57.44 | 62.00 ± 2.00 (3 seeds) |" in text
    assert "| 50.52 | 59.83 ± 1.61 (3 seeds) |" in text
    # every cell is listed with its seeds and its paired differences to max and to avg (seed by seed); with 3
    # pairs, p = 1 - |t| / sqrt(2 + t^2)
    assert (f"| lstm {HEADLINE_INIT} | 3 | 59.83 ± 1.61 (3 seeds) | s0 58.00, s1 61.00, s2 60.50 "
            "| -2.17 ± 0.76 (3 pairs, t = -4.9, p = 0.039) | -2.50 ± 0.50 (3 pairs, t = -8.7, p = 0.013) |") in text
    assert ("| lstm lasagne | 2 | 70.50 ± 0.71 (2 seeds) | s0 70.00, s1 71.00 "
            "| +8.50 ± 2.12 (2 pairs, t = +5.7, p = 0.11) | +8.50 ± 0.71 (2 pairs, t = +17.0, p = 0.037) |") in text
    # the init study pairs each init with the headline init of its own architecture
    init_section = text.split(": LSTM inits")[1].split("###")[0]
    assert "| lstm lasagne | 2 | 70.50 ± 0.71 (2 seeds) | s0 70.00, s1 71.00 | +11.00 ± 1.41 (2 pairs, t = +11.0, p = 0.058) |" in init_section
    assert "| max |" not in init_section and "snake" not in init_section
    assert f"| lstm {HEADLINE_INIT} snake | 1 |" in text and "| -1.00 (1 pair) |" in text
    assert f"| lstm {HEADLINE_INIT} (3 seeds) | features.6 | " in text and "lasagne (2 seeds)" in text  # the learned units, mean over seeds


def test_table4_cells_never_mix_devices():
    from ftn.results import table4

    def record(where: str) -> dict:
        config = {"dataset": {"name": "cifar10"}, "pooling": {"kind": "lstm"}, "schedule": {"max_steps": 10}}
        return {**_record("table4", config, {"final_test/error": 0.1}, 0, where), "device": where}

    text = "\n".join(table4([record("cpu"), record("cuda")]))
    assert "| CIFAR-10 | lstm | 10 | CPU | 5.79 (at 122000) | 10.00 (1 seed) | — |" in text
    assert "| CIFAR-10 | lstm | 10 | GPU | 5.79 (at 122000) | 10.00 (1 seed) | — |" in text


def test_table4_pairs_lstm_with_max_seed_by_seed_and_says_what_a_short_run_compares_with():
    from ftn.results import table4

    def record(kind: str, seed: int, error: float, steps: int = 3000) -> dict:
        config = {"dataset": {"name": "cifar10_jpeg"}, "pooling": {"kind": kind}, "schedule": {"max_steps": steps}}
        return {**_record("table4", config, {"final_test/error": error}, seed, f"{kind}{seed}"), "device": "cpu"}

    runs = [record("max", 0, 0.30), record("max", 1, 0.34), record("lstm", 0, 0.28), record("lstm", 1, 0.31)]
    text = "\n".join(table4(runs))
    assert ("| CIFAR-10 (JPEG copy) | lstm | 3000 | CPU | 5.79 (at 122000) | 29.50 ± 2.12 (2 seeds) "
            "| -2.50 ± 0.71 (2 pairs, t = -5.0, p = 0.13) |") in text
    assert "| CIFAR-10 (JPEG copy) | max | 3000 | CPU | — (not reported) | 32.00 ± 2.83 (2 seeds) | — |" in text
    assert "Rows under 122000 iterations are the paper's schedule cut short" in text
    assert "cut short" not in "\n".join(table4([record("max", 0, 0.1, steps=122000)]))


@pytest.mark.parametrize("dof, t_05, t_01", [(1, 12.706, 63.657), (2, 4.303, 9.925), (3, 3.182, 5.841),
                                             (4, 2.776, 4.604), (5, 2.571, 4.032), (9, 2.262, 3.250)])
def test_two_sided_p_gives_the_t_tables_critical_values(dof, t_05, t_01):
    from ftn.results import two_sided_p

    assert two_sided_p(t_05, dof) == pytest.approx(0.05, abs=2e-4)
    assert two_sided_p(-t_01, dof) == pytest.approx(0.01, abs=2e-4)
    assert two_sided_p(0.0, dof) == pytest.approx(1.0) and two_sided_p(float("inf"), dof) == 0.0


@pytest.mark.parametrize("diffs, t, p", [((0.0, 0.0, 0.0), 0.0, 1.0),              # no difference: nothing to see
                                           ((1.5, 1.5, 1.5), float("inf"), 0.0),   # the same difference every seed
                                           ((-1.5, -1.5), float("-inf"), 0.0)])
def test_paired_differences_without_spread(diffs, t, p):
    from ftn.results.stats import Paired

    assert (Paired(diffs).t, Paired(diffs).p) == (t, p)


@pytest.mark.parametrize("p_values, kept", [
    ([0.01, 0.04, 0.03, 0.005], [True, False, False, True]),  # 0.005 < .05/4, 0.01 < .05/3, 0.03 >= .05/2: stop
    ([0.02, 0.001, 0.04], [True, True, True]),                  # .001 < .05/3, .02 < .05/2, .04 < .05
    ([0.03, 0.03, 0.001], [False, False, True]),                # a tie at the failing step fails together
    ([], []),
])
def test_holm_steps_down_and_stops_at_the_first_p_over_its_bound(p_values, kept):
    from ftn.results.stats import holm

    assert holm(p_values) == kept


def test_headline_init_is_the_pooling_configs_default_and_the_python_default(compose_cfg, tmp_path):
    import inspect

    from ftn.pooling import LSTMPool2d, PoolFactory

    assert inspect.signature(LSTMPool2d).parameters["init"].default == HEADLINE_INIT
    assert PoolFactory("lstm").init == HEADLINE_INIT  # its init=None: the default of the kinds that read it
    for kind in ("lstm", "lstm_shared", "lstm_region"):
        pooling = compose_cfg([f"pooling={kind}"], tmp_path).pooling
        assert (pooling.kind, pooling.init, pooling.scan, pooling.impl) == (kind, HEADLINE_INIT, "row", "auto")
