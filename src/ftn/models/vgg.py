"""VGG16 as in section 4.3: five conv stacks with 2x2 pooling, dropout 0.3 after pooling, two FC layers.

Choices the paper leaves open: batch norm after every conv (as Conv N, section 4.2) and FC layers of 512 units
(``hidden``), the usual CIFAR variant of VGG16; PyTorch's default weight init; no weight decay.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import classifier, conv_bn_act

STACKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


class VGG16(nn.Module):
    """(B, 3, 32, 32) -> (B, num_classes) logits. Leaky ReLU 0.1 everywhere, LSTM modulations too."""

    def __init__(self, pool, num_classes: int = 10, negative_slope: float = 0.1, hidden: int = 512,
                 pool_dropout: float = 0.3, fc_dropout: float = 0.5, image_size: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin, size = 3, image_size
        for depth, cout in STACKS:
            for _ in range(depth):
                layers += conv_bn_act(cin, cout, negative_slope)
                cin = cout
            layers += [pool(2, negative_slope, (size, size), cin), nn.Dropout(pool_dropout)]
            size //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = classifier(cin * size * size, hidden, num_classes, negative_slope, fc_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
