"""Which runs may share a pack: the one rule, read from resolved configs (a packed sweep, ``ftn.packing``) and from
override lists (a campaign's queue, ``ftn.campaign``).

The members of a pack differ only in their seed and their pooling (``MEMBER_KEYS``); the model, data, optimizer,
schedule and everything else they share. Pure functions on dicts and strings (no torch).
"""
from __future__ import annotations

import json
from typing import Hashable, Sequence

from .identity import flatten, result_config

# What the members of one pack may differ in: a config key under one of these (``pooling.init``), or an override
# of one (``seed=1``, ``pooling=lstm``).
MEMBER_KEYS = ("seed", "dataset.seed", "pooling")


def member_key(key: str) -> bool:
    """Whether the members of one pack may differ in ``key``: a dotted config key, or the key or group an override
    sets (``+`` and ``~`` prefixes included)."""
    key = key.lstrip("+~")
    return any(key == k or key.startswith(k + ".") for k in MEMBER_KEYS)


def override_key(override: str) -> str:
    """``pooling.init=avg_soft`` -> ``pooling.init``."""
    return override.partition("=")[0]


def shared_config(config: dict) -> str:
    """What a resolved config's pack mates share with it: runs with equal keys may share a pack."""
    flat = flatten(result_config(config))
    return json.dumps({k: v for k, v in flat.items() if not member_key(k)}, sort_keys=True, default=str)


def shared_overrides(overrides: Sequence[str]) -> tuple[str, ...]:
    """``shared_config`` of a run given as its overrides: every override but the member keys', sorted."""
    return tuple(sorted(o for o in overrides if not member_key(override_key(o))))


def split_into_packs(shared: Sequence[Hashable], order: Sequence, size: int) -> list[list[int]]:
    """Indices of a queue's runs per pack: runs with equal ``shared`` keys go together, in queue order; each group
    is ordered by ``order`` (the runs' pooling, so a pack's layer makes one call per pooling kind) and split into
    packs of at most ``size``."""
    groups: dict[Hashable, list[int]] = {}
    for index, key in enumerate(shared):
        groups.setdefault(key, []).append(index)
    packs = []
    for indices in groups.values():
        indices = sorted(indices, key=lambda i: order[i])
        packs += [indices[i:i + size] for i in range(0, len(indices), size)]
    return packs
