"""The commit a record names: '-dirty' whenever the code a run executes differs from it, untracked files included."""
import subprocess

from ftn.provenance import git_commit


def test_untracked_source_marks_the_commit_dirty(tmp_path):
    git = lambda *args: subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)
    git("init", "-q")
    (tmp_path / "src" / "ftn").mkdir(parents=True)
    (tmp_path / "src" / "ftn" / "a.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    assert not git_commit(tmp_path).endswith("-dirty")
    (tmp_path / "notes.txt").write_text("outside the code paths\n")
    assert not git_commit.__wrapped__(tmp_path).endswith("-dirty")
    (tmp_path / "src" / "ftn" / "new_module.py").write_text("y = 2\n")  # untracked, but it would run
    assert git_commit.__wrapped__(tmp_path).endswith("-dirty")


def test_an_installed_package_says_so_instead_of_naming_a_commit(tmp_path):
    assert "installed, not a git checkout" in git_commit.__wrapped__(tmp_path / "site-packages")


def test_a_copied_tree_names_the_commit_it_was_copied_from(tmp_path, monkeypatch):
    """The GPU machine's copy may carry a stale .git: FTN_COMMIT, set by the caller, wins."""
    monkeypatch.setenv("FTN_COMMIT", "abc1234")
    assert git_commit.__wrapped__(tmp_path) == "abc1234 (tree copy)"
