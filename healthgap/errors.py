"""The one exception hierarchy of healthgap.

Every error names what was at fault: the file, the column, the code or the parameter. The
classes subclass the matching built-in (``ValueError`` or ``LookupError``) so that callers who do
not know healthgap can still catch them, and services/ maps each class to one HTTP status.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class HealthgapError(Exception):
    """Base class of every error healthgap raises on purpose."""


class InputError(HealthgapError, ValueError):
    """An input file or frame is not usable as given."""


class MissingColumnError(InputError):
    """A required column is absent; the message lists the columns that were found."""


class CRSError(InputError):
    """A frame or file has no CRS, or the wrong one for the operation."""


class DuplicateCodeError(InputError):
    """Area codes that must be unique are repeated."""


class CodeFormatError(InputError):
    """Area codes that are not well formed for the geography expected."""


class GeometryError(InputError):
    """Geometries that are empty, missing or cannot be repaired."""


class ParameterError(HealthgapError, ValueError):
    """A parameter has a value outside what is allowed; the message says what is allowed."""


class NothingToDrawError(ParameterError):
    """No map page can be drawn for an area (too few areas with a value); the build goes on."""


class JoinError(HealthgapError, ValueError):
    """A join lost more rows than the allowed share; the message names the codes."""


class UnknownAreaError(HealthgapError, LookupError):
    """An area code or name that the lookups do not know."""


class UnknownLayerError(HealthgapError, LookupError):
    """A layer or indicator that the store does not hold."""


class ValidationError(InputError):
    """Several problems found in one input, collected and raised together.

    ``source`` names the file or frame the problems were found in; ``problems`` holds one
    sentence per problem (both kept as attributes, and all of them in the message).
    """

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}")

    def __reduce__(self) -> tuple[type, tuple[str, list[str]]]:
        """Pickle with both arguments (errors cross process boundaries in batch runs)."""
        return (type(self), (self.source, self.problems))


def preview(codes: Iterable[object], most: int = 10) -> str:
    """Return a short, readable list of codes for an error message.

    Parameters
    ----------
    codes
        The codes to show.
    most
        How many to show before summarising the rest as ``… and N more``.
    """
    items = [str(c) for c in codes]
    shown = ", ".join(items[:most])
    if len(items) > most:
        shown += f", … and {len(items) - most} more"
    return shown


class OfflineError(HealthgapError, RuntimeError):
    """A page would load a resource from the network; the message names the resource."""


class DownloadError(HealthgapError, OSError):
    """A source could not be downloaded; the message names the source id, the URL and why."""


class ChecksumError(InputError):
    """A file's SHA-256 is not the one expected; the message names the source, both digests."""


class OutputError(HealthgapError, OSError):
    """The output folder cannot take a build (a file, not writable, full); the message names it."""


class BuildLockedError(OutputError):
    """Another build is writing into the same output folder; the message names it and the pid."""


class LayerClashError(HealthgapError, ValueError):
    """Two stages produced the same output column or layer name; the message names it."""


class StoreUnreadableError(InputError):
    """A build's GeoPackage exists but cannot be read (damaged, truncated, not a GeoPackage)."""
