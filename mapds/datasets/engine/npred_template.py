"""The evaluator of a `~mapds.modeling.models.TemplateNPredModel`: its map, scaled, on the counts
grid.

The model's contribution is a lazy product of its map with a few numbers (the norm per reco-energy
bin), rechunked to the counts chunks; nothing is cached between evaluations, because nothing but
that product depends on the parameters.  It enters the npred graph as a global term, like a model
evaluated per chunk: every tile of the statistic depends on it.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from ...errors import GeometryMismatchError
from ...modeling.models import TemplateNPredModel
from .lookup import EvaluationInputs

__all__ = ["TemplateNPredEvaluator"]


class TemplateNPredEvaluator:
    """Gives the npred graph the predicted counts of a `TemplateNPredModel`.

    Parameters
    ----------
    model : TemplateNPredModel
        The model (its map must be on the dataset's counts grid).
    """

    evaluation_mode = "global"

    def __init__(self, model: TemplateNPredModel):
        self.model = model

    def resolve_contributes(self) -> bool:
        """A template of predicted counts always contributes."""
        return True

    def global_array(self, inputs: EvaluationInputs, chunks) -> tuple[da.Array, Delayed]:
        """The model's predicted counts on the counts grid, chunked as ``chunks``, and a node with
        nothing to remember (the model keeps no lookup)."""
        geom = self.model.map.geom
        if geom.data_shape != inputs.geom.data_shape or not geom.to_image() == inputs.geom.to_image():
            raise GeometryMismatchError(
                f"TemplateNPredModel {self.model.name!r}: its map ({geom.data_shape}) is not on the "
                f"dataset's counts grid ({inputs.geom.data_shape})"
            )
        npred = self.model.evaluate().dask_data.astype(np.float64)
        key = "template-npred-" + tokenize(npred.name)
        node = Delayed(key, HighLevelGraph.from_collections(key, {key: None}, dependencies=[]))
        return (npred if npred.chunks == tuple(chunks) else npred.rechunk(chunks)), node

    def remember(self, key: str, result) -> None:
        """Nothing to keep: the product is remade from the lazy map at each evaluation."""
