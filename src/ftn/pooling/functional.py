"""Functional LSTM pooling: ``lstm_pool2d`` and the window-free ``lstm_scan``.

``impl`` picks the implementation: "reference" (Python loop + autograd), "fused" (the
registered op ``torch.ops.ftn.lstm_scan``: one kernel pass forward, recomputing backward;
C on the CPU, Triton on CUDA) or "auto" (fused wherever it applies, otherwise the
reference). ``resolved_impl`` names the one that runs.
"""
from __future__ import annotations

import torch

from . import cpu_kernel, ops, triton_kernel
from .reference import lstm_scan_reference
from .windows import SCANS, check_geometry, extract_windows, output_size

IMPLS = ("auto", "fused", "reference")
RESOLVED = ("fused-cpu", "fused-triton", "reference")
KERNEL_DTYPES = (torch.float32, torch.float64)


def _kernel_dtype(t: torch.Tensor) -> torch.dtype:
    """The dtype the op computes in: its autocast rule runs every non-float64 input in float32."""
    if t.dtype != torch.float64 and t.is_floating_point() and torch.is_autocast_enabled(t.device.type):
        return torch.float32
    return t.dtype


def check_impl(impl: str) -> None:
    if impl not in IMPLS:
        raise ValueError(f"impl={impl!r} is not an implementation; allowed: {', '.join(IMPLS)}")


def resolved_impl(x: torch.Tensor, params: torch.Tensor, impl: str = "auto") -> str:
    """The implementation ``lstm_scan``/``lstm_pool2d`` run for these tensors, in the current autocast state.

    Returns one of ``RESOLVED``: "fused-cpu" (the C kernel), "fused-triton" (CUDA) or "reference" (the Python loop).
    Raises the one-line ``impl='fused'`` error where the fused op does not apply.
    """
    check_impl(impl)
    if impl == "reference":
        return "reference"
    dtype = _kernel_dtype(x)
    if dtype in KERNEL_DTYPES and _kernel_dtype(params) == dtype and params.device == x.device:
        if x.device.type == "cpu" and cpu_kernel.available():
            return "fused-cpu"
        if x.device.type == "cuda" and triton_kernel.available():
            return "fused-triton"
    if impl == "fused":
        raise ValueError(
            f"impl='fused' does not cover a {x.dtype} input on {x.device} with {params.dtype} params; "
            "allowed: float32/float64 (or any float under autocast) on the CPU with a C compiler, or CUDA with Triton"
        )
    return "reference"


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
        (*batch, *positions); float32 when the fused op runs under autocast.
    """
    check_impl(impl)
    pos = tuple(params.shape[2:])
    if params.shape[:2] != (4, 3) or (pos and tuple(x.shape[x.dim() - len(pos):]) != pos):
        allowed = f"(4, 3) or (4, 3, *trailing dims of the input {tuple(x.shape[1:])})"
        raise ValueError(f"params has shape {tuple(params.shape)}; allowed: {allowed}")
    if resolved_impl(x, params, impl) == "reference":
        return lstm_scan_reference(x, params, negative_slope)
    # One op for every device: torch's dispatcher picks the C or the Triton kernel.
    h = ops.lstm_scan_op(x.reshape(x.shape[0], -1), params.reshape(12, -1), float(negative_slope), 1)
    return h.view(x.shape[1:])


def _grouped_scan(windows: torch.Tensor, params: torch.Tensor, negative_slope: float, impl: str) -> torch.Tensor:
    """(L, B, C, H_out, W_out) windows, (G, 4, 3) units, channel c using unit c // (C // G) -> (B, C, H_out, W_out)."""
    if resolved_impl(windows, params, impl) == "reference":
        groups, channels = params.shape[0], windows.shape[2]
        per_channel = params.repeat_interleave(channels // groups, dim=0)  # (C, 4, 3)
        return lstm_scan_reference(windows, per_channel.permute(1, 2, 0)[..., None, None], negative_slope)
    flat, block = _unit_columns(params, *windows.shape[2:])
    h = ops.lstm_scan_op(windows.reshape(windows.shape[0], -1), flat, float(negative_slope), block)
    return h.view(windows.shape[1:])


def _check_units(params: torch.Tensor, channels: int, out_h: int, out_w: int) -> None:
    if params.dim() == 3:
        if params.shape[1:] != (4, 3) or channels % params.shape[0]:
            raise ValueError(f"params has shape {tuple(params.shape)}; allowed: (G, 4, 3) with G dividing the "
                             f"input's {channels} channels")
    elif params.shape not in ((4, 3), (4, 3, out_h, out_w)):
        raise ValueError(f"params has shape {tuple(params.shape)}; allowed: (4, 3), (4, 3, {out_h}, {out_w}) "
                         "(one unit per output position) or (G, 4, 3)")


def _unit_columns(params: torch.Tensor, channels: int, out_h: int, out_w: int) -> tuple[torch.Tensor, int]:
    """The units as the kernels' (12, S) block and the block size: window j (NCHW order) uses column
    (j // block) % S. One unit: S = 1; one per position: S = H_out * W_out; G groups: block = C / G * H_out * W_out,
    as a group's windows are consecutive."""
    if params.dim() == 3:
        return params.reshape(params.shape[0], 12).t().contiguous(), channels // params.shape[0] * out_h * out_w
    return params.reshape(12, -1), 1


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
        input: (B, C, H, W), contiguous or channels_last.
        params: (4, 3), one unit for every channel and window; (4, 3, H_out, W_out), one unit per window
            position (FTN architecture 1); or (G, 4, 3), G units for G equal groups of consecutive channels
            (channel c uses unit c // (C // G): a pack's members, each its own unit).
        kernel_size, stride (default: kernel_size), padding: as ``nn.MaxPool2d``.
        negative_slope: slope of the leaky ReLU modulations (0 = ReLU).
        scan: "row" (the paper's), "column", "snake" or "row_reversed".
        impl: "auto", "fused" or "reference".

    Returns:
        (B, C, H_out, W_out), H_out = floor((H + 2 * padding - kernel_size) / stride) + 1; in the input's memory
        format where the fused CPU kernel reads the input directly (non-overlapping windows, no padding).

    Example:
        >>> import torch
        >>> from ftn.pooling import init_params, lstm_pool2d
        >>> x = torch.rand(2, 3, 8, 8)
        >>> unit = init_params("avg_exact", seq_len=4)  # (4, 3): one unit that averages its 2x2 windows
        >>> out = lstm_pool2d(x, unit, kernel_size=2)
        >>> out.shape
        torch.Size([2, 3, 4, 4])
        >>> torch.allclose(out, torch.nn.functional.avg_pool2d(x, 2), atol=1e-6)
        True
        >>> lstm_pool2d(x, unit, kernel_size=3, stride=2, padding=1).shape  # overlapping, zero-padded windows
        torch.Size([2, 3, 4, 4])
        >>> lstm_pool2d(x, torch.stack([unit] * 3), kernel_size=2).shape  # (G, 4, 3): a unit per channel
        torch.Size([2, 3, 4, 4])
    """
    stride = kernel_size if stride is None else stride
    check_impl(impl)
    if input.dim() == 4:
        check_geometry(*input.shape[2:], kernel_size, stride, padding)
        _check_units(params, input.shape[1], *(output_size(n, kernel_size, stride, padding) for n in input.shape[2:]))
    direct = stride == kernel_size and padding == 0 and scan in SCANS
    if direct and input.dim() == 4 and resolved_impl(input, params, impl) == "fused-cpu":
        # the kernel reads the windows through the input's strides: no copy into a window layout, either way
        flat, block = _unit_columns(params, input.shape[1], input.shape[2] // kernel_size, input.shape[3] // kernel_size)
        return ops.lstm_pool2d_op(input, flat, kernel_size, scan, float(negative_slope), block)
    windows = extract_windows(input, kernel_size, stride, padding, scan)
    if params.dim() == 3:
        return _grouped_scan(windows, params, negative_slope, impl)
    return lstm_scan(windows, params, negative_slope, impl)


__all__ = ["IMPLS", "RESOLVED", "lstm_pool2d", "lstm_scan", "resolved_impl"]
