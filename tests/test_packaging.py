"""One installed namespace: the wheel holds `healthgap` and nothing else at the top.

The folders stay at the top of the repository (geo/ data/ maps/ services/), but they install as
healthgap.geo, healthgap.data, healthgap.maps and healthgap.services. This builds the real wheel,
installs it into an empty folder and imports from there, away from the checkout.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                        str(REPO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    (whl,) = out.glob("healthgap-*.whl")
    return whl


def test_wheel_installs_one_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"healthgap", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    # every layer is inside the namespace, with its data files
    for path in ("healthgap/errors.py", "healthgap/geo/weights.py", "healthgap/data/sources.yml",
                 "healthgap/maps/static/vendor/leaflet-1.9.4/leaflet.js",
                 "healthgap/services/api/app.py"):
        assert path in names, path


def test_installed_wheel_imports_away_from_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                        str(target), str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    installed = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")}
    assert installed - {"bin"} == {"healthgap"}, installed  # bin/ holds the console script
    code = ("import healthgap.geo.weights as w, healthgap.errors as e, healthgap.maps._assets as a;"
            "print(w.__file__); print(issubclass(e.CRSError, ValueError)); "
            "print(a.VENDOR_DIR.is_dir())")
    prelude = f"import sys; sys.path.insert(0, {str(target)!r}); "
    r = subprocess.run([sys.executable, "-I", "-c", prelude + code], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    file, is_value_error, vendor = r.stdout.split()
    assert file.startswith(str(target)), file
    assert is_value_error == "True" and vendor == "True"
