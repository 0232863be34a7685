"""LSTM pooling: the functional op, its reference, and the module."""
from .functional import IMPLS, lstm_pool2d, lstm_scan
from .reference import lstm_scan_reference
from .windows import SCANS

__all__ = ["IMPLS", "SCANS", "lstm_pool2d", "lstm_scan", "lstm_scan_reference"]
from .factory import KINDS, PoolFactory
from . import cpu_kernel
from .module import INITS, LSTMPool2d, constrain_lstm_pools_, init_params

__all__ += ["KINDS", "INITS", "LSTMPool2d", "PoolFactory", "constrain_lstm_pools_", "init_params"]
