"""CIFAR-10/100 (or a folder/archive copy) held on the device, GCN+ZCA whitened once, batches indexed there.

Airbench-style: the whole split is one uint8 tensor decoded once and cached on disk;
whitening runs on the device at setup; the training loop only indexes device tensors
and augments whole batches (kornia's, or ``CropFlip`` with a stream per seed), with no per-sample Python work.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

import kornia.augmentation as K
import pytorch_lightning as pl
import torch

from ..atomic import atomic_torch_save, load_or_rebuild
from .augment import PADDING, CropFlip
from .preprocess import GCNZCA
from .sources import SPLITS, DatasetError, load_folder_or_archive, load_torchvision, synthetic

SOURCES = ("torchvision", "folder", "synthetic")
# kornia: the committed records' augmentation, on the global RNG; crop_flip: the same transform on a generator of
# the run's own (ftn.data.augment), as a pack's members need. They draw different streams: a run's identity.
AUGMENTATIONS = ("kornia", "crop_flip")
SUBSET_SEED = 0  # limit_train/limit_test pick the same images whatever the run's seed


def balanced_subset(labels: torch.Tensor, limit: int, seed: int = SUBSET_SEED) -> torch.Tensor:
    """Indices of ``limit`` items, as class-balanced as the classes allow, drawn at random with ``seed``.

    Items are taken round-robin over the classes in a seeded random order: the k-th pick of every class comes
    before the (k+1)-th of any class. (The splits are class-sorted, so the first N would be one class.)
    """
    n = len(labels)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    shuffled = labels[order]
    by_class = torch.argsort(shuffled, stable=True)
    first_of_class = torch.searchsorted(shuffled[by_class], shuffled[by_class], right=False)
    rank = torch.empty(n, dtype=torch.long)
    rank[by_class] = torch.arange(n) - first_of_class  # how many of its class come before it
    picks = torch.argsort(rank * n + torch.arange(n))[:limit]
    return order[picks].sort().values



class DeviceBatches:
    """Iterate (x, y) mini-batches of device tensors; reshuffled every epoch when ``shuffle``.

    Resumable: ``position()`` is the generator as it was before this epoch's permutation plus the batches already
    served, and ``seek(position)`` makes the next pass replay the same order from there. The data module saves it
    with every checkpoint (Lightning restores a data module's state on every resume; a loader's own state only
    when it resumes mid-epoch).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0) -> None:
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch_start = self.generator.get_state()
        self.served = 0  # batches yielded in the current epoch
        self.skip = 0  # batches a resumed epoch has already trained on

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.shuffle else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for idx in self.indices():
            yield self.x[idx], self.y[idx]

    def indices(self) -> Iterator[torch.Tensor | slice]:
        """One pass: each batch's indices into ``x`` (a device tensor when shuffled), its state kept as ``__iter__``."""
        n = len(self.x)
        self.epoch_start = self.generator.get_state()
        order = torch.randperm(n, generator=self.generator).to(self.x.device) if self.shuffle else None
        start, self.skip = self.skip, 0
        self.served = start
        for i in range(start, len(self)):
            idx = slice(i * self.batch_size, (i + 1) * self.batch_size)
            if order is not None:
                idx = order[idx]
            self.served = i + 1
            yield idx

    def position(self) -> dict:
        if self.served >= len(self):  # epoch done: the next one starts from the current generator
            return {"generator": self.generator.get_state(), "served": 0}
        return {"generator": self.epoch_start, "served": self.served}

    def seek(self, position: dict) -> None:
        self.generator.set_state(position["generator"])
        self.epoch_start = position["generator"]  # a position taken before the next pass is the same one
        self.skip = self.served = position["served"]


def _load_splits(path: Path) -> dict:
    """A cached ``{"train": (images, labels), "test": ...}``; one that reads but holds something else fails here,
    and is rebuilt, instead of failing mid-run."""
    splits = torch.load(path)
    for split in SPLITS:
        images, labels = splits[split]
        if not (isinstance(images, torch.Tensor) and isinstance(labels, torch.Tensor) and len(images) == len(labels)):
            raise ValueError(f"its {split} split is not images and labels of one length")
    return splits


class CifarData(pl.LightningDataModule):
    """Args:
        name: a label for caches and results ("cifar10", "cifar100", "cifar10_jpeg", ...).
        source: "torchvision" (genuine CIFAR, md5-checked), "folder" (ImageFolder tree or
            .tar.gz; its .sha256 is checked) or "synthetic" (tiny generated data for tests).
        root: where the data is (or goes, for torchvision downloads).
        num_classes: 10 or 100.
        cache_dir: decoded splits and the fitted whitening are cached here.
        batch_size, eval_batch_size, augment: training batches of 100 with pad-4 crop + flip, as the paper.
        augmentation: which implementation draws the crops and flips (``AUGMENTATIONS``).
        limit_train, limit_test: keep a class-balanced subset of N images, the same for every seed.
    """

    def __init__(self, name: str, source: str, root: str, num_classes: int = 10, cache_dir: str = ".cache/data",
                 download: bool = False, batch_size: int = 100, eval_batch_size: int = 1000, augment: bool = True,
                 limit_train: int | None = None, limit_test: int | None = None, synthetic_size: int = 32,
                 seed: int = 0, augmentation: str = "kornia") -> None:
        super().__init__()
        if source not in SOURCES:
            raise ValueError(f"dataset.source={source!r} is unknown; allowed: {', '.join(SOURCES)}")
        if augmentation not in AUGMENTATIONS:
            raise ValueError(f"dataset.augmentation={augmentation!r} is unknown; allowed: {', '.join(AUGMENTATIONS)}")
        self.name, self.source, self.root, self.num_classes = name, source, Path(root), num_classes
        self.cache_dir, self.download = Path(cache_dir), download
        self.batch_size, self.eval_batch_size, self.seed = batch_size, eval_batch_size, seed
        self.limits = {"train": limit_train, "test": limit_test}
        self.synthetic_size = synthetic_size
        size = synthetic_size if source == "synthetic" else 32  # an image's side
        self.whiten = GCNZCA(3 * size**2)
        self.augment = None
        if augment and augmentation == "crop_flip":
            self.augment = CropFlip(seed)
        elif augment:
            self.augment = K.AugmentationSequential(K.RandomCrop((size, size), padding=PADDING),
                                                    K.RandomHorizontalFlip())
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.raw: dict = {}
        self.train_batches: DeviceBatches | None = None
        self.resume_position: dict | None = None  # from a checkpoint, for the next train_dataloader()

    # ---- decoding and caching -------------------------------------------------------
    def _cache_key(self) -> str:
        # no seed: every seed of a sweep shares one decoded split and one fitted whitening; generated data reads no
        # root, so runs started in different folders share its cache too
        root = "-" if self.source == "synthetic" else self.root.resolve()
        what = f"{self.name}|{self.source}|{root}|{self.num_classes}|{self.synthetic_size}"
        return f"{self.name}-{hashlib.sha256(what.encode()).hexdigest()[:12]}"

    def _decode(self) -> dict:
        if self.source == "torchvision":
            return load_torchvision(self.name, self.root, self.download)
        if self.source == "folder":
            return load_folder_or_archive(self.root, self.cache_dir)
        return synthetic(256, 128, self.num_classes, self.synthetic_size, seed=0)  # fixed data, like a real dataset

    def _checked_decode(self) -> dict:
        splits = self._decode()
        for split, (_, labels) in splits.items():
            if labels.min() < 0 or labels.max() >= self.num_classes:
                raise DatasetError(f"dataset.root={self.root}: {split} labels outside [0, {self.num_classes})")
        return splits

    def _raw_splits(self) -> dict:
        return load_or_rebuild(self.cache_dir / f"{self._cache_key()}.pt", _load_splits, self._checked_decode,
                               atomic_torch_save)

    def _fitted_whitening(self, train_images: torch.Tensor) -> None:
        state = load_or_rebuild(self.cache_dir / f"{self._cache_key()}-gcnzca.pt", self._load_whitening,
                                lambda: self.whiten.fit(train_images).state_dict(), atomic_torch_save)
        self.whiten.load_state_dict(state)

    def _load_whitening(self, path: Path) -> dict:
        state = torch.load(path)
        self.whiten.load_state_dict(state)  # a state of the wrong shape fails here, and is rebuilt
        return state

    def prepare_data(self) -> None:
        """Decode (or read the cached) splits and check that they make at least one training batch.

        ``ftn.train`` calls this before any wandb run exists, so a bad dataset is one line up front. Lightning
        calls it again before fit and test: a no-op by then."""
        if self.raw or self.splits:
            return
        raw = self._raw_splits()
        n_train = min(len(raw["train"][1]), self.limits["train"] or len(raw["train"][1]))
        if n_train < self.batch_size:
            raise ValueError(f"dataset.limit_train={self.limits['train']} leaves {n_train} training images, fewer "
                             f"than dataset.batch_size={self.batch_size}: 0 training steps; allowed: at least "
                             "batch_size training images")
        self.raw = raw

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.prepare_data()
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        self._fitted_whitening(self.raw["train"][0])  # always on the full training split
        self.whiten.to(device)
        for split, (images, labels) in self.raw.items():
            if self.limits[split] is not None:
                keep = balanced_subset(labels, self.limits[split])
                images, labels = images[keep], labels[keep]
            self.splits[split] = self.whiten(images.to(device)), labels.to(device)
        self.raw = {}  # the uint8 copies are no longer needed

    # ---- loaders --------------------------------------------------------------------
    def train_dataloader(self) -> DeviceBatches:
        self.train_batches = self._new_train_batches()
        if self.resume_position is not None:
            self.train_batches.seek(self.resume_position)
            self.resume_position = None
        return self.train_batches

    # What a pack's data module (ftn.data.packed) replaces: the batches and the augmentation streams of its members.
    def _new_train_batches(self) -> DeviceBatches:
        return DeviceBatches(*self.splits["train"], self.batch_size, shuffle=True, seed=self.seed)

    def _streams(self) -> list[CropFlip]:
        return [self.augment] if isinstance(self.augment, CropFlip) else []

    # the batch order and the crop_flip streams, saved with every checkpoint (see DeviceBatches); kornia's draws come
    # from the global RNG, which the run's checkpoint saves
    def state_dict(self) -> dict:
        state = {"train_position": self.train_batches.position()} if self.train_batches is not None else {}
        if streams := self._streams():
            state["augment"] = [stream.state_dict() for stream in streams]
        return state

    def load_state_dict(self, state: dict) -> None:
        self.resume_position = state.get("train_position")
        for stream, saved in zip(self._streams(), state.get("augment", [])):
            stream.load_state_dict(saved)

    def val_dataloader(self) -> DeviceBatches:  # the paper tracks test error per epoch (figure 5)
        return DeviceBatches(*self.splits["test"], self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DeviceBatches:
        return self.val_dataloader()

    def on_after_batch_transfer(self, batch: tuple[torch.Tensor, torch.Tensor],
                                dataloader_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        if self.augment is not None and self.trainer is not None and self.trainer.training:
            x = self.augment(x)
        return x, y
