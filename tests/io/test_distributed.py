"""Storage arrays and write targets travel to dask.distributed workers (separate processes)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from mapds.maps import Map


def test_read_and_write_on_a_local_cluster(tmp_path, cube_file, local_cluster):
    distributed = pytest.importorskip("distributed")
    path, cube = cube_file
    with distributed.Client(local_cluster):
        m = Map.read(path, hdu="COUNTS", chunks={"y": 10, "x": 30})
        assert float(m.data.sum().compute()) == pytest.approx(float(cube.data.sum().compute()))
        m.slice_by_idx({"x": slice(5, 50)}).write(tmp_path / "cut.fits", hdu="COUNTS")
        (m * 2).write(tmp_path / "double.zarr")
    expected = cube.data.compute()
    np.testing.assert_array_equal(fits.getdata(tmp_path / "cut.fits", "COUNTS"), expected[:, :, 5:50])
    np.testing.assert_array_equal(Map.read(tmp_path / "double.zarr").data.compute(), 2 * expected)
