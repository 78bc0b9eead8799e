"""Write an example footprint file: NHS Thames Valley ICB as it stands from 1 April 2026.

On 1 April 2026 Frimley ICB was dissolved: East Berkshire (Bracknell Forest, Slough, Windsor and
Maidenhead) joined Buckinghamshire, Oxfordshire and Berkshire West to form Thames Valley. No
April 2026 lookup is in the shared data, so this script builds the footprint from the April 2024
one: every LSOA 2021 of BOB ICB (E54000044) and of the three East Berkshire local authorities,
with the local authorities as places. The new ICB's code is not in the data either: the file uses
``E54999026`` and says in the name that the code is a placeholder; put the real code there.

Usage::

    python scripts/footprint_2026.py ../shared/data docs/footprint_thames_valley_2026.csv
    healthgap build --footprint docs/footprint_thames_valley_2026.csv --area E54999026
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

LOOKUP = "geography/lsoa21_msoa21_ltla24_sicbl24_icb24_lookup_england_derived.csv"
BOB = "E54000044"
EAST_BERKSHIRE = ("E06000036", "E06000039", "E06000040")
CODE = "E54999026"
NAME = "NHS Thames Valley ICB (April 2026 footprint; code E54999026 is a placeholder)"


def thames_valley(data: Path) -> pd.DataFrame:
    """Return the footprint table (one row per LSOA 2021)."""
    lk = pd.read_csv(data / LOOKUP, dtype=str)
    rows = lk[(lk["icb24_code"] == BOB) | lk["ltla24_code"].isin(EAST_BERKSHIRE)]
    return pd.DataFrame({"lsoa_code": rows["lsoa21_code"], "system_code": CODE,
                         "system_name": NAME, "place_code": rows["ltla24_code"],
                         "place_name": rows["ltla24_name"]}).sort_values("lsoa_code")


def main(argv: list[str]) -> int:
    """Write the footprint CSV named on the command line."""
    if len(argv) != 2:
        print(__doc__)
        return 2
    frame = thames_valley(Path(argv[0]))
    Path(argv[1]).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(argv[1], index=False)
    print(f"{argv[1]}: {len(frame)} LSOAs, {frame['place_code'].nunique()} places")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
