"""The fused LSTM scan as a registered torch op, so torch.compile and torch.export see one opaque node.

Public ops (namespace ``ftn``; import ``ftn.pooling`` to register them):

    torch.ops.ftn.lstm_scan(x, params, negative_slope, block) -> h
    torch.ops.ftn.lstm_scan_backward(x, params, grad_h, negative_slope, block) -> (grad_x, grad_params)
    torch.ops.ftn.lstm_pool2d(x, params, kernel_size, scan, negative_slope, block) -> h   (CPU)
    torch.ops.ftn.lstm_pool2d_backward(x, params, grad_h, kernel_size, scan, negative_slope, block)

``lstm_scan`` takes windows already cut out: x (L, M) time first, h (M,). ``lstm_pool2d`` cuts them itself:
x (B, C, H, W) in any memory format, non-overlapping k x k windows read in ``scan`` order, h (B, C, H // k, W // k)
in x's memory format (channels_last stays channels_last, with no layout copy). params (12, S) (rows: gates i, f,
o, g times w, r, b), float32 or float64. Window j (NCHW order) uses column (j // block) % S: S = 1 is one unit;
block = 1 one unit per position (window j = n * S + s uses column s); block = C_g * H_out * W_out one unit per
group of C_g channels (packs: one unit per member). torch's dispatcher picks the kernel per device: the C kernel on
the CPU, the Triton kernels (``torch.ops.ftn.lstm_scan_triton*``, see triton_kernel.py) on CUDA, where windows are
cut out first. Each backward is an op of its own that recomputes the forward, so nothing but the input is saved.
Under autocast the ops run in float32 (the kernels have no bf16/fp16 variant, and a bf16 recurrence would drift).
"""
from __future__ import annotations

import torch
from torch import Tensor

from . import cpu_kernel, triton_kernel
from .windows import scan_permutation

NAMESPACE = "ftn"


@torch.library.custom_op(f"{NAMESPACE}::lstm_scan", mutates_args=(), device_types="cpu")
def lstm_scan_op(x: Tensor, params: Tensor, negative_slope: float, block: int) -> Tensor:
    # The kernel library is built or loaded here, in the op's eager body: dynamo and export only
    # ever see the fake kernel below, never shutil/os/ctypes.
    return cpu_kernel.forward(x, params.contiguous(), negative_slope, block)


@torch.library.custom_op(f"{NAMESPACE}::lstm_scan_backward", mutates_args=(), device_types="cpu")
def lstm_scan_backward_op(x: Tensor, params: Tensor, grad_h: Tensor, negative_slope: float,
                          block: int) -> tuple[Tensor, Tensor]:
    return cpu_kernel.backward(x, params.contiguous(), grad_h, negative_slope, block)


def _windows(kernel_size: int, scan: str, block: int) -> cpu_kernel.Windows:
    return cpu_kernel.Windows(kernel_size, kernel_size, tuple(scan_permutation(kernel_size, scan).tolist()), block)


@torch.library.custom_op(f"{NAMESPACE}::lstm_pool2d", mutates_args=(), device_types="cpu")
def lstm_pool2d_op(x: Tensor, params: Tensor, kernel_size: int, scan: str, negative_slope: float,
                   block: int) -> Tensor:
    return cpu_kernel.pool_forward(x, params.contiguous(), _windows(kernel_size, scan, block), negative_slope)


@torch.library.custom_op(f"{NAMESPACE}::lstm_pool2d_backward", mutates_args=(), device_types="cpu")
def lstm_pool2d_backward_op(x: Tensor, params: Tensor, grad_h: Tensor, kernel_size: int, scan: str,
                            negative_slope: float, block: int) -> tuple[Tensor, Tensor]:
    return cpu_kernel.pool_backward(x, params.contiguous(), grad_h, _windows(kernel_size, scan, block),
                                    negative_slope)


@lstm_scan_op.register_fake
def _lstm_scan_fake(x: Tensor, params: Tensor, negative_slope: float, block: int) -> Tensor:
    torch._check(x.dim() == 2 and params.dim() == 2 and params.shape[0] == 12,
                 lambda: f"ftn::lstm_scan wants x (L, M) and params (12, S), got {x.shape} and {params.shape}")
    torch._check(block >= 1 and x.shape[1] % (block * params.shape[1]) == 0,
                 lambda: f"ftn::lstm_scan wants M = {x.shape[1]} a multiple of block * S = {block} * {params.shape[1]}")
    return x.new_empty(x.shape[1:])


@lstm_scan_backward_op.register_fake
def _lstm_scan_backward_fake(x: Tensor, params: Tensor, grad_h: Tensor, negative_slope: float,
                             block: int) -> tuple[Tensor, Tensor]:
    # contiguous, whatever the inputs' strides: as the kernels return them (a compiled graph checks it)
    return (torch.empty_like(x, memory_format=torch.contiguous_format),
            torch.empty_like(params, memory_format=torch.contiguous_format))


@lstm_pool2d_op.register_fake
def _lstm_pool2d_fake(x: Tensor, params: Tensor, kernel_size: int, scan: str, negative_slope: float,
                      block: int) -> Tensor:
    torch._check(x.dim() == 4 and params.dim() == 2 and params.shape[0] == 12,
                 lambda: f"ftn::lstm_pool2d wants x (B, C, H, W) and params (12, S), got {x.shape} and {params.shape}")
    b, c, h, w = x.shape
    return cpu_kernel.pooled_like(x, (b, c, h // kernel_size, w // kernel_size))


@lstm_pool2d_backward_op.register_fake
def _lstm_pool2d_backward_fake(x: Tensor, params: Tensor, grad_h: Tensor, kernel_size: int, scan: str,
                               negative_slope: float, block: int) -> tuple[Tensor, Tensor]:
    return cpu_kernel.pooled_like(x, x.shape), torch.empty_like(params, memory_format=torch.contiguous_format)


def register_recompute_autograd(forward_op, backward_op) -> None:
    """Autograd for a (forward, backward) op pair whose inputs are (x, params, *settings): save x and params only,
    the backward op recomputes; the settings get no gradient."""

    def setup_context(ctx, inputs: tuple, output: Tensor) -> None:
        x, params, *settings = inputs
        ctx.save_for_backward(x, params)
        ctx.settings = settings

    def backward(ctx, grad_h: Tensor) -> tuple:
        x, params = ctx.saved_tensors
        grad_x, grad_params = backward_op(x, params, grad_h, *ctx.settings)
        return grad_x, grad_params, *(None for _ in ctx.settings)

    forward_op.register_autograd(backward, setup_context=setup_context)


register_recompute_autograd(lstm_scan_op, torch.ops.ftn.lstm_scan_backward)
register_recompute_autograd(lstm_pool2d_op, torch.ops.ftn.lstm_pool2d_backward)
for _op in (lstm_scan_op, lstm_scan_backward_op, lstm_pool2d_op, lstm_pool2d_backward_op):
    for _device in ("cpu", "cuda"):
        _op.register_autocast(_device, torch.float32)

if triton_kernel.available():
    register_recompute_autograd(triton_kernel.lstm_scan_triton, torch.ops.ftn.lstm_scan_triton_backward)

    @lstm_scan_op.register_kernel("cuda")
    def _lstm_scan_cuda(x: Tensor, params: Tensor, negative_slope: float, block: int) -> Tensor:
        return torch.ops.ftn.lstm_scan_triton(x.contiguous(), params.contiguous(), negative_slope, block)

    @lstm_scan_backward_op.register_kernel("cuda")
    def _lstm_scan_backward_cuda(x: Tensor, params: Tensor, grad_h: Tensor, negative_slope: float,
                                 block: int) -> tuple[Tensor, Tensor]:
        return torch.ops.ftn.lstm_scan_triton_backward(x.contiguous(), params.contiguous(), grad_h.contiguous(),
                                                       negative_slope, block)
