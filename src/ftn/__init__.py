"""Fully Trainable Network: CNNs whose pooling layers are learned scalar LSTM units."""
