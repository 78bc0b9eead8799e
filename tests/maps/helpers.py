"""Helpers to look inside built maps."""

from __future__ import annotations

import json
from typing import Any

from healthgap.maps._layers import Control, TopoLayer


def layers(m) -> list[TopoLayer]:
    return [c for c in m._children.values() if isinstance(c, TopoLayer)]


def payload(layer: TopoLayer) -> dict[str, Any]:
    return json.loads(layer.payload_js)


def legend(m) -> str:
    found = [c for c in m._children.values()
             if isinstance(c, Control) and "hg-legend" in c.css]
    assert len(found) == 1
    return found[0].html_text


def html(m) -> str:
    return m.get_root().render()
