"""How a run is named in a table: its cell's label, whether the paper's table shows it, its test error."""
from __future__ import annotations

from ..pooling.module import DEFAULT_INIT

# The LSTM init of Table 2's headline row: the default init, of the Python API and of configs/lstm_pooling.yaml
# (a test keeps them equal), fixed before the init study (results/table2.notes.md says why).
HEADLINE_INIT = DEFAULT_INIT


def error_percent(record: dict) -> float:
    return 100 * record["metrics"]["final_test/error"]


def row_scan(config: dict) -> bool:
    """The paper's scan order (row by row), which configs without a ``pooling.scan`` key use too."""
    return config["pooling"].get("scan", "row") == "row"


def describe(config: dict) -> str:
    """A cell's label within a network: the pooling, for LSTM pooling its init, and any non-row scan."""
    pooling = config["pooling"]
    scan = "" if row_scan(config) else f" {pooling['scan']}"
    if pooling["kind"].startswith("lstm"):
        return f"{pooling['kind']} {pooling.get('init', '?')}{scan}"
    return pooling["kind"] + scan


def is_headline(config: dict) -> bool:
    """The runs the paper's table shows: max, avg, and LSTM pooling with the headline init, row scan (and every
    other kind in its default config)."""
    pooling = config["pooling"]
    return not pooling["kind"].startswith("lstm") or (pooling.get("init") == HEADLINE_INIT and row_scan(config))
