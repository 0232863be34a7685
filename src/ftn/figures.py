"""Figures from the run records: the paper's figures 3 (max locations), 4 (learned pooling) and 5 (VGG16 test
error), the Conv N test-error curves of Table 2 and its LSTM gain over max by width, and the pooling zoo's error
against cost.

    python -m ftn.figures [--runs runs results/runs] [--out results]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from .pooling import KINDS  # noqa: E402
from .record_files import RESULTS  # noqa: E402
from .results import (EXPERIMENTS, RUNS_DIRS, cells, changed_hyperparameters, describe, device,  # noqa: E402
                      is_headline, load_runs, seeds)
from .results import paper, zoo  # noqa: E402
from .results.table2 import error_difference, largest_headline_cell, networks  # noqa: E402
from .results.labels import test_error_curve  # noqa: E402
from .results.units import layer_order, layer_windows, learned_units, on_probes, probe_windows  # noqa: E402
from .results.records import BadRecords, Setting, preferred, runs_dirs_problem, setting  # noqa: E402

def plot_learned_pooling(records: list[dict], out: Path) -> Path | None:
    """The paper's figure 4: each layer's learned function on probe windows, for the headline LSTM runs
    (per-layer units: architecture 2, as the paper draws them); a row per network and device, since a cell never
    mixes devices, each in its ``preferred`` setting (the largest budget whose cell has the seeds a comparison needs)."""
    runs = [r for r in records if r["config"]["pooling"]["kind"] == "lstm" and is_headline(r["config"])]
    if not runs:
        return None
    groups = defaultdict(lambda: defaultdict(list))  # (width, device) -> setting -> runs
    for r in runs:
        groups[r["config"]["model"]["width"], device(r)][setting(r)].append(r)
    rows = {key: by_setting[preferred({where: len(cell) for where, cell in by_setting.items()})]
            for key, by_setting in groups.items()}
    layers = sorted({layer for group in rows.values() for r in group for layer in learned_units(r["metrics"])},
                    key=layer_order)
    fig, axes = plt.subplots(len(rows), len(layers), figsize=(6 * len(layers), 4 * len(rows)), squeeze=False)
    for row, (width, device_name) in zip(axes, sorted(rows)):
        cell = rows[(width, device_name)]
        for ax, (layer, k) in zip(row, layer_windows(cell[0])):
            x = probe_windows(k * k)
            ax.plot(x.max(0).values, "k--", label="max pooling")
            ax.plot(x.mean(0), "k:", label="average pooling")
            for r in sorted(cell, key=lambda r: r["seed"]):
                _, response = on_probes(learned_units(r["metrics"])[layer], k, r["config"]["model"]["negative_slope"])
                ax.plot(response, label=f"{describe(r['config'])} s{r['seed']}")
            ax.set(title=f"Conv {width}, layer {layer} ({k}x{k})\n{setting(cell[0]).label('iterations')}",
                   xlabel="window (sorted by average)", ylabel="output")
            ax.legend(fontsize=7)
    return save(fig, out)


def grid(keys: Iterable[tuple[Setting, int]], width: float, height: float) -> tuple[plt.Figure, dict]:
    """A panel per (setting, network width): a row per setting, a column per width, the places no key fills left
    blank. Returns the figure and {key: its axes}."""
    keys = list(keys)
    rows, columns = sorted({where for where, _ in keys}), sorted({w for _, w in keys})
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(width * len(columns), height * len(rows)),
                             squeeze=False)
    placed = {key: axes[rows.index(key[0])][columns.index(key[1])] for key in keys}
    for ax in set(axes.flat) - set(placed.values()):
        ax.set_axis_off()
    return fig, placed


def save(fig: plt.Figure, out: Path) -> Path:
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def error_curves(records: list[dict]) -> dict[str, tuple[dict, list[dict[int, float]]]]:
    """{label: (a run's config, per-seed {epoch: test error %})} from the per-epoch history of each run."""
    curves = {}
    for r in records:
        if points := test_error_curve(r):
            curves.setdefault(describe(r["config"]), (r["config"], []))[1].append(points)
    return curves


# One style per pooling kind in every panel, whichever cells a panel has. Table 2's four kinds keep solid lines in
# C0-C3; the others (the zoo) cycle through tab10's remaining six colours, each round with its own dash and marker,
# so that no two kinds look alike (tab20b's shades of one hue could not be told apart in a legend of 17).
POOLING_COLORS = {"avg": "C0", "lstm": "C1", "lstm_shared": "C2", "max": "C3"}
OTHER_COLORS, OTHER_DASHES, OTHER_MARKERS = ("C4", "C5", "C6", "C7", "C8", "C9"), ("--", ":", "-."), ("s", "^", "D")
OTHER_KINDS = tuple(k for k in KINDS if k not in POOLING_COLORS)


def style_of(config: dict) -> dict:
    """A cell's style: its kind's, densely dotted for another reading of the kind (``mixed draw=layer``)."""
    style = kind_style(config["pooling"]["kind"])
    return {**style, "linestyle": (0, (1, 1)), "marker": "x"} if changed_hyperparameters(config) else style


def kind_style(kind: str) -> dict:
    """Matplotlib keywords (color, linestyle, marker) that draw ``kind``'s lines and points."""
    if kind in POOLING_COLORS:
        return {"color": POOLING_COLORS[kind], "linestyle": "-", "marker": "o"}
    i = OTHER_KINDS.index(kind) if kind in OTHER_KINDS else len(OTHER_KINDS)
    n = len(OTHER_COLORS)
    return {"color": OTHER_COLORS[i % n], "linestyle": OTHER_DASHES[i // n % len(OTHER_DASHES)],
            "marker": OTHER_MARKERS[i // n % len(OTHER_MARKERS)]}


def plot_bands(ax, curves: dict[str, tuple[dict, list[dict[int, float]]]], last_epoch: int | None = None,
               each_seed: bool = False) -> None:
    """Mean over seeds with a +- 1 std band, over the epochs every seed reached (``each_seed``: and each seed's
    own curve, thin)."""
    for label, (config, runs) in sorted(curves.items()):
        epochs = sorted(e for e in set.intersection(*(set(run) for run in runs)) if last_epoch is None or e < last_epoch)
        mean = [statistics.mean(run[e] for run in runs) for e in epochs]
        std = [statistics.stdev(run[e] for run in runs) if len(runs) > 1 else 0.0 for e in epochs]
        x = [e + 1 for e in epochs]
        style = style_of(config)
        (line,) = ax.plot(x, mean, label=f"{label} ({seeds(len(runs))})", color=style["color"],
                          linestyle=style["linestyle"])
        ax.fill_between(x, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                        color=line.get_color(), alpha=0.15)
        for run in runs if each_seed and len(runs) > 1 else []:
            ax.plot(x, [run[e] for e in epochs], color=line.get_color(), linewidth=0.6, alpha=0.5)
    ax.set(xlabel="epoch", ylabel="test error (%)")
    ax.legend(fontsize=7)


def panels_by(records: list[dict], key) -> dict[tuple, list[dict]]:
    """Records grouped by ``key(record)``, keeping only groups that have a test-error history."""
    groups = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    return {k: v for k, v in sorted(groups.items()) if error_curves(v)}


def plot_convnet_error_curves(records: list[dict], out: Path) -> Path | None:
    """Test error per epoch of Table 2's headline cells (max, avg and both LSTM poolings with the headline init;
    the init study's other cells are in results/table2.md): a panel per (data, budget, device, network), bands
    over seeds."""
    records = [r for r in records if is_headline(r["config"])]
    panels = panels_by(records, lambda r: (setting(r), r["config"]["model"]["width"]))
    if not panels:
        return None
    fig, axes = grid(panels, 7, 4.5)
    for (where, width), runs in panels.items():
        plot_bands(axes[where, width], error_curves(runs))
        axes[where, width].set_title(f"Conv {width}, {where.label('iterations')}")
    return save(fig, out)


def plot_gain_by_width(records: list[dict], out: Path) -> Path | None:
    """Claims 7 and 8 in one picture: each LSTM architecture's gain over max pooling (max − lstm, points), seed by
    seed and mean ± std, against the network's width, a panel per (data, budget, device); the paper's gain at its
    122k iterations beside it. Only seeds that have both runs count, as in the claims."""
    panels = defaultdict(dict)
    for (where, width), runs in networks(records).items():
        panels[where][width] = runs
    panels = {where: by_width for where, by_width in sorted(panels.items()) if len(by_width) > 1}
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (where, by_width) in zip(axes[0], panels.items()):
        widths = sorted(by_width)
        for offset, kind in ((-0.08, "lstm"), (0.08, "lstm_shared")):
            style, label = kind_style(kind), f"max − {kind} (mean ± std, dots: seeds)"
            for width in widths:
                gain = error_difference(largest_headline_cell(by_width[width], "max"), largest_headline_cell(by_width[width], kind))
                x = width * 2 ** offset  # the two architectures side by side on the log axis
                ax.scatter([x] * gain.n, gain.diffs, color=style["color"], s=12, alpha=0.6)
                if gain.n:  # labelled once, at the first width with a pair
                    ax.errorbar(x, gain.mean, yerr=gain.std, fmt=style["marker"], color=style["color"], capsize=3,
                                label=label)
                    label = None
        ax.plot(list(paper.TABLE2_ERROR), [e["max"] - e["lstm"] for e in paper.TABLE2_ERROR.values()], "kx--",
                label="paper: max − lstm (122k iterations)")
        ax.axhline(0, color="k", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set(title=where.label("iterations"), xlabel="network (Conv N)", xticks=list(paper.TABLE2_ERROR),
               xticklabels=[f"Conv {w}" for w in paper.TABLE2_ERROR], ylabel="gain over max pooling (points)")
        ax.legend(fontsize=7)
    return save(fig, out)


# Figure 5(b) zooms on the first 20 epochs of the paper's run.
ZOOM_EPOCHS = 20


def plot_vgg_error_curves(records: list[dict], out: Path) -> Path | None:
    """The paper's figure 5: VGG16 test error per epoch, FTN (lstm) against CNN (max), a row per (data, budget,
    device): (a) the whole run and (b) its first 20 epochs, each a mean over seeds with a band and each seed's
    thin line. A run of 20 epochs or fewer (the CPU's first epochs of the paper's schedule) is panel (b) alone,
    beside each seed's FTN − CNN gap per epoch."""
    panels = panels_by(records, setting)
    if not panels:
        return None
    fig, axes = plt.subplots(len(panels), 2, figsize=(12, 4.5 * len(panels)), squeeze=False)
    for row, (where, runs) in zip(axes, panels.items()):
        curves = error_curves(runs)
        epochs = max(max(run) + 1 for _, per_seed in curves.values() for run in per_seed)
        head = f"VGG16, {where.label('iterations')}"
        if epochs > ZOOM_EPOCHS:
            for ax, last, part in ((row[0], None, "(a) the whole run"),
                                   (row[1], ZOOM_EPOCHS, f"(b) the first {ZOOM_EPOCHS} epochs")):
                plot_bands(ax, curves, last, each_seed=True)
                ax.set_title(f"{head}:\n{part}")
        else:
            plot_bands(row[0], curves, each_seed=True)
            row[0].set_title(f"{head}:\n(b) its {epochs} epochs, the first of the paper's {ZOOM_EPOCHS}")
            plot_gaps(row[1], runs)
            row[1].set_title(f"{head}:\nFTN − CNN (lstm − max) per epoch, each seed")
    return save(fig, out)


def plot_gaps(ax, runs: list[dict]) -> None:
    """lstm − max test error per epoch (points), a line per seed that has both runs."""
    by = {(r["config"]["pooling"]["kind"], r["seed"]): test_error_curve(r) for r in runs}
    paired = sorted(seed for kind, seed in by if kind == "lstm" and ("max", seed) in by)
    for seed in paired:
        lstm, cnn = by[("lstm", seed)], by[("max", seed)]
        epochs = sorted(set(lstm) & set(cnn))
        ax.plot([e + 1 for e in epochs], [lstm[e] - cnn[e] for e in epochs], marker="o", label=f"seed {seed}")
    if not paired:
        ax.text(0.5, 0.5, "no seed has both runs yet", ha="center", transform=ax.transAxes)
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set(xlabel="epoch", ylabel="lstm − max test error (points)")
    if paired:
        ax.legend(fontsize=7)


def plot_pooling_zoo(records: list[dict], out: Path) -> Path | None:
    """The pooling zoo: test error against cost per step (mean ± std over seeds, one point per kind) and every
    kind's test error per epoch, a row per zoo setting (network, data, budget, device)."""
    relative = zoo.costs(records)
    runs = zoo.selected(records)
    networks = sorted({zoo.network(r) for r in runs if r["experiment"] == "zoo"})
    if not networks:
        return None
    fig, axes = plt.subplots(len(networks), 2, figsize=(17, 6 * len(networks)), squeeze=False)
    for (cost_ax, curve_ax), key in zip(axes, networks):
        where, width = key
        here = [r for r in runs if zoo.network(r) == key]
        title = f"Conv {width}, {where.label('iterations')}"
        for cell in cells(here):
            config = cell[0]["config"]
            if (x := zoo.cost(config, relative)) is None:
                continue  # another reading of a kind: its curve is drawn, its cost was never measured
            errors = [100 * r["metrics"]["final_test/error"] for r in cell]
            mean, std = statistics.mean(errors), statistics.stdev(errors) if len(errors) > 1 else 0.0
            style = style_of(config)
            cost_ax.errorbar(x, mean, yerr=std, fmt=style["marker"], capsize=3, color=style["color"])
            cost_ax.annotate(f"{describe(config)} ({len(errors)})", (x, mean), fontsize=7, xytext=(4, 3),
                             textcoords="offset points")
        cost_ax.set(title=f"{title}: error against cost", xlabel="cost per training step (× max pooling)",
                    ylabel="test error (%), mean ± std over seeds (n)")
        plot_bands(curve_ax, error_curves(here))
        curve_ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the curves, not on them
        curve_ax.set_title(f"{title}: test error per epoch")
    return save(fig, out)


def plot_max_locations(records: list[dict], out: Path) -> Path | None:
    """The paper's figure 3: how many of a window's locations at least one channel's max keeps."""
    panels = defaultdict(list)
    for r in records:
        if "max_locations" in r:
            panels[(setting(r), r["config"]["model"]["width"])].append(r["max_locations"])
    if not panels:
        return None
    fig, axes = grid(panels, 4.5, 3.8)
    for (where, width), runs in sorted(panels.items()):
        ax = axes[where, width]
        counts = torch.tensor([m["histogram"] for m in runs], dtype=torch.float64)
        share = 100 * counts / counts.sum(1, keepdim=True)  # per seed, % of windows
        locations = torch.arange(counts.shape[1])
        ax.bar(locations[1:], share.mean(0)[1:], yerr=share.std(0)[1:] if len(runs) > 1 else None, capsize=2)
        k = runs[0]["kernel_size"]
        ax.set(title=f"Conv {width} ({seeds(len(runs))})\n{where.label()}",
               xlabel=f"locations kept of the {k}x{k} window", ylabel="% of windows", xticks=locations[1:].tolist())
        ax.tick_params(axis="x", labelsize=7)
    return save(fig, out)


def draw_all(runs_dirs: Iterable[Path], out: Path, skip_bad: bool = False) -> dict[str, Path | None]:
    """Every figure from the records under ``runs_dirs`` into ``out``: {file name: path, or None if no runs}."""
    table2, table4 = load_runs(runs_dirs, "table2", skip_bad), load_runs(runs_dirs, "table4", skip_bad)
    pooling_zoo = [r for e in EXPERIMENTS["pooling_zoo"] for r in load_runs(runs_dirs, e, skip_bad)]
    out.mkdir(parents=True, exist_ok=True)
    figures = {"fig3_max_locations.png": lambda path: plot_max_locations(table2, path),
               "fig4_learned_pooling.png": lambda path: plot_learned_pooling(table2, path),
               "convnet_test_error.png": lambda path: plot_convnet_error_curves(table2, path),
               "gain_by_width.png": lambda path: plot_gain_by_width(table2, path),
               "fig5_vgg16_test_error.png": lambda path: plot_vgg_error_curves(table4, path),
               "pooling_zoo.png": lambda path: plot_pooling_zoo(pooling_zoo, path)}
    return {name: draw(out / name) for name, draw in figures.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=Path, nargs="+", default=list(RUNS_DIRS),
                        help="folders of run records (default: runs results/runs)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--skip-bad-records", action="store_true",
                        help="leave out records no figure may trust, with a warning each, instead of stopping")
    args = parser.parse_args(argv)
    if problem := runs_dirs_problem(args.runs):
        parser.error(problem)
    try:
        drawn = draw_all(args.runs, args.out, args.skip_bad_records)
    except BadRecords as error:
        sys.exit(f"ftn.figures: {error}")
    for name, path in drawn.items():
        print(path or f"{name}: not drawn, no runs for it yet")


if __name__ == "__main__":
    main()
