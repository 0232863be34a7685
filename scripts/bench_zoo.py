"""The pooling zoo's cost: a Conv N training step with every pooling kind, interleaved, side by side in one run.

    python scripts/bench_zoo.py [--width 16] [--batch 100] [--repeats 5] [--steps 3] [--threads 1] [--record DIR]

Each round times ``--steps`` SGD steps (forward, backward, norm clip, update, LSTM constraint: the harness's
step, ``ftn.benchmark.training_step``) of every kind in turn, so a slow phase of the
machine hits all kinds alike; a kind's figure is the median over rounds, in ms per step, and its ratio to max
pooling. Run it on an otherwise idle machine (never beside a campaign). ``--record`` writes the result as a record
``<DIR>/pooling_cost/conv<width>/summary.json``, which ``python -m ftn.results pooling_zoo`` reads.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from ftn.benchmark import (harness_layout, in_harness_layout, positive_int, records_folder, training_step,
                           write_bench_record)
from ftn.models import ConvNet
from ftn.pooling import KINDS, PoolFactory
from ftn.provenance import hardware
from ftn.record_files import SUMMARY

# lstm_region (one unit per window position) is Table 2's architecture 1, not a kind the zoo compares.
BENCHED = tuple(k for k in KINDS if k != "lstm_region")


def stepper(kind: str, width: int, batch: int):
    torch.manual_seed(0)
    model, y = ConvNet(width, PoolFactory(kind)), torch.randint(0, 10, (batch,))
    return training_step(model, in_harness_layout(model, torch.randn(batch, 3, 32, 32)), y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=positive_int, default=16)
    parser.add_argument("--batch", type=positive_int, default=100)
    parser.add_argument("--repeats", type=positive_int, default=5, help="interleaved rounds")
    parser.add_argument("--steps", type=positive_int, default=3, help="timed steps per kind and round")
    parser.add_argument("--threads", type=positive_int, default=1)
    parser.add_argument("--record", type=records_folder, help="records folder to write the result into (results/runs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps = {kind: stepper(kind, args.width, args.batch) for kind in BENCHED}
    for step in steps.values():  # warm-up: kernel builds, allocator
        step()
    rounds: dict[str, list[float]] = {kind: [] for kind in BENCHED}
    for _ in range(args.repeats):
        for kind, step in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            rounds[kind].append(1e3 * (time.perf_counter() - start) / args.steps)
    ms = {kind: statistics.median(values) for kind, values in rounds.items()}
    layout = harness_layout("cpu")  # what in_harness_layout put each kind's model and batch in
    print(f"Conv {args.width}, batch {args.batch}, {args.threads} thread(s), {layout}, {hardware('cpu')}: ms per "
          f"training step (median of {args.repeats} interleaved rounds of {args.steps} steps)")
    for kind in sorted(ms, key=ms.get):
        print(f"{kind:14s} {ms[kind]:8.1f} ms   {ms[kind] / ms['max']:.2f}x max")
    if args.record:
        write_bench_record(args.record / "pooling_cost" / f"conv{args.width}" / SUMMARY, "pooling_cost", "cpu",
                           width=args.width, batch=args.batch, threads=args.threads, repeats=args.repeats,
                           steps=args.steps, layout=layout, ms_per_step=ms, rounds_ms=rounds)


if __name__ == "__main__":
    main()
