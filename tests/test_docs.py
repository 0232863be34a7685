"""Every relative link of the documentation resolves: README.md, docs/*.md and results/README.md link to files and
folders that exist and to headings (#anchors, as GitHub names them) that the target page has; every page of docs/
is reachable from the README; the README stays one page."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "results" / "README.md"]
README_MAX_LINES = 250

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, ...


def prose(text: str) -> str:
    """The text less its code blocks and inline code, where brackets are code, not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (letters, digits, _ and - kept), spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor, a repeated one numbered as GitHub does (-1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", FENCE.sub("", text), re.M):
        slug = anchor(heading)
        found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return found


def broken_links(page: Path) -> list[str]:
    """Each relative link of ``page`` whose file, folder or #anchor does not exist, with the reason."""
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if EXTERNAL.match(target):
            continue
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file or folder {resolved}")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved.read_text()):
            broken.append(f"{target}: {resolved.name} has no heading #{fragment}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_a_broken_link_or_anchor_is_reported(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A section: with `code`\n\n## A section: with `code`\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#a-section-with-code) [ok](other.md#a-section-with-code-1) [ok](#title)\n"
                    "# Title\n`[code](missing.md)` [web](https://example.org/missing)\n"
                    "[gone](missing.md) [bad anchor](other.md#no-such-heading) ![img](missing.png)\n")
    assert [line.split(":")[0] for line in broken_links(page)] == ["missing.md", "other.md#no-such-heading",
                                                                  "missing.png"]


def test_every_docs_page_is_linked_from_the_readme():
    links = LINK.findall(prose((ROOT / "README.md").read_text()))
    readme = {(ROOT / target.partition("#")[0]).resolve() for target in links if not EXTERNAL.match(target)}
    assert [p.name for p in PAGES[1:] if p.resolve() not in readme] == []


def test_the_readme_is_one_page_that_cites_the_paper():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    assert "A Fully Trainable Network with RNN-based Pooling" in text.split("\n## ")[0]
    assert "https://arxiv.org/abs/1706.05157" in text
