"""`PSFKernel`: a small, normalised PSF image (per energy bin) used to convolve model maps.

Kernels live at one sky position and are tiny, so the data are a numpy array; the
:attr:`PSFKernel.psf_kernel_map` view wraps it in a :class:`~mapds.maps.Map` (one dask chunk)
for :meth:`~mapds.maps.Map.convolve`.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import Angle

from ..errors import GeometryMismatchError
from ..geom import WcsGeom
from ..geom.spherical import separation
from ..maps import Map
from .psf_kernel_math import block_sum, normalize_planes, spherical_gauss_shape

__all__ = ["PSFKernel", "centre_separation"]

#: gammapy's ``GaussianSpatialModel.evaluation_radius`` in units of sigma: the default kernel half-width.
GAUSS_EVALUATION_RADIUS_SIGMA = 5


def centre_separation(geom: WcsGeom) -> np.ndarray:
    """Angular distance (radians) of every pixel centre of ``geom``'s image to its centre."""
    image = geom.to_image()
    center = image.center_skydir
    coords = image.get_coord()
    return separation(
        center.spherical.lon.rad,
        center.spherical.lat.rad,
        np.deg2rad(u.Quantity(coords.lon, "deg").value),
        np.deg2rad(u.Quantity(coords.lat, "deg").value),
    ).reshape(image.data_shape[-2:])


class PSFKernel:
    """PSF kernel: an odd-sized image centred on the PSF, one plane per energy bin.

    Parameters
    ----------
    psf_kernel_map : `~mapds.maps.Map`
        The kernel (computed if lazy; kernels are small).
    normalize : bool
        Divide every plane by its sum (empty planes become 0).
    """

    def __init__(self, psf_kernel_map: Map, normalize=True):
        data = psf_kernel_map.compute(scheduler="sync").data
        self._geom = psf_kernel_map.geom
        self._unit = psf_kernel_map.unit
        self._data = normalize_planes(data) if normalize else data

    @classmethod
    def from_array(cls, geom: WcsGeom, data: np.ndarray, unit="", normalize=True) -> PSFKernel:
        """Kernel from a numpy array of shape ``geom.data_shape`` (no dask round trip)."""
        if data.shape != geom.data_shape:
            raise GeometryMismatchError(f"Kernel data shape {data.shape} differs from {geom.data_shape}")
        out = cls.__new__(cls)
        out._geom, out._unit = geom, u.Unit(unit)
        out._data = normalize_planes(data) if normalize else data
        return out

    def normalize(self) -> None:
        """Normalise every plane to a sum of 1, in place."""
        self._data = normalize_planes(self._data)

    @property
    def data(self) -> np.ndarray:
        """Kernel values, shape ``(n_energy, ny, nx)`` (or ``(ny, nx)``)."""
        return self._data

    @property
    def psf_kernel_map(self) -> Map:
        """The kernel as a :class:`~mapds.maps.Map` (one chunk over :attr:`data`)."""
        return Map.from_geom(self._geom, data=self._data, unit=self._unit, chunks=self._data.shape)

    def __repr__(self) -> str:
        return f"PSFKernel(axes={self._geom.axes_names}, shape={self._data.shape})"

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_spatial_model(cls, model, geom: WcsGeom, max_radius=None, factor=4) -> PSFKernel:
        """Kernel shaped like a spatial model (integrated on a ``factor``× finer grid).

        Parameters
        ----------
        model : SpatialModel
            Any model with ``evaluation_radius``, a settable ``position`` and
            ``integrate_geom(geom, oversampling_factor=1)``; it is moved to the kernel centre.
        geom : WcsGeom
            Target geometry (pixel size, non-spatial axes).
        max_radius : Angle, optional
            Kernel half-width; default the model's evaluation radius.
        factor : int
            Oversampling factor.
        """
        if max_radius is None:
            max_radius = model.evaluation_radius
        geom = geom.to_odd_npix(max_radius=max_radius)
        model.position = geom.center_skydir
        integrated = model.integrate_geom(geom.upsample(factor), oversampling_factor=1)
        values = np.asarray(getattr(integrated, "data", integrated))
        values = np.broadcast_to(values, geom.upsample(factor).data_shape)
        data = block_sum(np.asarray(u.Quantity(values).value, dtype=float), factor)
        return cls.from_array(geom, data)

    @classmethod
    def from_gauss(
        cls, geom: WcsGeom, sigma, max_radius=None, containment_fraction=None, factor=4
    ) -> PSFKernel:
        """Kernel of a symmetric spherical Gaussian of width ``sigma``.

        Parameters
        ----------
        geom : WcsGeom
            Target geometry (pixel size, non-spatial axes); the kernel is the same in every plane.
        sigma : Angle
            Gaussian width.
        max_radius : Angle, optional
            Kernel half-width.  Default: the radius enclosing ``containment_fraction`` if given,
            else 5 sigma (gammapy 2.x's default, the Gaussian model's evaluation radius).
        containment_fraction : float, optional
            Fraction of the (flat-sky) Gaussian the kernel must enclose when ``max_radius`` is
            not given (older gammapy versions used 0.99).
        factor : int
            The Gaussian is integrated on a ``factor``× finer grid (rectangle rule per sub-pixel).
        """
        sigma = Angle(sigma)
        if max_radius is None:
            if containment_fraction is None:
                max_radius = GAUSS_EVALUATION_RADIUS_SIGMA * sigma
            else:
                max_radius = sigma * np.sqrt(-2 * np.log(1 - containment_fraction))
        geom = geom.to_odd_npix(max_radius=max_radius)
        fine = geom.to_image().upsample(factor)
        solid_angle = fine.solid_angle().to_value("sr").reshape(fine.data_shape)
        image = block_sum(spherical_gauss_shape(centre_separation(fine), sigma.rad) * solid_angle, factor)
        return cls.from_array(geom, np.broadcast_to(image, geom.data_shape).copy())

    @classmethod
    def read(cls, *args, **kwargs) -> PSFKernel:
        """Read a kernel map (see :meth:`~mapds.maps.Map.read`)."""
        return cls(Map.read(*args, **kwargs))

    def write(self, *args, **kwargs) -> None:
        """Write the kernel map (see :meth:`~mapds.maps.Map.write`)."""
        self.psf_kernel_map.write(*args, **kwargs)

    # -- derived kernels ------------------------------------------------------------------------

    def _energy_axis(self):
        for axis in self._geom.axes:
            if "energy" in axis.name:
                return axis
        raise GeometryMismatchError(f"PSFKernel has no energy axis: {self._geom.axes.names}")

    def to_image(self, spectral_model=None, exposure=None, keepdims=True) -> PSFKernel:
        """Kernel averaged over energy with spectrum × exposure weights.

        Parameters
        ----------
        spectral_model : SpectralModel, optional
            Any model with ``integral(energy_min, energy_max)``; default a power law of index 2.
        exposure : Quantity or ndarray, optional
            Exposure per energy bin; default uniform.
        keepdims : bool
            Keep the energy axis as a single bin.
        """
        axis = self._energy_axis()
        lo, hi = axis.edges[:-1], axis.edges[1:]
        if spectral_model is None:
            # Integral of E^-2 over each bin; the power law's amplitude cancels in the weights.
            weights = (1 / lo - 1 / hi).value
        else:
            weights = u.Quantity(spectral_model.integral(energy_min=lo, energy_max=hi))
        exposure = u.Quantity(np.ones(axis.nbin) if exposure is None else exposure)
        if exposure.shape != (axis.nbin,):
            raise ValueError(
                f"Incorrect exposure_array shape: expected ({axis.nbin},) for the "
                f"{axis.name!r} axis, got {exposure.shape}"
            )
        weights = weights * exposure
        weights = u.Quantity(weights / weights.sum()).to_value("")
        data = np.tensordot(weights, self._data, axes=(0, 0))
        geom = self._geom.squash(axis.name) if keepdims else self._geom.to_image()
        return self.from_array(geom, data.reshape(geom.data_shape), unit=self._unit)

    def slice_by_idx(self, slices: dict) -> PSFKernel:
        """Kernel restricted to some energy bins (see :meth:`~mapds.maps.Map.slice_by_idx`)."""
        return self.__class__(self.psf_kernel_map.slice_by_idx(slices))

    def containment_radius(self, fraction=0.68) -> Angle:
        """Smallest radius (pixel-centre distance from the kernel centre) enclosing ``fraction``
        of each plane; one value per energy bin (a mapds addition, e.g. to size cutouts)."""
        theta = np.rad2deg(centre_separation(self._geom)).ravel()
        order = np.argsort(theta, kind="stable")
        planes = self._data.reshape(-1, theta.size)[:, order]
        enclosed = np.cumsum(planes, axis=1)
        idx = np.argmax(enclosed >= fraction * enclosed[:, -1:], axis=1)
        radius = Angle(theta[order][idx], "deg")
        return radius if self._data.ndim > 2 else radius[0]
