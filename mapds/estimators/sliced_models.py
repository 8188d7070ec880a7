"""Models for a dataset sliced in energy (gammapy's ``Models._slice_by_energy``)."""

from __future__ import annotations

from ..datasets.reshape import energy_slice

__all__ = ["slice_models_by_energy"]


def slice_models_by_energy(models, energy_min, energy_max, sum_over_energy_groups: bool = False):
    """A copy of ``models`` for a dataset sliced to ``[energy_min, energy_max]``.

    Each `TemplateNPredModel`'s map is cut to the bins the dataset keeps (the datasets' own rule,
    so that the bins match) and, with ``sum_over_energy_groups``, summed over them; the other
    models are copied unchanged.
    """
    models = models.copy()
    for model in models:
        if model.tag == "TemplateNPredModel":
            index = energy_slice(model.map.geom.axes["energy"], energy_min, energy_max)
            model.map = model.map.slice_by_idx({"energy": index})
            if sum_over_energy_groups:
                model.map = model.map.sum_over_axes(keepdims=True)
    return models
