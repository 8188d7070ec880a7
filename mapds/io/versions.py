"""Which version of a file a lazy map opened, so that reads of another version fail.

A lazy map reads its bytes long after the file was opened, possibly on another machine.  If the
file was replaced meanwhile, reading it at the offsets of the old layout would return other data
(or garbage).  :class:`FileVersion` records what identifies the version opened — size and
modification time of a local file, ETag (or version id) and size of an object — and readers
compare it with what they find at each read, raising :class:`~mapds.errors.StaleFileError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import StaleFileError

__all__ = ["FileVersion", "stale"]


@dataclass(frozen=True)
class FileVersion:
    """What identifies one version of a file.

    Attributes
    ----------
    size : int, optional
        Size in bytes.
    etag : str, optional
        Entity tag (S3, HTTP) or checksum (``md5Hash``) reported by the storage.
    modified : str, optional
        Modification marker: ``st_mtime_ns`` of a local file, ``Last-Modified`` of an HTTP
        resource, creation time of a ``memory://`` file.
    version_id : str, optional
        Object version (S3 ``VersionId``, GCS ``generation``).
    """

    size: int | None = None
    etag: str | None = None
    modified: str | None = None
    version_id: str | None = None

    @classmethod
    def from_stat(cls, st: os.stat_result) -> FileVersion:
        """Version of a local file (size and modification time in nanoseconds)."""
        return cls(size=int(st.st_size), modified=str(st.st_mtime_ns))

    @classmethod
    def from_info(cls, info: dict) -> FileVersion:
        """Version from fsspec's ``info`` of a file (whichever markers the filesystem reports)."""

        def first(*keys: str) -> str | None:
            for key in keys:
                if info.get(key) is not None:
                    return str(info[key])
            return None

        size = info.get("size")
        return cls(
            size=None if size is None else int(size),
            etag=first("ETag", "etag", "md5Hash"),
            modified=first("Last-Modified", "LastModified", "mtime", "created"),
            version_id=first("VersionId", "generation"),
        )

    @property
    def strong_etag(self) -> str | None:
        """The ETag, when a server can check it with ``If-Match`` (weak ETags cannot be)."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return None

    def changes_to(self, other: FileVersion) -> list[str]:
        """What differs in ``other`` (only markers both versions know are compared)."""
        changes = []
        for name in ("size", "etag", "modified", "version_id"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is not None and theirs is not None and _normal(mine) != _normal(theirs):
                changes.append(f"{name} {mine} -> {theirs}")
        return changes

    def check(self, other: FileVersion, url: str) -> None:
        """Raise :class:`StaleFileError` if ``other`` is not this version."""
        changes = self.changes_to(other)
        if changes:
            raise stale(url, ", ".join(changes))


def _normal(value: object) -> str:
    # ETags come quoted from HTTP headers and from S3, and sometimes unquoted from listings.
    return str(value).strip().strip('"')


def stale(url: str, what: str) -> StaleFileError:
    """The error for a file that changed after it was opened."""
    return StaleFileError(f"{url!r} changed since it was opened ({what}); reopen it to see the new file")
