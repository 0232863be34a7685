"""The README's result blocks: each table's result sections, between <!-- name --> markers."""
from __future__ import annotations

from pathlib import Path

from .markdown import RUNS_HEADING


def update_readme(readme: Path, name: str, table: str) -> None:
    """Replace the README block between <!-- name --> markers with the table's result sections (every one before
    its ``## Runs``: each device and budget, each recipe), headings demoted two levels."""
    if not readme.exists():
        return
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = readme.read_text()
    if start not in text:
        return
    sections = table.split("\n" + RUNS_HEADING)[0].split("\n## ")[1:]
    body = "\n\n".join("#### " + section.strip() for section in sections) if sections else table
    # the README keeps the results; the learned parameter tables stay in the file
    body = "\n##### ".join(part for part in body.split("\n### ") if "learned units" not in part.split("\n", 1)[0]).rstrip()
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1] if end in rest else rest
    readme.write_text(f"{before}{start}\n{body}\n{end}{after}")
