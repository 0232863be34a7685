"""Tables 2 and 4: image classification with any model x pooling, SGD and a step schedule."""
from __future__ import annotations

import warnings
from typing import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import LearningRateMonitor
from torch import nn

from ..pooling import TRAINABLE_INITS, LSTMPool2d, constrain_lstm_pools_, frozen_entries, unit_values
from ..pooling.zoo import WindowPool

CHANNELS_LAST = (True, False, "auto")


def uses_channels_last(setting: bool | str, device: torch.device) -> bool:
    """Whether ``task.channels_last`` (``setting``) trains in NHWC on ``device``: "auto" does on the CPU only, where
    scripts/bench_cpu_step.py measures it faster (the kernel that reads NHWC in place is the CPU's)."""
    return device.type == "cpu" if setting == "auto" else bool(setting)


def learned_pool_values(name: str, module: nn.Module) -> dict[str, float]:
    """A pooling layer's learned values under the names a run logs them by, once per epoch: an LSTM unit's 12
    (``lstm/<layer>/w_i``, ...; lstm and lstm_shared), a zoo kind's learned scalars (``pool/<layer>/p``: lp's p,
    maxavg's alpha); nothing for a fixed pool, or for lstm_region's unit per window position, too many to log per
    epoch (it stays in the checkpoint)."""
    if isinstance(module, LSTMPool2d) and module.params.dim() == 2:
        return {f"lstm/{name}/{key}": value for key, value in unit_values(module.params).items()}
    if isinstance(module, WindowPool):
        return {f"pool/{name}/{key}": value for key, value in module.learned_values().items()}
    return {}


class Classification(pl.LightningModule):
    """Args:
        model: an ``nn.Module`` mapping images to logits (the ``model`` group).
        optimizer: partial optimizer (the ``optimizer`` group).
        schedule: the ``schedule`` group: ``milestones`` (optimizer steps) and ``gamma``.
        compile: compile the model with ``torch.compile`` (in place, so parameter and metric names stay): true, or a
            ``torch.compile`` mode ("reduce-overhead": CUDA graphs).
        channels_last: the model's weights and every image batch in ``torch.channels_last`` (NHWC): the convolutions
            and the LSTM pooling kernel then read channels contiguously, and each layer hands the next NHWC with no
            copy back. True, False, or "auto": on the CPU only, where scripts/bench_cpu_step.py measures it faster
            (the kernel that reads NHWC in place is the CPU's). It changes the float summation order, not the
            experiment (not a run identity).

    Logging stays on the device: every metric is accumulated per epoch by Lightning and read on the host
    once per epoch, so a training step never waits for the GPU (a per-step ``.item()`` would).
    """

    def __init__(self, model: nn.Module, optimizer: Callable, schedule, compile: bool | str = False,
                 channels_last: bool | str = False) -> None:
        super().__init__()
        if channels_last not in CHANNELS_LAST:
            raise ValueError(f"task.channels_last={channels_last!r} is invalid; allowed: true, false, auto")
        self.model, self.optimizer = model, optimizer
        self.milestones, self.gamma = list(schedule["milestones"]), schedule["gamma"]
        self.channels_last = channels_last
        if compile:  # nn.Module.compile: the state_dict keeps its keys (no "_orig_mod.")
            self.model.compile(mode=None if compile is True else compile)

    def setup(self, stage: str) -> None:
        # here, where the device is known; before the first forward, which is when a compiled model is traced
        self.channels_last = uses_channels_last(self.channels_last, self.trainer.strategy.root_device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # here and not in on_after_batch_transfer: Lightning skips the task's hook where the data module has its own
        # (the CIFAR one whitens there); a pack's (K, B, C, H, W) batch meets its first conv as it is
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        error = (logits.argmax(1) != y).float().mean()
        # epoch means only: a per-step value would be copied to the host (a GPU sync) for the logger or the bar
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=stage != "train")
        self.log(f"{stage}/error", error, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx) -> None:
        self._step(batch, "test")  # per-epoch test curve (figure 5)

    def test_step(self, batch, batch_idx) -> None:
        self._step(batch, "final_test")

    def on_after_backward(self) -> None:
        if self.global_step == 0:  # the first step's gradients show a unit that cannot learn
            self._warn_frozen_units()

    def _warn_frozen_units(self) -> None:
        seen = set()  # a shared unit (lstm_shared) is reported once
        for name, module in self.model.named_modules():
            if isinstance(module, LSTMPool2d) and module.params.grad is not None and id(module.params) not in seen:
                seen.add(id(module.params))
                if frozen := frozen_entries(module.params.grad):
                    warnings.warn(f"pooling unit {name}: {', '.join(frozen)} got no usable gradient at the first "
                                  "step (saturated gates); they will not train. A trainable init: "
                                  f"pooling.init={' | '.join(TRAINABLE_INITS)}")

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        constrain_lstm_pools_(self.model)  # section 3.2, after every step

    def configure_callbacks(self) -> list[pl.Callback]:
        # the learning rate once per epoch, logged as "lr" (the scheduler's name below); it needs a logger
        return [LearningRateMonitor(logging_interval="epoch")] if self.trainer.loggers else []

    def on_train_epoch_end(self) -> None:
        for name, module in self.model.named_modules():
            for key, value in learned_pool_values(name, module).items():
                self.log(key, value)

    def configure_optimizers(self) -> dict:
        opt = self.optimizer(self.parameters())
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, self.milestones, self.gamma)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "name": "lr"}}
