"""The pieces every generated table shares: a cell's slot and the provenance section that ends a table."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from ..identity import flatten, is_seed, result_config
from ..pooling.module import COLUMNS, GATES
from .records import cells
from .stats import mean_std

RUNS_HEADING = "## Runs"  # the provenance section that ends a table's results
# A learned unit's 12 parameters as columns, gate by gate: w_i, r_i, b_i, w_f, ..., b_g.
UNIT_COLUMNS = [f"{c}_{g}" for g in GATES for c in COLUMNS]
# A record's metric for one of them: lstm/<layer>/<column> (Tables 2 and 4, per pooling layer) or lstm/<column>
# (Table 1's one unit), as ftn.tasks log them.
PARAM_KEY = re.compile(r"lstm/(?:(?P<layer>.+)/)?(?P<col>[wrb])_(?P<gate>[ifog])$")


def row(cells: list[str]) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(cells) + " |"


def header(names: list[str]) -> list[str]:
    """A Markdown table's header row and its separator."""
    return [row(names), "|" + "---|" * len(names)]


def unit_cells(values: list[float]) -> list[str]:
    """A learned unit's parameters (in ``UNIT_COLUMNS`` order) as cells."""
    return [f"{v:.3g}" for v in values]


def slot(records: list[dict], value: Callable[[dict], float]) -> str:
    """One table slot: mean ± std over the seeds of each cell in it. Runs that differ in more than the seed
    are never averaged together: each such cell is shown apart, labelled with the keys that tell them apart."""
    groups = cells(records)
    if len(groups) <= 1:
        return mean_std([value(r) for r in (groups[0] if groups else [])])
    flat = [flatten(result_config(g[0]["config"])) for g in groups]
    keys = sorted(k for k in set().union(*flat) if len({repr(f.get(k)) for f in flat}) > 1 and not is_seed(k))
    return "<br>".join(f"{mean_std([value(r) for r in g])} [{', '.join(f'{k}={f.get(k)}' for k in keys)}]"
                       for g, f in zip(groups, flat))


def provenance(records: list[dict], describe) -> list[str]:
    lines = ["", RUNS_HEADING, "", "| run | seed | wall time | commit | hardware | wandb run id | command |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: (describe(r), r["seed"])):
        wall = f"{r['wall_time_s'] / 60:.1f} min" if "wall_time_s" in r else "—"
        commits = " → ".join(r.get("commits") or [r.get("commit", "—")])  # a run resumed on a later commit
        lines.append(f"| {describe(r)} | {r['seed']} | {wall} | {commits} | "
                     f"{r.get('hardware', '—')} | {r.get('wandb_run_id', '—')} | `{r.get('command', '—')}` |")
    return lines


def replace_block(path: Path, name: str, body: str) -> None:
    """Write ``body`` between the <!-- name --> and <!-- /name --> markers of ``path``, appending the block (and
    creating the file) where it has none, so that a generated section keeps its place among the file's others. A
    block missing its end marker ends at its start: the text after it stays."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = path.read_text() if path.exists() else ""
    if start in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1] if end in rest else rest
    else:
        before, after = text.rstrip("\n") + ("\n\n" if text else ""), "\n"
    path.parent.mkdir(parents=True, exist_ok=True)  # a report written elsewhere (--out) may name a new folder
    path.write_text(f"{before}{start}\n{body}\n{end}{after}")
