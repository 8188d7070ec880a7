"""Test statistic maps: the amplitude of a source kernel fitted at every pixel (gammapy's
``TSMapEstimator``).

The kernel (the model convolved with the IRFs at the map centre, normalised per energy bin) is
computed when the estimator runs; the per-pixel fits are a dask graph: the counts, background,
predicted counts of the reference spectrum and the mask are extended by the kernel radius
(``dask.array.overlap``, zeros beyond the map as gammapy's padding) and every block is fitted at
once by :func:`~mapds.estimators.ts_fit.fit_pixels` on the footprints of
:class:`~mapds.estimators.ts_footprints.TileFootprints`.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import fields

import dask
import dask.array as da
import numpy as np
from astropy.coordinates import Angle
from astropy.utils.exceptions import AstropyDeprecationWarning

from ..datasets import MapDataset
from ..errors import InvalidArgumentError
from ..geom import MapAxis
from ..maps import Map
from ..modeling.models import PointSpatialModel, PowerLawSpectralModel, SkyModel
from .flux_maps import FluxMaps
from .nearest_pixel import nearest_pixel
from .reco_exposure import estimate_exposure_reco_energy
from .selection import optional_selection
from .sliced_models import slice_models_by_energy
from .ts_fit import FootprintSums, fit_pixels
from .ts_footprints import TileFootprints

__all__ = ["TSMapEstimator"]

SELECTION_OPTIONAL = ["errn-errp", "ul", "stat_scan", "sensitivity"]
SUPPORTED_OPTIONAL = ("ul", "errn-errp", "sensitivity")
#: Quantities of the fit, in gammapy's order.
QUANTITIES = ("ts", "norm", "niter", "norm_err", "npred", "npred_excess", "stat", "stat_null", "success")
#: Pixels of one task's tile: a second or two of fitting with a 0.6° kernel at 0.02°, so that a
#: map makes enough tasks for every core, while the halos (the kernel radius) stay a small part of
#: a tile and a survey's graph stays small (its memory is bounded by the fit's batches, not by
#: the tile).
FIT_TILE_PIXELS = 160_000


def _tiles(n: int, side: int, least: int) -> tuple[int, ...]:
    """Chunks of ``n`` pixels of about ``side`` each, none smaller than ``least`` (the halo needs
    it) unless ``n`` is."""
    side = max(side, least)
    count = max(n // side, 1)
    base, extra = divmod(n, count)
    return tuple(base + 1 if i < extra else base for i in range(count))


def fit_block(
    counts,
    background,
    exposure,
    weights,
    guess=None,
    *,
    kernel,
    summed,
    n_sigma,
    max_niter,
    n_sigma_ul=None,
    errn_errp: bool = False,
    threshold: float | None = None,
    n_sigma_sensitivity: float | None = None,
) -> np.ndarray:
    """Fit every pixel of one block (inputs extended by the kernel radius, zeros outside the map).

    Parameters
    ----------
    counts, background, exposure : ndarray, shape ``(n_e, ny + ky − 1, nx + kx − 1)``
        Masked counts, background and predicted counts of norm 1 (summed over energy when
        ``summed``: ``n_e`` is 1).
    weights : ndarray, shape ``(n_energy, ny + ky − 1, nx + kx − 1)``
        The mask (weights of the energy-averaged kernel when ``summed``).
    kernel : ndarray, shape ``(n_energy, ky, kx)``
        Kernel normalised per energy bin.
    n_sigma_ul : float, optional
        Also the upper limits (``norm_ul``) at this level.
    errn_errp : bool
        Also the asymmetric errors (``norm_errp``, ``norm_errn``).
    guess : ndarray, shape ``(1, ny + ky − 1, nx + kx − 1)``, optional
        gammapy's initial norm (with ``threshold``).
    threshold : float, optional
        Fit only where the TS at ``guess`` is above it (gammapy's ``threshold``).
    n_sigma_sensitivity : float, optional
        Also the sensitivity (``norm_sensitivity``) at this significance.

    Returns
    -------
    ndarray, shape ``(n_quantities, ny, nx)``
        The quantities of :func:`_quantities`, in its order;
        NaN where no energy bin is in the mask or the background is not positive.
    """
    names = _quantities(n_sigma_ul is not None, errn_errp, n_sigma_sensitivity is not None)
    footprints = TileFootprints(
        *(np.asarray(a, dtype=np.float64) for a in (counts, background, exposure)),
        kernel=kernel,
        weights=weights if summed else None,
    )
    ny, nx = footprints.ny, footprints.nx
    hy, hx = kernel.shape[1] // 2, kernel.shape[2] // 2
    sums = footprints.sums()
    floor = footprints.cash_floor() if errn_errp else None
    out = np.full((len(names), ny, nx), np.nan)
    for rows in footprints.batches():
        pixels = (rows, slice(None))
        part = FootprintSums(*(getattr(sums, f.name)[pixels].ravel() for f in fields(FootprintSums)))
        elements, negative = footprints.elements(rows)
        result = fit_pixels(
            elements,
            part,
            n_sigma=n_sigma,
            max_niter=max_niter,
            n_sigma_ul=n_sigma_ul,
            negative=negative,
            errn_errp=errn_errp,
            dense=lambda pixels, rows=rows: footprints.dense(rows, pixels),
            floor=None if floor is None else floor[pixels].ravel(),
            threshold=threshold,
            guess=None if guess is None else guess[0, hy : hy + ny, hx : hx + nx][pixels].ravel(),
        )
        if n_sigma_sensitivity is not None:
            result["norm_sensitivity"] = footprints.sensitivity(
                rows, result["norm"], n_sigma_sensitivity, max_niter
            )
        for i, name in enumerate(names):
            out[(i, *pixels)] = result[name].reshape(-1, nx)
    inside = weights[:, hy : hy + ny, hx : hx + nx].any(axis=0)
    inside &= background[:, hy : hy + ny, hx : hx + nx].sum(axis=0) > 0
    out[:, ~inside] = np.nan
    return out


def _column(exposure: Map, pixel: tuple[int, int]) -> np.ndarray:
    """The exposure of ``pixel`` ``(iy, ix)``, computed."""
    return np.asarray(dask.compute(exposure.dask_data[:, pixel[0], pixel[1]])[0], dtype=np.float64)


def _divide_nan_to_num(numerator, denominator) -> np.ndarray:
    """``numerator / denominator``, NaN and infinities as numpy's ``nan_to_num``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(numerator / denominator)


def _quantities(upper_limits: bool, errn_errp: bool = False, sensitivity: bool = False) -> tuple[str, ...]:
    """The fit's output quantities, in gammapy's order (``norm_errp``, ``norm_errn``, then
    ``norm_ul``, then ``norm_sensitivity`` after the fit's)."""
    errors = ("norm_errp", "norm_errn") if errn_errp else ()
    limits = ("norm_ul",) if upper_limits else ()
    return (*QUANTITIES, *errors, *limits, *(("norm_sensitivity",) if sensitivity else ()))


class TSMapEstimator:
    """Test statistic, amplitude and error maps of a source kernel (gammapy's
    ``TSMapEstimator``, Cash statistic; the background is the dataset's ``npred()``).

    Parameters
    ----------
    kernel_model : SkyModel, optional
        Kernel model; default a point source with a power law of index 2.  gammapy 2.1's name:
        ``model=`` still works, with gammapy's deprecation warning.
    kernel_width : str or `~astropy.coordinates.Angle`, optional
        Truncate the kernel at this width.
    downsampling_factor : int, optional
        As gammapy: the dataset is padded (to a shape divisible by 8 plus the kernel radius, as
        gammapy), downsampled by this factor and fitted with the kernel of the downsampled
        pixels; the maps are upsampled back (linear interpolation, nearest for ``niter`` and
        ``success``) and cropped.
    n_sigma, n_sigma_ul : float
        Confidence levels of the errors and upper limits.
    n_sigma_sensitivity : float
        Significance of the sensitivity (``"sensitivity"``).
    threshold : float, optional
        As gammapy: where the TS of the initial norm estimate (the excess over the exposure
        convolved with the kernel over its sum of squares, over the reference flux) is not above
        it, that norm is kept (``niter`` 0, ``success`` True; errors and limits from it) instead
        of the fit's.
    rtol : float
        gammapy's precision of the norm; mapds converges to far better than that.
    selection_optional : list of str, optional
        Optional quantities, as gammapy's: ``"ul"`` (``norm_ul``, profile-likelihood root at
        ``n_sigma_ul`` above the norm), ``"errn-errp"`` (``norm_errn``, ``norm_errp``: the roots
        at ``n_sigma`` below and above it), ``"sensitivity"`` (``norm_sensitivity``: the norm
        whose Asimov dataset has a significance of ``n_sigma_sensitivity``, in gammapy's bracket
        of 1/1000 to 1000 times the norm).  gammapy's ``"stat_scan"`` (so also ``"all"``) raises
        `NotImplementedError`.
    energy_edges : Quantity, optional
        Edges of the output energy bins (snapped to the dataset's); default one bin.
    sum_over_energy_groups : bool
        Sum counts, background and exposure over the energy bins of each output bin before the
        fit (with the mask-weighted mean kernel), or fit the cube.
    n_jobs, parallel_backend : optional
        Kept for the signature (dask schedules the blocks).
    norm : optional
        gammapy's scan values of ``"stat_scan"`` (not implemented): kept for the signature.
    max_niter : int
        Iterations where the fit fails are reported as ``max_niter``.
    """

    tag = "TSMapEstimator"
    _available_selection_optional = SELECTION_OPTIONAL

    def __init__(
        self,
        kernel_model=None,
        kernel_width=None,
        downsampling_factor=None,
        n_sigma=1,
        n_sigma_ul=2,
        n_sigma_sensitivity=5,
        threshold=None,
        rtol=0.01,
        selection_optional=None,
        energy_edges=None,
        sum_over_energy_groups=True,
        n_jobs=None,
        parallel_backend=None,
        norm=None,
        max_niter=100,
        **kwargs,
    ):
        if "model" in kwargs:  # gammapy 2.1 renamed it, with this warning
            warnings.warn(
                '"model" was deprecated in version 2.1 and will be removed in a future version. '
                'Use argument "kernel_model" instead.',
                AstropyDeprecationWarning,
                stacklevel=2,
            )
            kernel_model = kwargs.pop("model")
        if kwargs:
            raise TypeError(f"TSMapEstimator got unexpected keyword arguments {sorted(kwargs)}")
        if kernel_model is None:
            kernel_model = SkyModel(
                spectral_model=PowerLawSpectralModel(),
                spatial_model=PointSpatialModel(),
                name="ts-kernel",
            )
        self.kernel_model = kernel_model
        self.n_sigma_sensitivity = n_sigma_sensitivity
        self.parallel_backend = parallel_backend
        self.norm = norm
        self.kernel_width = None if kernel_width is None else Angle(kernel_width)
        self.downsampling_factor = downsampling_factor
        self.n_sigma = n_sigma
        self.n_sigma_ul = n_sigma_ul
        self.threshold = threshold
        self.rtol = rtol
        self.selection_optional = optional_selection(selection_optional, SELECTION_OPTIONAL)
        unsupported = set(self.selection_optional) - set(SUPPORTED_OPTIONAL)
        if unsupported:
            raise NotImplementedError(
                f"TSMapEstimator: selection_optional {sorted(unsupported)} not supported yet (gammapy "
                "2.1 offers it: stat_scan adds dnde_scan_values and stat_scan maps on a dnde_bin "
                "axis and replaces ts, norm and the errors by the scan's)"
            )
        self.energy_edges = energy_edges
        self.sum_over_energy_groups = sum_over_energy_groups
        self.n_jobs = n_jobs
        self.max_niter = max_niter

    @property
    def selection_all(self) -> list[str]:
        """Quantities computed."""
        optional = self.selection_optional
        return list(_quantities("ul" in optional, "errn-errp" in optional, "sensitivity" in optional))

    # -- kernel ---------------------------------------------------------------------------------

    @staticmethod
    def _nearest_valid_exposure(dataset, position) -> np.ndarray:
        """True-energy exposure of the valid pixel nearest to ``position`` (gammapy's choice:
        first minimum of the separation in C order).  Reads the nearest pixel's column, and the
        exposure image's validity only if that pixel has no exposure."""
        exposure = dataset.exposure
        image = exposure.geom.to_image()
        column = _column(exposure, nearest_pixel(image, position))
        if not np.any(column > 0):
            valid = da.any(exposure.dask_data > 0, axis=0)
            pixel = nearest_pixel(image, position, valid=valid)
            if pixel is None:
                raise ValueError("No valid exposure. Impossible to compute kernel for TS Map.")
            column = _column(exposure, pixel)
        return column

    def estimate_kernel(self, dataset) -> Map:
        """The model convolved with the IRFs at the map centre, with the exposure of the nearest
        valid pixel, normalised to a sum of 1 in each energy bin (computed now)."""
        from ..datasets.evaluator import MapEvaluator

        geom = dataset.exposure.geom
        if self.kernel_width is not None:
            geom = geom.to_odd_npix(max_radius=self.kernel_width / 2)
        model = self.kernel_model.copy()
        model.spatial_model.position = geom.center_skydir
        values = self._nearest_valid_exposure(dataset, geom.center_skydir)
        if not np.any(values):
            raise ValueError("No valid exposure. Impossible to compute kernel for TS Map.")
        data = np.broadcast_to(values.reshape(-1, 1, 1), geom.data_shape).astype(np.float32)
        exposure = Map.from_geom(geom, data=data, unit=dataset.exposure.unit)
        evaluator = MapEvaluator(model=model)
        counts_geom = dataset.counts.geom
        if self.kernel_width is not None:  # evaluate on the kernel's grid (gammapy's pixels)
            counts_geom = geom.to_image().to_cube([counts_geom.axes["energy"]])
        evaluator.update(exposure=exposure, psf=dataset.psf, edisp=dataset.edisp, geom=counts_geom, mask=None)
        kernel = evaluator.compute_npred()
        array = np.array(kernel.data, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            array /= array.sum(axis=(1, 2))[:, None, None]
        array[~np.isfinite(array)] = 0
        return Map.from_geom(kernel.geom, data=array)

    def estimate_flux_default(self, dataset, kernel=None, exposure=None) -> Map:
        """gammapy's initial flux estimate (lazy image, ``cm-2 s-1``): the excess over the
        reco-energy exposure (NaN as 0), convolved with the kernel over its sum of squares,
        times the mask, summed over energy."""
        if exposure is None:
            spectrum = self.kernel_model.spectral_model
            exposure = estimate_exposure_reco_energy(dataset, spectrum, normalize=True)
        if kernel is None:
            kernel = self.estimate_kernel(dataset)
        kernel = np.asarray(kernel.data, dtype=np.float64)
        kernel = kernel / np.sum(kernel**2)
        excess = dataset.counts - dataset.npred()
        data = da.map_blocks(_divide_nan_to_num, excess.dask_data, exposure.dask_data)
        flux = Map.from_geom(excess.geom, data=data, unit=excess.unit / exposure.unit).to_unit("cm-2 s-1")
        flux = flux.convolve(kernel)
        if dataset.mask is not None:
            flux = flux * dataset.mask
        return flux.sum_over_axes()

    def _norm_guess(self, dataset, kernel) -> da.Array:
        """gammapy's initial norm: the initial flux over the reference flux of the slice."""
        axis = dataset.counts.geom.axes["energy"]
        flux_ref = self.kernel_model.spectral_model.integral(axis.edges[0], axis.edges[-1])
        flux = self.estimate_flux_default(dataset, kernel=kernel)
        return flux.dask_data.astype(np.float64) * float((flux.unit / flux_ref.unit).to("") / flux_ref.value)

    # -- inputs ---------------------------------------------------------------------------------

    @staticmethod
    def estimate_mask_default(dataset) -> Map:
        """The fit mask (``mask``), else ``mask_safe``, else everywhere; and finite npred."""
        npred = dataset.npred()
        finite = da.isfinite(npred.dask_data)
        if dataset.mask_fit is not None:
            mask = dataset.mask.dask_data.astype(bool)
        elif dataset.mask_safe is not None:
            mask = dataset.mask_safe.dask_data.astype(bool)
        else:
            mask = da.ones_like(finite, dtype=bool)
        return Map.from_geom(dataset.counts.geom, data=mask & finite)

    def _energy_datasets(self, dataset) -> list:
        """The dataset sliced to each output energy bin, with its models (gammapy's: templates
        cut to the slice)."""
        if self.energy_edges is None:
            return [dataset]
        axis = MapAxis.from_energy_edges(self.energy_edges)
        sliced = []
        for lo, hi in zip(axis.edges[:-1], axis.edges[1:], strict=True):
            part = dataset.slice_by_energy(energy_min=lo, energy_max=hi, name=dataset.name)
            if dataset.models is not None:
                part.models = slice_models_by_energy(dataset.models, lo, hi)
            sliced.append(part)
        return sliced

    def _fit_dataset(self, dataset, kernel_width) -> tuple[da.Array, MapAxis]:
        """``(len(selection_all), ny, nx)`` lazy fit results of one energy slice, and its axis."""
        estimator = copy.copy(self)
        estimator.kernel_width = kernel_width
        kernel_map = estimator.estimate_kernel(dataset)
        kernel = np.asarray(kernel_map.data, dtype=np.float64)
        ky, kx = kernel.shape[1:]
        hy, hx = ky // 2, kx // 2
        # Tiles of their own, not the data's chunks: an image summed over energy is often one
        # chunk, and the fit is the costly part.
        side = int(np.sqrt(FIT_TILE_PIXELS))
        ny, nx = dataset.counts.geom.data_shape[-2:]
        spatial = (_tiles(ny, side, hy + 1), _tiles(nx, side, hx + 1))
        # the inputs' arithmetic (npred, masks, sums over energy) on pieces of a tile, not on
        # the store's chunks
        dataset = dataset.rechunk({"y": spatial[0], "x": spatial[1]})
        exposure = estimate_exposure_reco_energy(dataset, self.kernel_model.spectral_model, normalize=False)
        mask = self.estimate_mask_default(dataset).dask_data
        counts = da.where(mask, dataset.counts.dask_data, 0).astype(np.float64)
        background = da.where(mask, dataset.npred().dask_data, 0).astype(np.float64)
        exposure = da.where(mask, exposure.dask_data, 0).astype(np.float64)
        weights = mask  # bool: the tiles carry every energy bin of it
        if self.sum_over_energy_groups:
            counts, background, exposure = (
                a.sum(axis=0, keepdims=True) for a in (counts, background, exposure)
            )
        inputs = [counts, background, exposure, weights]
        if self.threshold is not None:
            inputs.append(self._norm_guess(dataset, kernel_map))
        arrays = [a.rechunk(((a.shape[0],), *spatial)) for a in inputs]
        extended = [
            da.overlap.overlap(a, depth={0: 0, 1: hy, 2: hx}, boundary={0: "none", 1: 0, 2: 0})
            for a in arrays
        ]
        optional = self.selection_optional
        result = da.map_blocks(
            fit_block,
            *extended,
            kernel=kernel,
            summed=self.sum_over_energy_groups,
            n_sigma=self.n_sigma,
            max_niter=self.max_niter,
            n_sigma_ul=self.n_sigma_ul if "ul" in optional else None,
            errn_errp="errn-errp" in optional,
            threshold=self.threshold,
            n_sigma_sensitivity=self.n_sigma_sensitivity if "sensitivity" in optional else None,
            chunks=((len(self.selection_all),), *spatial),
            dtype=np.float64,
        )
        axis = dataset.counts.geom.axes["energy"].squash()
        return result, axis

    def estimate_pad_width(self, dataset, kernel=None) -> tuple[int, int]:
        """gammapy's padding of the dataset: the kernel radius, or with ``downsampling_factor``
        half the difference to the next shape divisible by 8 (of the padded image's rows, on both
        axes, as gammapy)."""
        if kernel is None:
            kernel = self.estimate_kernel(dataset)
        shape = np.array(dataset.counts.geom.to_image().data_shape)
        pad = np.array(kernel.geom.to_image().data_shape) // 2
        if self.downsampling_factor and self.downsampling_factor > 1:
            padded = shape + 2 * pad
            target = padded + (8 - np.mod(padded, 8))
            difference = np.abs(shape - target)
            if (difference % 2).any():
                raise ValueError(
                    "For symmetric crop / pad width, difference to new shape must be even in all axes."
                )
            pad = np.array([difference[0] // 2] * 2)
        return int(pad[0]), int(pad[1])

    # -- run ------------------------------------------------------------------------------------

    def run(self, dataset) -> FluxMaps:
        """TS, norm and error maps of ``dataset`` as a `FluxMaps`.

        The kernel is computed now; the maps are lazy.  Quantities (float32, ``success`` bool):
        ts, norm, niter, norm_err, npred, npred_excess, stat, stat_null, success, then
        norm_errp and norm_errn with ``"errn-errp"`` and norm_ul with ``"ul"``; NaN outside the
        mask (and where the background is not positive).
        """
        if not isinstance(dataset, MapDataset) or not hasattr(dataset.counts.geom, "wcs"):
            raise InvalidArgumentError("Unsupported dataset type: the TS map needs a WCS MapDataset.")
        if dataset.stat_type != "cash":
            raise TypeError(f"{type(dataset)} is not a valid type for {self.__class__}")
        kernel_width = self.kernel_width
        if kernel_width is None:  # gammapy: the width of the whole-map kernel, then centred
            kernel_width = np.max(self.estimate_kernel(dataset).geom.width)
        factor = (
            self.downsampling_factor if self.downsampling_factor and self.downsampling_factor > 1 else None
        )
        if factor:
            pad_width = self.estimate_pad_width(dataset)
            models = dataset.models
            dataset = dataset.pad(pad_width, name=dataset.name).downsample(factor, name=dataset.name)
            if models is not None:  # gammapy sets the models on the downsampled datasets
                dataset.models = models
        results, edges = [], []
        for sliced in self._energy_datasets(dataset):
            result, axis = self._fit_dataset(sliced, kernel_width)
            results.append(result)
            edges.append(axis.edges)
        energy_edges = np.concatenate([edges[0][:1]] + [e[1:] for e in edges])
        axis = MapAxis.from_energy_edges(energy_edges)
        geom = dataset.counts.geom.to_image().to_cube([axis])
        stacked = da.stack(results, axis=1)  # (quantity, energy, y, x)
        maps = {}
        for i, name in enumerate(self.selection_all):
            data = stacked[i]
            if name == "success":
                data = data.astype(bool)
            maps[name] = Map.from_geom(geom, data=data)
            if factor:  # gammapy: upsampled values (nearest for niter and success), cropped
                order = 0 if name in ("niter", "success") else 1
                upsampled = maps[name].upsample(factor, preserve_counts=False, order=order)
                maps[name] = upsampled.crop(pad_width)
        return FluxMaps(
            data=maps,
            reference_model=self.kernel_model,
            gti=dataset.gti,
            meta={"n_sigma": self.n_sigma, "n_sigma_ul": self.n_sigma_ul},
        )
