"""The divergence rule of every run, solo or packed, on the device (``MemberHealth``): used by a solo run's
``ftn.runs.DivergenceGuard`` and by a pack's task, ``ftn.tasks.packed``."""
from __future__ import annotations

import torch


class MemberHealth(torch.nn.Module):
    """The one divergence rule, for K runs at once on the device: a run dies at the first loss or gradient norm that
    is not finite, or loss that exceeds ``EXPLODED`` times its own first one (finite, but no result: a momentum of 2
    "finished" at 1.3e11). K = 1 is a solo run (``DivergenceGuard``), K > 1 a pack's members
    (``ftn.tasks.packed``). Every update is a tensor op, so nothing here waits for the device: reading ``alive`` is
    the one host sync, and the caller decides when to make it. The buffers go into checkpoints."""

    EXPLODED = 1e6

    def __init__(self, size: int = 1) -> None:
        super().__init__()
        self.register_buffer("alive", torch.ones(size, dtype=torch.bool))
        self.register_buffer("died_at", torch.full((size,), -1, dtype=torch.long))  # optimizer step; -1: alive
        self.register_buffer("died_in_epoch", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("loss_limit", torch.full((size,), float("nan")))  # EXPLODED x the first loss

    def _mark(self, healthy: torch.Tensor, step: int, epoch: int) -> None:
        if self.alive.device != healthy.device:
            self.to(healthy.device)
        dying = self.alive & ~healthy
        self.died_at.copy_(torch.where(dying, step, self.died_at))
        self.died_in_epoch.copy_(torch.where(dying, epoch, self.died_in_epoch))
        self.alive &= healthy

    @torch.no_grad()
    def note_losses(self, losses: torch.Tensor, step: int, epoch: int) -> None:
        """(K,) training losses of one step."""
        if self.loss_limit.device != losses.device:
            self.to(losses.device)
        limit = self.EXPLODED * losses.abs().clamp_min(torch.finfo(losses.dtype).tiny)
        self.loss_limit.copy_(torch.where(self.loss_limit.isnan(), limit, self.loss_limit))
        self._mark(losses.isfinite() & (losses <= self.loss_limit), step, epoch)

    @torch.no_grad()
    def note_grad_norms(self, norms: torch.Tensor, step: int, epoch: int) -> None:
        """(K,) gradient norms of one step, before it is applied."""
        self._mark(norms.isfinite(), step, epoch)
