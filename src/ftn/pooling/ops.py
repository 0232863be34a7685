"""The fused LSTM scan as a registered torch op, so torch.compile and torch.export see one opaque node.

Public ops (namespace ``ftn``; import ``ftn.pooling`` to register them):

    torch.ops.ftn.lstm_scan(x, params, negative_slope, block) -> h
    torch.ops.ftn.lstm_scan_backward(x, params, grad_h, negative_slope, block) -> (grad_x, grad_params)

with x (L, M) time first, params (12, S) (rows: gates i, f, o, g times w, r, b), h (M,), float32 or
float64. Window j uses column (j // block) % S, and M % (block * S) == 0: S = 1 is one unit; block = 1
one unit per position (window j = n * S + s uses column s); block = C_g * H_out * W_out one unit per
group of C_g channels (packs: one unit per member). torch's
dispatcher picks the kernel per device: the C kernel on the CPU, the Triton kernels
(``torch.ops.ftn.lstm_scan_triton*``, see triton_kernel.py) on CUDA. The backward is an op of its
own that recomputes the forward, so nothing but the input is saved. Under autocast both ops run
in float32 (the kernels have no bf16/fp16 variant, and a bf16 recurrence would drift anyway).
"""
from __future__ import annotations

import torch
from torch import Tensor

from . import cpu_kernel, triton_kernel

NAMESPACE = "ftn"


@torch.library.custom_op(f"{NAMESPACE}::lstm_scan", mutates_args=(), device_types="cpu")
def lstm_scan_op(x: Tensor, params: Tensor, negative_slope: float, block: int) -> Tensor:
    # The kernel library is built or loaded here, in the op's eager body: dynamo and export only
    # ever see the fake kernel below, never shutil/os/ctypes.
    return cpu_kernel.forward(x.contiguous(), params.contiguous(), negative_slope, block)


@torch.library.custom_op(f"{NAMESPACE}::lstm_scan_backward", mutates_args=(), device_types="cpu")
def lstm_scan_backward_op(x: Tensor, params: Tensor, grad_h: Tensor, negative_slope: float,
                          block: int) -> tuple[Tensor, Tensor]:
    return cpu_kernel.backward(x.contiguous(), params.contiguous(), grad_h.contiguous(), negative_slope, block)


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


def register_recompute_autograd(forward_op, backward_op) -> None:
    """Autograd for a (forward, backward) op pair: save the inputs only, the backward op recomputes."""

    def setup_context(ctx, inputs: tuple, output: Tensor) -> None:
        x, params, negative_slope, block = inputs
        ctx.save_for_backward(x, params)
        ctx.negative_slope, ctx.block = negative_slope, block

    def backward(ctx, grad_h: Tensor) -> tuple[Tensor, Tensor, None, None]:
        x, params = ctx.saved_tensors
        grad_x, grad_params = backward_op(x, params, grad_h, ctx.negative_slope, ctx.block)
        return grad_x, grad_params, None, None

    forward_op.register_autograd(backward, setup_context=setup_context)


register_recompute_autograd(lstm_scan_op, torch.ops.ftn.lstm_scan_backward)
for _device in ("cpu", "cuda"):
    lstm_scan_op.register_autocast(_device, torch.float32)
    lstm_scan_backward_op.register_autocast(_device, torch.float32)

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
