"""GCN + ZCA whitening (pylearn2's CIFAR recipe, as the paper's ref [34]), as an on-device module.

GCN: subtract each image's mean, scale it to L2 norm 55. ZCA: x -> (x - mean) @ T with
T = U diag(1 / sqrt(lambda + eps)) U^T from the biased covariance of the training split,
i.e. kornia's ``zca_mean(unbiased=False, eps=0.1)``. Mean and T are buffers, so the
fitted transform moves with ``.to(device)`` and is saved in checkpoints and caches.
"""
from __future__ import annotations

import torch
from kornia.enhance import zca_mean
from torch import nn

GCN_SCALE = 55.0


def global_contrast_normalize(x: torch.Tensor, scale: float = GCN_SCALE, min_norm: float = 1e-8) -> torch.Tensor:
    """(N, D) -> (N, D): per-row mean removed, rows scaled to L2 norm ``scale``."""
    x = x - x.mean(dim=1, keepdim=True)
    return scale * x / x.norm(dim=1, keepdim=True).clamp(min=min_norm)


class GCNZCA(nn.Module):
    """Images (N, C, H, W), uint8 or float in [0, 255] -> whitened float (N, C, H, W)."""

    def __init__(self, dim: int = 3 * 32 * 32, eps: float = 0.1) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("transform", torch.eye(dim))

    @staticmethod
    def _gcn(images: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return global_contrast_normalize(images.reshape(len(images), -1).to(dtype) / 255.0)

    @torch.no_grad()
    def fit(self, images: torch.Tensor) -> "GCNZCA":
        """Fit on the training split; float64 for the covariance and eigendecomposition."""
        transform, mean, _ = zca_mean(self._gcn(images, torch.float64), dim=0, unbiased=False, eps=self.eps)
        self.mean.copy_(mean.reshape(-1))
        self.transform.copy_(transform)
        return self

    @torch.no_grad()
    def forward(self, images: torch.Tensor, chunk: int = 10_000) -> torch.Tensor:
        out = [(self._gcn(part, self.transform.dtype) - self.mean) @ self.transform for part in images.split(chunk)]
        return torch.cat(out).reshape(images.shape[0], *images.shape[1:])
