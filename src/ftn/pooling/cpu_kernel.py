"""Build and call the fused CPU kernel (_lstm_scan_cpu.c).

Why plain C through ctypes: a C compiler is on virtually every Linux machine, the
file builds in about a second with no torch headers (a torch C++ extension takes a
minute), and gcc vectorises the sigmoid's exp through glibc's libmvec. The shared
library is cached per source, flags and CPU in $FTN_KERNEL_CACHE (default
~/.cache/ftn/kernels; the data cache is another, $FTN_CACHE); without a compiler
``available()`` is False and the reference implementation is used. ops.py registers
forward and backward as the CPU kernels of ``torch.ops.ftn.lstm_scan``.
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
from typing import Callable, NamedTuple

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
    return Path(os.environ.get("FTN_KERNEL_CACHE") or Path.home() / ".cache" / "ftn" / "kernels")


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


def _longs(values) -> ctypes.Array:
    return (ctypes.c_long * len(values))(*values)


def _threads(windows: int) -> int:
    # A parallel region for a few chunks costs more than it saves: our OpenMP runtime's
    # workers wait for cores held by torch's spinning ones.
    return max(1, min(torch.get_num_threads(), windows // 1024))


def _entry(name: str, dtype: torch.dtype) -> tuple[Callable[..., None], type]:
    """The C function for ``dtype`` and the ctypes type of its REAL arguments."""
    real = ctypes.c_float if dtype == torch.float32 else ctypes.c_double
    return getattr(_library(), name + VARIANTS[dtype][3]), real


class Windows(NamedTuple):
    """Non-overlapping ``kh`` x ``kw`` windows of a (B, C, H, W) tensor, read in the order ``perm`` (row-major
    positions), and the unit layout: window j (NCHW order) uses parameter column (j // block) % S."""
    kh: int
    kw: int
    perm: tuple[int, ...]
    block: int

    def output_shape(self, x: torch.Tensor) -> tuple[int, int, int, int]:
        b, c, h, w = x.shape
        return b, c, h // self.kh, w // self.kw

    def args(self, x: torch.Tensor, params: torch.Tensor) -> tuple:
        b, c, ho, wo = self.output_shape(x)
        return (*(ctypes.c_long(v) for v in (b, c, ho, wo, self.kh, self.kw)), _longs(self.perm),
                ctypes.c_long(params.shape[1]), ctypes.c_long(self.block))


def pooled_like(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """An empty output in the input's memory format (channels_last stays channels_last): the fake kernel's rule."""
    channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.empty(shape, dtype=x.dtype, device=x.device,
                       memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def pool_forward(x: torch.Tensor, params: torch.Tensor, windows: Windows, slope: float) -> torch.Tensor:
    """x (B, C, H, W), any strides; params (12, S) contiguous -> h (B, C, H // kh, W // kw) in x's memory format."""
    out = pooled_like(x, windows.output_shape(x))
    fn, real = _entry("lstm_pool_forward", x.dtype)
    fn(_ptr(x), _ptr(params), _ptr(out), *windows.args(x, params), real(slope), _longs(x.stride()),
       _longs(out.stride()), ctypes.c_int(_threads(out.numel())))
    return out


def pool_backward(x: torch.Tensor, params: torch.Tensor, grad_out: torch.Tensor, windows: Windows,
                  slope: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of sum(grad_out * h) w.r.t. x (in x's memory format) and params (12, S)."""
    covered = x.shape[2] % windows.kh == 0 and x.shape[3] % windows.kw == 0
    grad_x = pooled_like(x, x.shape)
    if not covered:
        grad_x.zero_()  # the border no window reads gets no gradient
    threads = _threads(grad_out.numel())
    grad_p = torch.zeros(threads, *params.shape, dtype=torch.float64)
    fn, real = _entry("lstm_pool_backward", x.dtype)
    fn(_ptr(x), _ptr(params), _ptr(grad_out), _ptr(grad_x), _ptr(grad_p), *windows.args(x, params), real(slope),
       _longs(x.stride()), _longs(grad_out.stride()), _longs(grad_x.stride()), ctypes.c_int(threads))
    return grad_x, grad_p.sum(0).to(params.dtype)


def _as_windows(x: torch.Tensor, block: int) -> tuple[torch.Tensor, Windows]:
    """The (L, M) layout of ``lstm_scan`` as pooling: (1, M, L, 1) with one L x 1 window per channel."""
    length = x.shape[0]
    return x.t().reshape(1, x.shape[1], length, 1), Windows(length, 1, tuple(range(length)), block)


def forward(x: torch.Tensor, params: torch.Tensor, slope: float, block: int) -> torch.Tensor:
    """x (L, M), params (12, S) contiguous -> h (M,); window j uses column (j // block) % S."""
    image, windows = _as_windows(x, block)
    return pool_forward(image, params, windows, slope).view(-1)


def backward(x: torch.Tensor, params: torch.Tensor, grad_out: torch.Tensor,
             slope: float, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of sum(grad_out * h) w.r.t. x (L, M) and params (12, S)."""
    image, windows = _as_windows(x, block)
    grad_image, grad_p = pool_backward(image, params, grad_out.view(1, -1, 1, 1), windows, slope)
    return grad_image.reshape(x.shape[1], x.shape[0]).t(), grad_p
