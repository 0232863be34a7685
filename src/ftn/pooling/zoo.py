"""The pooling zoo: other pooling methods of the literature, set beside LSTM pooling under one protocol.

Every layer pools non-overlapping k x k windows (stride k, no padding, floor mode) and maps (B, C, H, W) to
(B, C, H // k, W // k), the shape ``nn.MaxPool2d(k)`` gives. Each takes ``(kernel_size, channels, **hyper)``:
``channels`` is the layer's channel count, which the channel-wise kinds (``CHANNEL_WISE``) size their weights or
buffers by and the others keep for their repr only.

A learned parameter with a bound is a reparametrisation (p = 1 + softplus(rho), alpha = sigmoid(a)), never a
clamp: a clamp passes no gradient at its bound. The recurrent GRU kind lives in ``gru.py``, beside the LSTM.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .windows import check_window, extract_windows


def windows(input: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (L, B, C, H // k, W // k): each window's k*k values in row-major order."""
    return extract_windows(input, kernel_size, kernel_size, 0, "row")


# The std of the gating masks and leaf filters at the start (gated, tree), as the authors' code draws them.
INIT_STD = 0.1


def _inverse_softplus(y: float) -> float:
    return math.log(math.expm1(y))


def _check_channels(channels: int | None) -> None:
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels={channels!r} is invalid; allowed: the layer's channel count (an int >= 1)")


class WindowPool(nn.Module):
    """A pooling layer of the zoo. Input (B, C, H, W) -> (B, C, H // k, W // k). A kind whose weights are sized
    by the layer's channel count sets ``needs_channels``, and then ``channels`` must be given."""

    needs_channels = False

    def __init__(self, kernel_size: int, channels: int | None = None) -> None:
        super().__init__()
        check_window(kernel_size, kernel_size, 0)
        if self.needs_channels:
            _check_channels(channels)
        self.kernel_size, self.channels = kernel_size, channels

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.pool(windows(input, self.kernel_size))

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """(L, B, C, H_out, W_out) windows -> (B, C, H_out, W_out)."""
        raise NotImplementedError

    def learned_values(self) -> dict[str, float]:
        """The layer's learned scalars under their names (logged per epoch as pool/<layer>/<name>); none here."""
        return {}

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, channels={self.channels}"


class LpPool(WindowPool):
    """Learned-norm pooling (Gulcehre, Cho, Pascanu & Bengio 2014): y = (1/L sum_i |x_i|^p)^(1/p).

    p = 1 + softplus(rho), one per layer, so p > 1 always and p -> 1 is average of |x|, p -> inf max of |x|.
    Computed on x / max|x| (the p-norm is homogeneous), so large p cannot overflow. The output is >= 0: the
    norm drops the sign of the leaky ReLU's negatives, as the method does.

    Args:
        p: the initial p (> 1); 2 (the root mean square), halfway in log terms between average and max.
    """

    def __init__(self, kernel_size: int, channels: int | None = None, p: float = 2.0) -> None:
        super().__init__(kernel_size, channels)
        if not p > 1:
            raise ValueError(f"p={p!r} is invalid; allowed: a float > 1 (p = 1 + softplus(rho))")
        self.rho = nn.Parameter(torch.tensor(_inverse_softplus(p - 1.0)))

    @property
    def p(self) -> torch.Tensor:
        return 1.0 + F.softplus(self.rho)

    def learned_values(self) -> dict[str, float]:
        return {"p": self.p.item()}

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        a = x.abs()
        scale = a.amax(0).clamp_min(torch.finfo(a.dtype).tiny)  # an all-zero window gives 0, not 0/0
        p = self.p
        return scale * (a / scale).pow(p).mean(0).pow(1.0 / p)


class MixedPool(WindowPool):
    """Mixed pooling (Yu, Wang, Chen & Wei 2014): y = lambda * max + (1 - lambda) * avg, lambda in {0, 1}.

    In training, lambda is drawn at every forward, 0 or 1 with equal odds. The layer counts how often each channel
    drew max; at test time each channel uses the pooling it drew most often in training (average on a tie), the
    test rule of the paper. No learned parameter.

    Args:
        draw: how many lambdas a forward draws, a choice the paper's text leaves to its code (docs/deviations.md,
            "The zoo's kinds"): ``"map"``, one per feature map (sample and channel); ``"layer"``, one for the
            whole layer, as common third-party implementations draw it.
    """

    needs_channels = True

    DRAWS = ("map", "layer")

    def __init__(self, kernel_size: int, channels: int | None = None, draw: str = "map") -> None:
        super().__init__(kernel_size, channels)
        if draw not in self.DRAWS:
            raise ValueError(f"draw={draw!r} is unknown; allowed: {', '.join(self.DRAWS)}")
        self.draw = draw
        # per channel: (draws of max, draws of either); a buffer, so checkpoints keep it
        self.register_buffer("counts", torch.zeros(2, channels, dtype=torch.float64))

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        maximum, average = x.amax(0), x.mean(0)
        if self.training:
            shape = (x.shape[1], x.shape[2], 1, 1) if self.draw == "map" else (1, 1, 1, 1)
            draw = (torch.rand(shape, device=x.device) < 0.5).expand(x.shape[1], x.shape[2], 1, 1)
            with torch.no_grad():
                self.counts[0] += draw.sum((0, 2, 3)).to(self.counts)
                self.counts[1] += draw.shape[0]
        else:
            draw = (2 * self.counts[0] > self.counts[1]).view(1, -1, 1, 1)
        return torch.where(draw, maximum, average)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, draw={self.draw!r}"


class MaxAvgPool(WindowPool):
    """Mixed max-average pooling (Lee, Gallagher & Tu 2016): y = alpha * max + (1 - alpha) * avg.

    alpha = sigmoid(a), one per layer (the paper's "one parameter per layer" variant), starting at 1/2.
    """

    def __init__(self, kernel_size: int, channels: int | None = None) -> None:
        super().__init__(kernel_size, channels)
        self.a = nn.Parameter(torch.zeros(()))

    def learned_values(self) -> dict[str, float]:
        return {"alpha": torch.sigmoid(self.a).item()}

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        alpha = torch.sigmoid(self.a)
        return alpha * x.amax(0) + (1 - alpha) * x.mean(0)


class GatedPool(WindowPool):
    """Gated max-average pooling (Lee, Gallagher & Tu 2016): y = s * max + (1 - s) * avg, s = sigmoid(w . x).

    w is a k*k gating mask without bias, one per layer and shared by its channels and windows, drawn from
    N(0, 0.1^2) as the authors' code (ilovecv/general-pooling-1) initialises it.
    """

    def __init__(self, kernel_size: int, channels: int | None = None) -> None:
        super().__init__(kernel_size, channels)
        self.mask = nn.Parameter(INIT_STD * torch.randn(kernel_size**2))

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(torch.tensordot(self.mask, x, 1))
        return gate * x.amax(0) + (1 - gate) * x.mean(0)


class TreePool(WindowPool):
    """Tree pooling (Lee, Gallagher & Tu 2016) with two levels: two leaf pooling filters v_1, v_2 and one gating
    mask w at the root, each k*k without bias, one set per layer shared by its channels and windows:

        y = sigmoid(w . x) * (v_1 . x) + (1 - sigmoid(w . x)) * (v_2 . x)

    Two levels is the tree of the authors' example network (ilovecv/general-pooling-1), which also draws every
    filter from N(0, 0.1^2), as here. (Equal leaves would give w exactly zero gradient: it weighs two equal
    numbers.)
    """

    def __init__(self, kernel_size: int, channels: int | None = None) -> None:
        super().__init__(kernel_size, channels)
        length = kernel_size**2
        self.leaves = nn.Parameter(INIT_STD * torch.randn(2, length))
        self.mask = nn.Parameter(INIT_STD * torch.randn(length))

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(torch.tensordot(self.mask, x, 1))
        left, right = torch.tensordot(self.leaves, x, 1)
        return gate * left + (1 - gate) * right


def _positive_weights(x: torch.Tensor) -> torch.Tensor:
    """Stochastic pooling's probabilities a_i / sum a over each window, with a = relu(x) (the method assumes
    non-negative activations). A window with no positive value gets uniform weights."""
    a = x.clamp_min(0)
    total = a.sum(0, keepdim=True)
    return torch.where(total > 0, a / total.clamp_min(torch.finfo(x.dtype).tiny), torch.full_like(a, 1 / len(x)))


class StochasticPool(WindowPool):
    """Stochastic pooling (Zeiler & Fergus 2013). p_i = a_i / sum_j a_j over each window.

    Training: the output is x_i at one location i drawn with probability p_i. Test: sum_i p_i x_i.
    The method is defined for non-negative activations; with the leaky ReLU the probabilities come from
    relu(x), so a negative value is never drawn, and a window with no positive value draws (and at test time
    averages) uniformly, where Caffe's implementation returns 0 for an all-zero window: with the leaky ReLU such a
    window still carries a signal. No learned parameter.
    """

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        p = _positive_weights(x)
        if not self.training:
            return (p * x).sum(0)
        # inverse-CDF sampling of one location per window, all windows at once
        u = torch.rand(x.shape[1:], device=x.device, dtype=x.dtype)
        index = (p.cumsum(0) < u).sum(0, keepdim=True).clamp_max(len(x) - 1)
        return x.gather(0, index).squeeze(0)


class RankPool(WindowPool):
    """Rank-based weighted pooling (Shi, Ye & Wu 2016): y = sum_r p_r x_(r), x_(1) >= x_(2) >= ... the window
    sorted in descending order, p_r = alpha (1 - alpha)^(r - 1). No learned parameter.

    Args:
        alpha: the weight of the largest value, in (0, 1]; 1 is max pooling. 0.5, the authors' default
            (shizenglin/Rank-based-Pooling-for-Deep-Convolutional-Neural-Networks). The weights are not
            renormalised: they sum to 1 - (1 - alpha)^L.
    """

    def __init__(self, kernel_size: int, channels: int | None = None, alpha: float = 0.5) -> None:
        super().__init__(kernel_size, channels)
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha={alpha!r} is invalid; allowed: a float in (0, 1]")
        self.alpha = alpha
        ranks = torch.arange(kernel_size**2, dtype=torch.float64)
        self.register_buffer("weights", (alpha * (1 - alpha) ** ranks).float(), persistent=False)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        ordered = x.sort(0, descending=True).values
        return torch.tensordot(self.weights.to(x.dtype), ordered, 1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha={self.alpha}"


class SoftPool(WindowPool):
    """SoftPool (Stergiou, Poppe & Kalliatakis 2021): y = sum_i e^(x_i) x_i / sum_j e^(x_j), a softmax-weighted
    sum (computed as one, so large activations cannot overflow). No learned parameter."""

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.softmax(x, 0) * x).sum(0)


class LipPool(WindowPool):
    """Local importance pooling (Gao, Wang & Wu 2019): y = avgpool(x * e^l) / avgpool(e^l).

    The logit module l = 12 sigmoid(IN(conv3x3(x))) is the paper's "simplified LIP": a 3x3 convolution over the
    channels (C -> C, no bias), instance norm with affine parameters, and a gate bounding the logits in (0, 12)
    so that e^l cannot overflow. The convolution starts at zero, as the authors' code (sebgao/LIP) has it: the
    logits start at 6 everywhere, which is average pooling; the instance norm's scale, whose input is then zero,
    gets gradient from the second step on.
    """

    needs_channels = True

    GATE = 12.0

    def __init__(self, kernel_size: int, channels: int | None = None) -> None:
        super().__init__(kernel_size, channels)
        conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        nn.init.zeros_(conv.weight)
        self.logit = nn.Sequential(conv, nn.InstanceNorm2d(channels, affine=True))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        weight = torch.exp(self.GATE * torch.sigmoid(self.logit(input)))
        k = self.kernel_size
        return F.avg_pool2d(input * weight, k) / F.avg_pool2d(weight, k)


class LeapPool(WindowPool):
    """LEAP, learned pooling (Sun, Song, Chen & Huang 2017): one linear k x k filter per channel (a depthwise
    convolution with stride k, no bias), every filter starting as the average 1/L."""

    needs_channels = True

    def __init__(self, kernel_size: int, channels: int | None = None) -> None:
        super().__init__(kernel_size, channels)
        self.weight = nn.Parameter(torch.full((channels, 1, kernel_size, kernel_size), 1 / kernel_size**2))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.conv2d(input, self.weight, stride=self.kernel_size, groups=input.shape[1])


class StridedConvPool(WindowPool):
    """A learned k x k convolution with stride k in place of the pool (the paper's figure 1(b); All-CNN,
    Springenberg et al. 2015): C -> C channels with a bias, PyTorch's default init."""

    needs_channels = True

    def __init__(self, kernel_size: int, channels: int | None = None) -> None:
        super().__init__(kernel_size, channels)
        self.conv = nn.Conv2d(channels, channels, kernel_size, stride=kernel_size)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.conv(input)


ZOO: dict[str, type[WindowPool]] = {
    "lp": LpPool, "mixed": MixedPool, "maxavg": MaxAvgPool, "gated": GatedPool, "tree": TreePool,
    "stochastic": StochasticPool, "rank": RankPool, "softpool": SoftPool, "lip": LipPool, "leap": LeapPool,
    "strided_conv": StridedConvPool,
}
# Kinds whose weights are sized by the layer's channel count: a bare nn.MaxPool2d does not know it.
CHANNEL_WISE = tuple(kind for kind, pool in ZOO.items() if pool.needs_channels)
