"""`CatalogueFit`: many sources fitted in independent groups, the groups in parallel.

A joint fit of a catalogue (hundreds of parameters) rarely converges; gammapy's users fit groups of
overlapping sources by hand with the rest frozen (gammapy issue 5484).  `CatalogueFit` does that:

1. **groups**: sources whose PSF-convolved footprints (the evaluation cutouts: the model's
   evaluation radius, the PSF width and a margin, :attr:`MapEvaluator.cutout_width`) overlap in a
   dataset, directly or through others, form a group; sources of different groups cannot change
   each other's predicted counts in any pixel;
2. **one task per group**: the group's free parameters are fitted with every other parameter
   frozen, on cutouts of the datasets around the group's footprints whose background holds the
   predicted counts of every other model (frozen neighbours that reach into a cutout, the FoV
   background model).  Outside its footprints a group's parameters do not change the statistic,
   so the cutouts' minimum is the whole datasets' one.  The tasks are pure and independent, so
   ``dask.compute`` runs them in parallel on the threaded scheduler or on the active
   ``dask.distributed`` client (each fit computes its small cutouts on its own thread or worker);
3. **global parameters** (models without a bounded footprint: FoV background, diffuse templates)
   are fitted next on the whole datasets, with the sources frozen;
4. rounds repeat until the total statistic changes by less than ``tol``.

For groups that cannot affect each other the rounds are exact block-coordinate descent, which
reaches the joint fit's minimum; the errors are those of each group's fit (correlations between
groups, which only the global parameters bring, are not estimated).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import astropy.units as u
import dask
import numpy as np
from astropy.coordinates import SkyCoord
from dask.base import tokenize

from ..errors import InvalidArgumentError
from .fit import Fit, parse_datasets

__all__ = ["CatalogueFit", "CatalogueFitResult", "GroupFitResult", "fit_group", "overlap_groups"]

#: Added around a group's footprints when cutting the datasets out: the sources may move while
#: they are fitted.
CUTOUT_MARGIN = 0.2 * u.deg


# -- pure pieces ------------------------------------------------------------------------------------


def overlap_groups(boxes: dict[str, list[tuple[float, float, float, float]]]) -> list[list[str]]:
    """Names whose boxes overlap, directly or through others, grouped (connected components).

    Parameters
    ----------
    boxes : dict
        ``name -> [(x_min, x_max, y_min, y_max), ...]``: one box per dataset, in that dataset's
        pixels; boxes at the same list position are compared.

    Returns
    -------
    list of list of str
        Groups in the order of their first name in ``boxes``, names in ``boxes``' order.
    """
    names = list(boxes)
    parent = {name: name for name in names}

    def root(name):
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if any(_overlap(p, q) for p, q in zip(boxes[a], boxes[b], strict=False)):
                parent[root(b)] = root(a)
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(root(name), []).append(name)
    return list(groups.values())


def _overlap(p, q) -> bool:
    if p is None or q is None:
        return False
    return p[0] < q[1] and q[0] < p[1] and p[2] < q[3] and q[2] < p[3]


@dataclass
class GroupFitResult:
    """What the fit of one group gives: best-fit values and errors by parameter key
    ``(model name, parameter index)``, and the fit's own figures."""

    names: list[str]
    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    total_stat: float = np.nan
    nfev: int = 0
    success: bool = False
    message: str = ""


def _keys(models, names) -> list[tuple[str, int]]:
    """Keys of the free parameters of the named models."""
    wanted = set(names)
    return [
        (model.name, i)
        for model in models
        if model.name in wanted
        for i, par in enumerate(model.parameters)
        if not par.frozen
    ]


def fit_group(datasets, names: list[str], fit: Fit, *, errors: bool = False) -> GroupFitResult:
    """Fit the free parameters of the models ``names`` with every other parameter frozen.

    A pure function: it works on copies of ``datasets`` and their models, and computes with the
    synchronous scheduler (the parallelism is across groups).

    Parameters
    ----------
    datasets : Datasets
        Datasets (cutouts) with all models.
    names : list of str
        Models whose free parameters are fitted.
    fit : Fit
        Fit settings (backend, options).
    errors : bool, keyword-only
        Estimate the errors at the current values (``fit.covariance``) instead of optimising.
    """
    datasets = datasets.copy()
    models = datasets.models
    keys = _keys(models, names)
    free = set(keys)
    for model in models:
        for i, par in enumerate(model.parameters):
            par.frozen = (model.name, i) not in free
    with dask.config.set(scheduler="sync"):
        if errors:
            # HESSE at the best values, on factors of order one (as after Fit.optimize)
            datasets.parameters.autoscale()
            step = fit.covariance(datasets)
        else:
            step = fit.optimize(datasets)
    result = GroupFitResult(names=list(names), success=bool(step.success), message=step.message)
    result.nfev = 0 if errors else int(step.nfev)
    result.total_stat = float(datasets.stat_sum())
    by_name = {model.name: model for model in models}
    for name, i in keys:
        par = by_name[name].parameters[i]
        result.values[name, i] = float(par.value)
        result.errors[name, i] = float(par.error)
    return result


# -- the fit --------------------------------------------------------------------------------------


@dataclass
class CatalogueFitResult:
    """Result of :meth:`CatalogueFit.run`.

    Attributes
    ----------
    models : Models
        Copy of the fitted models (values and errors set).
    groups : list of list of str
        Groups of the last round.
    total_stat : float
        Statistic of the datasets at the result.
    rounds : int
        Rounds run.
    nfev : int
        The optimisers' statistic evaluations in all group fits (each on its cutouts) and global
        fits (those of the final HESSE are not counted).
    success : bool
        Every fit of the last round succeeded and the statistic converged.
    trace : list of float
        Total statistic before the first round and after each.
    message : str
        Why it stopped.
    """

    models: object
    groups: list
    total_stat: float
    rounds: int
    nfev: int
    success: bool
    trace: list
    message: str


class CatalogueFit:
    """Fit many sources in groups of overlapping footprints, the groups in parallel.

    Parameters
    ----------
    fit : Fit, optional
        Fit used for every group (default ``Fit()``).
    tol : float
        Stop when a round changes the total statistic by less than this.
    max_rounds : int
        Most rounds.
    margin : `~astropy.units.Quantity`
        Added around a group's footprints for its cutouts.
    """

    def __init__(
        self, fit: Fit | None = None, *, tol: float = 0.01, max_rounds: int = 10, margin=CUTOUT_MARGIN
    ):
        if not (isinstance(max_rounds, int) and max_rounds >= 1):
            raise InvalidArgumentError(
                f"CatalogueFit: max_rounds must be a positive integer, got {max_rounds!r}"
            )
        if not tol > 0:
            raise InvalidArgumentError(f"CatalogueFit: tol must be positive, got {tol!r}")
        self.fit = Fit() if fit is None else fit
        self.tol, self.max_rounds, self.margin = float(tol), max_rounds, u.Quantity(margin, "deg")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tol={self.tol}, max_rounds={self.max_rounds}, margin={self.margin})"

    # -- grouping ---------------------------------------------------------------------------------

    def footprints(self, datasets) -> dict[str, list]:
        """Pixel box of every source's evaluation cutout in each dataset (None where it has none),
        for the sources that have one in some dataset.

        Sources are the models with a bounded footprint; the others (FoV background, diffuse
        templates, models without spatial part) are global.  Looks the IRFs up where needed
        (reads the few IRF pixels around each source).
        """
        datasets, _ = parse_datasets(datasets)
        boxes: dict[str, list] = {}
        for k, dataset in enumerate(datasets):
            geom = dataset.counts.geom.to_image()
            if any(evaluator.needs_update for evaluator in dataset.evaluators.values()):
                dataset.npred()  # the graph only: binds the evaluators and looks their IRFs up
            for name, evaluator in dataset.evaluators.items():
                box = None
                if evaluator.resolve_contributes():
                    box = _pixel_box(geom, evaluator.position, evaluator.cutout_width)
                boxes.setdefault(name, [None] * len(datasets))[k] = box
        return {name: b for name, b in boxes.items() if any(x is not None for x in b)}

    def groups(self, datasets) -> list[list[str]]:
        """Sources with free parameters grouped by overlapping footprints (see the module doc)."""
        datasets, _ = parse_datasets(datasets)
        return self._groups(datasets, self.footprints(datasets))

    @staticmethod
    def _groups(datasets, boxes) -> list[list[str]]:
        free = {name for name, _ in _keys(datasets.models, boxes)}
        return overlap_groups({name: b for name, b in boxes.items() if name in free})

    @staticmethod
    def _global_names(datasets, local) -> list[str]:
        """Models with free parameters that are not sources of a group."""
        free = {name for name, _ in _keys(datasets.models, [m.name for m in datasets.models])}
        return [m.name for m in datasets.models if m.name in free and m.name not in local]

    def _cutouts(self, datasets, boxes, names):
        """The datasets cut out around the footprints of ``names``, with only these models: the
        predicted counts of every other model (and the FoV background model) at their current
        values are added into the cutouts' background (lazily), exactly as the whole datasets
        predict them."""
        cutouts = []
        for k, dataset in enumerate(datasets):
            own = [boxes[n][k] for n in names if boxes[n][k] is not None]
            if not own:
                continue
            geom = dataset.counts.geom.to_image()
            x0, x1 = min(b[0] for b in own), max(b[1] for b in own)
            y0, y1 = min(b[2] for b in own), max(b[3] for b in own)
            scale = np.abs(geom.pixel_scales.to_value("deg"))
            lon, lat = geom.pix_to_coord(((x0 + x1) / 2, (y0 + y1) / 2))
            position = SkyCoord(lon, lat, frame=geom.frame)
            # one more IRF pixel on each side: the IRFs are interpolated between pixel centres
            margin = self.margin + _irf_pixel(dataset)
            width = ((x1 - x0) * scale[0] * u.deg + 2 * margin, (y1 - y0) * scale[1] * u.deg + 2 * margin)
            cutout = dataset.cutout(position, width, name=dataset.name)
            fixed = _fixed_npred(dataset, names)
            if fixed is not None:
                cutout.background = fixed.cutout(position, width)
            cutouts.append(cutout)
        out = type(datasets)(cutouts)
        out.models = [model for model in datasets.models if model.name in names]
        return out

    # -- running ----------------------------------------------------------------------------------

    def run(self, datasets) -> CatalogueFitResult:
        """Fit the free parameters of ``datasets``' models in groups, round after round.

        The models of ``datasets`` are updated in place (values and errors), as `Fit.run` does.
        """
        datasets, _ = parse_datasets(datasets)
        models = datasets.models
        if not _keys(models, [m.name for m in models]):
            raise InvalidArgumentError("No free parameters for fitting")
        trace = [float(datasets.stat_sum())]
        nfev, message = 0, f"stopped after max_rounds={self.max_rounds}"
        for _ in range(self.max_rounds):
            _, results = self._round(datasets, errors=False)
            nfev += sum(r.nfev for r in results)
            trace.append(float(datasets.stat_sum()))
            if abs(trace[-2] - trace[-1]) < self.tol:
                message = f"converged: the last round changed the statistic by {trace[-2] - trace[-1]:.3g}"
                break
        converged = message.startswith("converged")
        fits_succeeded = all(r.success for r in results)
        groups, results = self._round(datasets, errors=True)
        success = converged and fits_succeeded and all(r.success for r in results)
        return CatalogueFitResult(
            models=models.copy(),
            groups=groups,
            total_stat=trace[-1],
            rounds=len(trace) - 1,
            nfev=nfev,
            success=success,
            trace=trace,
            message=message,
        )

    def _round(self, datasets, errors: bool) -> tuple[list[list[str]], list[GroupFitResult]]:
        """One fit (or error estimate) of every group, in parallel, then of the global parameters,
        each written into the models: the groups and the results (the global fit's last)."""
        boxes = self.footprints(datasets)  # the sources move: grouped again every round
        groups = self._groups(datasets, boxes)
        values = [par.value for par in datasets.models.parameters]
        tasks = []
        for names in groups:
            key = f"catalogue-fit-group-{tokenize(names, values, datasets.names, repr(self.fit), errors)}"
            cutouts = self._cutouts(datasets, boxes, names)
            tasks.append(
                dask.delayed(fit_group, pure=True)(cutouts, names, self.fit, errors=errors, dask_key_name=key)
            )
        results = list(dask.compute(*tasks))
        # the sources' values first: the global parameters are fitted given them
        self._apply(datasets.models, results, values=not errors)
        global_names = self._global_names(datasets, {n for g in groups for n in g})
        if global_names:
            results.append(fit_group(datasets, global_names, self.fit, errors=errors))
            self._apply(datasets.models, results[-1:], values=not errors)
        return groups, results

    @staticmethod
    def _apply(models, results, *, values: bool) -> None:
        """Errors (and ``values``: best-fit values) of the fits' results into ``models``."""
        by_name = {model.name: model for model in models}
        for result in results:
            for (name, i), value in result.values.items():
                par = by_name[name].parameters[i]
                if values:
                    par.value = value
                par.error = result.errors[name, i]


def _fixed_npred(dataset, names):
    """Predicted counts of the dataset without the models ``names`` (None without background or
    other models), a lazy map."""
    others = [name for name in dataset.evaluators if name not in names]
    fixed = dataset.npred_background()
    if others:
        signal = dataset.npred_signal(model_names=others)
        fixed = signal if fixed is None else fixed + signal
    return fixed


def _irf_pixel(dataset) -> u.Quantity:
    """Largest pixel size of the dataset's IRF maps (0 without)."""
    sizes = [
        np.abs(irf.irf_map.geom.pixel_scales.to_value("deg")).max()
        for irf in (dataset.psf, dataset.edisp)
        if irf is not None and hasattr(irf.irf_map.geom, "pixel_scales")
    ]
    return max(sizes, default=0.0) * u.deg


def _pixel_box(geom, position, width) -> tuple[float, float, float, float] | None:
    """``(x_min, x_max, y_min, y_max)`` of a square of side ``width`` centred on ``position``."""
    if position is None or width is None:
        return None
    x, y = (float(np.ravel(p)[0]) for p in geom.coord_to_pix(position)[:2])
    scale = np.abs(geom.pixel_scales.to_value("deg"))
    half_x, half_y = 0.5 * width.to_value("deg") / scale[0], 0.5 * width.to_value("deg") / scale[1]
    return x - half_x, x + half_x, y - half_y, y + half_y
