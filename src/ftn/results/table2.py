"""Table 2: Conv N x pooling on CIFAR-10, and per network every cell, the LSTM inits, the scan orders and the
learned units, with paired differences."""
from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Callable

from ..identity import differing_keys, is_seed
from .labels import HEADLINE_INIT, describe, error_percent, headline_lstm_scans, is_headline, row_scan
from .markdown import PARAM_KEY, UNIT_COLUMNS, header, provenance, row, slot, unit_cells
from .paper import TABLE2_ERROR, TABLE2_POOLINGS
from .records import Setting, cells, setting
from .stats import Paired, mean_std, paired, seeds


def by_seed(cell: list[dict]) -> dict[int, float]:
    return {r["seed"]: error_percent(r) for r in cell}


def protocol_differences(a: dict, b: dict) -> list[str]:
    """The result-changing keys in which two runs' configs differ beside their pooling and seed: none for runs
    whose paired difference is the pooling's effect. The seed's copies (dataset.seed) and dataset.root (one
    archive's path, as each machine spells it) do not count."""
    return [k for k in differing_keys(a, b)
            if not is_seed(k) and k != "dataset.root" and not k.startswith("pooling.")]


def error_difference(cell: list[dict], baseline: list[dict]) -> Paired:
    """Test error (%) minus the baseline's, seed by seed, for runs of one protocol (``protocol_differences``): a
    pair across, say, two augmentations would read as the pooling's effect."""
    for r in [*cell, *baseline] if cell and baseline else []:  # a missing cell makes no pairs to check
        if other := protocol_differences(cell[0]["config"], r["config"]):
            raise ValueError(f"paired differences across runs that differ in {', '.join(other)} "
                             f"({r.get('command', 'a run')}); allowed: runs that differ in pooling and seed only")
    return paired(by_seed(cell), by_seed(baseline))


# A baseline: its name, and which cell is the baseline of a given cell (both given by their configs).
Baseline = tuple[str, Callable[[dict, dict], bool]]
POOLING_BASELINES: list[Baseline] = [("max", lambda cell, c: c["pooling"]["kind"] == "max"),
                                     ("avg", lambda cell, c: c["pooling"]["kind"] == "avg")]


def baseline_of(groups: list[list[dict]], cell: list[dict], is_baseline: Callable[[dict, dict], bool]) -> list[dict]:
    """The cell among ``groups`` that is ``cell``'s baseline (of its protocol, the one with most seeds), or []."""
    config = cell[0]["config"]
    return max((h for h in groups if is_baseline(config, h[0]["config"])
                and not protocol_differences(config, h[0]["config"])), key=len, default=[])


def per_seed(cell: list[dict]) -> str:
    return ", ".join(f"s{r['seed']} {error_percent(r):.2f}" for r in sorted(cell, key=lambda r: r["seed"]))


def network_detail(records: list[dict], baselines: list[Baseline] = POOLING_BASELINES) -> list[str]:
    """Every cell of one network and budget: seeds, mean ± std, each seed's value, and the paired difference to
    each baseline cell (by default max and avg pooling; negative: lower error than the baseline)."""
    column = {kind: i for i, kind in enumerate(TABLE2_POOLINGS)}  # the paper's column order, then the rest
    groups = sorted(cells(records), key=lambda g: (column.get(g[0]["config"]["pooling"]["kind"], len(column)),
                                                   describe(g[0]["config"])))

    def difference(g: list[dict], is_baseline: Callable[[dict, dict], bool]) -> str:
        base = baseline_of(groups, g, is_baseline)
        return "—" if g is base else str(error_difference(g, base))

    # no column without a baseline
    baselines = [b for b in baselines if any(baseline_of(groups, g, b[1]) for g in groups)]
    lines = header(["pooling", "seeds", "test error (%)", "per seed",
                    *(f"paired difference to {name} (points)" for name, _ in baselines)])
    for g in groups:
        lines.append(row([describe(g[0]["config"]), str(len(g)), mean_std([error_percent(r) for r in g]), per_seed(g),
                          *(difference(g, match) for _, match in baselines)]))
    return lines


def scan_order(records: list[dict]) -> list[str]:
    """The paper's claim that the scan order does not matter: per-layer LSTM pooling with the headline init, each
    scan beside the row scan, paired seed by seed. Empty if no other scan was run."""
    runs = headline_lstm_scans(records)
    if all(row_scan(r["config"]) for r in runs):
        return []
    return ["Each scan paired with the row scan, seed by seed; the verdict is claim 1 of results/claims.md (the "
            "difference shown within ±1 point by two one-sided tests, with 3 seeds or more).", "",
            *network_detail(runs, [("the row scan", lambda cell, c: row_scan(c))])]


def init_study(records: list[dict]) -> list[str]:
    """Each LSTM init (row scan) beside the headline init of the same sharing architecture, paired seed by seed.
    Empty if only one init was run."""
    runs = [r for r in records if r["config"]["pooling"]["kind"].startswith("lstm") and row_scan(r["config"])]
    if len({r["config"]["pooling"].get("init") for r in runs}) < 2:
        return []
    same_kind_headline = lambda cell, c: c["pooling"]["kind"] == cell["pooling"]["kind"] and is_headline(c)
    return ["p is per comparison, not corrected for the number of comparisons in the table.", "",
            *network_detail(runs, [(f"`{HEADLINE_INIT}`, same architecture", same_kind_headline)])]


def learned_units_table(records: list[dict]) -> list[str]:
    """Mean over seeds of each LSTM cell's learned unit parameters, per pooling layer (the lstm/* metrics)."""
    lines = header(["cell", "layer", *UNIT_COLUMNS])
    for g in sorted(cells(records), key=lambda g: describe(g[0]["config"])):
        layers = sorted({m["layer"] for k in g[0]["metrics"] if (m := PARAM_KEY.match(k)) and m["layer"]})
        for layer in layers:
            values = [statistics.mean(r["metrics"][f"lstm/{layer}/{name}"] for r in g) for name in UNIT_COLUMNS]
            lines.append(row([f"{describe(g[0]['config'])} ({seeds(len(g))})", layer, *unit_cells(values)]))
    return lines if len(lines) > 2 else []


def settings(records: list[dict]) -> list[tuple[str, list[dict]]]:
    """The runs of each setting (dataset, budget, device) under its label, per dataset the largest budget first,
    and within it the device with the most runs: the order of the table's sections."""
    groups = defaultdict(list)
    for r in records:
        groups[setting(r)].append(r)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0].dataset, -kv[0].steps, -len(kv[1])))
    return [(where.label("iterations"), runs) for where, runs in ordered]


def run_label(record: dict) -> str:
    """One Table 2 run in a provenance section: "CIFAR-10 (JPEG copy), 15000 it, CPU Conv 8 lstm"."""
    return f"{setting(record).label()} Conv {record['config']['model']['width']} {describe(record['config'])}"


def network(record: dict) -> tuple[Setting, int]:
    """(setting, width): the Conv N of one setting that a section of Table 2 (or of the zoo's table) holds."""
    return setting(record), record["config"]["model"]["width"]


def networks(records: list[dict], experiments: tuple[str, ...] = ("table2",)) -> dict[tuple[Setting, int], list[dict]]:
    """The Conv N runs of ``experiments`` (Table 2's; the zoo's share its protocol) by (setting, width), the
    smallest network first."""
    groups = defaultdict(list)
    for r in (r for r in records if r.get("experiment") in experiments):
        groups[network(r)].append(r)
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])))


def largest_headline_cell(runs: list[dict], kind: str) -> list[dict]:
    """The cell the paper's table shows for ``kind`` (the one with most seeds)."""
    return max((g for g in cells(runs) if g[0]["config"]["pooling"]["kind"] == kind and is_headline(g[0]["config"])),
               key=len, default=[])


def headline_cell(runs: list[dict], width: int, pooling: str) -> list[dict]:
    """The runs of the paper's cell (Conv ``width``, ``pooling``) among ``runs``: LSTM with the headline init."""
    return [r for r in runs if r["config"]["model"]["width"] == width and is_headline(r["config"])
            and r["config"]["pooling"]["kind"] == pooling]


def table2(records: list[dict]) -> list[str]:
    lines = ["# Table 2: Conv N, test error (%)", "",
             "Paper: the paper's Table 2 (genuine CIFAR-10, 122k iterations). Ours: mean ± std over seeds, at the "
             f"budget named in each heading. LSTM cells of the first table use the headline init `{HEADLINE_INIT}` "
             "and the row scan; the tables after it list every cell, each seed, and the paired differences to max "
             "and avg pooling.", ""]
    for label, runs in settings(records):
        widths = sorted({r["config"]["model"]["width"] for r in runs})
        lines += [f"## {label}", "",
                  "| network | " + " | ".join(f"{p} paper | {p} ours" for p in TABLE2_POOLINGS) + " |",
                  "|---|" + "---|---|" * len(TABLE2_POOLINGS)]
        for width in widths:
            paper = TABLE2_ERROR.get(width)
            slots = []
            for pooling in TABLE2_POOLINGS:
                slots += [f"{paper[pooling]:.2f}" if paper else "—",
                          slot(headline_cell(runs, width, pooling), error_percent)]
            lines.append(row([f"Conv {width}", *slots]))
        lines.append("")
        for width in widths:
            network = [r for r in runs if r["config"]["model"]["width"] == width]
            lines += [f"### Conv {width}, {label}: every cell", "", *network_detail(network), ""]
            if inits := init_study(network):
                lines += [f"### Conv {width}, {label}: LSTM inits", "", *inits, ""]
            if scans := scan_order(network):
                lines += [f"### Conv {width}, {label}: scan order (section 3)", "", *scans, ""]
            if units := learned_units_table(network):
                lines += [f"### Conv {width}, {label}: learned units (mean over seeds)", "", *units, ""]
    return lines + provenance(records, run_label)
