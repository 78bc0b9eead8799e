"""What a build is asked to do: `BuildOptions` and the check of every option."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from healthgap.errors import ParameterError


@dataclass
class BuildOptions:
    """Parameters of one build; every field is recorded in the manifest.

    Attributes
    ----------
    area
        An ICB, sub-ICB or local authority code or name, or ``england``.
    data_dir
        A directory laid out like ``../shared/data`` (or the generated demo).
    out_dir
        Where the GeoPackage, atlas and reports go.
    ring
        Rings of adjacent LSOAs kept outside the area as neighbours.
    max_loss
        Largest share of rows a join may lose before the build stops.
    weights
        Spatial weights for the statistics: ``queen``, ``rook``, ``knn``, ``distance_band``.
    permutations
        Permutations for the local statistics: ``auto`` (default) takes the smallest count at
        which the FDR rule can flag a single area (n / alpha), or give an integer.
    seed
        Seed of every permutation and simulation.
    alpha
        Significance level of the local statistics.
    correction
        Multiple-testing rule: ``fdr``, ``bonferroni`` or ``none``.
    access
        Build the service-access and environment layers when an OSM extract is present.
    models
        Fit the life-expectancy models.
    maps
        Write the HTML atlas.
    synthetic
        The inputs are the generated demo (said on every page and in the manifest).
    max_snap_m
        Furthest an LSOA centre or facility may be from the road network and still be routed
        (1.5 km by default: the postcode-based centres of rural LSOAs fall between villages).
    facility_buffer_m
        Facilities this far outside the area are kept, so trips across the boundary count.
    neighbourhoods
        A CSV of LSOA to neighbourhood (``lsoa_code,nbhd_cd,nbhd_nm``); without it, PCN
        catchments when the data directory has the registrations and ePCN files, else
        generated neighbourhoods.
    vintage
        ``2025`` or ``2019`` (`healthgap.data.vintages`); None = the vintage the data
        directory declares (the generated demo declares ``2019``), else ``2025``.
    footprint
        A footprint CSV (`healthgap.geo.footprint`): its systems and places replace the
        vintage's ICBs and local authorities; ``area`` is then one of its system codes.
    allow_incomplete
        Build even when a national input does not cover what its contract asks for
        (`data.contracts.COVERAGE`); the gaps are reported in the join report, the manifest
        and on the story page. Without it such a build is refused before any computing.
    report
        Also write the board pack (workbook, deck, static maps) into ``<out>/report``.
    """

    area: str
    data_dir: Path
    out_dir: Path
    ring: int = 1
    max_loss: float = 0.0
    weights: str = "queen"
    permutations: int | str = "auto"
    seed: int = 2019
    alpha: float = 0.05
    correction: str = "fdr"
    access: bool = True
    models: bool = True
    maps: bool = True
    synthetic: bool = False
    max_snap_m: float = 1500.0
    facility_buffer_m: float = 15_000.0
    neighbourhoods: Path | None = None
    vintage: str | None = None
    footprint: Path | None = None
    allow_incomplete: bool = False
    report: bool = False

    def validate(self) -> None:
        """Raise `ParameterError` naming the first option whose value is not allowed.

        Called before any input is read, so a bad value is refused in well under a second.
        """
        for problem in _option_problems(self):
            raise ParameterError(problem)

    def to_dict(self) -> dict[str, Any]:
        """Return the options as JSON-friendly values."""
        d = asdict(self)
        d["data_dir"] = str(self.data_dir)
        d["out_dir"] = str(self.out_dir)
        d["neighbourhoods"] = None if self.neighbourhoods is None else str(self.neighbourhoods)
        # recorded only when set (a 2019 build's parameters are as before vintages)
        for name in ("vintage", "footprint"):
            if d[name] is None:
                del d[name]
            else:
                d[name] = str(d[name])
        return d


#: Allowed values of the choice options, by command-line option name.
CHOICES: dict[str, tuple[str, ...]] = {
    "--weights": ("queen", "rook", "knn", "distance_band"),
    "--correction": ("fdr", "bonferroni", "none"),
}


def _option_problems(o: BuildOptions) -> Iterator[str]:
    """Yield one sentence per option whose value is not allowed (named as on the CLI)."""
    for opt, value in (("--weights", o.weights), ("--correction", o.correction)):
        if value not in CHOICES[opt]:
            yield f"{opt} {value!r}: allowed {', '.join(CHOICES[opt])}"
    p = o.permutations
    if p != "auto" and (isinstance(p, bool) or not isinstance(p, int) or p < 1):
        yield f"--permutations {p!r}: a whole number >= 1, or 'auto'"
    if isinstance(o.ring, bool) or not isinstance(o.ring, int) or not 0 <= o.ring <= 10:
        yield f"--ring {o.ring!r}: a whole number from 0 to 10"
    if not (isinstance(o.max_loss, int | float) and 0.0 <= o.max_loss < 1.0):
        yield f"--max-loss {o.max_loss!r}: a share from 0 up to (not including) 1"
    if not (isinstance(o.alpha, int | float) and 0.0 < o.alpha < 1.0):
        yield f"alpha {o.alpha!r}: a significance level strictly between 0 and 1"
    if isinstance(o.seed, bool) or not isinstance(o.seed, int) or o.seed < 0:
        yield f"--seed {o.seed!r}: a whole number >= 0"
    for name in ("max_snap_m", "facility_buffer_m"):
        v = getattr(o, name)
        if not (isinstance(v, int | float) and v >= 0 and np.isfinite(v)):
            yield f"{name} {v!r}: a distance in metres >= 0"
    if not Path(o.data_dir).is_dir():
        yield f"--data {o.data_dir}: not a folder"
    if o.vintage is not None and str(o.vintage) not in ("2019", "2025"):
        yield f"--vintage {o.vintage!r}: allowed 2025, 2019"
    if o.footprint is not None and not Path(o.footprint).is_file():
        yield f"--footprint {o.footprint}: file not found"
    if o.neighbourhoods is not None and not Path(o.neighbourhoods).is_file():
        yield f"--neighbourhoods {o.neighbourhoods}: file not found"
