"""A line of progress now and then, for runs whose progress bar is off (a campaign's logs, a scheduler's)."""
from __future__ import annotations

import time

import pytorch_lightning as pl

# What a line shows of the last validation: a classifier's test error per epoch (the paper's curves), Table 1's
# validation MAE; a pack's members' too (m0/test/error, ...)
SHOWN = ("test/error", "val/mae")


def duration(seconds: float) -> str:
    """``seconds`` as a person reads it.

    >>> duration(42), duration(754), duration(4980)
    ('42 s', '13 min', '1 h 23 min')
    """
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class ProgressLines(pl.Callback):
    """After each validation, and every ``every_s`` seconds of training in between, one line on stdout::

        step 1500/3000 (50%): 1.92 s/step, about 48 min left; test/error 0.4213

    A run counted in epochs (Table 1's) says ``epoch 3/8`` instead. The pace counts this process's steps only (a
    resumed run's earlier steps ran elsewhere). Silent where a progress bar shows the same.
    """

    def __init__(self, every_s: float = 300.0) -> None:
        self.every_s = every_s
        self.active = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.active = trainer.progress_bar_callback is None
        self.started = self.last = time.monotonic()
        self.first_step = trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, *args) -> None:
        if self.active and time.monotonic() - self.last >= self.every_s:
            self.say(trainer, "")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.active and not trainer.sanity_checking:
            shown = [f"{name} {float(value):.4f}" for name, value in sorted(trainer.callback_metrics.items())
                     if name.endswith(SHOWN)]
            self.say(trainer, "; " + ", ".join(shown) if shown else "")

    def say(self, trainer: pl.Trainer, tail: str) -> None:
        self.last = time.monotonic()
        print(self.position(trainer) + tail, flush=True)

    def position(self, trainer: pl.Trainer) -> str:
        if trainer.max_steps <= 0:  # epochs of optimizer steps that a batch count does not give (Table 1's items)
            return f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"
        step, total = trainer.global_step, trainer.max_steps
        done, elapsed = step - self.first_step, self.last - self.started
        pace = f": {elapsed / done:.2f} s/step, about {duration(elapsed / done * (total - step))} left" if done else ""
        return f"step {step}/{total} ({100 * step / total:.0f}%){pace}"
