"""Datasets: counts, exposure, background and IRF maps with the models that predict them."""

from .map_dataset import MapDataset

__all__ = ["MapDataset"]
