"""Timeouts, retries and request sizes for remote storage, and where to configure them.

Every remote read and write of mapds has a connect timeout, a read timeout and a bounded number
of retries with exponential backoff, so an endpoint that stalls or answers ``503 SlowDown`` costs
seconds and ends in a :class:`~mapds.errors.StorageError` naming the URL, the byte range and what
happened, instead of hanging.

The values live in dask's configuration under ``mapds.storage`` (set them with
``dask.config.set({"mapds.storage.read-timeout": 5})``, in a dask YAML file, or with environment
variables such as ``DASK_MAPDS__STORAGE__READ_TIMEOUT=5``):

==============================  ========  =========================================================
key                             default   meaning
==============================  ========  =========================================================
``connect-timeout``             10        seconds to establish a connection
``read-timeout``                60        seconds without a byte from the server
``retries``                     2         retries of a failed request (so 3 attempts at most)
``backoff``                     0.5       first retry delay in seconds, doubled at each retry
``merge-gap``                   1 MiB     ranges of a remote file closer than this are one request
``header-bytes``                64 KiB    bytes read per request when scanning FITS headers
==============================  ========  =========================================================

They are applied when a URL is resolved (:func:`with_remote_defaults`) by filling in the knobs
of the filesystem client, only where ``storage_options`` does not set them already: botocore's
``config_kwargs`` (``connect_timeout``, ``read_timeout``, ``retries``) for ``s3://``, the
``aiohttp.ClientTimeout`` of ``client_kwargs`` for ``http(s)://``.  Options given explicitly in
``storage_options`` always win.  The filesystem (with its options) and the retry policy recorded
at open travel with a lazy map to dask workers.

``merge-gap`` expresses what a request costs on object storage: merging two ranges whose gap is
smaller than this costs fewer bytes than the request it saves (the same default as Rust
``object_store``'s range coalescing).  Local and in-memory filesystems, where a request costs
nothing, use no merge gap and read FITS headers block by block.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import dask.config
import fsspec
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

__all__ = [
    "DEFAULTS",
    "RetryPolicy",
    "is_cheap",
    "merge_gap",
    "read_ahead",
    "read_timeout_of",
    "with_remote_defaults",
]

#: mapds' defaults in dask's configuration (``dask.config.get("mapds.storage.read-timeout")``).
DEFAULTS: dict[str, Any] = {
    "mapds": {
        "storage": {
            "connect-timeout": 10.0,
            "read-timeout": 60.0,
            "retries": 2,
            "backoff": 0.5,
            "merge-gap": 2**20,
            "header-bytes": 2**16,
        }
    }
}
dask.config.update_defaults(DEFAULTS)

#: Longest wait between two attempts, whatever the backoff doubles to.
MAX_BACKOFF = 10.0
_S3_PROTOCOLS = ("s3", "s3a")
_HTTP_PROTOCOLS = ("http", "https")


def _setting(name: str) -> Any:
    return dask.config.get(f"mapds.storage.{name}")


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how patiently, a failed remote request is tried again.

    Attributes
    ----------
    retries : int
        Retries after the first attempt.
    backoff : float
        Delay before the first retry in seconds; doubled at each further retry (at most
        ``MAX_BACKOFF``), with jitter so that many clients do not retry in step.
    """

    retries: int = 2
    backoff: float = 0.5

    @classmethod
    def from_config(cls) -> RetryPolicy:
        """The policy of the current ``mapds.storage`` configuration."""
        return cls(int(_setting("retries")), float(_setting("backoff")))

    @property
    def attempts(self) -> int:
        """Attempts in all (at least one)."""
        return max(0, self.retries) + 1

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first)."""
        base = min(MAX_BACKOFF, self.backoff * 2 ** (retry - 1))
        return base * (0.5 + 0.5 * random.random())


def _protocol(url: str) -> str:
    protocol = fsspec.core.split_protocol(url)[0]
    return (protocol or "file").lower()


def with_remote_defaults(url: str, storage_options: dict | None) -> dict:
    """``storage_options`` with mapds' timeouts and retries filled in for the URL's protocol.

    Parameters
    ----------
    url : str
        The URL that will be opened (its protocol selects the knobs).
    storage_options : dict, optional
        What the caller gave; never modified, and its settings take precedence.

    Returns
    -------
    dict
        A new dict: for ``s3://``, botocore's ``connect_timeout``, ``read_timeout`` and
        ``retries`` (``standard`` mode, which backs off on throttling, 5xx and connection
        errors) in ``config_kwargs``; for ``http(s)://``, an ``aiohttp.ClientTimeout`` in
        ``client_kwargs``.  Other protocols are returned unchanged.
    """
    options = dict(storage_options or {})
    protocol = _protocol(url)
    connect, read = float(_setting("connect-timeout")), float(_setting("read-timeout"))
    if protocol in _S3_PROTOCOLS:
        config = dict(options.get("config_kwargs") or {})
        config.setdefault("connect_timeout", connect)
        config.setdefault("read_timeout", read)
        # total_max_attempts counts the first attempt (max_attempts would count retries only).
        policy = RetryPolicy.from_config()
        config.setdefault("retries", {"total_max_attempts": policy.attempts, "mode": "standard"})
        options["config_kwargs"] = config
    elif protocol in _HTTP_PROTOCOLS:
        import aiohttp

        client = dict(options.get("client_kwargs") or {})
        # aiohttp's default gives up on any request after 5 minutes in all (a large file may
        # take longer) and waits as long for a silent server: bound the silences instead.
        client.setdefault("timeout", aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read))
        options["client_kwargs"] = client
    return options


def read_timeout_of(fs: fsspec.AbstractFileSystem) -> float | None:
    """The read timeout a filesystem's client uses (for messages), if known."""
    config = getattr(fs, "config_kwargs", None)
    if isinstance(config, dict) and "read_timeout" in config:
        return float(config["read_timeout"])
    timeout = (getattr(fs, "client_kwargs", None) or {}).get("timeout")
    if timeout is not None and getattr(timeout, "sock_read", None) is not None:
        return float(timeout.sock_read)
    value = getattr(fs, "read_timeout", None)
    return float(value) if isinstance(value, (int, float)) else None


def is_cheap(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether a request costs next to nothing (local disk, memory): no merging, no read-ahead."""
    return isinstance(fs, (LocalFileSystem, MemoryFileSystem))


def merge_gap(fs: fsspec.AbstractFileSystem) -> int:
    """Gap in bytes below which neighbouring ranges of one file are fetched as one request."""
    return 0 if is_cheap(fs) else int(_setting("merge-gap"))


def read_ahead(fs: fsspec.AbstractFileSystem) -> int:
    """Bytes worth requesting at once when the next offset is not known yet (FITS headers):
    0 where requests cost nothing."""
    return 0 if is_cheap(fs) else int(_setting("header-bytes"))
