"""Generated sequences for Table 1: the values a pooling window sees after a ReLU layer.

Values are uniform in [0, high] (the paper: [0, 300]); the test sets T1, T2, T3 zero
out 0%, 50% and 80% of them: each value independently with that probability, so the count per
window varies (the paper does not say which; at 2x2 and 80%, 41% of windows are all zero). Training and validation batches zero out a fraction drawn
per batch from ``zero_fractions`` (the paper: only 0). Evaluation sets are fixed by the seed and served in
chunks of many batches, since only the mean error over all of them is reported.
"""
from __future__ import annotations

from typing import Iterator

import pytorch_lightning as pl
import torch

TEST_ZERO_FRACTIONS = {"T1": 0.0, "T2": 0.5, "T3": 0.8}


class _Sequences:
    """Yields ``batches`` items of shape (group, batch_size, seq_len): ``group`` batches at a time.

    An epoch's items come from a generator seeded by the seed (plus the epoch, when ``fresh_each_epoch``), so a
    position is just the epoch and the items served in it: ``seek`` makes the next pass regenerate the items
    already trained on, drop them, and go on with the items a run that was never stopped would get. (The same
    contract as ``ftn.data.cifar.DeviceBatches``; the data module saves the position with every checkpoint.)
    """

    def __init__(self, seq_len, batch_size, batches, high, zero_fractions, seed, fresh_each_epoch, group=1) -> None:
        self.shape, self.batches, self.group = (batch_size, seq_len), batches, group
        self.high, self.zero_fractions, self.seed = high, torch.tensor(zero_fractions), seed
        self.fresh_each_epoch = fresh_each_epoch
        self.epoch = 0  # the epoch the next pass serves
        self.current: int | None = None  # the epoch of the pass under way (None: none since the last seek)
        self.served = 0  # items the current pass has yielded
        self.skip = 0  # items the next pass has already trained on (a resumed epoch)

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[torch.Tensor]:
        self.current, self.epoch = self.epoch, self.epoch + 1
        gen = torch.Generator().manual_seed(self.seed + (self.current if self.fresh_each_epoch else 0))
        start, self.skip = self.skip, 0
        for _ in range(start):
            self._item(gen)
        self.served = start
        for i in range(start, self.batches):
            self.served = i + 1
            yield self._item(gen)

    def position(self) -> dict:
        if self.current is None or self.served >= self.batches:  # no pass under way: the next one
            return {"epoch": self.epoch, "served": self.skip}
        return {"epoch": self.current, "served": self.served}

    def seek(self, position: dict) -> None:
        self.epoch, self.skip, self.current = position["epoch"], position["served"], None

    def _item(self, gen: torch.Generator) -> torch.Tensor:
        return torch.stack([self._batch(gen) for _ in range(self.group)])

    def _batch(self, gen: torch.Generator) -> torch.Tensor:
        x = torch.rand(self.shape, generator=gen) * self.high
        zero_fraction = self.zero_fractions[torch.randint(len(self.zero_fractions), (), generator=gen)]
        if zero_fraction > 0:
            x = x * (torch.rand(self.shape, generator=gen) >= zero_fraction)
        return x


class SequenceData(pl.LightningDataModule):
    """Items of shape (group, batch_size, seq_len).

    Training items hold ``steps_per_item`` batches, one optimizer step each (the task loops
    over them), because per-item framework overhead dwarfs a step of this 12-parameter model.
    Evaluation items are one batch ``eval_chunk`` times larger.
    """

    def __init__(self, seq_len: int, batch_size: int = 128, train_batches: int = 10_000,
                 eval_batches: int = 10_000, eval_chunk: int = 100, high: float = 300.0,
                 zero_fractions: tuple[float, ...] = (0.0,), steps_per_item: int = 1, seed: int = 0) -> None:
        super().__init__()
        for key, total, part in (("eval_batches", eval_batches, eval_chunk), ("train_batches", train_batches, steps_per_item)):
            if total % part:
                raise ValueError(f"dataset.{key}={total} is not a multiple of {part}; allowed: multiples of it")
        self.seq_len, self.batch_size, self.high, self.seed = seq_len, batch_size, high, seed
        self.eval_batches, self.eval_chunk = eval_batches, eval_chunk
        self.zero_fractions = tuple(zero_fractions)
        self.train_set = _Sequences(seq_len, batch_size, train_batches // steps_per_item, high, self.zero_fractions,
                                    seed, fresh_each_epoch=True, group=steps_per_item)

    def _eval_set(self, zero_fractions: tuple[float, ...], seed: int) -> _Sequences:
        return _Sequences(self.seq_len, self.batch_size * self.eval_chunk, self.eval_batches // self.eval_chunk,
                          self.high, zero_fractions, seed, fresh_each_epoch=False)

    # the sets themselves serve as loaders: no worker processes or collation for items already in memory
    def train_dataloader(self) -> _Sequences:
        return self.train_set

    # the training position, saved with every checkpoint (see _Sequences)
    def state_dict(self) -> dict:
        return {"train_position": self.train_set.position()}

    def load_state_dict(self, state: dict) -> None:
        if "train_position" in state:
            self.train_set.seek(state["train_position"])

    def val_dataloader(self) -> _Sequences:
        return self._eval_set(self.zero_fractions, self.seed + 10**6)

    def test_dataloader(self) -> list[_Sequences]:
        return [self._eval_set((z,), self.seed + 2 * 10**6 + i)
                for i, z in enumerate(TEST_ZERO_FRACTIONS.values())]
