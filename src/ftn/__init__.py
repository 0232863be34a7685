"""Fully Trainable Network: CNNs whose pooling layers are learned scalar LSTM units."""
from .pooling.convert import convert_pooling

__all__ = ["convert_pooling"]
