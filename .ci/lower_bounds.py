"""Print a pip constraints file pinning every direct dependency to its lower bound.

Reads ``[project] dependencies`` and the extras named on the command line (default: ``test``)
from pyproject.toml and writes one ``name==version`` line per requirement with a ``>=`` bound.
A requirement without a lower bound is an error: the lowest-versions job cannot test it.

Usage::

    python .ci/lower_bounds.py [--extra test] [--pyproject pyproject.toml] > constraints.txt
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(\[[^\]]*\])?\s*(.*)$")
_LOWER = re.compile(r">=\s*([0-9][^,;\s]*)")


def lower_bounds(pyproject: Path, extras: list[str]) -> dict[str, str]:
    """Return ``{distribution name: lowest allowed version}`` for the direct requirements.

    Parameters
    ----------
    pyproject
        Path to pyproject.toml.
    extras
        Optional-dependency groups to include besides the runtime dependencies.

    Raises
    ------
    ValueError
        If an extra does not exist or a requirement has no ``>=`` lower bound.
    """
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise ValueError(f"{pyproject}: no optional-dependencies group {extra!r} "
                             f"(have {sorted(optional)})")
        specs += optional[extra]
    bounds: dict[str, str] = {}
    for spec in specs:
        m = _SPEC.match(spec)
        low = _LOWER.search(m.group(3)) if m else None
        if m is None or low is None:
            raise ValueError(f"{pyproject}: requirement {spec!r} has no '>=' lower bound")
        name = m.group(1).lower().replace("_", "-")
        if name == "healthgap":  # self-references such as "healthgap[test]"
            continue
        bounds[name] = low.group(1)
    return bounds


def main(argv: list[str] | None = None) -> int:
    """Write the constraints to standard output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path,
                        default=Path(__file__).resolve().parents[1] / "pyproject.toml")
    parser.add_argument("--extra", action="append", default=None,
                        help="optional-dependency group to include (repeatable; default: test)")
    args = parser.parse_args(argv)
    try:
        bounds = lower_bounds(args.pyproject, args.extra if args.extra is not None else ["test"])
    except ValueError as exc:
        print(f"lower_bounds: {exc}", file=sys.stderr)
        return 2
    for name, version in sorted(bounds.items()):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
