"""``PackedPool``: one pooling layer of a pack, each member pooling its own channels with its own kind.

A pack (``ftn.models.packed``) lays its K members' channels side by side, member k owning channels
[k C, (k + 1) C). Members that pool alike and sit next to each other form a run, and each run is one call
however many members it holds: one ``max_pool2d`` for a run of max members, one fused LSTM launch for a run of
LSTM members, each member with its own unit (``lstm_pool2d`` with (m, 4, 3) channel-group units). The pack
builder orders members by pooling, so a layer makes one call per pooling kind present.

The members' own pooling modules are kept, so a member's units stay its own Parameters: a shared unit
(``lstm_shared``) stays shared between its layers, and the constraint, logging and checkpoints find every unit
where the solo model has it.
"""
from __future__ import annotations

import functools
import itertools

import torch
from torch import nn

from .factory import KINDS, PoolFactory
from .functional import lstm_pool2d
from .module import LSTMPool2d
from .zoo import RankPool, SoftPool

# Channel-wise pools without parameters or randomness: a run of them is one call of the first member's module.
STATELESS = (nn.MaxPool2d, nn.AvgPool2d, RankPool, SoftPool)


def _signature(pool: nn.Module) -> tuple | None:
    """Members whose pools have equal signatures pool their channels in one call; None: ``pool`` cannot be packed."""
    if isinstance(pool, LSTMPool2d):
        if pool.params.dim() != 2:  # units per window position
            return None
        return (LSTMPool2d, pool.kernel_size, pool.stride, pool.padding, pool.negative_slope, pool.scan, pool.impl)
    if type(pool) in STATELESS:
        return (type(pool), pool.extra_repr())
    return None


def _probe(factory: PoolFactory) -> nn.Module:
    """A layer ``factory`` makes: 2x2 windows on 4 channels, without moving the global RNG (some kinds draw)."""
    with torch.random.fork_rng(devices=[]):
        return factory(2, 0.01, (4, 4), 4)


@functools.cache
def packable_kinds() -> tuple[str, ...]:
    """The pooling kinds (``ftn.pooling.KINDS``, in their order) whose layers a pack can hold: those without
    parameters or random draws of their own per layer, and the LSTM kinds with one unit per layer."""
    return tuple(kind for kind in KINDS if _signature(_probe(PoolFactory(kind))) is not None)


def _check_packable(pool: nn.Module) -> tuple:
    """``pool``'s signature, or a one-line ``ValueError`` saying why it cannot be packed."""
    signature = _signature(pool)
    if signature is not None:
        return signature
    allowed = ", ".join(packable_kinds())
    if isinstance(pool, LSTMPool2d):
        raise ValueError("pooling=lstm_region cannot be packed: its units are per window position, not per "
                         f"member; allowed in a pack: {allowed}")
    raise ValueError(f"{type(pool).__name__} cannot be packed: it has learned parameters or random draws of its "
                     f"own per layer, not per member; allowed in a pack: {allowed}")


def check_packable_pooling(factory: PoolFactory) -> None:
    """A one-line ``ValueError`` unless the pools ``factory`` makes can be packed (a probe layer), so a sweep is
    refused before any of it is submitted."""
    _check_packable(_probe(factory))


class PackedPool(nn.Module):
    """(B, K C, H, W) -> (B, K C, H_out, W_out); member k's channels pooled by ``pools[k]``.

    Args:
        pools: the K members' pooling modules of this layer, in pack order.
    """

    def __init__(self, pools: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(pools)
        signatures = [_check_packable(pool) for pool in pools]
        # (first member, number of members) of each run of equal signatures
        self.runs = [(next(group)[0], 1 + sum(1 for _ in group))
                     for _, group in itertools.groupby(enumerate(signatures), key=lambda item: item[1])]

    def _pool_run(self, x: torch.Tensor, first: int, count: int) -> torch.Tensor:
        pool = self.members[first]
        if not isinstance(pool, LSTMPool2d):
            return pool(x)
        units = torch.stack([self.members[k].params for k in range(first, first + count)])  # (count, 4, 3)
        return lstm_pool2d(x, units, pool.kernel_size, pool.stride, pool.padding, pool.negative_slope, pool.scan,
                           pool.impl)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        channels = input.shape[1] // len(self.members)
        outputs = [self._pool_run(input[:, first * channels:(first + count) * channels], first, count)
                   for first, count in self.runs]
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs, 1)

    def extra_repr(self) -> str:
        return "runs=" + ", ".join(f"{type(self.members[first]).__name__} x{count}" for first, count in self.runs)
