"""The pooling zoo: every kind of ``ftn.pooling.zoo`` and the GRU unit beside max, avg and LSTM pooling, trained
under Table 2's protocol (same network, schedule, augmentation and seeds), with paired differences and each
kind's measured cost per training step."""
from __future__ import annotations

import statistics

from .labels import describe, error_percent, is_headline
from .markdown import provenance
from .records import DATASET_LABELS, cells, device
from .stats import mean_std, paired
from .table2 import by_seed, per_seed

# The record experiment of a cost benchmark (scripts/bench_zoo.py): {"ms_per_step": {kind: ms}, ...}.
COST = "pooling_cost"
BASELINE_ORDER = ("max", "avg", "lstm_shared", "lstm")


def setting(record: dict) -> tuple:
    c = record["config"]
    return c["dataset"]["name"], c["schedule"]["max_steps"], device(record), c["model"]["width"]


def newest_bench(records: list[dict]) -> dict | None:
    """The newest cost benchmark record among ``records``, or None."""
    return max((r for r in records if r.get("experiment") == COST), key=lambda r: r.get("date", ""), default=None)


def costs(records: list[dict]) -> dict[str, float]:
    """Each kind's ms per training step relative to max pooling, from the newest cost benchmark record."""
    if not (bench := newest_bench(records)):
        return {}
    ms = bench["ms_per_step"]
    return {kind: value / ms["max"] for kind, value in ms.items()}


def _cost_line(records: list[dict]) -> list[str]:
    if not (b := newest_bench(records)):
        return ["Cost per step: not measured yet (`make bench` runs `scripts/bench_zoo.py` on an idle machine)."]
    return [f"Cost per step: a Conv {b['width']} training step at batch {b['batch']} on {b['hardware']}, "
            f"{b['threads']} thread(s), relative to max pooling's {b['ms_per_step']['max']:.1f} ms; the kinds "
            f"interleaved, median of {b['repeats']} rounds, measured on an otherwise idle machine at commit "
            f"{b['commit']} (`{b['command']}`)."]


def pooling_zoo(records: list[dict]) -> list[str]:
    runs = [r for r in records if r.get("experiment") != COST]
    relative = costs(records)
    zoo_settings = {setting(r) for r in runs if r["experiment"] == "zoo"}
    lines = ["# The pooling zoo: Conv N on CIFAR-10, test error (%)", "",
             "Each pooling method of the literature (`ftn.pooling.zoo`, formulas and sources in its docstrings) and "
             "the GRU unit, trained under Table 2's protocol: the same network, schedule, augmentation and seeds "
             "as the max, avg and LSTM cells beside them (LSTM: the headline init, row scan), so that same-seed "
             "runs share their batch order and augmentation draws. Paired differences are per seed (negative: "
             "lower error); p is two-sided and per comparison, not corrected for the number of comparisons this "
             "table makes.", "", *_cost_line(records), ""]
    shown: list[dict] = []
    for key in sorted(zoo_settings, key=lambda s: (s[0], -s[1], s[2], s[3])):
        dataset, steps, where, width = key
        here = [r for r in runs if setting(r) == key and is_headline(r["config"])]
        groups = cells(here)
        kind_of = lambda g: g[0]["config"]["pooling"]["kind"]
        order = {k: i for i, k in enumerate(BASELINE_ORDER)}
        groups.sort(key=lambda g: (order.get(kind_of(g), len(order)), statistics.mean(map(error_percent, g))))
        base = {k: max((g for g in groups if kind_of(g) == k), key=len, default=[]) for k in ("max", "lstm")}
        params_max = base["max"][0]["params_total"] if base["max"] else None
        lines += [f"## Conv {width}, {DATASET_LABELS.get(dataset, dataset)}, {steps} iterations, {where}", "",
                  "| pooling | parameters added | seeds | test error (%) | per seed | paired difference to max "
                  "(points) | paired difference to lstm (points) | cost per step (× max) |",
                  "|---|---|---|---|---|---|---|---|"]
        for g in groups:
            kind = kind_of(g)
            added = "—" if params_max is None else f"{g[0]['params_total'] - params_max:+d}"
            diffs = ["—" if g is base[b] or not base[b] else str(paired(by_seed(g), by_seed(base[b])))
                     for b in ("max", "lstm")]
            cost = f"{relative[kind]:.2f}" if kind in relative else "—"
            lines.append(f"| {describe(g[0]['config'])} | {added} | {len(g)} | "
                         f"{mean_std([error_percent(r) for r in g])} | {per_seed(g)} | {' | '.join(diffs)} | "
                         f"{cost} |")
            shown += g
        lines.append("")
    describe_run = lambda r: f"Conv {r['config']['model']['width']} {describe(r['config'])} {device(r)}"
    return lines + provenance(shown, describe_run)
