"""``convert_pooling``: put LSTM pooling into any existing model, starting as the pools it replaces.

The paper (section 1): one LSTM unit approximates max and average pooling, "therefore, it can be
easily used to replace the existing pooling operations in the existing models and be further
fine-tuned". Every ``nn.MaxPool2d`` and ``nn.AvgPool2d`` becomes an ``LSTMPool2d`` of the same
geometry, initialised to compute the same function, so the converted model's outputs equal the
original's until fine-tuning moves the units.

The GRU unit and the zoo's kinds convert too (``kind=``), starting from their own init rather than from the pool
they replace; they pool non-overlapping windows only, and the channel-wise kinds need a channel count that a
bare pool does not know, so those are refused in one line.
"""
from __future__ import annotations

from torch import nn

from .gru import GRUPool2d
from .module import LSTMPool2d
from .zoo import CHANNEL_WISE, ZOO

CONVERTIBLE = ("lstm", "gru", *(k for k in ZOO if k not in CHANNEL_WISE))


def _square(pool: nn.Module, name: str, key: str) -> int:
    value = getattr(pool, key)
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ValueError(f"{name}.{key}={tuple(value)} is not square; allowed: one int, or equal entries")
        value = value[0]
    return value


def _geometry(pool: nn.Module, name: str) -> tuple[int, int, int]:
    """(kernel_size, stride, padding) of a pool LSTMPool2d can express, or a one-line error."""
    if pool.ceil_mode:
        raise ValueError(f"{name}.ceil_mode=True cannot be converted; allowed: ceil_mode=False")
    if isinstance(pool, nn.MaxPool2d) and _square(pool, name, "dilation") != 1:
        raise ValueError(f"{name}.dilation={pool.dilation} cannot be converted; allowed: 1")
    if isinstance(pool, nn.AvgPool2d) and (not pool.count_include_pad or pool.divisor_override is not None):
        raise ValueError(f"{name}: count_include_pad=False or divisor_override cannot be converted; "
                         "allowed: the defaults (zero padding counted, no divisor override)")
    kernel, stride, padding = (_square(pool, name, key) for key in ("kernel_size", "stride", "padding"))
    return kernel, stride or kernel, padding


def _replacement(kind: str, pool: nn.Module, name: str, init: str | None, negative_slope: float, scan: str,
                 impl: str) -> nn.Module:
    kernel, stride, padding = _geometry(pool, name)
    if kind == "lstm":
        default = ("max_relu" if negative_slope == 0 else "max_exact") if isinstance(pool, nn.MaxPool2d) else "avg_exact"
        return LSTMPool2d(kernel, stride, padding, negative_slope=negative_slope, scan=scan, init=init or default,
                          impl=impl)
    if (stride, padding) != (kernel, 0):
        raise ValueError(f"{name}: stride={stride}, padding={padding} cannot be converted to kind={kind!r}; "
                         f"allowed: stride = kernel_size ({kernel}) and padding 0 (non-overlapping windows)")
    if kind == "gru":
        return GRUPool2d(kernel, negative_slope=negative_slope, scan=scan)
    return ZOO[kind](kernel)


def convert_pooling(model: nn.Module, init: str | None = None, negative_slope: float = 0.0, scan: str = "row",
                    impl: str = "auto", kind: str = "lstm") -> nn.Module:
    """Replace, in place, every ``nn.MaxPool2d`` and ``nn.AvgPool2d`` of ``model`` with a learned pool of ``kind``.

    Args:
        model: any module; its pools may sit at any depth.
        init: the units' initialisation (``ftn.pooling.INITS``). None starts each unit as the pool it
            replaces: "max_relu" for max pools of a ReLU network (``negative_slope`` 0; exact on
            non-negative inputs, only the f gate saturated), "max_exact" for max pools otherwise,
            "avg_exact" for average pools (f and o saturated). A trainable init
            (``ftn.pooling.TRAINABLE_INITS``) trains all 12 parameters but changes the outputs.
        negative_slope: slope of the units' modulations: the network's activation (0 = ReLU).
        scan, impl: as ``LSTMPool2d`` (``scan`` also the GRU's).
        kind: "lstm", or another kind of ``CONVERTIBLE`` ("gru", a zoo kind that needs no channel count), which
            starts from its own init: the outputs change.

    Returns:
        ``model``, converted. Each pool gets its own unit or parameters (FTN architecture 2). Every layer keeps
        its shapes: a pool's (B, C, H, W) input gives the (B, C, H_out, W_out) output it gave before.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from ftn import convert_pooling
        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.AvgPool2d(2))
        >>> x = torch.rand(1, 3, 16, 16)
        >>> before = model(x)
        >>> [type(layer).__name__ for layer in convert_pooling(model)]
        ['Conv2d', 'ReLU', 'LSTMPool2d', 'LSTMPool2d']
        >>> model(x).shape, torch.allclose(model(x), before, atol=1e-5)  # the same function, until fine-tuning
        (torch.Size([1, 8, 4, 4]), True)
    """
    if kind not in CONVERTIBLE:
        why = " (it needs each layer's channel count, which a pool does not know)" if kind in CHANNEL_WISE else ""
        raise ValueError(f"kind={kind!r} cannot be converted{why}; allowed: {', '.join(CONVERTIBLE)}")
    targets = [(name, module) for name, module in model.named_modules() if type(module) in (nn.MaxPool2d, nn.AvgPool2d)]
    for name, pool in targets:
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name), attr, _replacement(kind, pool, name, init, negative_slope, scan, impl))
    return model
