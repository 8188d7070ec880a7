"""Dataset files: gammapy's gadf FITS layout and zarr groups, read lazily and written streamed.

FITS (gammapy's layout): ``PRIMARY`` (``NAME``), then only for the members present, in
this order: ``COUNTS``, ``EXPOSURE``, ``BACKGROUND``, ``EDISP`` (+ ``EDISP_EXPOSURE``), ``PSF``
(+ ``PSF_EXPOSURE``), ``MASK_SAFE``, ``MASK_FIT`` (each map with its ``_BANDS`` table, region
maps also with ``_REGION``), ``GTI``, ``META_TABLE``, and for on-off datasets ``COUNTS_OFF``,
``ACCEPTANCE``, ``ACCEPTANCE_OFF`` (no ``BACKGROUND``: it is derived); creation cards (``CREATOR``,
``CREATED``) on every HDU.  Masks are stored as int64 and read back as bool.

zarr: one group per dataset whose subgroups hold one map each, named after the lower-cased
HDU (``counts``, ``psf_exposure``...), plus the ``gti`` and ``meta_table`` tables; the
dataset name and creation info are attributes of the group.  ``xarray.open_zarr(url,
group="counts")`` opens any map directly.

Reading parses headers and small tables (bands, GTI, meta table, region maps) only; every
image stays on storage as a lazy map whose chunks read their own bytes.  The maps on the
counts grid are opened with the counts' chunks (the exposure with their spatial chunks), so
no rechunking is needed afterwards.
"""

from __future__ import annotations

import datetime
import importlib.metadata
from dataclasses import dataclass, field

from astropy.io import fits
from astropy.table import Table

from ..data import GTI
from ..errors import InvalidArgumentError
from ..io import FitsFile, LazyImageHDU, map_from_hdulist, map_to_hdus, write_fits
from ..io.formats import is_zarr
from ..io.urls import Location, resolve
from ..irf import EDispKernelMap, EDispMap, PSFMap, RecoPSFMap
from ..maps import Map
from ..maps.dataarray import SPATIAL_DIMS
from ..maps.meta import decode_meta, encode_meta

__all__ = [
    "FORMATS",
    "MAP_MEMBERS",
    "ONOFF_MEMBERS",
    "DatasetContents",
    "DatasetStore",
    "creation_cards",
    "dataset_hdus",
    "dataset_to_hdulist",
    "hdulist_store",
    "open_dataset_store",
    "write_dataset",
]

#: Dataset file formats.
FORMATS = ("gadf", "zarr")

#: Map members and their HDU names, in gammapy's file order (IRFs are placed between them).
MAP_MEMBERS = {"counts": "COUNTS", "exposure": "EXPOSURE", "background": "BACKGROUND"}
MASK_MEMBERS = {"mask_safe": "MASK_SAFE", "mask_fit": "MASK_FIT"}
IRF_MEMBERS = {"edisp": "EDISP", "psf": "PSF"}
#: Members of on-off datasets, written after the GTI and meta table (gammapy's order).
ONOFF_MEMBERS = {"counts_off": "COUNTS_OFF", "acceptance": "ACCEPTANCE", "acceptance_off": "ACCEPTANCE_OFF"}
#: Members on the counts grid: the first one found sets the chunks of the others.
COUNTS_GRID = ("COUNTS", "BACKGROUND", "MASK_SAFE", "MASK_FIT", *ONOFF_MEMBERS.values())


def creation_cards() -> dict[str, str]:
    """``CREATOR`` and ``CREATED`` cards, as gammapy writes them (with mapds as creator)."""
    try:
        version = importlib.metadata.version("mapds")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        version = "unknown"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return {"CREATOR": f"mapds {version}", "CREATED": now}


# -- writing ---------------------------------------------------------------------------------------


def _irf_maps(irf) -> tuple[Map, Map | None]:
    irf_map = irf.psf_map if isinstance(irf, PSFMap) else irf.edisp_map
    return irf_map, irf.exposure_map


def _gti_hdu(gti: GTI, cards: dict) -> fits.BinTableHDU:
    """The GTI table with the creation cards before the time reference, as gammapy orders them."""
    hdu = gti.to_table_hdu()
    table = Table.read(hdu)
    reference = {key: hdu.header[key] for key in ("MJDREFI", "MJDREFF", "TIMESYS")}
    table.meta = {**cards, **reference}
    return fits.BinTableHDU(table, name="GTI")


def dataset_hdus(dataset) -> list:
    """The HDUs of a dataset file, in gammapy's order; images stay lazy (:class:`LazyImageHDU`).

    Parameters
    ----------
    dataset : `~mapds.datasets.MapDataset`
        The dataset.

    Returns
    -------
    list
        A primary HDU, then :class:`~mapds.io.LazyImageHDU` and astropy table HDUs, ready for
        :func:`~mapds.io.write_fits`.
    """
    cards = creation_cards()
    primary = fits.PrimaryHDU()
    primary.header["NAME"] = dataset.name
    hdus = []
    for member, hdu in _stored(dataset, MAP_MEMBERS).items():
        m = getattr(dataset, member)
        if m is not None:
            hdus += map_to_hdus(m, hdu=hdu)
    for member, hdu in IRF_MEMBERS.items():
        irf = getattr(dataset, member)
        if irf is None:
            continue
        irf_map, exposure_map = _irf_maps(irf)
        hdus += map_to_hdus(irf_map, hdu=hdu)
        if exposure_map is not None:
            hdus += map_to_hdus(exposure_map, hdu=f"{hdu}_EXPOSURE")
    for member, hdu in MASK_MEMBERS.items():
        m = getattr(dataset, member)
        if m is not None:
            hdus += map_to_hdus(m, hdu=hdu)
    for hdu in [primary, *hdus]:
        hdu.header.update(cards)
    if dataset.gti is not None:
        hdus.append(_gti_hdu(dataset.gti, cards))
    if dataset.meta_table is not None:
        meta_table = fits.BinTableHDU(dataset.meta_table, name="META_TABLE")
        meta_table.header.update(cards)
        hdus.append(meta_table)
    for member, hdu in _stored(dataset, ONOFF_MEMBERS).items():
        m = getattr(dataset, member)
        if m is not None:
            onoff = map_to_hdus(m, hdu=hdu)
            for h in onoff:
                h.header.update(cards)
            hdus += onoff
    return [primary, *hdus]


def _stored(dataset, members: dict) -> dict:
    """The entries of ``members`` the dataset holds as maps of its own (an on-off dataset's
    background is derived from its off counts, and not written)."""
    return {key: hdu for key, hdu in members.items() if key in dataset.map_members}


def dataset_to_hdulist(dataset) -> fits.HDUList:
    """The dataset file as an in-memory ``HDUList`` (computes every map)."""
    return fits.HDUList([h.to_astropy() if isinstance(h, LazyImageHDU) else h for h in dataset_hdus(dataset)])


def _zarr_maps(dataset) -> dict[str, Map]:
    maps = {}
    for member, hdu in _stored(dataset, {**MAP_MEMBERS, **MASK_MEMBERS, **ONOFF_MEMBERS}).items():
        if getattr(dataset, member) is not None:
            maps[hdu.lower()] = getattr(dataset, member)
    for member, hdu in IRF_MEMBERS.items():
        irf = getattr(dataset, member)
        if irf is not None:
            irf_map, exposure_map = _irf_maps(irf)
            maps[hdu.lower()] = irf_map
            if exposure_map is not None:
                maps[f"{hdu}_exposure".lower()] = exposure_map
    return maps


def write_dataset(
    dataset, filename, overwrite=False, checksum=False, *, format=None, storage_options=None
) -> None:
    """Write a dataset to FITS (gadf) or zarr, streaming the maps chunk by chunk, atomically.

    Parameters
    ----------
    dataset : `~mapds.datasets.MapDataset`
        The dataset.
    filename : str or os.PathLike
        Path or fsspec URL.
    overwrite : bool
        Replace an existing file; otherwise :class:`~mapds.errors.OverwriteError` (the existing
        file is never touched, also when the write fails part-way).
    checksum : bool
        Add FITS ``CHECKSUM``/``DATASUM`` cards.
    format : {None, "gadf", "zarr"}
        Default: ``zarr`` for a ``.zarr`` URL, else ``gadf``.
    storage_options : dict, optional
        fsspec options.
    """
    location = resolve(filename, storage_options)
    if format is None:
        format = "zarr" if is_zarr(location, must_exist=False) else "gadf"
    if format not in FORMATS:
        raise InvalidArgumentError(f"Unknown dataset format {format!r}; expected one of {FORMATS}")
    if format == "gadf":
        write_fits(location, dataset_hdus(dataset), overwrite=overwrite, checksum=checksum)
        return
    tables = {}
    if dataset.gti is not None:
        tables["gti"] = Table.read(dataset.gti.to_table_hdu())
    if dataset.meta_table is not None:
        tables["meta_table"] = dataset.meta_table
    attrs = {
        "name": dataset.name,
        "type": dataset.tag,
        "meta": encode_meta(dataset.meta),
        **{key.lower(): value for key, value in creation_cards().items()},
    }
    from ..io.zarr_store import write_zarr_group  # deferred: zarr is imported on first use

    write_zarr_group(location, _zarr_maps(dataset), attrs=attrs, tables=tables, overwrite=overwrite)


# -- reading ---------------------------------------------------------------------------------------


@dataclass
class DatasetContents:
    """What a dataset file holds, as constructor arguments.

    Attributes
    ----------
    members : dict
        Lazy maps and IRF maps by member name (``counts``, ``psf``...), only those present.
    name : str or None
        Name stored in the file.
    gti : `~mapds.data.GTI` or None
    meta_table : `~astropy.table.Table` or None
    meta : dict
    """

    members: dict = field(default_factory=dict)
    name: str | None = None
    gti: GTI | None = None
    meta_table: Table | None = None
    meta: dict = field(default_factory=dict)


def _aligned_chunks(reference: Map | None, shape: tuple[int, ...] | None, chunks):
    """Chunks for a stored map of ``shape``: the reference's when on the same grid (its spatial
    chunks when only the sky grid is the same, as for the exposure), else ``chunks``."""
    if reference is None or shape is None:
        return chunks
    if tuple(shape) == reference.geom.data_shape:
        return reference.chunks
    if tuple(shape[-2:]) == reference.geom.data_shape[-2:]:
        return dict(zip(SPATIAL_DIMS, reference.chunks[-2:], strict=True))
    return chunks


class DatasetStore:
    """An opened dataset file (FITS or zarr): headers and small tables read, maps on storage.

    Subclasses give :meth:`has`, :meth:`shape`, :meth:`read_map`, :meth:`read_table` and
    :meth:`stored_name` by HDU name (zarr groups use the lower-cased names).
    """

    url: str

    def has(self, hdu: str) -> bool:
        raise NotImplementedError

    def shape(self, hdu: str) -> tuple[int, ...] | None:
        """Data shape of a stored WCS map (None for region maps)."""
        raise NotImplementedError

    def read_map(self, hdu: str, chunks=None) -> Map:
        raise NotImplementedError

    def read_table(self, hdu: str) -> Table:
        raise NotImplementedError

    def stored_name(self) -> str | None:
        raise NotImplementedError

    def stored_meta(self) -> dict:
        return {}

    def _map(self, hdu: str, chunks, reference: Map | None) -> Map | None:
        if not self.has(hdu):
            return None
        m = self.read_map(hdu, chunks=_aligned_chunks(reference, self.shape(hdu), chunks))
        if hdu.startswith("MASK") and m.dtype != bool:
            m = m.astype(bool)
        return m

    def _irf(self, hdu: str, with_energy, without_energy):
        if not self.has(hdu):
            return None
        irf_map = self.read_map(hdu)
        exposure_hdu = f"{hdu}_EXPOSURE"
        exposure_map = self.read_map(exposure_hdu) if self.has(exposure_hdu) else None
        cls = with_energy if "energy" in irf_map.geom.axes.names else without_energy
        return cls(irf_map, exposure_map)

    def read_members(self, chunks=None) -> dict:
        """Lazy members (only those stored), chunked like the first map on the counts grid."""
        members = {}
        reference = None
        for hdu in COUNTS_GRID:
            m = self._map(hdu, chunks, reference)
            if m is not None:
                members[hdu.lower()] = m
                reference = m if reference is None else reference
        exposure = self._map("EXPOSURE", chunks, reference)
        if exposure is not None:
            if exposure.geom.axes.names[0] == "energy":
                # Files of old gammapy versions name the exposure's true-energy axis "energy".
                exposure = exposure.copy(geom=exposure.geom.rename_axes("energy", "energy_true"))
            members["exposure"] = exposure
        # gammapy's rule: an IRF map with a reco "energy" axis is a reco PSF / an EDisp kernel map.
        psf = self._irf("PSF", RecoPSFMap, PSFMap)
        if psf is not None:
            members["psf"] = psf
        edisp = self._irf("EDISP", EDispKernelMap, EDispMap)
        if edisp is not None:
            members["edisp"] = edisp
        return members

    def read(self, chunks=None) -> DatasetContents:
        """Everything the file holds, lazily."""
        gti = GTI.from_table_hdu(self.read_table("GTI")) if self.has("GTI") else None
        meta_table = self.read_table("META_TABLE") if self.has("META_TABLE") else None
        return DatasetContents(
            members=self.read_members(chunks),
            name=self.stored_name(),
            gti=gti,
            meta_table=meta_table,
            meta=self.stored_meta(),
        )


def _image_shape(header: fits.Header) -> tuple[int, ...] | None:
    """Data shape of a WCS image HDU from its header (None for region-map tables)."""
    if "CTYPE1" not in header or header.get("XTENSION", "IMAGE").strip() != "IMAGE":
        return None
    return tuple(int(header[f"NAXIS{i}"]) for i in range(int(header["NAXIS"]), 0, -1))


class FitsDatasetStore(DatasetStore):
    """A gadf FITS dataset file, opened once (headers scanned, data left on storage)."""

    def __init__(self, fits_file: FitsFile):
        self.fits_file = fits_file
        self.url = fits_file.url

    def has(self, hdu: str) -> bool:
        return hdu in self.fits_file

    def shape(self, hdu: str) -> tuple[int, ...] | None:
        return _image_shape(self.fits_file.header(hdu))

    def read_map(self, hdu: str, chunks=None) -> Map:
        return self.fits_file.read_map(hdu=hdu, chunks=chunks)

    def read_table(self, hdu: str) -> Table:
        return self.fits_file.read_table(hdu)

    def stored_name(self) -> str | None:
        return self.fits_file.header(0).get("NAME")


class HDUListDatasetStore(DatasetStore):
    """A dataset held in an in-memory ``HDUList``."""

    def __init__(self, hdulist: fits.HDUList):
        self.hdulist = hdulist
        self.url = hdulist.filename() or "<HDUList>"

    def has(self, hdu: str) -> bool:
        return hdu in self.hdulist

    def shape(self, hdu: str) -> tuple[int, ...] | None:
        return _image_shape(self.hdulist[hdu].header)

    def read_map(self, hdu: str, chunks=None) -> Map:
        return map_from_hdulist(self.hdulist, hdu=hdu, chunks=chunks)

    def read_table(self, hdu: str) -> Table:
        return Table.read(self.hdulist[hdu])

    def stored_name(self) -> str | None:
        return self.hdulist[0].header.get("NAME")


class ZarrDatasetStore(DatasetStore):
    """A dataset stored as a zarr group (see :func:`write_dataset`)."""

    def __init__(self, location: Location):
        from ..io.zarr_store import open_zarr_group  # deferred: zarr is imported on first use

        self.group = open_zarr_group(location)
        self.url = location.url

    def has(self, hdu: str) -> bool:
        return hdu.lower() in self.group

    def shape(self, hdu: str) -> tuple[int, ...] | None:
        return self.group.read_map(hdu.lower()).geom.data_shape

    def read_map(self, hdu: str, chunks=None) -> Map:
        return self.group.read_map(hdu.lower(), chunks=chunks)

    def read_table(self, hdu: str) -> Table:
        return self.group.read_table(hdu.lower())

    def stored_name(self) -> str | None:
        return self.group.attrs.get("name")

    def stored_meta(self) -> dict:
        return decode_meta(self.group.attrs.get("meta"))


def open_dataset_store(
    filename, format="gadf", checksum=False, *, storage_options=None, cache_dir=None
) -> DatasetStore:
    """Open a dataset file (FITS, plain or gzip, or a zarr group), reading metadata only.

    A ``.zarr`` URL (or ``format="zarr"``) is opened as zarr whatever ``format`` says, so that
    gammapy's default ``format="gadf"`` keeps working for both.
    """
    location = resolve(filename, storage_options)
    if format == "zarr" or is_zarr(location):
        return ZarrDatasetStore(location)
    if format != "gadf":
        raise InvalidArgumentError(f"Unknown dataset format {format!r}; expected one of {FORMATS}")
    return FitsDatasetStore(FitsFile.open(location, cache_dir=cache_dir, checksum=checksum))


def hdulist_store(hdulist: fits.HDUList, format="gadf") -> DatasetStore:
    """An in-memory ``HDUList`` seen as a dataset file."""
    if format != "gadf":
        raise InvalidArgumentError(f"Unknown dataset format {format!r} for an HDUList; expected 'gadf'")
    return HDUListDatasetStore(hdulist)
