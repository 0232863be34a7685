"""Table 3: seconds per batch, CNN (max pooling) vs FTN (LSTM pooling), training and testing.

    python scripts/bench_table3.py [--repeats 20] [--out results/table3.md] [--record results/runs]

The network is Conv 64 with 2x2 pooling, as in the paper's section 4.2.3. It is timed at
batch 1 (the paper's setting) and at batch 100. On a GPU it is timed with cuDNN on and off,
as the paper did. The Table 2 network (Conv 8, 4x4 and 8x8 pooling) is timed at batch 100
too. CNN and FTN are measured side by side in one run, and the table is written with the
paper's numbers beside ours. ``--record DIR`` also writes the times as a record,
``<DIR>/table3/<cpu|cuda>/summary.json``, which ``python -m ftn.results claims`` reads.
"""
from __future__ import annotations

import argparse
import contextlib

import torch
from tqdm import tqdm

from ftn.benchmark import (command_line, harness_layout, in_harness_layout, measure, output_file, positive_int,
                           positive_ints, records_folder, training_step, write_bench_record)
from ftn.models import ConvNet
from ftn.pooling import PoolFactory
from ftn.provenance import git_commit, hardware
from ftn.results.paper import TABLE3_COLUMNS, TABLE3_SECONDS, table3_ratios
from ftn.record_files import RESULTS, SUMMARY


NETWORKS = {"Conv 64, 2x2 pooling": (64, (2, 2)), "Conv 8, 4x4 + 8x8 pooling (Table 2)": (8, (4, 8))}


def build(network: str, kind: str, device) -> ConvNet:
    width, pool_sizes = NETWORKS[network]
    return ConvNet(width, PoolFactory(kind), pool_sizes=pool_sizes).to(device)


def seconds_per_batch(model, batch: int, train: bool, repeats: int, device) -> float:
    x = in_harness_layout(model, torch.randn(batch, 3, 32, 32, device=device))
    y = torch.randint(10, (batch,), device=device)
    model.train(train)

    @torch.no_grad()
    def test_step() -> None:
        model(x)

    # torch's Timer synchronises the device itself
    return measure(training_step(model, x, y) if train else test_step, repeats, warmup=3).median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=positive_int, default=20)
    parser.add_argument("--batches", type=positive_ints, default="1,100")
    parser.add_argument("--out", type=output_file, default=RESULTS / "table3.md")
    parser.add_argument("--record", type=records_folder, help="records folder for the times (e.g. results/runs)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    layout = harness_layout(device)  # what in_harness_layout puts each timed model and batch in
    cudnn_modes = (True, False) if device.type == "cuda" else (None,)
    settings = {network: [(b, mode, cudnn) for b in (args.batches if network.startswith("Conv 64") else [100])
                          for mode in ("train", "test") for cudnn in cudnn_modes] for network in NETWORKS}
    times: dict[tuple, float] = {}
    for network, columns in settings.items():
        models = {"CNN": build(network, "max", device), "FTN": build(network, "lstm", device)}
        for batch, mode, cudnn in tqdm(columns, desc=network):
            flag = torch.backends.cudnn.flags(enabled=cudnn) if cudnn is not None else contextlib.nullcontext()
            with flag:
                for name, model in models.items():
                    times[network, name, batch, mode, cudnn] = seconds_per_batch(
                        model, batch, mode == "train", args.repeats, device)

    def label(batch, mode, cudnn) -> str:
        return f"{mode} b{batch}" + ("" if cudnn is None else (" cuDNN" if cudnn else " no cuDNN"))
    lines = ["# Table 3: time per batch (s), CNN vs FTN", "",
             f"Conv 64 with 2x2 pooling (and Table 2's Conv 8 at batch 100); median of {args.repeats} steps after 3 "
             "warm-up steps (train: the harness's step, forward, cross-entropy, backward, norm clip, Nesterov SGD and "
             "the LSTM constraint; test: a forward without gradients); FTN uses the fused LSTM pooling "
             f"(`impl=auto`); the {layout} layout, the harness's on this device. Hardware: {hardware(device.type)}, "
             f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}, commit {git_commit()}. "
             f"Command: `{command_line()}`.", "",
             "Paper (TITAN X, Theano, batch 1): train with / without cuDNN, test with / without cuDNN.", "",
             "| | " + " | ".join(TABLE3_COLUMNS) + " |", "|---" * (len(TABLE3_COLUMNS) + 1) + "|"]
    for name, values in TABLE3_SECONDS.items():
        lines.append(f"| {name} (paper) | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    lines.append("| FTN/CNN (paper) | " + " | ".join(f"{r:.2f}" for r in table3_ratios().values()) + " |")
    for network, columns in settings.items():
        lines += ["", f"Ours, {network}:", "", "| | " + " | ".join(label(*c) for c in columns) + " |",
                  "|---" * (len(columns) + 1) + "|"]
        for name in ("CNN", "FTN"):
            lines.append(f"| {name} | " + " | ".join(f"{times[(network, name, *c)]:.4f}" for c in columns) + " |")
        lines.append("| FTN/CNN | " + " | ".join(
            f"{times[(network, 'FTN', *c)] / times[(network, 'CNN', *c)]:.2f}" for c in columns) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.record:  # {network: {"CNN"/"FTN": {column: seconds}}}
        times_s = {network: {name: {label(*c): times[(network, name, *c)] for c in columns} for name in ("CNN", "FTN")}
                   for network, columns in settings.items()}
        write_bench_record(args.record / "table3" / device.type / SUMMARY, "table3", device.type,
                           repeats=args.repeats, threads=torch.get_num_threads(), layout=layout,
                           seconds_per_batch=times_s)


if __name__ == "__main__":
    main()
