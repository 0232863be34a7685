"""Timing for the benchmark scripts, through ``torch.utils.benchmark`` (which synchronises accelerators)."""
from __future__ import annotations

from typing import Callable

import torch
from torch.utils.benchmark import Measurement, Timer


def measure(fn: Callable[[], object], repeats: int, warmup: int = 1) -> Measurement:
    """``repeats`` timed calls of ``fn`` after ``warmup`` untimed ones, as one Measurement (median, iqr, ...)."""
    for _ in range(warmup):  # kernel builds, allocator, cuDNN autotuning
        fn()
    timer = Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    # One call per sample: a training step is too long to batch several into one sample, and the
    # spread across single calls is what the reports show.
    return Measurement.merge(timer.timeit(1) for _ in range(repeats))[0]


def median_seconds(fn: Callable[[], object], repeats: int, device: torch.device, warmup: int = 1) -> float:
    """The median of ``measure``; ``device`` is kept for the callers, torch's Timer synchronises it itself."""
    return measure(fn, repeats, warmup).median
