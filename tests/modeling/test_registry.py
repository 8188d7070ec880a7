"""Model registries and the table of supported models in the package docstring."""

from __future__ import annotations

import re

import pytest
from gammapy.modeling import models as gammapy_models

import mapds.modeling
from mapds.errors import ModelError, UnknownModelTypeError
from mapds.modeling import models
from mapds.modeling.models.registry import ModelRegistry

REGISTRIES = {
    "spectral": (models.SPECTRAL_MODEL_REGISTRY, gammapy_models.SPECTRAL_MODEL_REGISTRY),
    "spatial": (models.SPATIAL_MODEL_REGISTRY, gammapy_models.SPATIAL_MODEL_REGISTRY),
    "temporal": (models.TEMPORAL_MODEL_REGISTRY, gammapy_models.TEMPORAL_MODEL_REGISTRY),
    "sky": (models.MODEL_REGISTRY, gammapy_models.MODEL_REGISTRY),
}


@pytest.mark.parametrize("kind", REGISTRIES)
def test_tags_match_gammapy_and_both_names_work(kind):
    ours, theirs = REGISTRIES[kind]
    for cls in ours:
        tags = _tags(cls)  # (long, short), or one name (TemplateNPredModel, as in gammapy)
        assert theirs.get_cls(tags[0]).tag == cls.tag
        assert all(ours.get_cls(tag) is cls for tag in tags)


def _tags(cls) -> list[str]:
    return [cls.tag] if isinstance(cls.tag, str) else list(cls.tag)


def test_unknown_tag_names_the_kind_and_the_known_types():
    with pytest.raises(UnknownModelTypeError, match=r"spatial model type 'blob'.*PointSpatialModel, point"):
        models.SPATIAL_MODEL_REGISTRY.get_cls("blob")


def test_a_tag_is_registered_once():
    registry = ModelRegistry("spectral")
    registry.register(models.PowerLawSpectralModel)
    with pytest.raises(ModelError, match="'PowerLawSpectralModel' is already registered"):
        registry.register(models.PowerLawSpectralModel)


def test_docstring_table_lists_every_model_with_its_tag_and_parameters():
    rows = re.findall(r"^\| `(\w+)` \| `([\w-]+)` \| (.*) \|$", mapds.modeling.__doc__, flags=re.MULTILINE)
    registered = {cls.__name__: cls for registry, _ in REGISTRIES.values() for cls in registry}
    assert sorted(name for name, _, _ in rows) == sorted(registered)
    for name, tag, parameters in rows:
        cls = registered[name]
        assert _tags(cls)[-1] == tag
        listed = re.findall(r"(\w+)=", parameters)
        assert all(par in cls.default_parameters.names for par in listed), name
        if cls.default_parameters.names and name != "PointSpatialModel":
            expected = [p for p in cls.default_parameters.names if p not in ("lon_0", "lat_0")]
            assert listed == expected, name
