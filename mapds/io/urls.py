"""Where bytes live: fsspec URL resolution, file identity, and atomic outputs.

Every reader and writer in :mod:`mapds.io` goes through :func:`resolve`, so a local path,
``s3://``, ``gs://``, ``https://`` and ``memory://`` behave the same.  Outputs are produced
beside their target and moved over it only when complete (:func:`atomic_file`,
:func:`atomic_directory`), so an interrupted write never leaves a half file in place.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePath

import fsspec
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from ..errors import MissingFileError, OverwriteError, StorageError
from .paths import make_path

__all__ = ["Location", "atomic_directory", "atomic_file", "resolve", "storage_errors"]


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
        """fsspec ``info`` of the path (:class:`MissingFileError` when absent)."""
        with storage_errors(self.url):
            return self.fs.info(self.path)

    def identity(self) -> str:
        """A string that changes whenever the file's content may have changed.

        Built from the size and whichever version marker the filesystem reports (ETag,
        modification time, generation...), so caches and dask task names built from it are
        invalidated by a rewrite of the file.
        """
        info = self.info()
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
    with storage_errors(url):
        fs, path = url_to_fs(url, **(storage_options or {}))
    return Location(fs, path, url, dict(storage_options or {}))


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
        raise StorageError(f"Cannot access {url!r}: {exc}") from exc
    except Exception as exc:
        # Remote clients raise their own exception types (botocore, aiohttp...); anything they
        # raise while talking to storage is a storage failure for our callers.
        module = type(exc).__module__.split(".")[0]
        if module in ("botocore", "aiobotocore", "aiohttp", "s3fs", "gcsfs", "adlfs", "requests", "urllib3"):
            raise StorageError(f"Cannot access {url!r}: {type(exc).__name__}: {exc}") from exc
        raise


def _temp_name(name: str) -> str:
    # Hidden, unique, and recognisably ours, so that leftovers of a killed process are obvious.
    return f".{name}.mapds-tmp-{uuid.uuid4().hex[:12]}"


def _check_overwrite(target: Location, overwrite: bool) -> None:
    if not overwrite and target.exists():
        raise OverwriteError(f"{target.url!r} exists; pass overwrite=True to replace it")


def _publish_local(tmp: str, target: str, overwrite: bool, url: str) -> None:
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        # link() fails if the target exists: an atomic "create, never clobber".
        os.link(tmp, target)
    except FileExistsError as exc:
        raise OverwriteError(f"{url!r} exists; pass overwrite=True to replace it") from exc
    except OSError:
        # Filesystems without hard links: check, then rename (a small race is unavoidable).
        if os.path.exists(target):
            raise OverwriteError(f"{url!r} exists; pass overwrite=True to replace it") from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_file(target: Location, overwrite: bool = False) -> Iterator[str]:
    """Yield a local temporary path; on success it becomes ``target``.

    Local targets get their temporary file in the same directory (so the final step is a
    rename on one filesystem).  Remote targets are written locally, uploaded to a temporary
    key beside the target, then moved over it.  On any error the temporary files are removed
    and the target is left as it was.

    Raises
    ------
    OverwriteError
        ``target`` exists and ``overwrite`` is False.
    """
    _check_overwrite(target, overwrite)
    if target.is_local:
        directory = os.path.dirname(os.path.abspath(target.path))
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, _temp_name(target.name))
        try:
            yield tmp
            _publish_local(tmp, target.path, overwrite, target.url)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return
    with tempfile.TemporaryDirectory(prefix="mapds-write-") as tmpdir:
        tmp = os.path.join(tmpdir, target.name)
        yield tmp
        remote_tmp = target.sibling(_temp_name(target.name))
        with storage_errors(target.url):
            try:
                target.fs.put_file(tmp, remote_tmp.path)
                _check_overwrite(target, overwrite)
                target.fs.mv(remote_tmp.path, target.path)
            finally:
                with contextlib.suppress(FileNotFoundError, OSError):
                    if target.fs.exists(remote_tmp.path):
                        target.fs.rm(remote_tmp.path)


@contextlib.contextmanager
def atomic_directory(target: Location, overwrite: bool = False) -> Iterator[Location]:
    """Yield a temporary directory :class:`Location` beside ``target``; on success it replaces
    ``target`` (used for zarr stores).

    Locally the switch is two renames (old store aside, new store in, old store deleted); on
    object storage, where a "directory" is a key prefix, the temporary prefix is moved over the
    target after the old keys are removed.
    """
    _check_overwrite(target, overwrite)
    tmp = target.sibling(_temp_name(target.name))
    fs = target.fs
    try:
        if target.is_local:
            os.makedirs(os.path.dirname(os.path.abspath(target.path)), exist_ok=True)
        yield tmp
        with storage_errors(target.url):
            if target.is_local:
                _replace_local_directory(tmp.path, target.path, overwrite, target.url)
            else:
                # The store was written through another filesystem instance: drop listings
                # this one may have cached.  The move is a server-side copy on object stores.
                fs.invalidate_cache()
                _check_overwrite(target, overwrite)
                if fs.exists(target.path):
                    fs.rm(target.path, recursive=True)
                _move_tree(fs, tmp.path, target.path)
    finally:
        with contextlib.suppress(FileNotFoundError, OSError):
            if tmp.is_local:
                shutil.rmtree(tmp.path, ignore_errors=True)
            elif fs.exists(tmp.path):
                fs.rm(tmp.path, recursive=True)


def _move_tree(fs, source: str, destination: str) -> None:
    """Move every file below ``source`` to the same place below ``destination``.

    Listed file by file: object stores have no directories, and a recursive ``mv`` may try to
    copy the pseudo-directory entries a listing reports.
    """
    files = fs.find(source)
    targets = [destination + path[len(source) :] for path in files]
    if files:
        fs.copy(files, targets)
    fs.rm(source, recursive=True)
    fs.invalidate_cache()


def _replace_local_directory(tmp: str, target: str, overwrite: bool, url: str) -> None:
    if not os.path.exists(target):
        os.rename(tmp, target)
        return
    if not overwrite:
        raise OverwriteError(f"{url!r} exists; pass overwrite=True to replace it")
    old = os.path.join(os.path.dirname(target), _temp_name(os.path.basename(target)) + "-old")
    os.rename(target, old)
    os.rename(tmp, target)
    if os.path.isdir(old):
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.unlink(old)
