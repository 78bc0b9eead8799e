"""Read a national input once per process: one cache keyed by the reader, the path and the file.

Batch workers and the England build read the same national tables for every area; a build's
input checks read them first. `read_cached` takes the reader itself (``readers.read_imd``) and
returns what that reader returns, typed as it is; the frames returned are shared, so callers
must not modify them in place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from cachetools import LRUCache, cached
from cachetools.keys import hashkey

T = TypeVar("T")


def file_key(*parts: Any) -> tuple[Any, ...]:
    """Cache key of a read: the arguments, and each file's size and modification time."""
    stats = [Path(p).stat() for p in parts if isinstance(p, str | Path) and Path(p).is_file()]
    stamps = [(st.st_mtime_ns, st.st_size) for st in stats]
    return hashkey(*map(str, parts), *stamps)


def _reader_key(reader: Callable[[Path], Any], path: Path) -> tuple[Any, ...]:
    return (reader.__module__, reader.__qualname__, *file_key(path))


@cached(LRUCache(maxsize=32), key=_reader_key, lock=threading.Lock())
def _read(reader: Callable[[Path], Any], path: Path) -> Any:
    return reader(path)


def read_cached(reader: Callable[[Path], T], path: str | Path) -> T:
    """Return ``reader(path)``, read once per process while the file is unchanged.

    Parameters
    ----------
    reader
        A reader of `healthgap.data.readers` taking one path (``readers.read_imd``...).
    path
        The file; the cache is keyed by the reader, the path and the file's size and
        modification time.

    Returns
    -------
    T
        What ``reader`` returns (shared between callers: do not modify it in place).
    """
    return cast(T, _read(reader, Path(path)))
