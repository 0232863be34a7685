"""The ``pooling`` config group: how a model gets its pooling layers.

A model asks ``pool(kernel_size, negative_slope, input_size)`` once per pooling layer.
The five choices are max, avg, and the FTN architectures of section 3.3:
``lstm_region`` (1: one unit per window position), ``lstm`` (2: one unit per layer)
and ``lstm_shared`` (3: one unit shared by every layer).
"""
from __future__ import annotations

from torch import nn

from .module import DEFAULT_INIT, INITS, LSTMPool2d, init_params
from .windows import SCANS, output_size

KINDS = ("max", "avg", "lstm", "lstm_shared", "lstm_region")


class PoolFactory:
    def __init__(self, kind: str, init: str = DEFAULT_INIT, scan: str = "row", impl: str = "auto") -> None:
        if kind not in KINDS:
            raise ValueError(f"pooling.kind={kind!r} is unknown; allowed: {', '.join(KINDS)}")
        if kind.startswith("lstm") and init not in INITS:
            raise ValueError(f"pooling.init={init!r} is unknown; allowed: {', '.join(INITS)}")
        if kind.startswith("lstm") and scan not in SCANS:
            raise ValueError(f"pooling.scan={scan!r} is unknown; allowed: {', '.join(SCANS)}")
        self.kind, self.init, self.scan, self.impl = kind, init, scan, impl
        self._shared: nn.Parameter | None = None

    def __call__(self, kernel_size: int, negative_slope: float, input_size: tuple[int, int]) -> nn.Module:
        if self.kind == "max":
            return nn.MaxPool2d(kernel_size)
        if self.kind == "avg":
            return nn.AvgPool2d(kernel_size)
        region = None
        if self.kind == "lstm_region":
            region = tuple(output_size(s, kernel_size, kernel_size, 0) for s in input_size)
        if self.kind == "lstm_shared" and self._shared is None:
            # The first layer's window length sets the avg init of the shared unit.
            self._shared = nn.Parameter(init_params(self.init, kernel_size**2))
        return LSTMPool2d(kernel_size, negative_slope=negative_slope, scan=self.scan, init=self.init,
                          output_size=region, params=self._shared, impl=self.impl)
