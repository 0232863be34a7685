"""Training-step throughput of the harness: Lightning vs a plain loop, concurrent runs, the step's split, compile.

    python scripts/bench_throughput.py [--quick] [--device cpu|cuda] [--out results/throughput_<device>.md]

(a) The harness's step (the Classification task in a Lightning Trainer built from the table2 config, with its
    checkpoint callback and wandb logger, data on the device, kornia augmentation, grad clipping and the LSTM
    constraint) against a plain PyTorch loop with the same pieces and no Lightning, logging or checkpointing.
    Each is timed over a wall-clock window after a warm-up, interleaved over rounds; the median counts.
(b) Steps/s of N runs at once as separate processes (one torch thread each), and on the CPU one run with as
    many threads as the N runs have together. Each worker warms up, waits for all others, then counts its steps
    in one shared window.
(c) The plain loop's step split into data (index + augment), forward, backward and optimizer (clip, step,
    schedule, constraint), each phase synchronised; framework overhead = harness step - plain step.
(d) `task.compile=true` (torch.compile of the model) against eager, for both loops; compile time apart.
(e) Packs (ftn.packing): K members trained as one model, against one solo run, both as the harness runs them
    (each with its own crop/flip stream), in ms per model-step: a pack's step time divided by K; eager, compiled
    (CUDA graphs) and bf16 as rows of their own, each row under its own time limit and written as it finishes.

Data is generated on the device at Conv 8's shape (32x32 RGB, 10 classes): the step does not depend on the
pixels. Validation is off inside the windows (it is per-epoch work, not per-step). The report is written by
this script (never typed): the hardware, threads, load average and commit are in its header.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ftn.benchmark import (command_line, device_name, harness_layout, names_of, output_file, positive_float,
                           positive_int, positive_ints)
from ftn.config import compose_train
from ftn.data.packed import PackedCifarData
from ftn.models.packed import Pack
from ftn.packing import PackCheckpoint, pack_identity
from ftn.pooling import KINDS, constrain_lstm_pools_
from ftn.provenance import git_commit, hardware
from ftn.record_files import RESULTS
from ftn.results.markdown import replace_block
from ftn.runs import DivergenceGuard, RunCheckpoint
from ftn.tasks.classification import uses_channels_last
from ftn.tasks.packed import PackedClassification

BATCH = 100


def config(pooling: str, device: str, compiled: bool | str, width: int, *extra: str) -> DictConfig:
    """The table2 config as `python -m ftn.train experiment=table2 ...` composes it (``compiled``: task.compile)."""
    overrides = ["experiment=table2", f"pooling={pooling}", f"model.width={width}", "dataset=synthetic",
                 f"dataset.batch_size={BATCH}", f"trainer={'gpu' if device == 'cuda' else 'cpu'}",
                 f"task.compile={str(compiled).lower() if isinstance(compiled, bool) else compiled}",
                 "run_dir=unused", *extra]
    return compose_train(overrides)


def synthetic_splits(n_train: int, device: torch.device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    make = lambda n: (torch.randn(n, 3, 32, 32, generator=g).to(device), torch.randint(10, (n,), generator=g).to(device))
    return {"train": make(n_train), "test": make(BATCH)}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class Window:
    """Counts steps inside a wall-clock window that opens after `warmup` steps (and after `barrier`, if any)."""

    def __init__(self, warmup: int, seconds: float, device: torch.device, barrier=None) -> None:
        self.warmup, self.seconds, self.device, self.barrier = warmup, seconds, device, barrier
        self.step, self.start, self.end, self.first_step_s = 0, None, None, None
        self.t_begin = time.perf_counter()

    def after_step(self) -> bool:
        """Call after every step; returns True when the window is closed."""
        self.step += 1
        if self.step == 1:
            sync(self.device)
            self.first_step_s = time.perf_counter() - self.t_begin  # includes compilation, when compiled
        if self.step == self.warmup:
            sync(self.device)
            if self.barrier is not None:
                self.barrier()
            self.start, self.start_step = time.perf_counter(), self.step
        elif self.start is not None and time.perf_counter() - self.start >= self.seconds:
            sync(self.device)
            self.end, self.steps = time.perf_counter(), self.step - self.start_step
            return True
        return False

    def result(self) -> dict:
        return {"ms_per_step": 1e3 * (self.end - self.start) / self.steps, "steps": self.steps,
                "steps_per_s": self.steps / (self.end - self.start), "first_step_s": self.first_step_s}


class _WindowCallback(pl.Callback):
    def __init__(self, window: Window) -> None:
        self.window = window

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.window.after_step():
            trainer.should_stop = True


def harness_steps(cfg: DictConfig, splits: dict, window: Window, device: torch.device) -> dict:
    """The harness's training step: the task, datamodule, trainer, logger, divergence guard and checkpoints of
    ftn.train."""
    pl.seed_everything(0, verbose=False)
    task, datamodule = instantiate(cfg.task), instantiate(cfg.dataset)
    datamodule.splits = {k: v for k, v in splits.items()}  # setup() keeps splits that are already there
    with tempfile.TemporaryDirectory() as run_dir:
        logger = instantiate(cfg.logger, run_dir=run_dir, name="bench_throughput", group="bench")
        config = OmegaConf.to_container(cfg, resolve=True)
        callbacks = [DivergenceGuard(), RunCheckpoint(Path(run_dir), config, cfg.checkpoint_every_n_steps),
                     _WindowCallback(window)]
        trainer = instantiate(cfg.trainer, logger=logger, callbacks=callbacks, default_root_dir=run_dir,
                              enable_checkpointing=False, max_steps=-1, max_epochs=10**6, limit_val_batches=0,
                              enable_progress_bar=False, enable_model_summary=False)
        try:
            trainer.fit(task, datamodule=datamodule)
        finally:
            logger.experiment.finish()
    return window.result()


def plain_steps(cfg: DictConfig, splits: dict, window: Window, device: torch.device, split: bool = False) -> dict:
    """The same step without Lightning: index, augment, forward, backward, clip, SGD, schedule, constraint, in the
    harness's memory layout (``task.channels_last``)."""
    pl.seed_everything(0, verbose=False)
    model = instantiate(cfg.model).to(device)
    nhwc = uses_channels_last(cfg.task.channels_last, device)
    if nhwc:  # as Classification.setup
        model.to(memory_format=torch.channels_last)
    if cfg.task.compile:
        model.compile()
    augment = instantiate(cfg.dataset).augment.to(device)
    opt = instantiate(cfg.optimizer)(model.parameters())
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.schedule.milestones), cfg.schedule.gamma)
    clip = cfg.trainer.gradient_clip_val
    x_all, y_all = splits["train"]
    phases = {"data": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    mark = time.perf_counter

    def lap(name: str | None, t: float) -> float:
        """With `split`, inside the window: synchronise and add the time since t to phase `name`."""
        if not split or window.start is None:
            return t
        sync(device)
        now = mark()
        if name is not None:
            phases[name] += now - t
        return now

    model.train()
    done = False
    while not done:
        order = torch.randperm(len(x_all), device=device)
        for i in range(len(x_all) // BATCH):
            t = lap(None, 0.0)
            idx = order[i * BATCH:(i + 1) * BATCH]
            x, y = augment(x_all[idx]), y_all[idx]
            t = lap("data", t)
            if nhwc:  # as Classification.forward
                x = x.contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(x), y)
            t = lap("forward", t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t = lap("backward", t)
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            sched.step()
            constrain_lstm_pools_(model)
            lap("optimizer", t)
            if window.after_step():
                done = True
                break
    result = window.result()
    if split:
        result["phases_ms"] = {k: 1e3 * v / window.steps for k, v in phases.items()}
    return result


def packed_harness_steps(cfgs: list[DictConfig], splits: dict, window: Window) -> dict:
    """A pack's harness step, as ftn.packing runs it: member k built under seed k with cfgs[k]'s pooling, each with
    its own batch order and crop/flip stream, the pack's task (per-member losses, guard, clipping, constraint) and
    checkpoint callback in a Lightning Trainer. No logger: it acts once per epoch, outside the window."""
    seeds = list(range(len(cfgs)))
    models = []
    for seed, cfg in zip(seeds, cfgs):
        pl.seed_everything(seed, verbose=False)
        models.append(instantiate(cfg.model))
    cfg = cfgs[0]
    dataset = {k: v for k, v in OmegaConf.to_container(cfg.dataset, resolve=True).items() if k not in ("_target_", "seed")}
    datamodule = PackedCifarData(seeds, **dataset)
    datamodule.splits = dict(splits)  # setup() keeps splits that are already there
    task = PackedClassification(Pack(models, seeds), instantiate(cfg.optimizer), OmegaConf.to_container(cfg.schedule),
                                compile=cfg.task.compile, channels_last=cfg.task.channels_last)  # as ftn.packing
    configs = [OmegaConf.to_container(c, resolve=True) for c in cfgs]
    with tempfile.TemporaryDirectory() as run_dir:
        folders = [Path(run_dir) / str(seed) for seed in seeds]
        callbacks = [PackCheckpoint(folders, pack_identity(configs), cfg.checkpoint_every_n_steps),
                     _WindowCallback(window)]
        trainer = instantiate(cfg.trainer, logger=False, callbacks=callbacks, default_root_dir=run_dir,
                              enable_checkpointing=False, max_steps=-1, max_epochs=10**6, limit_val_batches=0,
                              enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(task, datamodule=datamodule)
    return {**window.result(), "ms_per_model_step": window.result()["ms_per_step"] / len(cfgs)}


# (e)'s variants: the task.compile value and the trainer's precision of each. bf16 is a row of its own, never mixed
# into a float32 cell.
PACK_VARIANTS = {"eager": (False, "32-true"), "compiled": ("reduce-overhead", "32-true"), "bf16": (False, "bf16-mixed")}


class RowTimeout(Exception):
    pass


@contextlib.contextmanager
def row_limit(seconds: int):
    """At most ``seconds`` for one row (a slow compile costs that row, not the window); 0: no limit."""
    def stop(signum, frame):
        raise RowTimeout
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _timed(measure, limit: int) -> tuple[float | None, str]:
    """(ms, "") or (None, why not) for one measurement under the row's limit."""
    try:
        with row_limit(limit):
            return measure(), ""
    except RowTimeout:
        return None, f"over {limit} s"
    except Exception as error:  # a compile or bf16 failure is a result too: the row says so, the others go on
        return None, f"failed: {type(error).__name__}: {str(error).splitlines()[0][:80] if str(error) else ''}"


def measure_packs(args: argparse.Namespace, device: torch.device, flush) -> list[str]:
    """(e): harness ms per model-step of packs of K against one solo run, per width, pooling mix and variant; the
    report is rewritten (``flush``) after every row."""
    splits = synthetic_splits(args.train_images, device)
    rows = ["", "## (e) packs of K members against one solo run (harness step, one process)", "",
            f"ms per model-step (a pack's step / K), each a {args.seconds:g} s window after {args.warmup} warm-up "
            "steps, both sides with `dataset.augmentation=crop_flip` and the row's variant (eager; compiled, "
            "`task.compile=reduce-overhead`; bf16, `trainer.precision=bf16-mixed`), each row under "
            f"{args.row_limit} s. `max+lstm`: half the members max, half lstm (the solo column: lstm). A ratio "
            "below 1 means the pack trains its K members faster than K solo runs one after another.", "",
            "| width | pooling | variant | solo ms/step | "
            + " | ".join(f"K={k} ms/model-step (ratio)" for k in args.packs) + " |",
            "|---|---|---|---|" + "---|" * len(args.packs)]
    for width in args.pack_widths:
        for mix in ("max", "lstm", "max+lstm"):
            kinds = mix.split("+")
            for variant in args.pack_variants:
                compiled, precision = PACK_VARIANTS[variant]
                own = ("dataset.augmentation=crop_flip", f"++trainer.precision={precision}")
                solo_cfg = config(kinds[-1], args.device, compiled, width, *own)
                solo, why = _timed(lambda: harness_steps(solo_cfg, splits, Window(args.warmup, args.seconds, device),
                                                         device)["ms_per_step"], args.row_limit)
                cells = []
                for k in args.packs:
                    cfgs = [config(kinds[m * len(kinds) // k], args.device, compiled, width, *own) for m in range(k)]
                    ms, failed = _timed(lambda: packed_harness_steps(cfgs, splits, Window(args.warmup, args.seconds,
                                                                                          device))
                                        ["ms_per_model_step"], args.row_limit)
                    ratio = f" ({ms / solo:.2f}x)" if ms is not None and solo else ""
                    cells.append(failed or f"{ms:.2f}{ratio}")
                rows.append(f"| Conv {width} | {mix} | {variant} | {why or f'{solo:.2f}'} | " + " | ".join(cells)
                            + " |")
                flush(rows)
    return rows


# ---- (b): concurrent runs as separate processes ----------------------------------------------------------
def worker(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    def barrier() -> None:  # tell the parent we are warm, wait for its go
        print("ready", flush=True)
        sys.stdin.readline()

    window = Window(args.warmup, args.seconds, device, barrier)
    splits = synthetic_splits(args.train_images, device)
    result = harness_steps(config(args.pooling, args.device, False, args.width), splits, window, device)
    print(json.dumps(result), flush=True)


def concurrent(n: int, threads: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--device", args.device, "--threads", str(threads),
           "--seconds", str(args.seconds), "--warmup", str(args.warmup), "--pooling", args.concurrent_pooling,
           "--width", str(args.width), "--train-images", str(args.train_images)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "WANDB_SILENT": "true"}
    procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(n)]
    for p in procs:  # every worker has warmed up before any window opens
        while (line := p.stdout.readline()) and line.strip() != "ready":
            pass
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise RuntimeError(f"a throughput worker failed (exit {p.returncode}); run it alone: {' '.join(cmd)}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    per_run = [r["steps_per_s"] for r in results]
    return {"runs": n, "threads": threads, "total_steps_per_s": sum(per_run), "per_run_steps_per_s": per_run}


# ---- the report --------------------------------------------------------------------------------------------
def measure_a_c_d(args: argparse.Namespace, device: torch.device) -> list[str]:
    splits = synthetic_splits(args.train_images, device)
    rows, times = [], {}
    variants = [(p, loop, False) for p in args.poolings for loop in ("plain", "harness")]
    for rnd in range(args.rounds):  # interleaved, so slow phases of a shared machine hit every variant
        for pooling, loop, compiled in variants:
            fn = plain_steps if loop == "plain" else harness_steps
            window = Window(args.warmup, args.seconds, device)
            r = fn(config(pooling, args.device, compiled, args.width), splits, window, device)
            times.setdefault((pooling, loop, compiled), []).append(r["ms_per_step"])
    rows += ["## (a) harness step vs plain PyTorch loop", "",
             f"Median of {args.rounds} interleaved rounds, each a {args.seconds:g} s window after {args.warmup} "
             "warm-up steps; per-round values in brackets.", "",
             "| Conv {} pooling | plain ms/step | harness ms/step | harness / plain |".format(args.width),
             "|---|---|---|---|"]
    med = {k: statistics.median(v) for k, v in times.items()}
    for pooling in args.poolings:
        plain, harness = med[pooling, "plain", False], med[pooling, "harness", False]
        fmt = lambda k: ", ".join(f"{t:.1f}" for t in times[k])
        rows.append(f"| {pooling} | {plain:.2f} [{fmt((pooling, 'plain', False))}] | "
                    f"{harness:.2f} [{fmt((pooling, 'harness', False))}] | {harness / plain:.2f}x |")

    rows += ["", "## (c) per-step split (plain loop, each phase synchronised)", "",
             "| pooling | data | forward | backward | optimizer | sum | framework overhead (harness - plain) |",
             "|---|---|---|---|---|---|---|"]
    for pooling in args.poolings:
        r = plain_steps(config(pooling, args.device, False, args.width), splits,
                        Window(args.warmup, args.seconds, device), device, split=True)
        ph = r["phases_ms"]
        overhead = med[pooling, "harness", False] - med[pooling, "plain", False]
        rows.append(f"| {pooling} | " + " | ".join(f"{ph[k]:.2f}" for k in ("data", "forward", "backward", "optimizer"))
                    + f" | {sum(ph.values()):.2f} | {overhead:.2f} |")

    if args.compile:
        rows += ["", "## (d) `task.compile=true` (torch.compile of the model) vs eager", "",
                 "| pooling | loop | eager ms/step | compiled ms/step | compiled / eager | first step (compile) s |",
                 "|---|---|---|---|---|---|"]
        pooling = args.poolings[-1]
        for loop, fn in (("plain", plain_steps), ("harness", harness_steps)):
            window = Window(max(args.warmup, 5), args.seconds, device)
            try:
                r = fn(config(pooling, args.device, True, args.width), splits, window, device)
            except Exception as error:  # a compile failure is a result too: report it, keep the other numbers
                rows.append(f"| {pooling} | {loop} | {med[pooling, loop, False]:.2f} | failed: "
                            f"{type(error).__name__}: {str(error).splitlines()[0][:120]} | | |")
                continue
            eager = med[pooling, loop, False]
            rows.append(f"| {pooling} | {loop} | {eager:.2f} | {r['ms_per_step']:.2f} | "
                        f"{r['ms_per_step'] / eager:.2f}x | {r['first_step_s']:.1f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", type=device_name, default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="short windows: a few seconds per measurement")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads for (a), (c), (d)")
    parser.add_argument("--seconds", type=positive_float, default=None, help="window per measurement")
    parser.add_argument("--warmup", type=positive_int, default=10)
    parser.add_argument("--rounds", type=positive_int, default=None)
    parser.add_argument("--width", type=positive_int, default=8)
    parser.add_argument("--poolings", type=names_of(KINDS), default="max,lstm")
    parser.add_argument("--concurrent-pooling", choices=KINDS, default="lstm")
    parser.add_argument("--runs", type=positive_ints, default=None,
                        help="N for (b), comma-separated (CPU: 1,2; GPU: 1,4,8,16)")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--packs", type=positive_ints, default=None,
                        help="K for (e), comma-separated (CPU: 2,4,8; GPU: 4,16,48)")
    parser.add_argument("--pack-widths", type=positive_ints, default="8,16", help="Conv N widths for (e)")
    parser.add_argument("--pack-variants", type=names_of(PACK_VARIANTS), default=None,
                        help=f"(e)'s variants, of {','.join(PACK_VARIANTS)} (CPU: eager; GPU: all)")
    parser.add_argument("--row-limit", type=positive_int, default=120, help="seconds at most per row of (e)")
    parser.add_argument("--train-images", type=positive_int, default=None)
    parser.add_argument("--out", type=output_file, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pooling", default="lstm", help=argparse.SUPPRESS)
    args = parser.parse_args()
    gpu = args.device == "cuda"
    args.seconds = args.seconds or (2.0 if args.quick else 10.0)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.train_images = args.train_images or (50_000 if gpu else 5_000)
    if args.worker:
        return worker(args)
    args.packs = args.packs or ([4, 16, 48] if gpu else [2, 4, 8])
    args.pack_variants = args.pack_variants or (list(PACK_VARIANTS) if gpu else ["eager"])
    runs = args.runs or ([1, 4, 8, 16] if gpu else [1, 2])
    args.out = args.out or RESULTS / f"throughput_{'gpu' if gpu else 'cpu'}.md"
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    load_before = os.getloadavg()
    started = time.time()

    def write(rows: list[str]) -> None:
        """The report so far: rewritten after every section and every row of (e), so a call cut off keeps them."""
        header = ["# Training-step throughput: harness vs plain loop, concurrent runs, step split, compile, packs", "",
                  f"Generated by `{command_line()}` (commit {git_commit()}) in {time.time() - started:.0f} s. "
                  f"Hardware: {hardware(args.device)}; device {args.device}; torch {torch.__version__}; {args.threads} torch "
                  f"thread(s) for (a), (c), (d). Conv {args.width}, batch {BATCH}, synthetic data on the device, the "
                  f"harness's layout ({harness_layout(device)}) in both loops. "
                  f"Load average (1 min) before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} "
                  f"on {os.cpu_count()} CPUs.", ""]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        replace_block(args.out, "throughput", "\n".join(header + rows))  # the other benches' sections stay

    rows = measure_a_c_d(args, device)
    write(rows)
    rows += measure_packs(args, device, lambda pack_rows: write(rows + pack_rows))
    write(rows)

    rows += ["", f"## (b) N runs at once, separate processes (harness step, pooling={args.concurrent_pooling})", "",
             "| runs | threads each | total steps/s | per run steps/s | total / one run |", "|---|---|---|---|---|"]
    single = None
    cases = [(n, 1) for n in runs] + ([] if gpu else [(1, max(runs))])  # CPU: one run with all the threads
    for n, threads in cases:
        r = concurrent(n, threads, args)
        single = single or r["total_steps_per_s"]
        rows.append(f"| {n} | {threads} | {r['total_steps_per_s']:.1f} | "
                    + ", ".join(f"{s:.1f}" for s in r["per_run_steps_per_s"])
                    + f" | {r['total_steps_per_s'] / single:.2f}x |")

    write(rows)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
