"""Timing for the benchmark scripts: the median of repeated calls, synchronised on CUDA."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def median_seconds(fn: Callable[[], object], repeats: int, device: torch.device, warmup: int = 1) -> float:
    for _ in range(warmup):  # kernel builds, allocator, cuDNN autotuning
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
