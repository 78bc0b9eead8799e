"""Joins on area codes that account for every row.

Every join returns the joined frame and a report of the codes that did not match on each side;
a join that loses more than ``max_loss`` of the left rows raises `JoinError` naming the codes.
`join_columns` adds computed columns to a frame (the study area's `StudyArea.with_columns`),
refusing a name already there with other values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from healthgap.errors import JoinError, LayerClashError, ParameterError, preview

REPORT_COLUMNS = ["join", "side", "code", "reason"]


@dataclass
class JoinResult:
    """A joined frame and what did not match.

    Attributes
    ----------
    frame
        The left frame with the right frame's columns added (left join: every left row kept).
    report
        One row per unmatched code: ``join`` (the join's name), ``side`` (``left_only`` = a
        left code with no right row, ``right_only`` = a right code in scope with no left row),
        ``code`` and ``reason``.
    """

    frame: pd.DataFrame
    report: pd.DataFrame

    @property
    def unmatched_left(self) -> list[str]:
        """Left codes that found no right row."""
        return self.report.loc[self.report["side"] == "left_only", "code"].tolist()


def join_on_code(left: pd.DataFrame, right: pd.DataFrame, *, name: str,
                 max_loss: float = 0.0, right_scope: pd.Index | None = None,
                 reason: str = "no match") -> JoinResult:
    """Left-join ``right`` onto ``left`` by their indexes (area codes).

    Parameters
    ----------
    left, right
        Frames indexed by the same kind of area code. Duplicated codes on either side raise.
    name
        Names the join in the report and in errors (e.g. ``"imd"``). A column on both sides
        is kept from ``left`` when the two agree on every matched code, else `LayerClashError`.
    max_loss
        Largest share (0-1) of left rows allowed to find no match before `JoinError`.
    right_scope
        The right codes expected to match (e.g. the codes of the area). Right codes in scope
        with no left row are reported as ``right_only``; by default every right code is in
        scope.
    reason
        What a left-only row means, for the report.
    """
    if not 0.0 <= max_loss <= 1.0:
        raise ParameterError(f"max_loss={max_loss!r}: allowed 0 to 1")
    for side, frame in (("left", left), ("right", right)):
        dup = frame.index[frame.index.duplicated()].unique()
        if len(dup):
            raise JoinError(f"join {name!r}: {side} side has duplicated codes: {preview(dup)}")
    overlap = left.columns.intersection(right.columns)
    common = right.index.intersection(left.index)
    clash = [str(c) for c in overlap
             if not _same_values(right.loc[common, c], left.loc[common, c])]
    if clash:  # a column both sides hold is carried through only when they agree
        raise LayerClashError(f"join {name!r}: column(s) {', '.join(clash)} are on both sides "
                              "with different values; rename or drop one side first")
    rhs = right.drop(columns=overlap)
    joined = left.join(rhs, how="left")
    left_only = left.index.difference(right.index)
    scope = right.index if right_scope is None else right.index.intersection(right_scope)
    right_only = scope.difference(left.index)
    rows = [(name, "left_only", str(c), reason) for c in left_only]
    rows += [(name, "right_only", str(c), "not among the neighbourhoods joined to")
             for c in right_only]
    report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    if len(left) and len(left_only) / len(left) > max_loss:
        raise JoinError(f"join {name!r}: {len(left_only)} of {len(left)} rows "
                        f"({len(left_only) / len(left):.1%}) found no match, more than "
                        f"max_loss={max_loss:.1%}: {preview(left_only)}")
    return JoinResult(frame=joined, report=report)


def join_columns(frame: pd.DataFrame, table: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Join ``table``'s columns onto ``frame`` by index, refusing a clashing column by name.

    A column already in ``frame`` is accepted only when ``table`` carries the same values
    through (``centroid_source`` from the access model, for example); a different value under
    an existing name raises `LayerClashError` instead of being dropped.

    Parameters
    ----------
    frame, table
        Indexed by the same codes.
    source
        What produced ``table`` (named in the error).
    """
    shared = [c for c in table.columns if c in frame.columns]
    clash = [c for c in shared if not _same_values(table[c], frame[c].reindex(table.index))]
    if clash:
        raise LayerClashError(f"{source}: column(s) {', '.join(clash)} already exist with other "
                              "values; rename the new column(s) rather than overwrite or drop")
    return frame.join(table.drop(columns=shared))


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    """Say whether two aligned columns hold the same values (missing matches missing; any dtype)."""
    x, y = a.astype(object), b.astype(object)
    missing = x.isna().to_numpy() & y.isna().to_numpy()
    equal = np.array([bool(u == v) if not (pd.isna(u) or pd.isna(v)) else False
                      for u, v in zip(x, y, strict=True)], dtype=bool)
    return bool((missing | equal).all())
