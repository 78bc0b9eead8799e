"""Generate the synthetic demo area: a data directory laid out exactly like ``../shared/data``.

The demo lets ``healthgap demo`` and ``healthgap build --area E54900001 --data <dir>`` run with
no internet and no real data. Everything is generated from one seed with
``np.random.default_rng``; the same seed gives the same bytes in every file.

The area is fictitious and sits in the open North Sea, about 15-55 km north of the north
Norfolk coast (British National Grid easting about 600,000-640,000, northing about
360,000-400,000), so it cannot be mistaken for a real place. It is kept inside the 700 km x
1,300 km extent of the National Grid so that range checks on BNG coordinates accept it.
Every code is well formed but synthetic and cannot collide with a real one: LSOAs
``E019xxxxx``, MSOAs ``E029xxxxx``, local authorities ``E069xxxxx``, sub-ICBs ``E389xxxxx``,
ICBs ``E549xxxxx``, GP practices ``Z0xxxx``.

What is generated
-----------------
* About ``n_lsoa`` LSOAs (Voronoi cells around density-weighted seed points, clipped to a smooth
  outline, in EPSG:27700 and written in CRS84 as the ONS file is) grouped into MSOAs of about
  5 contiguous LSOAs, in 4 local authorities, 2 sub-ICBs and one ICB (`DEMO_ICB`), plus a ring of
  about ``n_lsoa / 8`` LSOAs around it in a neighbouring synthetic ICB (`NEIGHBOUR_ICB`).
* A town (Demoton) with a deprived core and an affluent periphery, a smaller deprived town
  (Synthby) and rural districts. The IMD score is a deprivation gradient plus a smooth random field
  plus noise, so it is spatially autocorrelated; ranks and deciles are consistent with the score
  and relative to England's 32,844 LSOAs (1 = most deprived).
* Life expectancy at MSOA that follows deprivation (male gap of more than 10 years between the
  most and least deprived MSOAs, female a little smaller) with two MSOAs suppressed.
* GP practices in the ODS ``epraccur`` schema, hospitals, an OSM XML road network with parks,
  fast-food outlets and off-licences, and an NO2-like exposure raster and 1 km CSV.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from healthgap.data._checksum import sha256_file
from healthgap.data._demo_base import (
    _BNG_TO_CRS84,
    _MAX_LSOA,
    _MIN_LSOA,
    DEMO_FILES,
    DEMO_ICB,
    DEMO_ICB_NAME,
    DEMO_INPUTS,
    LOCATION_NOTE,
    MANIFEST_NAME,
    NEIGHBOUR_ICB,
    NEIGHBOUR_ICB_NAME,
    README_NAME,
)
from healthgap.data._demo_geometry import _build_area
from healthgap.data._demo_outcomes import _indicators, _msoa_attributes
from healthgap.data._demo_population import _Fields, _lsoa_attributes
from healthgap.data._demo_services import _gp_practices, _no2_surface, _osm_network
from healthgap.data._demo_write import (
    _write_health_services,
    _write_imd,
    _write_life_expectancy,
    _write_lookups,
    _write_lsoa_geojson,
    _write_msoa_geojson,
    _write_osm,
    _write_population,
    _write_raster,
    _write_readme,
)
from pyproj import Transformer

from healthgap.errors import ParameterError

# The generator's parts live in _demo_base (codes, names, the files written), _demo_geometry
# (outline, LSOA cells, MSOAs), _demo_population (random fields, LSOA attributes),
# _demo_services (GP practices, OSM network, NO2 surface), _demo_outcomes (IoD indicators,
# MSOA life expectancy) and _demo_write (the file writers); this module runs them in order.
__all__ = [
    "DEMO_FILES", "DEMO_ICB", "DEMO_ICB_NAME", "DEMO_INPUTS", "LOCATION_NOTE", "MANIFEST_NAME",
    "NEIGHBOUR_ICB", "NEIGHBOUR_ICB_NAME", "README_NAME", "DemoManifest", "generate_demo",
]


@dataclass(frozen=True)
class DemoManifest:
    """What `generate_demo` wrote.

    Attributes
    ----------
    out_dir
        The directory the demo was written to.
    seed
        The seed everything was generated from.
    icb22cd, icb22nm
        Code and name of the demo ICB.
    n_lsoa
        LSOAs inside the demo ICB.
    n_ring
        LSOAs of the edge ring in the neighbouring synthetic ICB.
    n_msoa
        MSOAs inside the demo ICB.
    lads
        Local authority code -> name, demo ICB first, then the ring.
    bbox_bng
        ``(minx, miny, maxx, maxy)`` of every LSOA in EPSG:27700 metres.
    location
        Where the area is and why.
    files
        Relative path -> SHA-256 of every file written (the manifest itself excluded).
    """

    out_dir: Path
    seed: int
    icb22cd: str
    icb22nm: str
    n_lsoa: int
    n_ring: int
    n_msoa: int
    lads: dict[str, str]
    bbox_bng: tuple[float, float, float, float]
    location: str
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict; ``out_dir`` is left out so the JSON is byte-reproducible."""
        return {
            "synthetic": True,
            "generator": "healthgap data/demo.py",
            # the demo is laid out as the 2019 vintage (LSOA/MSOA 2011 files): a build of this
            # directory without --vintage uses it (healthgap.data.vintages.declared_vintage)
            "vintage": "2019",
            "seed": self.seed,
            "icb22cd": self.icb22cd,
            "icb22nm": self.icb22nm,
            "n_lsoa": self.n_lsoa,
            "n_ring": self.n_ring,
            "n_msoa": self.n_msoa,
            "lads": self.lads,
            "bbox_bng": list(self.bbox_bng),
            "location": self.location,
            "files": self.files,
        }


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------


def generate_demo(out_dir: str | Path, *, seed: int = 2019, n_lsoa: int = 320) -> DemoManifest:
    """Write the synthetic demo area into ``out_dir``, laid out like ``../shared/data``.

    Parameters
    ----------
    out_dir
        Directory to write into; created if missing. Files of the same names are overwritten,
        nothing else in it is touched.
    seed
        Seed of ``np.random.default_rng``; the same seed writes the same bytes.
    n_lsoa
        LSOAs inside the demo ICB (40-3000). About ``n_lsoa / 8`` more form the edge ring in the
        neighbouring ICB and about ``n_lsoa / 5`` MSOAs are made.

    Returns
    -------
    DemoManifest
        What was written, with the SHA-256 of every file; also written as
        ``demo_manifest.json``.

    Raises
    ------
    ParameterError
        If ``n_lsoa`` or ``seed`` is out of range.
    """
    if isinstance(n_lsoa, bool) or not isinstance(n_lsoa, (int, np.integer)):
        raise ParameterError(f"n_lsoa={n_lsoa!r}: expected an integer in "
                             f"{_MIN_LSOA}-{_MAX_LSOA}")
    if not _MIN_LSOA <= int(n_lsoa) <= _MAX_LSOA:
        raise ParameterError(f"n_lsoa={n_lsoa}: allowed {_MIN_LSOA}-{_MAX_LSOA}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed={seed!r}: expected a non-negative integer")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(int(seed))

    area = _build_area(rng, int(n_lsoa))
    fields = _Fields(rng, area.scale)
    attrs = _lsoa_attributes(rng, area, fields)
    practices = _gp_practices(rng, area, attrs)
    osm = _osm_network(rng, area, attrs)
    raster = _no2_surface(rng, area, fields, osm)
    indicators = _indicators(rng, area, attrs, practices, raster)
    msoa = _msoa_attributes(rng, area, attrs, fields)

    to84 = Transformer.from_crs(_BNG_TO_CRS84, "OGC:CRS84", always_xy=True)
    gids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(area.n)]
    _write_lsoa_geojson(out, area, to84, gids)
    _write_msoa_geojson(out, area, to84)
    _write_lookups(out, area, attrs)
    _write_imd(out, area, attrs, indicators, msoa)
    _write_life_expectancy(out, area, msoa)
    _write_population(out, area, attrs, to84)
    _write_health_services(out, area, practices, to84)
    _write_osm(out, osm, to84)
    _write_raster(out, raster)
    _write_readme(out, int(seed), area)

    files = {rel: sha256_file(out / rel) for rel in (*DEMO_FILES, README_NAME)}
    manifest = DemoManifest(
        out_dir=out, seed=int(seed), icb22cd=DEMO_ICB, icb22nm=DEMO_ICB_NAME,
        n_lsoa=int(area.in_area.sum()), n_ring=int((~area.in_area).sum()),
        n_msoa=len({m for m, a in zip(area.msoa_of, area.in_area, strict=True) if a}),
        lads={c: n for c, n in zip(area.lad_codes, area.lad_names, strict=True)},
        bbox_bng=tuple(float(round(v, 1)) for v in area.bbox),  # type: ignore[arg-type]
        location=LOCATION_NOTE, files=files)
    text = json.dumps(manifest.to_dict(), indent=2, sort_keys=False) + "\n"
    (out / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return manifest


