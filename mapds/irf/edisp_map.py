"""`EDispKernelMap` (reco × true energy matrices per sky position) and `EDispMap` (migration
densities per sky position).

Both are lazy maps.  :meth:`EDispKernelMap.get_edisp_kernel` and :meth:`EDispMap.get_edisp_kernel`
read only the IRF pixels around the position (gammapy takes the nearest pixel, no spatial
interpolation); :meth:`EDispMap.to_edisp_kernel_map` converts block by block.
"""

from __future__ import annotations

from typing import ClassVar

import dask.array as da
import numpy as np

from ..errors import AxisError
from ..geom import MapAxis, RegionGeom, WcsGeom
from ..maps import Map
from .edisp_fold import overlap_fraction
from .edisp_kernel import EDispKernel
from .edisp_migra import EDISP_KERNEL_THRESHOLD, diagonal_migra_pdf, migra_pdf_to_kernel
from .irf_map import IRFMap, broadcast_lazy

__all__ = ["EDispKernelMap", "EDispMap"]


def _allsky_geom(axes) -> WcsGeom:
    """gammapy's default IRF grid for position-independent IRFs: all-sky, 2 × 1 pixels."""
    return WcsGeom.create(npix=(2, 1), proj="CAR", binsz=180, axes=axes)


class _EDispIRFMap(IRFMap):
    """What both energy-dispersion maps share: the ``EDISP`` HDU and the ``edisp_map`` accessor."""

    hdu_name = "EDISP"

    @property
    def edisp_map(self) -> Map:
        """The IRF map (kernels for `EDispKernelMap`, migration densities for `EDispMap`)."""
        return self._irf_map

    @edisp_map.setter
    def edisp_map(self, value: Map) -> None:
        self._replace_irf_map(value)


def _default_position(irf_map: Map, position):
    if position is None and not isinstance(irf_map.geom, RegionGeom):
        return irf_map.geom.center_skydir
    return position


class EDispKernelMap(_EDispIRFMap):
    """Energy dispersion matrices per sky position.

    Parameters
    ----------
    edisp_kernel_map : `~mapds.maps.Map`
        Map with axes ``["energy", "energy_true"]`` (data ``(n_true, n_reco, ny, nx)``).
    exposure_map : `~mapds.maps.Map`, optional
        Exposure with ``energy`` squashed to one bin; needed for stacking.
    """

    tag = "edisp_kernel_map"
    required_axes: ClassVar[list[str]] = ["energy", "energy_true"]

    def __init__(self, edisp_kernel_map: Map, exposure_map: Map | None = None):
        super().__init__(edisp_kernel_map, exposure_map)

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_geom(cls, geom, *, chunks=None) -> EDispKernelMap:
        """Diagonal response (see :meth:`EDispKernel.from_diagonal_response`) everywhere, zero
        exposure (``m2 s``)."""
        try:
            geom.axes.assert_names(cls.required_axes, allow_extra=True)
        except AxisError as exc:
            raise AxisError(f"EDispKernelMap: {exc}") from None
        overlap = overlap_fraction(geom.axes["energy"].edges, geom.axes["energy_true"].edges)
        # Extra axes (event types...) follow the required ones: the same response for each.
        n_extra = len(geom.axes) - len(cls.required_axes)
        small = overlap.astype("float32").reshape((1,) * n_extra + overlap.shape + (1, 1))
        edisp = Map.from_geom(geom, data=broadcast_lazy(small, geom, chunks))
        exposure = Map.from_geom(geom.squash("energy"), unit="m2 s", chunks=chunks)
        return cls(edisp, exposure)

    @classmethod
    def from_diagonal_response(cls, energy_axis: MapAxis, energy_axis_true: MapAxis, geom=None):
        """Diagonal response on ``geom``'s image grid (default all-sky 2 × 1 pixels)."""
        axes = [energy_axis, energy_axis_true]
        geom = _allsky_geom(axes) if geom is None else geom.to_image().to_cube(axes)
        return cls.from_geom(geom)

    @classmethod
    def from_edisp_kernel(cls, edisp: EDispKernel, geom=None) -> EDispKernelMap:
        """The same kernel at every pixel of ``geom``'s image grid (default all-sky 2 × 1),
        with zero exposure."""
        axes = [edisp.axes["energy"], edisp.axes["energy_true"]]
        geom = _allsky_geom(axes) if geom is None else geom.to_image().to_cube(axes)
        small = np.asarray(edisp.pdf_matrix, dtype="float32").reshape(geom.data_shape_axes)
        edisp_map = Map.from_geom(geom, data=broadcast_lazy(small, geom))
        exposure = Map.from_geom(geom.squash("energy"), unit="m2 s")
        return cls(edisp_map, exposure)

    @classmethod
    def from_gauss(cls, energy_axis, energy_axis_true, sigma, bias, pdf_threshold=1e-6, geom=None):
        """Gaussian kernel (see :meth:`EDispKernel.from_gauss`) at every pixel."""
        kernel = EDispKernel.from_gauss(
            energy_axis_true=energy_axis_true,
            energy_axis=energy_axis,
            sigma=sigma,
            bias=bias,
            pdf_threshold=pdf_threshold,
        )
        return cls.from_edisp_kernel(kernel, geom=geom)

    # -- lookups --------------------------------------------------------------------------------

    def get_edisp_kernel(self, position=None, energy_axis=None) -> EDispKernel:
        """Kernel at the IRF pixel containing ``position`` (default: the map centre).

        A position where the IRF is empty is moved to the nearest pixel where it is defined.
        ``energy_axis`` is only checked against the map's reco axis.
        """
        map_axis = self.edisp_map.geom.axes["energy"]
        if energy_axis is not None and energy_axis != map_axis:
            raise AxisError(
                f"get_edisp_kernel: energy axis {energy_axis!r} differs from the EDisp map's {map_axis!r}"
            )
        window, _ = self._valid_window(_default_position(self.edisp_map, position))
        axes = self.edisp_map.geom.axes
        return EDispKernel(axes=[axes["energy_true"], map_axis], data=window.nearest_values())

    def peek(self, figsize=(15, 5)):
        """Bias and matrix of the kernel at the map centre (see :meth:`EDispKernel.peek`).

        Returns
        -------
        `~numpy.ndarray` of `~matplotlib.axes.Axes`
        """
        return self.get_edisp_kernel().peek(figsize)

    # -- reductions -----------------------------------------------------------------------------

    def to_image(self, weights=None) -> EDispKernelMap:
        """Sum over reco energy (optionally weighted, e.g. by a safe mask): one reco bin."""
        data = self.edisp_map.data
        if weights is not None:
            data = data * weights.data
        geom = self.edisp_map.geom.squash("energy")
        edisp_map = Map.from_geom(geom, data=data.sum(axis=1, keepdims=True), unit=self.edisp_map.unit)
        return self.__class__(edisp_map, self.exposure_map)

    def resample_energy_axis(self, energy_axis: MapAxis, weights=None) -> EDispKernelMap:
        """Sum reco bins into the coarser ``energy_axis`` (edges must be existing edges)."""
        edisp_map = self.edisp_map.resample_axis(axis=energy_axis, weights=weights)
        return self.__class__(edisp_map, self.exposure_map)


class EDispMap(_EDispIRFMap):
    """Energy migration density per unit ``migra = E_reco / E_true`` per sky position.

    Parameters
    ----------
    edisp_map : `~mapds.maps.Map`
        Map with axes ``["migra", "energy_true"]`` (data ``(n_true, n_migra, ny, nx)``).
    exposure_map : `~mapds.maps.Map`, optional
        Exposure with ``migra`` squashed to one bin; needed for stacking.
    """

    tag = "edisp_map"
    required_axes: ClassVar[list[str]] = ["migra", "energy_true"]

    @classmethod
    def _class_for(cls, irf_map: Map):
        return EDispKernelMap if irf_map.geom.axes[0].name == "energy" else cls

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_geom(cls, geom, *, chunks=None) -> EDispMap:
        """Perfect response everywhere (unit weight at migra = 1), zero exposure (``m2 s``)."""
        try:
            geom.axes.assert_names(cls.required_axes, allow_extra=True)
        except AxisError as exc:
            raise AxisError(f"EDispMap: {exc}") from None
        # float64, as gammapy (unlike the float32 maps of EDispKernelMap.from_geom).
        small = diagonal_migra_pdf(geom.axes["migra"]).reshape((1, -1, 1, 1))
        edisp_map = Map.from_geom(geom, data=broadcast_lazy(small, geom, chunks))
        exposure = Map.from_geom(geom.squash("migra"), unit="m2 s", chunks=chunks)
        return cls(edisp_map, exposure)

    @classmethod
    def from_diagonal_response(cls, energy_axis_true: MapAxis, migra_axis: MapAxis | None = None):
        """All-sky (2 × 1 pixels) perfect response; the default migra axis has 3 bins within
        1 ± 1e-5."""
        if migra_axis is None:
            migra_axis = MapAxis.from_bounds(1 - 1e-5, 1 + 1e-5, nbin=3, name="migra", node_type="edges")
        return cls.from_geom(_allsky_geom([migra_axis, energy_axis_true]))

    def normalize(self) -> None:
        """Scale every (pixel, true energy) density to a migra integral of 1, in place (lazy)."""
        width = self.edisp_map.geom.axes["migra"].bin_width.value.reshape((1, -1, 1, 1))
        data = self.edisp_map.data
        total = (data * width).sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.edisp_map = self.edisp_map.copy(data=da.nan_to_num(data / total))

    # -- lookups --------------------------------------------------------------------------------

    def get_edisp_kernel(self, energy_axis: MapAxis, position=None) -> EDispKernel:
        """Kernel on the reco ``energy_axis`` at the IRF pixel nearest to ``position``."""
        window = self._window(_default_position(self.edisp_map, position))
        geom = self.edisp_map.geom
        energy_axis_true = geom.axes["energy_true"]
        data = migra_pdf_to_kernel(
            window.nearest_values(), geom.axes["migra"], energy_axis.edges, energy_axis_true.center
        )
        return EDispKernel(axes=[energy_axis_true, energy_axis], data=data)

    def peek(self, figsize=(15, 5)):
        """Bias and matrix of the kernel at the map centre, on a reco axis with the true axis'
        range and number of bins (log-spaced), as gammapy's ``EDispMap.peek``.

        Returns
        -------
        `~numpy.ndarray` of `~matplotlib.axes.Axes`
        """
        energy_axis_true = self.edisp_map.geom.axes["energy_true"]
        edges = energy_axis_true.edges
        energy_axis = MapAxis.from_energy_bounds(
            edges.min(), edges.max(), nbin=energy_axis_true.nbin, name="energy"
        )
        return self.get_edisp_kernel(energy_axis=energy_axis).peek(figsize)

    def to_edisp_kernel_map(self, energy_axis: MapAxis, threshold=EDISP_KERNEL_THRESHOLD) -> EDispKernelMap:
        """Kernel map on the reco ``energy_axis`` (lazy, converted block by block)."""
        geom = self.edisp_map.geom
        migra_axis, energy_axis_true = geom.axes["migra"], geom.axes["energy_true"]
        kernel_geom = geom.to_image().to_cube([energy_axis, energy_axis_true])
        data = self.edisp_map.dask_data.rechunk({0: -1, 1: -1})

        def convert(block):
            return migra_pdf_to_kernel(
                block, migra_axis, energy_axis.edges, energy_axis_true.center, threshold
            )

        chunks = (data.chunks[0], (energy_axis.nbin,), *data.chunks[2:])
        kernel = da.map_blocks(convert, data, chunks=chunks, dtype=np.float64)
        exposure_map = None
        if self.exposure_map is not None:
            exposure_map = self.exposure_map.copy(geom=kernel_geom.squash("energy"))
        return EDispKernelMap(Map.from_geom(kernel_geom, data=kernel), exposure_map)
