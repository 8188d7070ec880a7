"""Assertions comparing mapds results with gammapy's (or any reference) value by value.

- :func:`assert_same`: any value (sequences, ``SkyCoord``, ``Quantity``, arrays, numbers)
  recursively, with a relative tolerance, units and shapes exact, NaN == NaN;
- :func:`assert_map_same`: a mapds map against a gammapy map (values, dtype, unit, geometry);
  :func:`assert_close` the values only, relative to the largest;
- :func:`assert_irf_same`, :func:`assert_gti_same`, :func:`assert_table_same` and
  :func:`assert_dataset_same`: IRF maps, GTIs, tables and every member of a dataset;
  :func:`assert_info_same` the ``info_dict`` of a dataset.

The comparisons read the reference through its public attributes only, so they do not import
gammapy; they raise ``AssertionError`` naming what differs.
"""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

__all__ = [
    "assert_close",
    "assert_dataset_same",
    "assert_geom_same",
    "assert_gti_same",
    "assert_info_same",
    "assert_irf_same",
    "assert_map_same",
    "assert_same",
    "assert_table_same",
]


def assert_same(
    ours: Any, ref: Any, rtol: float = 1e-6, atol: float | None = None, path: str = "value"
) -> None:
    """Recursively compare a result with the reference's.

    Tuples/lists element-wise, SkyCoords by frame and lon/lat, Quantities by unit then values,
    arrays by shape then values (``rtol``, NaN == NaN; booleans exactly), anything else with ``==``.

    Parameters
    ----------
    ours, ref
        The result and the reference value.
    rtol : float
        Relative tolerance of floating-point values.
    atol : float, optional
        Absolute tolerance; the default, 1e-12 of the largest finite reference value, lets
        rounding noise around zero (an edge extrapolated to 0) pass.
    path : str
        Name of the value in messages (extended with ``[i]``, ``.lon``... when recursing).
    """
    if isinstance(ref, (tuple, list)):
        assert isinstance(ours, (tuple, list)), f"{path}: expected a sequence, got {type(ours).__name__}"
        assert len(ours) == len(ref), f"{path}: length {len(ours)} != {len(ref)}"
        for idx, (a, b) in enumerate(zip(ours, ref, strict=True)):
            assert_same(a, b, rtol=rtol, atol=atol, path=f"{path}[{idx}]")
    elif isinstance(ref, SkyCoord):
        assert isinstance(ours, SkyCoord), f"{path}: expected a SkyCoord, got {type(ours).__name__}"
        assert ours.frame.name == ref.frame.name, f"{path}: frame {ours.frame.name} != {ref.frame.name}"
        assert_same(ours.data.lon.deg, ref.data.lon.deg, rtol=rtol, atol=atol, path=f"{path}.lon")
        assert_same(ours.data.lat.deg, ref.data.lat.deg, rtol=rtol, atol=atol, path=f"{path}.lat")
    elif isinstance(ref, u.Quantity):
        assert isinstance(ours, u.Quantity), f"{path}: expected a Quantity, got {type(ours).__name__}"
        assert ours.unit == ref.unit, f"{path}: unit {ours.unit} != {ref.unit}"
        assert_same(ours.value, ref.value, rtol=rtol, atol=atol, path=path)
    elif isinstance(ref, np.ndarray) and ref.dtype.kind in "fciub":
        ours = np.asarray(ours)
        assert ours.shape == ref.shape, f"{path}: shape {ours.shape} != {ref.shape}"
        if ref.dtype.kind == "b":
            np.testing.assert_array_equal(ours, ref, err_msg=path)
        else:
            if atol is None:
                finite = np.abs(ref[np.isfinite(ref)])
                atol = 1e-12 * finite.max() if finite.size else 0.0
            np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, equal_nan=True, err_msg=path)
    elif isinstance(ref, (float, np.floating)):
        np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol or 0.0, err_msg=path)
    else:
        assert np.all(ours == ref), f"{path}: {ours!r} != {ref!r}"


def _is_label_axis(axis: Any) -> bool:
    return type(axis).__name__ == "LabelMapAxis"


def assert_geom_same(md_geom: Any, gp_geom: Any, what: str = "geom") -> None:
    """A mapds geometry equals the reference's: shape, axes (edges, unit, node type; labels),
    WCS (``crpix``, ``cdelt``, ``crval``, ``ctype``) or region.

    Parameters
    ----------
    md_geom, gp_geom
        The mapds geometry and the reference geometry (gammapy's).
    what : str
        Name of the geometry in messages.
    """
    assert tuple(md_geom.data_shape) == tuple(gp_geom.data_shape), (
        f"{what}: shape {md_geom.data_shape} != {gp_geom.data_shape}"
    )
    assert list(md_geom.axes_names) == list(gp_geom.axes_names), what
    for md_axis, gp_axis in zip(md_geom.axes, gp_geom.axes, strict=True):
        if _is_label_axis(gp_axis):
            assert list(md_axis.center) == list(gp_axis.center), f"{what}: {gp_axis.name} labels"
            continue
        np.testing.assert_allclose(
            md_axis.edges.value, gp_axis.edges.value, rtol=1e-12, err_msg=f"{what}: {gp_axis.name} edges"
        )
        assert md_axis.edges.unit == gp_axis.edges.unit, f"{what}: {gp_axis.name} unit"
        assert md_axis.node_type == gp_axis.node_type, f"{what}: {gp_axis.name} node type"
    if gp_geom.is_region:
        assert type(md_geom).__name__ == "RegionGeom", what
        assert str(md_geom.region) == str(gp_geom.region), f"{what}: region"
        return
    for attr in ("crpix", "cdelt", "crval"):
        np.testing.assert_allclose(
            getattr(md_geom.wcs.wcs, attr),
            getattr(gp_geom.wcs.wcs, attr),
            rtol=1e-12,
            err_msg=f"{what}: {attr}",
        )
    assert list(md_geom.wcs.wcs.ctype) == list(gp_geom.wcs.wcs.ctype), f"{what}: ctype"


def assert_map_same(
    md_map: Any, gp_map: Any, rtol: float = 1e-6, atol: float = 0.0, what: str = "map"
) -> None:
    """Values, dtype, shape, unit and geometry of a mapds map equal the reference map's.

    Computes the mapds map.  Data types are compared without byte order (gammapy keeps the
    big-endian order of FITS files, mapds reads them into native order); booleans are compared
    exactly, other values with ``rtol``/``atol`` and NaN == NaN.  ``None`` equals only ``None``.

    Parameters
    ----------
    md_map : mapds.maps.Map or None
        The mapds map.
    gp_map : gammapy.maps.Map or None
        The reference map.
    rtol, atol : float
        Tolerances of the values.
    what : str
        Name of the map in messages.
    """
    assert (md_map is None) == (gp_map is None), what
    if gp_map is None:
        return
    assert_geom_same(md_map.geom, gp_map.geom, what=what)
    values = np.asarray(md_map.data.compute())
    assert values.shape == gp_map.data.shape, f"{what}: shape {values.shape} != {gp_map.data.shape}"
    gp_dtype = gp_map.data.dtype.newbyteorder("=")
    assert values.dtype == gp_dtype, f"{what}: dtype {values.dtype} != {gp_dtype}"
    assert md_map.unit == gp_map.unit, f"{what}: unit {md_map.unit} != {gp_map.unit}"
    if values.dtype == bool:
        np.testing.assert_array_equal(values, gp_map.data, err_msg=what)
    else:
        np.testing.assert_allclose(values, gp_map.data, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def assert_close(md_map: Any, gp_map: Any, rtol: float = 1e-6) -> None:
    """Values equal to the reference's within ``rtol`` of its largest finite value, same dtype
    and data shape (for results that gammapy computes in float32, e.g. PSF convolutions).

    Parameters
    ----------
    md_map : mapds.maps.Map
        The mapds map (computed here).
    gp_map : gammapy.maps.Map
        The reference map.
    rtol : float
        Tolerance, relative to the largest finite reference value.
    """
    values = np.asarray(md_map.data)
    assert values.dtype == gp_map.data.dtype, f"dtype {values.dtype} != {gp_map.data.dtype}"
    assert md_map.geom.data_shape == gp_map.geom.data_shape
    finite = np.isfinite(gp_map.data)
    scale = max(float(np.abs(gp_map.data[finite]).max()), 1e-30)
    np.testing.assert_allclose(values, gp_map.data, rtol=rtol, atol=rtol * scale)


def assert_irf_same(md_irf: Any, gp_irf: Any, rtol: float = 1e-6, what: str = "irf") -> None:
    """An IRF map (``PSFMap``, ``EDispKernelMap``, ``EDispMap``...) equals the reference's.

    Same class name, IRF map and exposure map (see :func:`assert_map_same`); IRF values within
    1e-6 of the largest one besides ``rtol``, since exposure-weighted pixels are summed in float32
    in a different order.

    Parameters
    ----------
    md_irf, gp_irf
        The mapds IRF map and the reference one (or both None).
    rtol : float
        Relative tolerance.
    what : str
        Name in messages.
    """
    assert (md_irf is None) == (gp_irf is None), what
    if gp_irf is None:
        return
    assert type(md_irf).__name__ == type(gp_irf).__name__, what
    gp_map = gp_irf.psf_map if hasattr(gp_irf, "psf_map") else gp_irf.edisp_map  # gammapy's public names
    atol = 1e-6 * float(np.abs(gp_map.data).max())
    assert_map_same(md_irf.irf_map, gp_map, rtol=rtol, atol=atol, what=f"{what} map")
    assert_map_same(md_irf.exposure_map, gp_irf.exposure_map, rtol=rtol, what=f"{what} exposure")


def assert_gti_same(md_gti: Any, gp_gti: Any) -> None:
    """Two GTIs hold the same intervals (to 1e-9 days) and reference time (to 1 µs).

    Parameters
    ----------
    md_gti, gp_gti
        The mapds GTI and the reference one (or both None).
    """
    assert (md_gti is None) == (gp_gti is None), "gti"
    if gp_gti is None:
        return
    assert len(md_gti.table) == len(gp_gti.table), "gti: number of intervals"
    for attr in ("time_start", "time_stop"):
        md_mjd, gp_mjd = getattr(md_gti, attr).tt.mjd, getattr(gp_gti, attr).tt.mjd
        np.testing.assert_allclose(md_mjd, gp_mjd, rtol=0, atol=1e-9, err_msg=f"gti {attr}")
    assert abs((md_gti.time_ref - gp_gti.time_ref).to_value("s")) < 1e-6, "gti: reference time"


def assert_table_same(md_table: Any, gp_table: Any) -> None:
    """Two tables have the same columns, lengths, kinds and values.

    Parameters
    ----------
    md_table, gp_table : astropy.table.Table or None
        The mapds table and the reference one.
    """
    assert (md_table is None) == (gp_table is None), "table"
    if gp_table is None:
        return
    assert md_table.colnames == gp_table.colnames
    assert len(md_table) == len(gp_table)
    for name in gp_table.colnames:
        md_values, gp_values = np.asarray(md_table[name]), np.asarray(gp_table[name])
        assert md_values.shape == gp_values.shape, name
        assert md_values.dtype.kind == gp_values.dtype.kind, name
        np.testing.assert_array_equal(md_values, gp_values, err_msg=name)


def assert_dataset_same(md: Any, gp: Any, rtol: float = 1e-6, check_name: bool = True) -> None:
    """Every member of a mapds dataset equals the reference dataset's.

    Class name, name, the five maps (and the off counts and acceptances of on-off datasets), PSF
    and EDisp, GTI, meta table and the livetime of the exposure.

    Parameters
    ----------
    md, gp
        The mapds dataset and the reference (gammapy) dataset.
    rtol : float
        Relative tolerance of the values.
    check_name : bool
        Compare the names too.
    """
    assert type(md).__name__ == type(gp).__name__
    if check_name:
        assert md.name == gp.name
    for member in ("counts", "exposure", "background", "mask_safe", "mask_fit"):
        assert_map_same(getattr(md, member), getattr(gp, member), rtol=rtol, what=member)
    for member in ("counts_off", "acceptance", "acceptance_off"):  # on-off datasets
        if hasattr(gp, member):
            assert_map_same(getattr(md, member), getattr(gp, member), rtol=rtol, what=member)
    assert_irf_same(md.psf, gp.psf, rtol=rtol, what="psf")
    assert_irf_same(md.edisp, gp.edisp, rtol=rtol, what="edisp")
    assert_gti_same(md.gti, gp.gti)
    assert_table_same(md.meta_table, gp.meta_table)
    if gp.exposure is not None:
        gp_livetime = gp.exposure.meta.get("livetime")
        md_livetime = md.exposure.meta.get("livetime")
        assert (md_livetime is None) == (gp_livetime is None)
        if gp_livetime is not None:
            assert u.isclose(md_livetime, gp_livetime, rtol=1e-12)


def assert_info_same(md_info: dict, gp_info: dict, rtol: float = 1e-6) -> None:
    """A dataset's ``info_dict`` equals the reference's: the same keys in gammapy's order,
    strings equal, quantities in the same unit and numbers of the same type within ``rtol``.

    Parameters
    ----------
    md_info, gp_info : dict
        mapds' and the reference's ``info_dict()``.
    rtol : float
        Relative tolerance of the numbers.
    """
    from mapds.datasets.summary import INFO_KEYS

    assert list(md_info) == list(gp_info) == list(INFO_KEYS)
    for key, expected in gp_info.items():
        value = md_info[key]
        if isinstance(expected, str):
            assert value == expected, key
        elif isinstance(expected, u.Quantity):
            assert value.unit == expected.unit, key
            np.testing.assert_allclose(value.value, expected.value, rtol=rtol, err_msg=key)
        else:
            assert type(value) is type(expected) or np.isnan(expected), key
            np.testing.assert_allclose(value, expected, rtol=rtol, err_msg=key)
