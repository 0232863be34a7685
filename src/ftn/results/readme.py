"""The READMEs' result blocks: each table's result sections, between <!-- name --> markers (README.md holds the
headline's block, results/README.md every table's)."""
from __future__ import annotations

from pathlib import Path

from .markdown import RUNS_HEADING, replace_block


def update_readme(readme: Path, name: str, table: str) -> None:
    """Replace the README block between <!-- name --> markers with the table's result sections (every one before
    its ``## Runs``: each device and budget, each recipe), headings demoted one level (``##`` to ``###``); a table
    without sections gives its results less its title. A README without the block is left as it is."""
    if not readme.exists() or f"<!-- {name} -->" not in readme.read_text():
        return
    results = table.split("\n" + RUNS_HEADING)[0]
    sections = results.split("\n## ")[1:]
    if sections:
        body = "\n\n".join("### " + _without_learned_units(section).strip() for section in sections)
    else:  # the block sits under a heading of the README's own
        body = _without_learned_units(_without_title(results)).strip()
    replace_block(readme, name, body)


def _without_title(table: str) -> str:
    first, _, rest = table.partition("\n")
    return rest if first.startswith("# ") else table


def _without_learned_units(section: str) -> str:
    """One ``##`` section with its ``###`` subsections demoted to ``####``, less the learned units ones: the
    README keeps the results, and the learned parameter tables stay in the file. A subsection ends at the next
    ``###`` or at the end of its section."""
    head, *subsections = section.split("\n### ")
    kept = [part for part in subsections if "learned units" not in part.split("\n", 1)[0]]
    return "\n#### ".join([head, *kept])
