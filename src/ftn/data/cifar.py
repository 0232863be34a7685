"""CIFAR-10/100 (or a folder/archive copy) held on the device, GCN+ZCA whitened once, batches indexed there.

Airbench-style: the whole split is one uint8 tensor decoded once and cached on disk;
whitening runs on the device at setup; the training loop only indexes device tensors
and augments whole batches (kornia), with no per-sample Python work.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import kornia.augmentation as K
import pytorch_lightning as pl
import torch

from .preprocess import GCNZCA
from .sources import DatasetError, load_folder_or_archive, load_torchvision, synthetic

SOURCES = ("torchvision", "folder", "synthetic")


class DeviceBatches:
    """Iterate (x, y) mini-batches of device tensors; reshuffled every epoch when ``shuffle``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self):
        n = len(self.x)
        return n // self.batch_size if self.shuffle else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.x)
        order = torch.randperm(n, generator=self.generator).to(self.x.device) if self.shuffle else None
        for i in range(len(self)):
            idx = slice(i * self.batch_size, (i + 1) * self.batch_size)
            if order is not None:
                idx = order[idx]
            yield self.x[idx], self.y[idx]


class CifarData(pl.LightningDataModule):
    """Args:
        name: a label for caches and results ("cifar10", "cifar100", "cifar10_jpeg", ...).
        source: "torchvision" (genuine CIFAR, md5-checked), "folder" (ImageFolder tree or
            .tar.gz; its .sha256 is checked) or "synthetic" (tiny generated data for tests).
        root: where the data is (or goes, for torchvision downloads).
        num_classes: 10 or 100.
        cache_dir: decoded splits and the fitted whitening are cached here.
        batch_size, eval_batch_size, augment: training batches of 100 with pad-4 crop + flip, as the paper.
        limit_train, limit_test: keep only the first N images (smoke runs).
    """

    def __init__(self, name: str, source: str, root: str, num_classes: int = 10, cache_dir: str = ".cache/data",
                 download: bool = False, batch_size: int = 100, eval_batch_size: int = 1000, augment: bool = True,
                 limit_train: int | None = None, limit_test: int | None = None, synthetic_size: int = 32,
                 seed: int = 0):
        super().__init__()
        if source not in SOURCES:
            raise ValueError(f"dataset.source={source!r} is unknown; allowed: {', '.join(SOURCES)}")
        self.name, self.source, self.root, self.num_classes = name, source, Path(root), num_classes
        self.cache_dir, self.download = Path(cache_dir), download
        self.batch_size, self.eval_batch_size, self.seed = batch_size, eval_batch_size, seed
        self.limits = {"train": limit_train, "test": limit_test}
        self.synthetic_size = synthetic_size
        self.whiten = GCNZCA(3 * synthetic_size**2 if source == "synthetic" else 3 * 32 * 32)
        self.augment = K.AugmentationSequential(
            K.RandomCrop((synthetic_size,) * 2 if source == "synthetic" else (32, 32), padding=4),
            K.RandomHorizontalFlip(),
        ) if augment else None
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    # ---- decoding and caching -------------------------------------------------------
    def _cache_key(self) -> str:
        seed = self.seed if self.source == "synthetic" else None  # only generated data depends on the seed
        what = f"{self.name}|{self.source}|{self.root.resolve()}|{self.num_classes}|{self.synthetic_size}|{seed}"
        return f"{self.name}-{hashlib.sha256(what.encode()).hexdigest()[:12]}"

    def _decode(self) -> dict:
        if self.source == "torchvision":
            return load_torchvision(self.name, self.root, self.download)
        if self.source == "folder":
            return load_folder_or_archive(self.root, self.cache_dir)
        return synthetic(256, 128, self.num_classes, self.synthetic_size, self.seed)

    def _raw_splits(self) -> dict:
        path = self.cache_dir / f"{self._cache_key()}.pt"
        if path.exists():
            return torch.load(path)
        splits = self._decode()
        for split, (_, labels) in splits.items():
            if labels.min() < 0 or labels.max() >= self.num_classes:
                raise DatasetError(f"dataset.root={self.root}: {split} labels outside [0, {self.num_classes})")
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(splits, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
        return splits

    def _fitted_whitening(self, train_images: torch.Tensor) -> None:
        path = self.cache_dir / f"{self._cache_key()}-gcnzca.pt"
        if path.exists():
            self.whiten.load_state_dict(torch.load(path))
            return
        self.whiten.fit(train_images)
        torch.save(self.whiten.state_dict(), path)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        raw = self._raw_splits()
        self._fitted_whitening(raw["train"][0])  # always on the full training split
        self.whiten.to(device)
        for split, (images, labels) in raw.items():
            limit = self.limits[split]
            images, labels = images[:limit], labels[:limit]
            self.splits[split] = self.whiten(images.to(device)), labels.to(device)

    # ---- loaders --------------------------------------------------------------------
    def train_dataloader(self):
        return DeviceBatches(*self.splits["train"], self.batch_size, shuffle=True, seed=self.seed)

    def val_dataloader(self):  # the paper tracks test error per epoch (figure 5)
        return DeviceBatches(*self.splits["test"], self.eval_batch_size, shuffle=False)

    def test_dataloader(self):
        return self.val_dataloader()

    def on_after_batch_transfer(self, batch, dataloader_idx):
        x, y = batch
        if self.augment is not None and self.trainer is not None and self.trainer.training:
            x = self.augment(x)
        return x, y
