"""What a run *is*: the config keys that change its result, its folder name, its hash and its table cell.

Pure functions on plain dicts and override strings (no torch), shared by the trainer (folder name, resume
check) and by ``ftn.results`` / ``ftn.figures`` (grouping committed records into cells).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

# Config keys that change how a run is shown, stored, placed or executed, never what it computes.
# The ONE list behind the run folder name, the config hash checked on resume and the table cells.
DISPLAY_ONLY = (
    "name", "run_dir", "ckpt_path", "records_dir", "park_max_mib", "checkpoint_every_n_steps", "logger",
    "trainer.enable_progress_bar", "trainer.log_every_n_steps", "trainer.accelerator", "trainer.devices",
    "dataset.cache_dir", "dataset.download", "pooling.impl", "task.compile", "task.channels_last",
    "paths",
)
# Keys added after records were committed, at the value that reproduces those records: a run at that value is the
# run the old records made, so the key is left out of its hash, folder name and cell, and old records keep theirs.
LATER_DEFAULTS = {"dataset.augmentation": "kornia", "pooling.draw": "map"}
# Group choices the folder name leaves out as well: the experiment is already the folder's parent
# (runs/<name>/), and the trainer group only picks the device (its result-changing keys are in the hash).
NAME_ONLY_GROUPS = ("experiment", "trainer")
# What a committed result may be trained under: a named result schedule (or the experiment's own), and none of the
# budget overrides (steps, epochs, data limits) that smoke, quick and rehearsal runs use.
RESULT_SCHEDULES = ("short", "medium", "paper", "paper_6ep", "plateau", "plateau_long")
BUDGET_KEYS = ("schedule.max_", "trainer.max_", "trainer.min_", "trainer.limit_", "dataset.limit_",
               "dataset.train_batches", "dataset.eval_batches")
# A folder name longer than this is shortened and made unique by a hash (file systems allow 255 bytes).
MAX_NAME = 200


def _is_display_only(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in DISPLAY_ONLY)


def _is_later_default(key: str, value: Any) -> bool:
    return key in LATER_DEFAULTS and value == LATER_DEFAULTS[key]


def _names_the_run(key: str, value: Any) -> bool:
    """Whether an override of ``key`` to ``value`` belongs in the run folder's name: the ONE rule behind
    ``run_folder_name`` and ``folder_identity``."""
    return not (_is_display_only(key) or key in NAME_ONLY_GROUPS or _is_later_default(key, value))


def _drop_copies(config: dict) -> dict:
    """Drop nested sections that are copies of a top-level group (``task.model: ${model}``, ``model.pool:
    ${pooling}``): a copy adds nothing, and would keep display-only keys such as ``pooling.impl`` alive."""
    groups = [v for v in config.values() if isinstance(v, dict)]

    def walk(node: dict, depth: int) -> dict:
        return {k: walk(v, depth + 1) if isinstance(v, dict) else v for k, v in node.items()
                if not (depth > 0 and isinstance(v, dict) and v and v in groups)}

    return walk(config, 0)


def _without(node: dict, drop, prefix: str = "") -> dict:
    out = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if drop(path, key) or _is_later_default(path, value):
            continue
        out[key] = _without(value, drop, path + ".") if isinstance(value, dict) else value
    return out


def result_config(config: dict) -> dict:
    """The resolved config with every display-only key (and copy of one) removed: what decides the result."""
    return _without(_drop_copies(config), lambda path, key: _is_display_only(path))


def flatten(node: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _canonical(node: Any) -> str:
    return json.dumps(node, sort_keys=True, default=str)


def config_hash(config: dict) -> str:
    """A short hash of the result-changing config (seed included): stored in checkpoints, checked on resume."""
    return hashlib.sha256(_canonical(result_config(config)).encode()).hexdigest()[:16]


def is_seed(key: str) -> bool:
    """Whether a dotted key is the seed or a copy of it (``dataset.seed``)."""
    return key.rsplit(".", 1)[-1] == "seed"


def cell_key(config: dict) -> str:
    """Runs share a table cell iff their result-changing configs differ in the seed alone."""
    return _canonical(_without(result_config(config), lambda path, key: is_seed(key)))


def differing_keys(a: dict, b: dict) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (value in a, value in b)} for the result-changing keys where two configs differ."""
    fa, fb = flatten(result_config(a)), flatten(result_config(b))
    return {k: (fa.get(k, "<absent>"), fb.get(k, "<absent>")) for k in sorted(fa.keys() | fb.keys())
            if fa.get(k, "<absent>") != fb.get(k, "<absent>")}


def device_folder(device: str) -> str:
    """The subfolder of the runs and records folders for a run on ``device``: "gpu" on a GPU ("gpu", "cuda"; of a
    run resumed elsewhere, "cuda+cpu", the device it ends on), "" on the CPU. The folder name and hash leave the
    device out (a checkpoint may resume on another), so without this a GPU run would resume a CPU run's checkpoint
    and overwrite its record."""
    return "gpu" if device.split("+")[-1] in ("gpu", "cuda") else ""


def not_a_result(overrides: Iterable[str]) -> str | None:
    """Why a run with these command-line overrides may not enter the committed records, or None if it may: the ONE
    rule (a filter on names such as ``smoke`` would miss ``schedule.max_steps=6``)."""
    for override in overrides:
        key, _, value = str(override).lstrip("+~").partition("=")
        if key == "schedule" and value not in RESULT_SCHEDULES:
            return f"schedule={value} is not a result schedule ({', '.join(RESULT_SCHEDULES)})"
        if key.startswith(BUDGET_KEYS):
            return f"{override} changes the budget of a result schedule"
    return None


def _top_level_items(name: str) -> list[str]:
    """``a=1,b=[2,3]`` -> ["a=1", "b=[2,3]"]: a folder name cut at the commas outside brackets."""
    items, depth, current = [], 0, ""
    for char in name:
        depth += (char in "[{(") - (char in "]})")
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    return [*items, current] if current else items


def folder_identity(name: str) -> list[str]:
    """The result-changing overrides a run folder name holds, sorted. Older folders keep overrides that are now
    display-only (``trainer.enable_progress_bar=false``): they are dropped, so an old name and a new one of the same
    run agree."""
    def kept(item: str) -> bool:
        key, _, value = item.partition("=")
        return _names_the_run(key.lstrip("+~"), value)

    return sorted(i for i in _top_level_items(name) if kept(i))


def run_folder_name(overrides: Iterable[str]) -> str:
    """The run folder's name from the command-line overrides: every result-changing one, sorted.

    Like Hydra's ``override_dirname`` (so existing folders keep their names), but display-only keys are left
    out and a ``/`` in a value (``dataset.root=../x.tar.gz``) is escaped instead of nesting folders.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([str(o) for o in overrides])
    kept = sorted(o.input_line for o in parsed if _names_the_run(o.key_or_group, o.value()))
    return short_name(",".join(kept).replace("%", "%25").replace("/", "%2F") or "defaults")


def short_name(name: str) -> str:
    """``name`` if at most ``MAX_NAME`` long, else its start and a hash of the whole: unique, and a file name."""
    if len(name) > MAX_NAME:
        name = f"{name[:MAX_NAME - 17]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return name
