"""Up-front config checks: each bad value is one line naming the key, the value and what is allowed, raised before
a wandb run exists (``ftn.lifecycle`` then removes the run folder that Hydra and the lock made; ``ftn.campaign``
checks before any folder exists). Keys a config does not have are skipped."""
from __future__ import annotations

import functools
import inspect
import math
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from omegaconf import OmegaConf

from .config import CONFIG_DIR
from .identity import flatten
from .provenance import training_device
from .runs import ConfigError, first_line


def _integer(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _positive_int(v: Any) -> bool:
    return _integer(v) and v > 0


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _positive_number(v: Any) -> bool:
    return _number(v) and v > 0


def _momentum(v: Any) -> bool:
    return _number(v) and 0 <= v < 1


def _probability(v: Any) -> bool:
    return _number(v) and 0 <= v <= 1


def _folder_name(v: Any) -> bool:
    return isinstance(v, str) and v not in ("", ".", "..") and "/" not in v


# task.compile: false, true, or one of torch.compile's modes
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def _increasing_steps(v: Any) -> bool:
    return (isinstance(v, (list, tuple)) and all(_positive_int(m) for m in v)
            and all(a < b for a, b in zip(v, v[1:])))


ACCELERATORS = ("cpu", "gpu", "cuda", "auto")  # those ftn.provenance.training_device knows


def _visible(accelerator: Any) -> bool:
    """A GPU run needs a GPU torch can see (Lightning would refuse it only once the run's logger exists)."""
    import torch

    return training_device(accelerator).type == "cpu" or torch.cuda.is_available()

# (config key, check, what is allowed)
RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("seed", lambda v: _integer(v) and 0 <= v < 2**32, "an integer in [0, 2^32 - 1]"),
    # the run folder is runs/<name>/...: a name with a slash would put it elsewhere
    ("name", _folder_name, "a non-empty name without '/' (not '.' or '..')"),
    ("model.width", _positive_int, "a positive integer"),
    ("model.negative_slope", lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    ("model.dropout", _probability, "a number in [0, 1]"),
    ("model.pool_dropout", _probability, "a number in [0, 1]"),
    ("model.fc_dropout", _probability, "a number in [0, 1]"),
    ("dataset.num_classes", lambda v: _integer(v) and v >= 2, "an integer >= 2"),
    ("dataset.synthetic_size", _positive_int, "a positive integer"),
    ("dataset.batch_size", _positive_int, "a positive integer"),
    ("dataset.eval_batch_size", _positive_int, "a positive integer"),
    ("dataset.limit_train", lambda v: v is None or _positive_int(v), "null or a positive integer"),
    ("dataset.limit_test", lambda v: v is None or _positive_int(v), "null or a positive integer"),
    ("optimizer.lr", _positive_number, "a finite number > 0"),
    ("task.optimizer.lr", _positive_number, "a finite number > 0"),
    ("optimizer.momentum", _momentum, "a number in [0, 1)"),
    ("task.optimizer.momentum", _momentum, "a number in [0, 1)"),
    ("schedule.milestones", _increasing_steps, "a list of increasing positive step counts"),
    ("task.schedule.milestones", _increasing_steps, "a list of increasing positive step counts"),
    ("schedule.gamma", lambda v: _number(v) and 0 < v <= 1, "a number in (0, 1]"),
    ("task.schedule.gamma", lambda v: _number(v) and 0 < v <= 1, "a number in (0, 1]"),
    ("task.compile", lambda v: isinstance(v, bool) or v in COMPILE_MODES, ", ".join(("false", "true", *COMPILE_MODES))),
    # Lightning reads a negative value as no clipping, while the record would say it clipped
    ("trainer.gradient_clip_val", lambda v: v is None or (_number(v) and v >= 0), "null (no clipping) or a number >= 0"),
    ("schedule.max_steps", lambda v: v == -1 or _positive_int(v), "-1 (no limit) or a positive integer"),
    ("checkpoint_every_n_steps", _positive_int, "a positive integer"),
    ("park_max_mib", lambda v: _number(v) and v >= 0, "a number of MiB >= 0 (0: never park)"),
    # DeviceBatches hands every rank the whole split: several devices would train on duplicated batches
    ("trainer.devices", lambda v: v in (1, "1"), "1 (the on-device batches are not sharded per rank)"),
    # the Trainer is built once the run has its logger: its own checks would come too late
    ("trainer.accelerator", lambda v: v in ACCELERATORS, " or ".join(ACCELERATORS)),
    ("trainer.accelerator", _visible, "cpu or auto: torch sees no GPU on this machine"),
    ("trainer.max_epochs", lambda v: v is None or v == -1 or _positive_int(v),
     "null or -1 (no limit) or a positive integer"),
)


@functools.cache
def top_level_keys() -> frozenset[str]:
    """The keys a run's config may have at its top: train.yaml's own and its config groups'. A key beyond them
    is read by nothing: "+modle.width=8", which Hydra suggests for the typo "modle.width=8", would train as if
    it were not there."""
    train = OmegaConf.load(Path(CONFIG_DIR) / "train.yaml")
    groups = {key for entry in train.defaults if isinstance(entry, dict) or OmegaConf.is_dict(entry)
              for key in entry if " " not in key and "/" not in key}
    return frozenset({*train, *groups} - {"defaults", "hydra", "experiment"})


# The one group no class is built from: the trainer's config and Classification read these keys by name.
SCHEDULE_KEYS = ("gamma", "max_epochs", "max_steps", "milestones")


def _built(config: dict) -> Iterator[tuple[str, dict]]:
    """The nodes of ``config`` that ``instantiate`` builds (those with a ``_target_``) with their dotted keys,
    shallowest first: the key a user types (``model``) before its copy inside another node (``task.model``)."""
    level = [(key, node) for key, node in config.items() if isinstance(node, dict)]
    while level:
        yield from ((key, node) for key, node in level if "_target_" in node)
        level = [(f"{key}.{k}", v) for key, node in level for k, v in node.items() if isinstance(v, dict)]


def _unknown_argument(config: dict) -> str | None:
    """The first key of a built node that its target does not take (``+model.foo=1``), as one line: ``instantiate``
    would stop on it with a TypeError traceback. A target that takes ``**kwargs`` checks its own (``PoolFactory``).
    (A missing argument is not checked: the run passes some when it builds, such as the logger's ``run_dir``.)"""
    from hydra.utils import get_object

    for key, node in _built(config):
        try:
            target = get_object(node["_target_"])
        except Exception as err:  # Hydra wraps a missing module or attribute in several exception types
            return (f"{key}._target_={node['_target_']!r} cannot be imported ({first_line(err)}); allowed: the "
                    "dotted path of a class or function")
        parameters = inspect.signature(target).parameters
        if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            continue
        if unknown := [k for k in node if not k.startswith("_") and k not in parameters]:  # _target_, _partial_
            allowed = ", ".join(name for name, p in parameters.items() if p.kind is not p.VAR_POSITIONAL)
            return f"{key}.{unknown[0]}: not an argument of {node['_target_']}; allowed: {allowed}"
    return None


def _shown(value: Any) -> str:
    """``value`` as the command line types it (``true``, ``null``), a string quoted."""
    return str(value).lower() if isinstance(value, bool) else "null" if value is None else repr(value)


def validate(config: dict) -> None:
    """Raise ``ConfigError`` for a key nothing reads (at the top, in the schedule, or an argument that a built node
    does not take), or the first bad value in the resolved ``config``."""
    if unknown := sorted(set(config) - top_level_keys()):
        allowed = ", ".join(sorted(top_level_keys()))
        raise ConfigError(f"{unknown[0]}: not a key of the train config; allowed: {allowed}")
    if unknown := sorted(set(config.get("schedule") or {}) - set(SCHEDULE_KEYS)):
        raise ConfigError(f"schedule.{unknown[0]}: not a key of the schedule; allowed: {', '.join(SCHEDULE_KEYS)}")
    if problem := _unknown_argument(config):
        raise ConfigError(problem)
    flat = flatten(config)
    for key, ok, allowed in RULES:
        if key in flat and not ok(flat[key]):
            raise ConfigError(f"{key}={_shown(flat[key])} is invalid; allowed: {allowed}")


SWEEP_LIST = r"[\w.-]*(,[\w.-]*)*"  # one option, or a sweep's options joined by commas (an empty one is refused)


def check_choices(overrides: Iterable[str]) -> None:
    """Refuse (``ConfigError``, one line) a ``group=option`` override naming no option of that config group, ours
    (``pooling``) or Hydra's (``hydra/launcher``), before Hydra composes: its own message for it spans twenty lines.
    Each option of a sweep (``pooling=max,avg``) is checked; sweep functions (``range(...)``), ``+`` keys and
    package overrides (``pooling@x``) are left to Hydra."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    choices = [(group, value) for group, _, value in (o.partition("=") for o in overrides)
               if re.fullmatch(r"\w[\w/]*", group) and re.fullmatch(SWEEP_LIST, value)]
    if not choices:
        return
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):  # the search path Hydra composes from
        loader = GlobalHydra.instance().config_loader()
        for group, value in choices:
            if not loader.repository.group_exists(group):  # a key (model.width=8), not a group
                continue
            options = loader.get_group_options(group)
            for option in value.split(","):
                if option not in options:
                    raise ConfigError(f"{group}={option}: not an option of the {group} config group; allowed: "
                                      f"{', '.join(options)}")
