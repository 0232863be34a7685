"""``convert_pooling``: put LSTM pooling into any existing model, starting as the pools it replaces.

The paper (section 1): one LSTM unit approximates max and average pooling, "therefore, it can be
easily used to replace the existing pooling operations in the existing models and be further
fine-tuned". Every ``nn.MaxPool2d`` and ``nn.AvgPool2d`` becomes an ``LSTMPool2d`` of the same
geometry, initialised to compute the same function, so the converted model's outputs equal the
original's until fine-tuning moves the units.
"""
from __future__ import annotations

from torch import nn

from .module import LSTMPool2d


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


def convert_pooling(model: nn.Module, init: str | None = None, negative_slope: float = 0.0, scan: str = "row",
                    impl: str = "auto") -> nn.Module:
    """Replace, in place, every ``nn.MaxPool2d`` and ``nn.AvgPool2d`` of ``model`` with an ``LSTMPool2d``.

    Args:
        model: any module; its pools may sit at any depth.
        init: the units' initialisation (``ftn.pooling.INITS``). None starts each unit as the pool it
            replaces: "max_relu" for max pools of a ReLU network (``negative_slope`` 0; exact on
            non-negative inputs, only the f gate saturated), "max_exact" for max pools otherwise,
            "avg_exact" for average pools (f and o saturated). A trainable init
            (``ftn.pooling.TRAINABLE_INITS``) trains all 12 parameters but changes the outputs.
        negative_slope: slope of the units' modulations: the network's activation (0 = ReLU).
        scan, impl: as ``LSTMPool2d``.

    Returns:
        ``model``, converted. Each pool gets its own unit (FTN architecture 2).
    """
    targets = [(name, module) for name, module in model.named_modules() if type(module) in (nn.MaxPool2d, nn.AvgPool2d)]
    for name, pool in targets:
        kernel, stride, padding = _geometry(pool, name)
        default = ("max_relu" if negative_slope == 0 else "max_exact") if isinstance(pool, nn.MaxPool2d) else "avg_exact"
        lstm = LSTMPool2d(kernel, stride, padding, negative_slope=negative_slope, scan=scan, init=init or default,
                          impl=impl)
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name), attr, lstm)
    return model
