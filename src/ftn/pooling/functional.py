"""Functional LSTM pooling: ``lstm_pool2d`` and the window-free ``lstm_scan``.

``impl`` picks the implementation: "reference" (Python loop + autograd), "fused" (one
kernel pass forward, recomputing backward: C on the CPU, Triton on CUDA) or "auto"
(fused wherever it applies, otherwise the reference).
"""
from __future__ import annotations

import torch

from . import cpu_kernel, triton_kernel
from .reference import lstm_scan_reference
from .windows import extract_windows, output_size

IMPLS = ("auto", "fused", "reference")
_BACKENDS = (cpu_kernel, triton_kernel)


class _FusedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, params, slope, backend):
        ctx.save_for_backward(x, params)
        ctx.slope, ctx.backend = slope, backend
        return backend.forward(x, params, slope)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, params = ctx.saved_tensors
        grad_x, grad_p = ctx.backend.backward(x, params, grad_out.contiguous(), ctx.slope)
        return grad_x, grad_p, None, None


def _fused_backend(x: torch.Tensor, params: torch.Tensor):
    return next((b for b in _BACKENDS if b.supports(x, params)), None)


def lstm_scan(
    x: torch.Tensor, params: torch.Tensor, negative_slope: float = 0.0, impl: str = "auto"
) -> torch.Tensor:
    """One scalar LSTM unit over the leading axis of ``x``; returns the last h.

    Args:
        x: (L, *batch, *positions), time first.
        params: (4, 3) for one unit, or (4, 3, *positions) for one unit per position
            (positions = the trailing dims of ``x``). Rows: gates i, f, o, modulation g;
            columns: w, r, b.
        negative_slope: slope of the leaky ReLU modulations (0 = ReLU).
        impl: "auto", "fused" or "reference".

    Returns:
        (*batch, *positions).
    """
    if impl not in IMPLS:
        raise ValueError(f"impl={impl!r} is not an implementation; allowed: {', '.join(IMPLS)}")
    pos = tuple(params.shape[2:])
    if params.shape[:2] != (4, 3) or (pos and tuple(x.shape[x.dim() - len(pos):]) != pos):
        allowed = f"(4, 3) or (4, 3, *trailing dims of the input {tuple(x.shape[1:])})"
        raise ValueError(f"params has shape {tuple(params.shape)}; allowed: {allowed}")
    backend = None if impl == "reference" else _fused_backend(x, params)
    if backend is None:
        if impl == "fused":
            raise ValueError(
                f"impl='fused' does not cover a {x.dtype} input on {x.device} with {params.dtype} params; "
                "allowed: float32/float64 on the CPU with a C compiler, or CUDA with Triton"
            )
        return lstm_scan_reference(x, params, negative_slope)
    size = params[0, 0].numel()
    seq = x.reshape(x.shape[0], -1).contiguous()
    h = _FusedScan.apply(seq, params.reshape(12, size).contiguous(), float(negative_slope), backend)
    return h.view(x.shape[1:])


def lstm_pool2d(
    input: torch.Tensor,
    params: torch.Tensor,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    negative_slope: float = 0.0,
    scan: str = "row",
    impl: str = "auto",
) -> torch.Tensor:
    """Pool every k x k window (zero-padded) with a scalar LSTM read in ``scan`` order.

    Args:
        input: (B, C, H, W).
        params: (4, 3), one unit for every channel and window, or (4, 3, H_out, W_out),
            one unit per window position (FTN architecture 1).
        kernel_size, stride (default: kernel_size), padding: as ``nn.MaxPool2d``.
        negative_slope: slope of the leaky ReLU modulations (0 = ReLU).
        scan: "row" (the paper's), "column", "snake" or "row_reversed".
        impl: "auto", "fused" or "reference".

    Returns:
        (B, C, H_out, W_out), H_out = floor((H + 2 * padding - kernel_size) / stride) + 1.
    """
    stride = kernel_size if stride is None else stride
    windows = extract_windows(input, kernel_size, stride, padding, scan)
    return lstm_scan(windows, params, negative_slope, impl)


__all__ = ["lstm_pool2d", "lstm_scan", "output_size", "IMPLS"]
