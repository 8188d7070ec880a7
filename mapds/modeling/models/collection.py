"""Model collections: `DatasetModels` (immutable) and `Models` (mutable), and their YAML files.

A models file is gammapy's: a ``components:`` list (one entry per `SkyModel` or
`FoVBackgroundModel`), an optional ``covariance:`` file name and a ``metadata:`` block.  Files
and the templates and covariance files they name may live on any fsspec URL; relative names
are resolved against the directory of the models file.
"""

from __future__ import annotations

import logging
from collections.abc import MutableSequence, Sequence

import numpy as np
from astropy.table import Table

from ...errors import (
    CorruptFileError,
    ModelError,
    OverwriteError,
    StorageError,
    UnitMismatchError,
)
from ...io.atomic import atomic_file
from ...io.paths import join, make_path, split
from ...io.urls import resolve, storage_errors
from ..covariance import CovarianceMixin, read_covariance_table, write_covariance_table
from ..parameter import Parameters
from ..yaml_io import add_checksum, decode_utf8, dump_yaml, load_yaml, metadata_yaml
from .core import ModelBase
from .cube import FoVBackgroundModel, SkyModel, TemplateNPredModel
from .registry import MODEL_REGISTRY

__all__ = ["DatasetModels", "Models"]

log = logging.getLogger(__name__)

#: Errors of one component that `DatasetModels.from_dict` re-raises naming the component.
_COMPONENT_ERRORS = (ModelError, UnitMismatchError, StorageError)


# -- paths (local or fsspec URLs) ------------------------------------------------------------------


def _exists(path: str) -> bool:
    return resolve(path).exists()


def _read_text(path: str) -> str:
    location = resolve(path)
    with storage_errors(path), location.fs.open(location.path, "rb") as f:
        raw = f.read()
    return decode_utf8(raw, path)


def _write_text(path: str, text: str, overwrite: bool) -> None:
    """Write a text file atomically (never a half-written file; no clobbering unless asked)."""
    location = resolve(path)
    with (
        storage_errors(path),
        atomic_file(location, overwrite=overwrite) as tmp,
        open(tmp, "w", encoding="utf-8") as f,
    ):
        f.write(text)


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


# -- filename handling and parameter links ---------------------------------------------------------


def _resolve_filenames(data: dict, directory: str) -> dict:
    """Copy of a component dict with every existing ``filename`` made relative to ``directory``."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = _resolve_filenames(value, directory)
        elif key == "filename" and isinstance(value, str) and directory:
            candidate = join(directory, value)
            if _exists(candidate):
                value = candidate
        out[key] = value
    return out


def _relative_filenames(model, directory: str) -> None:
    """Template file names inside ``directory`` shortened back to their base name."""
    filename = getattr(model, "filename", None)
    if filename is not None:
        parent, name = split(filename)
        if parent == directory:
            model.filename = name
    for sub_model in getattr(model, "_models", []):
        _relative_filenames(sub_model, directory)


def _leaf_models(models) -> list:
    out = []
    for model in models:
        sub_models = getattr(model, "_models", None)
        out.extend(_leaf_models(sub_models) if sub_models is not None else [model])
    return out


def _link_parameters(models) -> None:
    """Make parameters with the same YAML ``link`` label one shared object."""
    shared = {}
    for model in _leaf_models(models):
        for par in model.parameters:
            label = par.link_label
            if label is None:
                continue
            if label in shared:
                setattr(model, par.name, shared[label])
            else:
                shared[label] = par


def _check_unique_names(models) -> None:
    names = [model.name for model in models]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ModelError(f"Model names must be unique; duplicated: {duplicated}")


def _background_models(models) -> dict[str, str]:
    """Dataset name -> FoV background model name, checking there is at most one per dataset."""
    mapping = {}
    for model in models:
        if isinstance(model, FoVBackgroundModel):
            for dataset in model.datasets_names:
                if dataset in mapping:
                    raise ModelError(
                        f"Only one FoVBackgroundModel per dataset is permitted: {dataset!r} has "
                        f"{mapping[dataset]!r} and {model.name!r}"
                    )
                mapping[dataset] = model.name
    return mapping


def _component_label(index: int, data) -> str:
    if not isinstance(data, dict):
        return f"components[{index}]"
    name = data.get("name")
    if name is None and data.get("datasets_names"):
        name = f"{data['datasets_names'][0]}-bkg"
    return f"components[{index}] (name {name!r}, type {data.get('type')!r})"


def _check_component(component) -> None:
    """Check what every ``components:`` entry shares before its model class reads it.

    A list where the ``name`` belongs, or a number as ``datasets_names``, would otherwise fail
    far from the file (or, for ``datasets_names``, be dropped silently).
    """
    if not isinstance(component, dict):
        raise ModelError(f"expected a mapping, got {component!r:.80}")
    name = component.get("name")
    if name is not None and not isinstance(name, str):
        raise ModelError(f"'name' must be a string, got {name!r:.80}")
    names = component.get("datasets_names")
    if names is not None and not isinstance(names, str):
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ModelError(f"'datasets_names' must be a list of dataset names, got {names!r:.80}")


class DatasetModels(CovarianceMixin, Sequence):
    """An immutable, ordered collection of models with unique names.

    Parameters
    ----------
    models : `SkyModel`, `FoVBackgroundModel`, list of models or `DatasetModels`, optional
        The models.
    covariance_data : array-like, optional
        Covariance matrix of all parameters.
    """

    def __init__(self, models=None, covariance_data=None):
        if models is None:
            models = []
        elif isinstance(models, DatasetModels):
            if covariance_data is None:
                covariance_data = models.covariance.data
            models = list(models._models)
        elif isinstance(models, ModelBase):
            models = [models]
        elif isinstance(models, (list, tuple)):
            models = list(models)
        else:
            raise TypeError(f"Invalid models type: {type(models).__name__}")
        _check_unique_names(models)
        self._background_models = _background_models(models)
        self._models = models
        self._covar_file = None
        self._covariance = None
        if covariance_data is not None:
            self.covariance = covariance_data

    # -- sequence --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._models)

    def __getitem__(self, key):
        """Model by position or name; a collection for a slice or boolean mask."""
        if isinstance(key, slice):
            return self.__class__(self._models[key])
        if isinstance(key, np.ndarray) and key.dtype == bool:
            return self.__class__([m for m, keep in zip(self._models, key, strict=True) if keep])
        return self._models[self.index(key)]

    def index(self, key) -> int:
        """Position of a model given by index, name or identity."""
        if isinstance(key, (int, np.integer)):
            return int(key)
        if isinstance(key, str):
            if key not in self.names:
                raise ModelError(f"No model named {key!r}; models are {self.names}")
            return self.names.index(key)
        if isinstance(key, ModelBase):
            for idx, model in enumerate(self._models):
                if model is key:
                    return idx
            raise ModelError(f"Model {key.name!r} is not in this collection")
        raise TypeError(f"Invalid model key type: {type(key).__name__}")

    def __add__(self, other) -> Models:
        if isinstance(other, (DatasetModels, list)):
            return Models([*self, *other])
        if isinstance(other, ModelBase):
            return Models([*self, other])
        raise TypeError(f"Cannot add {type(other).__name__} to {type(self).__name__}")

    # -- views -----------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Model names."""
        return [model.name for model in self._models]

    @property
    def parameters(self) -> Parameters:
        """All parameters, model after model."""
        return Parameters.from_stack([model.parameters for model in self._models])

    @property
    def parameters_unique_names(self) -> list[str]:
        """``<model>.<type>.<parameter>`` for every unique parameter (covariance file rows)."""
        return [f"{model.name}.{name}" for model in self._models for name in model.parameters_unique_names]

    @property
    def background_models(self) -> dict[str, str]:
        """Dataset name -> name of its `FoVBackgroundModel`."""
        return dict(self._background_models)

    @property
    def frozen(self) -> bool:
        """Whether every parameter of every model is frozen."""
        return bool(np.all([model.frozen for model in self._models]))

    # -- selection -------------------------------------------------------------------------------

    def selection_mask(
        self, name_substring=None, datasets_names=None, tag=None, model_type=None, frozen=None
    ) -> np.ndarray:
        """Boolean mask of the models meeting every condition given (see :meth:`select`)."""
        tags = [tag] if isinstance(tag, str) else tag
        datasets = [datasets_names] if isinstance(datasets_names, str) else datasets_names
        mask = np.ones(len(self), dtype=bool)
        for idx, model in enumerate(self._models):
            if name_substring:
                mask[idx] &= name_substring in model.name
            if datasets:
                names = model.datasets_names
                mask[idx] &= names is None or any(name in names for name in datasets)
            if tags:
                target = model if model_type is None else getattr(model, f"{model_type}_model", None)
                mask[idx] &= target is not None and any(t in target.tag for t in tags)
            if frozen is not None:
                mask[idx] &= model.frozen == frozen
        return mask

    def select(self, name_substring=None, datasets_names=None, tag=None, model_type=None, frozen=None):
        """Models meeting every condition given.

        Parameters
        ----------
        name_substring : str, optional
            Substring of the model name.
        datasets_names : str or list of str, optional
            Models applying to any of these datasets (or to all datasets).
        tag : str or list of str, optional
            Model tag (long or short), of the model itself or of its ``model_type`` component.
        model_type : {"spectral", "spatial", "temporal"}, optional
            Component whose tag is checked.
        frozen : bool, optional
            Only models with all parameters frozen (True) or the others (False).
        """
        return self[self.selection_mask(name_substring, datasets_names, tag, model_type, frozen)]

    def freeze(self, model_type: str | None = None) -> None:
        """Freeze all parameters (or those of the spectral, spatial or temporal components)."""
        for model in self._models:
            model.freeze(model_type)

    def unfreeze(self, model_type: str | None = None) -> None:
        """Restore default frozen flags (of all, or of the spectral, spatial or temporal components)."""
        for model in self._models:
            model.unfreeze(model_type)

    def restore_status(self, restore_values: bool = True) -> _RestoreModelsStatus:
        """Context manager restoring values (optionally), frozen flags and covariance on exit."""
        return _RestoreModelsStatus(self, restore_values)

    def copy(self, copy_data: bool = False):
        """Copy keeping names, parameter links and covariance."""
        self.parameters.update_link_label()
        models = [model.copy(name=model.name, copy_data=copy_data) for model in self._models]
        _link_parameters(models)
        return self.__class__(models, covariance_data=self.covariance.data.copy())

    def to_parameters_table(self) -> Table:
        """Parameter table with a leading ``model`` column."""
        table = self.parameters.to_table()
        table.add_column([name.split(".")[0] for name in self.parameters_unique_names], name="model", index=0)
        return table

    # -- serialisation --------------------------------------------------------------------------

    def to_dict(self, full_output: bool = False, overwrite_templates: bool = False) -> dict:
        """``{"components": [...], ["covariance": <file>]}``.

        With ``overwrite_templates=True`` template maps are (re)written to their files.
        """
        self.parameters.update_link_label()
        if overwrite_templates:
            self._write_templates(overwrite=True)
        data = {"components": [model.to_dict(full_output) for model in self._models]}
        if self._covar_file is not None:
            data["covariance"] = str(self._covar_file)
        return data

    def to_yaml(self, full_output: bool = False, overwrite_templates: bool = False) -> str:
        """YAML text as gammapy writes it (with a ``metadata:`` block)."""
        return dump_yaml(self.to_dict(full_output, overwrite_templates)) + metadata_yaml()

    def write(
        self,
        path,
        overwrite: bool = False,
        full_output: bool = False,
        overwrite_templates: bool = False,
        write_covariance: bool = True,
        checksum: bool = False,
        *,
        extra: dict | None = None,
    ) -> None:
        """Write a models YAML file (and ``<stem>_covariance.dat`` next to it).

        Parameters
        ----------
        path : str or `~pathlib.Path`
            File (local or fsspec URL).
        overwrite : bool
            Replace existing files.
        full_output : bool
            Write every parameter field, not only those differing from the defaults.
        overwrite_templates : bool
            Rewrite template maps whose file exists (missing ones are always written).
        write_covariance : bool
            Write the covariance file.
        checksum : bool
            Append a ``checksum:`` line.
        extra : dict, optional, keyword-only
            Written as YAML before the models (a fit result's step summaries, as gammapy does).
        """
        path = make_path(path)
        if _exists(path) and not overwrite:
            raise OverwriteError(f"{path!r} exists; pass overwrite=True to replace it")
        directory, name = split(path)
        if write_covariance and len(self.parameters) > 0:
            covariance_name = f"{_stem(name)}_covariance.dat"
            self.write_covariance(join(directory, covariance_name), overwrite=overwrite)
            self._covar_file = covariance_name
        self._write_templates(overwrite=overwrite_templates)
        text = self.to_yaml(full_output)
        if extra:
            text = dump_yaml(extra) + text
        _write_text(path, add_checksum(text) if checksum else text, overwrite=overwrite)

    def _write_templates(self, overwrite: bool) -> None:
        for model in self._models:
            spatial = getattr(model, "spatial_model", None)
            if spatial is not None and "template" in spatial.tag:
                spatial.write(overwrite=overwrite)
            if isinstance(model, TemplateNPredModel) and model.filename is not None:
                model.write(overwrite=overwrite)

    def write_covariance(self, filename, overwrite: bool = False) -> None:
        """Write the covariance matrix (rows named by :attr:`parameters_unique_names`)."""
        text = write_covariance_table(self.parameters_unique_names, self.covariance.data)
        _write_text(str(filename), text, overwrite=overwrite)

    def read_covariance(self, path, filename: str = "_covariance.dat") -> None:
        """Set the covariance (and the parameter errors) from ``path/filename``."""
        location = join(str(path), filename)
        text = _read_text(location)
        self.covariance = read_covariance_table(text, source=f"Covariance file {location}")
        self._covar_file = filename

    @classmethod
    def read(cls, filename, checksum: bool = False):
        """Models from a YAML file (local or fsspec URL)."""
        filename = make_path(filename)
        directory, _ = split(filename)
        return cls.from_yaml(_read_text(filename), path=directory, checksum=checksum, source=filename)

    @classmethod
    def from_yaml(cls, yaml_str: str, path: str = "", checksum: bool = False, *, source: str | None = None):
        """Models from YAML text; relative file names are resolved against ``path``."""
        data = load_yaml(yaml_str, source=source or "models YAML", checksum=checksum)
        data.pop("metadata", None)
        try:
            return cls.from_dict(data, path=path)
        except _COMPONENT_ERRORS as exc:
            if source is None:
                raise
            raise type(exc)(f"{source}: {exc}") from exc  # name the file, not only the component

    @classmethod
    def from_dict(cls, data: dict, path: str = ""):
        """Models from a dictionary (``components``, optional ``covariance``)."""
        components = data.get("components") if isinstance(data, dict) else None
        if not isinstance(components, list):
            raise ModelError("A models dictionary needs a 'components' list")
        path = str(path)
        models = []
        for index, component in enumerate(components):
            label = _component_label(index, component)
            try:
                _check_component(component)
                model_cls = MODEL_REGISTRY.get_cls(component.get("type"))
                model = model_cls.from_dict(_resolve_filenames(component, path))
            except _COMPONENT_ERRORS as exc:
                raise type(exc)(f"{label}: {exc}") from exc
            _relative_filenames(model, path)
            models.append(model)
        models = cls(models)
        if "covariance" in data:
            models._read_covariance_entry(str(data["covariance"]), path)
        _link_parameters(models)
        return models

    def _read_covariance_entry(self, filename: str, path: str) -> None:
        """Read the ``covariance:`` file as gammapy does (an unusable matrix only warns)."""
        if not _exists(join(path, filename)):
            path, filename = split(make_path(filename))
        try:
            self.read_covariance(path, filename)
        except (CorruptFileError, ModelError) as exc:
            log.warning(
                f"Impossible to read the covariance correctly:\n{exc}\n"
                "Covariance will be created from errors and non-diagonal terms ignored."
            )

    def __str__(self) -> str:
        self.parameters.update_link_label()
        text = f"{type(self).__name__}\n\n"
        for idx, model in enumerate(self._models):
            text += f"Component {idx}: {model}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.names})"


class Models(DatasetModels, MutableSequence):
    """A mutable collection of models (unique names, at most one FoV background per dataset)."""

    def __setitem__(self, key, model) -> None:
        if not isinstance(model, (SkyModel, FoVBackgroundModel)):
            raise TypeError(f"Models hold SkyModel or FoVBackgroundModel objects, got {type(model).__name__}")
        models = list(self._models)
        models[self.index(key)] = model
        self._set_models(models)

    def __delitem__(self, key) -> None:
        models = list(self._models)
        del models[self.index(key)]
        self._set_models(models)

    def insert(self, index: int, model) -> None:
        """Insert a model before ``index``."""
        models = list(self._models)
        models.insert(index, model)
        self._set_models(models)

    def _set_models(self, models: list) -> None:
        _check_unique_names(models)
        self._background_models = _background_models(models)
        self._models = models


#: ``sky_model + other`` makes a `Models` (the models do not import this module).
SkyModel.collection_class = FoVBackgroundModel.collection_class = Models


class _RestoreModelsStatus:
    """Context manager saving parameter values, frozen flags and covariance on creation."""

    def __init__(self, models: DatasetModels, restore_values: bool):
        self._models = models
        self._restore_values = restore_values
        self._status = models.parameters.restore_status(restore_values)
        self._covariance = models.covariance.data.copy()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info) -> None:
        self._status.__exit__(*exc_info)
        self._models.covariance = self._covariance
