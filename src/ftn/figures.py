"""Figures from the run records: learned pooling functions (the paper's figure 4) and test-error curves (figure 5).

    python -m ftn.figures [--runs runs results/runs] [--out results]
"""
from __future__ import annotations

import argparse
import re
import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from .pooling import lstm_scan  # noqa: E402
from .pooling.module import COLUMNS, GATES  # noqa: E402
from .results import DATASET_LABELS, RUNS_DIRS, load_runs  # noqa: E402

PARAM_KEY = re.compile(r"lstm/(?:(?P<layer>.+)/)?(?P<col>[wrb])_(?P<gate>[ifog])$")


def learned_units(metrics: dict) -> dict[str, torch.Tensor]:
    """{layer name: (4, 3) params} from the ``lstm/<layer>/<w|r|b>_<gate>`` metrics of a run."""
    units: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros(4, 3))
    for key, value in metrics.items():
        if match := PARAM_KEY.match(key):
            units[match["layer"] or "unit"][GATES.index(match["gate"]), COLUMNS.index(match["col"])] = value
    return dict(units)


def probe_windows(length: int, count: int = 200, peak: float = 1.5, seed: int = 0) -> torch.Tensor:
    """Random windows whose maximum is ``peak`` (figure 4's input), ordered by their average: (L, count)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(count, length, generator=gen, dtype=torch.float64) * peak
    x[torch.arange(count), torch.randint(length, (count,), generator=gen)] = peak
    return x[x.mean(1).argsort()].t()


def plot_learned_pooling(records: list[dict], out: Path) -> Path | None:
    runs = [r for r in records if r["config"]["pooling"]["kind"] in ("lstm", "lstm_shared")]
    if not runs:
        return None
    layers = sorted({layer for r in runs for layer in learned_units(r["metrics"])}, key=lambda s: int(s.split(".")[-1]))
    fig, axes = plt.subplots(1, len(layers), figsize=(6 * len(layers), 4), squeeze=False)
    sizes = runs[0]["config"]["model"].get("pool_sizes", (4, 8))
    for ax, layer, k in zip(axes[0], layers, sizes):
        x = probe_windows(k * k)
        ax.plot(x.max(0).values, "k--", label="max pooling")
        ax.plot(x.mean(0), "k:", label="average pooling")
        for r in runs:
            params = learned_units(r["metrics"])[layer].double()
            slope = r["config"]["model"]["negative_slope"]
            c = r["config"]
            ax.plot(lstm_scan(x, params, slope), label=f"Conv {c['model']['width']} {c['pooling']['kind']} s{r['seed']}")
        ax.set(title=f"learned pooling, layer {layer} ({k}x{k})", xlabel="window (sorted by average)", ylabel="output")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_test_error_curves(records: list[dict], out: Path) -> Path | None:
    curves = defaultdict(list)
    for r in records:
        c = r["config"]
        points = [(h["epoch"], 100 * h["test/error"]) for h in r.get("history", []) if "test/error" in h]
        if points:
            curves[(c["model"]["width"], c["pooling"]["kind"], c["dataset"]["name"])].append(dict(points))
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (width, pooling, dataset), runs in sorted(curves.items()):
        epochs = sorted(set.intersection(*(set(run) for run in runs)))
        mean = [statistics.mean(run[e] for run in runs) for e in epochs]
        ax.plot([e + 1 for e in epochs], mean, marker="o", ms=3,
                label=f"Conv {width} {pooling} ({len(runs)} seeds, {DATASET_LABELS.get(dataset, dataset)})")
    ax.set(xlabel="epoch", ylabel="test error (%)", title="Test error per epoch (mean over seeds)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=Path, nargs="+", default=list(RUNS_DIRS),
                        help="folders of run records (default: runs results/runs)")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    table2 = load_runs(args.runs, "table2")
    for path in (plot_learned_pooling(table2, args.out / "fig4_learned_pooling.png"),
                 plot_test_error_curves(table2, args.out / "fig5_test_error.png")):
        print(path or "no runs for this figure yet")


if __name__ == "__main__":
    main()
