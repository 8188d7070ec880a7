"""Byte ranges of S3 objects and HTTP resources: conditional, checked, retried, concurrent.

fsspec's ``cat_ranges`` returns whatever bytes a server sends.  mapds needs more from a ranged
read of a file it opened earlier: the bytes of *that* version at *those* offsets, or an error
saying why not.  Each range here is one request that

- is conditional on the version recorded at open (``If-Match: <ETag>``; the server answers 412
  when the object was replaced), and whose answer is checked against it too (the ETag and the
  total size in ``Content-Range``), raising :class:`~mapds.errors.StaleFileError`;
- must be answered with the range asked for: a server that ignores ``Range`` (``200`` with the
  whole file) is refused without reading its body, a short or overlong body is not accepted;
- is retried with exponential backoff a bounded number of times on transient failures (5xx,
  429, timeouts, connection resets, bodies cut short), then raises a
  :class:`~mapds.errors.StorageError` naming the URL, the byte range and what happened.

For S3 the request phase is retried by botocore itself (``retries`` in ``config_kwargs``, set by
:mod:`mapds.io.remote_options`), with its handling of throttling; mapds retries only what
botocore cannot see, failures while reading the body.  HTTP clients have no retries: mapds
retries everything transient.  All ranges of one call are requested concurrently.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import fsspec
import fsspec.asyn

from ..errors import CorruptFileError, MissingFileError, RangeRequestsUnsupportedError, StorageError
from .remote_options import RetryPolicy, read_timeout_of
from .versions import FileVersion, stale

__all__ = ["fetch_ranges", "handles", "info_with_retries", "ranges_unsupported"]

#: Requests of one call in flight at once (the connection pools of the clients bound it too).
MAX_CONCURRENT = 32
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class _Transient(Exception):
    """A failure worth another attempt; ``what`` says what happened, ``wait`` what the server
    asked for (``Retry-After``)."""

    def __init__(self, what: str, wait: float = 0.0):
        super().__init__(what)
        self.what = what
        self.wait = wait


def _protocols(fs: fsspec.AbstractFileSystem) -> set[str]:
    protocol = fs.protocol
    return {protocol} if isinstance(protocol, str) else set(protocol)


def _is_s3(fs: fsspec.AbstractFileSystem) -> bool:
    return bool(_protocols(fs) & {"s3", "s3a"}) and hasattr(fs, "get_s3")


def _is_http(fs: fsspec.AbstractFileSystem) -> bool:
    return bool(_protocols(fs) & {"http", "https"}) and hasattr(fs, "encode_url")


def handles(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether :func:`fetch_ranges` knows this filesystem (S3 and HTTP)."""
    return _is_s3(fs) or _is_http(fs)


def fetch_ranges(
    fs: fsspec.AbstractFileSystem,
    path: str,
    url: str,
    starts: list[int],
    ends: list[int],
    version: FileVersion | None,
    policy: RetryPolicy,
) -> list[bytes]:
    """The bytes ``[starts[i], ends[i])`` of one file, all requested concurrently.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        An S3 or HTTP filesystem (see :func:`handles`).
    path : str
        Path on ``fs``.
    url : str
        For messages.
    starts, ends : list of int
        Non-empty byte ranges.
    version : FileVersion, optional
        The version opened; reads of another version raise ``StaleFileError``.
    policy : RetryPolicy
        Retries of transient failures.

    Raises
    ------
    StaleFileError
        The file changed since it was opened.
    MissingFileError
        The file no longer exists.
    CorruptFileError
        A range extends past the end of the file.
    StorageError
        The server does not serve byte ranges, or a request still failed after the retries.
    """
    version = version or FileVersion()
    if _is_s3(fs):
        one: Callable[[int, int], Awaitable[bytes]] = _S3Ranges(fs, path, url, version, policy).get
    else:
        one = _HTTPRanges(fs, path, url, version, policy).get

    async def run_all() -> list[bytes]:
        limit = asyncio.Semaphore(MAX_CONCURRENT)

        async def run(start: int, end: int) -> bytes:
            async with limit:
                return await one(start, end)

        tasks = [asyncio.ensure_future(run(s, e)) for s, e in zip(starts, ends, strict=True)]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        # One range failed for good (stale file, timeouts...): the others are not waited for.
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [task.result() for task in tasks]

    return fsspec.asyn.sync(fs.loop, run_all)


def info_with_retries(fs: fsspec.AbstractFileSystem, path: str, url: str, policy: RetryPolicy) -> dict:
    """``fs.info(path)``, retried on transient failures where the client does not retry itself.

    fsspec's HTTP filesystem turns any failure of its ``HEAD`` (and ``GET``) into
    ``FileNotFoundError``: a ``503`` would read as a missing file.  Its cause is looked at
    instead, retried if transient, and reported as what it was.  Other filesystems are asked once
    (botocore retries S3 requests itself).
    """
    if not _is_http(fs):
        return fs.info(path)
    for n in range(policy.attempts):
        try:
            return fs.info(path)
        except Exception as exc:
            what = _transient_http_cause(exc)
            if what is None:
                raise
            if n + 1 == policy.attempts:
                raise StorageError(f"{url!r}: {what} ({_gave_up(policy.attempts)})") from exc
            time.sleep(policy.delay(n + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _transient_http_cause(exc: BaseException) -> str | None:
    """What transient failure of an HTTP request ``exc`` comes from, if any."""
    import aiohttp

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, aiohttp.ClientResponseError) and seen.status in _TRANSIENT_STATUS:
            return f"the server answered HTTP {seen.status} {seen.message}".rstrip()
        if isinstance(seen, (TimeoutError, aiohttp.ServerTimeoutError)):
            return "no answer within the timeouts"
        if isinstance(seen, aiohttp.ClientConnectionError):
            return f"connection failed ({type(seen).__name__}: {seen})"
        seen = seen.__cause__ or seen.__context__
    return None


def ranges_unsupported(where: str, answer: str) -> RangeRequestsUnsupportedError:
    """The error for storage that answers a byte-range request with something else (``answer``).

    Static servers such as ``python -m http.server`` ignore the HTTP ``Range`` header and send the
    whole file; the message says so and what to do instead.

    Parameters
    ----------
    where : str
        The URL and byte range asked for (``'url', bytes a-b``).
    answer : str
        What came instead (``the whole file, 639360 bytes``).
    """
    return RangeRequestsUnsupportedError(
        f"{where}: the server does not serve byte ranges (HTTP Range requests): it answered with "
        f"{answer}. mapds reads remote FITS files by byte ranges: serve the file from a server that "
        "supports Range requests (nginx, Apache, object storage; not 'python -m http.server'), "
        "or download the file and read the local copy"
    )


def _where(url: str, start: int, end: int) -> str:
    return f"{url!r}, bytes {start}-{end - 1}"


def _timeout_text(fs: fsspec.AbstractFileSystem) -> str:
    timeout = read_timeout_of(fs)
    return f"no answer within the read timeout of {timeout:g} s" if timeout else "no answer (read timeout)"


def _short(url: str, start: int, end: int, size: int) -> CorruptFileError:
    got = max(size - start, 0)
    return CorruptFileError(
        f"{url!r}: expected {end - start} bytes at offset {start}, but the file ends after {got}"
    )


def _gave_up(attempts: int | None) -> str:
    tried = f"gave up after {attempts} attempts" if attempts else "gave up after the client's retries"
    return f"{tried}; timeouts and retries are set by the mapds.storage dask config or storage_options"


def _botocore_attempts(fs: Any) -> int | None:
    """Attempts botocore makes per request, as configured (``None`` if unknown)."""
    retries = (getattr(fs, "config_kwargs", None) or {}).get("retries") or {}
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    if "max_attempts" in retries:
        return int(retries["max_attempts"]) + 1
    return None


async def _retrying(attempt: Callable[[], Awaitable[bytes]], policy: RetryPolicy, where: str) -> bytes:
    """``attempt()`` until it does not raise ``_Transient``, at most ``policy.attempts`` times."""
    problem = ""
    for n in range(policy.attempts):
        try:
            return await attempt()
        except _Transient as exc:
            problem = exc.what
            if n + 1 < policy.attempts:
                await asyncio.sleep(max(policy.delay(n + 1), min(exc.wait, 10.0)))
    raise StorageError(f"{where}: {problem} ({_gave_up(policy.attempts)})")


#: Request-wide S3 arguments that apply to a GetObject.
_GET_OBJECT_OPTIONS = frozenset(
    {"SSECustomerAlgorithm", "SSECustomerKey", "SSECustomerKeyMD5", "RequestPayer", "ExpectedBucketOwner"}
)


class _S3Ranges:
    """``GetObject`` with ``Range`` and ``IfMatch`` through the client of an s3fs filesystem."""

    def __init__(self, fs: Any, path: str, url: str, version: FileVersion, policy: RetryPolicy):
        self.fs, self.url, self.version, self.policy = fs, url, version, policy
        self.bucket, self.key, self.version_id = fs.split_path(path)

    async def get(self, start: int, end: int) -> bytes:
        await self.fs.set_session()
        client = await self.fs.get_s3(self.bucket)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key, "Range": f"bytes={start}-{end - 1}"}
        if self.version.strong_etag:
            kwargs["IfMatch"] = self.version.strong_etag
        if self.version_id:
            kwargs["VersionId"] = self.version_id
        # The filesystem's request-wide arguments that a GetObject takes (requester pays, SSE-C
        # keys), from its public settings.
        extra = {**getattr(self.fs, "s3_additional_kwargs", {}), **getattr(self.fs, "req_kw", {})}
        kwargs.update({key: value for key, value in extra.items() if key in _GET_OBJECT_OPTIONS})
        where = _where(self.url, start, end)
        return await _retrying(lambda: self._attempt(client, kwargs, start, end, where), self.policy, where)

    async def _attempt(self, client: Any, kwargs: dict, start: int, end: int, where: str) -> bytes:
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
            ReadTimeoutError,
        )

        try:
            # botocore has already retried transient failures of the request (config "retries").
            response = await client.get_object(**kwargs)
        except ClientError as exc:
            raise self._client_error(exc, start, end, where) from exc
        except ReadTimeoutError as exc:
            raise StorageError(f"{where}: {_timeout_text(self.fs)} ({self._gave_up})") from exc
        except BotoCoreError as exc:
            raise StorageError(f"{where}: {type(exc).__name__}: {exc} ({self._gave_up})") from exc
        body = response["Body"]
        try:
            data = await body.read()
        except ReadTimeoutError as exc:
            raise _Transient(f"the body stopped arriving: {_timeout_text(self.fs)}") from exc
        except (BotoCoreError, _payload_error()) as exc:
            raise _Transient(f"the body was cut short ({type(exc).__name__}: {exc})") from exc
        finally:
            body.close()
        self._check_version(response, where)
        if len(data) == end - start:
            return data
        total = _content_range(response.get("ContentRange"))[2]
        if total is not None and len(data) < end - start and start + len(data) == total:
            raise _short(self.url, start, end, total)
        raise _Transient(f"S3 sent {len(data)} bytes instead of {end - start}")

    def _check_version(self, response: dict, where: str) -> None:
        total = _content_range(response.get("ContentRange"))[2]
        found = FileVersion(size=total, etag=response.get("ETag"))
        changes = self.version.changes_to(found)
        if changes:
            raise stale(self.url, ", ".join(changes))

    def _client_error(self, exc: Any, start: int, end: int, where: str) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "PreconditionFailed" or status == 412:
            return stale(self.url, f"its ETag is no longer {self.version.etag}")
        if code in ("NoSuchKey", "NotFound", "404") or status == 404:
            return MissingFileError(f"{self.url!r} no longer exists (it did when it was opened)")
        if code == "InvalidRange" or status == 416:
            if self.version.size is not None and start < self.version.size:
                return stale(self.url, f"it is now shorter than {start + 1} bytes")
            return _short(self.url, start, end, self.version.size or start)
        message = error.get("Message") or exc
        retried = f" ({self._gave_up})" if status in _TRANSIENT_STATUS else ""
        what = f"HTTP {status}" if not code or code == str(status) else f"{code} (HTTP {status})"
        return StorageError(f"{where}: S3 answered {what}: {message}{retried}")

    @property
    def _gave_up(self) -> str:
        # The request phase is retried by botocore, configured by remote_options.
        return _gave_up(_botocore_attempts(self.fs))


def _payload_error() -> type[BaseException]:
    try:
        from aiohttp import ClientPayloadError
    except ImportError:  # pragma: no cover - s3fs depends on aiohttp
        return _Transient
    return ClientPayloadError


def _content_range(header: str | None) -> tuple[int | None, int | None, int | None]:
    """``(first, last, total)`` of a ``Content-Range: bytes a-b/n`` header (``None`` if absent)."""
    match = _CONTENT_RANGE.fullmatch((header or "").strip())
    if not match:
        return None, None, None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total


class _HTTPRanges:
    """``GET`` with ``Range`` and ``If-Match`` on the aiohttp session of fsspec's HTTP filesystem."""

    def __init__(self, fs: Any, path: str, url: str, version: FileVersion, policy: RetryPolicy):
        self.fs, self.path, self.url, self.version, self.policy = fs, path, url, version, policy

    async def get(self, start: int, end: int) -> bytes:
        where = _where(self.url, start, end)
        return await _retrying(lambda: self._attempt(start, end, where), self.policy, where)

    async def _attempt(self, start: int, end: int, where: str) -> bytes:
        import aiohttp

        kwargs = dict(self.fs.kwargs)
        headers = dict(kwargs.pop("headers", None) or {})
        # identity: a server compressing on the fly would answer ranges of the compressed bytes.
        headers.update({"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"})
        if self.version.strong_etag:
            headers["If-Match"] = self.version.strong_etag
        session = await self.fs.set_session()
        answered = False
        try:
            async with session.get(self.fs.encode_url(self.path), headers=headers, **kwargs) as response:
                self._check_status(response, start, end, where)
                first, last, total = _content_range(response.headers.get("Content-Range"))
                self._check_version(response, total)
                if response.status == 206 and first is not None and first != start:
                    raise StorageError(f"{where}: the server answered with bytes {first}-{last} instead")
                answered = True
                data = await response.read()
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionResetError) as exc:
            raise _Transient(f"the response was cut short ({type(exc).__name__}: {exc})") from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise _Transient("could not connect within the connect timeout") from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            prefix = "the body stopped arriving: " if answered else ""
            raise _Transient(prefix + _timeout_text(self.fs)) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise _Transient("the server closed the connection without answering") from exc
        except aiohttp.ClientConnectionError as exc:
            raise _Transient(f"connection failed ({type(exc).__name__}: {exc})") from exc
        except aiohttp.ClientResponseError as exc:
            # aiohttp's parser refusing the response (a body longer than Content-Length...).
            raise _Transient(f"the server sent a malformed response ({str(exc.message)[:80]}...)") from exc
        if len(data) == end - start:
            return data
        if first is not None and last is not None and len(data) != last - first + 1:
            raise _Transient(f"the server sent {len(data)} bytes for the range {first}-{last}")
        if total is not None and start + len(data) == total:
            raise _short(self.url, start, end, total)
        raise _Transient(f"the server sent {len(data)} bytes instead of {end - start}")

    def _check_status(self, response: Any, start: int, end: int, where: str) -> None:
        status = response.status
        if status == 206:
            return
        if status == 200:
            length = response.headers.get("Content-Length")
            if start == 0 and length is not None and int(length) == end:
                return  # the whole file was asked for, and sent
            # The body is not read: the connection is dropped instead of downloading the file.
            raise ranges_unsupported(where, f"the whole file, {length or 'an unknown number of'} bytes")
        if status == 412:
            raise stale(self.url, f"its ETag is no longer {self.version.etag}")
        if status in (404, 410):
            raise MissingFileError(f"{self.url!r} no longer exists (it did when it was opened)")
        if status == 416:
            total = _content_range(response.headers.get("Content-Range"))[2]
            if total is not None and self.version.size is not None and total != self.version.size:
                raise stale(self.url, f"size {self.version.size} -> {total}")
            raise _short(self.url, start, end, total if total is not None else start)
        reason = f"HTTP {status} {response.reason or ''}".rstrip()
        if status in _TRANSIENT_STATUS:
            raise _Transient(f"the server answered {reason}", wait=_retry_after(response))
        raise StorageError(f"{where}: the server answered {reason}")

    def _check_version(self, response: Any, total: int | None) -> None:
        found = FileVersion(
            size=total, etag=response.headers.get("ETag"), modified=response.headers.get("Last-Modified")
        )
        changes = self.version.changes_to(found)
        if changes:
            raise stale(self.url, ", ".join(changes))


def _retry_after(response: Any) -> float:
    try:
        return float(response.headers.get("Retry-After", 0))
    except ValueError:  # an HTTP date: back off as usual
        return 0.0
