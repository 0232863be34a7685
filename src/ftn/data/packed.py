"""A pack's data: one decoded, whitened split on the device, and per member its own batch order and augmentation.

Member k draws its batches from a ``DeviceBatches`` seeded with its seed and its crops and flips from a
``CropFlip`` seeded likewise, exactly the streams its solo run draws with ``dataset.augmentation=crop_flip``, so a
member's data does not depend on the pack it trains in. A training batch is (K, B, 3, H, W) images and (K, B)
labels; test batches are shared by all members, (B, 3, H, W) and (B,).
"""
from __future__ import annotations

from typing import Iterator

import torch

from .augment import CropFlip, crop_flip
from .cifar import CifarData, DeviceBatches


class PackedBatches:
    """K ``DeviceBatches`` in lockstep: (K, B, ...) per step, one gather for all members."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seeds: list[int]) -> None:
        self.x, self.y = x, y
        self.members = [DeviceBatches(x, y, batch_size, shuffle=True, seed=seed) for seed in seeds]

    def __len__(self) -> int:
        return len(self.members[0])

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for served in zip(*(member.indices() for member in self.members)):
            index = torch.stack(served)  # (K, B)
            yield self.x[index], self.y[index]

    def position(self) -> list[dict]:
        return [member.position() for member in self.members]

    def seek(self, positions: list[dict]) -> None:
        for member, position in zip(self.members, positions):
            member.seek(position)


def check_packable(dataset: dict) -> None:
    """A one-line ``ValueError`` unless the dataset keys ``dataset`` augment with ``crop_flip`` (or not at all)."""
    if dataset.get("augment", True) and dataset.get("augmentation", "kornia") != "crop_flip":
        raise ValueError(f"dataset.augmentation={dataset.get('augmentation', 'kornia')!r} cannot be packed: its "
                         "draws come from the global RNG, which the members would share; allowed in a pack: "
                         "crop_flip")


class PackedCifarData(CifarData):
    """``CifarData`` for a pack: the dataset keys of member 0 (members share them), ``seeds`` one per member.

    Raises a one-line ``ValueError`` unless ``augmentation='crop_flip'``: kornia draws from the global RNG, which
    the members would share.
    """

    def __init__(self, seeds: list[int], **dataset) -> None:
        check_packable(dataset)
        super().__init__(**{**dataset, "seed": seeds[0]})
        self.seeds = seeds
        self.streams = [CropFlip(seed) for seed in seeds] if self.augment is not None else []

    def _new_train_batches(self) -> PackedBatches:
        return PackedBatches(*self.splits["train"], self.batch_size, self.seeds)

    def _streams(self) -> list[CropFlip]:
        return self.streams

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        x, y = batch
        if self.streams and self.trainer is not None and self.trainer.training:
            # each member's own draws, one gather for the pack
            draws = [stream.draw(x.shape[1]) for stream in self.streams]
            offsets, flips = (torch.cat(parts) for parts in zip(*draws))
            x = crop_flip(x.flatten(0, 1), offsets, flips, self.streams[0].padding).view_as(x)
        return x, y
