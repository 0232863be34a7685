"""LSTM pooling: the functional op, its implementations, the module and the pooling factory."""
from . import cpu_kernel, ops, triton_kernel
from .factory import KINDS, PoolFactory
from .functional import IMPLS, RESOLVED, lstm_pool2d, lstm_scan, resolved_impl
from .module import (EXACT_INITS, INITS, TRAINABLE_INITS, LSTMPool2d, constrain_lstm_pools_, frozen_entries,
                     init_params, unit_values)
from .reference import lstm_scan_reference
from .windows import SCANS

__all__ = ["EXACT_INITS", "IMPLS", "INITS", "KINDS", "RESOLVED", "SCANS", "TRAINABLE_INITS", "LSTMPool2d",
           "PoolFactory", "constrain_lstm_pools_", "cpu_kernel", "frozen_entries", "init_params", "lstm_pool2d",
           "lstm_scan", "lstm_scan_reference", "ops", "resolved_impl", "triton_kernel", "unit_values"]
