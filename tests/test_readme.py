"""The README's examples run as written."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_convert_example_runs():
    block = re.search(r"<!-- example:convert -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert block, "README lost its convert_pooling example"
    exec(compile(block.group(1), "README.md:example:convert", "exec"), {})
