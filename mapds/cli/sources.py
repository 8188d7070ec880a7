"""What an input of a command is (a dataset, a map, a datasets or models YAML file), opened lazily.

Shared by ``mapds info`` and ``mapds convert``: FITS files are told apart by their HDUs, zarr
stores by their groups, YAML files by their entries; nothing but metadata is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..datasets.io import DatasetStore
    from ..io import FitsFile
    from ..io.urls import Location

__all__ = [
    "AUXILIARY_SUFFIXES",
    "DATASET_HDUS",
    "YAML_SUFFIXES",
    "Source",
    "bytes_on_disk",
    "open_source",
    "read_source_map",
    "zarr_sizes",
]

#: Suffixes of the YAML files gammapy writes (datasets and models).
YAML_SUFFIXES = (".yaml", ".yml")
#: HDUs of gammapy's dataset files whose presence makes a FITS file a dataset.
DATASET_HDUS = ("COUNTS", "EXPOSURE", "BACKGROUND", "EDISP", "PSF", "MASK_SAFE", "MASK_FIT")
#: Tables that belong to a map (its energy bands, its region) rather than being one.
AUXILIARY_SUFFIXES = ("_BANDS", "_REGION")
_AUXILIARY_NAMES = ("EBOUNDS", "ENERGIES")


@dataclass
class Source:
    """An input opened for reading: where it is, its format and what it holds (metadata only).

    Attributes
    ----------
    location : Location
        The file or store.
    format : str
        ``"FITS"``, ``"FITS (gzip)"``, ``"zarr"`` or ``"YAML"``.
    kind : str
        ``"MapDataset"``, ``"Map"`` (one map or several independent ones), ``"Datasets"`` or
        ``"Models"``.
    fits_file : FitsFile, optional
        The opened FITS file.
    dataset_store : DatasetStore, optional
        The opened dataset (``kind == "MapDataset"``).
    map_names : list of str
        Stored names of the maps of a ``"Map"`` input (FITS HDUs or zarr variables).
    yaml : dict, optional
        The parsed YAML file.
    """

    location: Location
    format: str
    kind: str
    fits_file: FitsFile | None = None
    dataset_store: DatasetStore | None = None
    map_names: list[str] = field(default_factory=list)
    yaml: dict | None = None


def open_source(url: str, storage_options: dict | None = None) -> Source:
    """Open an input (headers and metadata only) and tell what it holds.

    Parameters
    ----------
    url : str
        Local path or fsspec URL of a FITS file (plain or gzip), a zarr store or a YAML file.
    storage_options : dict, optional
        fsspec options.

    Raises
    ------
    MissingFileError
        Nothing at ``url``.
    CorruptFileError
        Not a FITS file, zarr store or datasets/models YAML file.
    """
    from ..io.formats import is_zarr
    from ..io.urls import resolve

    location = resolve(url, storage_options)
    if location.path.rstrip("/").lower().endswith(YAML_SUFFIXES):
        return _open_yaml(location)
    if is_zarr(location):
        return _open_zarr(location)
    return _open_fits(location)


def _open_yaml(location: Location) -> Source:
    from ..errors import CorruptFileError
    from ..io.urls import storage_errors
    from ..modeling.yaml_io import load_yaml

    with storage_errors(location.url), location.fs.open(location.path, "rb") as f:
        raw = f.read()
    data = load_yaml(raw, source=location.url)
    if "datasets" in data:
        return Source(location, "YAML", "Datasets", yaml=data)
    if "components" in data:
        return Source(location, "YAML", "Models", yaml=data)
    raise CorruptFileError(
        f"{location.url!r} is neither a datasets file ('datasets:' list) nor a models file "
        f"('components:' list); its top-level keys are {sorted(map(str, data))}"
    )


def _open_zarr(location: Location) -> Source:
    from ..datasets.io import open_dataset_store
    from ..errors import CorruptFileError, MissingFileError

    if not location.exists():
        raise MissingFileError(f"No such zarr store: {location.url!r}")
    if not location.fs.exists(f"{location.path.rstrip('/')}/zarr.json"):
        raise CorruptFileError(f"{location.url!r} is not a zarr store: it has no zarr.json")
    try:
        store = open_dataset_store(location, format="zarr")
    except CorruptFileError as not_a_dataset:
        # A store of one map has no dataset attributes; a store without maps at its root is a
        # dataset group whose attributes are damaged, or no mapds store at all.
        names = _zarr_map_variables(location)
        if not names:
            raise not_a_dataset
        return Source(location, "zarr", "Map", map_names=names)
    return Source(location, "zarr", store.group.attrs.get("type", "MapDataset"), dataset_store=store)


def _zarr_map_variables(location: Location) -> list[str]:
    """The data variables at the root of a store that are maps (their last dimensions y, x)."""
    import xarray as xr

    from ..io.urls import storage_errors
    from ..io.zarr_store import damaged_metadata, zarr_store
    from ..maps.dataarray import SPATIAL_DIMS

    with storage_errors(location.url), damaged_metadata(location.url):
        ds = xr.open_zarr(zarr_store(location), chunks=None, consolidated=False, zarr_format=3)
    return [str(name) for name, variable in ds.data_vars.items() if variable.dims[-2:] == SPATIAL_DIMS]


def _open_fits(location: Location) -> Source:
    from ..datasets.io import FitsDatasetStore
    from ..errors import CorruptFileError
    from ..io import FitsFile

    if location.is_local and location.fs.isdir(location.path):
        raise CorruptFileError(
            f"{location.url!r} is a directory but not a zarr store (no zarr.json): give a FITS file, "
            "a zarr store or a YAML file"
        )
    fits_file = FitsFile.open(location)
    # A gzip file is served from its decompressed cache, whose HDUs keep no file offsets (a plain
    # file's data always start after at least one header block).
    format = "FITS (gzip)" if fits_file.info_of(0).data_offset == 0 else "FITS"
    if _is_dataset_file(fits_file):
        return Source(location, format, "MapDataset", fits_file, FitsDatasetStore(fits_file))
    names = _fits_map_hdus(fits_file)
    if not names:
        raise CorruptFileError(f"{location.url!r} holds no map: no image HDU with data, no region map")
    return Source(location, format, "Map", fits_file, map_names=names)


def _is_dataset_file(fits_file) -> bool:
    """A gammapy dataset file: member HDUs (COUNTS...) with a NAME card, GTI, or several of them.

    One member HDU alone is a map written under that name (``Map.write(hdu="COUNTS")``).
    """
    members = [name for name in fits_file.names if name in DATASET_HDUS]
    if not members:
        return False
    marked = "NAME" in fits_file.header(0) or "GTI" in fits_file or "META_TABLE" in fits_file
    return marked or len(members) > 1


def _fits_map_hdus(fits_file) -> list[str]:
    """Names of the HDUs holding a map: images with data and region maps (tables with bands)."""
    names = fits_file.names
    found = []
    for index, name in enumerate(names):
        info = fits_file.info_of(index)
        auxiliary = name in _AUXILIARY_NAMES or any(
            name.endswith(suffix) and name[: -len(suffix)] in names for suffix in AUXILIARY_SUFFIXES
        )
        region_map = info.is_table and ("BANDSHDU" in info.header or f"{name}_BANDS" in names)
        if not auxiliary and ((info.is_image and fits_file.has_data(index)) or region_map):
            found.append(name or str(index))
    return found


def read_source_map(source: Source, name: str, chunks=None):
    """A map of a ``"Map"`` input, lazily (``name`` from ``source.map_names``)."""
    from ..io.zarr_store import read_zarr_map

    if source.fits_file is not None:
        return source.fits_file.read_map(hdu=int(name) if name.isdigit() else name, chunks=chunks)
    return read_zarr_map(source.location, name=name, chunks=chunks)


def zarr_sizes(location: Location) -> dict[str, int]:
    """Bytes of a zarr store by top-level group or array (``""``: the root metadata), from its
    manifest (no listing; the manifest itself is not counted), else from a listing."""
    from ..io.integrity import MANIFEST_GROUP, read_manifest
    from ..io.urls import storage_errors

    manifest = read_manifest(location)
    if manifest is not None:
        keys = {key: size for key, (size, _) in {**manifest["files"], **manifest["chunks"]}.items()}
    else:
        root = location.path.rstrip("/")
        with storage_errors(location.url):
            listing = location.fs.find(root, detail=True)
        keys = {path[len(root) + 1 :]: int(info.get("size") or 0) for path, info in listing.items()}
    sizes: dict[str, int] = {}
    for key, size in keys.items():
        # The manifest's own group and the root metadata count in the total only.
        top = key.split("/")[0] if "/" in key and not key.startswith(MANIFEST_GROUP + "/") else ""
        sizes[top] = sizes.get(top, 0) + size
    return sizes


def bytes_on_disk(location: Location) -> int:
    """Bytes of a file, or of a zarr store's arrays and metadata (from its manifest if it has one)."""
    from ..io.formats import is_zarr

    if is_zarr(location):
        return sum(zarr_sizes(location).values())
    return int(location.info()["size"])
