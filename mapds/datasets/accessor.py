"""The ``.mapds`` accessor of ``xarray.Dataset``: maps, a :class:`MapDataset`, sky selections.

Registered when :mod:`mapds` (or :mod:`mapds.datasets`) is imported, and so whenever xarray
loads the ``mapds`` engine::

    ds = xr.open_dataset("dataset.fits", engine="mapds", chunks={})
    dataset = ds.mapds.to_dataset()                 # MapDataset: counts, exposure, ..., PSFMap, EDisp
    dataset.stat_sum()                              # the same as MapDataset.read("dataset.fits")
    ds.mapds.to_maps()["psf"]                       # one lazy Map per data variable
    ds.mapds.sel_sky(position, width="2 deg")       # cutouts of every map, each on its own grid

The Dataset is read as :mod:`mapds.datasets.io` reads a file: data variables named after the
lower-cased HDUs (``counts``, ``psf``, ``psf_exposure``, ``edisp``...), masks as booleans, the IRF
maps rebuilt as ``PSFMap``/``RecoPSFMap`` and ``EDispKernelMap``/``EDispMap`` by gammapy's rules,
``GTI`` and ``META_TABLE`` from the ECSV text attributes written by the ``mapds`` engine.
"""

from __future__ import annotations

import xarray as xr
from astropy.coordinates import SkyCoord
from astropy.table import Table

from ..data import GTI
from ..io.xarray_backend import TABLES_ATTR, table_from_text
from ..maps import Map
from ..maps.accessor import sel_sky, to_map
from ..maps.dataset_layout import SPATIAL_DIMS, combine_dataarrays, map_dataarray
from ..maps.meta import decode_meta
from .io import DatasetStore
from .map_dataset import MapDataset
from .spectrum import SpectrumDataset

__all__ = ["MapdsDatasetAccessor", "XarrayDatasetStore"]


class XarrayDatasetStore(DatasetStore):
    """An ``xarray.Dataset`` in the ``mapds`` engine's layout seen as a dataset file.

    HDU names are the upper-cased data-variable names; tables come from the attributes listed in
    ``attrs["mapds_tables"]``.

    Parameters
    ----------
    ds : xarray.Dataset
        The Dataset.
    """

    def __init__(self, ds: xr.Dataset):
        self.ds = ds
        self.url = str(ds.encoding.get("source", "<xarray.Dataset>"))
        self._tables = str(ds.attrs.get(TABLES_ATTR, "")).split()
        self._maps: dict[str, Map] = {}

    def has(self, hdu: str) -> bool:
        name = hdu.lower()
        return name in self.ds.data_vars or name in self._tables

    def _to_map(self, hdu: str) -> Map:
        name = hdu.lower()
        if name not in self._maps:
            self._maps[name] = to_map(self.ds[name])
        return self._maps[name]

    def shape(self, hdu: str) -> tuple[int, ...] | None:
        return self._to_map(hdu).geom.data_shape

    def read_map(self, hdu: str, chunks=None) -> Map:
        m = self._to_map(hdu)
        if chunks is None or chunks == m.chunks:
            return m
        return m.rechunk(chunks)

    def read_table(self, hdu: str) -> Table:
        return table_from_text(self.ds.attrs[hdu.lower()])

    def stored_name(self) -> str | None:
        return self.ds.attrs.get("name")

    def stored_meta(self) -> dict:
        meta = self.ds.attrs.get("meta")
        return decode_meta(meta) if isinstance(meta, str) else {}


@xr.register_dataset_accessor("mapds")
class MapdsDatasetAccessor:
    """``ds.mapds``: the maps and the dataset behind a Dataset opened with ``engine="mapds"``.

    Parameters
    ----------
    dataset : xarray.Dataset
        A Dataset in the ``mapds`` engine's layout (also after ``sel``/``isel`` along axes,
        ``to_zarr``/``open_zarr`` or ``to_netcdf``/``open_dataset`` round trips).
    """

    def __init__(self, dataset: xr.Dataset):
        self._obj = dataset

    def to_maps(self) -> dict[str, Map]:
        """One lazy :class:`~mapds.maps.Map` per map variable (spatial dimensions last)."""
        return {
            str(name): to_map(var)
            for name, var in self._obj.data_vars.items()
            if tuple(map_dataarray(var).dims[-2:]) == SPATIAL_DIMS
        }

    def to_dataset(self, name: str | None = None) -> MapDataset:
        """The :class:`~mapds.datasets.MapDataset` (or ``SpectrumDataset`` when the Dataset says
        so in ``attrs["type"]``), built from the variables as ``MapDataset.read`` builds it
        from a file; nothing is read.

        Parameters
        ----------
        name : str, optional
            Dataset name (default: ``attrs["name"]``, else a random name).
        """
        contents = XarrayDatasetStore(self._obj).read()
        cls = SpectrumDataset if self._obj.attrs.get("type") == SpectrumDataset.tag else MapDataset
        return cls(
            name=name or contents.name,
            gti=contents.gti,
            meta_table=contents.meta_table,
            meta=contents.meta,
            **contents.members,
        )

    def gti(self) -> GTI | None:
        """The good time intervals stored in the attributes, if any."""
        store = XarrayDatasetStore(self._obj)
        return GTI.from_table_hdu(store.read_table("GTI")) if store.has("GTI") else None

    def sel_sky(self, position: SkyCoord, width=None, *, mode: str = "trim") -> xr.Dataset:
        """Every map variable selected around a sky position, each on its own grid.

        See :func:`mapds.maps.accessor.sel_sky`: without ``width`` the pixel nearest to
        ``position`` (spatial dimensions dropped), with it a cutout (the coarse IRF grids get
        their own, coarser cutout).  Variables without spatial dimensions are kept as they are.

        Returns
        -------
        xarray.Dataset
            A view, renamed again as the engine names a Dataset; attributes kept.
        """
        arrays = {}
        for name, var in self._obj.data_vars.items():
            canonical = map_dataarray(var)
            if tuple(canonical.dims[-2:]) == SPATIAL_DIMS:
                canonical = sel_sky(canonical, position, width, mode=mode)
            arrays[str(name)] = canonical
        return combine_dataarrays(arrays, attrs=self._obj.attrs)
