"""``LSTMPool2d``: the LSTM pooling layer, its initialisations and the paper's constraint."""
from __future__ import annotations

import math

import torch
from torch import nn

from .functional import check_impl, lstm_pool2d
from .windows import SCANS, check_window

INITS = ("random", "max", "avg")
# Row/column names and indices of the (4, 3) parameter block.
GATES, COLUMNS = "ifog", "wrb"
I, F, O, G = range(4)
W, R, B = range(3)
# Sharpness of the analytic max init: i and f gates switch on x - h, so a tie error of
# at most 0.28 / SHARPNESS remains (3e-6); sigmoid(SATURATE) is 1 in float32.
SHARPNESS, SATURATE = 1e5, 30.0


def init_params(kind: str, seq_len: int, shape: tuple[int, ...] = (), generator=None) -> torch.Tensor:
    """A (4, 3, *shape) parameter block.

    random: the paper's (Lasagne's LSTM gate defaults: w, r ~ N(0, 0.1^2), b = 0),
        with w_g made positive as section 3.2 requires.
    max: computes max pooling of non-negative inputs (i opens and f closes when x > h).
    avg: computes the mean of ``seq_len`` inputs (i = 1 / seq_len, f = 1).
    """
    p = torch.zeros(4, 3, *shape)
    if kind == "random":
        p[:, :2] = torch.randn(4, 2, *shape, generator=generator) * 0.1
        p[G, W] = p[G, W].abs()
    elif kind == "max":
        p[I, W], p[I, R] = SHARPNESS, -SHARPNESS
        p[F, W], p[F, R] = -SHARPNESS, SHARPNESS
        p[O, B] = SATURATE
        p[G, W] = 1.0
    elif kind == "avg":
        p[I, B] = math.log(1.0 / (seq_len - 1)) if seq_len > 1 else SATURATE  # sigmoid(b) = 1/L
        p[F, B] = p[O, B] = SATURATE
        p[G, W] = 1.0
    else:
        raise ValueError(f"init={kind!r} is not an initialisation; allowed: {', '.join(INITS)}")
    return p


@torch.no_grad()
def apply_constraint_(params: torch.Tensor, min_wg: float = 1e-6) -> None:
    """Section 3.2: w_g > 0 and b_g >= 0, projected in place after every optimizer step."""
    params[G, W].clamp_(min=min_wg)
    params[G, B].clamp_(min=0.0)


class LSTMPool2d(nn.Module):
    """LSTM pooling layer. Input (B, C, H, W) -> (B, C, H_out, W_out).

    Args:
        kernel_size, stride, padding: as ``nn.MaxPool2d`` (zero padding).
        negative_slope: slope of the leaky ReLU modulations; use the conv layers' slope.
        scan: order in which a window is read ("row", "column", "snake", "row_reversed").
        init: "random" (the paper's), "max" or "avg" (analytic).
        output_size: (H_out, W_out) for one unit per window position (architecture 1);
            None for one unit for the whole layer.
        params: an existing (4, 3) Parameter to share between layers (architecture 3).
        impl: "auto", "fused" or "reference".
    """

    def __init__(
        self,
        kernel_size: int,
        stride: int | None = None,
        padding: int = 0,
        negative_slope: float = 0.0,
        scan: str = "row",
        init: str = "random",
        output_size: tuple[int, int] | None = None,
        params: nn.Parameter | None = None,
        impl: str = "auto",
    ):
        super().__init__()
        if scan not in SCANS:
            raise ValueError(f"scan={scan!r} is not a scan order; allowed: {', '.join(SCANS)}")
        check_impl(impl)
        stride = kernel_size if stride is None else stride
        check_window(kernel_size, stride, padding)  # at construction, not at the first forward
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.negative_slope, self.scan, self.impl = negative_slope, scan, impl
        shape = tuple(output_size) if output_size else ()
        self.params = params if params is not None else nn.Parameter(init_params(init, kernel_size**2, shape))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return lstm_pool2d(input, self.params, self.kernel_size, self.stride, self.padding,
                           self.negative_slope, self.scan, self.impl)

    def constrain_(self) -> None:
        apply_constraint_(self.params)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"negative_slope={self.negative_slope}, scan={self.scan!r}, params={tuple(self.params.shape)}")


def unit_values(params: torch.Tensor) -> dict[str, float]:
    """A (4, 3) unit as {"w_i": ..., "r_i": ..., "b_g": ...}: the names its parameters are logged under."""
    return {f"{col}_{gate}": float(value)
            for gate, row in zip(GATES, params.detach().cpu()) for col, value in zip(COLUMNS, row)}


def constrain_lstm_pools_(model: nn.Module) -> None:
    """Project every LSTM pooling unit of ``model`` back into the paper's feasible set."""
    for module in model.modules():
        if isinstance(module, LSTMPool2d):
            module.constrain_()
