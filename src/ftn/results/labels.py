"""How a run is named in a table: its cell's label, whether the paper's table shows it, its test error."""
from __future__ import annotations

from ..pooling import hyperparameters
from ..pooling.module import DEFAULT_INIT

# The LSTM init of Table 2's headline row: the default init, of the Python API and of configs/lstm_pooling.yaml
# (a test keeps them equal), fixed before the init study (results/table2.notes.md says why).
HEADLINE_INIT = DEFAULT_INIT


def error_percent(record: dict) -> float:
    return 100 * record["metrics"]["final_test/error"]


def test_error_curve(record: dict) -> dict[int, float]:
    """{epoch: test error %} from a run's per-epoch history, in epoch order."""
    return {h["epoch"]: 100 * h["test/error"] for h in record.get("history", []) if "test/error" in h}


def headline_lstm_scans(records: list[dict]) -> list[dict]:
    """Per-layer LSTM pooling with the headline init, in every scan order (the scan-order study's runs)."""
    return [r for r in records if r["config"]["pooling"]["kind"] == "lstm"
            and r["config"]["pooling"].get("init") == HEADLINE_INIT]


def row_scan(config: dict) -> bool:
    """The paper's scan order (row by row), which configs without a ``pooling.scan`` key use too."""
    return config["pooling"].get("scan", "row") == "row"


def changed_hyperparameters(config: dict) -> dict:
    """A zoo kind's hyperparameters that differ from their defaults (absent from older records: the default)."""
    pooling = config["pooling"]
    return {key: pooling[key] for key, default in hyperparameters(pooling["kind"]).items()
            if pooling.get(key, default) != default}


def describe(config: dict) -> str:
    """A cell's label within a network: the pooling, for LSTM pooling its init, any non-row scan and any zoo
    hyperparameter off its default (``mixed draw=layer``)."""
    pooling = config["pooling"]
    scan = "" if row_scan(config) else f" {pooling['scan']}"
    if pooling["kind"].startswith("lstm"):
        return f"{pooling['kind']} {pooling.get('init', '?')}{scan}"
    return pooling["kind"] + scan + "".join(f" {k}={v}" for k, v in changed_hyperparameters(config).items())


def is_headline(config: dict) -> bool:
    """The runs the paper's table shows: max, avg, and LSTM pooling with the headline init, row scan (and every
    other kind in its default config)."""
    pooling = config["pooling"]
    if pooling["kind"].startswith("lstm"):
        return pooling.get("init") == HEADLINE_INIT and row_scan(config)
    return not changed_hyperparameters(config)
