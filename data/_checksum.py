"""SHA-256 of files, read in chunks so large inputs never sit in memory."""

from __future__ import annotations

import hashlib
from pathlib import Path

from healthgap.errors import InputError

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Return the SHA-256 of a file as 64 lower-case hex digits.

    Parameters
    ----------
    path
        The file to hash; it is read in 1 MiB chunks.

    Returns
    -------
    str
        The hex digest.

    Raises
    ------
    InputError
        If ``path`` is not a readable file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: cannot hash, not a file")
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
