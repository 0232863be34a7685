"""Build and call the fused CPU kernel (_lstm_scan_cpu.c).

Why plain C through ctypes: a C compiler is on virtually every Linux machine, the
file builds in about a second with no torch headers (a torch C++ extension takes a
minute), and gcc vectorises the sigmoid's exp through glibc's libmvec. The shared
library is cached per source, flags and CPU; without a compiler ``available()`` is
False and the reference implementation is used. ops.py registers forward and backward
as the CPU kernels of ``torch.ops.ftn.lstm_scan``.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import torch

SOURCE = Path(__file__).with_name("_lstm_scan_cpu.c")
FLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC", "-std=c11"]
# -ffast-math lets gcc vectorise the loops; -fno-finite-math-only keeps NaN and inf semantics, so a
# NaN input or parameter gives NaN as in the reference (the C source declares libmvec's vector exp,
# which glibc hides without finite math). Applied when compiling only, never when linking, because
# gcc 12 then links crtfastmath.o, which flushes denormals process-wide.
COMPILE_ONLY = ["-ffast-math", "-fno-finite-math-only"]
VARIANTS = {torch.float32: ("float", "expf", "80.0f", "_f32"), torch.float64: ("double", "exp", "700.0", "_f64")}


def _cache_dir() -> Path:
    root = os.environ.get("FTN_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "ftn")
    return Path(root) / "kernels"


def _cpu_signature() -> str:
    try:  # the binary is -march=native: a home shared by different CPUs needs one build per CPU
        return next(l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("flags"))
    except (OSError, StopIteration):
        return platform.processor()


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


@functools.lru_cache(maxsize=None)
def _library() -> ctypes.CDLL | None:
    cc = _compiler()
    if cc is None:
        return None
    key = hashlib.sha256("\n".join([SOURCE.read_text(), cc, *FLAGS, *COMPILE_ONLY, _cpu_signature()]).encode())
    target = _cache_dir() / f"lstm_scan_{key.hexdigest()[:16]}.so"
    if not target.exists():
        try:
            _build(cc, target)
        except (OSError, subprocess.CalledProcessError) as err:
            warnings.warn(f"ftn: building the fused CPU kernel with {cc} failed ({err}); using the reference")
            return None
    return ctypes.CDLL(str(target))


def _build(cc: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        objects = []
        for real, exp, limit, suffix in VARIANTS.values():
            obj = os.path.join(tmp, f"k{suffix}.o")
            defines = [f"-DREAL={real}", f"-DEXP={exp}", f"-DEXP_LIMIT={limit}", f"-DSUFFIX={suffix}"]
            subprocess.run([cc, *FLAGS, *COMPILE_ONLY, *defines, "-c", str(SOURCE), "-o", obj],
                           check=True, capture_output=True)
            objects.append(obj)
        partial = os.path.join(tmp, "lib.so")
        subprocess.run([cc, *FLAGS, "-shared", *objects, "-o", partial, "-lm"], check=True, capture_output=True)
        os.replace(partial, target)  # atomic: concurrent runs never load a half-written file


def build_seconds() -> float:
    """Time one build from scratch (into a temporary folder), for the benchmarks to report."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        _build(_compiler(), Path(tmp) / "lstm_scan.so")
    return time.perf_counter() - start


# Dynamo calls it once at trace time instead of tracing the build (shutil, os.stat, ctypes).
@torch.compiler.assume_constant_result
def available() -> bool:
    return _library() is not None


def _ptr(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


CHUNK = 256  # windows per chunk, as in the C source


def _threads(windows: int) -> int:
    # A parallel region for a few chunks costs more than it saves: our OpenMP runtime's
    # workers wait for cores held by torch's spinning ones.
    return max(1, min(torch.get_num_threads(), windows // (4 * CHUNK)))


def _entry(name: str, dtype: torch.dtype) -> tuple[Callable[..., None], type]:
    """The C function for ``dtype`` and the ctypes type of its REAL arguments."""
    real = ctypes.c_float if dtype == torch.float32 else ctypes.c_double
    return getattr(_library(), name + VARIANTS[dtype][3]), real


def forward(x: torch.Tensor, params: torch.Tensor, slope: float, block: int) -> torch.Tensor:
    """x (L, M) contiguous, params (12, S) contiguous -> h (M,); window j uses column (j // block) % S."""
    length, m = x.shape
    out = x.new_empty(m)
    fn, real = _entry("lstm_scan_forward", x.dtype)
    fn(_ptr(x), _ptr(params), _ptr(out), ctypes.c_long(length), ctypes.c_long(m),
       ctypes.c_long(params.shape[1]), ctypes.c_long(block), real(slope), ctypes.c_int(_threads(m)))
    return out


def backward(x: torch.Tensor, params: torch.Tensor, grad_out: torch.Tensor,
             slope: float, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of sum(grad_out * h) w.r.t. x (L, M) and params (12, S)."""
    length, m = x.shape
    threads = _threads(m)
    grad_x = torch.empty_like(x)
    grad_p = torch.zeros(threads, *params.shape, dtype=torch.float64)
    fn, real = _entry("lstm_scan_backward", x.dtype)
    fn(_ptr(x), _ptr(params), _ptr(grad_out), _ptr(grad_x), _ptr(grad_p), ctypes.c_long(length),
       ctypes.c_long(m), ctypes.c_long(params.shape[1]), ctypes.c_long(block), real(slope), ctypes.c_int(threads))
    return grad_x, grad_p.sum(0).to(params.dtype)
