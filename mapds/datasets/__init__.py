"""Datasets: counts, exposure, background and IRF maps with the models that predict them."""

from . import accessor  # noqa: F401  (registers the Dataset ``.mapds`` accessor)
from .core import Dataset, Datasets, stack_to_zarr
from .geoms import create_map_dataset_geoms
from .map_dataset import MapDataset
from .map_dataset_onoff import MapDatasetOnOff
from .spectrum import SpectrumDataset

__all__ = [
    "Dataset",
    "Datasets",
    "MapDataset",
    "MapDatasetOnOff",
    "SpectrumDataset",
    "create_map_dataset_geoms",
    "stack_to_zarr",
]
