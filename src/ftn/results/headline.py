"""The headline: the paper's values beside ours for Tables 1 and 2, in a few lines (the README's one generated
block). Means over seeds only; the tables behind it give the spread, each seed and the paired tests."""
from __future__ import annotations

import statistics
from collections import Counter
from typing import Callable

from .labels import error_percent
from .markdown import header, row
from .records import cells, devices, preferred, setting
from .stats import MIN_PAIRS, seeds
from .paper import PAPER_ITERATIONS, TABLE1_MAE, TABLE1_TEST_SETS, TABLE2_ERROR, TABLE2_POOLINGS
from .table1 import epochs, side
from .table2 import headline_cell, settings

# The dense test set (values uniform in [0, 300]): its place in the paper's (T1, T2, T3) triples, and its name.
TABLE1_COLUMN = 0
TABLE1_TEST_SET = TABLE1_TEST_SETS[TABLE1_COLUMN]


def mean_of_largest_cell(runs: list[dict], value: Callable[[dict], float]) -> tuple[str, int]:
    """The mean of ``value`` over the seeds of the cell with the most seeds among ``runs`` (runs that differ in
    more than the seed are never averaged), and its number of seeds; ("—", 0) for no runs."""
    cell = max(cells(runs), key=len, default=[])
    return (f"{statistics.mean(value(r) for r in cell):.2f}", len(cell)) if cell else ("—", 0)


def seed_counts(counts: list[int]) -> str:
    present = [n for n in counts if n] or [0]
    return seeds(min(present)) if min(present) == max(present) else f"{min(present)}-{max(present)} seeds"


def table1_lines(records: list[dict]) -> list[str]:
    """Max pooling learned by one unit with our recipe, at the pool sizes the paper reports, at the epoch budget
    with the most runs."""
    runs = [r for r in records if r["experiment"] == "table1" and r["config"]["task"]["target"] == "max"
            and r["config"]["dataset"]["seq_len"] in TABLE1_MAE]
    if not runs:
        return []
    budget = Counter(epochs(r) for r in runs).most_common(1)[0][0]
    runs = [r for r in runs if epochs(r) == budget]
    lengths = sorted(TABLE1_MAE)
    mae = lambda r: r["metrics"][f"test/{TABLE1_TEST_SET}_mae_1e5"]
    ours = [mean_of_largest_cell([r for r in runs if r["config"]["dataset"]["seq_len"] == n], mae) for n in lengths]
    sizes = [f"{side(n)}x{side(n)}" for n in lengths]
    return [*header([f"Table 1: max pooling learned by one LSTM unit, MAE (1e-5) on {TABLE1_TEST_SET}", *sizes]),
            row(["paper", *(f"{TABLE1_MAE[n][TABLE1_COLUMN]:.2f}" for n in lengths)]),
            row([f"ours: our recipe, generated windows, {budget} epochs, {devices(runs)}, "
                 f"{seed_counts([n for _, n in ours])}",
                 *(value for value, _ in ours)])]


def table2_lines(records: list[dict]) -> list[str]:
    """Each network the paper reports, in the setting ``preferred`` among those that trained it (the largest budget
    whose cells have the seeds a comparison needs) and, while that is a shorter one, in each setting at the paper's
    own budget that has runs, its row saying so while its cells still lack those seeds."""
    by_setting = {setting(runs[0]): (label, runs)
                  for label, runs in settings([r for r in records if r["experiment"] == "table2"])}
    lines = []
    for width in sorted(TABLE2_ERROR):
        cells_of = {where: [mean_of_largest_cell(headline_cell(runs, width, pooling), error_percent)
                            for pooling in TABLE2_POOLINGS] for where, (_, runs) in by_setting.items()}
        trained = {where: min(n for _, n in cells) for where, cells in cells_of.items() if any(n for _, n in cells)}
        if not trained:
            continue
        best = preferred(trained)
        shown = [best, *(where for where in trained if where.steps == PAPER_ITERATIONS and where != best)]
        lines.append(row([f"Conv {width}, paper", *(f"{TABLE2_ERROR[width][p]:.2f}" for p in TABLE2_POOLINGS)]))
        for where in shown:
            ours = cells_of[where]
            so_far = " so far" if trained[where] < MIN_PAIRS else ""
            lines.append(row([f"Conv {width}, ours: {by_setting[where][0]}, {seed_counts([n for _, n in ours])}{so_far}",
                              *(value for value, _ in ours)]))
    if not lines:
        return []
    return [*header(["Table 2: Conv N, test error (%)", *TABLE2_POOLINGS]), *lines]


def headline(records: list[dict]) -> list[str]:
    parts = [part for part in (table1_lines(records), table2_lines(records)) if part]
    lines = ["# Headline: the paper's values beside ours", ""]
    for part in parts:
        lines += [*part, ""]
    return lines + ["Ours: means over seeds, each row naming its data, budget and device (\"so far\": a cell has fewer",
                    f"than the {MIN_PAIRS} seeds a comparison needs). The paper trained Table 2 on genuine CIFAR-10 for "
                    "122k iterations."]
