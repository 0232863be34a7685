"""Conv N (section 4.2): two stacks of two 3x3 convs, 4x4 then 8x8 pooling, two FC layers of N units."""
from __future__ import annotations

import torch
from torch import nn

from .blocks import classifier, conv_bn_act


class ConvNet(nn.Module):
    """(B, 3, 32, 32) -> (B, num_classes) logits.

    Args:
        width: N, the units of every conv and hidden FC layer.
        pool: the ``pooling`` group's factory, called once per pooling layer.
        negative_slope: leaky ReLU slope (the paper: 0.3); LSTM modulations use the same.
    """

    def __init__(self, width: int, pool, num_classes: int = 10, negative_slope: float = 0.3,
                 dropout: float = 0.5, image_size: int = 32, pool_sizes: tuple[int, int] = (4, 8)) -> None:
        super().__init__()
        n, (k1, k2) = width, pool_sizes
        if image_size % (k1 * k2):
            raise ValueError(f"model.image_size={image_size} is not divisible by the pool sizes {k1}x{k2}")
        self.features = nn.Sequential(
            *conv_bn_act(3, n, negative_slope), *conv_bn_act(n, n, negative_slope),
            pool(k1, negative_slope, (image_size, image_size), n),
            *conv_bn_act(n, n, negative_slope), *conv_bn_act(n, n, negative_slope),
            pool(k2, negative_slope, (image_size // k1,) * 2, n),
        )
        side = image_size // (k1 * k2)
        self.classifier = classifier(n * side * side, n, num_classes, negative_slope, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
