"""The committed tables and the READMEs' result blocks are exactly what the committed records generate, so no
number in results/, results/README.md or the README is typed by hand or left behind by a record added since."""
import shutil
from pathlib import Path

import pytest

from ftn.results import BUILDERS, write_table
from ftn.results.cli import READMES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_committed_table_and_readme_blocks_are_regenerated_from_the_committed_records(tmp_path, name):
    committed = RESULTS / f"{name}.md"
    if not committed.exists():
        pytest.skip(f"results/{name}.md is not committed yet")
    notes = RESULTS / f"{name}.notes.md"
    if notes.exists():
        shutil.copy(notes, tmp_path / notes.name)
    readmes = {ROOT / readme: tmp_path / "readmes" / readme for readme in READMES}
    for committed_readme, copy in readmes.items():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(committed_readme, copy)

    write_table(name, [RESULTS / "runs"], tmp_path, readmes.values())

    fix = f"run `python -m ftn.results {name} --runs results/runs` and commit what it writes"
    assert (tmp_path / f"{name}.md").read_text() == committed.read_text(), f"results/{name}.md is stale: {fix}"
    for committed_readme, copy in readmes.items():
        where = committed_readme.relative_to(ROOT)
        assert copy.read_text() == committed_readme.read_text(), f"{where}'s {name} block is stale: {fix}"
