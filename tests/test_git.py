"""engine/git.py: the questions mks-db asks git, on real repositories."""

from __future__ import annotations

from pathlib import Path

from conftest import git
from mks_db.engine import git as mks_git


def commit(root: Path, message: str, **files: str) -> None:
    for name, text in files.items():
        path = root / "versions" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)


def test_each_file_comes_out_in_the_first_release_tag_that_holds_it(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    commit(tmp_path, "a", **{"a1.py": "a1"})
    git(tmp_path, "tag", "v1.0")
    commit(tmp_path, "b", **{"b2.py": "b2"})
    git(tmp_path, "tag", "nightly-1")  # not a release: the pattern leaves it out
    commit(tmp_path, "c", **{"c3.py": "c3"})
    git(tmp_path, "tag", "v1.1")
    git(tmp_path, "mv", "versions/a1.py", "versions/0001_a1.py")  # renamed: still v1.0's
    commit(tmp_path, "d", **{"d4.py": "d4"})
    released = mks_git.releases(tmp_path, [tmp_path / "versions"], "v*")
    names = {path.name: tag for path, tag in released.items()}
    assert names == {"0001_a1.py": "v1.0", "b2.py": "v1.1", "c3.py": "v1.1", "d4.py": ""}


def test_no_release_tag_or_no_repository_tells_nothing(tmp_path):
    assert mks_git.releases(tmp_path, [tmp_path], "v*") == {}  # not a repository
    git(tmp_path, "init", "-q", "-b", "main")
    commit(tmp_path, "a", **{"a1.py": "a1"})
    git(tmp_path, "tag", "release-2026")
    assert mks_git.releases(tmp_path, [tmp_path / "versions"], "v*") == {}
