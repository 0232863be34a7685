"""The straightforward LSTM recurrence: a Python loop over time steps, autograd for the backward.

It is the numerical reference for the fused kernels and the fallback wherever they do not apply.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def lstm_scan_reference(x: torch.Tensor, params: torch.Tensor, negative_slope: float) -> torch.Tensor:
    """Run one scalar LSTM unit over the leading (time) axis of ``x``.

    Args:
        x: (L, *batch, *positions) sequences, time first.
        params: (4, 3, *positions): rows are gates i, f, o and modulation g; columns w, r, b.
            ``positions`` is empty for one shared unit, or the trailing dims of ``x``
            for one unit per position.
        negative_slope: slope of the leaky ReLU modulation psi (0 = ReLU).

    Returns:
        (*batch, *positions): h after the last step, with h0 = c0 = 0.
    """
    pos = params.shape[2:]
    w, r, b = (p.reshape(4, *([1] * (x.dim() - 1 - len(pos))), *pos) for p in params.unbind(1))
    h = c = x.new_zeros(torch.broadcast_shapes(x.shape[1:], w.shape[1:]))
    for xt in x:
        z = torch.addcmul(torch.addcmul(b, w, xt), r, h)  # all four gates in one op
        gates = torch.sigmoid(z[:3])
        g = F.leaky_relu(z[3], negative_slope)
        c = gates[0] * g + gates[1] * c
        h = gates[2] * F.leaky_relu(c, negative_slope)
    return h


def gru_scan_reference(x: torch.Tensor, params: torch.Tensor, negative_slope: float) -> torch.Tensor:
    """Run one scalar GRU unit over the leading (time) axis of ``x``: the recurrence the paper allows in place of
    the LSTM ("any type of RNN can be used"), with the LSTM's modulation psi as its candidate activation.

        z_t = sigmoid(w_z x_t + r_z h + b_z)              update gate
        s_t = sigmoid(w_s x_t + r_s h + b_s)              reset gate
        n_t = psi(w_n x_t + s_t * (r_n h) + b_n)          candidate (PyTorch's GRU places the reset gate so)
        h_t = (1 - z_t) * n_t + z_t * h

    Args:
        x: (L, *batch) sequences, time first.
        params: (3, 3): rows z, s, n; columns w, r, b.
        negative_slope: slope of the leaky ReLU psi (0 = ReLU).

    Returns:
        (*batch): h after the last step, with h0 = 0.
    """
    w, r, b = (p.reshape(3, *([1] * (x.dim() - 1))) for p in params.unbind(1))
    h = x.new_zeros(x.shape[1:])
    for xt in x:
        gates = torch.sigmoid(torch.addcmul(b[:2], w[:2], xt) + r[:2] * h)
        n = F.leaky_relu(w[2] * xt + gates[1] * (r[2] * h) + b[2], negative_slope)
        h = torch.lerp(n, h, gates[0])  # (1 - z) n + z h
    return h
