"""Every claim of the paper as a rule over the run records: ``CLAIMS``.

A rule returns what it finds as data (``findings``), one finding per setting it can judge (data, budget, device,
network, seeds): a claim tested at several budgets or on several devices shows each, and its verdict is the
findings' common one, or ``mixed`` where they differ (``Verdict.overall``). ``claims_text`` writes the findings as
``results/claims.md``. The paper's numbers, and the limits we read its words with, are in ``paper``; the
statistics every reading shares (``ALPHA``, ``MIN_PAIRS``, ``EQUIVALENT``) in ``stats``. p is per comparison, not
corrected for the number of comparisons.
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import torch

from ..pooling import init_params, lstm_scan
from . import paper
from .findings import (AvgTracking, Comparisons, Convergence, DeadUnit, Finding, GainByWidth, GainsSoFar,
                       LocationsKept, MaeBelow, Network, NoRecord, ParameterShare, Probe, ScanOrders,
                       SizeRuns, SizeSpread, StepCost, Unmeasured, Verdict, VggError)
from .labels import error_percent, headline_lstm_scans, row_scan, test_error_curve
from .records import Setting, cells, devices, setting
from .stats import ALPHA, EQUIVALENT, MIN_PAIRS, Paired, Welch, paired
from .table1 import epochs, pool_size, worst_mae
from .table2 import error_difference, largest_headline_cell, networks
from .units import kept_shares, layer_windows, learned_units, mean_kept, on_probes

TABLE1_RECIPES = ("table1", "table1_paper")  # our recipe, and the paper's as written
LATE_EPOCHS = 5         # a run's trend: its validation MAE over its last 5 epochs
VALIDATIONS = (5, 10)   # convergence: the test error after 5 and after 10 validations
PROBE = Probe(windows=64, length=9, high=3.0, w_g=-0.5, r_g=0.7, revive_b_g=0.5)
# Table 2's widths where the paper's avg beats its max: the row claim 12 cites
AVG_BEATS_MAX = tuple(w for w, errors in paper.TABLE2_ERROR.items() if errors["avg"] < errors["max"])


@dataclass(frozen=True)
class Claim:
    number: int
    text: str
    where: str
    tested_by: str
    rule: Callable[[list[dict]], list[Finding]]


def sign(difference: Paired, claimed: int) -> Verdict | None:
    """``claimed`` = -1: the claim says the difference is negative. None below ``MIN_PAIRS`` pairs."""
    if difference.n < MIN_PAIRS:
        return None
    if difference.p < ALPHA:
        return Verdict.SUPPORTED if difference.mean * claimed > 0 else Verdict.CONTRADICTED
    return Verdict.NOT_SUPPORTED


# ---- the records --------------------------------------------------------------------------------------------
def of(records: list[dict], experiment: str) -> list[dict]:
    return [r for r in records if r.get("experiment") == experiment]


def every_network(records: list[dict]) -> list[tuple[Setting, str, list[dict]]]:
    """(setting, network name, runs): the Conv N networks of Table 2, then VGG16 of Table 4 per setting."""
    vgg16 = defaultdict(list)
    for r in of(records, "table4"):
        vgg16[setting(r)].append(r)
    return ([(where, f"Conv {width}", runs) for (where, width), runs in networks(records).items()]
            + [(where, "VGG16", runs) for where, runs in sorted(vgg16.items())])


# ---- the rules ------------------------------------------------------------------------------------------------
def pairwise(pairs: list[tuple[str, str]], claimed: int, widths: tuple[int, ...] | None = None,
             experiments: tuple[str, ...] = ("table2",)) -> Callable[[list[dict]], list[Finding]]:
    """A rule comparing headline cells (a − b, test error) per network (of ``widths``; None: all); ``claimed``
    the sign the claim says. A network where some pairs have too few seeds yet is not yet tested, and its finding
    holds the comparisons made so far and those still waiting; one with no pair of seeds at all is left out."""
    def rule(records: list[dict]) -> list[Finding]:
        findings = []
        for (where, width), runs in networks(records, experiments).items():
            if widths is not None and width not in widths:
                continue
            done, waiting = [], []
            for a, b in pairs:
                difference = error_difference(largest_headline_cell(runs, a), largest_headline_cell(runs, b))
                (waiting if difference.n < MIN_PAIRS else done).append((a, b, difference))
            if not done and not any(d.n for _, _, d in waiting):
                continue
            verdict = Verdict.NOT_YET_TESTED if waiting else Verdict.common(sign(d, claimed) for _, _, d in done)
            pairs_seen = [d.n for _, _, d in done] or [max(d.n for _, _, d in waiting)]
            findings.append(Comparisons(verdict, Network(where, f"Conv {width}", min(pairs_seen)), tuple(done),
                                        tuple(waiting)))
        return findings
    return rule


def scan_order(records: list[dict]) -> list[Finding]:
    """Insensitive to the scan order: each scan shown within ±``EQUIVALENT`` of the row scan; a difference at
    p < ``ALPHA`` larger than that margin contradicts it; else it is not shown."""
    findings = []
    for (where, width), runs in networks(records).items():
        lstm = headline_lstm_scans(runs)
        rows = [r for r in lstm if row_scan(r["config"])]
        scans, verdicts = [], []
        for scan in sorted({r["config"]["pooling"]["scan"] for r in lstm if not row_scan(r["config"])}):
            difference = error_difference([r for r in lstm if r["config"]["pooling"].get("scan") == scan], rows)
            if difference.n < MIN_PAIRS:
                continue
            equivalent = difference.equivalence_p(EQUIVALENT)
            verdicts.append(Verdict.CONTRADICTED if difference.p < ALPHA and abs(difference.mean) > EQUIVALENT else
                            Verdict.SUPPORTED if equivalent < ALPHA else Verdict.NOT_SUPPORTED)
            scans.append((scan, difference, equivalent))
        if scans:
            findings.append(ScanOrders(Verdict.common(verdicts),
                                       Network(where, f"Conv {width}", min(d.n for _, d, _ in scans)), tuple(scans)))
    return findings


def proposition(records: list[dict]) -> list[Finding]:
    """Computed, not trained: a ReLU unit with w_g ≤ 0 and b_g = 0 on non-negative windows, in both
    implementations: its output and every gradient are exactly zero; a positive b_g makes both nonzero."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(PROBE.length, PROBE.windows, generator=gen, dtype=torch.float64) * PROBE.high
    findings = []
    for impl in ("reference", "fused"):
        outcomes = {}
        for b_g in (0.0, PROBE.revive_b_g):
            params = torch.randn(4, 3, generator=gen, dtype=torch.float64)
            params[3] = torch.tensor([PROBE.w_g, PROBE.r_g, b_g], dtype=torch.float64)
            params.requires_grad_(True)
            inputs = x.clone().requires_grad_(True)
            h = lstm_scan(inputs, params, 0.0, impl=impl)
            h.sum().backward()
            outcomes[b_g] = (h.abs().max().item(), params.grad.abs().max().item(), inputs.grad.abs().max().item())
        dead, revived = outcomes[0.0], outcomes[PROBE.revive_b_g]
        findings.append(DeadUnit(Verdict.SUPPORTED if all(v == 0 for v in dead) else Verdict.CONTRADICTED,
                                 impl, PROBE, dead, revived, all(v > 0 for v in revived)))
    return findings


def table1_runs(records: list[dict], experiment: str, target: str) -> dict[int, list[dict]]:
    """{pool size k: runs} of a Table 1 recipe and target, each size at its longest epoch budget."""
    by_size = defaultdict(list)
    for r in of(records, experiment):
        if r["config"]["task"]["target"] == target:
            by_size[pool_size(r)].append(r)
    longest = lambda runs: [r for r in runs if epochs(r) == max(epochs(q) for q in runs)]
    return {k: longest(runs) for k, runs in sorted(by_size.items())}


def late_change(record: dict) -> float | None:
    """The relative change of the validation MAE over the run's last ``LATE_EPOCHS`` epochs (−0.2: still falling by
    20 %, so not converged; near 0: settled, or stuck)."""
    maes = [h["val/mae"] for h in record.get("history", []) if "val/mae" in h]
    before = -LATE_EPOCHS - 1
    return maes[-1] / maes[before] - 1 if len(maes) > LATE_EPOCHS and maes[before] > 0 else None


def below(limit: float, sizes: tuple[int, ...] | None, experiments=TABLE1_RECIPES, targets=("max",),
          trend: bool = False) -> Callable[[list[dict]], list[Finding]]:
    """A rule: every seed's worst MAE below ``limit`` (1e-5 units), per recipe, over ``sizes`` (None: all);
    ``trend`` adds each run's ``late_change``, which tells a run still improving from one stuck."""
    def rule(records: list[dict]) -> list[Finding]:
        findings = []
        for experiment, target in ((e, t) for e in experiments for t in targets):
            runs = {k: v for k, v in table1_runs(records, experiment, target).items() if sizes is None or k in sizes}
            if not runs:
                continue
            everything = [r for v in runs.values() for r in v]
            results = []
            for k, v in runs.items():
                v = sorted(v, key=lambda r: r["seed"])
                results.append(SizeRuns(k, epochs(v[0]),
                                        sum(worst_mae(r) < limit for r in v), tuple(worst_mae(r) for r in v),
                                        tuple(late_change(r) if trend else None for r in v)))
            findings.append(MaeBelow(Verdict.share(worst_mae(r) < limit for r in everything), target, experiment,
                                     devices(everything),
                                     tuple(sorted({epochs(r) for r in everything})),
                                     limit, LATE_EPOCHS if trend else None, tuple(results)))
        return findings
    return rule


def size_insensitivity(records: list[dict]) -> list[Finding]:
    """Table 1, our recipe, the paper's sizes: each size's mean worst MAE within ``SIZE_SPREAD`` of the others',
    all at the paper's level."""
    runs = {k: v for k, v in table1_runs(records, "table1", "max").items() if k in paper.TABLE1_SIZES}
    if len(runs) < 2:
        return []
    means = {k: statistics.mean(worst_mae(r) for r in v) for k, v in runs.items()}
    spread = max(means.values()) / min(means.values())
    level = all(worst_mae(r) < paper.TABLE1_BOUND for v in runs.values() for r in v)
    return [SizeSpread(Verdict.holds(spread <= paper.SIZE_SPREAD and level), "table1",
                       devices([r for v in runs.values() for r in v]),
                       min(len(v) for v in runs.values()), tuple(means.items()), spread)]


def max_locations(records: list[dict]) -> list[Finding]:
    """Figure 3: the locations of a first-layer window that at least one channel's max keeps; a network the claim
    names that no run has measured yet is shown as such."""
    findings, measured = [], set()
    for (where, width), runs in networks(records).items():
        max_runs = [r for r in runs if r["config"]["pooling"]["kind"] == "max"]
        kept = [r["max_locations"] for r in max_runs if "max_locations" in r]
        if kept:
            measured.add(width)
        if width not in paper.MAX_LOCATIONS or not kept:
            continue
        measure, floor = paper.MAX_LOCATIONS[width]
        shares = [kept_shares(m["histogram"]) for m in kept]
        values = [mean_kept(s) if measure == "mean" else s[-1].item() for s in shares]
        findings.append(LocationsKept(Verdict.share(v > floor for v in values),
                                      Network(where, f"Conv {width}", len(values)), measure, tuple(values), floor,
                                      len(max_runs) - len(kept)))
    return findings + [Unmeasured(Verdict.NOT_YET_TESTED, width) for width in paper.MAX_LOCATIONS
                       if width not in measured]


def avg_correlation(unit: torch.Tensor, k: int, negative_slope: float) -> float:
    """The correlation of a (4, 3) unit's output with average pooling on figure 4's k x k probe windows."""
    x, out = on_probes(unit, k, negative_slope)
    return torch.corrcoef(torch.stack([out, x.mean(0)]))[0, 1].item()


def learned_functions(records: list[dict]) -> list[Finding]:
    """Figure 4, in numbers: per layer and seed, the correlation of the learned function with average pooling on
    probe windows (offset and scale discounted, as the paper does), and the share of the output that avg does not
    explain, sqrt(1 − r²): the first layer's against the last's, for the small networks."""
    findings = []
    for (where, width), runs in networks(records).items():
        units = largest_headline_cell(runs, "lstm")
        if width not in paper.SMALL_WIDTHS or len(units) < 2:
            continue
        windows = layer_windows(units[0])
        slope = units[0]["config"]["model"]["negative_slope"]
        correlations = []  # per layer, per seed
        for layer, k in windows:
            correlations.append([avg_correlation(learned_units(r["metrics"])[layer], k, slope) for r in units])
        # the first layer's unit before training: an init that is already a weighted mean tracks avg untrained
        first_k = windows[0][1]
        init = init_params(units[0]["config"]["pooling"]["init"], first_k ** 2,
                           generator=torch.Generator().manual_seed(0))
        first, last = correlations[0], correlations[-1]
        unexplained = lambda rs: statistics.mean((1 - min(r * r, 1.0)) ** 0.5 for r in rs)
        tracks = statistics.mean(first) >= paper.TRACKS_AVG
        varies = unexplained(last) > paper.VARIES_MORE * unexplained(first)
        findings.append(AvgTracking(Verdict.share([tracks, varies]), Network(where, f"Conv {width}", len(units)),
                                    tuple(first), tuple(last), unexplained(first), unexplained(last),
                                    avg_correlation(init, first_k, slope)))
    return findings


def gain_by_width(records: list[dict]) -> list[Finding]:
    """The LSTM gain over max (max − lstm, per seed) of each small network against each large one of one setting,
    every pair with the seeds a verdict needs: "largest for small networks" is each small one's gain above each
    large one's, so a setting where some pairs show it and others not is mixed. The paper's own gain grows from
    Conv 8 to Conv 16 (Table 2): its claim sets the small networks against the large, not neighbours."""
    measured = defaultdict(dict)  # every gain with a pair, shown beside the tests and while the claim waits
    for (where, width), runs in networks(records).items():
        if (difference := error_difference(largest_headline_cell(runs, "max"), largest_headline_cell(runs, "lstm"))).n:
            measured[where][width] = difference
    findings = []
    for where, by_width in measured.items():
        ready = [w for w, gain in sorted(by_width.items()) if gain.n >= MIN_PAIRS]
        tests = []
        for small in (w for w in ready if w in paper.SMALL_WIDTHS):
            for large in (w for w in ready if w not in paper.SMALL_WIDTHS):
                test = Welch(by_width[small].diffs, by_width[large].diffs)
                tests.append((small, large, test, Verdict.NOT_SUPPORTED if test.p >= ALPHA else
                              Verdict.SUPPORTED if test.difference > 0 else Verdict.CONTRADICTED))
        if tests:
            findings.append(GainByWidth(Verdict.common(v for *_, v in tests), where, tuple(sorted(by_width.items())),
                                        tuple(tests)))
    return findings or [GainsSoFar(Verdict.NOT_YET_TESTED,
                                   tuple((where, width, gain) for where, by_width in measured.items()
                                         for width, gain in by_width.items()))]


def convergence(records: list[dict]) -> list[Finding]:
    """Figure 5's claim, per network (VGG16's, the paper's, and Conv N's as a proxy): per seed, the error after 5
    and 10 validations (those all its curves reach), paired with max pooling (lstm − max): the paper reads its
    figure as "a relatively higher performance in less iterations" (section 4.3), an error level early in training.
    (A count of validations to within 1 point of each run's own final error would favour max, whose final error is
    higher.)"""
    curve = lambda r: list(test_error_curve(r).values())
    findings = []
    for where, name, runs in every_network(records):
        lstm, max_ = largest_headline_cell(runs, "lstm"), largest_headline_cell(runs, "max")
        if not (lstm and max_):
            continue
        # the counts every curve reaches: a run cut short (VGG16's first epochs on the CPU) is read where it can be
        reach = min(len(curve(r)) for r in lstm + max_)
        counts = [n for n in VALIDATIONS if n <= reach]
        if not counts:
            continue
        measures = tuple((n, paired({r["seed"]: curve(r)[n - 1] for r in lstm},
                                    {r["seed"]: curve(r)[n - 1] for r in max_})) for n in counts)
        # too few pairs for a verdict: still shown, per seed, as not yet tested
        verdicts = [v for _, difference in measures if (v := sign(difference, -1)) is not None]
        every = runs[0]["config"]["schedule"]["max_steps"] // max(len(curve(runs[0])), 1)
        findings.append(Convergence(Verdict.common(verdicts), Network(where, name, len(lstm)), every, measures))
    if not of(records, "table4"):
        findings.append(NoRecord(Verdict.NOT_YET_TESTED, "VGG16", 4))
    return findings


def step_cost(records: list[dict]) -> list[Finding]:
    """Table 3: an FTN training step against a CNN's (Conv 64, 2x2 pooling), per benchmark record, judged at
    batch 1 (the paper's). The paper timed a GPU: without a GPU record that part waits."""
    low, high = paper.TRAINING_COST[0] - paper.ABOUT, paper.TRAINING_COST[1] + paper.ABOUT
    findings = []
    for bench in of(records, "table3"):
        network = next(n for n in bench["seconds_per_batch"] if n.startswith("Conv 64"))
        times = bench["seconds_per_batch"][network]
        ratios = {c: times["FTN"][c] / times["CNN"][c] for c in times["FTN"] if c.startswith("train")}
        judged = [v for c, v in ratios.items() if c.startswith("train b1 ") or c == "train b1"]
        findings.append(StepCost(Verdict.holds(all(low <= v <= high for v in judged)), network, bench["hardware"],
                                 bench["torch"], tuple(ratios.items()), (low, high), bench["command"],
                                 bench["commit"]))
    if not any(bench["device"] == "cuda" for bench in of(records, "table3")):
        findings.append(NoRecord(Verdict.NOT_YET_TESTED, "a GPU (the paper's device)", 3))
    return findings


def vgg16(records: list[dict]) -> list[Finding]:
    findings = []
    for g in cells(of(records, "table4")):
        c = g[0]["config"]
        dataset = c["dataset"]["name"]
        if paper.paper_dataset(dataset) != "cifar10" or c["pooling"]["kind"] != "lstm":
            continue
        reported = paper.table4_error(dataset, "lstm")
        mean = statistics.mean(error_percent(r) for r in g)
        reached = mean <= reported + paper.VGG_MARGIN
        # a run shorter than the paper's can show the error reached, never that the paper's run misses it
        short = c["schedule"]["max_steps"] < paper.PAPER_ITERATIONS
        verdict = Verdict.NOT_YET_TESTED if short and not reached else Verdict.holds(reached)
        findings.append(VggError(verdict, Network(setting(g[0]), "VGG16", len(g)), c["pooling"]["kind"], mean,
                                 reported))
    return findings or [NoRecord(Verdict.NOT_YET_TESTED, "—", 4)]


def parameter_share(records: list[dict]) -> list[Finding]:
    """Each network's LSTM parameters: the paper's 12 per unit (one per pooling layer, or one shared), and one
    unit's share of the network's; the paper says it of VGG16, whose records come last."""
    shares = []
    for where, name, runs in every_network(records):
        for kind in ("lstm", "lstm_shared"):
            if not (g := largest_headline_cell(runs, kind)) or "params_lstm" not in g[0]:
                continue
            lstm, total = g[0]["params_lstm"], g[0]["params_total"]
            units = 1 if kind == "lstm_shared" else len(learned_units(g[0]["metrics"]))
            per_unit, share = lstm == paper.UNIT_PARAMETERS * units, paper.UNIT_PARAMETERS / total
            shares.append((Verdict.holds(per_unit and share < paper.NEGLIGIBLE), Network(where, name, len(g)), kind,
                           lstm, units, per_unit, total, share))
    recorded = any(network.name == "VGG16" for _, network, *_ in shares)
    return [ParameterShare(*share, vgg16_recorded=recorded) for share in shares]


def power_of_ten(value_1e5: float) -> str:
    """A value in Table 1's 1e-5 units as the power of ten the paper writes (10 -> "1e-4")."""
    return f"1e{round(math.log10(value_1e5)) - 5}"


def sizes_text(sizes: tuple[int, ...], last: str = " and ") -> str:
    named = [f"{k}x{k}" for k in sizes]
    return last.join([", ".join(named[:-1]), named[-1]]) if len(named) > 1 else "".join(named)


AVG_ROW = paper.TABLE2_ERROR[AVG_BEATS_MAX[0]]

CLAIMS = (
    Claim(1, "The FTN is insensitive to the scan order.", "3.1", "`python -m ftn.campaign scans` (Table 2, LSTM)",
          scan_order),
    Claim(2, "w_g > 0 is necessary for a ReLU unit on non-negative inputs to train: with w_g ≤ 0 and b_g = 0 the "
          "output and every gradient stay zero.", "3.2, proposition", "computed here, both implementations "
          "(tests/test_claims.py)", proposition),
    Claim(3, "A ReLU LSTM unit that meets the proposition trains robustly.", "3.2",
          "`make table1`, `experiment=table1_paper`", below(paper.TRAINS_MAE, None, targets=("max", "avg"))),
    Claim(4, f"One unit approximates max pooling with MAE < {power_of_ten(paper.TABLE1_BOUND)} at "
          f"{sizes_text(paper.TABLE1_SIZES)}.", "4.1, Table 1", "`make table1`",
          below(paper.TABLE1_BOUND, paper.TABLE1_SIZES)),
    Claim(5, "Its accuracy is insensitive to the pool size.", "4.1",
          f"`make table1` ({sizes_text(paper.TABLE1_SIZES, ', ')})", size_insensitivity),
    Claim(6, "Average pooling is easily approximated by one unit.", "4.1",
          "`make table1`, `python -m ftn.campaign table1_long` (60 epochs)",
          below(paper.TRAINS_MAE, None, ("table1",), ("avg",), trend=True)),
    Claim(7, "LSTM pooling (both architectures) beats max and average pooling, at every width.", "4.2.1, Table 2",
          "`make table2`", pairwise([("lstm", "max"), ("lstm", "avg"), ("lstm_shared", "max"), ("lstm_shared", "avg")],
                                    -1)),
    Claim(8, "The gain is largest for small networks and shrinks as the network grows.", "4.2.1, Table 2",
          f"`make table2 WIDTHS={','.join(map(str, paper.TABLE2_ERROR))}`", gain_by_width),
    Claim(9, "One unit per layer (architecture 2) beats one shared unit (architecture 3).", "4.2.1, Table 2",
          "`make table2`", pairwise([("lstm", "lstm_shared")], -1)),
    Claim(10, f"Max pooling's channels keep, of a window's {paper.WINDOW_LOCATIONS} locations, "
          f"{paper.max_locations_text()}.",
          "4.2.2, figure 3", "`make table2` (max runs)", max_locations),
    Claim(11, "The first layer's learned function tracks average pooling in small networks; the second layer's "
          "varies much more.", "4.2.2, figure 4", "`make table2` (lstm runs)", learned_functions),
    Claim(12, f"Average pooling may suit the first pooling layer of small networks better than max (Conv "
          f"{AVG_BEATS_MAX[0]}: avg {AVG_ROW['avg']:.2f} below max {AVG_ROW['max']:.2f}).", "4.2.2, Table 2",
          f"`make table2` (Conv {AVG_BEATS_MAX[0]}, the row the paper cites; whole networks, avg or max in every "
          "layer, as a proxy for the first layer)", pairwise([("avg", "max")], -1, AVG_BEATS_MAX)),
    Claim(13, f"An FTN training step costs about {paper.TRAINING_COST[0]:g}–{paper.TRAINING_COST[1]:g}× a CNN's.",
          "4.2.3, Table 3", "`make bench` (scripts/bench_table3.py --record)", step_cost),
    Claim(14, "The FTN converges faster than the CNN with max pooling.", "4.3, figure 5",
          "`make table2` (per-validation history); `python -m ftn.campaign vgg16_cpu` (VGG16, the first 6 epochs); "
          "`make table4 SCHEDULE=paper DEVICE=gpu`", convergence),
    Claim(15, f"VGG16 with FTN pooling reaches {paper.TABLE4_ERROR[('cifar10', 'lstm')]:.2f} % test error on "
          "CIFAR-10.", "4.3, Table 4", "`make table4 SCHEDULE=paper DATASET=cifar10 DEVICE=gpu`", vgg16),
    Claim(16, f"One LSTM unit adds {paper.UNIT_PARAMETERS} parameters, negligible next to the network's.", "4.3",
          "the records' parameter counts", parameter_share),
    Claim(17, "The FTN achieves state-of-the-art performance (Table 4, where it beats every rival that is a pooling "
          "method); tested here as beating those rivals under one protocol: LEAP, stochastic, rank-based, mixed and "
          "tree pooling.",
          "4.3, Table 4",
          "`python -m ftn.campaign zoo` (all under one protocol on Conv 16, a proxy for Table 4's VGG16, whose rival "
          "numbers each come from their own paper; tree+max-avg is not in the zoo)",
          pairwise([("lstm", rival) for rival in paper.TABLE4_POOLING_RIVALS], -1, experiments=("table2", "zoo"))),
)
