"""No Python file of the package, the scripts or the benchmarks is over 900 lines (issue #27).

A longer module is split into cohesive ones (``data/demo.py`` runs the ``data/_demo_*``
generators, ``services/build.py`` the stages of ``services/build_stages.py``).
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO

#: The folders checked: the installed namespace, the scripts and the benchmarks.
FOLDERS = ("healthgap", "data", "geo", "maps", "services", "scripts", "benchmarks")
MAX_LINES = 900


def long_files(root: Path, folders: tuple[str, ...], limit: int) -> dict[str, int]:
    """Return ``{relative path: line count}`` of each ``.py`` file under ``folders`` over it."""
    found = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > limit:
                found[str(path.relative_to(root))] = n
    return found


def test_no_file_over_900_lines() -> None:
    assert long_files(REPO, FOLDERS, MAX_LINES) == {}


def test_the_check_sees_a_long_file(tmp_path: Path) -> None:
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo" / "short.py").write_text("x = 1\n" * MAX_LINES)
    (tmp_path / "geo" / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    assert long_files(tmp_path, ("geo", "maps"), MAX_LINES) == {"geo/long.py": MAX_LINES + 1}
