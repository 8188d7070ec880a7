"""`PSFMap` and `RecoPSFMap`: the PSF as a function of offset ``rad``, energy and sky position.

The map is lazy; a kernel or containment lookup at one position reads the (at most 2 × 2) IRF
pixels around it, reduces them to one radial profile per energy, and builds everything else from
that small ``(n_energy, n_rad)`` table with the pure functions of :mod:`mapds.irf.containment`
and :mod:`mapds.irf.psf_kernel_math`.
"""

from __future__ import annotations

from typing import ClassVar

import astropy.units as u
import numpy as np

from ..errors import AxisError, GeometryMismatchError
from ..geom import MapAxis, RegionGeom, WcsGeom
from ..geom.scale import scale
from ..geom.spherical import separation
from ..geom.wcs import round_up_to_odd
from ..maps import Map
from . import containment as containment_math
from . import plotting
from .default_axes import RAD_AXIS_DEFAULT
from .grid_interp import interp_on_grid, node_neighbours, pixel_neighbours
from .irf_map import IRFMap, broadcast_lazy, quiet_divide
from .psf_kernel import PSFKernel
from .psf_kernel_math import (
    block_sum,
    flat_gauss_density,
    paste_centred,
    sample_radial_profile,
    upsampling_factors,
)

__all__ = ["PSFMap", "RecoPSFMap"]


def _pixel_energy_neighbours(axis: MapAxis, energy):
    """Energy neighbours as gammapy's map interpolation finds them (axis pixel coordinates)."""
    energy = u.Quantity(energy, axis.unit)
    return pixel_neighbours(axis.coord_to_pix(energy).reshape(energy.shape), axis.nbin)


def _node_energy_neighbours(axis: MapAxis, energy):
    """Energy neighbours as gammapy's IRF interpolation finds them (between bin centres, in the
    axis' scale), and whether each energy lies on the axis."""
    energy = u.Quantity(energy, axis.unit)
    i0, t = node_neighbours(scale(energy.value, axis.interp), scale(axis.center.value, axis.interp))
    valid = axis.coord_to_idx(energy).reshape(energy.shape) != -1
    return i0, t, valid


class PSFMap(IRFMap):
    """PSF map: probability density per solid angle (``sr-1``) versus offset ``rad``, true
    energy and sky position.

    Parameters
    ----------
    psf_map : `~mapds.maps.Map`
        Map with axes ``["rad", "energy_true"]`` (data ``(n_energy, n_rad, ny, nx)``).
    exposure_map : `~mapds.maps.Map`, optional
        Exposure with ``rad`` squashed to one bin; needed for stacking.
    """

    tag = "psf_map"
    required_axes: ClassVar[list[str]] = ["rad", "energy_true"]
    hdu_name = "PSF"

    def __init__(self, psf_map: Map, exposure_map: Map | None = None):
        super().__init__(psf_map, exposure_map)

    @property
    def energy_name(self) -> str:
        """Name of the energy axis (``energy_true``, or ``energy`` for a reco PSF)."""
        return self.required_axes[-1]

    @property
    def psf_map(self) -> Map:
        """The PSF map."""
        return self._irf_map

    @psf_map.setter
    def psf_map(self, value: Map) -> None:
        self._replace_irf_map(value)

    @classmethod
    def _class_for(cls, irf_map: Map):
        return RecoPSFMap if "energy" in irf_map.geom.axes.names else cls

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_geom(cls, geom, *, chunks=None):
        """Empty PSF map (zeros, ``sr-1``) with a zero exposure map (``m2 s``)."""
        psf_map = Map.from_geom(geom, unit="sr-1", chunks=chunks)
        exposure_map = Map.from_geom(geom.squash("rad"), unit="m2 s", chunks=chunks)
        return cls(psf_map, exposure_map)

    @classmethod
    def from_gauss(cls, energy_axis_true, rad_axis=None, sigma=0.1 * u.deg, geom=None, *, chunks=None):
        """PSF map of a flat-sky Gaussian, the same at every position, with unit exposure.

        Parameters
        ----------
        energy_axis_true : MapAxis
            Energy axis (``energy`` for :class:`RecoPSFMap`).
        rad_axis : MapAxis, optional
            Offset axis; default :data:`~mapds.irf.default_axes.RAD_AXIS_DEFAULT`.
        sigma : Angle
            Width, scalar or one per energy bin.
        geom : WcsGeom, optional
            Image grid; default an all-sky 2 × 1 pixel grid.
        chunks : optional, keyword-only
            Dask chunks; the data are a broadcast of one small profile, nothing is computed.
        """
        rad_axis = RAD_AXIS_DEFAULT if rad_axis is None else rad_axis
        if geom is None:
            geom = WcsGeom.create(npix=(2, 1), proj="CAR", binsz=180)
        geom = geom.to_image().to_cube([rad_axis, energy_axis_true])
        sigma = u.Quantity(sigma, "deg").reshape((-1, 1))
        profile = flat_gauss_density(rad_axis.center.reshape((1, -1)), sigma).to_value("sr-1")
        profile = np.broadcast_to(profile, geom.data_shape[:2])
        psf_data = broadcast_lazy(profile[..., np.newaxis, np.newaxis], geom, chunks)
        exposure_geom = geom.squash("rad")
        exposure_data = broadcast_lazy(np.ones((1, 1, 1, 1)), exposure_geom, chunks)
        psf_map = Map.from_geom(geom, data=psf_data, unit="sr-1")
        exposure_map = Map.from_geom(exposure_geom, data=exposure_data, unit="m2 s")
        return cls(psf_map, exposure_map)

    # -- lookups at one position ----------------------------------------------------------------

    def _profiles_at(self, position, move_to_valid=False):
        """Radial profiles ``(n_energy, n_rad)`` at ``position`` (default: the map centre), their
        cumulative integrals, and whether the position is on the IRF grid.

        With ``move_to_valid`` a position where the PSF is empty moves to the nearest pixel
        where it is defined (as for kernels).
        """
        geom = self.psf_map.geom
        if len(geom.axes) != 2:
            raise AxisError(
                f"{type(self).__name__} lookups support only the axes {self.required_axes}, "
                f"got {geom.axes.names}"
            )
        if position is None and not isinstance(geom, RegionGeom):
            position = geom.center_skydir
        window = self._valid_window(position)[0] if move_to_valid else self._window(position)
        profile = window.interpolated()
        cumsum = containment_math.radial_cumsum(profile, geom.axes["rad"], self.psf_map.unit)
        return profile, cumsum, window.on_grid

    def _containment(self, rad, energy, position=None) -> u.Quantity:
        _, cumsum, _ = self._profiles_at(position)
        rad_axis = self.psf_map.geom.axes["rad"]
        e_i0, e_t = _pixel_energy_neighbours(self.psf_map.geom.axes[self.energy_name], energy)
        values = containment_math.containment_fraction(
            cumsum, rad_axis, u.Quantity(rad, rad_axis.unit), e_i0, e_t
        )
        return u.Quantity(values, "")

    def _containment_radius(self, fraction, energy, position=None) -> u.Quantity:
        _, cumsum, on_grid = self._profiles_at(position)
        return self._radius_from_cumsum(cumsum, on_grid, fraction, energy)

    def _radius_from_cumsum(self, cumsum, on_grid, fraction, energy) -> u.Quantity:
        geom = self.psf_map.geom
        e_i0, e_t, valid = _node_energy_neighbours(geom.axes[self.energy_name], energy)
        return containment_math.containment_radius(
            cumsum, geom.axes["rad"], fraction, e_i0, e_t, valid & on_grid
        )

    def containment(self, rad, energy_true, position=None) -> u.Quantity:
        """Fraction of the PSF within ``rad`` at ``energy_true`` and ``position`` (default: the
        map centre); ``rad`` and ``energy_true`` broadcast."""
        return self._containment(rad, energy_true, position)

    def containment_radius(self, fraction, energy_true, position=None) -> u.Quantity:
        """Radius enclosing ``fraction`` of the PSF (searched on the ×20 upsampled ``rad`` axis)."""
        return self._containment_radius(fraction, energy_true, position)

    def containment_radius_map(self, energy_true, fraction=0.68) -> Map:
        """Radius enclosing ``fraction`` of the PSF at ``energy_true``, at every pixel centre of
        the PSF map's image grid (lazy: one task per spatial chunk of the PSF map).

        The numbers of :meth:`containment_radius` at each pixel centre (where the spatial
        interpolation gives the pixel's own profile).
        """
        geom = self.psf_map.geom
        rad_axis = geom.axes["rad"]
        e_i0, e_t, valid = _node_energy_neighbours(geom.axes[self.energy_name], u.Quantity(energy_true))
        e_i0, e_t = int(e_i0), float(e_t)
        e_i1 = min(e_i0 + 1, geom.axes[self.energy_name].nbin - 1)
        unit = self.psf_map.unit

        def radii(psf: np.ndarray) -> np.ndarray:
            profiles = np.moveaxis(np.nan_to_num(psf), (0, 1), (-2, -1))  # (ny, nx, energy, rad)
            cumsum = containment_math.radial_cumsum(profiles, rad_axis, unit)
            # The cumulative table enters the radius search linearly, so interpolating it in
            # energy first gives the same numbers; each pixel is then one row of the table,
            # read with weight 0 on the next row.
            at_energy = (1.0 - e_t) * cumsum[..., e_i0, :] + e_t * cumsum[..., e_i1, :]
            rows = at_energy.reshape(-1, rad_axis.nbin)
            n = rows.shape[0]
            radius = containment_math.containment_radius(
                rows, rad_axis, fraction, np.arange(n), np.zeros(n), np.full(n, bool(valid))
            )
            return radius.to_value("deg").reshape(psf.shape[-2:])

        data = self.psf_map.dask_data.rechunk({0: -1, 1: -1})
        return Map.from_geom(
            geom.to_image(), data=data.map_blocks(radii, drop_axis=(0, 1), dtype=float), unit="deg"
        )

    def get_psf_kernel(
        self, geom, position=None, max_radius=None, containment=0.999, precision_factor=12
    ) -> PSFKernel:
        """PSF kernel for maps of geometry ``geom`` at ``position`` (default: the map centre).

        Per energy plane ``j`` the kernel covers a square of half-width ``r_j`` (the containment
        radius at the PSF map's ``j``-th energy, at most ``max_radius``) on a sub-grid refined
        ``f_j = min(ceil(precision_factor / (2 R68_j / pixel)), 4)`` times; the PSF is
        interpolated linearly in (IRF pixel, ``rad``, energy) at the sub-pixel distances from the
        kernel centre, summed back into pixels, and every plane normalised.  Kernel plane ``j``
        is evaluated at the target geometry's ``j``-th energy; planes beyond the PSF map's
        number of energies stay empty (gammapy's pairing by index).

        Parameters
        ----------
        geom : WcsGeom
            Geometry of the maps to convolve (pixel size, energy axis).
        position : SkyCoord, optional
            Where to evaluate the PSF; moved to the nearest IRF pixel with a defined PSF.
        max_radius : Angle, optional
            Kernel half-width; default the largest containment radius.
        containment : float
            Containment fraction that sets the kernel size.
        precision_factor : int
            Sub-pixels per 68 % containment diameter.
        """
        if not isinstance(geom, WcsGeom):
            raise GeometryMismatchError(
                f"get_psf_kernel needs a WcsGeom target geometry, got {type(geom).__name__}"
            )
        if self.energy_name not in geom.axes.names:
            raise AxisError(
                f"get_psf_kernel: target geometry has axes {geom.axes.names}, "
                f"expected an {self.energy_name!r} axis"
            )
        profile, cumsum, on_grid = self._profiles_at(position, move_to_valid=True)
        psf_energy_axis = self.psf_map.geom.axes[self.energy_name]
        energy_axis = geom.axes[self.energy_name]
        radii = self._radius_from_cumsum(cumsum, on_grid, containment, psf_energy_axis.center)
        if max_radius is None:
            max_radius = radii.max()
        else:
            max_radius = u.Quantity(max_radius, radii.unit)
            radii = np.minimum(radii, max_radius)
        pixel_size = geom.pixel_scales.max()
        r68 = self._radius_from_cumsum(cumsum, on_grid, 0.68, energy_axis.center)
        factors = upsampling_factors(r68.to_value("deg"), pixel_size.deg, precision_factor)
        kernel_geom = geom.to_odd_npix(max_radius=max_radius)
        npix = int(kernel_geom.data_shape[-1])
        n_planes = min(energy_axis.nbin, psf_energy_axis.nbin)
        plane_npix = round_up_to_odd((2 * radii[:n_planes] / pixel_size).to_value(""))

        e_i0, e_t = _pixel_energy_neighbours(psf_energy_axis, energy_axis.center[:n_planes])
        profiles = interp_on_grid(profile, e_i0, e_t, axis=0)
        rad_pix = self._sub_pixel_rad_pix(kernel_geom, plane_npix, factors[:n_planes])
        planes = [None] * energy_axis.nbin
        for j in range(n_planes):
            sampled = sample_radial_profile(profiles[j], rad_pix[j])
            planes[j] = block_sum(sampled, factors[j]).astype("float32")
        data = paste_centred(planes, npix).reshape(kernel_geom.data_shape)
        return PSFKernel.from_array(kernel_geom, data)

    def _sub_pixel_rad_pix(self, kernel_geom, plane_npix, factors) -> list[np.ndarray]:
        """``rad`` pixel coordinate of every sub-pixel of every kernel plane.

        Sub-grids sharing an upsampling factor are centred crops of the largest one, so the
        sky coordinates are computed once per factor.
        """
        rad_axis = self.psf_map.geom.axes["rad"]
        image = kernel_geom.to_image()
        center = image.center_skydir
        by_factor = {}
        for f in np.unique(factors):
            n = int(plane_npix[factors == f].max() * f)
            # The kernel's WCS refined f times around its centre: the grid gammapy builds with
            # ``to_odd_npix(r).upsample(f)``, without creating a geometry per plane.
            wcs = image.wcs.deepcopy()
            wcs.wcs.cdelt = wcs.wcs.cdelt / f
            wcs.wcs.crpix = (n / 2 + 0.5, n / 2 + 0.5)
            yy, xx = np.mgrid[0:n, 0:n].astype(float)
            lon, lat = wcs.wcs_pix2world(xx, yy, 0)
            theta = separation(
                center.spherical.lon.rad, center.spherical.lat.rad, np.deg2rad(lon), np.deg2rad(lat)
            )
            by_factor[f] = rad_axis.coord_to_pix(u.Quantity(np.rad2deg(theta), "deg")).reshape(theta.shape)
        out = []
        for npix_j, f in zip(plane_npix, factors, strict=True):
            full = by_factor[f]
            size = int(npix_j) * int(f)
            start = (full.shape[-1] - size) // 2
            out.append(full[start : start + size, start : start + size])
        return out

    # -- plots (matplotlib) ------------------------------------------------------------------------

    def plot_containment_radius_vs_energy(self, ax=None, fraction=(0.68, 0.95), **kwargs):
        """Containment radii at the map centre versus energy, one line per ``fraction``
        (``plot`` arguments), as gammapy draws them.

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
        """
        return plotting.plot_containment_radius_vs_energy(self, ax=ax, fraction=fraction, **kwargs)

    def plot_psf_vs_rad(self, ax=None, energy_true=plotting.PSF_PLOT_ENERGIES, **kwargs):
        """PSF profiles at the map centre versus ``rad``, one line per energy (default 0.1, 1
        and 10 TeV; ``plot`` arguments).

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
        """
        return plotting.plot_psf_vs_rad(self, ax=ax, energy_true=energy_true, **kwargs)

    def peek(self, figsize=(12, 10)):
        """Containment radii and profiles at the centre, the exposure and the 68 % containment
        radius at 1 TeV on the sky (the two images computed at display resolution, together).

        Returns
        -------
        list of `~matplotlib.axes.Axes`
            The four panels (gammapy returns None).
        """
        return plotting.peek_psf_map(self, figsize=figsize)

    # -- reductions -----------------------------------------------------------------------------

    def to_image(self, spectral_model=None, keepdims=True):
        """PSF averaged over energy with exposure × spectrum weights (lazy).

        Parameters
        ----------
        spectral_model : SpectralModel, optional
            Any model with ``integral(energy_min, energy_max)``; default a power law of index 2.
        keepdims : bool
            Keep the energy axis as a single bin.
        """
        if self.exposure_map is None:
            raise GeometryMismatchError(f"{type(self).__name__}.to_image needs an exposure map")
        axis = self.psf_map.geom.axes[self.energy_name]
        lo, hi = axis.edges[:-1], axis.edges[1:]
        if spectral_model is None:
            weights = (1 / lo - 1 / hi).value
        else:
            weights = u.Quantity(spectral_model.integral(energy_min=lo, energy_max=hi)).value
        weights = (weights / weights.sum()).reshape((-1, 1, 1, 1))
        exposure_weighted = self.exposure_map.data * weights
        exposure = exposure_weighted.sum(axis=0, keepdims=True)
        psf = quiet_divide(exposure_weighted * self.psf_map.data, exposure).sum(axis=0, keepdims=True)
        psf_geom = self.psf_map.geom.squash(self.energy_name)
        exposure_geom = self.exposure_map.geom.squash(self.energy_name)
        if not keepdims:
            psf, exposure = psf[0], exposure[0]
            psf_geom = psf_geom.drop(self.energy_name)
            exposure_geom = exposure_geom.drop(self.energy_name)
        psf_map = Map.from_geom(psf_geom, data=psf, unit=self.psf_map.unit)
        exposure_map = Map.from_geom(exposure_geom, data=exposure, unit=self.exposure_map.unit)
        return self._with_maps(psf_map, exposure_map)


class RecoPSFMap(PSFMap):
    """PSF map in reconstructed energy (axes ``["rad", "energy"]``), e.g. HAWC.

    The evaluator applies it after the energy dispersion.  It stacks as every IRF map does, an
    exposure-weighted mean per reco-energy bin (gammapy 2.1 cannot stack it).
    """

    tag = "psf_map_reco"
    required_axes: ClassVar[list[str]] = ["rad", "energy"]

    @classmethod
    def from_gauss(cls, energy_axis, rad_axis=None, sigma=0.1 * u.deg, geom=None, *, chunks=None):
        """Gaussian reco-energy PSF map (see :meth:`PSFMap.from_gauss`)."""
        return super().from_gauss(energy_axis, rad_axis, sigma=sigma, geom=geom, chunks=chunks)

    def containment(self, rad, energy, position=None) -> u.Quantity:
        """Fraction of the PSF within ``rad`` at reco ``energy``."""
        return self._containment(rad, energy, position)

    def containment_radius(self, fraction, energy, position=None) -> u.Quantity:
        """Radius enclosing ``fraction`` of the PSF at reco ``energy``."""
        return self._containment_radius(fraction, energy, position)

    def plot_psf_vs_rad(self, ax=None, energy=plotting.PSF_PLOT_ENERGIES, **kwargs):
        """PSF profiles at the map centre versus ``rad`` at reco ``energy`` (see
        :meth:`PSFMap.plot_psf_vs_rad`)."""
        return super().plot_psf_vs_rad(ax, energy_true=energy, **kwargs)

