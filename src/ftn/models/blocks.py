"""Layers the Conv N and VGG16 nets share."""
from __future__ import annotations

from torch import nn


def conv_bn_act(cin: int, cout: int, negative_slope: float) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.LeakyReLU(negative_slope, inplace=True)]


def classifier(features: int, hidden: int, num_classes: int, negative_slope: float, dropout: float) -> nn.Sequential:
    """Two fully connected layers of ``hidden`` units with dropout, then the class layer (softmax in the loss)."""
    layers: list[nn.Module] = [nn.Flatten()]
    for cin in (features, hidden):
        layers += [nn.Linear(cin, hidden), nn.LeakyReLU(negative_slope, inplace=True), nn.Dropout(dropout)]
    return nn.Sequential(*layers, nn.Linear(hidden, num_classes))
