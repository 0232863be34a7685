"""Build results/tableN.md from the run records (runs/**/summary.json); nothing is typed by hand.

    python -m ftn.results table1 table2 [--runs runs] [--out results]
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from .logging import SUMMARY

# The paper's numbers. Table 1: MAE in 1e-5 for T1, T2, T3. Table 2/4: test error in %.
PAPER_TABLE1 = {4: (8.97, 8.91, 9.19), 9: (4.42, 4.39, 4.40), 16: (5.41, 5.28, 5.32)}
PAPER_TABLE2 = {8: (57.44, 56.18, 50.96, 50.52), 16: (32.75, 32.86, 28.58, 25.72),
                32: (18.77, 20.82, 16.11, 15.48), 64: (13.27, 14.75, 12.04, 11.83)}
TABLE2_POOLINGS = ("max", "avg", "lstm_shared", "lstm")
PAPER_TABLE4 = {("cifar10", "lstm"): 5.79, ("cifar100", "lstm"): 26.89}
DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "cifar10_jpeg": "CIFAR-10 (JPEG copy)",
                  "synthetic": "synthetic (generated)"}


def load_runs(runs_dir: Path, experiment: str) -> list[dict]:
    records = [json.loads(p.read_text()) for p in sorted(runs_dir.glob(f"**/{SUMMARY}"))]
    return [r for r in records if r.get("experiment") == experiment and r.get("status") == "finished"]


def mean_std(values: list[float], digits: int = 2) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (1 seed)"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f} ({len(values)} seeds)"


def provenance(records: list[dict], describe) -> list[str]:
    lines = ["", "## Runs", "", "| run | seed | wall time | commit | hardware | wandb run id | command |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: (describe(r), r["seed"])):
        lines.append(f"| {describe(r)} | {r['seed']} | {r['wall_time_s'] / 60:.1f} min | {r['commit']} | "
                     f"{r['hardware']} | {r['wandb_run_id']} | `{r['command']}` |")
    return lines


def table1(records: list[dict]) -> list[str]:
    groups = defaultdict(list)
    for r in records:
        groups[(r["config"]["task"]["target"], r["config"]["dataset"]["seq_len"])].append(r)
    lines = ["# Table 1: one LSTM unit approximating a pooling function", "",
             "MAE in units of 1e-5 on three generated test sets of 10^4 batches of 128 windows: "
             "T1 values uniform in [0, 300], T2 50% zeros, T3 80% zeros. Ours: mean ± std over seeds.", ""]
    for target in ("max", "avg"):
        lengths = sorted(length for t, length in groups if t == target)
        if not lengths:
            continue
        lines += [f"## {target} pooling", "",
                  "| pool size | T1 paper | T1 ours | T2 paper | T2 ours | T3 paper | T3 ours |", "|---|---|---|---|---|---|---|"]
        for length in lengths:
            runs = groups[(target, length)]
            paper = PAPER_TABLE1.get(length) if target == "max" else None
            cells = []
            for i, name in enumerate(("T1", "T2", "T3")):
                cells += [f"{paper[i]:.2f}" if paper else "—",
                          mean_std([r["metrics"][f"test/{name}_mae_1e5"] for r in runs])]
            k = round(length ** 0.5)
            lines.append(f"| {k}x{k} | " + " | ".join(cells) + " |")
        lines.append("")
    describe = lambda r: f"{r['config']['task']['target']} {r['config']['dataset']['seq_len']}"
    return lines + provenance(records, describe)


def _error_cells(runs: list[dict]) -> str:
    return mean_std([100 * r["metrics"]["final_test/error"] for r in runs])


def table2(records: list[dict]) -> list[str]:
    groups = defaultdict(list)
    for r in records:
        c = r["config"]
        groups[(c["dataset"]["name"], c["schedule"]["max_steps"], c["model"]["width"], c["pooling"]["kind"])].append(r)
    lines = ["# Table 2: Conv N on CIFAR-10, test error (%)", "",
             "Paper: the paper's Table 2 (genuine CIFAR-10, 122k iterations). Ours: mean ± std over seeds.", ""]
    for dataset, steps in sorted({k[:2] for k in groups}):
        lines += [f"## {DATASET_LABELS.get(dataset, dataset)}, {steps} iterations", "",
                  "| network | " + " | ".join(f"{p} paper | {p} ours" for p in TABLE2_POOLINGS) + " |",
                  "|---|" + "---|---|" * len(TABLE2_POOLINGS)]
        for width in sorted({k[2] for k in groups if k[:2] == (dataset, steps)}):
            cells = []
            for i, pooling in enumerate(TABLE2_POOLINGS):
                paper = PAPER_TABLE2.get(width)
                cells += [f"{paper[i]:.2f}" if paper else "—", _error_cells(groups.get((dataset, steps, width, pooling), []))]
            lines.append(f"| Conv {width} | " + " | ".join(cells) + " |")
        lines.append("")
    describe = lambda r: (f"{DATASET_LABELS.get(r['config']['dataset']['name'])} Conv {r['config']['model']['width']} "
                          f"{r['config']['pooling']['kind']} {r['config']['schedule']['max_steps']} it")
    return lines + provenance(records, describe)


def table4(records: list[dict]) -> list[str]:
    groups = defaultdict(list)
    for r in records:
        c = r["config"]
        groups[(c["dataset"]["name"], c["pooling"]["kind"], c["schedule"]["max_steps"])].append(r)
    lines = ["# Table 4: VGG16, test error (%)", "", "| dataset | pooling | iterations | paper | ours |", "|---|---|---|---|---|"]
    for (dataset, pooling, steps), runs in sorted(groups.items()):
        paper = PAPER_TABLE4.get((dataset, pooling))
        lines.append(f"| {DATASET_LABELS.get(dataset, dataset)} | {pooling} | {steps} | "
                     f"{paper if paper is not None else '— (not reported)'} | {_error_cells(runs)} |")
    describe = lambda r: f"{r['config']['dataset']['name']} {r['config']['pooling']['kind']}"
    return lines + provenance(records, describe)


BUILDERS = {"table1": table1, "table2": table2, "table4": table4}


def update_readme(readme: Path, name: str, table: str) -> None:
    """Replace the README block between <!-- name --> markers with the table's first section."""
    if not readme.exists():
        return
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = readme.read_text()
    if start not in text:
        return
    sections = table.split("\n## ")
    body = "#### " + sections[1].strip() if len(sections) > 1 else table
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1] if end in rest else rest
    readme.write_text(f"{before}{start}\n{body}\n{end}{after}")


def write_table(name: str, runs_dir: Path, out_dir: Path, readme: Path | None = None,
                experiment: str | None = None) -> Path | None:
    """Write <out_dir>/<experiment>.md from the finished runs of ``experiment`` (default: ``name``)."""
    experiment = experiment or name
    records = load_runs(runs_dir, experiment)
    if not records:
        print(f"{experiment}: no finished runs under {runs_dir}; nothing written")
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("tables", nargs="+", choices=sorted(BUILDERS))
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--experiment", help="experiment name of the runs, if not the table's (e.g. table1_quick)")
    parser.add_argument("--readme", default="README.md",
                        help="README whose <!-- tableN --> block gets the table ('' for none)")
    args = parser.parse_args(argv)
    for name in args.tables:
        write_table(name, args.runs, args.out, Path(args.readme) if args.readme else None, args.experiment)


if __name__ == "__main__":
    main()
