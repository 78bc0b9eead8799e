"""The one column registry: every column is (indicator, level, sex, statistic).

A column of a layer is an indicator of the catalogue (:mod:`geo.indicators`), at a level
(``lsoa``, ``msoa``, ...), perhaps for one sex, perhaps a statistic computed from it (its LISA
label, its Gi* z-score...). This module is the only place that turns those four into a column
name and reads a name back: the build writes the names it is given here, the atlas and the API
ask here which indicator and statistic a column holds. Nothing else builds or splits a name.

The names are those the build has always written (``le_male``, ``lisa_imd_score_p``,
``gi_le_female_z``, ``bilisa_le_male_imd``, ``gwr_male_<term>``): a statistic is a prefix and a
suffix around the indicator's name (:data:`STATISTICS`).

A new indicator is one catalogue entry: :func:`geo.indicators.register` (or a block of
``_catalogue``). Its ``stat_levels`` say at which levels the build tests it for spatial
autocorrelation (beside the plan's own list, `geo.model_plan.ModelPlan.stat_indicators`), and
every statistic column, API filter and cluster map follows from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from healthgap.geo.indicators import INDICATORS, Indicator, describe

from healthgap.errors import ParameterError

__all__ = ["COLUMNS", "STATISTICS", "Column", "ColumnRegistry", "Statistic"]

SEXES = ("male", "female")
"""The sexes a column may be for (a column with no sex is for persons, or not by sex)."""


@dataclass(frozen=True)
class Statistic:
    """A statistic computed per area from an indicator, and how its column is named.

    Attributes
    ----------
    key
        The statistic's identifier (``lisa``, ``lisa_p``, ``gi_z``...).
    prefix, suffix
        The column is ``prefix + <indicator column> + suffix``.
    family
        The method the column comes from (``lisa``, ``gi``, ``bilisa``): the API groups a
        family's columns under their indicator.
    label
        What the column holds, in words.
    per_area
        A per-area statistic (LISA, Gi*...), listed by the API's ``/stats``; False for a
        roll-up to a higher level (``pwmean``).
    """

    key: str
    prefix: str
    suffix: str
    family: str
    label: str
    per_area: bool = True

    def name(self, indicator: str) -> str:
        """Return the column name of this statistic of ``indicator``."""
        return f"{self.prefix}{indicator}{self.suffix}"

    def indicator_of(self, name: str) -> str | None:
        """Return the indicator name inside ``name`` when it has this statistic's shape."""
        if len(name) <= len(self.prefix) + len(self.suffix):
            return None
        if not (name.startswith(self.prefix) and name.endswith(self.suffix)):
            return None
        return name[len(self.prefix):len(name) - len(self.suffix)]


STATISTICS: dict[str, Statistic] = {s.key: s for s in (
    Statistic("lisa", "lisa_", "", "lisa", "local Moran's I cluster label"),
    Statistic("lisa_p", "lisa_", "_p", "lisa", "local Moran's I pseudo p-value"),
    Statistic("lisa_q", "lisa_", "_q", "lisa", "local Moran's I quadrant"),
    Statistic("gi", "gi_", "", "gi", "Getis-Ord Gi* hot/cold-spot label"),
    Statistic("gi_z", "gi_", "_z", "gi", "Getis-Ord Gi* z-score"),
    Statistic("gi_p", "gi_", "_p", "gi", "Getis-Ord Gi* pseudo p-value"),
    Statistic("bilisa_imd", "bilisa_", "_imd", "bilisa",
              "bivariate local Moran's I cluster label against the IMD score"),
    Statistic("pwmean", "", "_pwmean", "rollup",
              "population-weighted mean of the level's MSOAs (or LSOAs)", per_area=False),
)}
"""Every per-area statistic the build writes as a column."""

FAMILIES = ("lisa", "bilisa", "gistar", "gi", "geary", "local")
"""Families of per-area statistics read back from a layer (the build writes the first, second
and fourth; the others, and the fields below, are read so that columns added by other tools
are still grouped under their indicator)."""
_FIELDS = ("", "_p", "_q", "_z", "_p_adj", "_label", "_sig", "_imd")


def _read_shapes() -> list[Statistic]:
    """Every statistic shape :meth:`ColumnRegistry.parse` recognises, longest first."""
    shapes = dict(STATISTICS)
    for family in FAMILIES:
        for suffix in _FIELDS:
            key = family + suffix
            shapes.setdefault(key, Statistic(key, family + "_", suffix, family, key))
    # longest shape first, so that ``lisa_x_p`` is read as the p-value of ``x`` when ``x`` is known
    return sorted(shapes.values(), key=lambda s: -len(s.prefix) - len(s.suffix))


_BY_SPECIFICITY = _read_shapes()


@dataclass(frozen=True)
class Column:
    """One column: an indicator, at a level, perhaps for one sex, perhaps a statistic of it.

    Attributes
    ----------
    indicator
        The indicator's catalogue name (``le_male``, ``imd_score``).
    level
        The layer the column is on (``lsoa``, ``msoa``...), None when not said.
    sex
        ``male``, ``female`` or None (from the catalogue entry).
    statistic
        A key of :data:`STATISTICS`, or None for the indicator's own values (a column read
        from another tool's output may carry ``<family>_<field>``).
    """

    indicator: str
    level: str | None = None
    sex: str | None = None
    statistic: str | None = None

    @property
    def name(self) -> str:
        """The column name (made by the registry)."""
        return COLUMNS.name(self)


class ColumnRegistry:
    """Make and read column names from the indicator catalogue and :data:`STATISTICS`.

    Parameters
    ----------
    catalogue
        Indicator name -> entry (the live catalogue by default, so a registered entry counts).
    statistics
        Statistic key -> :class:`Statistic`.
    """

    def __init__(self, catalogue: Mapping[str, Indicator] = INDICATORS,
                 statistics: Mapping[str, Statistic] = STATISTICS) -> None:
        self.catalogue = catalogue
        self.statistics = statistics

    def column(self, indicator: str, *, level: str | None = None,
               statistic: str | None = None) -> Column:
        """Return the column of ``indicator`` (its sex from the catalogue) and ``statistic``."""
        if statistic is not None and statistic not in self.statistics:
            raise ParameterError(f"statistic={statistic!r}: expected one of "
                                 f"{', '.join(self.statistics)}")
        return Column(indicator, level, self.sex_of(indicator), statistic)

    def name(self, column: Column) -> str:
        """Return the column name of ``column``."""
        if column.statistic is None:
            return column.indicator
        return self.statistics[column.statistic].name(column.indicator)

    def of(self, indicator: str, statistic: str | None = None) -> str:
        """Return the name of ``statistic`` of ``indicator`` (its own values when None)."""
        return self.name(self.column(indicator, statistic=statistic))

    def sex_of(self, indicator: str) -> str | None:
        """Return the sex ``indicator`` is for (``male``/``female``), or None."""
        entry = self.catalogue.get(indicator)
        return entry.sex or None if entry is not None else None

    def parse(self, name: str, *, level: str | None = None,
              known: Iterable[str] = ()) -> Column | None:
        """Read a column name back into a :class:`Column`, or None if it is none of ours.

        Parameters
        ----------
        name
            The column name.
        level
            The layer it is on, recorded in the result.
        known
            Further indicator names to accept beside the catalogue's (a layer's own columns,
            so that an uncatalogued indicator's statistics are still found).
        """
        names = set(known)

        def ours(indicator: str | None) -> bool:
            return indicator is not None and (indicator in self.catalogue or indicator in names)

        for stat in _BY_SPECIFICITY:
            inner = stat.indicator_of(name)
            if ours(inner):
                return Column(str(inner), level, self.sex_of(str(inner)), stat.key)
        # ``<indicator>_<family>_<field>``, as other tools name their output (esda's ``_lisa_i``)
        for family in FAMILIES:
            head, sep, field = name.partition(f"_{family}_")
            if sep and field and ours(head):
                return Column(head, level, self.sex_of(head), f"{family}_{field}")
        if ours(name):
            return Column(name, level, self.sex_of(name), None)
        return None

    def local_columns(self, fields: Iterable[str], *, level: str | None = None,
                      ) -> dict[str, list[str]]:
        """Group the per-area statistic columns among ``fields`` by their indicator."""
        fields = list(fields)
        out: dict[str, list[str]] = {}
        for f in fields:
            col = self.parse(f, level=level, known=fields)
            stat = None if col is None or col.statistic is None else \
                self.statistics.get(col.statistic)
            if col is not None and col.statistic is not None and (stat is None or stat.per_area):
                out.setdefault(col.indicator, []).append(f)
        return out

    def entry(self, column: Column | str) -> Indicator:
        """Return the catalogue entry of a column (or column name) for titles and legends."""
        col = self.parse(column) if isinstance(column, str) else column
        return describe(col.indicator if col is not None else str(column))

    def gwr_prefix(self, indicator: str) -> str:
        """Return the prefix of the GWR local-estimate columns of ``indicator``."""
        return f"gwr_{self.sex_of(indicator) or indicator}_"

    def stat_indicators(self, planned: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
        """Return the indicators tested per level: the plan's, then catalogue entries' own.

        An entry with ``stat_levels`` (set when it is registered) joins the levels it names,
        after the plan's indicators (so the plan's order, and the outputs, stay as they were).
        """
        out = {level: tuple(cols) for level, cols in planned.items()}
        for entry in self.catalogue.values():
            for level in entry.stat_levels:
                if entry.name not in out.get(level, ()):
                    out[level] = (*out.get(level, ()), entry.name)
        return out


COLUMNS = ColumnRegistry()
"""The registry every module asks."""


def sex_word(indicator: str) -> str:
    """Return the sex of a sexed indicator (``le_male`` -> ``male``), else the name itself.

    The tables of the models carry a ``sex`` column with this value.
    """
    return COLUMNS.sex_of(indicator) or indicator
