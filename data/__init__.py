"""Where inputs come from: source definitions, readers and the synthetic demo area."""

from healthgap.data._checksum import sha256_file

__all__ = ["sha256_file"]
