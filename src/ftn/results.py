"""Build results/tableN.md from the run records; nothing is typed by hand.

    python -m ftn.results table1 table2 [--runs runs results/runs] [--out results]

Records are read from every ``--runs`` folder (by default the local ``runs/`` and the committed
``results/runs/``); the same run found twice counts once. Only finished runs enter a table, and a cell holds
runs whose result-changing configs differ in the seed alone (``ftn.identity.cell_key``).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

from .atomic import atomic_write_text
from .identity import cell_key, device_folder, flatten, result_config
from .logging import SUMMARY, read_summary
from .pooling.module import COLUMNS, DEFAULT_INIT, GATES

# The paper's numbers. Table 1: MAE in 1e-5 for T1, T2, T3. Table 2/4: test error in %.
PAPER_TABLE1 = {4: (8.97, 8.91, 9.19), 9: (4.42, 4.39, 4.40), 16: (5.41, 5.28, 5.32)}
PAPER_TABLE2 = {8: (57.44, 56.18, 50.96, 50.52), 16: (32.75, 32.86, 28.58, 25.72),
                32: (18.77, 20.82, 16.11, 15.48), 64: (13.27, 14.75, 12.04, 11.83)}
TABLE2_POOLINGS = ("max", "avg", "lstm_shared", "lstm")
PAPER_TABLE4 = {("cifar10", "lstm"): 5.79, ("cifar100", "lstm"): 26.89}
DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "cifar10_jpeg": "CIFAR-10 (JPEG copy)",
                  "synthetic": "synthetic (generated)"}


RUNS_DIRS = (Path("runs"), Path("results/runs"))


def _steps(record: dict) -> tuple[int, bool]:
    return record.get("steps") or 0, record.get("status") == "finished"


RUNS_HEADING = "## Runs"  # the provenance section that ends a table's results
DEVICE_LABELS = {"cpu": "CPU", "gpu": "GPU", "cuda": "GPU"}


def trained_on(record: dict) -> str:
    """Where a run trained ("cpu", "cuda", "cuda+cpu" if resumed elsewhere): the record's ``device``; older records
    only have the configured accelerator (``auto`` stays as it is)."""
    return record.get("device") or record.get("config", {}).get("trainer", {}).get("accelerator", "cpu")


def device(record: dict) -> str:
    """The device a run trained on, as a label ("CPU", "GPU", "GPU+CPU"). Cells and tables never mix devices: a
    run's folder and config hash leave the device out (a checkpoint may resume elsewhere), but the kernels differ,
    so CPU and GPU seeds are different draws and each device's seed 0 is its own run."""
    return "+".join(DEVICE_LABELS.get(part, part) for part in trained_on(record).split("+"))


def load_runs(runs_dirs: Path | Iterable[Path], experiment: str) -> list[dict]:
    """The finished runs of ``experiment`` under ``runs_dirs``. A run found in several folders (same experiment,
    device and run folder name, e.g. runs/ and its committed copy in results/runs/) counts once: the longer
    record."""
    dirs = [runs_dirs] if isinstance(runs_dirs, (str, Path)) else list(runs_dirs)
    best: dict[str, dict] = {}
    for runs_dir in dirs:
        for path in sorted(Path(runs_dir).glob(f"**/{SUMMARY}")):
            record = read_summary(path)
            if record.get("experiment") != experiment:
                continue
            run = f"{device(record)}/{path.parent.name}"
            if run not in best or _steps(record) > _steps(best[run]):
                best[run] = record
    return [r for r in best.values() if r.get("status") == "finished"]


def cells(records: list[dict]) -> list[list[dict]]:
    """Group runs into cells (``cell_key``: same result-changing config but the seed; same device), one run per
    seed."""
    by_cell: dict[tuple[str, str], dict] = defaultdict(dict)
    for r in records:
        seeds = by_cell[(device(r), cell_key(r["config"]))]
        if r["seed"] not in seeds or _steps(r) > _steps(seeds[r["seed"]]):
            seeds[r["seed"]] = r
    return [list(seeds.values()) for seeds in by_cell.values()]


def seeds(n: int) -> str:
    return f"{n} seed" + ("s" if n != 1 else "")


def mean_std(values: list[float], digits: int = 2) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (1 seed)"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f} ({seeds(len(values))})"


def slot(records: list[dict], value: Callable[[dict], float]) -> str:
    """One table slot: mean ± std over the seeds of each cell in it. Runs that differ in more than the seed
    are never averaged together: each such cell is shown apart, labelled with the keys that tell them apart."""
    groups = cells(records)
    if len(groups) <= 1:
        return mean_std([value(r) for r in (groups[0] if groups else [])])
    flat = [flatten(result_config(g[0]["config"])) for g in groups]
    keys = sorted(k for k in set().union(*flat) if len({repr(f.get(k)) for f in flat}) > 1 and k.split(".")[-1] != "seed")
    return "<br>".join(f"{mean_std([value(r) for r in g])} [{', '.join(f'{k}={f.get(k)}' for k in keys)}]"
                       for g, f in zip(groups, flat))


def provenance(records: list[dict], describe) -> list[str]:
    lines = ["", RUNS_HEADING, "", "| run | seed | wall time | commit | hardware | wandb run id | command |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: (describe(r), r["seed"])):
        wall = f"{r['wall_time_s'] / 60:.1f} min" if "wall_time_s" in r else "—"
        commits = " → ".join(r.get("commits") or [r.get("commit", "—")])  # a run resumed on a later commit
        lines.append(f"| {describe(r)} | {r['seed']} | {wall} | {commits} | "
                     f"{r.get('hardware', '—')} | {r.get('wandb_run_id', '—')} | `{r.get('command', '—')}` |")
    return lines


# The experiments behind each table: Table 1 shows our recipe and, beside it, the paper's recipe as written.
EXPERIMENTS = {"table1": ("table1", "table1_paper"), "table2": ("table2",), "table4": ("table4",)}
RECIPES = {"table1": "our recipe (results/table1.notes.md)", "table1_paper": "the paper's recipe as written",
           "table1_quick": "our recipe, QUICK (rough)"}


def table1(records: list[dict]) -> list[str]:
    groups = defaultdict(list)
    for r in records:
        groups[(r["experiment"], r["config"]["task"]["target"], r["config"]["dataset"]["seq_len"])].append(r)
    lines = ["# Table 1: one LSTM unit approximating a pooling function", "",
             "MAE in units of 1e-5 on three generated test sets of 10^4 batches of 128 windows: "
             "T1 values uniform in [0, 300], T2 50% zeros, T3 80% zeros. Ours: mean ± std over seeds.", ""]
    for experiment, target in sorted({k[:2] for k in groups}, key=lambda k: (k[1] != "max", k[0])):
        lengths = sorted(length for e, t, length in groups if (e, t) == (experiment, target))
        lines += [f"## {target} pooling, {RECIPES.get(experiment, experiment)}", "",
                  "| pool size | T1 paper | T1 ours | T2 paper | T2 ours | T3 paper | T3 ours |", "|---|---|---|---|---|---|---|"]
        for length in lengths:
            runs = groups[(experiment, target, length)]
            paper = PAPER_TABLE1.get(length) if target == "max" else None
            cells = []
            for i, name in enumerate(("T1", "T2", "T3")):
                cells += [f"{paper[i]:.2f}" if paper else "—",
                          slot(runs, lambda r, name=name: r["metrics"][f"test/{name}_mae_1e5"])]
            k = round(length ** 0.5)
            lines.append(f"| {k}x{k} | " + " | ".join(cells) + " |")
        lines.append("")
    describe = lambda r: f"{r['experiment']} {r['config']['task']['target']} {r['config']['dataset']['seq_len']}"
    return lines + provenance(records, describe)


def error_percent(record: dict) -> float:
    return 100 * record["metrics"]["final_test/error"]


def _error_cells(runs: list[dict]) -> str:
    return slot(runs, error_percent)


# The LSTM init of Table 2's headline row: the default init, of the Python API and of configs/pooling/_lstm.yaml
# (a test keeps them equal), fixed before the init study (results/table2.notes.md says why).
HEADLINE_INIT = DEFAULT_INIT


def row_scan(config: dict) -> bool:
    """The paper's scan order (row by row), which configs without a ``pooling.scan`` key use too."""
    return config["pooling"].get("scan", "row") == "row"


def describe(config: dict) -> str:
    """A cell's label within a network: the pooling, and for LSTM pooling its init and any non-row scan."""
    pooling = config["pooling"]
    if not pooling["kind"].startswith("lstm"):
        return pooling["kind"]
    return f"{pooling['kind']} {pooling.get('init', '?')}" + ("" if row_scan(config) else f" {pooling['scan']}")


def is_headline(config: dict) -> bool:
    """The runs the paper's table shows: max, avg, and LSTM pooling with the headline init, row scan."""
    pooling = config["pooling"]
    return not pooling["kind"].startswith("lstm") or (pooling.get("init") == HEADLINE_INIT and row_scan(config))


def two_sided_p(t: float, dof: int) -> float:
    """P(|T| >= |t|) for Student's t with ``dof`` degrees of freedom, from the exact finite series of
    Abramowitz & Stegun 26.7.3-4 (so the tables need no scipy)."""
    theta = math.atan(abs(t) / math.sqrt(dof))
    sin, cos = math.sin(theta), math.cos(theta)
    series = 0.0
    if dof % 2 == 0:  # A = sin θ (1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + ...), dof/2 terms
        term = 1.0
        for k in range(1, dof // 2 + 1):
            series, term = series + term, term * cos ** 2 * (2 * k - 1) / (2 * k)
        inside = sin * series
    else:  # A = 2/π (θ + sin θ (cos θ + 2/3 cos³θ + ...)), (dof - 1)/2 terms
        term = cos
        for k in range(1, (dof - 1) // 2 + 1):
            series, term = series + term, term * cos ** 2 * (2 * k) / (2 * k + 1)
        inside = 2 / math.pi * (theta + sin * series)
    return max(0.0, 1.0 - inside)


def paired_difference(cell: list[dict], baseline: list[dict]) -> str:
    """Test error minus the baseline's, seed by seed: mean ± std over the shared seeds, t = mean / sem, and its
    two-sided p (not corrected for the number of comparisons a table makes)."""
    base = {r["seed"]: error_percent(r) for r in baseline}
    diffs = [error_percent(r) - base[r["seed"]] for r in cell if r["seed"] in base]
    if len(diffs) < 2:
        return "—" if not diffs else f"{diffs[0]:+.2f} (1 pair)"
    mean, std = statistics.mean(diffs), statistics.stdev(diffs)
    t = mean / (std / len(diffs) ** 0.5) if std > 0 else math.copysign(math.inf, mean)
    return f"{mean:+.2f} ± {std:.2f} ({len(diffs)} pairs, t = {t:+.1f}, p = {two_sided_p(t, len(diffs) - 1):.2g})"


# A baseline: its name, and which cell is the baseline of a given cell (both given by their configs).
Baseline = tuple[str, Callable[[dict, dict], bool]]
POOLING_BASELINES: list[Baseline] = [("max", lambda cell, c: c["pooling"]["kind"] == "max"),
                                     ("avg", lambda cell, c: c["pooling"]["kind"] == "avg")]


def network_detail(records: list[dict], baselines: list[Baseline] = POOLING_BASELINES) -> list[str]:
    """Every cell of one network and budget: seeds, mean ± std, each seed's value, and the paired difference to
    each baseline cell (by default max and avg pooling; negative: lower error than the baseline)."""
    column = {kind: i for i, kind in enumerate(TABLE2_POOLINGS)}  # the paper's column order, then the rest
    groups = sorted(cells(records), key=lambda g: (column.get(g[0]["config"]["pooling"]["kind"], len(column)),
                                                   describe(g[0]["config"])))

    def baseline_of(g: list[dict], is_baseline: Callable[[dict, dict], bool]) -> list[dict]:
        return max((h for h in groups if is_baseline(g[0]["config"], h[0]["config"])), key=len, default=[])

    def difference(g: list[dict], is_baseline: Callable[[dict, dict], bool]) -> str:
        base = baseline_of(g, is_baseline)
        return "—" if g is base else paired_difference(g, base)

    baselines = [b for b in baselines if any(baseline_of(g, b[1]) for g in groups)]  # no column without a baseline

    lines = ["| pooling | seeds | test error (%) | per seed | "
             + " | ".join(f"paired difference to {name} (points)" for name, _ in baselines) + " |",
             "|---|---|---|---|" + "---|" * len(baselines)]
    for g in groups:
        per_seed = ", ".join(f"s{r['seed']} {error_percent(r):.2f}" for r in sorted(g, key=lambda r: r["seed"]))
        lines.append(f"| {describe(g[0]['config'])} | {len(g)} | {mean_std([error_percent(r) for r in g])} | "
                     f"{per_seed} | " + " | ".join(difference(g, match) for _, match in baselines) + " |")
    return lines


def scan_order(records: list[dict]) -> list[str]:
    """The paper's claim that the scan order does not matter: per-layer LSTM pooling with the headline init, each
    scan beside the row scan, paired seed by seed. Empty if no other scan was run."""
    runs = [r for r in records if r["config"]["pooling"]["kind"] == "lstm"
            and r["config"]["pooling"].get("init") == HEADLINE_INIT]
    if all(row_scan(r["config"]) for r in runs):
        return []
    return ["The data agree with the claim if every paired difference is within its spread of zero (|t| < 2 with at "
            "least 3 pairs): no effect of the order is then detectable at this noise level, which is not a proof "
            "that there is none. With fewer seeds the claim is not tested yet.", "",
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


def learned_units(records: list[dict]) -> list[str]:
    """Mean over seeds of each LSTM cell's learned unit parameters, per pooling layer (the lstm/* metrics)."""
    lines = ["| cell | layer | " + " | ".join(f"{c}_{g}" for g in GATES for c in COLUMNS) + " |",
             "|---|---|" + "---|" * 12]
    for g in sorted(cells(records), key=lambda g: describe(g[0]["config"])):
        layers = sorted({k.split("/")[1] for k in g[0]["metrics"] if k.startswith("lstm/") and k.count("/") == 2})
        for layer in layers:
            values = [statistics.mean(r["metrics"][f"lstm/{layer}/{c}_{gate}"] for r in g)
                      for gate in GATES for c in COLUMNS]
            lines.append(f"| {describe(g[0]['config'])} ({seeds(len(g))}) | {layer} | "
                         + " | ".join(f"{v:.3g}" for v in values) + " |")
    return lines if len(lines) > 2 else []


def table2(records: list[dict]) -> list[str]:
    settings = defaultdict(list)
    for r in records:
        settings[(r["config"]["dataset"]["name"], r["config"]["schedule"]["max_steps"], device(r))].append(r)
    lines = ["# Table 2: Conv N on CIFAR-10, test error (%)", "",
             "Paper: the paper's Table 2 (genuine CIFAR-10, 122k iterations). Ours: mean ± std over seeds, at the "
             f"budget named in each heading. LSTM cells of the first table use the headline init `{HEADLINE_INIT}` "
             "and the row scan; the tables after it list every cell, each seed, and the paired differences to max "
             "and avg pooling.", ""]
    # per dataset, the largest budget first, and within it the device with the most runs (the README shows the
    # first section)
    for (dataset, steps, where), runs in sorted(settings.items(), key=lambda kv: (kv[0][0], -kv[0][1], -len(kv[1]))):
        label = f"{DATASET_LABELS.get(dataset, dataset)}, {steps} iterations, {where}"
        widths = sorted({r["config"]["model"]["width"] for r in runs})
        lines += [f"## {label}", "",
                  "| network | " + " | ".join(f"{p} paper | {p} ours" for p in TABLE2_POOLINGS) + " |",
                  "|---|" + "---|---|" * len(TABLE2_POOLINGS)]
        for width in widths:
            paper = PAPER_TABLE2.get(width)
            row = []
            for i, pooling in enumerate(TABLE2_POOLINGS):
                chosen = [r for r in runs if r["config"]["model"]["width"] == width and is_headline(r["config"])
                          and r["config"]["pooling"]["kind"] == pooling]
                row += [f"{paper[i]:.2f}" if paper else "—", _error_cells(chosen)]
            lines.append(f"| Conv {width} | " + " | ".join(row) + " |")
        lines.append("")
        for width in widths:
            network = [r for r in runs if r["config"]["model"]["width"] == width]
            lines += [f"### Conv {width}, {label}: every cell", "", *network_detail(network), ""]
            if inits := init_study(network):
                lines += [f"### Conv {width}, {label}: LSTM inits", "", *inits, ""]
            if scans := scan_order(network):
                lines += [f"### Conv {width}, {label}: scan order (section 3)", "", *scans, ""]
            if units := learned_units(network):
                lines += [f"### Conv {width}, {label}: learned units (mean over seeds)", "", *units, ""]
    describe_run = lambda r: (f"{DATASET_LABELS.get(r['config']['dataset']['name'])} Conv "
                              f"{r['config']['model']['width']} {describe(r['config'])} "
                              f"{r['config']['schedule']['max_steps']} it {device(r)}")
    return lines + provenance(records, describe_run)


def table4(records: list[dict]) -> list[str]:
    groups = defaultdict(list)
    for r in records:  # cells never mix devices (see device())
        c = r["config"]
        groups[(c["dataset"]["name"], c["pooling"]["kind"], c["schedule"]["max_steps"], device(r))].append(r)
    lines = ["# Table 4: VGG16, test error (%)", "", "| dataset | pooling | iterations | device | paper | ours |",
             "|---|---|---|---|---|---|"]
    for (dataset, pooling, steps, where), runs in sorted(groups.items()):
        paper = PAPER_TABLE4.get((dataset, pooling))
        lines.append(f"| {DATASET_LABELS.get(dataset, dataset)} | {pooling} | {steps} | {where} | "
                     f"{paper if paper is not None else '— (not reported)'} | {_error_cells(runs)} |")
    describe = lambda r: f"{r['config']['dataset']['name']} {r['config']['pooling']['kind']}"
    return lines + provenance(records, describe)


BUILDERS = {"table1": table1, "table2": table2, "table4": table4}


def update_readme(readme: Path, name: str, table: str) -> None:
    """Replace the README block between <!-- name --> markers with the table's result sections (every one before
    its ``## Runs``: each device and budget, each recipe), headings demoted two levels."""
    if not readme.exists():
        return
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = readme.read_text()
    if start not in text:
        return
    sections = table.split("\n" + RUNS_HEADING)[0].split("\n## ")[1:]
    body = "\n\n".join("#### " + section.strip() for section in sections) if sections else table
    # the README keeps the results; the learned parameter tables stay in the file
    body = "\n##### ".join(part for part in body.split("\n### ") if "learned units" not in part.split("\n", 1)[0])
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1] if end in rest else rest
    readme.write_text(f"{before}{start}\n{body}\n{end}{after}")


def write_table(name: str, runs_dir: Path | Iterable[Path], out_dir: Path, readme: Path | None = None,
                experiment: str | None = None) -> Path | None:
    """Write <out_dir>/<experiment>.md from the finished runs of ``experiment`` (default: the table's own)."""
    records = [r for e in ((experiment,) if experiment else EXPERIMENTS[name]) for r in load_runs(runs_dir, e)]
    experiment = experiment or name
    if not records:
        where = " and ".join(map(str, [runs_dir] if isinstance(runs_dir, (str, Path)) else runs_dir))
        print(f"{experiment}: no finished runs under {where}; nothing written")
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{experiment}.md"
    notes = out_dir / f"{name}.notes.md"  # hand-written discussion, kept beside the generated table
    text = "\n".join(BUILDERS[name](records)) + "\n"
    if notes.exists():
        text = text + "\n" + notes.read_text()
    path.write_text(text)
    if readme is not None and experiment == name:
        update_readme(readme, name, text)
    print(f"{name}: {len(records)} runs -> {path}")
    return path


def collect(runs_dirs: Iterable[Path], records_dir: Path) -> int:
    """Copy every finished or diverged record under ``runs_dirs`` to ``records_dir/[gpu/]<experiment>/<run folder>/``
    (what ``records_dir`` does for new runs; this is for runs made before it existed). Returns the count."""
    copied = 0
    for runs_dir in runs_dirs:
        for path in sorted(Path(runs_dir).glob(f"**/{SUMMARY}")):
            record = read_summary(path)
            where = device_folder(trained_on(record))  # as the paths group places a new run's record
            target = records_dir / where / str(record.get("experiment")) / path.parent.name / SUMMARY
            if record.get("status") in ("finished", "diverged") and target.resolve() != path.resolve():
                atomic_write_text(target, path.read_text())
                copied += 1
    return copied


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("tables", nargs="*", help=f"any of {', '.join(sorted(BUILDERS))}")
    parser.add_argument("--collect", type=Path, metavar="DIR",
                        help="first copy the finished and diverged records under --runs into DIR (e.g. results/runs)")
    parser.add_argument("--runs", type=Path, nargs="+", default=list(RUNS_DIRS),
                        help="folders of run records (default: runs results/runs)")
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--experiment", help="experiment name of the runs, if not the table's (e.g. table1_quick)")
    parser.add_argument("--readme", default="README.md",
                        help="README whose <!-- tableN --> block gets the table ('' for none)")
    args = parser.parse_args(argv)
    if unknown := sorted(set(args.tables) - set(BUILDERS)):
        parser.error(f"tables {unknown} are unknown; allowed: {', '.join(sorted(BUILDERS))}")
    if args.collect:
        print(f"{collect(args.runs, args.collect)} records copied into {args.collect}")
    for name in args.tables:
        write_table(name, args.runs, args.out, Path(args.readme) if args.readme else None, args.experiment)


if __name__ == "__main__":
    main()
