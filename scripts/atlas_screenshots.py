"""Retake the atlas screenshots in docs/ from a demo build (``healthgap demo --out out/demo``).

Usage: ``.venv/bin/python -m scripts.atlas_screenshots out/demo`` (needs Debian's chromium and
playwright, as the browser tests do). Pages open offline from disk.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"

#: (file in docs/, atlas page, width, height, full page)
SHOTS = (
    ("atlas-story.png", "index.html", 1000, 1700, False),
    ("atlas-life-expectancy.png", "msoa-le-male.html", 1000, 700, False),
    ("atlas-vs-england.png", "msoa-le-male-vs-england.html", 1000, 700, False),
    ("atlas-clusters.png", "lisa-msoa-le-male.html", 1000, 700, False),
    ("atlas-phone.png", "msoa-le-male.html", 390, 844, False),
    ("atlas-neighbourhood-core20.png", "neighbourhood-core20.html", 1000, 700, False),
)


def main(build: str) -> None:
    """Take every screenshot of :data:`SHOTS` from ``<build>/atlas``."""
    from playwright.sync_api import sync_playwright

    atlas = Path(build).resolve() / "atlas"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu"])
        for name, page_name, width, height, full in SHOTS:
            phone = width < 600
            context = browser.new_context(viewport={"width": width, "height": height},
                                          offline=True, is_mobile=phone, has_touch=phone,
                                          device_scale_factor=1)
            page = context.new_page()
            page.goto((atlas / page_name).as_uri(), wait_until="load")
            page.wait_for_timeout(1200)
            page.screenshot(path=str(DOCS / name), full_page=full)
            context.close()
            print(DOCS / name)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/demo")
