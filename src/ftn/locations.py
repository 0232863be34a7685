"""Figure 3's measurement: how many of a window's locations max pooling keeps in at least one channel.

Section 4.2.2: max pooling passes on, per channel, the value of one location of each window.
For a trained max-pooling Conv N we take 5,000 random 4x4 windows (image, position) of the test
set at the first pooling layer and count, per window, the distinct argmax locations over the
channels. The histogram (how many windows keep 1, 2, ..., 16 locations) is added to the run's
record, from which ``ftn.figures`` draws results/fig3_max_locations.png.

A Table 2 max-pooling run measures itself once it is tested (``MaxLocations``, which the run lifecycle adds):
its checkpoint stays on the machine that trained it, its record travels. Runs recorded before that are measured
from their checkpoints:

    python -m ftn.locations [--runs runs] [--records results/runs]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn

from .atomic import atomic_write_text
from .record_files import RECORDS, RUNS, SUMMARY, read_summary
from .run_record import RunRecord
from .runs import CHECKPOINT

PATCHES = 5000


def measures_locations(experiment: str, config: dict) -> bool:
    """Figure 3 is measured on Table 2's max-pooling runs."""
    return experiment == "table2" and config["pooling"]["kind"] == "max"


def first_pool_input(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, nn.MaxPool2d]:
    """Activations entering the first max-pooling layer of ``model.features``, and that layer."""
    for index, layer in enumerate(model.features):
        if isinstance(layer, nn.MaxPool2d):
            return model.features[:index](images), layer
    raise ValueError("model.features has no nn.MaxPool2d; allowed: a max-pooling network (pooling=max)")


def location_histogram(features: torch.Tensor, kernel_size: int, patches: int = PATCHES) -> list[int]:
    """features (N, C, H, W) -> counts[n] = windows whose channels' maxima fall on n distinct locations.

    Windows are the pooling layer's (non-overlapping k x k); ``patches`` of them are drawn at random.
    """
    n, c = features.shape[:2]
    windows = F.unfold(features, kernel_size, stride=kernel_size)  # (N, C * k*k, positions)
    windows = windows.view(n, c, kernel_size**2, -1)
    gen = torch.Generator().manual_seed(0)  # the same windows of a network each time it is measured
    image = torch.randint(n, (patches,), generator=gen)
    position = torch.randint(windows.shape[-1], (patches,), generator=gen)
    picked = windows[image, :, :, position].argmax(-1)  # (patches, C): the location each channel keeps
    distinct = torch.zeros(patches, kernel_size**2, dtype=torch.bool).scatter_(1, picked, True).sum(1)
    return torch.bincount(distinct, minlength=kernel_size**2 + 1).tolist()


@torch.no_grad()
def measure_model(model: nn.Module, images: torch.Tensor) -> dict:
    """Figure 3 for a trained ``model`` on ``PATCHES`` of its (whitened) test ``images`` (N, 3, H, W), on their
    device."""
    training = model.training
    model.eval()
    used = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:PATCHES]
    features, pool = first_pool_input(model, images[used.to(images.device)])
    model.train(training)
    return {"patches": PATCHES, "kernel_size": pool.kernel_size,
            "histogram": location_histogram(features.float().cpu(), pool.kernel_size, PATCHES)}


def measure(record: dict, checkpoint: Path) -> dict:
    """Rebuild the run's model and data from its record, load its weights, and measure figure 3."""
    config = record["config"]
    model = instantiate(config["model"])
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
    data = instantiate(config["dataset"])
    data.setup()
    return measure_model(model, data.splits["test"][0])


class MaxLocations(pl.Callback):
    """Figure 3's measurement into ``record`` once its run is tested, while the trained model and the whitened
    test split are at hand (a run that ended otherwise, or a pack's diverged member, is not measured)."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.record.status(trainer, "finished") == "finished":
            model = self.record.trained_model(pl_module)
            self.record.base["max_locations"] = measure_model(model, trainer.datamodule.splits["test"][0])


def update(runs_dir: Path, records_dir: Path) -> list[Path]:
    """Measure every finished max-pooling Table 2 run with a checkpoint that has no measurement yet."""
    done = []
    for path in sorted(runs_dir.glob(f"**/{SUMMARY}")):
        record = read_summary(path)  # {} for one being written: it has no status, and is skipped
        checkpoint = path.parent / CHECKPOINT
        if (record.get("status") != "finished" or "config" not in record
                or not measures_locations(record.get("experiment"), record["config"])
                or "max_locations" in record or not checkpoint.exists()):
            continue
        measured = measure(record, checkpoint)
        for target in (path, records_dir / path.relative_to(runs_dir)):
            if target.exists():  # each copy gains the field and keeps what only it holds (e.g. a commit_note)
                own = json.loads(target.read_text())  # an unreadable copy stops here, never overwritten
                atomic_write_text(target, json.dumps({**own, "max_locations": measured}, indent=1, default=str))
        done.append(path)
        print(f"{path}: {measured['histogram']}")
    return done


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=Path, default=RUNS)
    parser.add_argument("--records", type=Path, default=RECORDS)
    args = parser.parse_args(argv)
    if not update(args.runs, args.records):
        print("no finished max-pooling table2 run without a measurement")


if __name__ == "__main__":
    main()
