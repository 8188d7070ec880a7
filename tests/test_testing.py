"""mapds.testing itself: what importing it pulls in, and the servers' HTTP semantics."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

from mapds.testing import ByteCounter, http_range_server


def test_import_pulls_in_no_test_dependency():
    code = (
        "import sys, mapds.testing\n"
        "from mapds.testing import MAPDS\n"
        "assert MAPDS.name == 'mapds'\n"
        "print(sorted({'pytest', 'gammapy', 'moto', 's3fs'} & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _get(url: str, byte_range: str | None = None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, headers={"Range": byte_range} if byte_range else {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_http_range_server_serves_and_counts_ranges(tmp_path):
    payload = bytes(range(256)) * 4
    (tmp_path / "f.bin").write_bytes(payload)
    with http_range_server(tmp_path) as server:
        url = f"{server.url}/f.bin"
        assert _get(url)[:2] == (200, payload)
        server.counter.reset()
        status, body, headers = _get(url, "bytes=10-19")
        assert (status, body) == (206, payload[10:20])
        assert headers["Content-Range"] == f"bytes 10-19/{len(payload)}"
        assert _get(url, "bytes=1000-")[1] == payload[1000:]
        assert _get(url, "bytes=-24")[1] == payload[-24:]
        assert _get(url, f"bytes={len(payload)}-")[0] == 416
        assert server.counter.reads == [
            ("/f.bin", 10, 10),
            ("/f.bin", 1000, 24),
            ("/f.bin", 1000, 24),
        ]


def test_byte_counter_arithmetic():
    counter = ByteCounter()
    counter.record("/a/x.fits", 0, 100)
    counter.record("/a/x.fits", 200, 50)
    counter.record("/a/y.fits", 0, 10)
    assert counter.bytes_read == 160
    assert counter.bytes_of("x.fits") == 150
    assert counter.bytes_in(50, 220, "x.fits") == 70
    assert counter.paths() == ["/a/x.fits", "/a/y.fits"]
    counter.reset()
    assert counter.reads == []
