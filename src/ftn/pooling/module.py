"""``LSTMPool2d``: the LSTM pooling layer, its initialisations and the paper's constraint."""
from __future__ import annotations

import math

import torch
from torch import nn

from .functional import check_impl, lstm_pool2d
from .windows import check_scan, check_window

# Initialisations. Trainable ones leave every gate unsaturated, so each of the 12 parameters
# gets gradient; the *_exact ones reproduce max/avg pooling exactly with saturated gates.
TRAINABLE_INITS = ("lasagne", "lasagne_unit_g", "avg_soft")
EXACT_INITS = ("max_exact", "max_relu", "avg_exact")
INITS = TRAINABLE_INITS + EXACT_INITS
# The init of the configs (configs/lstm_pooling.yaml) and of the Python API: every parameter trains, and Lasagne's
# default can leave a per-layer unit at chance (results/table2.notes.md).
DEFAULT_INIT = "avg_soft"
# Row/column names and indices of the (4, 3) parameter block.
GATES, COLUMNS = "ifog", "wrb"
I, F, O, G = range(4)
W, R, B = range(3)
# Sharpness of the exact max init: i and f gates switch on x - h, so a tie error of
# at most 0.28 / SHARPNESS remains (3e-6); sigmoid(SATURATE) is 1 in float32.
SHARPNESS, SATURATE = 1e5, 30.0
# avg_soft: the oldest of L inputs weighs SOFT_SPAN times less than the newest (forget gate
# f = SOFT_SPAN^(-1/(L-1))), and the output gate sits at sigmoid(SOFT_OUTPUT_BIAS) = 0.88.
SOFT_SPAN, SOFT_OUTPUT_BIAS = 2.0, 2.0


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def soft_forget(seq_len: int) -> float:
    """avg_soft's forget gate (and the GRU's update gate): the oldest of ``seq_len`` inputs weighs SOFT_SPAN times
    less than the newest in the weighted mean."""
    return SOFT_SPAN ** (-1.0 / (seq_len - 1)) if seq_len > 1 else 0.5


def init_params(kind: str, seq_len: int, shape: tuple[int, ...] = (), generator=None) -> torch.Tensor:
    """A (4, 3, *shape) parameter block for windows of ``seq_len`` values.

    Notation: h = o * psi(c), c_t = i * g_t + f * c_{t-1}, g_t = psi(w_g x_t + r_g h_{t-1} + b_g),
    psi the leaky ReLU of the conv layers (slope a). On a window x_1..x_L:

    lasagne: Lasagne's LSTM defaults, which the paper's Theano/Lasagne stack would have used (the
        paper states no init): w, r ~ N(0, 0.1^2), b = 0; w_g made positive (section 3.2). Every
        gate starts near 1/2, so a window's output is small (~w_g * x / 4).
    lasagne_unit_g: lasagne with unit modulation w_g = 1, b_g = 0 (r_g stays random), so the
        pooled signal starts at the scale of its input.
    avg_soft: an exponentially weighted mean, r = 0: f = SOFT_SPAN^(-1/(L-1)), i = (1 - f) / (1 - f^L),
        o = sigmoid(2), w_g = 1 / o. For c >= 0 it returns sum_t i f^(L-t) psi(x_t), a mean of psi(x)
        whose weights rise from 1 (oldest) to SOFT_SPAN (newest); for c < 0 it returns a times that.
        No gate is saturated (i, f, o in (0.02, 0.99)), so all 12 parameters train.
    max_exact: max pooling, exactly for non-negative inputs (i opens and f closes when x > h;
        o = 1); on negative inputs it returns psi(psi(max x)) = a^2 max x. Its i, f and o gates are
        saturated, so w, r, b of i, f, o get no gradient (exactly zero in the reference, 1e-13 or less in
        the fused kernel: ``frozen_entries`` names all nine): it is for drop-in use where outputs must
        equal max pooling before fine-tuning, not for training from scratch.
    max_relu: max pooling for ReLU networks (a = 0), exactly for non-negative inputs, with only the f gate
        saturated: f = 1, i = 1/2, o = sigmoid(2), g_t = k * relu(x_t - h_{t-1}) with k = 1 / (i o), so
        h_t = h_{t-1} + relu(x_t - h_{t-1}). The i, o and g parameters (9 of 12) train; f's do not.
        With a > 0 it is not max pooling (use max_exact).
    avg_exact: the mean of psi(x) (i = 1/L, f = o = 1); for c < 0, a times that. Its f and o gates
        are saturated (b = SATURATE, sigmoid = 1.0 in float32), so their 6 parameters get no gradient.
    """
    p = torch.zeros(4, 3, *shape)
    if kind in ("lasagne", "lasagne_unit_g"):
        p[:, :2] = torch.randn(4, 2, *shape, generator=generator) * 0.1
        p[G, W] = p[G, W].abs()
        if kind == "lasagne_unit_g":
            p[G, W] = 1.0
    elif kind == "avg_soft":
        f = soft_forget(seq_len)
        p[F, B] = logit(f)
        p[I, B] = logit((1.0 - f) / (1.0 - f**seq_len))
        p[O, B] = SOFT_OUTPUT_BIAS
        p[G, W] = 1.0 / torch.sigmoid(torch.tensor(SOFT_OUTPUT_BIAS)).item()
    elif kind == "max_exact":
        p[I, W], p[I, R] = SHARPNESS, -SHARPNESS
        p[F, W], p[F, R] = -SHARPNESS, SHARPNESS
        p[O, B] = SATURATE
        p[G, W] = 1.0
    elif kind == "max_relu":
        p[F, B] = SATURATE
        p[O, B] = SOFT_OUTPUT_BIAS
        gain = 1.0 / (0.5 * torch.sigmoid(torch.tensor(SOFT_OUTPUT_BIAS)).item())  # 1 / (i o), i = sigmoid(0)
        p[G, W], p[G, R] = gain, -gain
    elif kind == "avg_exact":
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
    """LSTM pooling layer: every k x k window read by a scalar LSTM unit (``lstm_pool2d``), its last h the output.

    Args:
        kernel_size, stride, padding: as ``nn.MaxPool2d`` (zero padding).
        negative_slope: slope of the leaky ReLU modulations; use the conv layers' slope.
        scan: order in which a window is read ("row", "column", "snake", "row_reversed").
        init: one of ``INITS`` (see ``init_params``).
        output_size: (H_out, W_out) for one unit per window position (architecture 1);
            None for one unit for the whole layer.
        params: an existing (4, 3) Parameter to share between layers (architecture 3).
        impl: "auto", "fused" or "reference".

    Shape:
        - Input: (B, C, H, W), contiguous or channels_last.
        - Output: (B, C, H_out, W_out), H_out = floor((H + 2 * padding - kernel_size) / stride) + 1.
        - ``params``: (4, 3), or (4, 3, H_out, W_out) with ``output_size``; rows gates i, f, o and modulation g,
          columns w, r, b.

    Example:
        >>> import torch
        >>> from ftn.pooling import LSTMPool2d
        >>> pool = LSTMPool2d(2)  # one unit for the whole layer (architecture 2), init avg_soft
        >>> pool(torch.rand(4, 16, 32, 32)).shape
        torch.Size([4, 16, 16, 16])
        >>> sum(p.numel() for p in pool.parameters())  # the paper's 12 parameters
        12
        >>> LSTMPool2d(2, output_size=(16, 16)).params.shape  # a unit per window position (architecture 1)
        torch.Size([4, 3, 16, 16])
    """

    def __init__(
        self,
        kernel_size: int,
        stride: int | None = None,
        padding: int = 0,
        negative_slope: float = 0.0,
        scan: str = "row",
        init: str = DEFAULT_INIT,
        output_size: tuple[int, int] | None = None,
        params: nn.Parameter | None = None,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        check_scan(scan)
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


# An entry whose gradient is below this fraction of the unit's largest, at every position, gets none that SGD could
# act on. The reference's saturated gates give exactly zero; the fused kernel computes sigmoid' without underflow
# and gives 1e-13 or less there, which is the same frozen gate.
FROZEN_RTOL = 1e-7


def frozen_entries(grad: torch.Tensor) -> list[str]:
    """Names ("w_i", ..., "b_g") of the unit parameters that get no usable gradient.

    ``grad`` is a (4, 3, *positions) gradient; an entry counts as frozen when it is at most ``FROZEN_RTOL`` times the
    unit's largest gradient at every position (a saturated gate: sigmoid(30) == 1.0 in float32 passes none).
    """
    magnitude = grad.detach().abs().reshape(4, 3, -1)
    dead = (magnitude <= FROZEN_RTOL * magnitude.amax()).all(-1)
    return [f"{col}_{gate}" for g, gate in enumerate(GATES) for c, col in enumerate(COLUMNS) if dead[g, c]]


def constrain_lstm_pools_(model: nn.Module) -> None:
    """Project every LSTM pooling unit of ``model`` back into the paper's feasible set."""
    for module in model.modules():
        if isinstance(module, LSTMPool2d):
            module.constrain_()
