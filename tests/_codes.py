"""Area codes the tests name: the two ICBs whose real data ship in ../shared/data."""

from __future__ import annotations

#: Frimley ICB
FRIMLEY = "E54000034"
#: Greater Manchester ICB
GM = "E54000057"
