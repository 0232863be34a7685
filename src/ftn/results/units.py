"""What a Conv N record holds for figures 3 and 4, read back: its learned LSTM units with the windows they pool,
the probe windows that show what they compute, and the locations its max pooling keeps (read by ``claims``,
``figure_readings`` and ``ftn.figures``)."""
from __future__ import annotations

import inspect
from collections import defaultdict

import torch

from ..models import ConvNet
from ..pooling import lstm_scan
from ..pooling.module import COLUMNS, GATES
from .markdown import PARAM_KEY

# ConvNet's pool sizes, which a record's config holds only when a run overrode them
POOL_SIZES = inspect.signature(ConvNet).parameters["pool_sizes"].default


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


# Figure 4's input: this many random windows, each with this maximum (the paper's caption: "random values with a
# fixed maximum value (1.5)"; it does not say how many).
PROBES, PROBE_PEAK = 200, 1.5


def probe_windows(length: int) -> torch.Tensor:
    """``PROBES`` random windows of ``length`` values whose maximum is ``PROBE_PEAK``, ordered by their average:
    (L, PROBES). The same windows every time (seed 0), so figure 4 and its readings agree."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(PROBES, length, generator=gen, dtype=torch.float64) * PROBE_PEAK
    x[torch.arange(PROBES), torch.randint(length, (PROBES,), generator=gen)] = PROBE_PEAK
    return x[x.mean(1).argsort()].t()


def on_probes(unit: torch.Tensor, k: int, negative_slope: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Figure 4's k x k probe windows (k*k, count) and a (4, 3) unit's output on each (count,)."""
    x = probe_windows(k * k)
    return x, lstm_scan(x, unit.double(), negative_slope)


def layer_windows(record: dict) -> list[tuple[str, int]]:
    """(layer, k) for each learned pooling layer of a Conv N record, in network order: it pools k x k windows."""
    layers = sorted(learned_units(record["metrics"]), key=layer_order)
    return list(zip(layers, record["config"]["model"].get("pool_sizes", POOL_SIZES)))


def kept_shares(histogram: list[int]) -> torch.Tensor:
    """Figure 3's histogram as shares: [n], the share of windows whose channels' maxima keep n locations."""
    counts = torch.tensor(histogram, dtype=torch.float64)
    return counts / counts.sum()


def mean_kept(shares: torch.Tensor) -> float:
    """The mean number of locations a window keeps."""
    return (shares @ torch.arange(len(shares), dtype=torch.float64)).item()
