"""Datasets: counts, exposure, background and IRF maps with the models that predict them."""

from .geoms import create_map_dataset_geoms
from .map_dataset import MapDataset
from .spectrum import SpectrumDataset

__all__ = ["MapDataset", "SpectrumDataset", "create_map_dataset_geoms"]
