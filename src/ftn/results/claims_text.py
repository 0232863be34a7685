"""``results/claims.md``: every claim of ``claims.CLAIMS`` with its findings written as sentences. The rules return
numbers and verdicts (``findings``); every word said about them is written here."""
from __future__ import annotations

from functools import singledispatch

from . import paper
from .claims import CLAIMS
from .findings import (AvgTracking, Comparisons, Convergence, DeadUnit, Finding, GainByWidth, GainsSoFar,
                       LocationsKept, MaeBelow, Network, NoRecord, ParameterShare, ScanOrders, SizeSpread,
                       StepCost, Unmeasured, Verdict, VggError)
from .markdown import row
from .records import DATASET_LABELS
from .stats import ALPHA, EQUIVALENT, MIN_PAIRS, seeds
from .table1 import RECIPES

# What would test a claim that no record bears on, per paper table.
MISSING = {3: "no Table 3 record on a GPU yet: the GPU kit's bench stage writes results/runs/gpu/table3/ "
                "(`make bench` on a CPU writes results/runs/table3/)",
           4: "no Table 4 run yet: `make table4 SCHEDULE=paper DATASET=cifar10 DEVICE=gpu`"}


def network(n: Network) -> str:
    return f"{n.setting.label()}, {n.name}, {seeds(n.seeds)}"


def numbers(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def either(widths: tuple[int, ...]) -> str:
    return "Conv " + " or ".join(map(str, widths))


@singledispatch
def sentences(finding: Finding) -> tuple[str, str]:
    """(setting, evidence): what a finding rests on, and what it found there."""
    raise TypeError(f"no sentences for a {type(finding).__name__}")


@sentences.register
def _comparisons(f: Comparisons) -> tuple[str, str]:
    evidence = "; ".join(f"{a} − {b} {difference}" for a, b, difference in f.done)
    if f.waiting:
        waiting = ", ".join(f"{a} − {b} {difference}" for a, b, difference in f.waiting)
        evidence = f"so far {evidence}; waiting for {MIN_PAIRS} pairs: {waiting}" if f.done else \
            f"waiting for {MIN_PAIRS} pairs: {waiting}"
    return network(f.network), evidence


@sentences.register
def _scan_orders(f: ScanOrders) -> tuple[str, str]:
    within = f"within ±{EQUIVALENT:g} point"
    scans = "; ".join(f"{scan} − row {difference}, {within} p = {p:.2g}" for scan, difference, p in f.scans)
    return (network(f.network) + " per scan",
            f"{scans} (two one-sided tests: p < {ALPHA:g} shows the difference {within})")


@sentences.register
def _dead_unit(f: DeadUnit) -> tuple[str, str]:
    p, dead, revived = f.probe, f.dead, f.revived
    w_g = f"{p.w_g:g}".replace("-", "−")
    return (f"{f.impl} implementation, {p.windows} windows of {p.length} values in [0, {p.high:g}], w_g = {w_g}",
            f"b_g = 0: largest output {dead[0]:.3g}, largest gradient to the parameters {dead[1]:.3g} and to the "
            f"input {dead[2]:.3g}; b_g = {p.revive_b_g:g} {'revives it' if f.revives else 'does not revive it'} "
            f"(largest output {revived[0]:.3g}, gradient {revived[1]:.3g})")


@sentences.register
def _mae_below(f: MaeBelow) -> tuple[str, str]:
    def seed(mae: float, change: float | None) -> str:
        return f"{mae:.3g}" + ("" if change is None else f" (last {f.trend} epochs {100 * change:+.0f} %)")

    sizes = "; ".join(f"{s.k}x{s.k}" + (f" ({s.epochs} epochs)" if len(f.epochs) > 1 else "")
                      + f": {s.passed} of {len(s.maes)} seeds, worst MAE "
                      + ", ".join(seed(mae, change) for mae, change in zip(s.maes, s.changes)) for s in f.sizes)
    return (f"{f.target} pooling, {RECIPES[f.experiment]}, {'/'.join(map(str, f.epochs))} epochs, {f.device}",
            f"MAE in 1e-5, limit {f.limit:g}. {sizes}")


@sentences.register
def _size_spread(f: SizeSpread) -> tuple[str, str]:
    reported = [mae for maes in paper.TABLE1_MAE.values() for mae in maes]
    return (f"max pooling, {RECIPES[f.experiment]}, {f.device}, {seeds(f.seeds)}",
            "mean worst MAE (1e-5) " + ", ".join(f"{k}x{k} {mean:.3g}" for k, mean in f.means)
            + f": largest {f.spread:.1f}× the smallest (insensitive: within {paper.SIZE_SPREAD:g}×, every seed below "
              f"{paper.TABLE1_BOUND:g}; the paper's own run from {min(reported):.2f} to {max(reported):.2f})")


@sentences.register
def _locations_kept(f: LocationsKept) -> tuple[str, str]:
    what = "mean locations kept" if f.measure == "mean" else "share of windows keeping all"
    missing = (f"; {f.unmeasured} more max {'run' if f.unmeasured == 1 else 'runs'} recorded before runs measured "
               "this, with no checkpoint left to measure" if f.unmeasured else "")
    return network(f.network), f"{what} per seed {numbers(f.values)} (claimed > {f.floor:g}){missing}"


@sentences.register
def _avg_tracking(f: AvgTracking) -> tuple[str, str]:
    return (network(f.network),
            f"correlation with avg, layer 1 per seed {numbers(f.first)} (tracks it: mean ≥ {paper.TRACKS_AVG:g}; "
            f"the unit at its init, untrained: {f.untrained_first:.2f}); "
            f"last layer {numbers(f.last)}; output not explained by avg {f.unexplained_first:.2f} against "
            f"{f.unexplained_last:.2f} (much more: over {paper.VARIES_MORE:g}×)")


@sentences.register
def _unmeasured(f: Unmeasured) -> tuple[str, str]:
    return f"Conv {f.width}", f"no max-pooling run measured yet (`make table2 WIDTHS={f.width} POOLINGS=max`)"


@sentences.register
def _gain_by_width(f: GainByWidth) -> tuple[str, str]:
    def gain(width: int, g) -> str:
        spread = f" ± {g.std:.2f}" if g.n >= 2 else ""
        errors = paper.TABLE2_ERROR.get(width)
        theirs = f"; paper {errors['max'] - errors['lstm']:+.2f}" if errors else ""
        return f"Conv {width} {g.mean:+.2f}{spread} ({g.n} {'pair' if g.n == 1 else 'pairs'}{theirs})"
    return (f"{f.setting.label()}, small against large networks",
            f"gain over max (max − lstm, points; the paper's at {paper.PAPER_ITERATIONS} it): "
            + ", ".join(gain(w, g) for w, g in f.gains) + "; "
            + "; ".join(f"Conv {small} − Conv {large} {test}: {verdict.value}" for small, large, test, verdict in f.tests))


@sentences.register
def _gains_so_far(f: GainsSoFar) -> tuple[str, str]:
    measured = "; ".join(f"Conv {width} ({s.label()}) {gain}" for s, width, gain in f.gains)
    return ("—", f"gains over max (max − lstm) measured so far: {measured or 'none'}; the claim needs "
                 f"{either(paper.SMALL_WIDTHS)} and {either(paper.LARGE_WIDTHS)} on one device and budget, "
                 f"{MIN_PAIRS} seeds each")


@sentences.register
def _convergence(f: Convergence) -> tuple[str, str]:
    proxy = "" if f.network.name == "VGG16" else " (Conv N as a proxy: the paper's curves are VGG16's)"
    pending = f"; a verdict needs {MIN_PAIRS} seeds" if f.verdict is Verdict.NOT_YET_TESTED else ""
    return (f"{network(f.network)}, a validation every {f.every} it{proxy}",
            "; ".join(f"error after {n} validations: lstm − max {difference}" for n, difference in f.measures)
            + pending)


@sentences.register
def _step_cost(f: StepCost) -> tuple[str, str]:
    low, high = f.judged
    reported = paper.table3_ratios()
    return (f"{f.network}, {f.hardware}, torch {f.torch}",
            "FTN/CNN " + ", ".join(f"{column} {ratio:.2f}×" for column, ratio in f.ratios)
            + f" (judged at batch 1, the paper's: {low:g}–{high:g}×; the paper's TITAN X: "
              f"{reported['train cuDNN']:.2f}× with cuDNN, {reported['train no cuDNN']:.2f}× without); "
              f"`{f.command}`, commit {f.commit}")


@sentences.register
def _vgg_error(f: VggError) -> tuple[str, str]:
    s = f.network.setting
    return (f"{DATASET_LABELS.get(s.dataset, s.dataset)}, {f.network.name} {f.pooling}, {s.steps} it, {s.device}, "
            f"{seeds(f.network.seeds)}",
            f"{f.mean:.2f} % against the paper's {f.paper:.2f} (within {paper.VGG_MARGIN:g} point counts)"
            + (f"; the paper's is at {paper.PAPER_ITERATIONS} it, so a shorter run can only reach it, not miss it"
               if s.steps < paper.PAPER_ITERATIONS else ""))


@sentences.register
def _parameter_share(f: ParameterShare) -> tuple[str, str]:
    vgg16 = "" if f.vgg16_recorded else ". The paper says it of VGG16: no record yet"
    return (f"{f.network.name} {f.pooling} ({f.network.setting.label()})",
            f"{f.lstm} LSTM parameters for {f.units} unit(s) ({paper.UNIT_PARAMETERS} each: {f.per_unit}); one unit "
            f"is {100 * f.share:.2g} % of the network's {f.total} (negligible: under {100 * paper.NEGLIGIBLE:g} %)"
            + vgg16)


@sentences.register
def _no_record(f: NoRecord) -> tuple[str, str]:
    return f.subject, MISSING[f.table]


def evidence(findings: list[Finding]) -> str:
    return "<br>".join(f"**{where}**: {f.verdict.value}. {what}" for f in findings for where, what in [sentences(f)])


def verdict(findings: list[Finding]) -> str:
    """A claim's verdict, and where part of what it bears on waits for runs (a network, device or budget with too
    few seeds or none), that too."""
    overall = Verdict.overall(f.verdict for f in findings)
    waiting = overall is not Verdict.NOT_YET_TESTED and any(f.verdict is Verdict.NOT_YET_TESTED for f in findings)
    return f"**{overall.value}**" + (" (a part not yet tested)" if waiting else "")


def claims(records: list[dict]) -> list[str]:
    lines = ["# The paper's claims, checked against our records", "",
             "Generated by `python -m ftn.results claims` from the records under `results/runs/`; each verdict is a "
             "rule in `src/ftn/results/claims.py`. Verdicts: supported; not supported (no effect detectable, or the "
             f"claimed level not reached); contradicted (the opposite holds at p < {ALPHA:g}); mixed (it holds in some "
             "settings or comparisons and not in others: the evidence says which); not yet tested (no record bears "
             "on it; the row says what would test it); a verdict followed by 'a part not yet tested' judges what has "
             "the records it needs while a network, device or budget the claim bears on waits for runs. Where the "
             "paper gives no number (claims 3 and 6: 'trains', 'easily approximated') the limit is ours and the row "
             "names it. A comparison needs "
             f"{MIN_PAIRS} seeds or more; p is the paired t-test's, two-sided and not corrected for the number of "
             "comparisons. Data: CIFAR-10 (JPEG copy) unless a setting says otherwise.", "", "## Verdicts", "",
             row(["#", "claim", "paper", "tested by", "evidence", "verdict"]), "|---|---|---|---|---|---|"]
    for claim in CLAIMS:
        findings = claim.rule(records)
        lines.append(row([str(claim.number), claim.text, claim.where, claim.tested_by, evidence(findings),
                          verdict(findings)]))
    return lines
