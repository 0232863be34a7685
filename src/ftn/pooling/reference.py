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
