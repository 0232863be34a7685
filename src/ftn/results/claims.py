"""Every claim of the paper as a verdict generated from the records: ``results/claims.md``.

Each claim has one rule, a function of the records that returns a ``Finding`` per setting it can judge (data,
budget, device, network, seeds): a claim tested at several budgets or on several devices shows each. The row's
verdict is the findings' common verdict, or ``mixed`` where they differ. Thresholds are named constants, so a
reader can check them against the paper's words: below, and in ``stats`` those every reading shares (``ALPHA``,
``MIN_PAIRS``, ``EQUIVALENT``). p is per comparison, not corrected for the number of comparisons.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import torch

from ..pooling import lstm_scan
from .labels import HEADLINE_INIT, error_percent, is_headline, row_scan
from .markdown import row
from .records import DATASET_LABELS, cells, device
from .stats import ALPHA, EQUIVALENT, MIN_PAIRS, Paired, Welch, paired, seeds
from .table2 import by_seed
from .table4 import PAPER_TABLE4
from .units import layer_order, learned_units, probe_windows

VERDICTS = ("supported", "not supported", "contradicted", "mixed", "not yet tested")
PAPER_MAE = 10.0       # Table 1's accuracy, in its 1e-5 units: the paper's MAEs are 4.4 to 9.2
TRAINS_MAE = 100.0     # a unit that "trains": MAE below 1e-3, ten times the paper's level
SIZE_SPREAD = 10.0     # "insensitive to the pool size": per-size mean MAEs within a factor of 10 of each other
TRACKS_AVG = 0.9       # a layer tracks average pooling when its output correlates with avg at r ≥ 0.9 (the paper
                       # discounts offset and scale: "compensated by the bias")
VARIES_MORE = 2.0      # "varies much more": twice the first layer's share of output not explained by avg, sqrt(1-r²)
NEGLIGIBLE = 0.01      # one unit's 12 parameters below 1 % of the network's
FTN_COST = (1.5, 3.5)  # section 4.2.3, "about 2-3 times": its own Table 3 ratios run from 1.67 to 2.54 (training)
VGG_MARGIN = 1.0       # Table 4 within 1 point of the paper's error
SMALL = (8, 16)        # the "small networks" of claims 11 and 12
RIVALS = ("leap", "stochastic", "rank", "mixed", "tree")  # Table 4's pooling methods [17], [14], [15], [18], [19]


@dataclass(frozen=True)
class Finding:
    setting: str   # what the verdict rests on: data, budget, device, network, seeds
    verdict: str
    evidence: str


@dataclass(frozen=True)
class Claim:
    number: int
    text: str
    where: str
    tested_by: str
    rule: Callable[[list[dict]], list[Finding]]


def overall(findings: list[Finding]) -> str:
    """The common verdict of the findings that test something, ``mixed`` where they differ."""
    verdicts = {f.verdict for f in findings if f.verdict != "not yet tested"}
    return "not yet tested" if not verdicts else verdicts.pop() if len(verdicts) == 1 else "mixed"


def combine(verdicts: list[str]) -> str:
    """Several comparisons of one setting: all alike, or mixed."""
    return verdicts[0] if len(set(verdicts)) == 1 else "mixed"


def sign_verdict(difference: Paired, claimed: int) -> str | None:
    """``claimed`` = -1: the claim says the difference is negative. None below ``MIN_PAIRS`` pairs."""
    if difference.n < MIN_PAIRS:
        return None
    if difference.p < ALPHA:
        return "supported" if difference.mean * claimed > 0 else "contradicted"
    return "not supported"


# ---- the records --------------------------------------------------------------------------------------------
def of(records: list[dict], experiment: str) -> list[dict]:
    return [r for r in records if r.get("experiment") == experiment]


def networks(records: list[dict], experiments: tuple[str, ...] = ("table2",)) -> dict[tuple[str, int], list[dict]]:
    """The runs of ``experiments`` (Table 2's; the zoo's share its protocol) by (setting label, width): a setting
    is one dataset, budget and device."""
    groups = defaultdict(list)
    for r in (r for e in experiments for r in of(records, e)):
        c = r["config"]
        label = f"{DATASET_LABELS.get(c['dataset']['name'], c['dataset']['name'])}, {c['schedule']['max_steps']} it, " \
                f"{device(r)}"
        groups[(label, c["model"]["width"])].append(r)
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])))


def headline(runs: list[dict], kind: str) -> list[dict]:
    """The cell the paper's table shows for ``kind`` (the one with most seeds)."""
    return max((g for g in cells(runs) if g[0]["config"]["pooling"]["kind"] == kind and is_headline(g[0]["config"])),
               key=len, default=[])


def where(label: str, width: int, n: int) -> str:
    return f"{label}, Conv {width}, {seeds(n)}"


def error_difference(a: list[dict], b: list[dict]) -> Paired:
    return paired(by_seed(a), by_seed(b))


# ---- the rules ------------------------------------------------------------------------------------------------
def pairwise(pairs: list[tuple[str, str]], claimed: int, widths: tuple[int, ...] | None = None,
             experiments: tuple[str, ...] = ("table2",)) -> Callable[[list[dict]], list[Finding]]:
    """A rule comparing headline cells (a − b, test error) per network (of ``widths``; None: all); ``claimed``
    the sign the claim says. A network where some pairs have too few seeds yet is not yet tested, and its row
    shows the comparisons made so far and names those still waiting."""
    def rule(records: list[dict]) -> list[Finding]:
        findings = []
        for (label, width), runs in networks(records, experiments).items():
            if widths is not None and width not in widths:
                continue
            verdicts, evidence, pairs_seen, waiting = [], [], [], []
            for a, b in pairs:
                difference = error_difference(headline(runs, a), headline(runs, b))
                if (verdict := sign_verdict(difference, claimed)) is None:
                    waiting.append(f"{a} − {b} ({difference.n} pairs)")
                    continue
                verdicts.append(verdict)
                evidence.append(f"{a} − {b} {difference}")
                pairs_seen.append(difference.n)
            if not verdicts:
                continue
            if waiting:
                findings.append(Finding(where(label, width, min(pairs_seen)), "not yet tested",
                                        f"so far {'; '.join(evidence)}; waiting for {MIN_PAIRS} pairs: "
                                        f"{', '.join(waiting)}"))
            else:
                findings.append(Finding(where(label, width, min(pairs_seen)), combine(verdicts), "; ".join(evidence)))
        return findings
    return rule


def scan_order(records: list[dict]) -> list[Finding]:
    findings = []
    for (label, width), runs in networks(records).items():
        lstm = [r for r in runs if r["config"]["pooling"]["kind"] == "lstm"
                and r["config"]["pooling"].get("init") == HEADLINE_INIT]
        rows = [r for r in lstm if row_scan(r["config"])]
        verdicts, evidence, pairs_seen = [], [], []
        for scan in sorted({r["config"]["pooling"]["scan"] for r in lstm if not row_scan(r["config"])}):
            difference = error_difference([r for r in lstm if r["config"]["pooling"].get("scan") == scan], rows)
            if difference.n < MIN_PAIRS:
                continue
            equivalent = difference.equivalence_p(EQUIVALENT)
            # insensitive: shown within ±EQUIVALENT; a difference at p < ALPHA contradicts it; else not shown
            verdicts.append("contradicted" if difference.p < ALPHA else
                            "supported" if equivalent < ALPHA else "not supported")
            evidence.append(f"{scan} − row {difference}, within ±{EQUIVALENT:g} point p = {equivalent:.2g}")
            pairs_seen.append(difference.n)
        if verdicts:
            findings.append(Finding(where(label, width, min(pairs_seen)) + " per scan", combine(verdicts),
                                    "; ".join(evidence) + " (two one-sided tests: p < 0.05 shows the difference "
                                    f"within ±{EQUIVALENT:g} point)"))
    return findings


def proposition(records: list[dict]) -> list[Finding]:
    """Computed, not trained: a ReLU unit with w_g ≤ 0 and b_g = 0 on non-negative windows, in both
    implementations: its output and every gradient are exactly zero; a positive b_g makes both nonzero."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(9, 64, generator=gen, dtype=torch.float64) * 3
    findings = []
    for impl in ("reference", "fused"):
        outcomes = {}
        for b_g in (0.0, 0.5):
            params = torch.randn(4, 3, generator=gen, dtype=torch.float64)
            params[3] = torch.tensor([-0.5, 0.7, b_g], dtype=torch.float64)  # w_g < 0
            params.requires_grad_(True)
            inputs = x.clone().requires_grad_(True)
            h = lstm_scan(inputs, params, 0.0, impl=impl)
            h.sum().backward()
            outcomes[b_g] = (h.abs().max().item(), params.grad.abs().max().item(), inputs.grad.abs().max().item())
        dead = all(v == 0 for v in outcomes[0.0])
        revived = all(v > 0 for v in outcomes[0.5])
        findings.append(Finding(f"{impl} implementation, 64 windows of 9 values in [0, 3], w_g = −0.5",
                                "supported" if dead else "contradicted",
                                f"b_g = 0: largest output {outcomes[0.0][0]:.3g}, largest gradient to the parameters "
                                f"{outcomes[0.0][1]:.3g} and to the input {outcomes[0.0][2]:.3g}; b_g = 0.5 "
                                f"{'revives it' if revived else 'does not revive it'} (largest output "
                                f"{outcomes[0.5][0]:.3g}, gradient {outcomes[0.5][1]:.3g})"))
    return findings


def table1_runs(records: list[dict], experiment: str, target: str) -> dict[int, list[dict]]:
    """{pool size k: runs} of a Table 1 recipe and target, each size at its longest epoch budget."""
    by_size = defaultdict(list)
    for r in of(records, experiment):
        if r["config"]["task"]["target"] == target:
            by_size[round(r["config"]["dataset"]["seq_len"] ** 0.5)].append(r)
    longest = lambda runs: [r for r in runs if r["config"]["schedule"]["max_epochs"] ==
                            max(q["config"]["schedule"]["max_epochs"] for q in runs)]
    return {k: longest(runs) for k, runs in sorted(by_size.items())}


def worst_mae(record: dict) -> float:
    """The largest of the three test sets' MAE, in 1e-5."""
    return max(record["metrics"][f"test/{t}_mae_1e5"] for t in ("T1", "T2", "T3"))


RECIPES = {"table1": "our recipe (results/table1.notes.md)", "table1_paper": "the paper's recipe as written"}


def late_change(record: dict, last: int = 5) -> float | None:
    """The relative change of the validation MAE over the run's last ``last`` epochs (−0.2: still falling by 20 %,
    so not converged; near 0: settled, or stuck)."""
    maes = [h["val/mae"] for h in record.get("history", []) if "val/mae" in h]
    return maes[-1] / maes[-last - 1] - 1 if len(maes) > last and maes[-last - 1] > 0 else None


def below(limit: float, sizes: tuple[int, ...] | None, experiments=tuple(RECIPES), targets=("max",),
          trend: bool = False):
    """A rule: every seed's worst MAE below ``limit`` (1e-5 units), per recipe, over ``sizes`` (None: all);
    ``trend`` adds each run's ``late_change``, which tells a run still improving from one stuck."""
    def rule(records: list[dict]) -> list[Finding]:
        findings = []
        for experiment, target in ((e, t) for e in experiments for t in targets):
            runs = {k: v for k, v in table1_runs(records, experiment, target).items() if sizes is None or k in sizes}
            if not runs:
                continue
            passed = {k: sum(worst_mae(r) < limit for r in v) for k, v in runs.items()}
            total = sum(len(v) for v in runs.values())
            verdict = ("supported" if sum(passed.values()) == total else
                       "not supported" if not any(passed.values()) else "mixed")
            epochs = sorted({r["config"]["schedule"]["max_epochs"] for v in runs.values() for r in v})
            def seed_value(r: dict) -> str:
                change = late_change(r) if trend else None
                return f"{worst_mae(r):.3g}" + ("" if change is None else f" (last 5 epochs {100 * change:+.0f} %)")
            evidence = "; ".join(f"{k}x{k}" + (f" ({v[0]['config']['schedule']['max_epochs']} epochs)"
                                                  if len(epochs) > 1 else "")
                                 + f": {passed[k]} of {len(v)} seeds, worst MAE "
                                 + ", ".join(seed_value(r) for r in sorted(v, key=lambda r: r["seed"]))
                                 for k, v in runs.items())
            findings.append(Finding(f"{target} pooling, {RECIPES[experiment]}, {'/'.join(map(str, epochs))} epochs, "
                                    "CPU", verdict, f"MAE in 1e-5, limit {limit:g}. {evidence}"))
        return findings
    return rule


def size_insensitivity(records: list[dict]) -> list[Finding]:
    """Table 1, our recipe, the paper's sizes: each size's mean worst MAE within ``SIZE_SPREAD`` of the others',
    all at the paper's level."""
    runs = {k: v for k, v in table1_runs(records, "table1", "max").items() if k in (2, 3, 4)}
    if len(runs) < 2:
        return []
    means = {k: statistics.mean(worst_mae(r) for r in v) for k, v in runs.items()}
    spread = max(means.values()) / min(means.values())
    level = all(worst_mae(r) < PAPER_MAE for v in runs.values() for r in v)
    verdict = "supported" if spread <= SIZE_SPREAD and level else "not supported"
    return [Finding(f"max pooling, {RECIPES['table1']}, CPU, {seeds(min(len(v) for v in runs.values()))}", verdict,
                    "mean worst MAE (1e-5) " + ", ".join(f"{k}x{k} {m:.3g}" for k, m in means.items())
                    + f": largest {spread:.1f}× the smallest (insensitive: within {SIZE_SPREAD:g}×, every seed below "
                      f"{PAPER_MAE:g}; the paper's own run from 4.39 to 9.19)")]


def max_locations(records: list[dict]) -> list[Finding]:
    """Figure 3: the locations of a first-layer window that at least one channel's max keeps."""
    claimed = {8: ("mean", 4), 16: ("mean", 6), 64: ("all", 0.5)}  # more than 4 / 6 of 16; all 16 in over half
    findings = []
    for (label, width), runs in networks(records).items():
        kept = [r["max_locations"] for r in runs if "max_locations" in r]
        if width not in claimed or not kept:
            continue
        kind, limit = claimed[width]
        values = []
        for m in kept:
            counts = torch.tensor(m["histogram"], dtype=torch.float64)
            locations = torch.arange(len(counts), dtype=torch.float64)
            values.append((counts @ locations / counts.sum()).item() if kind == "mean"
                          else (counts[-1] / counts.sum()).item())
        passed = sum(v > limit for v in values)
        verdict = "supported" if passed == len(values) else "not supported" if not passed else "mixed"
        what = "mean locations kept" if kind == "mean" else "share of windows keeping all"
        findings.append(Finding(where(label, width, len(values)), verdict,
                                f"{what} per seed {', '.join(f'{v:.2f}' for v in values)} (claimed > {limit:g})"))
    return findings


def learned_functions(records: list[dict]) -> list[Finding]:
    """Figure 4, in numbers: per layer and seed, the correlation of the learned function with average pooling on
    probe windows (offset and scale discounted, as the paper does), and the share of the output that avg does not
    explain, sqrt(1 − r²): the first layer's against the last's, for the small networks."""
    findings = []
    for (label, width), runs in networks(records).items():
        units = headline(runs, "lstm")
        if width not in SMALL or len(units) < 2:
            continue
        layers = sorted(learned_units(units[0]["metrics"]), key=layer_order)
        sizes = units[0]["config"]["model"].get("pool_sizes", (4, 8))
        correlations = []  # per layer, per seed
        for layer, k in zip(layers, sizes):
            x = probe_windows(k * k)
            correlations.append([torch.corrcoef(torch.stack([lstm_scan(x, learned_units(r["metrics"])[layer].double(),
                                                                       r["config"]["model"]["negative_slope"]),
                                                             x.mean(0)]))[0, 1].item() for r in units])
        first, last = correlations[0], correlations[-1]
        unexplained = lambda rs: statistics.mean((1 - min(r * r, 1.0)) ** 0.5 for r in rs)
        tracks = statistics.mean(first) >= TRACKS_AVG
        varies = unexplained(last) > VARIES_MORE * unexplained(first)
        verdict = "supported" if tracks and varies else "mixed" if tracks or varies else "not supported"
        findings.append(Finding(where(label, width, len(units)), verdict,
                                f"correlation with avg, layer 1 per seed {', '.join(f'{r:.2f}' for r in first)} "
                                f"(tracks it: mean ≥ {TRACKS_AVG:g}); last layer {', '.join(f'{r:.2f}' for r in last)}; "
                                f"output not explained by avg {unexplained(first):.2f} against {unexplained(last):.2f} "
                                f"(much more: over {VARIES_MORE:g}×)"))
    return findings


def gain_by_width(records: list[dict]) -> list[Finding]:
    """The LSTM gain over max (max − lstm, per seed) of the smallest and the largest network of one setting."""
    gains = defaultdict(dict)
    for (label, width), runs in networks(records).items():
        difference = error_difference(headline(runs, "max"), headline(runs, "lstm"))
        if difference.n >= MIN_PAIRS:
            gains[label][width] = difference
    findings = []
    for label, by_width in gains.items():
        small, large = min(by_width), max(by_width)
        if large < 32:  # the paper's own gain grows from Conv 8 to Conv 16 (6.92, 7.03): its claim is 8/16 vs 32/64
            continue
        test = Welch(by_width[small].diffs, by_width[large].diffs)
        verdict = ("not supported" if test.p >= ALPHA else "supported" if test.difference > 0 else "contradicted")
        findings.append(Finding(f"{label}, Conv {small} against Conv {large}", verdict,
                                f"gain over max: Conv {small} {by_width[small].mean:+.2f}, Conv {large} "
                                f"{by_width[large].mean:+.2f} points; difference {test}"))
    if not findings:
        alone = ", ".join(f"Conv {w} ({label})" for label, by_width in gains.items() for w in by_width)
        findings.append(Finding("—", "not yet tested", f"gains measured so far: {alone or 'none'}; the claim needs "
                                "Conv 8 or 16 and Conv 32 or 64 on one device and budget"))
    return findings


def convergence(records: list[dict]) -> list[Finding]:
    """Figure 5's claim on the Conv N curves: per seed, the error after 5 and 10 validations, paired with max
    pooling (lstm − max). (A count of validations to within 1 point of each run's own final error would favour
    max, whose final error is higher.)"""
    def curve(r: dict) -> list[float]:
        return [100 * h["test/error"] for h in r.get("history", []) if "test/error" in h]

    measures = {"error after 5 validations": lambda r: curve(r)[4], "error after 10 validations": lambda r: curve(r)[9]}
    findings = []
    for (label, width), runs in networks(records).items():
        lstm, max_ = headline(runs, "lstm"), headline(runs, "max")
        if not all(len(curve(r)) >= 10 for r in lstm + max_):
            continue
        verdicts, evidence = [], []
        for name, measure in measures.items():
            difference = paired({r["seed"]: measure(r) for r in lstm}, {r["seed"]: measure(r) for r in max_})
            if (verdict := sign_verdict(difference, -1)) is not None:
                verdicts.append(verdict)
                evidence.append(f"{name}: lstm − max {difference}")
        if verdicts:
            validation = runs[0]["config"]["schedule"]["max_steps"] // max(len(curve(runs[0])), 1)
            findings.append(Finding(where(label, width, len(lstm)) + f", a validation every {validation} it (Conv N "
                                    "as a proxy: the paper's curves are VGG16's)",
                                    combine(verdicts), "; ".join(evidence)))
    if not of(records, "table4"):
        findings.append(Finding("VGG16", "not yet tested", "no Table 4 run yet: `make table4 DEVICE=gpu` (issue #18)"))
    return findings


def step_cost(records: list[dict]) -> list[Finding]:
    """Table 3: an FTN training step against a CNN's (Conv 64, 2x2 pooling), per benchmark record."""
    findings = []
    for bench in of(records, "table3"):
        network = next(n for n in bench["seconds_per_batch"] if n.startswith("Conv 64"))
        times = bench["seconds_per_batch"][network]
        ratios = {c: times["FTN"][c] / times["CNN"][c] for c in times["FTN"] if c.startswith("train")}
        low, high = FTN_COST
        judged = [v for c, v in ratios.items() if c.startswith("train b1 ") or c == "train b1"]  # the paper's batch
        verdict = "supported" if all(low <= v <= high for v in judged) else "not supported"
        findings.append(Finding(f"{network}, {bench['hardware']}, torch {bench['torch']}", verdict,
                                "FTN/CNN " + ", ".join(f"{c} {v:.2f}×" for c, v in ratios.items())
                                + f" (judged at batch 1, the paper's: {low:g}–{high:g}×; the paper's TITAN X: 2.54× "
                                  "with cuDNN, 1.67× without); "
                                  f"`{bench['command']}`, commit {bench['commit']}"))
    return findings or [Finding("—", "not yet tested", "no Table 3 record: `make bench` writes results/runs/table3/")]


def vgg16(records: list[dict]) -> list[Finding]:
    findings = []
    for g in cells(of(records, "table4")):
        c = g[0]["config"]
        if c["dataset"]["name"] not in ("cifar10", "cifar10_jpeg") or c["pooling"]["kind"] != "lstm":
            continue
        paper = PAPER_TABLE4[("cifar10", "lstm")]  # the JPEG copy stands in for CIFAR-10, and says so
        errors = [error_percent(r) for r in g]
        mean = statistics.mean(errors)
        findings.append(Finding(f"{DATASET_LABELS.get(c['dataset']['name'])}, VGG16 {c['pooling']['kind']}, "
                                f"{c['schedule']['max_steps']} it, {device(g[0])}, {seeds(len(g))}",
                                "supported" if mean <= paper + VGG_MARGIN else "not supported",
                                f"{mean:.2f} % against the paper's {paper} (within {VGG_MARGIN:g} point counts)"))
    return findings or [Finding("—", "not yet tested", "no Table 4 run yet: `make table4 DEVICE=gpu` (issue #18)")]


def parameter_share(records: list[dict]) -> list[Finding]:
    findings = []
    for (label, width), runs in networks(records).items():
        for kind, units in (("lstm", 2), ("lstm_shared", 1)):
            if not (g := headline(runs, kind)) or "params_lstm" not in g[0]:
                continue
            lstm, total = g[0]["params_lstm"], g[0]["params_total"]
            share = 12 / total  # per unit, as the paper says it
            verdict = "supported" if lstm == 12 * units and share < NEGLIGIBLE else "not supported"
            findings.append(Finding(f"Conv {width} {kind} ({label})", verdict,
                                    f"{lstm} LSTM parameters for {units} unit(s) (12 each: {lstm == 12 * units}); "
                                    f"one unit is {100 * share:.2f} % of the network's {total} (negligible: under "
                                    f"{100 * NEGLIGIBLE:g} %). The paper says it of VGG16: no record yet"))
    return findings


CLAIMS = (
    Claim(1, "The FTN is insensitive to the scan order.", "3.1", "`python -m ftn.campaign scans` (Table 2, LSTM)",
          scan_order),
    Claim(2, "w_g > 0 is necessary for a ReLU unit on non-negative inputs to train: with w_g ≤ 0 and b_g = 0 the "
          "output and every gradient stay zero.", "3.2, proposition", "computed here, both implementations "
          "(tests/test_claims.py)", proposition),
    Claim(3, "A ReLU LSTM unit that meets the proposition trains robustly.", "3.2",
          "`make table1`, `experiment=table1_paper`", below(TRAINS_MAE, None, targets=("max", "avg"))),
    Claim(4, "One unit approximates max pooling with MAE < 1e-4 at 2x2, 3x3 and 4x4.", "4.1, Table 1",
          "`make table1`", below(PAPER_MAE, (2, 3, 4))),
    Claim(5, "Its accuracy is insensitive to the pool size.", "4.1", "`make table1` (2x2, 3x3, 4x4)",
          size_insensitivity),
    Claim(6, "Average pooling is easily approximated by one unit.", "4.1",
          "`make table1`, `python -m ftn.campaign table1_long` (60 epochs)",
          below(TRAINS_MAE, None, ("table1",), ("avg",), trend=True)),
    Claim(7, "LSTM pooling (both architectures) beats max and average pooling, at every width.", "4.2.1, Table 2",
          "`make table2`", pairwise([("lstm", "max"), ("lstm", "avg"), ("lstm_shared", "max"), ("lstm_shared", "avg")],
                                    -1)),
    Claim(8, "The gain is largest for small networks and shrinks as the network grows.", "4.2.1, Table 2",
          "`make table2 WIDTHS=8,16,32,64`", gain_by_width),
    Claim(9, "One unit per layer (architecture 2) beats one shared unit (architecture 3).", "4.2.1, Table 2",
          "`make table2`", pairwise([("lstm", "lstm_shared")], -1)),
    Claim(10, "Max pooling's channels keep more than 4 of 16 locations (Conv 8), more than 6 (Conv 16), and all 16 "
          "in over half the windows (Conv 64).", "4.2.2, figure 3", "`make table2` (max runs)", max_locations),
    Claim(11, "The first layer's learned function tracks average pooling in small networks; the second layer's "
          "varies much more.", "4.2.2, figure 4", "`make table2` (lstm runs)", learned_functions),
    Claim(12, "Average pooling suits small networks better than max (Conv 8: avg 56.18 below max 57.44).",
          "4.2.2, Table 2", "`make table2` (Conv 8, the row the paper cites)", pairwise([("avg", "max")], -1, (8,))),
    Claim(13, "An FTN training step costs about 2–3× a CNN's.", "4.2.3, Table 3",
          "`make bench` (scripts/bench_table3.py --record)", step_cost),
    Claim(14, "The FTN converges faster than the CNN with max pooling.", "4.3, figure 5",
          "`make table2` (per-validation history); `make table4`", convergence),
    Claim(15, "VGG16 with FTN pooling reaches 5.79 % test error on CIFAR-10.", "4.3, Table 4", "`make table4 DEVICE=gpu`",
          vgg16),
    Claim(16, "One LSTM unit adds 12 parameters, negligible next to the network's.", "4.3",
          "the records' parameter counts", parameter_share),
    Claim(17, "Under similar training conditions the FTN beats Table 4's rivals (\"state of the art\"); tested here "
          "against those that are pooling methods: LEAP, stochastic, rank-based, mixed and tree pooling.",
          "4.3, Table 4",
          "`python -m ftn.campaign zoo` (all under one protocol on Conv 16, a proxy for Table 4's VGG16, whose rival "
          "numbers each come from their own paper; tree+max-avg is not in the zoo)",
          pairwise([("lstm", rival) for rival in RIVALS], -1, experiments=("table2", "zoo"))),
)


def claims(records: list[dict]) -> list[str]:
    lines = ["# The paper's claims, checked against our records", "",
             "Generated by `python -m ftn.results claims` from the records under `results/runs/`; each verdict is a "
             "rule in `src/ftn/results/claims.py`. Verdicts: supported; not supported (no effect detectable, or the "
             "claimed level not reached); contradicted (the opposite holds at p < 0.05); mixed (it holds in some "
             "settings or comparisons and not in others: the evidence says which); not yet tested (no record bears "
             "on it; the row says what would test it). Where the paper gives no number (claims 3 and 6: 'trains', "
             "'easily approximated') the limit is ours and the row names it. A comparison needs "
             f"{MIN_PAIRS} seeds or more; p is the paired t-test's, two-sided and not corrected for the number of "
             "comparisons. Data: CIFAR-10 (JPEG copy) unless a setting says otherwise.", "", "## Verdicts", "",
             row(["#", "claim", "paper", "tested by", "evidence", "verdict"]), "|---|---|---|---|---|---|"]
    for claim in CLAIMS:
        findings = claim.rule(records)
        evidence = "<br>".join(f"**{f.setting}**: {f.verdict}. {f.evidence}" for f in findings)
        lines.append(row([str(claim.number), claim.text, claim.where, claim.tested_by, evidence,
                          f"**{overall(findings)}**"]))
    return lines
