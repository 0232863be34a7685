"""The committed tables and the README's result blocks are exactly what the committed records generate, so no
number in results/ or the README is typed by hand or left behind by a record added since."""
import shutil
from pathlib import Path

import pytest

from ftn.results import BUILDERS, write_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_committed_table_and_readme_block_are_regenerated_from_the_committed_records(tmp_path, name):
    committed = RESULTS / f"{name}.md"
    if not committed.exists():
        pytest.skip(f"results/{name}.md is not committed yet")
    notes = RESULTS / f"{name}.notes.md"
    if notes.exists():
        shutil.copy(notes, tmp_path / notes.name)
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)

    write_table(name, [RESULTS / "runs"], tmp_path, readme)

    fix = f"run `python -m ftn.results {name} --runs results/runs` and commit what it writes"
    assert (tmp_path / f"{name}.md").read_text() == committed.read_text(), f"results/{name}.md is stale: {fix}"
    assert readme.read_text() == (ROOT / "README.md").read_text(), f"README's {name} block is stale: {fix}"
