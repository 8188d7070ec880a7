"""Model registries: look up model classes by the ``type`` tag found in YAML files.

Every model class has ``tag = [<class name>, <short name>]``; either name finds the class.  The
modules defining models add their classes here when they are imported.
"""

from __future__ import annotations

from ...errors import ModelError, UnknownModelTypeError

__all__ = [
    "MODEL_REGISTRY",
    "SPATIAL_MODEL_REGISTRY",
    "SPECTRAL_MODEL_REGISTRY",
    "TEMPORAL_MODEL_REGISTRY",
    "ModelRegistry",
]


class ModelRegistry(list):
    """A list of model classes of one kind, searchable by tag.

    Parameters
    ----------
    kind : str
        What the classes model ("spectral", "spatial", "temporal", "sky"), used in error messages.
    """

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, *classes: type) -> None:
        """Add model classes (their tags must not be taken yet)."""
        for cls in classes:
            for tag in _tags(cls):
                if tag in self.tags:
                    raise ModelError(f"{self.kind} model tag {tag!r} is already registered")
            self.append(cls)

    @property
    def tags(self) -> list[str]:
        """Every registered tag, long and short."""
        return [tag for cls in self for tag in _tags(cls)]

    def get_cls(self, tag: str) -> type:
        """The class registered under ``tag`` (long or short name)."""
        for cls in self:
            if tag in _tags(cls):
                return cls
        raise UnknownModelTypeError(
            f"Unknown {self.kind} model type {tag!r}; known types: {', '.join(self.tags)}"
        )


def _tags(cls: type) -> list[str]:
    tag = cls.tag
    return list(tag) if isinstance(tag, (list, tuple)) else [tag]


#: Spectral model classes.
SPECTRAL_MODEL_REGISTRY = ModelRegistry("spectral")
#: Spatial model classes.
SPATIAL_MODEL_REGISTRY = ModelRegistry("spatial")
#: Temporal model classes.
TEMPORAL_MODEL_REGISTRY = ModelRegistry("temporal")
#: Top-level model components of a models YAML file (`SkyModel`, `FoVBackgroundModel`).
MODEL_REGISTRY = ModelRegistry("sky")
