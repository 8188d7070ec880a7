"""Atomic outputs: a write either replaces its target whole or leaves the earlier one.

Outputs are produced beside their target and moved over it only when complete
(:func:`atomic_file`, :func:`atomic_directory`): locally by one rename or an atomic swap, on object
storage by one upload (FITS) or under a claim with the commit key copied last (zarr).  A write
killed half-way is finished or undone by the next open or write (:func:`recover`), and the
temporary files of killed writers are removed by the next write to the same target
(:func:`clean_leftovers`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import logging
import os
import posixpath
import re
import shutil
import socket
import stat
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterator

from fsspec.implementations.local import LocalFileSystem

from ..errors import ConcurrentWriteError, OverwriteError, StorageError
from .urls import Location, storage_errors

__all__ = [
    "CLAIM_KEY",
    "COMMIT_KEY",
    "atomic_directory",
    "atomic_file",
    "clean_leftovers",
    "recover",
    "temp_sibling",
]

log = logging.getLogger(__name__)

#: Key of the file that completes a directory tree mapds writes (a zarr store's manifest, see
#: :mod:`mapds.io.integrity`): it is written last, so a tree without it is incomplete.
COMMIT_KEY = "mapds-manifest/zarr.json"
#: Key a writer creates, only if absent, inside a remote target while it publishes into it: the
#: claim that makes a concurrent writer fail instead of mixing its keys in, and the journal that
#: lets the next open or write finish a publish whose writer was killed.
CLAIM_KEY = "mapds-publishing.json"
#: Seconds after which the leftovers and claims of a writer whose process cannot be checked from
#: here (one on another host) are taken as abandoned.
STALE_AFTER = 24 * 3600.0

_TEMP_MARK = ".mapds-tmp-"
# pid, host token: see _temp_name
_WRITER = re.compile(r"\.mapds-tmp-(\d+)-([0-9a-f]{8})-[0-9a-f]{8}")
# Claims this process holds while it publishes (a claim naming this process but absent from this
# set was left by a publish that failed half-way, and may be finished by anyone).
_ACTIVE_CLAIMS: set[str] = set()


def _checkpoint(step: str, target: Location) -> None:
    """Called between the steps of a write; does nothing.

    The crash tests replace it, in a child process, to kill the writer at ``step``: the points
    where a crash leaves storage in its most fragile states.
    """


@functools.cache
def _host() -> str:
    """Token of this machine (and boot), recorded in temporary names: a writer's process id can
    be checked only on the host it ran on."""
    boot = ""
    with contextlib.suppress(OSError), open("/proc/sys/kernel/random/boot_id") as f:
        boot = f.read().strip()
    return f"{zlib.crc32(f'{socket.gethostname()}|{boot}'.encode()):08x}"


def _temp_name(name: str) -> str:
    # Hidden, unique, recognisably ours, and naming its writer (process id and host), so that a
    # later write to the same target removes what a killed writer left and nothing a live one uses.
    return f".{name}{_TEMP_MARK}{os.getpid()}-{_host()}-{uuid.uuid4().hex[:8]}"


def temp_sibling(target: Location, suffix: str = "") -> Location:
    """A new temporary location beside ``target``, named so that later writes to ``target`` remove
    it once its writer has exited (see :func:`clean_leftovers`).

    Parameters
    ----------
    target : Location
        The output it belongs to.
    suffix : str
        Appended to the unique name (``"-partial0"``...).
    """
    return target.sibling(_temp_name(target.name) + suffix)


def _pid_alive(pid: int) -> bool | None:
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return None  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's process, alive
        return True
    return True


def _writer_alive(name: str) -> bool | None:
    """Whether the writer of the temporary ``name`` runs: True, False, or None when that cannot be
    told from here (another host, another OS, a name from an older mapds)."""
    writers = _WRITER.findall(name)
    if not writers or any(host != _host() for _, host in writers):
        return None
    states = [_pid_alive(int(pid)) for pid, _ in writers]
    return None if None in states else any(states)


def _mtime(info: dict) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        timestamp = getattr(value, "timestamp", None)  # datetime
        if callable(timestamp):
            return float(timestamp())
    return None


def _age(fs, path: str) -> float | None:
    """Seconds since anything at or below ``path`` was modified (None if the filesystem does not
    say)."""
    if isinstance(fs, LocalFileSystem):
        newest = os.lstat(path).st_mtime
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                with contextlib.suppress(OSError):
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
        return time.time() - newest
    fs.invalidate_cache(path)
    infos = fs.find(path, detail=True) or {path: fs.info(path)}
    times = [t for t in map(_mtime, infos.values()) if t is not None]
    return time.time() - max(times) if times else None


def _remove(fs, path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if isinstance(fs, LocalFileSystem):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        else:
            fs.rm(path, recursive=True)


def _parent(target: Location) -> str:
    if target.is_local:
        return os.path.dirname(os.path.abspath(target.path))
    return posixpath.dirname(target.path.rstrip("/"))


def clean_leftovers(target: Location) -> list[str]:
    """Remove the temporary files and directories that killed writes of ``target`` left beside it.

    Only names made for ``target`` by mapds (``.<name>.mapds-tmp-<pid>-<host>-<id>...``) are
    considered, and of those only the ones whose writer process is known to have exited, or (when
    that cannot be checked: another host) that nothing has modified for :data:`STALE_AFTER`
    seconds, so the temporary output of a concurrent writer is never touched.

    Returns
    -------
    list of str
        The paths removed.
    """
    fs = target.fs
    parent = _parent(target)
    prefixes = (f".{target.name}{_TEMP_MARK}", f"..{target.name}{_TEMP_MARK}")
    try:
        if target.is_local:
            names = os.listdir(parent or ".")
        else:
            fs.invalidate_cache(parent)
            names = [posixpath.basename(p.rstrip("/")) for p in fs.ls(parent, detail=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for name in names:
        if not name.startswith(prefixes):
            continue
        path = os.path.join(parent, name) if target.is_local else f"{parent}/{name}"
        if name.endswith("-old") and not _exists(target):
            continue  # the previous version, moved aside: recover() puts it back
        alive = _writer_alive(name)
        if alive is None:
            with contextlib.suppress(FileNotFoundError):
                age = _age(fs, path)
                alive = age is None or age < STALE_AFTER
        if alive is False:
            log.info("Removing %s, left behind by an interrupted write of %s", path, target.url)
            _remove(fs, path)
            removed.append(path)
    return removed


def _exists(target: Location) -> bool:
    if target.is_local:
        return os.path.lexists(target.path)
    return bool(target.fs.exists(target.path))


def recover(target: Location) -> bool:
    """Repair what a writer killed while publishing ``target`` left behind, with a log message.

    - Locally, where a store is replaced by one atomic swap, only platforms without one replace
      it in two renames: if ``target`` is missing and a previous version was moved aside by a
      writer that has exited, it is put back.
    - On object storage, a claim left by an exited writer (:data:`CLAIM_KEY`) is resolved: if the
      target lost its commit key while the complete new version still sits at the temporary
      prefix the claim names, the publish is finished from it; the claim is then removed.

    Returns
    -------
    bool
        Whether anything was repaired.
    """
    with storage_errors(target.url):
        return _recover_local(target) if target.is_local else _recover_remote(target)


def _recover_local(target: Location) -> bool:
    if os.path.lexists(target.path):
        return False
    parent = _parent(target)
    prefix = f".{target.name}{_TEMP_MARK}"
    try:
        names = os.listdir(parent)
    except OSError:
        return False
    olds = []
    for name in names:
        if not (name.startswith(prefix) and name.endswith("-old")):
            continue
        path = os.path.join(parent, name)
        alive = _writer_alive(name)
        # A writer on another host is between its two renames for microseconds, not a minute.
        if alive is False or (alive is None and time.time() - os.lstat(path).st_ctime > 60):
            olds.append(path)
    if not olds:
        return False
    newest = max(olds, key=lambda path: os.lstat(path).st_ctime)
    try:
        _rename_noreplace(newest, target.path)
    except FileExistsError:
        return False  # restored, or written anew, by another process meanwhile
    log.warning(
        "%s was missing: a write that replaced it was interrupted after moving the previous "
        "version aside; restored it from %s",
        target.url,
        newest,
    )
    return True


def _check_overwrite(target: Location, overwrite: bool) -> None:
    if not overwrite and target.exists():
        raise OverwriteError(f"{target.url!r} exists; pass overwrite=True to replace it")
    _check_replaceable(target)


def _check_replaceable(target: Location) -> None:
    """Refuse to publish over a local target that is neither a file nor a directory.

    Publishing renames the new file over the target: over a device such as ``/dev/full`` (or a
    FIFO, a socket) that would replace the device node itself, even with ``overwrite=True``.
    """
    if not target.is_local:
        return
    try:
        mode = os.stat(target.path).st_mode
    except OSError:
        return  # absent (or unreachable: the write itself will report it)
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise StorageError(
            f"{target.url!r} is not a regular file or directory (a device, FIFO or socket); "
            "mapds writes files by renaming them into place and will not replace it"
        )


def _prepare(target: Location) -> None:
    """Before writing ``target``: finish or undo an interrupted publish of it, and remove what
    killed writers left beside it."""
    with storage_errors(target.url):
        recover(target)
        clean_leftovers(target)


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
        # Filesystems without hard links: rename unless the target exists.
        try:
            _rename_noreplace(tmp, target)
        except FileExistsError:
            raise OverwriteError(f"{url!r} exists; pass overwrite=True to replace it") from None
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_file(target: Location, overwrite: bool = False) -> Iterator[str]:
    """Yield a local temporary path; on success it becomes ``target``.

    Local targets get their temporary file in the same directory, so the final step is one
    rename (or, with ``overwrite=False``, one hard link, which fails if the target exists).
    Remote targets are written to a local temporary file, then uploaded to the final key in one
    request (a multipart upload for large files): the object appears whole or not at all.  With
    ``overwrite=False`` the upload is conditional on the key being absent where the filesystem
    supports it (S3's ``If-None-Match: *``); elsewhere fsspec checks, then uploads, which leaves a
    small race between two writers.  On any error the target is left as it was; temporary files
    of killed writers are removed by the next write to the same target.

    Raises
    ------
    OverwriteError
        ``target`` exists and ``overwrite`` is False.
    """
    if target.is_local:
        _prepare(target)
    _check_overwrite(target, overwrite)
    if target.is_local:
        directory = os.path.dirname(os.path.abspath(target.path))
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, _temp_name(target.name))
        try:
            yield tmp
            _checkpoint("file:written", target)
            _publish_local(tmp, target.path, overwrite, target.url)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return
    with tempfile.TemporaryDirectory(prefix="mapds-write-") as tmpdir:
        tmp = os.path.join(tmpdir, target.name)
        yield tmp
        _checkpoint("file:written", target)
        with storage_errors(target.url):
            try:
                target.fs.put_file(tmp, target.path, mode="overwrite" if overwrite else "create")
            except FileExistsError as exc:
                raise OverwriteError(f"{target.url!r} exists; pass overwrite=True to replace it") from exc
            target.fs.invalidate_cache(target.path)


@contextlib.contextmanager
def atomic_directory(target: Location, overwrite: bool = False) -> Iterator[Location]:
    """Yield a temporary directory :class:`Location` beside ``target``; on success it replaces
    ``target`` (used for zarr stores).

    A write killed at any point leaves the old version or the new one complete under the
    target's name, or a state the next open or write repairs (:func:`recover`):

    - Locally, a new target is renamed into place only if absent (``renameat2(RENAME_NOREPLACE)``
      on Linux), and an existing one is swapped with the new one in one atomic step
      (``RENAME_EXCHANGE``); elsewhere the old version is moved aside, then the new one in.
    - On object storage, where a "directory" is a key prefix and nothing renames it, the writer
      first creates the claim :data:`CLAIM_KEY` in the target, only if absent (so one of two
      concurrent writers fails with :class:`~mapds.errors.ConcurrentWriteError`), removes the
      target's commit key (from then on readers get a named error, never a mix), copies every
      key but the commit key, removes the keys of the old version that the new one lacks,
      copies the commit key last, and drops the claim.

    The tree written into the temporary directory should end with its :data:`COMMIT_KEY`
    (:func:`mapds.io.integrity.write_manifest`).  What killed writers left beside ``target``
    is removed first (:func:`clean_leftovers`).

    Raises
    ------
    OverwriteError
        ``target`` exists and ``overwrite`` is False.
    ConcurrentWriteError
        Another writer is publishing ``target`` (object storage).
    """
    _prepare(target)
    _check_overwrite(target, overwrite)
    tmp = target.sibling(_temp_name(target.name))
    fs = target.fs
    keep: list[bool] = []  # set when a failed remote publish needs the temporary tree to finish
    try:
        if target.is_local:
            os.makedirs(os.path.dirname(os.path.abspath(target.path)), exist_ok=True)
        yield tmp
        _checkpoint("dir:written", target)
        with storage_errors(target.url):
            if target.is_local:
                _replace_local_directory(tmp.path, target, overwrite)
            else:
                _publish_remote_tree(tmp, target, overwrite, keep)
    finally:
        if not keep:
            with contextlib.suppress(OSError):
                _remove(fs, tmp.path)


# -- local directories: atomic renames -------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


def _load_renameat2():
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # glibc < 2.28, musl without it
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


#: Linux's ``renameat2``: "swap two paths" and "rename unless the target exists", each one atomic
#: step; None where it is not available.
_renameat2 = _load_renameat2()


def _rename2(source: str, destination: str, flags: int) -> bool:
    """``renameat2(source, destination, flags)``; False when the platform or the filesystem does
    not support ``flags``."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(destination), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), source, None, destination)  # EEXIST: FileExistsError


def _rename_noreplace(source: str, destination: str) -> None:
    """Rename ``source`` to ``destination``; :class:`FileExistsError` if ``destination`` exists."""
    if _rename2(source, destination, _RENAME_NOREPLACE):
        return
    if os.path.lexists(destination):
        raise FileExistsError(errno.EEXIST, "File exists", destination)
    try:
        # Still a small race here: rename() replaces an empty directory created meanwhile.
        os.rename(source, destination)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            raise FileExistsError(errno.EEXIST, "File exists", destination) from exc
        raise


def _replace_local_directory(tmp: str, target: Location, overwrite: bool) -> None:
    try:
        _rename_noreplace(tmp, target.path)
        return
    except FileExistsError as exc:
        if not overwrite:
            raise OverwriteError(f"{target.url!r} exists; pass overwrite=True to replace it") from exc
    if _rename2(tmp, target.path, _RENAME_EXCHANGE):
        # One atomic step: readers see the old version or the new one, never neither.  The old
        # one now sits at the temporary name.
        _checkpoint("dir:swapped", target)
        _remove(target.fs, tmp)
        return
    # No atomic swap here: move the old version aside, then the new one in.  A crash between the
    # two renames leaves the target missing, which recover() repairs at the next open or write.
    old = os.path.join(_parent(target), _temp_name(target.name) + "-old")
    os.rename(target.path, old)
    _checkpoint("dir:moved-aside", target)
    os.rename(tmp, target.path)
    _remove(target.fs, old)


# -- object storage: claim, copy, commit key last --------------------------------------------------


def _files(fs, path: str) -> list[str]:
    fs.invalidate_cache(path)
    return list(fs.find(path))


def _read_claim(claim: Location) -> dict | None:
    try:
        data = claim.fs.cat_file(claim.path)
    except FileNotFoundError:
        return None
    try:
        record = json.loads(data)
    except ValueError:
        return {}  # unreadable: treated as left by an exited writer
    return record if isinstance(record, dict) else {}


def _claim_is_live(record: dict) -> bool:
    if record.get("host") == _host() and isinstance(record.get("pid"), int):
        if record["pid"] == os.getpid():
            return record.get("id") in _ACTIVE_CLAIMS
        alive = _pid_alive(record["pid"])
        if alive is not None:
            return alive
    started = record.get("time")
    return isinstance(started, (int, float)) and time.time() - started < STALE_AFTER


def _describe_claim(record: dict) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record.get("time", 0)))
    return f"process {record.get('pid')} on {record.get('hostname')!r}, since {since}"


def _take_claim(target: Location, source: Location) -> str:
    """Create the claim of ``target`` (only if absent); its id."""
    claim = target.child(CLAIM_KEY)
    claim_id = uuid.uuid4().hex
    body = {
        "source": source.name,
        "id": claim_id,
        "pid": os.getpid(),
        "host": _host(),
        "hostname": socket.gethostname(),
        "time": time.time(),
    }
    for attempt in range(3):
        try:
            # mode="create": S3's If-None-Match: * (conditional on absence) where supported.
            target.fs.pipe_file(claim.path, json.dumps(body).encode(), mode="create")
        except FileExistsError:
            record = _read_claim(claim)
            if record is None:
                continue  # released meanwhile
            if _claim_is_live(record) or attempt == 2:
                raise ConcurrentWriteError(
                    f"{target.url!r} is being written by another writer ({_describe_claim(record)}); "
                    f"retry when it has finished, or delete {claim.url!r} if that writer is gone"
                ) from None
            _recover_remote(target)  # left by an exited writer: finish or drop its publish first
            continue
        _ACTIVE_CLAIMS.add(claim_id)
        return claim_id
    raise ConcurrentWriteError(f"{target.url!r} is being written by other writers; retry later")


def _copy_tree(fs, source: str, target: Location, existing: set[str]) -> None:
    """Copy the tree at ``source`` over ``target`` (whose keys are ``existing``) with the commit key
    last, so that ``target`` is complete exactly when its commit key is there."""
    destination = target.path.rstrip("/")
    files = _files(fs, source)
    commit = f"{source}/{COMMIT_KEY}"
    rest = [path for path in files if path != commit]
    targets = [destination + path[len(source) :] for path in rest]
    destination_commit = f"{destination}/{COMMIT_KEY}"
    if destination_commit in existing:
        # From here on the old version is incomplete: readers get a named error, never a mix.
        fs.rm_file(destination_commit)
    _checkpoint("dir:uncommitted", target)
    if rest:
        fs.copy(rest, targets)  # server-side copies on object stores
    _checkpoint("dir:copied", target)
    stale = existing - set(targets) - {destination_commit, f"{destination}/{CLAIM_KEY}"}
    if stale:
        fs.rm(sorted(stale))
    if commit in files:
        fs.cp_file(commit, destination_commit)
    fs.invalidate_cache()


def _publish_remote_tree(tmp: Location, target: Location, overwrite: bool, keep: list[bool]) -> None:
    fs = target.fs
    claim = target.child(CLAIM_KEY)
    claim_id = _take_claim(target, tmp)
    started = False
    try:
        existing = set(_files(fs, target.path)) - {claim.path}
        if existing and not overwrite:
            raise OverwriteError(f"{target.url!r} exists; pass overwrite=True to replace it")
        _checkpoint("dir:claimed", target)
        started = True
        _copy_tree(fs, tmp.path, target, existing)
        _checkpoint("dir:committed", target)
    except BaseException as exc:
        if not started:
            with contextlib.suppress(FileNotFoundError):
                fs.rm_file(claim.path)
            raise
        # The target is incomplete; the new version is complete at the temporary prefix, which
        # the claim names: keep both, so the next write or open finishes the publish.
        keep.append(True)
        if not isinstance(exc, Exception):
            raise
        raise StorageError(
            f"Publishing {target.url!r} failed half-way ({type(exc).__name__}: {exc}); the complete "
            f"new version is kept at {tmp.url!r} and the next write or open of {target.url!r} "
            "finishes the publish"
        ) from exc
    finally:
        _ACTIVE_CLAIMS.discard(claim_id)
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(claim.path)


def _recover_remote(target: Location) -> bool:
    claim = target.child(CLAIM_KEY)
    record = _read_claim(claim)
    if record is None or _claim_is_live(record):
        return False
    fs = target.fs
    existing = set(_files(fs, target.path)) - {claim.path}
    if f"{target.path.rstrip('/')}/{COMMIT_KEY}" not in existing:
        name = record.get("source")
        source = target.sibling(name) if isinstance(name, str) and name else None
        if source is not None and fs.exists(f"{source.path}/{COMMIT_KEY}"):
            _copy_tree(fs, source.path, target, existing)
            log.warning(
                "%s was left incomplete by a writer that stopped while publishing it (%s); "
                "finished the publish from the complete new version at %s",
                target.url,
                _describe_claim(record),
                source.url,
            )
            _remove(fs, source.path)
        elif existing:
            log.warning(
                "%s was left incomplete by a writer that stopped while publishing it (%s), and the "
                "version it was publishing is gone; it stays incomplete until written again",
                target.url,
                _describe_claim(record),
            )
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(claim.path)
    return True
