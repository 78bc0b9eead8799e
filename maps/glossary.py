"""The atlas glossary: the words its pages use, each said once in plain English.

One vocabulary (issue #24): "neighbourhood" means only the 30,000-50,000-people level; LSOAs and
MSOAs are "small areas" in words. Every map page links here from its title box.
"""

from __future__ import annotations

import html

GLOSSARY: tuple[tuple[str, str], ...] = (
    ("Small area", "A Lower or Middle layer Super Output Area: the areas national statistics "
     "are published for. An LSOA has about 1,500 residents, an MSOA about 7,500 (five or so "
     "LSOAs)."),
    ("LSOA", "Lower layer Super Output Area, about 1,500 residents. Deprivation (IMD) is "
     "published for LSOAs."),
    ("MSOA", "Middle layer Super Output Area, about 7,500 residents. Life expectancy is "
     "published for MSOAs."),
    ("Neighbourhood", "A group of 30,000-50,000 people within a place, the level NHS "
     "neighbourhood health teams plan for (a primary care network's patients, or contiguous "
     "MSOAs grouped by healthgap). Used for nothing smaller."),
    ("Place", "A local authority (district, unitary or borough). A place only partly inside "
     "the area is marked \u201cpart\u201d with the residents inside."),
    ("System", "An integrated care system (its integrated care board's area)."),
    ("Ward", "An electoral ward (May 2024 boundaries): the names residents know their streets "
     "by. Used for labels and search; each small area takes the ward holding most of it."),
    ("Life expectancy at birth", "The average number of years a baby would live if it "
     "experienced the area's death rates of the period throughout its life."),
    ("Slope index of inequality (SII)", "The gap in years between the most and the least "
     "deprived ends of an area, from a line fitted across its deprivation groups. Ours uses "
     "MSOA tenths and is smaller than ONS's LSOA-decile figure for England for that reason."),
    ("Standardised ratio (SMR, SAR)", "Deaths or admissions against what England's rates "
     "would give for the same ages: 100 = as England, above 100 = more than expected."),
    ("Core20", "Residents of LSOAs among England's 20% most deprived by IMD 2019 (NHS "
     "England's Core20PLUS5)."),
    ("95% interval", "The range that would contain the true value in 95 of 100 repeats of the "
     "sampling or modelling. Where the source publishes none, pages say so and draw no "
     "verdict."),
    ("Significantly different from England", "The area's 95% interval lies wholly above or "
     "below England's value. Used only where an interval exists."),
    ("Cluster (local Moran's I)", "A small area whose value and its neighbours' values are "
     "alike (all high or all low) beyond what chance would give, or an area unlike its "
     "neighbours (an outlier)."),
    ("Hot or cold spot (Gi*)", "A group of areas, the area itself included, whose values "
     "together are higher (hot) or lower (cold) than chance would give. It can differ from "
     "the cluster map: it does not ask whether the area is like its neighbours."),
    ("Cliff", "A large difference in life expectancy between two neighbouring small areas, in "
     "years."),
    ("Gradient", "A difference divided by the distance between two areas' centres, in years "
     "per mile."),
    ("FDR", "False discovery rate: the rule used when testing many areas at once, so that at "
     "most about 5% of the areas flagged are expected to be flagged by chance."),
    ("Drive time", "Minutes by road from a small area's population-weighted centre to the "
     "nearest service."),
)
"""Term and meaning, in the order the glossary lists them."""


def glossary_html() -> str:
    """Return the glossary page body (HTML)."""
    items = "".join(f"<dt id=\"{html.escape(t.lower().split(' (')[0].replace(' ', '-'))}\">"
                    f"{html.escape(t)}</dt><dd>{html.escape(d)}</dd>" for t, d in GLOSSARY)
    return ("<h1>Glossary</h1><p>The words the atlas uses, in plain English.</p>"
            f'<dl class="glossary">{items}</dl>')


GLOSSARY_HTML = glossary_html()
