"""Where bytes live: fsspec URL resolution, file identity and storage errors.

Every reader and writer in :mod:`mapds.io` goes through :func:`resolve`, so a local path,
``s3://``, ``gs://``, ``https://`` and ``memory://`` behave the same (writes go through
:mod:`mapds.io.atomic`).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePath

import fsspec
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from ..errors import MissingFileError, StorageError
from .paths import make_path
from .remote_options import RetryPolicy, with_remote_defaults
from .remote_reads import info_with_retries

__all__ = ["Location", "resolve", "storage_errors"]


@dataclass(frozen=True)
class Location:
    """A file or directory on some fsspec filesystem.

    Attributes
    ----------
    fs : fsspec.AbstractFileSystem
        The filesystem.
    path : str
        Path on ``fs`` (no protocol).
    url : str
        The URL as the user gave it (for messages and cache keys).
    options : dict
        The ``storage_options`` the filesystem was created with.
    """

    fs: fsspec.AbstractFileSystem
    path: str
    url: str
    options: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def is_local(self) -> bool:
        """Whether the path is on the plain local filesystem (``os`` calls may be used)."""
        return type(self.fs) is LocalFileSystem

    @property
    def name(self) -> str:
        return PurePath(self.path).name

    def exists(self) -> bool:
        with storage_errors(self.url):
            return bool(self.fs.exists(self.path))

    def info(self) -> dict:
        """fsspec ``info`` of the path (:class:`MissingFileError` when absent); transient
        failures are retried (see :func:`.remote_reads.info_with_retries`)."""
        with storage_errors(self.url):
            return info_with_retries(self.fs, self.path, self.url, RetryPolicy.from_config())

    def identity(self, info: dict | None = None) -> str:
        """A string that changes whenever the file's content may have changed.

        Built from the size and whichever version marker the filesystem reports (ETag,
        modification time, generation...), so caches and dask task names built from it are
        invalidated by a rewrite of the file.  ``info`` (fsspec ``info`` of the path, when the
        caller has it) saves a request.
        """
        info = self.info() if info is None else info
        markers = [str(info.get("size"))]
        for key in ("ETag", "etag", "md5Hash", "generation", "VersionId", "mtime", "LastModified", "created"):
            if info.get(key) is not None:
                markers.append(f"{key}={info[key]}")
        return f"{self.fs.unstrip_protocol(self.path)}|{'|'.join(markers)}"

    def child(self, relative: str) -> Location:
        """Location of ``relative`` below this one (a key inside a zarr store...)."""
        path = f"{self.path.rstrip('/')}/{relative.lstrip('/')}"
        return Location(self.fs, path, f"{self.url.rstrip('/')}/{relative.lstrip('/')}", self.options)

    def sibling(self, name: str) -> Location:
        """Location of ``name`` in the same directory."""
        parent = posixpath.dirname(self.path.rstrip("/"))
        path = f"{parent.rstrip('/')}/{name}" if parent else name
        return Location(self.fs, path, self.fs.unstrip_protocol(path), self.options)


def resolve(url, storage_options: dict | None = None) -> Location:
    """The :class:`Location` of a path or URL.

    Parameters
    ----------
    url : str, os.PathLike or Location
        Local path (environment variables and ``~`` expanded, see :func:`.paths.make_path`) or
        any fsspec URL (``s3://bucket/key``, ``memory://x.fits``...); a :class:`Location` is
        returned as is.
    storage_options : dict, optional
        Passed to the fsspec filesystem (credentials, endpoint...).
    """
    if isinstance(url, Location):
        return url
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str):
        raise TypeError(f"Expected a path or URL, got {type(url).__name__}")
    url = make_path(url)
    # Timeouts and retries of remote clients, unless storage_options sets them (remote_options).
    options = with_remote_defaults(url, storage_options)
    with storage_errors(url):
        fs, path = url_to_fs(url, **options)
    return Location(fs, path, url, options)


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn low-level I/O failures into :class:`~mapds.errors.StorageError` naming ``url``."""
    try:
        yield
    except (StorageError, KeyboardInterrupt):
        raise
    except FileNotFoundError as exc:
        raise MissingFileError(f"No such file: {url!r}") from exc
    except (OSError, TimeoutError, ConnectionError) as exc:
        # Timeouts often carry no message: say what happened rather than nothing.
        reason = str(exc) or f"{type(exc).__name__}" + (
            " (no answer within the timeout)" if isinstance(exc, TimeoutError) else ""
        )
        raise StorageError(f"Cannot access {url!r}: {reason}") from exc
    except Exception as exc:
        # Remote clients raise their own exception types (botocore, aiohttp...); anything they
        # raise while talking to storage is a storage failure for our callers.
        module = type(exc).__module__.split(".")[0]
        if module in ("botocore", "aiobotocore", "aiohttp", "s3fs", "gcsfs", "adlfs", "requests", "urllib3"):
            raise StorageError(f"Cannot access {url!r}: {type(exc).__name__}: {exc}") from exc
        raise
