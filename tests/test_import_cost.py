"""``import mapds`` loads no heavy optional module: each is imported inside the function using it.

Checked in a fresh interpreter (``sys.modules`` after ``import mapds``).  How long the import
takes is measured by ``benchmarks/bench_import.py`` beside ``import gammapy.datasets``, not here:
speed targets live in the benchmarks, not in timed unit tests.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Imported where used, never by ``import mapds``: plotting, signal processing, fitting, the
#: regions package (it imports matplotlib), zarr, the cluster and cloud clients, the test-only
#: packages.
DEFERRED = (
    "scipy.signal",
    "scipy.stats",
    "scipy.optimize",
    "scipy.ndimage",
    "matplotlib",
    "regions",
    "zarr",
    "iminuit",
    "distributed",
    "s3fs",
    "gammapy",
    "moto",
)


def test_import_mapds_loads_no_heavy_optional_module():
    code = f"import json, sys, mapds\nprint(json.dumps([m for m in {list(DEFERRED)!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    "name", ["ZarrGroup", "open_zarr_group", "read_zarr_map", "write_zarr_group", "write_zarr_map"]
)
def test_zarr_names_of_mapds_io_are_imported_on_first_use(name):
    import mapds.io
    from mapds.io import zarr_store

    assert getattr(mapds.io, name) is getattr(zarr_store, name)
    assert name in mapds.io.__all__


def test_mapds_io_unknown_attribute():
    import mapds.io

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mapds.io.nope  # noqa: B018
