"""The pooling zoo: every kind of ``ftn.pooling.zoo`` and the GRU unit beside max, avg and LSTM pooling, trained
under Table 2's protocol (same network, schedule, augmentation and seeds), with paired differences and each
kind's measured cost per training step."""
from __future__ import annotations

import statistics

from ..pooling import ZOO_KINDS
from .labels import changed_hyperparameters, describe, error_percent, is_headline
from .markdown import provenance
from .records import cells, device
from .stats import ALPHA, EQUIVALENT, MIN_PAIRS, Paired, holm, mean_std, seeds
from .table2 import error_difference, network, per_seed

# The record experiment of a cost benchmark (scripts/bench_zoo.py): {"ms_per_step": {kind: ms}, ...}.
COST = "pooling_cost"
BASELINE_ORDER = ("max", "avg", "lstm_shared", "lstm")


def newest_bench(records: list[dict]) -> dict | None:
    """The newest cost benchmark record among ``records``, or None."""
    return max((r for r in records if r.get("experiment") == COST), key=lambda r: r.get("date", ""), default=None)


def costs(records: list[dict]) -> dict[str, float]:
    """Each kind's ms per training step relative to max pooling, from the newest cost benchmark record."""
    if not (bench := newest_bench(records)):
        return {}
    ms = bench["ms_per_step"]
    return {kind: value / ms["max"] for kind, value in ms.items()}


def cost(config: dict, relative: dict[str, float]) -> float | None:
    """A cell's cost per step relative to max pooling, or None: the benchmark times each kind in its default
    config only, so another reading of a kind (``mixed draw=layer``) has no measured cost."""
    kind = config["pooling"]["kind"]
    return relative[kind] if kind in relative and is_headline(config) else None


def selected(records: list[dict]) -> list[dict]:
    """The runs the zoo shows: its own runs, each reading of a kind a cell of its own, beside the headline max,
    avg and LSTM cells of the Table 2 runs (not their init or scan studies)."""
    return [r for r in records
            if r.get("experiment") != COST and (r["experiment"] == "zoo" or is_headline(r["config"]))]


def _cost_line(records: list[dict]) -> list[str]:
    if not (b := newest_bench(records)):
        return ["Cost per step: not measured yet (`make bench` runs `scripts/bench_zoo.py` on an idle machine)."]
    return [f"Cost per step: a Conv {b['width']} training step at batch {b['batch']} on {b['hardware']}, "
            f"{b['threads']} thread(s), in the {b['layout']} layout (the harness's), relative to max pooling's "
            f"{b['ms_per_step']['max']:.1f} ms; the kinds "
            f"interleaved, median of {b['repeats']} rounds, measured on an otherwise idle machine at commit "
            f"{b['commit']} (`{b['command']}`)."]


def kind_of(cell: list[dict]) -> str:
    return cell[0]["config"]["pooling"]["kind"]


def train_error(cell: list[dict]) -> float | None:
    """The cell's mean final training error (%), measured in training mode, or None where a record lacks it."""
    values = [100 * r["metrics"]["train/error"] for r in cell if "train/error" in r["metrics"]]
    return statistics.mean(values) if values and len(values) == len(cell) else None


def _names(items: list[str]) -> str:
    return ", ".join(items) or "none"


def _counted(items: list[str]) -> str:
    return f"{len(items)} ({', '.join(items)})" if items else "none"


def by_outcome(compared: list[tuple[list[dict], Paired]]) -> tuple[list, list, list]:
    """(cell, difference) pairs split into lower error, no difference detected and higher error (p < ``ALPHA``)."""
    return ([c for c in compared if c[1].p < ALPHA and c[1].mean < 0], [c for c in compared if c[1].p >= ALPHA],
            [c for c in compared if c[1].p < ALPHA and c[1].mean > 0])


def other_readings(groups: list[list[dict]]) -> list[str]:
    """Each other reading of a kind (``mixed draw=layer``) against the kind's default reading, by the paired
    difference and the final training error: does the choice the method's paper leaves open change the result?"""
    parts = []
    for g in groups:
        if not changed_hyperparameters(g[0]["config"]):
            continue
        default = next((d for d in groups if kind_of(d) == kind_of(g) and is_headline(d[0]["config"])), None)
        if default is None or (d := error_difference(g, default)).n < MIN_PAIRS:
            continue
        train = [train_error(c) for c in (g, default)]
        fits = "" if None in train else f"; final training error {train[0]:.1f}% against {train[1]:.1f}%"
        parts.append(f"{describe(g[0]['config'])} minus {describe(default[0]['config'])}: {d}{fits}")
    if not parts:
        return []
    return ["- **Other readings of a kind** (test error minus the default reading's, points): "
            + "; ".join(parts) + "."]


def what_the_seeds_show(groups: list[list[dict]], base: dict[str, list[dict]], added: dict[str, int]) -> list[str]:
    """The reading of one setting's table, generated: each cell against lstm and max pooling by its paired
    difference, read once it has ``MIN_PAIRS`` pairs; ``added`` is each cell's parameters beyond max pooling's.
    Holm's correction runs over the distinct pairs of cells read (lstm against max counts once)."""
    read: list[tuple[list[dict], str, Paired]] = [
        (g, b, d) for b in ("lstm", "max") if base[b] for g in groups
        if g is not base[b] and (d := error_difference(g, base[b])).n >= MIN_PAIRS]
    pair = lambda g, b: frozenset((id(g), id(base[b])))
    family = {pair(g, b): d.p for g, b, d in read}
    survives = {key for key, kept in zip(family, holm(list(family.values()))) if kept}
    label = lambda g: describe(g[0]["config"])
    lines = ["### What the seeds show", "",
             f"Generated from the table: a cell is read against a baseline once it has {MIN_PAIRS} seeds paired with "
             f"the baseline's; a difference counts at p < {ALPHA:g} (paired t, two-sided, per comparison). † marks "
             f"a difference that also survives Holm's correction for the {len(family)} comparisons read here. No "
             f"difference detected is not the same as no difference: only two one-sided tests can show a "
             f"difference within ±{EQUIVALENT:g} point (\"shown within\").", ""]
    for b in ("lstm", "max"):
        if not base[b]:
            continue
        these = [(g, d) for g, bb, d in read if bb == b]
        item = lambda g, d: f"{label(g)} ({d.mean:+.2f}, p = {d.p:.2g}{'†' if pair(g, b) in survives else ''})"
        lower, tied, higher = ([item(g, d) for g, d in outcome] for outcome in by_outcome(these))
        within = [label(g) for g, d in these if d.equivalence_p(EQUIVALENT) < ALPHA]
        lines.append(f"- **Against {label(base[b])}** (test error minus its, points): lower error: {_names(lower)}. "
                     f"No difference detected: {_names(tied)}. Shown within ±{EQUIVALENT:g} point: "
                     f"{_names(within)}. Higher error: {_names(higher)}.")
    learned = [(g, d) for g, b, d in read if b == "lstm" and added.get(kind_of(g), 0) > 0]
    if learned:
        loses, ties, beats = ([label(g) for g, _ in outcome] for outcome in by_outcome(learned))
        kinds = f"{len(learned)} other kind{'s' if len(learned) > 1 else ''}"
        lines.append(f"- **Is the LSTM unit better than the other learned poolings?** Of the {kinds} with learned "
                     f"parameters read so far, {label(base['lstm'])} has lower error than {_counted(beats)}; no "
                     f"difference is detected from {_counted(ties)}; it has higher error than {_counted(loses)}.")
    worse = [g for g, _ in by_outcome([(g, d) for g, b, d in read if b == "max"])[2]]
    if worse and (max_train := train_error(base["max"])) is not None:
        parts = []
        for g in worse:
            if (own := train_error(g)) is not None:
                verdict = ("above max's too: it fits the training set worse, not only the test set" if own > max_train
                           else "not above max's: the gap opens at test time")
                parts.append(f"{label(g)} {own:.1f}%, {verdict}")
        if parts:
            lines.append(f"- **Worse than max, and why:** final training error in training mode (dropout, "
                         f"augmentation and the pool's own sampling on), against max's {max_train:.1f}%: "
                         + "; ".join(parts) + ".")
    lines += other_readings(groups)
    thin = [f"{label(g)} ({seeds(len(g))})" for g in groups
            if not any(gg is g for gg, _, _ in read) and not any(g is base[b] for b in base)]
    thin += [f"{kind} (no run yet)" for kind in ZOO_KINDS if kind not in {kind_of(g) for g in groups}]
    lines.append(f"- **Not read yet** (fewer than {MIN_PAIRS} seeds paired): {_names(thin)}.")
    return lines + [""]


def pooling_zoo(records: list[dict]) -> list[str]:
    runs = selected(records)
    relative = costs(records)
    zoo_networks = {network(r) for r in runs if r["experiment"] == "zoo"}
    lines = ["# The pooling zoo: Conv N, test error (%)", "",
             "Each pooling method of the literature (`ftn.pooling.zoo`, formulas and sources in its docstrings) and "
             "the GRU unit, trained under Table 2's protocol: the same network, schedule, augmentation and seeds "
             "as the max, avg and LSTM cells beside them (LSTM: the headline init, row scan), so that same-seed "
             "runs share their batch order and augmentation draws. Paired differences are per seed (negative: "
             "lower error); p is two-sided and per comparison, not corrected for the number of comparisons this "
             "table makes.", "", *_cost_line(records), ""]
    shown: list[dict] = []
    for key in sorted(zoo_networks, key=lambda n: (n[0].dataset, -n[0].steps, n[0].device, n[1])):
        where, width = key
        here = [r for r in runs if network(r) == key]
        groups = cells(here)
        order = {k: i for i, k in enumerate(BASELINE_ORDER)}
        groups.sort(key=lambda g: (order.get(kind_of(g), len(order)), statistics.mean(map(error_percent, g))))
        base = {k: max((g for g in groups if kind_of(g) == k), key=len, default=[]) for k in ("max", "lstm")}
        params_max = base["max"][0]["params_total"] if base["max"] else None
        added = {} if params_max is None else {kind_of(g): g[0]["params_total"] - params_max for g in groups}
        lines += [f"## Conv {width}, {where.label('iterations')}", "",
                  "| pooling | parameters added | seeds | test error (%) | per seed | paired difference to max "
                  "(points) | paired difference to lstm (points) | cost per step (× max) |",
                  "|---|---|---|---|---|---|---|---|"]
        for g in groups:
            kind = kind_of(g)
            extra = f"{added[kind]:+d}" if kind in added else "—"
            diffs = ["—" if g is base[b] or not base[b] else str(error_difference(g, base[b]))
                     for b in ("max", "lstm")]
            measured = cost(g[0]["config"], relative)
            lines.append(f"| {describe(g[0]['config'])} | {extra} | {len(g)} | "
                         f"{mean_std([error_percent(r) for r in g])} | {per_seed(g)} | {' | '.join(diffs)} | "
                         f"{'—' if measured is None else f'{measured:.2f}'} |")
            shown += g
        lines += ["", *what_the_seeds_show(groups, base, added)]
    describe_run = lambda r: f"Conv {r['config']['model']['width']} {describe(r['config'])} {device(r)}"
    return lines + provenance(shown, describe_run)
