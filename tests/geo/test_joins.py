from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from healthgap.geo.joins import join_on_code
from healthgap.geo.rollup import weighted_rollup

from healthgap.errors import JoinError, LayerClashError, ParameterError


def test_join_reports_both_sides():
    left = pd.DataFrame({"a": [1, 2, 3]}, index=pd.Index(["E1", "E2", "E3"], name="code"))
    right = pd.DataFrame({"b": [10, 20, 40]}, index=["E1", "E2", "E4"])
    res = join_on_code(left, right, name="t", max_loss=0.5)
    assert res.frame["b"].tolist()[:2] == [10, 20] and np.isnan(res.frame["b"].iloc[2])
    assert res.report[["side", "code"]].values.tolist() == [["left_only", "E3"],
                                                            ["right_only", "E4"]]


def test_join_over_max_loss_names_codes():
    left = pd.DataFrame(index=["E1", "E2", "E3", "E4"])
    right = pd.DataFrame({"b": [1]}, index=["E1"])
    with pytest.raises(JoinError, match=r"join 't': 3 of 4 rows \(75.0%\).*E2, E3, E4"):
        join_on_code(left, right, name="t", max_loss=0.5)
    with pytest.raises(ParameterError):
        join_on_code(left, right, name="t", max_loss=2)


def test_join_column_on_both_sides_is_kept_only_when_equal():
    """Nothing is dropped silently: a shared column must agree, else the join names it."""
    left = pd.DataFrame({"a": [1, 2, 3], "lad": ["X", "Y", None]}, index=["E1", "E2", "E3"])
    same = pd.DataFrame({"lad": ["X", "Y", "Z"], "b": [1.0, 2.0, 4.0]}, index=["E1", "E2", "E4"])
    res = join_on_code(left, same, name="t", max_loss=0.5)
    assert res.frame["lad"].tolist()[:2] == ["X", "Y"] and res.frame["b"].iloc[1] == 2.0
    other = same.assign(lad=["X", "W", "Z"])
    with pytest.raises(LayerClashError, match="join 't': column\\(s\\) lad"):
        join_on_code(left, other, name="t", max_loss=0.5)


def test_join_duplicates_rejected():
    left = pd.DataFrame(index=["E1", "E1"])
    with pytest.raises(JoinError, match="left side has duplicated codes: E1"):
        join_on_code(left, pd.DataFrame(index=["E1"]), name="t")


def test_weighted_rollup_skips_missing_and_reports_coverage():
    f = pd.DataFrame({"parent": ["P", "P", "P", "Q"], "population": [100, 300, 600, 50],
                      "x": [1.0, 2.0, np.nan, np.nan]})
    up = weighted_rollup(f, ["x"], by="parent")
    assert up.loc["P", "x"] == pytest.approx((100 * 1 + 300 * 2) / 400)
    assert up.loc["P", "x_coverage"] == pytest.approx(0.4)
    assert np.isnan(up.loc["Q", "x"]) and up.loc["Q", "x_coverage"] == 0
    assert up.loc["P", "population"] == 1000 and up.loc["P", "n_children"] == 3
