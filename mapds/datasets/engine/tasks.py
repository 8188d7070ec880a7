"""The tasks of a model's predicted counts: pure functions of their inputs (numpy, run by dask).

Each function here computes from its arguments only and writes to no object, so the same key gives
the same result on any scheduler (threads, processes, a ``distributed`` cluster).  A
:class:`ModelSpec` is everything a task knows about the model and the dataset: a private copy of
the model holding the parameter values of the evaluation, the :class:`~.lookup.Footprint` (no
lazy data), and what the client already knows from earlier computations (a cached lookup, a cached
PSF-convolved spatial integral).  Tasks return what the client may cache (:class:`ModelResult`);
the client — never a task — stores it (see :class:`~.evaluator.MapEvaluator`).

The steps are gammapy's ``MapEvaluator``: IRF lookups at the model position, the cutout of width
``psf_width + 2 (r_eval + 0.1°)``, the spectral and spatial integrals (the spectral flux times the
temporal model's mean over the GTIs), exposure, PSF convolution and energy dispersion
(:mod:`.model_npred`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import astropy.units as u
import numpy as np

from ...errors import GeometryError
from ...geom import WcsGeom
from ...irf import EDispKernel, PSFKernel
from ...modeling.models import PointSpatialModel, SkyModel
from ...modeling.models.temporal import temporal_norm
from . import model_npred
from .lookup import (
    MARGIN_DEG,
    PSF_CONTAINMENT,
    PSF_MAX_RADIUS,
    Footprint,
    Lookup,
    TaskInputs,
    check_inside,
    kernel_width,
    relative,
    window_irf,
)

__all__ = [
    "CutoutNpred",
    "ModelResult",
    "ModelSpec",
    "evaluate_model",
    "global_block",
    "renormed",
    "resolve_lookup",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CutoutNpred:
    """Predicted counts of one model on its cutout, and where the cutout sits.

    Parameters
    ----------
    data : ndarray
        ``(n_reco, ny, nx)`` predicted counts, float64 (as computed: may hold non-finite values).
    y, x : slice
        Rows and columns of the counts grid the cutout covers.
    """

    data: np.ndarray
    y: slice
    x: slice

    @cached_property
    def stackable(self) -> np.ndarray:
        """:attr:`data` with non-finite values set to 0, as gammapy adds cutouts into a map."""
        return model_npred.stackable(self.data)


@dataclass(frozen=True, eq=False)
class ModelResult:
    """What a model task gives: the cutout (None if the model does not contribute), the lookup
    it used, and the PSF-convolved spatial integral it computed (None if it used a cached one)."""

    cutout: CutoutNpred | None
    lookup: Lookup
    spatial: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """Everything a model task needs, fixed when the graph is built.

    Parameters
    ----------
    key : str
        Task key: a token of the model's identity, parameter values, ``apply_irf`` and footprint.
    model : SkyModel
        A private copy of the model holding the parameter values of this evaluation.
    values : tuple of float
        Those values.
    norm_index : int or None
        Index of the model's single ``norm``/``amplitude`` parameter.
    footprint : Footprint
        Lookup position, bounding box and IRF windows.
    global_mode : bool
        Evaluated per chunk of the counts grid rather than on a cutout.
    fixed_psf, fixed_edisp : PSFKernel, EDispKernel or None
        Kernels given to a standalone evaluator.
    lookup : Lookup or None
        The lookup at this footprint, when the client already has it (the task reads no IRF).
    spatial : ndarray or None
        The PSF-convolved spatial integral for these spatial parameters, when the client has it.
    """

    key: str
    model: SkyModel
    values: tuple[float, ...]
    norm_index: int | None
    footprint: Footprint
    global_mode: bool
    fixed_psf: PSFKernel | None = None
    fixed_edisp: EDispKernel | None = None
    lookup: Lookup | None = None
    spatial: np.ndarray | None = None

    @property
    def inputs(self) -> TaskInputs:
        return self.footprint.inputs

    @property
    def zero_norm(self) -> bool:
        return self.norm_index is not None and self.values[self.norm_index] == 0


# -- lookups ----------------------------------------------------------------------------------------


def resolve_lookup(spec: ModelSpec, *blocks) -> Lookup:
    """IRF kernels, ``contributes`` and the cutout at the spec's footprint.

    ``blocks`` are the lookup's inputs as listed by :func:`~.lookup.lookup_dependencies` (mask
    boxes, then the IRF windows); a spec that carries its lookup needs none.
    """
    if spec.lookup is not None:
        return spec.lookup
    fp = spec.footprint
    mask_boxes, psf_block, edisp_block = fp.split_blocks(blocks)
    inputs = fp.inputs
    psf = _lookup_psf(spec, psf_block)
    edisp = _lookup_edisp(spec, edisp_block)
    if inputs.is_region:
        return _region_lookup(spec, edisp)
    if spec.global_mode:
        return Lookup(psf, edisp, True, inputs.exposure_geom, None)
    width = kernel_width(psf) + 2 * (fp.evaluation_radius + MARGIN_DEG)
    contributes = _contributes(spec, mask_boxes, kernel_width(psf))
    try:
        geom = inputs.exposure_geom.cutout(fp.position, width * u.deg, odd_npix=True)
    except GeometryError:
        return Lookup(psf, edisp, False, None, None)
    parent = geom.cutout_slices(inputs.exposure_geom, mode="trim")["parent-slices"]
    check_inside(parent, fp.bbox, spec.model.name)
    return Lookup(psf, edisp, contributes, geom, tuple(parent))


def _lookup_psf(spec: ModelSpec, block) -> PSFKernel | None:
    fp, inputs = spec.footprint, spec.inputs
    if inputs.is_region:
        return None
    if spec.fixed_psf is not None and (inputs.psf is None or inputs.psf.has_single_spatial_bin):
        return spec.fixed_psf
    if fp.psf is None:
        return None
    irf = window_irf(inputs.psf, fp.psf, block)
    return irf.get_psf_kernel(
        geom=inputs.psf_geom, position=fp.psf.position, containment=PSF_CONTAINMENT, max_radius=PSF_MAX_RADIUS
    )


def _lookup_edisp(spec: ModelSpec, block) -> EDispKernel | None:
    fp, inputs = spec.footprint, spec.inputs
    if fp.edisp is None:
        return spec.fixed_edisp
    irf = window_irf(inputs.edisp, fp.edisp, block)
    return irf.get_edisp_kernel(position=fp.edisp.position, energy_axis=inputs.reco_axis)


def _region_lookup(spec: ModelSpec, edisp) -> Lookup:
    """Spectrum datasets (gammapy's rules): a point source in a circle gets the PSF
    containment within the circle; another model with a PSF a kernel, applied on a WCS grid
    around the region; ``contributes`` if the model's evaluation square meets the region."""
    from regions import CircleSkyRegion  # deferred: regions imports matplotlib

    fp, inputs = spec.footprint, spec.inputs
    spatial = spec.model.spatial_model
    containment = kernel = None
    if inputs.psf is not None and spatial is not None:
        region = inputs.geom.region
        if isinstance(spatial, PointSpatialModel) and isinstance(region, CircleSkyRegion):
            energy = inputs.exposure_geom.axes["energy_true"].center.reshape((-1, 1, 1))
            fraction = inputs.psf.containment(rad=region.radius, energy_true=energy)
            containment = np.asarray(fraction.to_value(""))
        else:
            kernel = inputs.psf.get_psf_kernel(
                geom=inputs.psf_geom.to_wcs_geom(),
                position=fp.position,
                containment=PSF_CONTAINMENT,
                max_radius=PSF_MAX_RADIUS,
            )
    contributes = True
    if fp.position is not None and not inputs.geom.is_all_point_sky_regions:
        wcs_geom = inputs.geom.to_wcs_geom()
        width = (2 * fp.evaluation_radius + MARGIN_DEG + kernel_width(kernel)) * u.deg
        try:
            cutout = wcs_geom.region_mask([inputs.geom.region]).cutout(fp.position, width)
        except GeometryError:
            contributes = False
        else:
            contributes = bool(np.any(cutout.compute(scheduler="sync").data))
    return Lookup(kernel, edisp, contributes, inputs.exposure_geom, None, containment)


def _contributes(spec: ModelSpec, mask_boxes, psf_width: float) -> bool:
    """Whether the mask has a True pixel within ``2 r_eval + 0.1° + psf_width`` of the model."""
    inside = _mask_cutout_any(spec, mask_boxes, psf_width)
    if inside and not _mask_cutout_any(spec, mask_boxes, 0.0):
        log.warning(
            f"Model {spec.model.name} is outside the target geom but contributes inside through "
            "the psf. This contribution cannot be estimated precisely. Consider extending the "
            "dataset geom and/or the masked margin in the mask_fit."
        )
    return inside


def _mask_cutout_any(spec: ModelSpec, mask_boxes, margin: float) -> bool:
    fp = spec.footprint
    width = 2 * fp.evaluation_radius + MARGIN_DEG + margin
    image = fp.inputs.image
    try:
        cutout = image.cutout(fp.position, width * u.deg)
    except GeometryError:
        return False
    if not mask_boxes:
        return True
    parent = cutout.cutout_slices(image, mode="trim")["parent-slices"]
    check_inside(parent, fp.bbox, spec.model.name)
    window = (Ellipsis, *relative(parent, fp.bbox))
    product = mask_boxes[0][window]
    for other in mask_boxes[1:]:
        product = product * other[window]
    return bool(np.any(product))


# -- local mode: one task per model -----------------------------------------------------------------


def evaluate_model(spec: ModelSpec, exposure_box, *blocks, always: bool = False) -> ModelResult:
    """The model task: look up (unless the spec carries the lookup), cut out, evaluate.

    ``exposure_box`` is the exposure over the footprint's bounding box; ``blocks`` the lookup's
    inputs.  With ``always`` the cutout is evaluated also when the model does not contribute.
    """
    fp = spec.footprint
    lookup = resolve_lookup(spec, *blocks)
    if not (lookup.contributes or always):
        return ModelResult(None, lookup)
    exposure = exposure_box[(slice(None), *relative(lookup.slices, fp.bbox))]
    exposure = u.Quantity(exposure, fp.inputs.exposure_unit, copy=False)
    if spec.zero_norm:
        data = np.zeros((fp.inputs.reco_axis.nbin, *exposure.shape[1:]))
        return ModelResult(CutoutNpred(data, *lookup.slices), lookup)
    data, spatial = _cutout_npred(spec, lookup, lookup.geom, exposure)
    return ModelResult(CutoutNpred(data, *lookup.slices), lookup, spatial)


def renormed(base: CutoutNpred, ratio: float, lookup: Lookup) -> ModelResult:
    """gammapy's norm shortcut: the last full evaluation scaled by the new norm."""
    data = np.zeros_like(base.data) if ratio == 0 else base.data * ratio
    return ModelResult(CutoutNpred(data, base.y, base.x), lookup)


def _cutout_npred(spec: ModelSpec, lookup: Lookup, geom: WcsGeom, exposure) -> tuple[np.ndarray, object]:
    """Predicted counts ``(n_reco, ny, nx)`` on ``geom`` (true energy) from the exposure values,
    and the flux weights (PSF-convolved spatial integral × exposure) computed for them (None if
    the spec carried them)."""
    inputs, model = spec.inputs, spec.model
    apply_irf = model.apply_irf
    flux = _flux(model, inputs, geom)
    weights = computed = spec.spatial
    if weights is None:
        spatial = None
        if model.spatial_model is not None:
            psf = None if inputs.reco_psf or not apply_irf["psf"] else lookup.psf
            spatial = _spatial_integral(model.spatial_model, geom, psf)
        exposure = exposure if apply_irf["exposure"] else None
        weights = computed = model_npred.flux_weights(spatial, exposure, _spatial_unit(model))
    matrix = _edisp_matrix(lookup, inputs, geom, apply_irf)
    npred = model_npred.predicted_counts(flux, weights, matrix, geom.data_shape[-2:])
    if inputs.reco_psf and apply_irf["psf"] and lookup.psf is not None:
        npred = model_npred.apply_psf(npred, lookup.psf.data).astype(np.float64)
    return npred, (computed if spec.spatial is None else None)


def _flux(model: SkyModel, inputs: TaskInputs, geom) -> u.Quantity:
    """Φ_i, the spectral flux in each true-energy bin of ``geom``, times the temporal model's
    mean over the GTIs (gammapy's ``compute_temporal_norm``).

    The temporal factor is a scalar on the flux, so the flux weights (spatial integral ×
    exposure), cached while the spatial parameters do not change, stay valid when it changes.
    """
    flux = model_npred.spectral_flux(model.spectral_model, geom.axes["energy_true"])
    if model.temporal_model is None:
        return flux
    return flux * temporal_norm(model.temporal_model, inputs.gti)


def _spatial_unit(model) -> u.UnitBase:
    """Unit of the model's spatial integral (:func:`.model_npred.spatial_integral`)."""
    return u.dimensionless_unscaled if model.spatial_model is None else model.spatial_model.unit * u.sr


def _spatial_integral(spatial_model, geom: WcsGeom, psf: PSFKernel | None) -> np.ndarray:
    values = model_npred.spatial_integral(spatial_model, geom)
    return values if psf is None else model_npred.apply_psf(values, psf.data)


# -- global mode: one task per chunk ----------------------------------------------------------------


def global_block(exposure_block, lookup: Lookup, spec: ModelSpec, block_info=None) -> np.ndarray:
    """Predicted counts of a global-mode model on one spatial chunk (all reco energies)."""
    (_, _), (y0, y1), (x0, x1) = block_info[0]["array-location"]
    inputs, model = spec.inputs, spec.model
    exposure = u.Quantity(exposure_block, inputs.exposure_unit, copy=False)
    geom = inputs.exposure_geom
    apply_irf = model.apply_irf
    flux = _flux(model, inputs, geom)
    spatial = None
    if inputs.is_region and model.spatial_model is not None:
        spatial = _region_spatial(spec, lookup)
    elif model.spatial_model is not None:
        psf = lookup.psf if apply_irf["psf"] and not inputs.reco_psf else None
        spatial = _spatial_on_chunk(model.spatial_model, geom, (y0, y1), (x0, x1), psf)
    exposure = exposure if apply_irf["exposure"] else None
    weights = model_npred.flux_weights(spatial, exposure, _spatial_unit(model))
    matrix = _edisp_matrix(lookup, inputs, geom, apply_irf)
    npred = model_npred.predicted_counts(flux, weights, matrix, exposure_block.shape[-2:])
    if not lookup.contributes:
        npred = np.zeros_like(npred)
    return np.broadcast_to(npred, (npred.shape[0], y1 - y0, x1 - x0)).astype(np.float64)


def _region_spatial(spec: ModelSpec, lookup: Lookup):
    """Fraction of the model's flux in a spectrum dataset's region, per true energy."""
    model = spec.model
    if lookup.containment is not None and model.apply_irf["psf"]:
        return lookup.containment
    if lookup.psf is None or not model.apply_irf["psf"]:
        return 1.0
    geom = spec.inputs.exposure_geom
    width = lookup.psf_width + 2 * (spec.footprint.evaluation_radius + MARGIN_DEG)
    wcs_geom = geom.to_wcs_geom(width_min=width * u.deg)
    values = _spatial_integral(model.spatial_model, wcs_geom, lookup.psf)
    weights = wcs_geom.to_image().region_weights([geom.region]).compute(scheduler="sync").data
    return (values * weights).sum(axis=(-2, -1), keepdims=True)


def _edisp_matrix(lookup: Lookup, inputs: TaskInputs, geom, apply_irf) -> np.ndarray:
    """True → reco energy ``(n_true, n_reco)``: the looked-up EDisp, or the diagonal response
    without one (or when the model does not apply it)."""
    if apply_irf["edisp"] and lookup.edisp is not None:
        return lookup.edisp.pdf_matrix
    reco = lookup.edisp.axes["energy"] if lookup.edisp is not None else inputs.reco_axis
    return model_npred.diagonal_edisp(geom.axes["energy_true"], reco)


def _pixel_window(image: WcsGeom, ys: slice, xs: slice) -> WcsGeom:
    """The sub-grid ``ys × xs`` of an image geometry (same pixels, shifted reference pixel)."""
    wcs = image.wcs.deepcopy()
    wcs.wcs.crpix -= (xs.start, ys.start)
    return WcsGeom(wcs, npix=(xs.stop - xs.start, ys.stop - ys.start))


def _spatial_on_chunk(spatial_model, geom: WcsGeom, ys, xs, psf: PSFKernel | None) -> np.ndarray:
    """Spatial integral on the pixels ``ys × xs`` of ``geom``, PSF-convolved as on the whole map.

    The convolution of the whole map (zero outside it) is reproduced on a chunk by evaluating
    the model on the chunk extended by the kernel half-width.
    """
    (y0, y1), (x0, x1) = ys, xs
    ny, nx = geom.data_shape[-2:]
    halo = 0 if psf is None else psf.data.shape[-1] // 2
    wy0, wy1 = max(0, y0 - halo), min(ny, y1 + halo)
    wx0, wx1 = max(0, x0 - halo), min(nx, x1 + halo)
    window = _pixel_window(geom.to_image(), slice(wy0, wy1), slice(wx0, wx1))
    if spatial_model.is_energy_dependent:
        window = window.to_cube(geom.axes)
    values = model_npred.spatial_integral(spatial_model, window)
    if psf is None:
        return values
    outside = [(wy0 - (y0 - halo), (y1 + halo) - wy1), (wx0 - (x0 - halo), (x1 + halo) - wx1)]
    values = np.pad(values, [(0, 0)] * (values.ndim - 2) + outside)
    convolved = model_npred.apply_psf(values, psf.data)
    return convolved[..., halo : halo + y1 - y0, halo : halo + x1 - x0]
