"""Test helpers for mapds and for code built on it.

mapds' own tests use them, and so can a downstream package checking its use of mapds:

- :mod:`mapds.testing.twins`: the same objects built with gammapy (the reference) and mapds:
  :func:`namespace` (``GAMMAPY``, ``MAPDS``), :func:`build_dataset`, :func:`dataset_pair`,
  :func:`map_pair`, :func:`sky_models`, :class:`GeomReference`;
- :mod:`mapds.testing.compare`: :func:`assert_same`, :func:`assert_map_same`,
  :func:`assert_close`, :func:`assert_dataset_same` and the IRF, GTI and table checks;
- :mod:`mapds.testing.storage`: byte-counting fsspec filesystems (``countfile://``,
  ``countmemory://``), a moto S3 server and an HTTP server honouring ranges on 127.0.0.1 that
  count the bytes they send (:class:`ByteCounter`), and FITS image spans;
- :mod:`mapds.testing.faults`: :func:`fault_proxy`, a proxy in front of those servers that
  stalls, slows down, fails, resets or truncates chosen requests;
- :mod:`mapds.testing.schedulers`: :func:`raise_if_dask_computes`.

Importing :mod:`mapds.testing` imports neither pytest nor gammapy, moto or s3fs: gammapy (a
test extra, not a dependency) is imported when a gammapy twin is built, moto when a server
starts.
"""

from typing import Any

from .compare import (
    assert_close,
    assert_dataset_same,
    assert_geom_same,
    assert_gti_same,
    assert_info_same,
    assert_irf_same,
    assert_map_same,
    assert_same,
    assert_table_same,
)
from .faults import FaultProxy, fault_proxy
from .schedulers import ComputeCounter, raise_if_dask_computes
from .storage import (
    ByteCounter,
    HTTPServer,
    S3Server,
    counting_filesystem,
    fits_image_spans,
    http_range_server,
    image_bytes_read,
    moto_s3_server,
)
from .twins import (
    CHUNKS,
    SOURCES,
    GeomReference,
    build_dataset,
    build_onoff_dataset,
    dataset_pair,
    map_pair,
    namespace,
    sky_model,
    sky_models,
)

__all__ = [
    "CHUNKS",
    "GAMMAPY",
    "MAPDS",
    "SOURCES",
    "ByteCounter",
    "ComputeCounter",
    "FaultProxy",
    "GeomReference",
    "HTTPServer",
    "S3Server",
    "assert_close",
    "assert_dataset_same",
    "assert_geom_same",
    "assert_gti_same",
    "assert_info_same",
    "assert_irf_same",
    "assert_map_same",
    "assert_same",
    "assert_table_same",
    "build_dataset",
    "build_onoff_dataset",
    "counting_filesystem",
    "dataset_pair",
    "fault_proxy",
    "fits_image_spans",
    "http_range_server",
    "image_bytes_read",
    "map_pair",
    "moto_s3_server",
    "namespace",
    "raise_if_dask_computes",
    "sky_model",
    "sky_models",
]


def __getattr__(name: str) -> Any:
    # GAMMAPY and MAPDS (twins.namespace of each library) are built on first use.
    if name in ("GAMMAPY", "MAPDS"):
        return namespace(name.lower())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
