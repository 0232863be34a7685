"""``GRUPool2d``: a scalar GRU unit in place of the LSTM (the paper, section 3: "any type of RNN can be used").

It reads each window as the LSTM does (``windows.extract_windows``, every scan order) and has one unit per layer,
as FTN architecture 2. Only the reference recurrence exists (a Python loop over the k*k steps, autograd for the
backward): slower than the fused LSTM kernels, and enough to compare the two units.
"""
from __future__ import annotations

import torch
from torch import nn

from .module import logit, soft_forget
from .reference import gru_scan_reference
from .windows import check_scan, check_window, extract_windows

# Rows of the (3, 3) block: update gate z, reset gate s, candidate n; columns w, r, b.
Z, S, N = range(3)
W, R, B = range(3)
# r_n at the start: nonzero, so that the reset gate (which multiplies r_n h) gets gradient from the first step.
START_RECURRENT = 0.1


def gru_init(seq_len: int) -> torch.Tensor:
    """An exponentially weighted mean of psi(x), as the LSTM's avg_soft: z = SOFT_SPAN^(-1/(L-1)) (the oldest of
    L inputs weighs SOFT_SPAN times less than the newest) and w_n = 1 / (1 - z^L), so the weights sum to 1;
    r_n = START_RECURRENT, everything else 0 (the reset gate at 1/2)."""
    p = torch.zeros(3, 3)
    z = soft_forget(seq_len)
    p[Z, B] = logit(z)
    p[N, W] = 1.0 / (1.0 - z**seq_len)
    p[N, R] = START_RECURRENT
    return p


class GRUPool2d(nn.Module):
    """GRU pooling. Input (B, C, H, W) -> (B, C, H_out, W_out), windows as ``nn.MaxPool2d(kernel_size)``.

    Args:
        kernel_size: k of the k x k windows (stride k, no padding).
        negative_slope: slope of the candidate's leaky ReLU; use the conv layers' slope.
        scan: the order a window is read in (``ftn.pooling.SCANS``).
    """

    def __init__(self, kernel_size: int, negative_slope: float = 0.0, scan: str = "row") -> None:
        super().__init__()
        check_scan(scan)
        check_window(kernel_size, kernel_size, 0)
        self.kernel_size, self.negative_slope, self.scan = kernel_size, negative_slope, scan
        self.params = nn.Parameter(gru_init(kernel_size**2))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        x = extract_windows(input, self.kernel_size, self.kernel_size, 0, self.scan)
        return gru_scan_reference(x, self.params, self.negative_slope)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, negative_slope={self.negative_slope}, scan={self.scan!r}"
