"""Table 1: one LSTM unit approximating max and average pooling, our recipe beside the paper's as written."""
from __future__ import annotations

from collections import defaultdict

from .markdown import UNIT_COLUMNS, header, provenance, row, slot, unit_cells
from .paper import TABLE1_MAE, TABLE1_TEST_SETS
from .units import learned_units

RECIPES = {"table1": "our recipe (results/table1.notes.md)", "table1_paper": "the paper's recipe as written",
           "table1_quick": "our recipe, QUICK (rough)"}


def epochs(record: dict) -> int:
    """The run's epoch cap (plateau: 20; plateau_long: 60)."""
    return record["config"]["schedule"]["max_epochs"]


def side(seq_len: int) -> int:
    """k of the k x k window whose ``seq_len`` values a Table 1 sequence holds."""
    return round(seq_len ** 0.5)


def pool_size(record: dict) -> int:
    return side(record["config"]["dataset"]["seq_len"])


def worst_mae(record: dict) -> float:
    """The largest of the three test sets' MAE, in 1e-5."""
    return max(record["metrics"][f"test/{t}_mae_1e5"] for t in TABLE1_TEST_SETS)


def unit_table(records: list[dict]) -> list[str]:
    """Each run's learned unit (w, r, b of gates i, f, o and modulation g) beside its worst test MAE."""
    lines = header(["pool size", "seed", "worst MAE (1e-5)", *UNIT_COLUMNS])
    for r in sorted(records, key=lambda r: (r["config"]["dataset"]["seq_len"], r["seed"])):
        unit = learned_units(r["metrics"]).get("unit")
        if unit is None:
            continue
        k = pool_size(r)
        lines.append(row([f"{k}x{k}", str(r["seed"]), f"{worst_mae(r):.3g}", *unit_cells(unit.flatten().tolist())]))
    return lines


def table1(records: list[dict]) -> list[str]:
    groups = defaultdict(list)
    for r in records:  # a section per recipe, target and epoch budget
        groups[(r["experiment"], r["config"]["task"]["target"], epochs(r), r["config"]["dataset"]["seq_len"])].append(r)
    lines = ["# Table 1: one LSTM unit approximating a pooling function", "",
             "MAE in units of 1e-5 on three generated test sets of 10^4 batches of 128 windows: "
             "T1 values uniform in [0, 300], T2 50% zeros, T3 80% zeros. Ours: mean ± std over seeds.", ""]
    for experiment, target, budget in sorted({k[:3] for k in groups}, key=lambda k: (k[1] != "max", k[0], k[2])):
        lengths = sorted(length for e, t, b, length in groups if (e, t, b) == (experiment, target, budget))
        lines += [f"## {target} pooling, {RECIPES.get(experiment, experiment)}, {budget} epochs", "",
                  "| pool size | T1 paper | T1 ours | T2 paper | T2 ours | T3 paper | T3 ours |", "|---|---|---|---|---|---|---|"]
        for length in lengths:
            runs = groups[(experiment, target, budget, length)]
            paper = TABLE1_MAE.get(length) if target == "max" else None
            cells = []
            for i, name in enumerate(TABLE1_TEST_SETS):
                cells += [f"{paper[i]:.2f}" if paper else "—",
                          slot(runs, lambda r, name=name: r["metrics"][f"test/{name}_mae_1e5"])]
            k = side(length)
            lines.append(row([f"{k}x{k}", *cells]))
        lines.append("")
        if target == "avg":  # where a unit that does not learn average pooling got stuck
            section = [r for length in lengths for r in groups[(experiment, target, budget, length)]]
            lines += [f"### {target} pooling, {RECIPES.get(experiment, experiment)}, {budget} epochs: learned units "
                      "(each run)", "", *unit_table(section), ""]
    describe = lambda r: (f"{r['experiment']} {r['config']['task']['target']} {r['config']['dataset']['seq_len']} "
                          f"{epochs(r)} epochs")
    return lines + provenance(records, describe)
