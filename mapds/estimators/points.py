"""`FluxPoints`: flux estimates in energy bins, gammapy's class on region maps.

As in gammapy, flux points are `FluxMaps` whose geometry is a `RegionGeom` without a region and
with an energy axis: every quantity and SED-type conversion of `FluxMaps` works on them
(``fp.dnde``, ``fp.flux_ul``, ``fp.sqrt_ts``...), and they read and write gammapy's "gadf-sed"
tables (:mod:`.points_io`).
"""

from __future__ import annotations

from .flux_maps import FluxMaps
from .points_io import flux_points_table, read_table, table_to_flux_points, write_table

__all__ = ["FluxPoints"]


class FluxPoints(FluxMaps):
    """Flux points: norms (and related quantities) per energy bin with a reference model.

    Build them with :meth:`from_table`, :meth:`read` or `~mapds.estimators.FluxPointsEstimator`.
    The tables hold one row per energy bin in gammapy's "gadf-sed" format: ``e_ref`` and
    ``dnde`` for "dnde" (``e2dnde`` likewise), ``e_min``, ``e_max`` and ``flux`` for "flux"
    (``eflux`` likewise), and the norms with the reference fluxes for "likelihood".

    Parameters
    ----------
    data : dict of RegionNDMap
        The quantities (``norm`` required).
    reference_model : SkyModel or SpectralModel
        Reference model of the norms.
    meta : dict, optional
        Metadata (``n_sigma``, ``n_sigma_ul``, ``sed_type_init``...).
    gti : GTI, optional
        Time intervals of the data.
    """

    @property
    def has_stat_profiles(self) -> bool:
        """Whether statistic profiles (``stat_scan``) are held."""
        return "stat_scan" in self._data

    @property
    def is_convertible_to_flux_sed_type(self) -> bool:
        """Whether integral SED types can be computed (not from differential points without
        bin edges)."""
        if self.sed_type_init in ("dnde", "e2dnde"):
            return self.energy_axis.node_type == "edges"
        return True

    @classmethod
    def from_table(cls, table, sed_type=None, format=None, reference_model=None, gti=None) -> FluxPoints:
        """Flux points from a "gadf-sed" table.

        Parameters
        ----------
        table : `~astropy.table.Table`
            The table; its columns must match the SED type.
        sed_type : {None, "likelihood", "dnde", "e2dnde", "flux", "eflux"}
            SED type; default the ``SED_TYPE`` meta, else guessed from the columns.
        format : {None, "gadf-sed"}
            Table format (light curves and profiles are not supported yet).
        reference_model : SpectralModel, optional
            Reference model; default for "likelihood" a template of ``ref_dnde`` at ``e_ref``,
            otherwise a power law of index 2.
        gti : GTI, optional
            Time intervals.
        """
        return table_to_flux_points(cls, table, sed_type, format, reference_model, gti)

    def to_table(self, sed_type=None, format=None, formatted=False):
        """The flux points as a "gadf-sed" table of ``sed_type`` (default :attr:`sed_type_init`).

        ``formatted`` sets gammapy's display formats (``.3e`` fluxes, ``.3f`` energies and norms).
        """
        return flux_points_table(self, sed_type=sed_type, format=format, formatted=formatted)

    @classmethod
    def read(cls, filename, sed_type=None, format=None, reference_model=None, checksum=False,
             table_format="ascii.ecsv", **kwargs) -> FluxPoints:  # fmt: skip
        """Read flux points written by gammapy or mapds (ECSV or other text tables, or FITS).

        Parameters
        ----------
        filename : str or os.PathLike
            File name.
        sed_type, format, reference_model
            See :meth:`from_table`.
        checksum : bool
            Verify the FITS checksums.
        table_format : str
            astropy format tried first (a FITS file is read when it fails).
        **kwargs
            Passed to `astropy.table.Table.read`.
        """
        table, gti = read_table(filename, checksum=checksum, table_format=table_format, **kwargs)
        return cls.from_table(
            table, sed_type=sed_type, format=format, reference_model=reference_model, gti=gti
        )

    def write(self, filename, sed_type=None, format=None, overwrite=False, checksum=False) -> None:
        """Write the flux points as gammapy does: FITS for a ``.fits`` name (``FLUXPOINTS`` and
        ``GTI`` HDUs), else the astropy table format of the name (``.ecsv``...).

        Raises
        ------
        OverwriteError
            The file exists and ``overwrite`` is False.
        """
        table = self.to_table(sed_type=sed_type, format=format)
        write_table(table, self.gti, filename, overwrite=overwrite, checksum=checksum)
