"""mapds: gammapy's ``MapDataset`` as a lazy, chunked, out-of-core engine on xarray and dask.

The subpackages mirror gammapy's (``mapds.maps``, ``mapds.irf``, ``mapds.modeling.models``,
``mapds.datasets``, ``mapds.data``, ``mapds.stats``); the most used classes are also here.
"""

from importlib.metadata import PackageNotFoundError, version

from .data import GTI
from .datasets import Datasets, MapDataset, MapDatasetOnOff, SpectrumDataset
from .geom import MapAxis, RegionGeom, WcsGeom
from .irf import EDispKernelMap, EDispMap, PSFMap
from .maps import Map, RegionNDMap
from .modeling import Parameter, Parameters
from .modeling.models import FoVBackgroundModel, Models, SkyModel

try:
    __version__ = version("mapds")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "unknown"

__all__ = [
    "GTI",
    "Datasets",
    "EDispKernelMap",
    "EDispMap",
    "FoVBackgroundModel",
    "Map",
    "MapAxis",
    "MapDataset",
    "MapDatasetOnOff",
    "Models",
    "PSFMap",
    "Parameter",
    "Parameters",
    "RegionGeom",
    "RegionNDMap",
    "SkyModel",
    "SpectrumDataset",
    "WcsGeom",
    "__version__",
]
