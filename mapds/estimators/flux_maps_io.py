"""FITS files of :class:`~mapds.estimators.FluxMaps` in gammapy's layout.

A file holds an empty primary HDU with the ``SED_TYPE`` card ("likelihood", "dnde", "e2dnde",
"flux" or "eflux") and ``MODEL`` (the YAML file of the reference model), then one image HDU per
quantity (``NORM``, ``NORM_ERR``... or ``DNDE``, ``DNDE_ERR``..., then ``TS``, ``SQRT_TS``,
``COUNTS``...), each followed by its own ``<NAME>_BANDS`` table, and a ``GTI`` table when the maps
have one.  The maps are written chunk by chunk into a temporary file published only once complete,
and read lazily (headers and bands tables only until computed).
"""

from __future__ import annotations

from astropy.io import fits

from ..data import GTI
from ..errors import OverwriteError
from ..io import FitsFile, map_to_hdus, write_fits
from ..io.paths import join, make_path, split
from ..io.urls import resolve
from ..modeling.models import Models

__all__ = ["default_model_filename", "flux_maps_hdus", "read_flux_maps", "write_flux_maps"]


def default_model_filename(filename: str) -> str:
    """The reference model file gammapy pairs with ``filename``: ``<filename>_model.yaml``."""
    return f"{filename}_model.yaml"


def flux_maps_hdus(flux_maps, sed_type=None, model_filename=None) -> list:
    """The HDUs of a flux maps file, images lazy (:class:`~mapds.io.LazyImageHDU`).

    Parameters
    ----------
    flux_maps : `~mapds.estimators.FluxMaps`
        The maps.
    sed_type : str, optional
        SED type of the written maps; default :attr:`FluxMaps.sed_type_init`.
    model_filename : str, optional
        Value of the primary ``MODEL`` card.
    """
    sed_type = flux_maps.sed_type_init if sed_type is None else sed_type
    primary = fits.PrimaryHDU()
    primary.header["SED_TYPE"] = sed_type
    if model_filename is not None:
        primary.header["MODEL"] = model_filename
    hdus: list = [primary]
    for name, m in flux_maps.to_maps(sed_type).items():
        hdus += map_to_hdus(m, hdu=name)
    if flux_maps.gti is not None and len(flux_maps.gti):
        hdus.append(flux_maps.gti.to_table_hdu(format="gadf"))
    return hdus


def write_flux_maps(
    flux_maps, filename, filename_model, overwrite, sed_type, checksum, storage_options
) -> None:
    """Write the reference model (YAML), then the maps (FITS), as gammapy does; see
    :meth:`FluxMaps.write`.  ``checksum`` also adds gammapy's ``checksum:`` line to the YAML file
    (gammapy 2.1 leaves it out, so that reading it back with ``checksum=True`` warns)."""
    if filename is None:
        raise ValueError("The filename is not defined.")
    filename = make_path(filename)
    location = resolve(filename, storage_options)
    if not overwrite and location.exists():
        raise OverwriteError(f"{location.url!r} exists; pass overwrite=True to replace it")
    filename_model = default_model_filename(filename) if filename_model is None else make_path(filename_model)
    hdus = flux_maps_hdus(flux_maps, sed_type=sed_type, model_filename=filename_model)
    Models([flux_maps.reference_model]).write(
        filename_model, overwrite=overwrite, write_covariance=False, checksum=checksum
    )
    write_fits(location, hdus, overwrite=overwrite, checksum=checksum)


def _model_path(model: str, filename: str) -> str:
    """The ``MODEL`` file as written (relative to the working directory, as gammapy reads it)
    or, when that does not exist, next to the FITS file."""
    model = make_path(model)
    if resolve(model).exists():
        return model
    candidate = join(split(filename)[0], split(model)[1])
    return candidate if resolve(candidate).exists() else model


def read_flux_maps(cls, filename, filename_model=None, checksum=False, *, storage_options=None):
    """Read a flux maps file lazily; see :meth:`FluxMaps.read`."""
    filename = make_path(filename)
    fits_file = FitsFile.open(filename, storage_options=storage_options, checksum=checksum)
    primary = fits_file.header(0)
    maps = {}
    for index, name in enumerate(fits_file.names):
        if index and fits_file.info_of(index).is_image and fits_file.has_data(index):
            maps[name.lower()] = fits_file.read_map(hdu=index)
    if filename_model is None and primary.get("MODEL"):
        filename_model = _model_path(primary["MODEL"], filename)
    reference_model = None
    if filename_model is not None:
        reference_model = Models.read(filename_model, checksum=checksum)[0]
    gti = GTI.from_table_hdu(fits_file.read_hdu("GTI")) if "GTI" in fits_file else None
    return cls.from_maps(
        maps=maps, sed_type=primary.get("SED_TYPE"), reference_model=reference_model, gti=gti
    )
