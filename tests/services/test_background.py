"""The models fitted in a child process (services._background) equal those fitted in turn."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from healthgap.data.vintages import get_vintage
from healthgap.geo.indicators import vintage_wording
from healthgap.services import _background
from healthgap.services.analysis import run_models

from tests.geo._areas import joined_area

FRIMLEY = "E54000034"


@pytest.fixture(scope="module")
def area(shared_data):
    return joined_area(shared_data, FRIMLEY)


def _same(a: object, b: object) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()  # type: ignore[attr-defined]
        for k in a:
            _same(a[k], b[k])  # type: ignore[index]
    else:
        assert repr(a) == repr(b)


def _same_outputs(here: object, there: object) -> None:
    for name in ("layers", "tables", "results", "notes", "columns"):
        _same(getattr(here, name), getattr(there, name))
    assert list(here.tables) == list(there.tables)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_child_process_models_equal_in_process_models(area):
    """The build's split (the first parts here, the rest in the child, joined) equals every
    part fitted in turn, table order included."""
    from healthgap.services.analysis import MODEL_PARTS
    from healthgap.services.build_stages import BACKGROUND_PARTS, HERE_PARTS

    assert HERE_PARTS + BACKGROUND_PARTS == MODEL_PARTS  # joined in order
    wording = get_vintage("2025").wording  # the child must word notes as the parent does
    with vintage_wording(wording):
        whole = run_models(area, seed=7, weights="queen")
        first = run_models(area, seed=7, weights="queen", parts=HERE_PARTS)
    rest = _background.BackgroundModels().submit(area, seed=7, weights="queen", wording=wording,
                                                 parts=BACKGROUND_PARTS).result()
    assert "model_regression" in rest.tables and "model_regression" not in first.tables
    _same_outputs(whole, first.extend(rest))


def test_an_error_in_the_child_is_raised_in_the_parent():
    bg = _background.BackgroundModels()
    bg.submit(None, seed=7, weights="queen", wording={})  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        bg.result()
    assert not bg._dir.exists()


def test_a_child_given_no_job_ends_and_cancel_cleans_up():
    """A build that fails before its statistics closes the child's input: the child ends."""
    bg = _background.BackgroundModels()
    assert bg._proc.stdin is not None
    bg._proc.stdin.close()
    assert bg._proc.wait(timeout=120) == 0
    bg.cancel()
    assert not bg._dir.exists()
    waiting = _background.BackgroundModels()  # cancelled while it imports or waits
    waiting.cancel()
    assert waiting._proc.poll() is not None and not waiting._dir.exists()


def test_only_large_areas_use_a_second_process(area):
    assert not _background.wanted(area)  # Frimley: 200-odd MSOAs, far below PLAN.max_dense


@pytest.mark.slow
def test_a_build_using_the_child_equals_one_fitting_in_turn(shared_data, tmp_path, monkeypatch):
    """The England path (models in the child, the LSOA layer written ahead, cliffs here) on
    Rutland: the same GeoPackage layers, value for value, and the same GeoJSON files."""
    from healthgap.services.build import BuildOptions, build

    from scripts.compare_builds import Tolerance, compare_builds

    def run(name: str) -> Path:
        out = tmp_path / name
        build(BuildOptions(area="E06000017", data_dir=shared_data, out_dir=out, maps=False,
                           access=False))  # access precedes the statistics: not compared here
        return out

    in_turn = run("in_turn")
    started: list[object] = []
    monkeypatch.setattr(_background, "wanted", lambda area: started.append(area) or True)
    beside = run("beside")
    assert len(started) == 1  # the statistics stage started the child once
    report = compare_builds(in_turn, beside, tol=Tolerance(rtol=0.0, atol=0.0, geom=0.0))
    assert report.same, report.differences
    files = sorted(p.name for p in (in_turn / "features").iterdir())
    assert files == sorted(p.name for p in (beside / "features").iterdir())
    assert "lsoa.geojson" in files
    for name in files:
        assert (in_turn / "features" / name).read_bytes() == \
            (beside / "features" / name).read_bytes(), name


def test_a_failing_stage_stops_the_child(shared_data, tmp_path, monkeypatch):
    """A build that fails after starting the models' child leaves no child and no folder."""
    from healthgap.services import analysis
    from healthgap.services.build import BuildOptions, build

    started: list[_background.BackgroundModels] = []
    real_init = _background.BackgroundModels.__init__

    def recording_init(self: _background.BackgroundModels) -> None:
        real_init(self)
        started.append(self)

    def failing_statistics(*args: object, **kwargs: object) -> None:
        raise RuntimeError("statistics failed on purpose")

    monkeypatch.setattr(_background, "wanted", lambda area: True)
    monkeypatch.setattr(_background.BackgroundModels, "__init__", recording_init)
    monkeypatch.setattr(analysis, "run_statistics", failing_statistics)
    with pytest.raises(RuntimeError, match="on purpose"):
        build(BuildOptions(area="E06000017", data_dir=shared_data, out_dir=tmp_path / "out",
                           maps=False, access=False))
    assert len(started) == 1
    assert started[0]._proc.poll() is not None and not started[0]._dir.exists()
