"""One router per resource: areas, layers, maps, stats, runs."""
