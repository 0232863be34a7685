"""Decode a dataset split once into uint8 tensors: torchvision CIFAR, an ImageFolder tree or its archive.

Every failure is one line naming the path and what was expected.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

import numpy as np
import torch

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")
Split = tuple[torch.Tensor, torch.Tensor]  # images (N, 3, H, W) uint8, labels (N,) int64


class DatasetError(RuntimeError):
    pass


def load_torchvision(name: str, root: Path, download: bool) -> dict[str, Split]:
    from torchvision import datasets

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    out = {}
    for split in SPLITS:
        try:
            ds = cls(str(root), train=split == "train", download=download)
        except RuntimeError as err:  # torchvision: "Dataset not found or corrupted."
            raise DatasetError(f"dataset.root={root}: {name} {split} split missing or failing its md5 check ({err}); "
                               "allowed: a folder torchvision can read, or dataset.download=true") from None
        except OSError as err:  # URLError and friends: no network for the download
            raise DatasetError(f"dataset.root={root}: {name} is not there and downloading it failed ({err}); "
                               f"allowed: the {name} files under dataset.root, or a network connection") from None
        images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        out[split] = images, torch.tensor(ds.targets, dtype=torch.int64)
    return out


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(archive: Path) -> None:
    """Check ``archive`` against the ``<archive>.sha256`` beside it, when there is one."""
    sidecar = archive.with_name(archive.name + ".sha256")
    if sidecar.exists():
        expected = sidecar.read_text().split()[0].lower()
        actual = sha256(archive)
        if actual != expected:
            raise DatasetError(f"dataset.root={archive}: sha256 {actual} does not match {expected} in {sidecar}")


def extract(archive: Path, cache_dir: Path) -> Path:
    """Extract once into ``cache_dir``; safe when several processes start on an empty cache together.

    Each process extracts into its own temp folder and renames it into place; the first rename wins, the others
    drop their copy. A folder without ``.complete`` (an extraction killed by an older version) is replaced.
    """
    target = cache_dir / f"{archive.name}-{sha256(archive)[:12]}"
    if not (target / ".complete").exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{target.name}."))
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
            (tmp / ".complete").touch()
            if target.exists() and not (target / ".complete").exists():
                shutil.rmtree(target, ignore_errors=True)
            os.rename(tmp, target)
        except (tarfile.TarError, EOFError, zlib.error) as err:
            reason = " ".join(str(err).split())  # tarfile's message spans lines; the rejection is one
            raise DatasetError(f"dataset.root={archive}: not a readable tar archive ({reason}); allowed: a complete "
                               ".tar.gz of an ImageFolder tree") from None
        except OSError as err:
            if not (target / ".complete").exists():  # not "another process renamed its copy first"
                raise DatasetError(f"dataset.root={archive}: extracting into {cache_dir} failed ({err})") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    # the ImageFolder root is the folder that holds train/ and test/
    roots = [p.parent for p in target.rglob("train") if (p.parent / "test").is_dir()]
    if not roots:
        raise DatasetError(f"dataset.root={archive}: no folder with train/ and test/ inside; allowed: ImageFolder layout")
    return roots[0]


def load_image_folder(root: Path, classes: tuple[str, ...]) -> dict[str, Split]:
    from PIL import Image

    out = {}
    for split in SPLITS:
        folder = root / split
        found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        if sorted(classes) != found:
            raise DatasetError(f"dataset.root={folder}: class folders {found} do not match the expected {list(classes)}")
        images, labels = [], []
        for label, name in enumerate(classes):  # CIFAR-10's label order, not the folder order
            files = sorted((folder / name).iterdir())
            for file in files:
                try:
                    with Image.open(file) as img:
                        images.append(np.asarray(img.convert("RGB")))
                except OSError as err:
                    raise DatasetError(f"dataset.root={file}: not a readable image ({err})") from None
            labels += [label] * len(files)
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            raise DatasetError(f"dataset.root={folder}: images of different sizes {sorted(shapes)[:3]}; allowed: one size")
        out[split] = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), torch.tensor(labels)
    return out


def load_folder_or_archive(root: Path, cache_dir: Path, classes: tuple[str, ...] = CIFAR10_CLASSES) -> dict[str, Split]:
    if not root.exists():
        where = root if root.is_absolute() else f"{root} (that is {root.resolve()})"
        raise DatasetError(f"dataset.root={where} does not exist; allowed: an ImageFolder tree or a .tar.gz of one "
                           "(dataset=cifar10_jpeg: set FTN_CIFAR10_JPEG)")
    if root.is_file():
        verify_checksum(root)
        root = extract(root, cache_dir)
    return load_image_folder(root, classes)


def synthetic(num_train: int, num_test: int, num_classes: int, size: int, seed: int) -> dict[str, Split]:
    """Tiny generated images whose class shifts the mean colour: learnable, for tests."""
    gen = torch.Generator().manual_seed(seed)
    palette = torch.rand(num_classes, 3, 1, 1, generator=gen) * 160
    out = {}
    for split, n in (("train", num_train), ("test", num_test)):
        labels = torch.randint(num_classes, (n,), generator=gen)
        noise = torch.rand(n, 3, size, size, generator=gen) * 96
        out[split] = (palette[labels] + noise).to(torch.uint8), labels
    return out
