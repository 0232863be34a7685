"""LSTM pooling: the functional op, its implementations, the module and the pooling factory."""
from . import cpu_kernel, triton_kernel
from .factory import KINDS, PoolFactory
from .functional import IMPLS, lstm_pool2d, lstm_scan
from .module import (EXACT_INITS, INITS, TRAINABLE_INITS, LSTMPool2d, constrain_lstm_pools_, frozen_entries,
                     init_params, unit_values)
from .reference import lstm_scan_reference
from .windows import SCANS

__all__ = ["EXACT_INITS", "IMPLS", "INITS", "KINDS", "SCANS", "TRAINABLE_INITS", "LSTMPool2d", "PoolFactory",
           "constrain_lstm_pools_", "cpu_kernel", "frozen_entries", "init_params", "lstm_pool2d", "lstm_scan",
           "lstm_scan_reference", "triton_kernel", "unit_values"]
