"""The paper's augmentation (pad-4 random crop + horizontal flip) as one batched gather with a generator per stream.

kornia's augmentations draw from the global RNG, so two runs sharing a process (a pack's members) would share a
stream. Here every stream owns a ``torch.Generator``: a member's crops and flips depend on its own seed alone,
whatever pack it trains in. The draws (a few bytes per image) are made on the CPU and the crop itself is one
gather on the device, airbench-style, with no per-image Python.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PADDING = 4  # the paper's crops: of the image padded by 4 pixels on every side


def crop_flip(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, padding: int) -> torch.Tensor:
    """Crop each zero-padded image at its offset, mirrored where ``flips``.

    Args:
        images: (N, C, H, W).
        offsets: (N, 2) integer (dy, dx) in [0, 2 padding]: the crop's corner in the padded image.
        flips: (N,) bool, mirror left-right.
        padding: zeros added on every side (kornia's ``RandomCrop(padding=...)``, constant mode).

    Returns:
        (N, C, H, W).
    """
    n, c, h, w = images.shape
    padded = F.pad(images, (padding,) * 4)
    offsets, flips = offsets.to(images.device), flips.to(images.device)
    rows = offsets[:, :1] + torch.arange(h, device=images.device)  # (N, H)
    across = torch.arange(w, device=images.device)
    cols = offsets[:, 1:] + torch.where(flips[:, None], w - 1 - across, across)  # (N, W)
    index = (rows[:, :, None] * (w + 2 * padding) + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return padded.flatten(2).gather(2, index).view(n, c, h, w)


class CropFlip:
    """A stream of crops and flips: (N, C, H, W) -> (N, C, H, W), drawn from its own generator.

    Args:
        seed: the stream's seed (a run's seed).
        padding: pixels of zero padding on every side; offsets are uniform in [0, 2 padding].
    """

    def __init__(self, seed: int, padding: int = PADDING) -> None:
        self.padding = padding
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return crop_flip(images, *self.draw(len(images)), self.padding)

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``n`` images' (N, 2) offsets and (N,) flips; a pack gathers its members' draws in one crop."""
        offsets = torch.randint(0, 2 * self.padding + 1, (n, 2), generator=self.generator)
        return offsets, torch.rand(n, generator=self.generator) < 0.5

    # resumable: the data module saves the stream with every checkpoint
    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
