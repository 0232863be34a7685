"""Long campaigns that survive restarts: ``python -m ftn.campaign init_study --jobs 2 [--trainer gpu]``.

A campaign is a list of runs, each a list of Hydra overrides. A run whose finished (or
diverged) record is already under ``results/runs/`` is skipped, so rerunning the same command,
in this session or a later one on a fresh clone, continues where it stopped. Each run is its own
``python -m ftn.train`` process with one thread (``--threads``), which copies its record to ``results/runs/`` as soon
as it ends, ready to be committed. A run cut off mid-way leaves its running record and last epoch's
checkpoint there (``ftn.parking``): where that checkpoint is (it is never committed), the run continues.
SIGTERM or SIGINT (Ctrl-C) to the campaign starts no new run and passes SIGTERM to the running ones, which stop
with a checkpoint (``ftn.runs.Interrupted``); the campaign then exits 128 + the signal's number.

``--pack K``: the runs still to do that differ only in seed and pooling train as packs of up to K members, each
pack one ``python -m ftn.packing`` process (``ftn.packing``; every member keeps its run folder and record).
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .identity import device_folder, short_name
from .pack_rule import shared_overrides, split_into_packs
from .pooling import INITS, ZOO_KINDS
from .record_files import ENDED, RECORDS, RUNS, SUMMARY, read_summary
from .results.records import BadRecords, problem, read_records
from .runs import STOP_SIGNALS, Interrupted

# Table 2 at the medium budget: the JPEG copy of CIFAR-10 and the 15k-iteration schedule (results/table2.notes.md).
# The trainer (cpu or gpu) is the one override a campaign adds per machine: it picks the device, nothing else.
QUIET = "trainer.enable_progress_bar=false"  # a campaign's logs get ProgressLines' lines, not a redrawn bar
COMMON = ["experiment=table2", "dataset=cifar10_jpeg", "schedule=medium", QUIET]
STUDY_INITS = ("lasagne", "lasagne_unit_g", "avg_soft", "avg_exact")
LSTM_POOLINGS = ("lstm", "lstm_shared")


def _cells(width: int, seed: int, inits: tuple[str, ...]) -> Iterator[list[str]]:
    """Max, avg, and each init x both LSTM architectures, for one network and seed."""
    base = [*COMMON, f"model.width={width}", f"seed={seed}"]
    yield [*base, "pooling=max"]
    yield [*base, "pooling=avg"]
    for init in inits:
        for pooling in LSTM_POOLINGS:
            yield [*base, f"pooling={pooling}", f"pooling.init={init}"]


def init_study(seeds: tuple[int, ...] = (0, 1, 2)) -> Iterator[list[str]]:
    """Conv 8 with every study init, seed by seed (so a stopped campaign leaves whole seeds)."""
    for seed in seeds:
        yield from _cells(8, seed, STUDY_INITS)


def headline(init: str, seeds: tuple[int, ...] = (3, 4)) -> Iterator[list[str]]:
    """Seeds 3 and 4 of the Conv 8 row with the chosen init: >= 5 seeds per headline cell."""
    for seed in seeds:
        yield from _cells(8, seed, (init,))


def conv16(init: str, seeds: tuple[int, ...] = (0, 1, 2)) -> Iterator[list[str]]:
    for seed in seeds:
        yield from _cells(16, seed, (init,))


def scans(init: str, seeds: tuple[int, ...] = (0, 1, 2)) -> Iterator[list[str]]:
    """The scan-order claim (section 3.1): Conv 8, lstm, each scan paired with the row scan of its seed. The row
    scan is the init study's own cell (same overrides), so a seed the study already ran is found and skipped."""
    for seed in seeds:
        base = [*COMMON, "model.width=8", f"seed={seed}", "pooling=lstm", f"pooling.init={init}"]
        yield base
        for scan in ("column", "snake", "row_reversed"):
            yield [*base, f"pooling.scan={scan}"]


# Kinds whose paper leaves a choice open that its default reading may have got wrong: the other reading, as
# overrides, trained beside the default (docs/deviations.md, "The zoo's kinds").
OTHER_READINGS = (("mixed", "pooling.draw=layer"),)


def zoo(seeds: tuple[int, ...] = (0, 1, 2)) -> Iterator[list[str]]:
    """The pooling zoo (results/pooling_zoo.md): Conv 16 with each of the literature's kinds, seed by seed, the
    GRU unit (a Python-loop reference, the slowest) after them, then the other readings. Its baselines are the
    conv16 campaign's cells: the same overrides but the pooling, so same-seed runs share their batch order and
    augmentation draws."""
    readings = ([(kind,) for kind in ZOO_KINDS[:-1]], [ZOO_KINDS[-1:]], OTHER_READINGS)
    for batch in readings:
        for seed in seeds:
            for kind, *overrides in batch:
                yield [*COMMON, "name=zoo", "model.width=16", f"seed={seed}", f"pooling={kind}", *overrides]


def table1_long(seeds: tuple[int, ...] = (0, 1, 2)) -> Iterator[list[str]]:
    """Table 1's average-pooling cells that were still improving or stalled at 20 epochs (2x2 at one seed, 3x3
    and 8x8), run for 60."""
    for seed in seeds:
        for length in (4, 9, 64):
            yield ["experiment=table1", "schedule=plateau_long", f"dataset.seq_len={length}", "task.target=avg",
                   f"seed={seed}", QUIET]


def table1(seeds: tuple[int, ...] = (0, 1, 2)) -> Iterator[list[str]]:
    """Table 1: the paper's recipe as written (max, 2x2 and 3x3), the row the table shows beside ours, then our
    recipe (max and avg, 2x2 to 8x8)."""
    for seed in seeds:
        for length in (4, 9):
            yield ["experiment=table1_paper", f"dataset.seq_len={length}", f"seed={seed}", QUIET]
    for seed in seeds:
        for target in ("max", "avg"):
            for length in (4, 9, 16, 64):
                yield ["experiment=table1", f"dataset.seq_len={length}", f"task.target={target}", f"seed={seed}", QUIET]


def table2_paper(seeds: tuple[int, ...] | None = None) -> Iterator[list[str]]:
    """Table 2 at the paper's schedule (122k iterations): Conv 8, 16, 32 and 64 x max, lstm, avg and lstm_shared
    with the configs' init (the headline's, avg_soft), 5 seeds for Conv 8 and 16 and 3 for Conv 32 and 64 (the GPU
    queue's plan), seed by seed. With ``--pack`` each width's runs train as packs."""
    paper = [o if o != "schedule=medium" else "schedule=paper" for o in COMMON]
    for width, default_seeds in ((8, range(5)), (16, range(5)), (32, range(3)), (64, range(3))):
        for seed in seeds if seeds is not None else default_seeds:
            # lstm right after max: a session that fits only one pair of 122k runs still adds a pair to the
            # headline claim (LSTM per layer against max)
            for pooling in ("max", "lstm", "avg", "lstm_shared"):
                yield [*paper, f"model.width={width}", f"seed={seed}", f"pooling={pooling}"]


def vgg16_cpu(seeds: tuple[int, ...] | None = None) -> Iterator[list[str]]:
    """VGG16's first 6 epochs of the paper's schedule, max against lstm (Figure 5(b)), seed by seed. Run it with
    ``--jobs 1 --threads 2`` at a session's start: one run on both cores takes about two hours (a pair on one core
    each, nearly three), and a run cut off by a session's end resumes on the same machine only (its checkpoints,
    one every 500 steps in its run folder, are too large to park). Where the next session is likely to find the
    same machine, one run on one core (``--threads 1``) beside another campaign's parkable run also works:
    ``--dry-run`` says how far it got and that its checkpoint is on this machine only."""
    for seed in seeds or (0, 1):
        for pooling in ("max", "lstm"):
            yield ["experiment=table4", "dataset=cifar10_jpeg", "schedule=paper_6ep", QUIET, f"seed={seed}",
                   f"pooling={pooling}", "checkpoint_every_n_steps=500"]


def cpu_science(seeds: tuple[int, ...] | None = None) -> Iterator[list[str]]:
    """What the 2-core CPU can still answer of the paper, at labelled budgets, in this order: Conv 8 at 15k to 3
    seeds; the Conv 32 row at 15k (claim 8: the gain shrinks with size, on one device and budget); Conv 8 at the
    paper's 122k; Conv 64 at 15k. Every run parks its checkpoint, so it runs two at a time (``--jobs 2``) for as
    long as a session lasts. VGG16's first epochs (``vgg16_cpu``) are not in it: a VGG16 run cannot be parked and
    must run alone on both cores from a session's start. Its Table 2 cells at 15k are built as the conv16 campaign's
    (its Conv 8 cells are the init study's avg_soft cells: a run recorded there is skipped), so same-seed runs share
    their batch order."""
    for seed in seeds or (1, 2):
        yield from _cells(8, seed, ("avg_soft",))
    for seed in seeds or (0, 1, 2):
        yield from _cells(32, seed, ("avg_soft",))
    yield from (r for r in table2_paper(seeds or (0, 1, 2)) if "model.width=8" in r)
    for seed in seeds or (0, 1, 2):
        yield from _cells(64, seed, ("avg_soft",))


CAMPAIGNS = {"init_study": init_study, "headline": headline, "conv16": conv16, "scans": scans, "zoo": zoo,
             "table1": table1, "table1_long": table1_long, "table2_paper": table2_paper,
             "vgg16_cpu": vgg16_cpu, "cpu_science": cpu_science}
NEEDS_INIT = ("headline", "conv16", "scans")
PICK_THEIR_DEVICE = ("table1", "table1_long")  # Table 1's scalar unit: its experiment sets the device (the CPU)


def find_record(root: Path, overrides: list[str]) -> Path | None:
    """The ``root/<experiment>/<run folder>/summary.json`` whose run was started with exactly these overrides
    (finished or diverged: ``ENDED``; running or interrupted, with its checkpoint parked: to resume). Not deeper:
    ``root/gpu/`` holds another device's records, and a Table 1 run's overrides do not name its device. A record
    no table may trust (``results.records.problem``) is not one: its run is to do, as the tables leave it out."""
    wanted = sorted(overrides)
    # a record being written reads as {} (no overrides): it is read again on the next pass
    return next((path for path in root.glob(f"*/*/{SUMMARY}")
                 if sorted((record := read_summary(path)).get("overrides", [])) == wanted
                 and not problem(path, record)), None)


def status(path: Path | None) -> str | None:
    return read_summary(path).get("status") if path else None


def progress(path: Path | None) -> str:
    """A run's state as ``--dry-run`` prints it: ``todo``, its record's status, and for a run cut off or still
    running, its step against its budget and the time left at its pace so far (the hours a session note gives)."""
    record = read_summary(path) if path else {}
    state, steps, wall = record.get("status", "todo"), record.get("steps"), record.get("wall_time_s")
    budget = record.get("config", {}).get("schedule", {}).get("max_steps", -1)
    if state in ENDED or not (steps and wall and budget > 0):
        return state
    return f"{state} at step {steps:,} of {budget:,}, about {(budget - steps) * wall / steps / 60:.0f} min left at its pace"


def packs(runs: list[list[str]], size: int) -> list[list[list[str]]]:
    """The runs as jobs: one run each (``size`` 0), or packs of up to ``size`` runs that may share one
    (``ftn.pack_rule``: they differ only in their seed and pooling overrides), in queue order, each pack ordered by
    pooling (one call per kind in every layer)."""
    if not size:
        return [[run] for run in runs]
    pooling = [sorted(o for o in run if o.startswith("pooling")) for run in runs]
    return [[runs[i] for i in pack] for pack in split_into_packs([shared_overrides(r) for r in runs], pooling, size)]


def _command(job: list[list[str]], packed: bool) -> list[str]:
    if packed:
        return [sys.executable, "-m", "ftn.packing", *(json.dumps(run) for run in job)]
    return [sys.executable, "-m", "ftn.train", *job[0]]


def run_campaign(runs: list[list[str]], jobs: int, runs_dir: Path, records_dir: Path, logs_dir: Path,
                 device: str = "cpu", pack: int = 0, threads: int = 1) -> int:
    """Run what is not recorded yet, ``jobs`` processes of ``threads`` threads each at a time (with ``pack``,
    each a pack of up to that many runs); returns the number of runs that left no record.

    Each run keeps its folder under ``runs_dir`` and copies its own record to ``records_dir`` (the ``paths``
    group's FTN_RUNS and FTN_RECORDS), where the next call finds it: in their ``gpu/`` subfolders for
    ``device="gpu"``, as the ``paths`` group places them.
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "WANDB_SILENT": "true",
           "FTN_RUNS": str(runs_dir), "FTN_RECORDS": str(records_dir)}
    records_dir, runs_dir = records_dir / device_folder(device), runs_dir / device_folder(device)
    todo = [r for r in runs if status(find_record(records_dir, r)) not in ENDED]
    print(f"campaign: {len(runs) - len(todo)} of {len(runs)} runs already recorded; {len(todo)} to run", flush=True)
    todo = packs(todo, pack)
    logs_dir.mkdir(parents=True, exist_ok=True)
    running: dict[subprocess.Popen, tuple[list[list[str]], float, Path]] = {}
    with _stop_on_signal(running) as stopped:
        failed = 0
        while (todo and not stopped) or running:
            while todo and not stopped and len(running) < jobs:
                job = []
                for overrides in todo.pop(0):
                    if status(find_record(records_dir, overrides)) in ENDED:  # another campaign finished it meanwhile
                        print(f"skip   {' '.join(overrides)}: recorded since this campaign started", flush=True)
                    else:
                        job.append(overrides)
                if not job:
                    continue
                log = logs_dir / _log_name(job, pack)
                command = _command(job, bool(pack))
                # appended, each attempt under a header: a second campaign never truncates the first one's log
                out = log.open("a")
                out.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()}: {' '.join(command[1:])}\n")
                out.flush()  # before the child writes to the same file
                # its own session: a Ctrl-C reaches the campaign alone, which passes it on once (_stop_on_signal)
                proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True, preexec_fn=_stop_with_the_campaign)
                out.close()  # the child holds its own copy
                running[proc] = (job, time.time(), log)
                for overrides in job:
                    print(f"start  {' '.join(overrides)} (log {log})", flush=True)
            time.sleep(5)
            for proc in [p for p in running if p.poll() is not None]:
                job, started, log = running.pop(proc)
                failed += sum(not _report(records_dir, runs_dir, overrides, started, log, proc.returncode)
                              for overrides in job)
    if stopped:
        raise Interrupted(f"{signal.Signals(stopped[0]).name}: campaign stopped; its running runs stopped with "
                          "checkpoints and the same command resumes them", stopped[0])
    return failed


def _log_name(job: list[list[str]], pack: int) -> str:
    """A job's log file: its first run's override values joined (a path by its last part: not a folder), short
    enough for any file system (most allow 255 bytes a name); jobs that share a name append to one log."""
    name = "_".join(Path(o.split("=")[-1]).name for o in job[0] if "=" in o) + (f"_pack{len(job)}" if pack else "")
    return short_name(name) + ".log"


def _report(records_dir: Path, runs_dir: Path, overrides: list[str], started: float, log: Path,
            returncode: int) -> bool:
    """Say how a run that ended did; False if it left no record to show for it."""
    record = find_record(records_dir, overrides)
    summary = read_summary(record) if record else {}
    # the run folder's own record: where a run stopped with a checkpoint that was not parked (ftn.parking: one too
    # large to park, or a run whose record is not committed, such as a smoke run's) left it
    own = read_summary(path) if (path := find_record(runs_dir, overrides)) else {}
    if summary.get("status") in ENDED:  # finished, or diverged (exit 1, recorded: a result too)
        metrics = summary["metrics"]
        name = next((k for k in ("final_test/error", "test/T1_mae_1e5") if k in metrics), None)  # Table 2's, 1's
        print(f"done   {summary['status']} in {time.time() - started:.0f} s, {name} {metrics.get(name)}: {record}",
              flush=True)
    elif summary.get("status") == "interrupted":
        print(f"stopped with a checkpoint at step {summary.get('steps')}: {' '.join(overrides)}", flush=True)
    elif own.get("status") == "interrupted":
        print(f"stopped with a checkpoint at step {own.get('steps')} in its run folder, not parked beside a record: "
              f"only this machine resumes it: {' '.join(overrides)}", flush=True)
    else:
        print(f"FAILED exit {returncode}, no finished record in {records_dir}: {' '.join(overrides)} (log {log}: "
              f"{_last_line(log)})", flush=True)
        return False
    return True


def _last_line(log: Path) -> str:
    """A log's last line: the one line in which a run rejects a bad override, or its error's last line."""
    with contextlib.suppress(OSError):
        return next((line.strip() for line in reversed(log.read_text(errors="replace").splitlines()) if line.strip()),
                    "empty")
    return "unreadable"


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _stop_with_the_campaign() -> None:
    """In a run's process before it starts (Linux): SIGTERM when the campaign dies, even by SIGKILL, so that a run
    in its own session never outlives its campaign: it stops with a checkpoint instead."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def _stop_on_signal(running: dict[subprocess.Popen, tuple]) -> Iterator[list[int]]:
    """While in it, SIGTERM and SIGINT are noted (in the list it gives) and passed on as SIGTERM to every running
    run; the handlers found are restored at its end."""
    stopped: list[int] = []

    def stop(signum: int, frame: object) -> None:
        stopped.append(signum)
        print(f"{signal.Signals(signum).name}: no new run starts; {len(running)} running run(s) stop with "
              "a checkpoint", flush=True)
        for proc in running:
            proc.send_signal(signal.SIGTERM)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        yield stopped
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _campaign_list(text: str) -> list[str]:
    names = text.split(",")
    if unknown := [n for n in names if n not in CAMPAIGNS]:
        raise argparse.ArgumentTypeError(f"campaign {unknown[0]!r} is unknown; allowed: {', '.join(sorted(CAMPAIGNS))}")
    return names


def _seed_list(text: str) -> tuple[int, ...]:
    """``0-4`` or ``0,2,3``: the seeds of a campaign."""
    try:
        if "-" in text:
            first, last = (int(t) for t in text.split("-"))
            seeds = tuple(range(first, last + 1))
        else:
            seeds = tuple(int(t) for t in text.split(","))
    except ValueError:
        seeds = ()
    if not seeds or min(seeds) < 0:  # an empty range (3-1) would fall back to the campaign's own seeds
        raise argparse.ArgumentTypeError(f"--seeds={text!r}: allowed are a range like 0-4 (first <= last) or a list "
                                         "like 0,2,3, of seeds from 0")
    return seeds


def _check_overrides(run: list[str]) -> None:
    """Compose and check (``ftn.validation``) one run's config as ``ftn.train`` would: the overrides added to every
    run (a rehearsal's tiny sizes) are then one line before the campaign starts, not one failed run per queue
    entry."""
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from .config import compose_train
    from .runs import ConfigError, compose_error
    from .validation import check_choices, validate

    # on the CPU: a GPU campaign is planned (--dry-run) on any machine, and each run checks its device when it starts
    overrides = [*(o for o in run if not o.startswith("trainer=")), "trainer=cpu", "run_dir=unused", "records_dir=null"]
    try:
        check_choices(overrides)
        validate(OmegaConf.to_container(compose_train(overrides), resolve=True))
    except ConfigError as err:  # a HydraException too: this one is already one line with what is allowed
        sys.exit(f"ftn.campaign: {err}")
    except (HydraException, OmegaConfBaseException) as err:
        sys.exit(f"ftn.campaign: {compose_error(err)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("campaign", type=_campaign_list,
                        help=f"one of {', '.join(sorted(CAMPAIGNS))}, or several joined by commas (one queue)")
    parser.add_argument("--init", choices=INITS, help="the LSTM init of the headline, conv16 and scans campaigns")
    parser.add_argument("--seeds", type=_seed_list, help="seeds to run, e.g. 0-4 or 0,2 (default: the campaign's)")
    parser.add_argument("--trainer", choices=("cpu", "gpu"), default="cpu",
                        help="the device of every run (Table 2 campaigns; Table 1 picks its own)")
    parser.add_argument("--jobs", type=int, default=2, help="runs (or packs) at once")
    # one run alone on both cores (--jobs 1 --threads 2) ends in about half the time: what a run too large to park
    # (VGG16) needs to finish within one session
    parser.add_argument("--threads", type=int, default=1, help="threads of each run (default 1)")
    parser.add_argument("--pack", type=int, default=0, metavar="K",
                        help="train runs that differ only in seed and pooling as packs of up to K (ftn.packing); "
                             "add dataset.augmentation=crop_flip, which packs need")
    parser.add_argument("--runs", type=Path, default=RUNS)
    parser.add_argument("--records", type=Path, default=RECORDS)
    parser.add_argument("--dry-run", action="store_true",
                        help="list the runs done and still to do (a cut-off run with its step and time left), and exit")
    parser.add_argument("--skip-bad-records", action="store_true",
                        help="treat records no table may trust as absent (their runs are trained again)")
    parser.add_argument("overrides", nargs="*", default=[],  # a default: argparse would call it required
                        help="Hydra overrides added to every run (a rehearsal's tiny sizes)")
    args = parser.parse_intermixed_args(argv)
    if args.records.exists() and not args.records.is_dir():
        parser.error(f"--records={args.records}: not a folder; allowed: a folder of run records (or none yet)")
    for key, least in (("jobs", 1), ("threads", 1), ("pack", 0)):
        if getattr(args, key) < least:
            parser.error(f"--{key}={getattr(args, key)}: allowed are whole numbers from {least}")
    if needing := [c for c in args.campaign if c in NEEDS_INIT and not args.init]:
        parser.error(f"campaign {needing[0]} needs --init; allowed: {', '.join(INITS)}")
    if args.init and not any(c in NEEDS_INIT for c in args.campaign):  # it would be ignored: the configs' init runs
        parser.error(f"--init={args.init}: no campaign here takes it; allowed with {', '.join(NEEDS_INIT)}")
    runs = []
    for name in args.campaign:  # one queue: a slot freed by one campaign's runs goes to the next campaign's
        chosen = {"init": args.init} if name in NEEDS_INIT else {}
        queue = list(CAMPAIGNS[name](**chosen, **({"seeds": args.seeds} if args.seeds else {})))
        runs += queue if name in PICK_THEIR_DEVICE else [[*r, f"trainer={args.trainer}"] for r in queue]
    # campaigns may share a cell (scans' row scan is the init study's lstm cell): it is run once, where it first
    # comes in the queue
    runs = list({tuple(sorted(r)): r for r in ([*r, *args.overrides] for r in runs)}.values())
    if args.overrides and runs:
        _check_overrides(runs[0])
    here = device_folder(args.trainer)  # GPU runs and records sit in gpu/ subfolders of their own
    try:  # a corrupt or misplaced record would count its run as to do, or another run's as done
        read_records(args.records / here, args.skip_bad_records)
    except BadRecords as error:
        sys.exit(f"ftn.campaign: {error}")
    if args.dry_run:
        for r in runs:
            recorded = find_record(args.records / here, r)
            # a run whose checkpoint is too large to park (VGG16) has its progress in its run folder only
            local = None if recorded else find_record(args.runs / here, r)
            print(progress(recorded or local) + (" (its checkpoint is on this machine only)" if local else ""),
                  " ".join(r))
        return
    try:
        failed = run_campaign(runs, args.jobs, args.runs, args.records, args.runs / here / "logs", args.trainer,
                              args.pack, args.threads)
    except Interrupted as err:
        err.exit()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
