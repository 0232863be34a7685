"""Timing for the benchmark scripts, through ``torch.utils.benchmark`` (which synchronises accelerators), the
training step they time (the harness's, clip and constraint included), the record a benchmark leaves for the
tables that read it, and the argument types the scripts share (a bad value is argparse's one line, before anything
is timed)."""
from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from torch.utils.benchmark import Measurement


def measure(fn: Callable[[], object], repeats: int, warmup: int = 1) -> Measurement:
    """``repeats`` timed calls of ``fn`` after ``warmup`` untimed ones, as one Measurement (median, iqr, ...)."""
    # imported here: torch.utils.benchmark loads cpp_extension, whose "No CUDA runtime" warning would otherwise
    # come before a script's one-line argument error
    from torch.utils.benchmark import Measurement, Timer

    for _ in range(warmup):  # kernel builds, allocator, cuDNN autotuning
        fn()
    timer = Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    # One call per sample: a training step is too long to batch several into one sample, and the
    # spread across single calls is what the reports show.
    return Measurement.merge(timer.timeit(1) for _ in range(repeats))[0]


def harness_layout(device: torch.device, experiment: str = "table2") -> str:
    """"channels_last" or "NCHW": the memory layout the harness trains ``experiment`` in on ``device`` (its
    ``task.channels_last``: NHWC on the CPU for Table 2, NCHW for Table 4)."""
    from .config import compose_train
    from .tasks.classification import uses_channels_last

    setting = compose_train([f"experiment={experiment}"]).task.channels_last
    return "channels_last" if uses_channels_last(setting, torch.device(device)) else "NCHW"


def in_harness_layout(model: torch.nn.Module, x: torch.Tensor, experiment: str = "table2") -> torch.Tensor:
    """``model`` (in place) and ``x`` in ``harness_layout``; returns ``x`` in it. A benchmark of the harness's cost
    times this layout; one that compares layouts sets its own."""
    if harness_layout(x.device, experiment) == "NCHW":
        return x
    model.to(memory_format=torch.channels_last)
    return x.contiguous(memory_format=torch.channels_last)


def training_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                  forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
                  experiment: str = "table2") -> Callable[[], None]:
    """One SGD step on ``(x, y)`` as the harness takes it for ``experiment`` (Tables 2 and 4): forward,
    cross-entropy, backward, the norm clip, the optimizer and the paper's LSTM constraint, so a benchmark times
    every piece a training step pays for. The optimizer and the clip are the experiment's composed config
    (``optimizer`` group, ``trainer.gradient_clip_val``), not copies of it. ``forward`` replaces ``model``'s own (a
    compiled copy); the clip and the constraint act on ``model``. It runs in the layout ``model`` and ``x`` are in
    (``in_harness_layout`` puts them in the harness's).

    x: (N, 3, H, W), y: (N,) class indices."""
    from hydra.utils import instantiate

    from .config import compose_train
    from .pooling import constrain_lstm_pools_

    cfg = compose_train([f"experiment={experiment}"])
    opt, clip = instantiate(cfg.optimizer)(model.parameters()), cfg.trainer.gradient_clip_val
    forward = forward or model

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(forward(x), y).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        constrain_lstm_pools_(model)

    return step


def command_line() -> str:
    """The benchmark script's command as a report and its record cite it: run from the repository's root."""
    return shlex.join(["python", f"scripts/{Path(sys.argv[0]).name}", *sys.argv[1:]])


def write_bench_record(path: Path, experiment: str, device: str, **fields: object) -> Path:
    """A benchmark's record at ``path`` (a ``summary.json`` under a records folder): its ``fields`` with what every
    record holds (the device it timed, its hardware, commit, torch, date, the command that made it), so a table can
    cite it."""
    from .atomic import atomic_write_text
    from .provenance import git_commit, hardware

    record = {"experiment": experiment, "status": "finished", **fields, "device": device, "hardware": hardware(device),
              "commit": git_commit(), "torch": torch.__version__,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": command_line()}
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    print(f"record -> {path}")
    return path


def positive_int(text: str) -> int:
    """An argparse type: a whole number from 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed are whole numbers from 1")
    return value


def positive_ints(text: str) -> list[int]:
    """An argparse type: whole numbers from 1, comma-separated ("1,100")."""
    try:
        return [positive_int(part) for part in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed are whole numbers from 1, comma-separated") from None


def names_of(allowed: Iterable[str]) -> Callable[[str], list[str]]:
    """An argparse type: names of ``allowed``, comma-separated ("max,lstm")."""
    allowed = tuple(allowed)

    def parse(text: str) -> list[str]:
        names = text.split(",")
        if any(name not in allowed for name in names):
            raise argparse.ArgumentTypeError(f"{text!r}: allowed are {', '.join(allowed)}, comma-separated")
        return names
    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0 (seconds)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: allowed are numbers above 0")
    return value


def _writable_path(text: str, want_folder: bool) -> Path:
    """``text`` as a path a benchmark writes to at its end, refused now if it cannot take it: a file where a
    folder is wanted (or the other way round), a path under a file, or a place this user cannot write."""
    from .atomic import nearest_existing, unwritable

    path, kind = Path(text), "folders" if want_folder else "file paths"
    existing = nearest_existing(path)
    if existing == path and path.is_dir() != want_folder:
        why = f"is a {'file' if want_folder else 'folder'}"
    elif existing != path and not existing.is_dir():
        why = f"goes under {existing}, a file"
    elif problem := unwritable(existing if existing.is_dir() else existing.parent):
        why = f"is not writable ({problem[0]}: {problem[1]})"
    else:
        return path
    raise argparse.ArgumentTypeError(f"{text!r} {why}; allowed are {kind} this user can write")


def output_file(text: str) -> Path:
    """An argparse type: the report a benchmark writes (``--out``), checked before anything is timed."""
    return _writable_path(text, want_folder=False)


def records_folder(text: str) -> Path:
    """An argparse type: the records folder a benchmark's record goes into (``--record``), checked before anything
    is timed."""
    return _writable_path(text, want_folder=True)


def device_name(text: str) -> str:
    """An argparse type: ``cpu``, or ``cuda`` where a GPU is visible."""
    if text not in ("cpu", "cuda") or (text == "cuda" and not torch.cuda.is_available()):
        raise argparse.ArgumentTypeError(f"{text!r}: allowed are cpu, and cuda where a GPU is visible")
    return text
