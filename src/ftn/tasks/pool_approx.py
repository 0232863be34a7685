"""Table 1: one scalar LSTM unit learns a pooling function (max, or avg) of generated windows."""
from __future__ import annotations

from typing import Any, Callable

import pytorch_lightning as pl
import torch
from torch import nn

from ..data.sequences import TEST_ZERO_FRACTIONS
from ..pooling import init_params, lstm_scan, unit_values
from ..pooling.module import apply_constraint_

TARGETS = {"max": lambda x: x.amax(1), "avg": lambda x: x.mean(1)}


class PoolApproximation(pl.LightningModule):
    """Batches (N, L) of values -> the unit's last h, trained with MAE against ``target``.

    Args:
        seq_len: L, the window size k*k.
        target: "max" or "avg".
        negative_slope: slope of the modulations (0 = ReLU, as in the paper's Table 1).
        init: one of ``ftn.pooling.INITS``; Table 1 uses "lasagne" (random, scaled by ``init_scale``).
        init_scale: factor on the random input and recurrent weights; 1/300 keeps the
            gates out of saturation for inputs in [0, 300] (see results/table1.md).
        optimizer: partial optimizer (the paper's SGD with Nesterov momentum).
        finetune_optimizer: partial optimizer that takes over once the plateau schedule
            has cut ``optimizer``'s learning rate below ``switch_lr``; None: never.
        grad_clip: max total gradient norm (Lasagne's total norm constraint); None: off.
        lr_factor, lr_patience, min_lr: the plateau schedule; the learning rate never goes below min_lr, and
            the run lasts ``trainer.max_epochs`` (every Table 1 record was made so).
        impl: LSTM implementation ("auto", "fused", "reference").
    """

    def __init__(self, seq_len: int, optimizer: Callable, finetune_optimizer: Callable | None = None,
                 switch_lr: float = 0.0, grad_clip: float | None = None, target: str = "max",
                 negative_slope: float = 0.0, init: str = "lasagne", init_scale: float = 1.0,
                 lr_factor: float = 0.1, lr_patience: int = 0, min_lr: float = 1e-9, impl: str = "auto") -> None:
        super().__init__()
        if target not in TARGETS:
            raise ValueError(f"task.target={target!r} is unknown; allowed: {', '.join(TARGETS)}")
        self.save_hyperparameters(ignore=["optimizer", "finetune_optimizer"])
        self.automatic_optimization = False  # two optimizers in sequence, switched on a plateau
        self.finetune_optimizer = finetune_optimizer
        self.register_buffer("phase", torch.zeros((), dtype=torch.long))  # 0: optimizer, 1: finetune
        if init_scale != 1.0 and init != "lasagne":
            raise ValueError(f"task.init_scale={init_scale} is invalid with task.init={init!r}; allowed: 1.0 "
                             "(it scales the random weights of task.init=lasagne only)")
        params = init_params(init, seq_len)
        params[:, :2] *= init_scale
        self.params = nn.Parameter(params)
        self.target, self.optimizer = TARGETS[target], optimizer
        self._eval_sums: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lstm_scan(x.t(), self.params, self.hparams.negative_slope, self.hparams.impl)

    def _abs_err(self, x: torch.Tensor) -> torch.Tensor:
        return (self(x) - self.target(x)).abs()

    def training_step(self, batches, batch_idx) -> None:
        """``batches`` (group, N, L): one optimizer step per batch."""
        opt = self._active(self.optimizers())
        losses = []
        for x in batches:
            loss = self._abs_err(x).mean()
            opt.zero_grad()
            self.manual_backward(loss)
            if self.hparams.grad_clip:
                nn.utils.clip_grad_norm_(self.parameters(), self.hparams.grad_clip)
            opt.step()
            apply_constraint_(self.params)
            losses.append(loss.detach())
        self.log("train/mae", torch.stack(losses).mean(), prog_bar=True)

    def _active(self, items: Any) -> Any:  # one optimizer or scheduler, or a list of one per phase
        items = items if isinstance(items, list) else [items]
        return items[int(self.phase)]

    # Evaluation sets have millions of windows: sum errors in float64, divide once.
    def _accumulate(self, name: str, x: torch.Tensor) -> None:
        err = self._abs_err(x).double()
        total = self._eval_sums.setdefault(name, torch.zeros(2, dtype=torch.float64))
        total += torch.stack([err.sum().cpu(), torch.tensor(float(err.numel()))])

    def _log_means(self) -> None:
        for name, (total, count) in self._eval_sums.items():
            self.log(name, float(total / count))
        self._eval_sums = {}

    def validation_step(self, x, batch_idx) -> None:
        self._accumulate("val/mae", x[0])

    def on_validation_epoch_end(self) -> None:
        self._log_means()
        if self.trainer.sanity_checking or self.trainer.state.fn != "fit":
            return
        plateau = self._active(self.lr_schedulers())
        plateau.step(self.trainer.callback_metrics["val/mae"])
        lr = plateau.optimizer.param_groups[0]["lr"]
        if self.phase == 0 and self.finetune_optimizer is not None and lr < self.hparams.switch_lr:
            self.phase += 1
            lr = self._active(self.optimizers()).param_groups[0]["lr"]
        self.log("lr", lr)
        self.log("phase", float(self.phase))

    def test_step(self, x, batch_idx, dataloader_idx=0) -> None:
        self._accumulate(f"test/{list(TEST_ZERO_FRACTIONS)[dataloader_idx]}_mae", x[0])

    def on_test_epoch_end(self) -> None:
        names = list(self._eval_sums)
        self._log_means()
        for name in names:  # the paper's unit: 1e-5
            self.log(name.replace("_mae", "_mae_1e5"), self.trainer.callback_metrics[name].item() * 1e5)

    def on_train_epoch_end(self) -> None:
        for key, value in unit_values(self.params).items():
            self.log(f"lstm/{key}", value)

    def configure_optimizers(self) -> tuple[list, list]:
        opts = [self.optimizer(self.parameters())]
        if self.finetune_optimizer is not None:
            opts.append(self.finetune_optimizer(self.parameters()))
        plateaus = [torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=self.hparams.lr_factor, patience=self.hparams.lr_patience, threshold=0.0,
            min_lr=self.hparams.min_lr)
            for opt in opts]
        return opts, plateaus
