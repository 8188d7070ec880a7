"""A local HTTP proxy that misbehaves on purpose, to test how mapds copes with bad storage.

:func:`fault_proxy` listens on 127.0.0.1 and forwards every request to a real server (the moto
S3 server of :func:`~mapds.testing.storage.moto_s3_server`, the HTTP server of
:func:`~mapds.testing.storage.http_range_server`...), except the requests it was told to spoil.
Each fault is what a real network or server does now and then:

==================  ===========================================================================
fault               what the client sees
==================  ===========================================================================
``"stall"``         the connection is accepted and the request read, but nothing ever comes back
``"stall-body"``    the status line, headers and half of the body arrive, then nothing
``"delay:S"``       the answer comes after ``S`` seconds (a slow server)
``"status:N"``      an error status ``N`` (``503`` carries S3's ``SlowDown`` error document)
``"reset"``         the connection is reset (TCP RST) instead of an answer
``"truncate"``      the headers announce the whole body, half of it is sent, the connection closes
``"short-length"``  ``Content-Length`` says half the body (a server lying about the length)
``"ignore-range"``  the ``Range`` header is dropped: ``200`` and the whole file, as
                    ``python -m http.server`` answers
==================  ===========================================================================

Faults apply, in the order given, to the next requests that carry a ``Range`` header (the
reads of file contents; metadata requests pass untouched unless ``ranged_only=False``); a
``persistent`` fault applies to every such request once the queue is empty.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FAULTS", "FaultProxy", "fault_proxy"]

#: The faults a :class:`FaultProxy` knows (``delay:S`` and ``status:N`` take a parameter).
FAULTS = (
    "stall",
    "stall-body",
    "delay:S",
    "status:N",
    "reset",
    "truncate",
    "short-length",
    "ignore-range",
)
#: Longest a stalled request is held (the proxy's shutdown releases it sooner).
STALL_SECONDS = 30.0
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}
_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


@dataclass
class FaultProxy:
    """A running :func:`fault_proxy`.

    Attributes
    ----------
    url : str
        ``http://127.0.0.1:<port>``: use it instead of the upstream's URL (or S3 endpoint).
    upstream : str
        The server requests are forwarded to.
    persistent : str, optional
        Fault applied to every eligible request once the queued ones are used up.
    ranged_only : bool
        Only requests with a ``Range`` header are eligible for faults.
    applied : list of tuple
        ``(method, path, fault or None)`` of every request received.
    """

    url: str
    upstream: str
    persistent: str | None = None
    ranged_only: bool = True
    applied: list[tuple[str, str, str | None]] = field(default_factory=list)
    _queue: deque = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def inject(self, *faults: str) -> None:
        """Queue faults for the next eligible requests, one each, in order."""
        for fault in faults:
            _check(fault)
        with self._lock:
            self._queue.extend(faults)

    def always(self, fault: str | None) -> None:
        """Apply ``fault`` to every eligible request from now on (``None`` stops it)."""
        if fault is not None:
            _check(fault)
        self.persistent = fault

    def faults_applied(self) -> list[str]:
        """The faults applied so far, in order."""
        return [fault for _, _, fault in self.applied if fault]

    def _take(self, method: str, path: str, ranged: bool) -> str | None:
        with self._lock:
            fault = None
            if ranged or not self.ranged_only:
                fault = self._queue.popleft() if self._queue else self.persistent
            self.applied.append((method, path, fault))
            return fault


def _check(fault: str) -> None:
    name, _, value = fault.partition(":")
    if f"{name}:S" in FAULTS or f"{name}:N" in FAULTS:
        float(value)
    elif fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; known: {FAULTS}")


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (OSError, ValueError):  # the client went away, or a fault closed the socket
            self.close_connection = True

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        fault = self.proxy._take(self.command, self.path, "Range" in self.headers)
        name, _, value = (fault or "").partition(":")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if name == "stall":
            self.proxy._stop.wait(STALL_SECONDS)
            self.close_connection = True
            return
        if name == "reset":
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if name == "status":
            payload = _SLOW_DOWN if value == "503" else b""
            self.send_response(int(value))
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":  # an answer to HEAD has no body
                self.wfile.write(payload)
            return
        if name == "delay":
            self.proxy._stop.wait(float(value))
        if name == "ignore-range":
            headers = {k: v for k, v in headers.items() if k.lower() != "range"}
        status, reason, upstream_headers, data = self._forward(headers, body)
        self._answer(name, status, reason, upstream_headers, data)

    def _forward(self, headers: dict, body: bytes | None) -> tuple[int, str, list, bytes]:
        target = urlsplit(self.proxy.upstream)
        host = target.hostname or "127.0.0.1"
        connection = http.client.HTTPConnection(host, target.port, timeout=STALL_SECONDS)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, response.reason, response.getheaders(), data
        finally:
            connection.close()

    def _answer(self, fault: str, status: int, reason: str, headers: list, data: bytes) -> None:
        self.send_response(status, reason)
        for key, value in headers:
            if key.lower() not in _HOP_BY_HOP and key.lower() not in ("server", "date"):
                self.send_header(key, value)
        if self.command == "HEAD":
            length = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
            self.send_header("Content-Length", length)
            self.end_headers()
            return
        half = len(data) // 2
        announced = half if fault == "short-length" else len(data)
        self.send_header("Content-Length", str(announced))
        if fault in ("truncate", "short-length", "stall-body"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if fault in ("truncate", "stall-body"):
            self.wfile.write(data[:half])
            self.wfile.flush()
            if fault == "stall-body":
                self.proxy._stop.wait(STALL_SECONDS)
            return
        self.wfile.write(data)


@contextlib.contextmanager
def fault_proxy(
    upstream: str, host: str = "127.0.0.1", port: int = 0, *, ranged_only: bool = True
) -> Iterator[FaultProxy]:
    """Run a fault-injecting proxy in front of ``upstream`` in a thread.

    Parameters
    ----------
    upstream : str
        ``http://host:port`` of the real server.
    host : str
        Address to listen on.
    port : int
        Port; 0 picks a free one.
    ranged_only : bool
        Only requests with a ``Range`` header receive faults.

    Yields
    ------
    FaultProxy
        Its URL; :meth:`FaultProxy.inject` and :meth:`FaultProxy.always` choose the faults.
    """
    proxy = FaultProxy(url="", upstream=upstream.rstrip("/"), ranged_only=ranged_only)
    handler = type("FaultProxyHandler", (_ProxyHandler,), {"proxy": proxy})
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    # A short poll interval: shutdown() waits for it.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fault-proxy", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    proxy.url = f"http://{bound_host!s}:{bound_port}"
    try:
        yield proxy
    finally:
        proxy._stop.set()
        server.shutdown()
        thread.join()
        server.server_close()
