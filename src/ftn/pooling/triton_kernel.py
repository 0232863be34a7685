"""Fused LSTM recurrence for CUDA, in Triton: the CUDA kernels of ``torch.ops.ftn.lstm_scan``.

x is (L, M) contiguous, params (12, S); window j uses parameter column (j // D) % S (see ops.py). Each
program owns BLOCK windows and runs all L steps in registers. The backward first
replays the forward into transient (L, M) buffers of h_{t-1} and c_{t-1}, then runs the
reverse sweep; nothing but the input is kept between forward and backward. Parameter
gradients are reduced per program and added atomically.

The two launches are registered with ``torch.library.triton_op`` as
``torch.ops.ftn.lstm_scan_triton`` and ``torch.ops.ftn.lstm_scan_triton_backward`` (kernels
launched through ``wrap_triton``, so torch.compile can see them when they are called directly);
ops.py makes them the CUDA kernels of ``ftn::lstm_scan``. Under TRITON_INTERPRET=1 the same
ops run eagerly on CPU tensors (the interpreted kernels are launched unwrapped), which
is how the tests check them without a GPU; their fake kernels (the traced bodies) need a GPU.
"""
from __future__ import annotations

import os

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only torch builds ship no Triton
    triton = None

BLOCK = 128


def available() -> bool:
    return triton is not None


if triton is not None:

    @triton.jit
    def _leaky(z, slope) -> tl.tensor:
        return tl.where(z > 0, z, slope * z)

    @triton.jit
    def _load_params(p_ptr, s, S, mask) -> tuple[tl.tensor, ...]:
        """The 12 parameters of each window's unit: loop-invariant, so loaded once per program."""
        return (tl.load(p_ptr + 0 * S + s, mask=mask), tl.load(p_ptr + 1 * S + s, mask=mask),
                tl.load(p_ptr + 2 * S + s, mask=mask), tl.load(p_ptr + 3 * S + s, mask=mask),
                tl.load(p_ptr + 4 * S + s, mask=mask), tl.load(p_ptr + 5 * S + s, mask=mask),
                tl.load(p_ptr + 6 * S + s, mask=mask), tl.load(p_ptr + 7 * S + s, mask=mask),
                tl.load(p_ptr + 8 * S + s, mask=mask), tl.load(p_ptr + 9 * S + s, mask=mask),
                tl.load(p_ptr + 10 * S + s, mask=mask), tl.load(p_ptr + 11 * S + s, mask=mask))

    @triton.jit
    def _gates(w_i, r_i, b_i, w_f, r_f, b_f, w_o, r_o, b_o, w_g, r_g, b_g, xv, hv) -> tuple[tl.tensor, ...]:
        i = tl.sigmoid(w_i * xv + r_i * hv + b_i)
        f = tl.sigmoid(w_f * xv + r_f * hv + b_f)
        o = tl.sigmoid(w_o * xv + r_o * hv + b_o)
        return i, f, o, w_g * xv + r_g * hv + b_g

    @triton.jit
    def _program_windows(M, S, D, slope_ptr, BLOCK: tl.constexpr) -> tuple[tl.tensor, ...]:
        """This program's windows j, their mask, their parameter column s, and the slope."""
        j = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        slope = tl.load(slope_ptr)  # a tensor, not a scalar argument: those are float32
        return j, j < M, (j // D) % S, slope

    @triton.jit
    def _forward_kernel(x_ptr, p_ptr, out_ptr, hs_ptr, cs_ptr, M, S, D, slope_ptr,
                        L: tl.constexpr, BLOCK: tl.constexpr, STORE: tl.constexpr) -> None:
        j, mask, s, slope = _program_windows(M, S, D, slope_ptr, BLOCK)
        w_i, r_i, b_i, w_f, r_f, b_f, w_o, r_o, b_o, w_g, r_g, b_g = _load_params(p_ptr, s, S, mask)
        h = tl.zeros([BLOCK], dtype=x_ptr.dtype.element_ty)
        c = tl.zeros([BLOCK], dtype=x_ptr.dtype.element_ty)
        for t in range(L):
            if STORE:
                tl.store(hs_ptr + t * M + j, h, mask=mask)
                tl.store(cs_ptr + t * M + j, c, mask=mask)
            xv = tl.load(x_ptr + t * M + j, mask=mask, other=0.0)
            i, f, o, zg = _gates(w_i, r_i, b_i, w_f, r_f, b_f, w_o, r_o, b_o, w_g, r_g, b_g, xv, h)
            c = i * _leaky(zg, slope) + f * c
            h = o * _leaky(c, slope)
        tl.store(out_ptr + j, h, mask=mask)

    @triton.jit
    def _add_param_grad(gp_ptr, k: tl.constexpr, acc, mask, s, S, ONE_COLUMN: tl.constexpr) -> None:
        """Add one parameter's gradient: summed over this block's windows where they all use one column (one unit,
        or a run of units longer than a block), else per window."""
        acc = tl.where(mask, acc, 0.0)
        if ONE_COLUMN:
            tl.atomic_add(gp_ptr + k * S + tl.min(s, axis=0), tl.sum(acc, axis=0))
        else:
            tl.atomic_add(gp_ptr + k * S + s, acc, mask=mask)

    @triton.jit
    def _backward_kernel(x_ptr, p_ptr, gout_ptr, gx_ptr, gp_ptr, hs_ptr, cs_ptr, M, S, D, slope_ptr,
                         L: tl.constexpr, BLOCK: tl.constexpr, ONE_COLUMN: tl.constexpr) -> None:
        j, mask, s, slope = _program_windows(M, S, D, slope_ptr, BLOCK)
        w_i, r_i, b_i, w_f, r_f, b_f, w_o, r_o, b_o, w_g, r_g, b_g = _load_params(p_ptr, s, S, mask)
        dh = tl.load(gout_ptr + j, mask=mask, other=0.0)
        dc = tl.zeros([BLOCK], dtype=dh.dtype)
        a0 = tl.zeros([BLOCK], dtype=dh.dtype)
        a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11 = a0, a0, a0, a0, a0, a0, a0, a0, a0, a0, a0
        for tt in range(L):
            t = L - 1 - tt
            xv = tl.load(x_ptr + t * M + j, mask=mask, other=0.0)
            hv = tl.load(hs_ptr + t * M + j, mask=mask, other=0.0)
            cp = tl.load(cs_ptr + t * M + j, mask=mask, other=0.0)
            i, f, o, zg = _gates(w_i, r_i, b_i, w_f, r_f, b_f, w_o, r_o, b_o, w_g, r_g, b_g, xv, hv)
            g = _leaky(zg, slope)
            cv = i * g + f * cp
            dcv = dc + dh * o * tl.where(cv > 0, 1.0, slope)
            dzi = dcv * g * i * (1 - i)
            dzf = dcv * cp * f * (1 - f)
            dzo = dh * _leaky(cv, slope) * o * (1 - o)
            dzg = dcv * i * tl.where(zg > 0, 1.0, slope)
            tl.store(gx_ptr + t * M + j, w_i * dzi + w_f * dzf + w_o * dzo + w_g * dzg, mask=mask)
            dh = r_i * dzi + r_f * dzf + r_o * dzo + r_g * dzg
            dc = dcv * f
            a0 += dzi * xv
            a1 += dzi * hv
            a2 += dzi
            a3 += dzf * xv
            a4 += dzf * hv
            a5 += dzf
            a6 += dzo * xv
            a7 += dzo * hv
            a8 += dzo
            a9 += dzg * xv
            a10 += dzg * hv
            a11 += dzg
        # one call per parameter: a loop over a tuple of tensors compiles only in newer Triton
        _add_param_grad(gp_ptr, 0, a0, mask, s, S, ONE_COLUMN)
        _add_param_grad(gp_ptr, 1, a1, mask, s, S, ONE_COLUMN)
        _add_param_grad(gp_ptr, 2, a2, mask, s, S, ONE_COLUMN)
        _add_param_grad(gp_ptr, 3, a3, mask, s, S, ONE_COLUMN)
        _add_param_grad(gp_ptr, 4, a4, mask, s, S, ONE_COLUMN)
        _add_param_grad(gp_ptr, 5, a5, mask, s, S, ONE_COLUMN)
        _add_param_grad(gp_ptr, 6, a6, mask, s, S, ONE_COLUMN)
        _add_param_grad(gp_ptr, 7, a7, mask, s, S, ONE_COLUMN)
        _add_param_grad(gp_ptr, 8, a8, mask, s, S, ONE_COLUMN)
        _add_param_grad(gp_ptr, 9, a9, mask, s, S, ONE_COLUMN)
        _add_param_grad(gp_ptr, 10, a10, mask, s, S, ONE_COLUMN)
        _add_param_grad(gp_ptr, 11, a11, mask, s, S, ONE_COLUMN)


def _grid(m: int) -> tuple[int]:
    return (triton.cdiv(m, BLOCK),)


def _slope(x: torch.Tensor, slope: float) -> torch.Tensor:
    return torch.full((1,), slope, dtype=x.dtype, device=x.device)


if triton is not None:
    from torch.library import triton_op, wrap_triton

    def _launcher(kernel):
        """``wrap_triton`` lets torch.compile trace a launch. An interpreted kernel runs eagerly and needs no
        tracing, and torch before 2.12 refuses to wrap one, so it is launched as it is."""
        return kernel if os.environ.get("TRITON_INTERPRET") == "1" else wrap_triton(kernel)

    @triton_op("ftn::lstm_scan_triton", mutates_args=())
    def lstm_scan_triton(x: torch.Tensor, params: torch.Tensor, negative_slope: float, block: int) -> torch.Tensor:
        length, m = x.shape
        out = x.new_empty(m)
        _launcher(_forward_kernel)[_grid(m)](x, params, out, out, out, m, params.shape[1], block,
                                               _slope(x, negative_slope), L=length, BLOCK=BLOCK, STORE=False)
        return out

    @triton_op("ftn::lstm_scan_triton_backward", mutates_args=())
    def lstm_scan_triton_backward(x: torch.Tensor, params: torch.Tensor, grad_h: torch.Tensor,
                                  negative_slope: float, block: int) -> tuple[torch.Tensor, torch.Tensor]:
        length, m = x.shape
        size = params.shape[1]
        hs, cs = torch.empty_like(x), torch.empty_like(x)  # transient: freed when backward returns
        out = x.new_empty(m)
        slope = _slope(x, negative_slope)
        _launcher(_forward_kernel)[_grid(m)](x, params, out, hs, cs, m, size, block, slope,
                                               L=length, BLOCK=BLOCK, STORE=True)
        grad_x = torch.empty_like(x)
        grad_p = torch.zeros_like(params)
        _launcher(_backward_kernel)[_grid(m)](x, params, grad_h, grad_x, grad_p, hs, cs, m, size, block, slope,
                                                L=length, BLOCK=BLOCK, ONE_COLUMN=size == 1 or block % BLOCK == 0)
        return grad_x, grad_p
