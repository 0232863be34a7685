"""``PackedClassification``: a pack's K members trained as one ``Classification``, each with its own metrics and guard.

Every metric is logged per member under ``m<k>/<metric>`` (``ftn.packing`` hands member k the ones under its
prefix, renamed to the solo run's names), as epoch means accumulated on the device and logged once per epoch.

Divergence, per member and on the device, by the rule of a solo run (``ftn.health.MemberHealth``, ``health``): a
member whose loss or gradient norm is not finite, or whose loss explodes, dies at that step. From then on its
loss is left out of the backward, its gradients and optimizer state are zeroed (so it stops updating), and the
others go on; nothing a member computes reaches another (``ftn.models.packed``). The host reads ``health.alive``
once per epoch, and training stops when no member is left.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.packed import Pack
from ..pooling.packed import PackedPool
from ..health import MemberHealth
from .classification import Classification, learned_pool_values

def member_prefix(member: int) -> str:
    return f"m{member}/"


def member_metrics(metrics: dict, member: int) -> dict:
    """Member ``member``'s metrics under the solo run's names, with the pack's own (the learning rate)."""
    prefix, out = member_prefix(member), {}
    for key, value in metrics.items():
        head, _, rest = key.partition("/")
        if key.startswith(prefix):
            out[rest] = value
        elif not (head[:1] == "m" and head[1:].isdigit() and rest):
            out[key] = value
    return out


class PackedClassification(Classification):
    """Args: as ``Classification``, with ``model`` a ``Pack``."""

    def __init__(self, model: Pack, optimizer, schedule, compile: bool | str = False,
                 channels_last: bool | str = False) -> None:
        super().__init__(model, optimizer, schedule, compile, channels_last)
        self.health = MemberHealth(model.size)  # a submodule: on the device, and in checkpoints
        self.sums: dict[str, torch.Tensor] = {}  # stage -> (3, K): loss sum, error sum, images

    # ---- steps ----------------------------------------------------------------------------------------------
    def _member_step(self, x: torch.Tensor, y: torch.Tensor, stage: str) -> torch.Tensor:
        """(K, B, ...) images and (K, B) labels -> (K,) member losses, accumulated into the stage's epoch sums."""
        logits = self.model(x)
        k, batch = y.shape
        losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(k, batch).mean(1)
        errors = (logits.argmax(-1) != y).float().mean(1)
        sums = self.sums.setdefault(stage, torch.zeros(3, k, device=losses.device, dtype=torch.float64))
        sums += torch.stack([losses.detach() * batch, errors * batch, torch.full_like(errors, batch)])
        return losses

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        losses = self._member_step(*batch, "train")
        self.health.note_losses(losses.detach(), self.global_step, self.current_epoch)
        return torch.where(self.health.alive, losses, 0.0).sum()  # a dead member's loss sends no gradient back

    def _shared_batch(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch  # test batches are every member's: (B, ...) and (B,)
        k = self.model.size
        return x.expand(k, *x.shape), y.expand(k, *y.shape)

    def validation_step(self, batch, batch_idx) -> None:
        self._member_step(*self._shared_batch(batch), "test")

    def test_step(self, batch, batch_idx) -> None:
        self._member_step(*self._shared_batch(batch), "final_test")

    # ---- the members' updates -----------------------------------------------------------------------------
    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip each member's gradients to total norm ``gradient_clip_val``, never over the pack; a member whose
        norm is not finite dies here, and every dead member's gradients and optimizer state are zeroed."""
        norms = self.model.clip_member_grads_(gradient_clip_val if gradient_clip_val else float("inf"))
        self.health.note_grad_norms(norms, self.global_step, self.current_epoch)
        grads = {p: p.grad for p in self.model.parameters() if p.grad is not None}
        state = {p: t for p in grads for t in optimizer.state.get(p, {}).values()
                 if isinstance(t, torch.Tensor) and t.shape == p.shape}
        self.model.zero_members_(grads, self.health.alive)
        self.model.zero_members_(state, self.health.alive)

    # ---- per-member metrics, once per epoch ---------------------------------------------------------------
    def _log_stage(self, stage: str) -> None:
        sums = self.sums.pop(stage, None)
        if sums is None:
            return
        loss, error = (sums[:2] / sums[2]).float()
        for k in range(self.model.size):
            self.log(f"{member_prefix(k)}{stage}/loss", loss[k])
            self.log(f"{member_prefix(k)}{stage}/error", error[k])

    def on_train_epoch_end(self) -> None:
        self._log_stage("train")
        for name, module in self.model.model.named_modules():
            if isinstance(module, PackedPool):  # each member's pool, logged as its solo run logs it
                for k, pool in enumerate(module.members):
                    for key, value in learned_pool_values(name, pool).items():
                        self.log(member_prefix(k) + key, value)
        if not self.health.alive.any():  # one host read per epoch
            self.trainer.should_stop = True

    def on_validation_epoch_end(self) -> None:
        self._log_stage("test")

    def on_test_epoch_end(self) -> None:
        self._log_stage("final_test")
