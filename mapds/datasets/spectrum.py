"""`SpectrumDataset`: a `MapDataset` whose maps live on a `~mapds.geom.RegionGeom` (one region,
spectra along energy), as gammapy's ``SpectrumDataset``.

It is what ``MapDataset.to_spectrum_dataset`` returns.  Predicted counts and the statistic use
the same engine as map datasets; files are gammapy's gadf dataset files with region maps.
"""

from __future__ import annotations

from ..errors import GeometryError
from ..geom import RegionGeom
from .geoms import create_map_dataset_geoms
from .map_dataset import MapDataset

__all__ = ["SpectrumDataset"]


class SpectrumDataset(MapDataset):
    """Dataset for spectral (1D) fitting: counts, background, exposure and energy dispersion
    as region maps, with safe and fit masks.

    Same constructor as :class:`~mapds.datasets.MapDataset`; a PSF is not used.
    """

    tag = "SpectrumDataset"

    @classmethod
    def create(
        cls,
        geom,
        energy_axis_true=None,
        migra_axis=None,
        reference_time="2000-01-01",
        name=None,
        meta_table=None,
        *,
        chunks=None,
        **kwargs,
    ):
        """Spectrum dataset of zero maps on a region geometry (no PSF).

        Parameters
        ----------
        geom : `~mapds.geom.RegionGeom`
            Counts geometry (with an ``energy`` axis).
        energy_axis_true : `~mapds.geom.MapAxis`, optional
            True-energy axis (default: the reco axis renamed ``energy_true``).
        migra_axis : `~mapds.geom.MapAxis`, optional
            Migration axis: the energy dispersion becomes an `~mapds.irf.EDispMap`.
        reference_time : str or `~astropy.time.Time`
            Reference time of the (empty) GTI.
        name : str, optional
            Dataset name.
        meta_table : `~astropy.table.Table`, optional
            Observation table.
        chunks : optional, keyword-only
            Dask chunks of the counts-geometry maps.
        **kwargs
            Other arguments of :meth:`MapDataset.create` (IRF grid options, constructor arguments).
        """
        if not isinstance(geom, RegionGeom):
            raise GeometryError(
                f"SpectrumDataset needs a RegionGeom, got {type(geom).__name__}; use MapDataset instead"
            )
        grid_keys = ("binsz_irf", "rad_axis", "reco_psf")
        geom_options = {key: kwargs.pop(key) for key in grid_keys if key in kwargs}
        geoms = create_map_dataset_geoms(
            geom, energy_axis_true=energy_axis_true, migra_axis=migra_axis, **geom_options
        )
        del geoms["geom_psf"]  # spectra are not convolved: no PSF map to build
        return cls.from_geoms(
            **geoms, reference_time=reference_time, name=name, meta_table=meta_table, chunks=chunks, **kwargs
        )

    def cutout(self, *args, **kwargs):
        """Not supported for a spectrum dataset."""
        raise NotImplementedError("Method not supported on a spectrum dataset")

    def plot_residuals_spatial(self, *args, **kwargs):
        """Not supported for a spectrum dataset."""
        raise NotImplementedError("Method not supported on a spectrum dataset")

    def to_spectrum_dataset(self, *args, **kwargs):
        """Not supported: already a spectrum dataset."""
        raise NotImplementedError("Already a Spectrum Dataset. Method not supported")
