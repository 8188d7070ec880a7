"""`EDispKernel`: the energy dispersion matrix at one sky position (a small numpy array)."""

from __future__ import annotations

from typing import ClassVar

import astropy.units as u
import numpy as np

from ..errors import AxisError, GeometryMismatchError
from ..geom import MapAxes, MapAxis
from . import plotting
from .edisp_fold import fold_edisp, overlap_fraction
from .edisp_migra import gauss_migra_pdf, migra_pdf_to_kernel, normalize_migra_pdf

__all__ = ["EDispKernel"]

#: Migration axis on which :meth:`EDispKernel.from_gauss` integrates the Gaussian (gammapy's choice).
GAUSS_MIGRA_AXIS = MapAxis.from_bounds(1.0 / 3, 3, nbin=200, name="migra")


class EDispKernel:
    """Energy dispersion matrix ``R[i, k]``: probability that a photon of true-energy bin ``i``
    is reconstructed in reco-energy bin ``k``.

    Parameters
    ----------
    axes : sequence of MapAxis
        ``[energy_true, energy]``, in that order.
    data : array-like, shape ``(n_energy_true, n_energy)``
        The matrix.
    unit : str
        Unit of the values (dimensionless).
    """

    tag = "edisp_kernel"
    required_axes: ClassVar[list[str]] = ["energy_true", "energy"]

    def __init__(self, axes, data=0, unit=""):
        axes = MapAxes(axes)
        try:
            axes.assert_names(self.required_axes)
        except AxisError as exc:
            raise AxisError(f"EDispKernel: {exc}") from None
        data = np.asarray(data)
        if data.ndim == 0:
            data = np.full(axes.shape, data, dtype=float)
        elif data.shape != axes.shape:
            raise GeometryMismatchError(
                f"EDispKernel data shape {data.shape} does not match axes {axes.shape}"
            )
        self._axes = axes
        self.data = data
        self.unit = u.Unit(unit)

    @property
    def axes(self) -> MapAxes:
        """``[energy_true, energy]`` axes."""
        return self._axes

    @property
    def pdf_matrix(self) -> np.ndarray:
        """The matrix, rows true energy, columns reco energy."""
        return self.data

    def __repr__(self) -> str:
        return f"EDispKernel(shape={self.data.shape}, axes={self._axes.names})"

    def is_allclose(self, other: EDispKernel, rtol_axes=1e-3, atol_axes=1e-6, **kwargs) -> bool:
        """Same axes (within tolerances) and values (``np.allclose``)."""
        return self._axes.is_allclose(other.axes, rtol=rtol_axes, atol=atol_axes) and np.allclose(
            self.data, other.data, **kwargs
        )

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_diagonal_response(cls, energy_axis_true: MapAxis, energy_axis: MapAxis | None = None):
        """Perfect energy resolution: each true bin's linear width shared among the reco bins it
        overlaps (the identity when the binnings agree)."""
        energy_axis_true.assert_name("energy_true")
        if energy_axis is None:
            energy_axis = energy_axis_true.copy(name="energy")
        data = overlap_fraction(energy_axis.edges, energy_axis_true.edges)
        return cls(axes=[energy_axis_true, energy_axis], data=data)

    @classmethod
    def from_gauss(cls, energy_axis_true: MapAxis, energy_axis: MapAxis, sigma, bias, pdf_threshold=1e-6):
        """Gaussian dispersion in migration ``E_reco / E_true``.

        Parameters
        ----------
        energy_axis_true, energy_axis : MapAxis
            True and reco energy axes.
        sigma : float or ndarray
            Relative resolution (width of the migra Gaussian), scalar or one per true bin.
        bias : float or ndarray
            Mean migra − 1, scalar or one per true bin.
        pdf_threshold : float
            Migration densities below this are dropped.
        """
        migra_axis = GAUSS_MIGRA_AXIS
        pdf = gauss_migra_pdf(migra_axis.edges.value, sigma, bias, energy_axis_true.nbin, pdf_threshold)
        pdf = normalize_migra_pdf(pdf, migra_axis.bin_width.value)
        data = migra_pdf_to_kernel(pdf, migra_axis, energy_axis.edges, energy_axis_true.center)
        return cls(axes=[energy_axis_true, energy_axis], data=data)

    # -- moments --------------------------------------------------------------------------------

    def get_mean(self, energy_true) -> u.Quantity:
        """Mean reconstructed energy (of the reco bin centres) in the true bins of ``energy_true``
        (0 where a row is empty)."""
        idx = self._axes["energy_true"].coord_to_idx(energy_true)
        pdf = self.data[idx]
        norm = np.sum(pdf, axis=-1)
        total = np.sum(pdf * self._axes["energy"].center, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nan_to_num(total / norm)

    def get_bias(self, energy_true) -> u.Quantity:
        """Reconstruction bias ``(E_reco - E_true) / E_true`` of the mean reco energy, ``E_true``
        the centre of the true bin of ``energy_true``."""
        axis = self._axes["energy_true"]
        energy_true_bin = axis.center[axis.coord_to_idx(energy_true)]
        return (self.get_mean(energy_true) - energy_true_bin) / energy_true_bin

    # -- plots (matplotlib) ------------------------------------------------------------------------

    def plot_matrix(self, ax=None, add_cbar=False, axes_loc=None, kwargs_colorbar=None, **kwargs):
        """Draw the matrix, true energy along x and reco energy along y (gammapy's look).

        Parameters
        ----------
        ax : `~matplotlib.axes.Axes`, optional
            Axes (default: the current axes).
        add_cbar : bool
            Add a colour bar ("Probability density (A.U.)").
        axes_loc, kwargs_colorbar : dict, optional
            Colour bar placement and arguments.
        **kwargs
            ``pcolormesh`` arguments (defaults ``cmap="GnBu"``, ``PowerNorm(0.5)`` on [0, 1]).

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
        """
        return plotting.plot_edisp_matrix(self, ax, add_cbar, axes_loc, kwargs_colorbar, **kwargs)

    def plot_bias(self, ax=None, **kwargs):
        """Draw :meth:`get_bias` at the true-energy bin centres (``plot`` arguments; log x).

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
        """
        return plotting.plot_edisp_bias(self, ax, **kwargs)

    def peek(self, figsize=(15, 5)):
        """Bias and matrix side by side.

        Returns
        -------
        axes : `~numpy.ndarray` of `~matplotlib.axes.Axes`
            The bias and matrix axes (gammapy returns None).
        """
        return plotting.peek_edisp_kernel(self, figsize)

    # -- derived kernels ------------------------------------------------------------------------

    def pdf_in_safe_range(self, lo_threshold=None, hi_threshold=None) -> np.ndarray:
        """The matrix with reco bins outside ``[lo_threshold, hi_threshold]`` set to 0."""
        data = self.pdf_matrix.copy()
        if lo_threshold is None and hi_threshold is None:
            return data
        edges = self._axes["energy"].edges
        lo = edges[0] if lo_threshold is None else u.Quantity(lo_threshold)
        hi = edges[-1] if hi_threshold is None else u.Quantity(hi_threshold)
        data[:, (edges[:-1] < lo) | (edges[1:] > hi)] = 0
        return data

    def to_image(self, lo_threshold=None, hi_threshold=None) -> EDispKernel:
        """Matrix summed over the reco bins inside the thresholds (one reco bin)."""
        data = self.pdf_in_safe_range(lo_threshold, hi_threshold)
        return self.__class__(axes=self._axes.squash("energy"), data=data.sum(axis=1, keepdims=True))

    def fold(self, npred_true, axis: int = 0):
        """Fold true-energy counts into reco energy (see :func:`mapds.irf.edisp_fold.fold_edisp`)."""
        return fold_edisp(npred_true, self.pdf_matrix, axis=axis)
