"""CPU training steps per second, per FLOP: Conv 8-64 and VGG16, max and lstm, NCHW against channels_last, eager
against torch.compile; measured side by side in one run and written into results/throughput_cpu.md.

    python scripts/bench_cpu_step.py [--seconds 4] [--rounds 2] [--nets conv8,conv16,conv32,conv64,vgg16]
                                     [--out results/throughput_cpu.md]

Each cell is one SGD step as the harness takes it (forward, cross-entropy, backward, norm clip, Nesterov SGD, the
paper's constraint) on a batch of 100 synthetic 32x32 images, one torch thread (as a campaign's runs), timed over a
window after warm-up steps; the layouts are interleaved over rounds and the median counts. GFLOP per step are
counted by ``torch.utils.flop_counter`` (convolutions and matrix products, forward and backward; the pooling ops
are not counted, so the two poolings share a count). The core's peak is a timed float32 matmul (2048^2, one
thread) in the same run. The compile rows add the first step's compile time and the steps a run needs to earn it
back (eager ms / step against compiled ms / step).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

# Compile times are measured cold: inductor's on-disk caches would let the second layout reuse the first's work.
os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "0")
os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "0")

import torch  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from ftn.benchmark import (command_line, names_of, output_file, positive_float, positive_int,  # noqa: E402
                           training_step)
from ftn.config import compose_train  # noqa: E402
from ftn.provenance import git_commit, hardware  # noqa: E402
from ftn.record_files import RESULTS  # noqa: E402
from ftn.results.markdown import replace_block  # noqa: E402

BATCH = 100
NETS = {"conv8": ("table2", 8), "conv16": ("table2", 16), "conv32": ("table2", 32), "conv64": ("table2", 64),
        "vgg16": ("table4", None)}
LAYOUTS = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}
RUN_STEPS = 15_000  # the campaign's budget, for the compile break-even


def model(net: str, pooling: str) -> torch.nn.Module:
    experiment, width = NETS[net]
    overrides = [f"experiment={experiment}", f"pooling={pooling}", "dataset=synthetic", "run_dir=unused"]
    overrides += [f"model.width={width}"] if width else []
    cfg = compose_train(overrides)
    torch.manual_seed(0)
    return instantiate(cfg.model)


class Stepper:
    """One net x pooling x layout (x compiled): its model, optimizer and batch, and a timed SGD step."""

    def __init__(self, net: str, pooling: str, layout: torch.memory_format, compiled: bool = False) -> None:
        self.model = model(net, pooling).train().to(memory_format=layout)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(BATCH, 3, 32, 32, generator=g).contiguous(memory_format=layout)
        self.step = training_step(self.model, x, torch.randint(10, (BATCH,), generator=g),
                                  forward=torch.compile(self.model) if compiled else None, experiment=NETS[net][0])

    def timed_step(self) -> float:
        return _timed(self.step)

    def window_ms(self, seconds: float, min_steps: int = 3) -> float:
        """ms per step over a window of at least ``seconds`` and ``min_steps``, after one warm-up step."""
        self.step()
        total, steps = 0.0, 0
        while total < seconds or steps < min_steps:
            total += self.timed_step()
            steps += 1
        return 1e3 * total / steps

    def gflop(self) -> float:
        with FlopCounterMode(display=False) as counter:
            self.step()
        return counter.get_total_flops() / 1e9


def peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def layout_rows(nets: list[str], seconds: float, rounds: int, peak: float) -> list[str]:
    rows = ["| net | pooling | NCHW ms/step | channels_last ms/step | channels_last speed-up | GFLOP/step | "
            "GFLOP/s (best) | of peak | lstm / max (channels_last) |", "|---|---|---|---|---|---|---|---|---|"]
    for net in nets:
        best_max = None
        for pooling in ("max", "lstm"):
            steppers = {name: Stepper(net, pooling, layout) for name, layout in LAYOUTS.items()}
            times = {name: [] for name in LAYOUTS}
            for _ in range(rounds):  # interleaved, so drift in the machine's load hits both layouts alike
                for name, stepper in steppers.items():
                    times[name].append(stepper.window_ms(seconds))
            ms = {name: statistics.median(t) for name, t in times.items()}
            gflop = steppers["channels_last"].gflop()
            rate = gflop / (min(ms.values()) / 1e3)
            ratio = "" if pooling == "max" else f"{ms['channels_last'] / best_max:.2f}x"
            best_max = ms["channels_last"] if pooling == "max" else best_max
            rows.append(f"| {net} | {pooling} | {ms['NCHW']:.1f} | {ms['channels_last']:.1f} | "
                        f"{ms['NCHW'] / ms['channels_last']:.2f}x | {gflop:.2f} | {rate:.1f} | {rate / peak:.0%} | "
                        f"{ratio} |")
            print(rows[-1], flush=True)
    return rows


def compile_rows(nets: list[str], seconds: float, rounds: int) -> list[str]:
    rows = ["| net | pooling | layout | eager ms/step | compiled ms/step | compiled / eager | first step (compile) s | "
            f"compile earned back after | faster over a {RUN_STEPS:,}-step run |", "|---" * 9 + "|"]
    for net in nets:
        for name, layout in LAYOUTS.items():
            eager = Stepper(net, "lstm", layout)
            torch._dynamo.reset()  # each compiled model is traced and compiled from scratch
            compiled = Stepper(net, "lstm", layout, compiled=True)
            compile_s = compiled.timed_step()
            times = {"eager": [], "compiled": []}
            for _ in range(rounds):  # interleaved, as the layouts above
                times["eager"].append(eager.window_ms(seconds))
                times["compiled"].append(compiled.window_ms(seconds))
            eager_ms, ms = statistics.median(times["eager"]), statistics.median(times["compiled"])
            gain = eager_ms - ms
            earned = f"{compile_s * 1e3 / gain:,.0f} steps" if gain > 0 else "never"
            faster = gain > 0 and compile_s * 1e3 < gain * RUN_STEPS
            rows.append(f"| {net} | lstm | {name} | {eager_ms:.1f} | {ms:.1f} | {ms / eager_ms:.2f}x | "
                        f"{compile_s:.1f} | {earned} | {'yes' if faster else 'no'} |")
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=positive_float, default=4.0, help="timing window per cell and round")
    parser.add_argument("--rounds", type=positive_int, default=2)
    parser.add_argument("--nets", type=names_of(NETS), default=",".join(NETS), help=f"some of {', '.join(NETS)}")
    parser.add_argument("--out", type=output_file, default=RESULTS / "throughput_cpu.md")
    args = parser.parse_args()
    nets = args.nets
    torch.set_num_threads(1)
    start, load = time.time(), os.getloadavg()[0]
    peak = peak_gflops()
    print(f"peak: {peak:.1f} GFLOP/s (float32 matmul, 1 thread)", flush=True)
    layouts = layout_rows(nets, args.seconds, args.rounds, peak)
    compiled = compile_rows(nets, args.seconds, args.rounds)
    header = [f"Generated by `{command_line()}` (commit {git_commit()}) in {time.time() - start:.0f} s. Hardware: "
              f"{hardware('cpu')}; torch {torch.__version__}; 1 torch thread; batch {BATCH}. Load average (1 min) before / "
              f"after: {load:.2f} / {os.getloadavg()[0]:.2f} on "
              f"{os.cpu_count()} CPUs. The core's measured peak: {peak:.1f} GFLOP/s (float32 matmul 2048^2).", "",
              f"ms per SGD step, median of {args.rounds} interleaved rounds of a {args.seconds:g} s window; GFLOP "
              "counted by `torch.utils.flop_counter` (convolutions and matrix products, forward and backward; the "
              "pooling ops are not counted). `task.channels_last=auto` (the default) trains NHWC on the CPU.", ""]
    body = "\n".join(["## (f) CPU steps per FLOP: NCHW against channels_last, eager against compiled", "", *header,
                      *layouts, "", "### torch.compile (lstm pooling)", "", *compiled])
    replace_block(args.out, "cpu_step", body)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
