"""Data: whitening against numpy, every source on generated files, and one-line errors."""
import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ftn.data.cifar import CifarData
from ftn.data.preprocess import GCNZCA
from ftn.data.sources import CIFAR10_CLASSES, DatasetError, load_folder_or_archive, load_torchvision


def numpy_gcn_zca(train, x, eps=0.1):
    def gcn(a):
        a = a.reshape(len(a), -1).astype(np.float64) / 255
        a = a - a.mean(1, keepdims=True)
        return 55 * a / np.linalg.norm(a, axis=1, keepdims=True)
    t = gcn(train)
    mu = t.mean(0)
    lam, u = np.linalg.eigh((t - mu).T @ (t - mu) / len(t))
    return (gcn(x) - mu) @ (u @ np.diag(1 / np.sqrt(lam + eps)) @ u.T)


def test_gcn_zca_matches_numpy_and_whitens():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (2000, 3, 4, 4), dtype=np.uint8)
    test = rng.integers(0, 256, (50, 3, 4, 4), dtype=np.uint8)
    zca = GCNZCA(48).fit(torch.from_numpy(train))
    np.testing.assert_allclose(zca(torch.from_numpy(test)).reshape(50, -1).numpy(), numpy_gcn_zca(train, test),
                               atol=1e-4)
    white = zca(torch.from_numpy(train)).reshape(2000, -1).double()
    cov = torch.cov(white.T, correction=0)
    # eps=0.1 shrinks each direction by lambda / (lambda + 0.1); the GCN mean removal leaves one null direction
    eig = torch.linalg.eigvalsh(cov)
    assert (eig[1:] > 0.8).all() and (eig < 1.0 + 1e-6).all() and eig[0] < 1e-6
    assert set(dict(zca.named_buffers())) == {"mean", "transform"}


def write_fake_cifar10(root: Path, n: int = 20) -> list:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    md5 = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": list(rng.integers(0, 10, n))}
        (folder / name).write_bytes(pickle.dumps(batch))
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    meta = {"label_names": list(CIFAR10_CLASSES)}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    md5["batches.meta"] = hashlib.md5((folder / "batches.meta").read_bytes()).hexdigest()
    return md5


def test_torchvision_cifar_path_on_generated_files(tmp_path, monkeypatch):
    from torchvision import datasets

    md5 = write_fake_cifar10(tmp_path)
    # torchvision checks the real files' md5 sums: point it at the generated files' sums
    monkeypatch.setattr(datasets.CIFAR10, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(datasets.CIFAR10, "meta", {**datasets.CIFAR10.meta, "md5": md5["batches.meta"]})
    splits = load_torchvision("cifar10", tmp_path, download=False)
    assert splits["train"][0].shape == (100, 3, 32, 32) and splits["test"][0].dtype == torch.uint8
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"corrupt")
    with pytest.raises(DatasetError, match=f"dataset.root={tmp_path}"):
        load_torchvision("cifar10", tmp_path, download=False)


def write_image_folder_archive(tmp_path: Path, classes=CIFAR10_CLASSES, per_class=2) -> Path:
    archive = tmp_path / "tiny.tar.gz"
    rng = np.random.default_rng(1)
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            for c in classes:
                for i in range(per_class):
                    buf = io.BytesIO()
                    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "JPEG")
                    info = tarfile.TarInfo(f"cifar/{split}/{c}/{i:04d}.jpg")
                    info.size = buf.tell()
                    buf.seek(0)
                    tar.addfile(info, buf)
    (tmp_path / "tiny.tar.gz.sha256").write_text(hashlib.sha256(archive.read_bytes()).hexdigest() + "  tiny.tar.gz\n")
    return archive


def test_image_folder_archive_in_cifar_label_order(tmp_path):
    splits = load_folder_or_archive(write_image_folder_archive(tmp_path), tmp_path / "cache")
    images, labels = splits["train"]
    assert images.shape == (20, 3, 32, 32) and labels.tolist() == [i // 2 for i in range(20)]


def test_archive_errors_name_the_path(tmp_path):
    archive = write_image_folder_archive(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_folder_or_archive(tmp_path / "missing.tar.gz", tmp_path / "cache")
    (tmp_path / "tiny.tar.gz.sha256").write_text("0" * 64)
    with pytest.raises(DatasetError, match=r"tiny.tar.gz: sha256 .* does not match"):
        load_folder_or_archive(archive, tmp_path / "cache")
    other = tmp_path / "other"
    other.mkdir()
    wrong = write_image_folder_archive(other, classes=("cat", "dog"), per_class=1)
    with pytest.raises(DatasetError, match=r"class folders \['cat', 'dog'\] do not match"):
        load_folder_or_archive(wrong, tmp_path / "cache2")


def test_datamodule_batches_live_on_the_device_and_augment(tmp_path):
    dm = CifarData("synthetic", "synthetic", ".", cache_dir=str(tmp_path), batch_size=16)
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (16,)
    assert len(dm.train_dataloader()) == 256 // 16 and len(dm.val_dataloader()) == 1
    assert (tmp_path / f"{dm._cache_key()}.pt").exists() and (tmp_path / f"{dm._cache_key()}-gcnzca.pt").exists()
    augmented = dm.augment(x)
    assert augmented.shape == x.shape and not torch.equal(augmented, x)


def test_sequences_group_batches_and_mix_sparsity():
    from ftn.data.sequences import SequenceData

    dm = SequenceData(seq_len=9, batch_size=8, train_batches=40, eval_batches=20, eval_chunk=10,
                      zero_fractions=(0.0, 0.8), steps_per_item=4, seed=3)
    items = list(dm.train_dataloader())
    assert len(items) == 10 and items[0].shape == (4, 8, 9)
    zeros = torch.cat(items).eq(0).float().mean((1, 2))
    assert ((zeros < 0.05) | ((zeros > 0.6) & (zeros < 0.95))).all() and zeros.max() > 0.6 and zeros.min() < 0.05
    t1, t2, t3 = (next(iter(loader)) for loader in dm.test_dataloader())
    assert t1.shape == (1, 80, 9) and t1.eq(0).float().mean() < 0.01
    assert 0.4 < t2.eq(0).float().mean() < 0.6 and 0.7 < t3.eq(0).float().mean() < 0.9
    with pytest.raises(ValueError, match="dataset.train_batches=10 is not a multiple of 4"):
        SequenceData(seq_len=4, train_batches=10, steps_per_item=4)


def test_crop_flip_crops_the_padded_image_at_each_offset():
    from ftn.data.augment import crop_flip

    torch.manual_seed(0)
    images = torch.randn(6, 3, 5, 7)
    offsets = torch.tensor([[0, 0], [8, 8], [4, 4], [2, 7], [4, 4], [8, 0]])
    flips = torch.tensor([False, True, False, True, True, False])
    out = crop_flip(images, offsets, flips, 4)
    padded = torch.zeros(6, 3, 13, 15)
    padded[:, :, 4:9, 4:11] = images
    for image, (dy, dx), flip, got in zip(padded, offsets.tolist(), flips, out):
        expected = image[:, dy:dy + 5, dx:dx + 7]
        assert torch.equal(got, expected.flip(-1) if flip else expected)


def test_crop_flip_streams_are_their_seeds_own_and_resume():
    from ftn.data.augment import CropFlip

    images = torch.randn(32, 3, 8, 8)
    a, b, other = CropFlip(3), CropFlip(3), CropFlip(4)
    first = a(images)
    assert torch.equal(first, b(images)) and not torch.equal(first, other(images))
    saved = a.state_dict()
    continued = a(images)
    resumed = CropFlip(0)
    resumed.load_state_dict(saved)
    assert torch.equal(resumed(images), continued)


def test_the_datamodule_saves_its_own_augmentation_stream(tmp_path):
    from ftn.data.augment import CropFlip

    dm = CifarData("synthetic", "synthetic", ".", cache_dir=str(tmp_path), batch_size=16, augmentation="crop_flip",
                   seed=5)
    assert isinstance(dm.augment, CropFlip)
    x = torch.randn(4, 3, 32, 32)
    dm.augment(x)
    state = dm.state_dict()
    again = CifarData("synthetic", "synthetic", ".", cache_dir=str(tmp_path), batch_size=16,
                      augmentation="crop_flip", seed=5)
    again.load_state_dict(state)
    assert torch.equal(again.augment(x), dm.augment(x))
    with pytest.raises(ValueError, match="dataset.augmentation='albumentations' is unknown; allowed: kornia"):
        CifarData("synthetic", "synthetic", ".", augmentation="albumentations")
