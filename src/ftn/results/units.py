"""The learned LSTM units of a run, read back from its record, and the probe windows that show what they compute
(the paper's figure 4, and claim 11 of ``claims``)."""
from __future__ import annotations

import re
from collections import defaultdict

import torch

from ..pooling.module import COLUMNS, GATES

PARAM_KEY = re.compile(r"lstm/(?:(?P<layer>.+)/)?(?P<col>[wrb])_(?P<gate>[ifog])$")


def learned_units(metrics: dict) -> dict[str, torch.Tensor]:
    """{layer name: (4, 3) params} from the ``lstm/<layer>/<w|r|b>_<gate>`` metrics of a run."""
    units: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros(4, 3))
    for key, value in metrics.items():
        if match := PARAM_KEY.match(key):
            units[match["layer"] or "unit"][GATES.index(match["gate"]), COLUMNS.index(match["col"])] = value
    return dict(units)


def layer_order(layer: str) -> int:
    """Pooling layers in network order (``features.6`` before ``features.13``)."""
    return int(layer.split(".")[-1]) if layer.split(".")[-1].isdigit() else 0


def probe_windows(length: int, count: int = 200, peak: float = 1.5, seed: int = 0) -> torch.Tensor:
    """Random windows whose maximum is ``peak`` (figure 4's input), ordered by their average: (L, count)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(count, length, generator=gen, dtype=torch.float64) * peak
    x[torch.arange(count), torch.randint(length, (count,), generator=gen)] = peak
    return x[x.mean(1).argsort()].t()
