"""Pooling: the LSTM op, its implementations and module, the GRU unit, the zoo of other methods, and the factory."""
from . import cpu_kernel, ops, triton_kernel
from .factory import KINDS, RECURRENT, ZOO_KINDS, PoolFactory, hyperparameters
from .functional import IMPLS, RESOLVED, lstm_pool2d, lstm_scan, resolved_impl
from .gru import GRUPool2d
from .module import (EXACT_INITS, INITS, TRAINABLE_INITS, LSTMPool2d, constrain_lstm_pools_, frozen_entries,
                     init_params, unit_values)
from .reference import gru_scan_reference, lstm_scan_reference
from .windows import SCANS
from .zoo import CHANNEL_WISE, ZOO

__all__ = ["CHANNEL_WISE", "EXACT_INITS", "IMPLS", "INITS", "KINDS", "RECURRENT", "RESOLVED", "SCANS",
           "TRAINABLE_INITS", "ZOO", "ZOO_KINDS", "GRUPool2d", "LSTMPool2d", "PoolFactory", "constrain_lstm_pools_", "cpu_kernel",
           "frozen_entries", "gru_scan_reference", "hyperparameters", "init_params", "lstm_pool2d", "lstm_scan",
           "lstm_scan_reference", "ops", "resolved_impl", "triton_kernel", "unit_values"]
