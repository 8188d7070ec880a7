"""`SpectrumDataset`: a `MapDataset` whose maps live on a `~mapds.geom.RegionGeom` (one region,
spectra along energy), as gammapy's ``SpectrumDataset``.

It is what ``MapDataset.to_spectrum_dataset`` returns.  Predicted counts and the statistic use
the same engine as map datasets; files are gammapy's gadf dataset files with region maps.
"""

from __future__ import annotations

from ..errors import GeometryError
from ..geom import RegionGeom
from . import plotting
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

    # -- plots (matplotlib) ------------------------------------------------------------------------

    def plot_counts(self, ax=None, kwargs_counts=None, kwargs_background=None, **kwargs):
        """Counts and background as step histograms (computed together).

        Parameters
        ----------
        ax : `~matplotlib.axes.Axes`, optional
            Axes (default: the current axes).
        kwargs_counts, kwargs_background : dict, optional
            ``hist`` arguments of each histogram (labels "Counts" and "Background").
        **kwargs
            ``hist`` arguments of both.

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
        """
        return plotting.plot_counts(self, ax, kwargs_counts, kwargs_background, **kwargs)

    def plot_excess(self, ax=None, kwargs_excess=None, kwargs_npred_signal=None, **kwargs):
        """Excess ``counts - background`` with ``sqrt(counts)`` error bars, and the predicted
        signal as a step histogram (computed together).

        Parameters
        ----------
        ax : `~matplotlib.axes.Axes`, optional
            Axes (default: the current axes).
        kwargs_excess : dict, optional
            ``errorbar`` arguments of the excess (label "Excess counts").
        kwargs_npred_signal : dict, optional
            ``hist`` arguments of the signal (label "Predicted signal counts").
        **kwargs
            Arguments of both.

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
        """
        return plotting.plot_excess(self, ax, kwargs_excess, kwargs_npred_signal, **kwargs)

    def plot_masks(self, ax=None, kwargs_fit=None, kwargs_safe=None):
        """Shade the energy ranges of the fit mask (green) and safe mask (black).

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
        """
        return plotting.plot_masks(self, ax, kwargs_fit, kwargs_safe)

    def plot_fit(self, ax_spectrum=None, ax_residuals=None, kwargs_spectrum=None, kwargs_residuals=None):
        """:meth:`plot_excess` above, :meth:`plot_residuals_spectral` below, masks shaded; every
        spectrum computed in one pass.

        Parameters
        ----------
        ax_spectrum, ax_residuals : `~matplotlib.axes.Axes`, optional
            Both or neither (default: the current figure, cleared, or a new 8 × 7 inch figure).
        kwargs_spectrum : dict, optional
            Arguments of :meth:`plot_excess`.
        kwargs_residuals : dict, optional
            Arguments of :meth:`plot_residuals_spectral` (``method``, ``region``, ``errorbar``
            arguments).

        Returns
        -------
        ax_spectrum, ax_residuals : `~matplotlib.axes.Axes`
        """
        return plotting.plot_fit(self, ax_spectrum, ax_residuals, kwargs_spectrum, kwargs_residuals)

    def peek(self, figsize=(16, 4)):
        """Counts with the masks, the exposure, and the energy dispersion matrix side by side.

        Returns
        -------
        axes : `~numpy.ndarray` of `~matplotlib.axes.Axes`
            The three panels (gammapy returns None).
        """
        return plotting.peek_spectrum_dataset(self, figsize=figsize)

    def plot_residuals_spatial(self, *args, **kwargs):
        """Not supported for a spectrum dataset."""
        raise NotImplementedError("Method not supported on a spectrum dataset")

    def to_spectrum_dataset(self, *args, **kwargs):
        """Not supported: already a spectrum dataset."""
        raise NotImplementedError("Already a Spectrum Dataset. Method not supported")
