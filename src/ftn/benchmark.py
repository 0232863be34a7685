"""Timing for the benchmark scripts, through ``torch.utils.benchmark`` (which synchronises accelerators), and the
record a benchmark leaves for the tables that read it."""
from __future__ import annotations

import datetime
import json
import shlex
import sys
from pathlib import Path
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


def write_bench_record(path: Path, experiment: str, **fields: object) -> Path:
    """A benchmark's record at ``path`` (a ``summary.json`` under a records folder): its ``fields`` with what every
    record holds (hardware, commit, torch, date, the command that made it), so a table can cite it."""
    from .atomic import atomic_write_text
    from .provenance import git_commit, hardware

    record = {"experiment": experiment, "status": "finished", **fields, "hardware": hardware(),
              "commit": git_commit(), "torch": torch.__version__,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": shlex.join(["python", *sys.argv])}
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    print(f"record -> {path}")
    return path
