"""max_pool2d vs the reference LSTM pooling vs the fused one, measured side by side in one run.

    python scripts/bench_pooling.py [--repeats 7] [--device cpu|cuda] [--threads N] [--out FILE.md] [--quick]

Prints median times and their interquartile ranges (torch.utils.benchmark; forward+backward
and forward only) and the ratios of the medians to max_pool2d
for k = 2, 4, 8 on 100x64x32x32 and on the Conv 8 shapes (100x8x32x32 with k=4, 100x8x8x8 with k=8),
each in the NCHW and the channels_last layout (every op gets the same tensor: max_pool2d runs in the same layout),
and the memory each keeps for its backward (saved tensors, the input included). The forward+backward rows are also
written, as a generated section between <!-- pooling_op --> markers, into ``--out`` (default
results/throughput_cpu.md, or results/throughput_gpu.md on a GPU). ``--quick``: the Conv 8 shapes only, seconds on a
CPU (the GPU kit's rehearsal).
"""
from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ftn.benchmark import command_line, device_name, measure, output_file, positive_int
from ftn.provenance import git_commit, hardware
from ftn.pooling import cpu_kernel, init_params, lstm_pool2d
from ftn.record_files import RESULTS
from ftn.results.markdown import replace_block

CONV8_CASES = [((100, 8, 32, 32), 4), ((100, 8, 8, 8), 8)]
CASES = [((100, 64, 32, 32), 2), ((100, 64, 32, 32), 4), ((100, 64, 32, 32), 8), *CONV8_CASES]
LAYOUTS = {"NCHW": torch.contiguous_format, "NHWC": torch.channels_last}


def saved_megabytes(fn) -> float:
    """Bytes of the tensors autograd keeps between forward and backward."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=positive_int, default=7)
    parser.add_argument("--device", type=device_name, default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=positive_int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--out", type=output_file, default=None, help="the Markdown report that gets the fwd+bwd rows")
    parser.add_argument("--quick", action="store_true", help="the Conv 8 shapes only")
    args = parser.parse_args()
    start, load = time.time(), os.getloadavg()[0]
    table = ["| shape | k | layout | max_pool2d ms | reference ms | fused ms | reference / max | fused / max |",
             "|---|---|---|---|---|---|---|---|"]
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    args.out = args.out or RESULTS / f"throughput_{'gpu' if device.type == 'cuda' else 'cpu'}.md"
    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__}")
    if cpu_kernel.available():  # reported apart: the timings below use the cached build
        print(f"fused CPU kernel build from scratch: {cpu_kernel.build_seconds():.2f} s")
    print("times: median ms (interquartile range ms)")
    print(f"{'shape':>18} {'k':>2} {'layout':>6} | {'max ms':>13} {'ref ms':>15} {'fused ms':>13} | "
          f"{'ref/max':>7} {'fused/max':>9} | pass")
    cases = [(shape, k, layout) for shape, k in (CONV8_CASES if args.quick else CASES) for layout in LAYOUTS]
    for shape, k, layout in tqdm(cases, desc="cases", leave=False):
        x = torch.rand(shape, device=device).to(memory_format=LAYOUTS[layout]).requires_grad_()
        params = init_params("lasagne", k * k).to(device).requires_grad_()
        ops = {"max": lambda: F.max_pool2d(x, k),
               "ref": lambda: lstm_pool2d(x, params, k, impl="reference"),
               "fused": lambda: lstm_pool2d(x, params, k, impl="fused")}
        for label, timed in (("fwd+bwd", lambda op: op().sum().backward()), ("fwd", None)):
            results = {}
            for name, op in ops.items():
                if timed is None:
                    def run(op=op) -> None:
                        with torch.no_grad():
                            op()
                else:
                    def run(op=op) -> None:
                        timed(op)
                results[name] = measure(run, args.repeats)
            ms = {name: f"{m.median * 1e3:.2f} ({m.iqr * 1e3:.2f})" for name, m in results.items()}
            ratio = {name: results[name].median / results["max"].median for name in ("ref", "fused")}
            if timed is not None:
                table.append(f"| {'x'.join(map(str, shape))} | {k} | {layout} | {ms['max']} | {ms['ref']} | "
                             f"{ms['fused']} | {ratio['ref']:.2f}x | {ratio['fused']:.2f}x |")
            tqdm.write(f"{str(shape):>18} {k:>2} {layout:>6} | {ms['max']:>13} {ms['ref']:>15} {ms['fused']:>13} | "
                       f"{ratio['ref']:7.2f} {ratio['fused']:9.2f} | {label}")
        saved = {name: saved_megabytes(op) for name, op in ops.items()}
        tqdm.write(f"{str(shape):>18} {k:>2} {layout:>6} | saved for backward, MB: max {saved['max']:.1f}, "
                   f"ref {saved['ref']:.1f}, fused {saved['fused']:.1f} "
                   f"(input {x.numel() * x.element_size() / 2**20:.1f})")
    header = [f"Generated by `{command_line()}` (commit {git_commit()}) "
              f"in {time.time() - start:.0f} s. Hardware: {hardware(device.type)}; device {device}; torch {torch.__version__}; "
              f"{torch.get_num_threads()} torch thread(s). Load average (1 min) before / after: {load:.2f} / "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs.", "",
              f"Forward+backward of one pooling layer (`.sum().backward()`), median ms of {args.repeats} calls "
              "(interquartile range); every op gets the same tensor, so `max_pool2d` runs in the same layout. "
              "Init `lasagne`.", ""]
    replace_block(args.out, "pooling_op", "\n".join(
        ["## (g) One pooling layer: max_pool2d against the LSTM pooling, NCHW and channels_last", "", *header, *table]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
