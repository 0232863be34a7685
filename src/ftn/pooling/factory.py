"""The ``pooling`` config group: how a model gets its pooling layers.

A model asks ``pool(kernel_size, negative_slope, input_size, channels)`` once per pooling layer, for every kind:
``input_size`` is the layer's (H, W) and ``channels`` its channel count. The choices are max, avg, the FTN
architectures of section 3.3 (``lstm_region``: 1, one unit per window position; ``lstm``: 2, one unit per layer;
``lstm_shared``: 3, one unit shared by every layer), the GRU unit in the LSTM's place, and the other methods of
the literature (``ftn.pooling.zoo``).
"""
from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from .functional import IMPLS
from .gru import GRUPool2d
from .module import DEFAULT_INIT, INITS, LSTMPool2d, init_params
from .windows import SCANS, output_size
from .zoo import ZOO

LSTM_KINDS = ("lstm", "lstm_shared", "lstm_region")
RECURRENT = (*LSTM_KINDS, "gru")  # the kinds that read a window in a scan order
KINDS = ("max", "avg", *RECURRENT, *ZOO)
ZOO_KINDS = (*ZOO, "gru")  # the pooling zoo's kinds: the literature's methods, then the GRU unit in the LSTM's place


def hyperparameters(kind: str) -> dict[str, Any]:
    """The keys a zoo kind takes beside its site (``pooling.alpha`` of ``rank``, ``pooling.p`` of ``lp``), with
    their defaults."""
    if kind not in ZOO:
        return {}
    after_the_site = list(inspect.signature(ZOO[kind]).parameters.values())[2:]  # kernel_size, channels
    return {p.name: p.default for p in after_the_site}


class PoolFactory:
    """A model's pooling layers of one kind: called once per layer, it returns that layer's module.

    Args:
        kind: one of ``KINDS``.
        init, scan, impl: the LSTM kinds' unit init, scan order and implementation (``scan`` also the GRU's);
            None: the default. A kind that does not read one refuses it.
        **hyper: a zoo kind's hyperparameters (``hyperparameters(kind)``), as its config file sets them.

    Call:
        ``factory(kernel_size, negative_slope, input_size, channels)``: the layer's window size, its network's
        leaky ReLU slope, its input's (H, W) and channel count C. The module maps (B, C, H, W) to
        (B, C, H // kernel_size, W // kernel_size).

    Example:
        >>> import torch
        >>> from ftn.pooling import PoolFactory
        >>> pool = PoolFactory("lstm_shared")  # architecture 3: one unit shared by every layer
        >>> first, second = pool(2, 0.3, (32, 32), 16), pool(2, 0.3, (16, 16), 32)
        >>> first.params is second.params
        True
        >>> first(torch.rand(1, 16, 32, 32)).shape
        torch.Size([1, 16, 16, 16])
        >>> PoolFactory("max")(2, 0.3, (32, 32), 16)
        MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    """

    def __init__(self, kind: str, init: str | None = None, scan: str | None = None, impl: str | None = None,
                 **hyper) -> None:
        if kind not in KINDS:
            raise ValueError(f"pooling.kind={kind!r} is unknown; allowed: {', '.join(KINDS)}")
        chosen = {}  # the named settings, each checked against the kinds that read it: "+pooling.init=..." on
        # max would otherwise be ignored without a word
        for key, value, default, kinds, allowed in (("init", init, DEFAULT_INIT, LSTM_KINDS, INITS),
                                                    ("scan", scan, "row", RECURRENT, SCANS),
                                                    ("impl", impl, "auto", LSTM_KINDS, IMPLS)):
            if value is not None and kind not in kinds:
                raise ValueError(f"pooling.{key}={value!r} is not a key of pooling={kind}; allowed: only with "
                                 f"pooling={', '.join(kinds)}")
            if value is not None and value not in allowed:
                raise ValueError(f"pooling.{key}={value!r} is unknown; allowed: {', '.join(allowed)}")
            chosen[key] = default if value is None else value
        if unknown := sorted(set(hyper) - set(hyperparameters(kind))):
            allowed = ", ".join(hyperparameters(kind)) or "none"
            raise ValueError(f"pooling.{unknown[0]}={hyper[unknown[0]]!r} is not a key of pooling={kind}; "
                             f"allowed: {allowed}")
        self.kind, self.hyper = kind, hyper
        self.init, self.scan, self.impl = chosen["init"], chosen["scan"], chosen["impl"]
        self._shared: nn.Parameter | None = None
        if kind in ZOO:
            self._zoo(2, 1)  # a bad hyperparameter is named now, before any model is built

    def _zoo(self, kernel_size: int, channels: int) -> nn.Module:
        try:
            return ZOO[self.kind](kernel_size, channels, **self.hyper)
        except ValueError as error:
            raise ValueError(f"pooling.{error} (pooling={self.kind})") from None

    def __call__(self, kernel_size: int, negative_slope: float, input_size: tuple[int, int],
                 channels: int) -> nn.Module:
        if self.kind == "max":
            return nn.MaxPool2d(kernel_size)
        if self.kind == "avg":
            return nn.AvgPool2d(kernel_size)
        if self.kind == "gru":
            return GRUPool2d(kernel_size, negative_slope=negative_slope, scan=self.scan)
        if self.kind in ZOO:
            return self._zoo(kernel_size, channels)
        region = None
        if self.kind == "lstm_region":
            region = tuple(output_size(s, kernel_size, kernel_size, 0) for s in input_size)
        if self.kind == "lstm_shared" and self._shared is None:
            # The first layer's window length sets the avg init of the shared unit.
            self._shared = nn.Parameter(init_params(self.init, kernel_size**2))
        return LSTMPool2d(kernel_size, negative_slope=negative_slope, scan=self.scan, init=self.init,
                          output_size=region, params=self._shared, impl=self.impl)
