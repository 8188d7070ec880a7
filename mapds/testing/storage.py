"""Storage for tests: byte-counting filesystems, a local S3 server and a local HTTP server.

Every helper records the reads it serves in a :class:`ByteCounter` as ``(path, start, nbytes)``,
so a test states which bytes of a file a computation asked storage for, whatever the back end:

- :func:`counting_filesystem` registers ``countfile://`` (the local filesystem) or
  ``countmemory://`` (fsspec's ``memory://`` store, shared with it) under fsspec, counting every
  byte its file objects and ``cat_file`` return;
- :func:`moto_s3_server` runs moto's S3 server on 127.0.0.1 and counts the body bytes of every
  ``GET`` it answers (``s3://`` URLs then read from it with :attr:`S3Server.storage_options`);
- :func:`http_range_server` serves a local directory on 127.0.0.1, honouring single
  ``Range: bytes=a-b`` requests (what fsspec's HTTP filesystem sends), and counts what it sends.

:func:`fits_image_spans` and :func:`image_bytes_read` tell from astropy, independently of
mapds, which of the counted bytes were pixels of image HDUs.  Nothing here imports pytest,
moto or s3fs at import time.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ByteCounter",
    "HTTPServer",
    "S3Server",
    "counting_filesystem",
    "fits_image_spans",
    "http_range_server",
    "image_bytes_read",
    "moto_s3_server",
]


class ByteCounter:
    """The reads served by one counting filesystem or server.

    Attributes
    ----------
    reads : list of tuple
        ``(path, start, nbytes)`` of every read, in the order they were served.  ``path`` is the
        filesystem path (``countfile://``, ``countmemory://``) or the URL path (S3: ``/bucket/key``,
        HTTP: ``/name``); reads of an S3 listing carry their query string.
    requests : list of tuple
        ``(method, path, range)`` of every request the servers received (``range`` is the
        ``Range`` header or ``None``); the counting filesystems record none.
    """

    def __init__(self) -> None:
        self.reads: list[tuple[str, int, int]] = []
        self.requests: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()

    def record_request(self, method: str, path: str, range_header: str | None = None) -> None:
        """Record that a server received a ``method`` request for ``path``."""
        with self._lock:
            self.requests.append((method, path, range_header))

    def gets(self, path: str | None = None) -> int:
        """Number of ``GET`` requests received (for paths ending with ``path`` when given)."""
        return sum(m == "GET" and (path is None or p.endswith(str(path))) for m, p, _ in self.requests)

    def record(self, path: str, start: int, nbytes: int) -> None:
        """Record that ``nbytes`` of ``path`` were read from offset ``start``."""
        with self._lock:
            self.reads.append((path, int(start), int(nbytes)))

    def reset(self) -> None:
        """Forget every read and request recorded so far."""
        with self._lock:
            self.reads.clear()
            self.requests.clear()

    @property
    def bytes_read(self) -> int:
        """Bytes read in total."""
        return sum(n for _, _, n in self.reads)

    def paths(self) -> list[str]:
        """The paths read, each once, in the order first read."""
        return list(dict.fromkeys(p for p, _, _ in self.reads))

    def ranges(self, path: str | None = None) -> list[tuple[int, int]]:
        """``(start, end)`` of the reads.

        Parameters
        ----------
        path : str, optional
            Only the reads of paths ending with ``path``.
        """
        return [(s, s + n) for p, s, n in self.reads if path is None or p.endswith(str(path))]

    def bytes_of(self, path: str) -> int:
        """Bytes read from paths ending with ``path``."""
        return sum(end - start for start, end in self.ranges(path))

    def bytes_in(self, start: int, end: int, path: str | None = None) -> int:
        """Bytes read that fall inside ``[start, end)`` (of paths ending with ``path`` when given)."""
        return sum(max(0, min(e, end) - max(s, start)) for s, e in self.ranges(path))


# -- counting fsspec filesystems -------------------------------------------------------------------


class _CountingFile:
    """A file object of the wrapped filesystem that records what ``read``/``readinto`` return."""

    def __init__(self, f: Any, path: str, counter: ByteCounter):
        self._f, self._path, self._counter = f, path, counter

    def read(self, n: int = -1) -> bytes:
        start = self._f.tell()
        data = self._f.read(n)
        self._counter.record(self._path, start, len(data))
        return data

    def readinto(self, buf: Any) -> int:
        start = self._f.tell()
        n = self._f.readinto(buf)
        self._counter.record(self._path, start, n or 0)
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._f)


_COUNTING: dict[str, Any] = {}


def _make_counting_class(base: str) -> Any:
    import fsspec

    base_cls = fsspec.get_filesystem_class(base)
    protocol = f"count{base}"
    prefix = f"{protocol}://"

    def _strip_protocol(cls, path):
        path = str(path)
        if path.startswith(prefix):
            path = path[len(prefix) :]
        return base_cls._strip_protocol(path)

    def unstrip_protocol(self, name):
        return f"{prefix}{self._strip_protocol(name)}"

    def _open(self, path, mode="rb", **kwargs):
        f = base_cls._open(self, path, mode=mode, **kwargs)
        if "r" in mode and "+" not in mode:
            return _CountingFile(f, self._strip_protocol(path), self.counter)
        return f

    namespace: dict[str, Any] = {
        "__doc__": (
            f"fsspec's {base_cls.__name__} under the ``{protocol}://`` protocol, counting bytes read.\n\n"
            "Every read path of fsspec (``cat_file``, ``cat_ranges``, ``open().read``) goes through "
            "the file objects returned by ``_open`` or through ``cat_file``, so each byte is counted once."
        ),
        "protocol": (protocol,),
        "counter": ByteCounter(),
        "_strip_protocol": classmethod(_strip_protocol),
        "unstrip_protocol": unstrip_protocol,
        "_open": _open,
    }
    if "cat_file" in vars(base_cls):
        # memory:// answers cat_file from its store without opening a file: count it there.
        def cat_file(self, path, start=None, end=None, **kwargs):
            data = base_cls.cat_file(self, path, start=start, end=end, **kwargs)
            offset = start or 0
            if offset < 0:
                offset += self.size(path)
            self.counter.record(self._strip_protocol(path), offset, len(data))
            return data

        namespace["cat_file"] = cat_file
    return type(f"Counting{base_cls.__name__}", (base_cls,), namespace)


def counting_filesystem(base: str = "file") -> type:
    """Register (once) and return the byte-counting variant of an fsspec filesystem.

    The variant of ``base`` answers ``count<base>://`` URLs: ``countfile:///tmp/x.fits`` is the
    local file ``/tmp/x.fits``, and ``countmemory://x.fits`` is ``memory://x.fits`` (the two
    share fsspec's in-memory store).  mapds treats them as it treats any remote filesystem:
    every read goes through fsspec (plain local paths are read with ``pread`` instead, which
    fsspec never sees).

    Parameters
    ----------
    base : {"file", "memory"}
        The filesystem counted.

    Returns
    -------
    type
        The filesystem class; its ``counter`` attribute is the :class:`ByteCounter` shared by
        all its instances (call ``counter.reset()`` before measuring).
    """
    if base not in ("file", "memory"):
        raise ValueError(f"counting_filesystem: base must be 'file' or 'memory', got {base!r}")
    if base not in _COUNTING:
        import fsspec

        cls = _make_counting_class(base)
        fsspec.register_implementation(cls.protocol[0], cls, clobber=True)
        _COUNTING[base] = cls
    return _COUNTING[base]


# -- FITS byte spans -------------------------------------------------------------------------------


def fits_image_spans(path: str | os.PathLike) -> list[tuple[int, int]]:
    """Byte spans ``[start, end)`` of the data sections of the image HDUs of a local FITS file.

    Read with astropy, independently of mapds.

    Parameters
    ----------
    path : str or os.PathLike
        A local FITS file.

    Returns
    -------
    list of tuple of int
        ``(start, end)`` byte offsets of each image HDU's data (without padding), in file order.
    """
    from astropy.io import fits

    spans = []
    with fits.open(path) as hdulist:
        for hdu in hdulist:
            info = hdu.fileinfo()
            if hdu.is_image and hdu.header.get("NAXIS", 0) > 0:
                spans.append((info["datLoc"], info["datLoc"] + info["datSpan"]))
    return spans


def image_bytes_read(counter: ByteCounter, path: str | os.PathLike, name: str | None = None) -> int:
    """Bytes read from the pixels of image HDUs of a FITS file.

    Parameters
    ----------
    counter : ByteCounter
        The reads.
    path : str or os.PathLike
        A local copy of the file (its spans are taken from it).
    name : str, optional
        The path the counter recorded the reads under (a suffix of it is enough); default ``path``.

    Returns
    -------
    int
        Bytes recorded by ``counter`` that fall inside the image data sections of the file.
    """
    suffix = str(path) if name is None else name
    return sum(counter.bytes_in(start, end, suffix) for start, end in fits_image_spans(path))


# -- a local S3 server -----------------------------------------------------------------------------


def _host_port(address: Any) -> str:
    """``host:port`` of a bound server address."""
    host, port = address[:2]
    return f"{host.decode() if isinstance(host, bytes) else host}:{port}"


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _range_start(header: str | None) -> int:
    match = _RANGE.fullmatch((header or "").strip())
    return int(match.group(1)) if match and match.group(1) else 0


class _CountingWSGI:
    """WSGI middleware recording the body bytes of every successful ``GET`` response.

    Each piece of a body is recorded before it is handed to the server, so a client that has
    received bytes always finds them counted.
    """

    def __init__(self, app: Any, counter: ByteCounter):
        self.app, self.counter = app, counter

    def __call__(self, environ: dict, start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            path = f"{path}?{environ['QUERY_STRING']}"
        self.counter.record_request(environ.get("REQUEST_METHOD", ""), path, environ.get("HTTP_RANGE"))
        if environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        start = _range_start(environ.get("HTTP_RANGE"))
        status: list[str] = []

        def recording_start_response(code, headers, exc_info=None):
            status.append(code)
            return start_response(code, headers, exc_info)

        result = self.app(environ, recording_start_response)
        return self._body(result, path, start, status)

    def _body(self, result: Any, path: str, start: int, status: list[str]) -> Iterator[bytes]:
        offset = start
        try:
            for chunk in result:
                if chunk and status and status[0].startswith("2"):
                    self.counter.record(path, offset, len(chunk))
                offset += len(chunk)
                yield chunk
        finally:
            if hasattr(result, "close"):
                result.close()


@dataclass
class S3Server:
    """A running local S3 server (see :func:`moto_s3_server`).

    Attributes
    ----------
    endpoint_url : str
        ``http://127.0.0.1:<port>``.
    storage_options : dict
        fsspec/s3fs options reaching it (dummy credentials, no instance cache).
    counter : ByteCounter
        Body bytes of the ``GET`` requests answered, under ``/bucket/key``.
    """

    endpoint_url: str
    storage_options: dict
    counter: ByteCounter = field(default_factory=ByteCounter)

    def filesystem(self) -> Any:
        """An ``s3fs.S3FileSystem`` on this server."""
        import s3fs

        return s3fs.S3FileSystem(**self.storage_options)

    @contextlib.contextmanager
    def bucket(self, name: str | None = None) -> Iterator[str]:
        """A new bucket, removed with its objects afterwards: yields its ``s3://`` URL.

        Parameters
        ----------
        name : str, optional
            Bucket name; default a unique ``test-<hex>``.
        """
        name = name or f"test-{uuid.uuid4().hex[:12]}"
        fs = self.filesystem()
        fs.mkdir(name)
        try:
            yield f"s3://{name}"
        finally:
            fs.rm(name, recursive=True)


@contextlib.contextmanager
def moto_s3_server(host: str = "127.0.0.1", port: int = 0) -> Iterator[S3Server]:
    """Run moto's S3 server in a thread, counting the bytes it sends.

    The server is moto's own WSGI application (what ``moto.server.ThreadedMotoServer`` runs)
    behind a counting middleware, so ``s3fs`` talks to it exactly as to S3.

    Parameters
    ----------
    host : str
        Address to listen on (never a public interface in tests).
    port : int
        Port; 0 picks a free one.

    Yields
    ------
    S3Server
        The endpoint, the fsspec ``storage_options`` reaching it and its :class:`ByteCounter`.
    """
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    counter = ByteCounter()
    app = _CountingWSGI(DomainDispatcherApplication(create_backend_app), counter)
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto-s3", daemon=True)
    thread.start()
    endpoint = f"http://{_host_port(server.server_address)}"
    options = {
        "key": "testing",
        "secret": "testing",
        "anon": False,
        "client_kwargs": {"endpoint_url": endpoint},
        "skip_instance_cache": True,
    }
    try:
        yield S3Server(endpoint, options, counter)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


# -- a local HTTP server honouring ranges ----------------------------------------------------------


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """A static file server that honours single ``Range: bytes=a-b`` (and ``bytes=-n``) requests
    and records the bytes of files it sends (before sending them, so that a client that has
    received bytes always finds them counted).

    Like nginx or Apache, it sends an ``ETag`` (from size and modification time) with files and
    answers ``412 Precondition Failed`` when ``If-Match`` names another one."""

    counter: ByteCounter
    _etag: str | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        if self._etag:
            self.send_header("ETag", self._etag)
        super().end_headers()

    def send_head(self):
        self._sent_from = None
        self.counter.record_request(self.command, self.path.split("?")[0], self.headers.get("Range"))
        path = self.translate_path(self.path)
        self._etag = None
        if os.path.isfile(path):
            st = os.stat(path)
            self._etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
            wanted = self.headers.get("If-Match")
            if wanted and wanted.strip() not in ("*", self._etag):
                self.send_response(412)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
        header = self.headers.get("Range")
        match = _RANGE.fullmatch(header.strip()) if header else None
        if not match or not os.path.isfile(path) or not (match.group(1) or match.group(2)):
            if os.path.isfile(path):
                self._sent_from = 0
            return super().send_head()
        size = os.path.getsize(path)
        if match.group(1):
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
        else:  # the last n bytes
            start, end = max(0, size - int(match.group(2))), size - 1
        if start >= size or end < start:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        f = open(path, "rb")
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Last-Modified", self.date_time_string(int(os.fstat(f.fileno()).st_mtime)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self._sent_from = start
        self._remaining = end - start + 1
        return f

    def copyfile(self, source: Any, outputfile: Any) -> None:
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            data = source.read()
        else:
            data = source.read(remaining)
            self._remaining = None
        if self._sent_from is not None:
            self.counter.record(self.path.split("?")[0], self._sent_from, len(data))
        outputfile.write(data)


@dataclass
class HTTPServer:
    """A running local HTTP server (see :func:`http_range_server`).

    Attributes
    ----------
    url : str
        ``http://127.0.0.1:<port>``: ``f"{url}/name"`` is ``directory / name``.
    directory : str
        The directory served.
    counter : ByteCounter
        Body bytes sent for files, under the URL path (``/name``).
    """

    url: str
    directory: str
    counter: ByteCounter


@contextlib.contextmanager
def http_range_server(
    directory: str | os.PathLike, host: str = "127.0.0.1", port: int = 0
) -> Iterator[HTTPServer]:
    """Serve a local directory over HTTP in a thread, honouring ``Range`` requests.

    Enough for fsspec's ``HTTPFileSystem`` (which needs ``aiohttp``): ``HEAD`` gives sizes,
    ranged ``GET`` requests get ``206 Partial Content``, directories are listed as HTML.

    Parameters
    ----------
    directory : str or os.PathLike
        What to serve (read-only: the server never writes).
    host : str
        Address to listen on.
    port : int
        Port; 0 picks a free one.

    Yields
    ------
    HTTPServer
        Its base URL and :class:`ByteCounter`.
    """
    counter = ByteCounter()
    handler_cls = type("RangeHandler", (_RangeHandler,), {"counter": counter})

    def handler(*args: Any, **kwargs: Any) -> _RangeHandler:
        return handler_cls(*args, directory=os.fspath(directory), **kwargs)

    server = http.server.ThreadingHTTPServer((host, port), handler)
    # A short poll interval: shutdown() waits for it.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="http-range", daemon=True)
    thread.start()
    try:
        yield HTTPServer(f"http://{_host_port(server.server_address)}", os.fspath(directory), counter)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
