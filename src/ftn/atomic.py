"""Files that are either complete or absent: write to a uniquely named temp file beside the target, fsync it, then
rename it.

A unique temp name (not ``<name>.tmp``) lets several processes write the same cache at once; the rename is
atomic on one file system, so a reader, a kill or a crash never sees half a file. A write that fails (a full
disk, a read-only file system) leaves the old file as it was and raises ``OSError`` naming the target.
"""
from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

T = TypeVar("T")

# mkstemp makes its file owner-only; a written file gets the mode an open() would give it (shared storage, caches)
_UMASK = os.umask(0)
os.umask(_UMASK)
# The temp names a writer gives its files: a writer killed between write and rename (SIGKILL) leaves one behind
LEFTOVERS = (".*.tmp", ".*.link")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a fresh temp file in ``path``'s folder, then rename it to ``path``."""
    path, tmp = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_UMASK)
        os.close(fd)
        write(Path(tmp))
        with open(tmp, "rb+") as written:  # on the disk before the rename makes it the file
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno is not None:  # name the file meant, not its temp name
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise


def atomic_copy(source: Path, path: Path) -> None:
    """Copy ``source`` to ``path`` atomically: a reader sees the old file or the whole copy."""
    atomic_write(path, lambda copy: shutil.copyfile(source, copy))


def atomic_link(source: Path, path: Path) -> None:
    """Make ``path`` a hard link to ``source`` (one file, however many folders hold it), replacing what was there
    atomically; a copy where the two are on different file systems."""
    path = Path(path)
    if path.exists() and os.path.samefile(source, path):
        return  # already that file: a rename onto it would leave the temp link behind (POSIX renames nothing)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(path)}.link")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)
        os.link(source, tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno != errno.EXDEV:
            raise OSError(err.errno, err.strerror, str(path)) from err
        atomic_copy(source, path)


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete the temp files that writers killed mid-write left in ``folder`` (not below it); returns them. Only
    where no other process writes: a run's own folders, under its lock (a shared cache's writers run at once)."""
    stale = [p for pattern in LEFTOVERS for p in Path(folder).glob(pattern) if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_torch_save(obj: Any, path: Path) -> None:
    # serialised in memory first: torch's file writer reports a full disk as a RuntimeError without its errno
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getbuffer()))


def load_or_rebuild(path: Path, load: Callable[[Path], T], build: Callable[[], T], save: Callable[[T, Path], None]) -> T:
    """``load(path)`` if it works; otherwise (missing, or corrupt: warned about by name and deleted) ``build()``
    and save it. A cache that fails to load is never fatal: it is only a cache."""
    if path.exists():
        try:
            return load(path)
        except Exception as err:  # truncated, garbage or from an incompatible version: all mean "rebuild"
            warnings.warn(f"cache {path} is unreadable ({type(err).__name__}: {err}); deleting and rebuilding it",
                          stacklevel=2)
            path.unlink(missing_ok=True)
    value = build()
    save(value, path)
    return value


def nearest_existing(path: Path) -> Path:
    """``path`` if it exists, else the nearest folder above it that does."""
    return next(p for p in (path, *path.parents) if p.exists())


def unwritable(folder: Path) -> tuple[Path, str] | None:
    """Whether ``folder`` (or, where it does not exist yet, the nearest folder above it) cannot take a new file:
    None if it can, else that folder and the file system's reason. A probe file, not the mode bits: they do not
    stop root, and a read-only mount stops everyone."""
    existing = nearest_existing(folder)
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as err:
        return existing, err.strerror or type(err).__name__
    return None
