"""What-if scenarios as data: the facility changes, read and checked before any routing.

A :class:`Scenario` is a set of facility changes (close, open, move, supply), checked against
the facilities and the postcode lookup by :func:`parse_scenario`; :func:`parse_open_option`
reads the command line's ``--open`` text, :func:`check_openings` the distance of each opening
from the road network. The engine that routes a scenario is :mod:`geo.scenarios`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from healthgap.data.access_inputs import normalise_postcode
from healthgap.geo import BNG
from healthgap.geo.network import RoutingNetwork
from pyproj import Transformer

from healthgap.errors import (
    InputError,
    MissingColumnError,
    ParameterError,
    ValidationError,
)

SCENARIO_KEYS = ("name", "description", "close", "open", "move", "supply")
"""Keys a scenario file may have."""

OPEN_KEYS = ("code", "name", "kind", "supply", "postcode", "x", "y", "lon", "lat")
"""Keys of one opening; exactly one location (``postcode``, ``x``/``y`` or ``lon``/``lat``)."""

MOVE_KEYS = ("code", "supply", "postcode", "x", "y", "lon", "lat")
"""Keys of one move."""

NETWORK = "network"
STRAIGHT_LINE = "straight_line_estimate"
_GB_BNG = (-10_000.0, -10_000.0, 700_000.0, 1_250_000.0)


@dataclass(frozen=True)
class Opening:
    """A facility that the scenario opens (or the new place of a moved one)."""

    code: str
    name: str
    kind: str
    x: float
    y: float
    supply: float
    located_by: str


@dataclass(frozen=True)
class Scenario:
    """A validated set of facility changes (see :func:`parse_scenario`)."""

    name: str = "scenario"
    close: tuple[str, ...] = ()
    open: tuple[Opening, ...] = ()
    supply: tuple[tuple[str, float], ...] = ()
    moved: tuple[str, ...] = ()
    description: str = ""

    @property
    def is_empty(self) -> bool:
        """True when the scenario changes nothing."""
        return not (self.close or self.open or self.supply)

    def to_dict(self) -> dict[str, Any]:
        """Return the scenario as JSON-friendly values (as it was resolved)."""
        return {
            "name": self.name,
            "description": self.description,
            "close": [c for c in self.close if c not in self.moved],
            "move": list(self.moved),
            "open": [asdict(o) for o in self.open],
            "supply": {c: s for c, s in self.supply},
        }

    def apply(self, facilities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Return ``facilities`` (``code, name, kind, supply``, points) after the changes."""
        fac = facilities[~facilities["code"].astype(str).isin(self.close)].copy()
        new_supply = dict(self.supply)
        if new_supply:
            codes = fac["code"].astype(str)
            fac["supply"] = [new_supply.get(c, s) for c, s in zip(codes, fac["supply"],
                                                                   strict=True)]
        if self.open:
            added = gpd.GeoDataFrame(
                {
                    "code": [o.code for o in self.open],
                    "name": [o.name for o in self.open],
                    "kind": [o.kind for o in self.open],
                    "supply": [o.supply for o in self.open],
                },
                geometry=gpd.points_from_xy([o.x for o in self.open], [o.y for o in self.open]),
                crs=facilities.crs,
            )
            fac = pd.concat([fac, added], ignore_index=True)
        return gpd.GeoDataFrame(fac, geometry="geometry", crs=facilities.crs)


# --------------------------------------------------------------------------- parsing


def _number(value: Any, what: str, problems: list[str]) -> float | None:
    """Return ``value`` as a finite float or record a problem naming ``what``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        problems.append(f"{what}: expected a number, got {value!r}")
        return None
    if not math.isfinite(v):
        problems.append(f"{what}: expected a finite number, got {value!r}")
        return None
    return v


def _supply(value: Any, what: str, problems: list[str]) -> float | None:
    """Return a supply > 0 or record a problem."""
    v = _number(value, what, problems)
    if v is not None and v <= 0:
        problems.append(f"{what}: supply must be > 0, got {value!r}")
        return None
    return v


_TO_BNG = Transformer.from_crs("EPSG:4326", BNG, always_xy=True)


def _locate(
    item: Mapping[str, Any], what: str, postcodes: pd.DataFrame | None, problems: list[str]
) -> tuple[float, float, str] | None:
    """Return ``(x, y, located_by)`` of an opening or a move, or record the problem."""
    given = [k for k in ("postcode", "x", "lon") if k in item]
    if "y" in item and "x" not in item:
        given.append("y")
    if "lat" in item and "lon" not in item:
        given.append("lat")
    if len(given) != 1 or given[0] in ("y", "lat"):
        problems.append(f"{what}: give exactly one location: postcode, x and y (EPSG:27700 "
                        f"metres) or lon and lat; got {sorted(set(item) & set(OPEN_KEYS))}")
        return None
    if given[0] == "postcode":
        pc = str(item["postcode"])
        if postcodes is None:
            problems.append(f"{what}: postcode {pc!r} given but no postcode lookup is available")
            return None
        key = normalise_postcode(pd.Series([pc])).iloc[0]
        if key not in postcodes.index:
            problems.append(f"{what}: postcode {pc!r} is not in the postcode lookup "
                            "(Code-Point Open) or has no position")
            return None
        row = postcodes.loc[key]
        return float(row["easting"]), float(row["northing"]), "postcode"
    if given[0] == "x":
        x = _number(item.get("x"), f"{what} x", problems)
        y = _number(item.get("y"), f"{what} y", problems)
        if x is None or y is None:
            return None
        by = "coordinates"
    else:
        lon = _number(item.get("lon"), f"{what} lon", problems)
        lat = _number(item.get("lat"), f"{what} lat", problems)
        if lon is None or lat is None:
            return None
        x, y = _TO_BNG.transform(lon, lat)
        by = "lonlat"
    if not (_GB_BNG[0] <= x <= _GB_BNG[2] and _GB_BNG[1] <= y <= _GB_BNG[3]):
        problems.append(f"{what}: point ({x:.0f}, {y:.0f}) is outside Great Britain")
        return None
    return float(x), float(y), by


def _unknown_keys(item: Mapping[str, Any], allowed: Sequence[str], what: str,
                  problems: list[str]) -> None:
    """Record keys of ``item`` that are not allowed."""
    extra = [str(k) for k in item if k not in allowed]
    if extra:
        problems.append(f"{what}: unknown key(s) {extra}; allowed: {list(allowed)}")


def _as_list(value: Any, what: str, problems: list[str]) -> list[Any]:
    """Return a list from a list or a single item (None = empty)."""
    if value is None:
        return []
    if isinstance(value, str | Mapping):
        return [value]
    if isinstance(value, list | tuple):
        return list(value)
    problems.append(f"{what}: expected a list, got {type(value).__name__}")
    return []


def _median_supply(facilities: pd.DataFrame, kind: str) -> float | None:
    """Return the median supply of the facilities of ``kind`` (None if there are none)."""
    s = pd.to_numeric(facilities.loc[facilities["kind"].astype(str) == kind, "supply"],
                      errors="coerce").dropna()
    s = s[s > 0]
    return float(s.median()) if len(s) else None


@dataclass
class _Parse:
    """State shared while a scenario is parsed."""

    facilities: pd.DataFrame
    postcodes: pd.DataFrame | None
    problems: list[str] = field(default_factory=list)
    known: set[str] = field(default_factory=set)
    used_codes: set[str] = field(default_factory=set)

    def existing(self, code: Any, what: str) -> str | None:
        c = str(code).strip()
        if c not in self.known:
            self.problems.append(f"{what}: unknown facility code {c!r} (not among the build's "
                                 f"{len(self.known)} facilities)")
            return None
        return c


def _parse_open(item: Any, k: int, st: _Parse) -> Opening | None:
    """Validate one opening."""
    what = f"open[{k}]"
    if isinstance(item, str):
        item = parse_open_option(item)
    if not isinstance(item, Mapping):
        st.problems.append(f"{what}: expected a mapping, got {type(item).__name__}")
        return None
    _unknown_keys(item, OPEN_KEYS, what, st.problems)
    kind = str(item.get("kind", "gp"))
    kinds = set(st.facilities["kind"].astype(str))
    if kind not in kinds:
        st.problems.append(f"{what}: kind {kind!r} has no facilities in the build; "
                           f"known: {sorted(kinds)}")
        return None
    loc = _locate(item, what, st.postcodes, st.problems)
    if "supply" in item:
        supply = _supply(item["supply"], f"{what} supply", st.problems)
    else:
        supply = _median_supply(st.facilities, kind)
        if supply is None:
            st.problems.append(f"{what}: no supply given and kind {kind!r} has no supply to "
                               "take the median of")
    code = str(item.get("code") or f"NEW{k + 1:02d}")
    if code in st.known or code in st.used_codes:
        st.problems.append(f"{what}: code {code!r} is already used")
        return None
    st.used_codes.add(code)
    if loc is None or supply is None:
        return None
    name = str(item.get("name") or f"New {kind} {code}")
    return Opening(code, name, kind, loc[0], loc[1], supply, loc[2])


def _parse_move(item: Any, k: int, st: _Parse) -> Opening | None:
    """Validate one move (the facility keeps its code, name and kind)."""
    what = f"move[{k}]"
    if not isinstance(item, Mapping):
        st.problems.append(f"{what}: expected a mapping with code and a location")
        return None
    _unknown_keys(item, MOVE_KEYS, what, st.problems)
    code = st.existing(item.get("code"), what)
    loc = _locate(item, what, st.postcodes, st.problems)
    if code is None or loc is None:
        return None
    row = st.facilities[st.facilities["code"].astype(str) == code].iloc[0]
    supply = (_supply(item["supply"], f"{what} supply", st.problems) if "supply" in item
              else float(row["supply"]))
    if supply is None:
        return None
    return Opening(code, str(row.get("name", code)), str(row["kind"]), loc[0], loc[1], supply,
                   loc[2])


def _parse_supply(value: Any, st: _Parse) -> list[tuple[str, float]]:
    """Validate ``supply``: a mapping code -> supply, or a list of {code, supply}."""
    items: list[tuple[Any, Any]]
    if isinstance(value, Mapping):
        items = list(value.items())
    else:
        items = []
        for k, it in enumerate(_as_list(value, "supply", st.problems)):
            if not isinstance(it, Mapping) or set(it) != {"code", "supply"}:
                st.problems.append(f"supply[{k}]: expected {{code, supply}}, got {it!r}")
                continue
            items.append((it["code"], it["supply"]))
    out = []
    for code, s in items:
        c = st.existing(code, f"supply[{code}]")
        v = _supply(s, f"supply[{code}]", st.problems)
        if c is not None and v is not None:
            out.append((c, v))
    return out


def parse_scenario(
    spec: Mapping[str, Any],
    facilities: pd.DataFrame,
    *,
    postcodes: pd.DataFrame | None = None,
    source: str = "scenario",
) -> Scenario:
    """Check a scenario against the facilities and the postcode lookup, before any routing.

    Parameters
    ----------
    spec
        A mapping with keys from :data:`SCENARIO_KEYS` (as read from YAML or JSON).
    facilities
        The build's facilities (``code, kind, supply``, and ``name`` if present).
    postcodes
        Postcode lookup from `healthgap.data.access_inputs.read_postcodes` (needed for postcodes).
    source
        Where the spec came from (a file name), used in the error message.

    Returns
    -------
    Scenario

    Raises
    ------
    ValidationError
        Listing every problem: unknown keys, unknown facility codes, postcodes not in the
        lookup, points outside Great Britain, supply <= 0.
    """
    if not isinstance(spec, Mapping):
        raise InputError(f"{source}: a scenario is a mapping of {list(SCENARIO_KEYS)}, got "
                         f"{type(spec).__name__}")
    missing = [c for c in ("code", "kind", "supply") if c not in facilities.columns]
    if missing:
        raise MissingColumnError(f"facilities: missing {missing}")
    st = _Parse(facilities, postcodes, known=set(facilities["code"].astype(str)))
    _unknown_keys(spec, SCENARIO_KEYS, "scenario", st.problems)
    close = [c for k, item in enumerate(_as_list(spec.get("close"), "close", st.problems))
             if (c := st.existing(item, f"close[{k}]")) is not None]
    opens = [o for k, item in enumerate(_as_list(spec.get("open"), "open", st.problems))
             if (o := _parse_open(item, k, st)) is not None]
    moves = [o for k, item in enumerate(_as_list(spec.get("move"), "move", st.problems))
             if (o := _parse_move(item, k, st)) is not None]
    supply = _parse_supply(spec.get("supply"), st)
    moved = [m.code for m in moves]
    twice = sorted({c for c in close + moved + [c for c, _ in supply]
                    if (close + moved + [c for c, _ in supply]).count(c) > 1})
    if twice:
        st.problems.append(f"facility code(s) {twice} changed more than once (close, move or "
                           "supply); give one change per facility")
    if st.problems:
        raise ValidationError(source, st.problems)
    scenario = Scenario(
        name=str(spec.get("name") or "scenario"),
        description=str(spec.get("description") or ""),
        close=tuple(close + moved),
        open=tuple(opens + moves),
        supply=tuple(supply),
        moved=tuple(moved),
    )
    if scenario.is_empty:
        raise ValidationError(source, ["the scenario changes nothing (no close, open, move or "
                                       "supply)"])
    return scenario


_OPTION = re.compile(r"^\s*(?P<loc>[^:]+?)\s*(?::(?P<rest>.*))?$")


def parse_open_option(text: str) -> dict[str, Any]:
    """Parse a command-line opening such as ``"LE15 6NT:supply=4"`` or ``"486000,308000"``.

    The part before the first ``:`` is a postcode, ``x,y`` (EPSG:27700 metres, both > 1000) or
    ``lon,lat``; then ``key=value`` pairs separated by ``:`` or ``;`` (``supply``, ``kind``,
    ``code``, ``name``).
    """
    m = _OPTION.match(text)
    if not m or not m.group("loc"):
        raise ParameterError(f"--open {text!r}: expected LOCATION[:key=value...]")
    loc = m.group("loc")
    item: dict[str, Any] = {}
    parts = [p.strip() for p in loc.split(",")]
    if len(parts) == 2:
        try:
            a, b = float(parts[0]), float(parts[1])
        except ValueError:
            raise ParameterError(f"--open {text!r}: {loc!r} is neither a postcode nor two "
                                 "numbers") from None
        if abs(a) > 1000 and abs(b) > 1000:
            item.update(x=a, y=b)
        else:
            item.update(lon=a, lat=b)
    else:
        item["postcode"] = loc
    for pair in re.split(r"[:;]", m.group("rest") or ""):
        if not pair.strip():
            continue
        if "=" not in pair:
            raise ParameterError(f"--open {text!r}: {pair!r} is not key=value")
        key, value = (s.strip() for s in pair.split("=", 1))
        if key not in ("supply", "kind", "code", "name"):
            raise ParameterError(f"--open {text!r}: unknown key {key!r}; allowed: supply, kind, "
                                 "code, name")
        item[key] = value
    return item


def check_openings(scenario: Scenario, network: RoutingNetwork | None, *,
                   max_snap_m: float) -> None:
    """Raise if an opening (or a move's new place) is further than ``max_snap_m`` from the network.

    Only a nearest-node lookup, no routing; nothing to check without a network.

    Raises
    ------
    ValidationError
        Naming each opening, its distance and the limit.
    """
    if network is None or not scenario.open:
        return
    snap = network.snap(np.array([[o.x, o.y] for o in scenario.open]))[1]
    problems = [
        f"open {o.code} at ({o.x:.0f}, {o.y:.0f}): {d:.0f} m from the road network, further "
        f"than the snap limit max_snap_m={max_snap_m:g} m"
        for o, d in zip(scenario.open, snap, strict=True) if d > max_snap_m]
    if problems:
        raise ValidationError(scenario.name, problems)
