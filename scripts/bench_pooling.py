"""max_pool2d vs the reference LSTM pooling vs the fused one, measured side by side in one run.

    python scripts/bench_pooling.py [--repeats 7] [--device cpu|cuda] [--threads N]

Prints median times and their interquartile ranges (torch.utils.benchmark; forward+backward
and forward only) and the ratios of the medians to max_pool2d
for k = 2, 4, 8 on 100x64x32x32 and on the Conv 8 shapes (100x8x32x32 with k=4, 100x8x8x8 with k=8),
and the memory each keeps for its backward (saved tensors, the input included).
"""
from __future__ import annotations

import argparse
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ftn.benchmark import measure
from ftn.pooling import cpu_kernel, init_params, lstm_pool2d

CASES = [((100, 64, 32, 32), 2), ((100, 64, 32, 32), 4), ((100, 64, 32, 32), 8),
         ((100, 8, 32, 32), 4), ((100, 8, 8, 8), 8)]


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
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__}")
    if cpu_kernel.available():  # reported apart: the timings below use the cached build
        print(f"fused CPU kernel build from scratch: {cpu_kernel.build_seconds():.2f} s")
    print("times: median ms (interquartile range ms)")
    print(f"{'shape':>18} {'k':>2} | {'max ms':>13} {'ref ms':>15} {'fused ms':>13} | {'ref/max':>7} {'fused/max':>9} | pass")
    for shape, k in tqdm(CASES, desc="cases", leave=False):
        x = torch.rand(shape, device=device, requires_grad=True)
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
            tqdm.write(f"{str(shape):>18} {k:>2} | {ms['max']:>13} {ms['ref']:>15} {ms['fused']:>13} | "
                       f"{ratio['ref']:7.2f} {ratio['fused']:9.2f} | {label}")
        saved = {name: saved_megabytes(op) for name, op in ops.items()}
        tqdm.write(f"{str(shape):>18} {k:>2} | saved for backward, MB: max {saved['max']:.1f}, ref {saved['ref']:.1f}, "
              f"fused {saved['fused']:.1f} (input {x.numel() * x.element_size() / 2**20:.1f})")


if __name__ == "__main__":
    main()
