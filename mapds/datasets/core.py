"""`Dataset`, the base of every dataset, and `Datasets`, a list of datasets with unique names,
their shared models and their YAML files (gammapy's ``gammapy.datasets.core``).

Dataset classes register themselves by their ``tag`` when they are defined
(:data:`DATASET_TYPES`), so this module needs none of them: datasets files name the class to
read, and stacking many files opens them with the class they name.

The datasets file is gammapy's: a ``datasets:`` list of ``{name, type, filename}`` entries
(one FITS or zarr file per dataset, next to the YAML file), a ``metadata:`` block and an
optional ``checksum:`` line; models go to their own YAML file (:mod:`mapds.modeling`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableSequence, Sequence
from dataclasses import dataclass

import dask
import numpy as np
from astropy.table import Table, vstack

from ..data import GTI
from ..errors import CorruptFileError, InvalidArgumentError, ModelError, OverwriteError
from ..io.atomic import atomic_file, temp_sibling
from ..io.paths import join, make_path, parent
from ..io.urls import resolve, storage_errors
from ..modeling import Covariance, Parameters
from ..modeling.fit import DATASETS_CLASS
from ..modeling.models import DatasetModels, Models
from ..modeling.names import make_name
from ..modeling.yaml_io import add_checksum, dump_yaml, load_yaml, metadata_yaml
from . import stacking
from .engine.in_process import compute_in_process

__all__ = ["DATASET_TYPES", "Dataset", "Datasets", "LazyStatSum", "open_datasets", "stack_to_zarr"]

#: Dataset classes by the ``type`` written in datasets YAML files (filled as they are defined).
DATASET_TYPES: dict[str, type] = {}


@dataclass(frozen=True)
class LazyStatSum:
    """A dataset's statistic ready to compute: dask ``nodes``, and ``finish`` turning their values
    into the statistic (and keeping what the dataset caches from them).

    ``in_process`` says the nodes are a few tasks on in-memory data, best computed in the calling
    thread (see :func:`~mapds.datasets.engine.in_process.compute_in_process`).
    """

    nodes: tuple
    finish: Callable[[Sequence], float]
    in_process: bool = False


class Dataset:
    """Base of every dataset (gammapy's ``Dataset``): a named thing with a fit statistic.

    Subclasses set ``tag`` (the ``type`` in datasets files) and are registered under it.
    """

    tag: str = "Dataset"

    def stat_sum(self, *, compute=True):
        """The total fit statistic (a 0-d dask array if ``compute`` is False)."""
        raise NotImplementedError(f"{type(self).__name__} has no fit statistic")

    def lazy_stat_sum(self) -> LazyStatSum:
        """The statistic as nodes to compute together with other datasets' (`Datasets.stat_sum`)."""
        return LazyStatSum((self.stat_sum(compute=False),), lambda values: float(values[0]))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "tag" in cls.__dict__:
            DATASET_TYPES[cls.tag] = cls

    def __add__(self, other) -> Datasets:
        """``dataset + other`` (a dataset, list or `Datasets`) makes a `Datasets`."""
        if isinstance(other, (Datasets, list)):
            return Datasets([self, *other])
        if isinstance(other, Dataset):
            return Datasets([self, other])
        raise TypeError(f"Cannot add {type(other).__name__} to {type(self).__name__}")


def _check_unique(names: list[str]) -> None:
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise InvalidArgumentError(f"Dataset names must be unique; duplicated: {duplicated}")


def _as_dataset(dataset) -> Dataset:
    if not isinstance(dataset, Dataset):
        kind = type(dataset).__name__
        raise TypeError(f"Datasets hold datasets (MapDataset, SpectrumDataset...), got {kind}")
    return dataset


class Datasets(MutableSequence):
    """An ordered collection of datasets with unique names (gammapy's ``Datasets``).

    Parameters
    ----------
    datasets : `MapDataset`, list of `MapDataset` or `Datasets`, optional
        The datasets.

    Examples
    --------
    >>> datasets = Datasets.read("datasets.yaml", filename_models="models.yaml")  # doctest: +SKIP
    >>> datasets.stat_sum()  # doctest: +SKIP
    """

    def __init__(self, datasets=None):
        if datasets is None:
            datasets = []
        elif isinstance(datasets, Datasets):
            datasets = list(datasets._datasets)
        elif isinstance(datasets, Dataset):
            datasets = [datasets]
        elif isinstance(datasets, (list, tuple)):
            datasets = [_as_dataset(d) for d in datasets]
        else:
            raise TypeError(f"Invalid datasets type: {type(datasets).__name__}")
        _check_unique([d.name for d in datasets])
        self._datasets = datasets
        self._covariance = None

    # -- sequence ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._datasets)

    def __getitem__(self, key):
        """Dataset by position, name or identity (a list for a slice, as gammapy)."""
        return self._datasets[self.index(key)]

    def __setitem__(self, key, dataset) -> None:
        index = self.index(key)
        if dataset.name in [d.name for i, d in enumerate(self._datasets) if i != index]:
            raise InvalidArgumentError(f"Dataset names must be unique; {dataset.name!r} is already present")
        self._datasets[index] = _as_dataset(dataset)

    def __delitem__(self, key) -> None:
        del self._datasets[self.index(key)]

    def insert(self, index: int, dataset) -> None:
        """Insert a dataset before ``index``."""
        if _as_dataset(dataset).name in self.names:
            raise InvalidArgumentError(f"Dataset names must be unique; {dataset.name!r} is already present")
        self._datasets.insert(index, dataset)

    def index(self, key):
        """Position of a dataset given by index (or slice), name or identity."""
        if isinstance(key, (int, np.integer, slice)):
            return key
        if isinstance(key, str):
            if key not in self.names:
                raise KeyError(f"No dataset named {key!r}; datasets are {self.names}")
            return self.names.index(key)
        if isinstance(key, Dataset):
            for idx, dataset in enumerate(self._datasets):
                if dataset is key:
                    return idx
            raise KeyError(f"Dataset {key.name!r} is not in this collection")
        raise TypeError(f"Invalid dataset key type: {type(key).__name__}")

    def __add__(self, other) -> Datasets:
        if isinstance(other, (Datasets, list)):
            return Datasets([*self, *other])
        if isinstance(other, Dataset):
            return Datasets([*self, other])
        raise TypeError(f"Cannot add {type(other).__name__} to Datasets")

    # -- properties -------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Dataset names."""
        return [d.name for d in self._datasets]

    @property
    def models(self) -> DatasetModels:
        """The models of all datasets, each once, in order of appearance."""
        unique = {}
        for dataset in self._datasets:
            for model in dataset.models or []:
                unique.setdefault(id(model), model)
        models = DatasetModels(list(unique.values()))
        if self._covariance is not None and self._covariance.parameters == models.parameters:
            # the joint covariance keeps the correlations between models; a model whose own
            # covariance was set since (e.g. through another collection) brings its block in
            covariance = Covariance(models.parameters, self._covariance.data.copy())
            for model in models:
                covariance.set_subcovariance(model.covariance)
            self._covariance = covariance
            return DatasetModels(models, covariance_data=covariance.data)
        return models

    @models.setter
    def models(self, models) -> None:
        """Give every dataset the models meant for it (``datasets_names`` None or naming it).

        Raises
        ------
        ModelError
            A model names datasets of which none is in this collection.
        """
        if models is not None:
            models = DatasetModels(models)
            names = set(self.names)
            for model in models:
                if model.datasets_names is not None and not names.intersection(model.datasets_names):
                    raise ModelError(
                        f"Model {model.name!r} is for datasets {list(model.datasets_names)}, none of "
                        f"which is in this collection {self.names}"
                    )
            self._covariance = models.covariance if len(models) else None
        for dataset in self._datasets:
            dataset.models = models

    @property
    def covariance(self) -> Covariance:
        """The covariance of :attr:`models`' parameters (a fit sets it)."""
        return self.models.covariance

    @covariance.setter
    def covariance(self, covariance: Covariance) -> None:
        self._covariance = covariance

    @property
    def parameters(self):
        """Parameters of :attr:`models`, each once."""
        return self.models.parameters.unique_parameters

    @property
    def is_all_same_type(self) -> bool:
        """Whether all datasets are of one class."""
        return len({type(d) for d in self._datasets}) == 1

    @property
    def is_all_same_shape(self) -> bool:
        """Whether all datasets have the same data shape."""
        return len({d.data_shape for d in self._datasets}) == 1

    @property
    def is_all_same_energy_shape(self) -> bool:
        """Whether all datasets have the same number of reco-energy bins."""
        return len({d.data_shape[0] for d in self._datasets}) == 1

    @property
    def is_all_same_geom(self) -> bool:
        """Whether all datasets share the same geometry."""
        return all(d.geoms["geom"] == self._datasets[0].geoms["geom"] for d in self._datasets[1:])

    @property
    def energy_axes_are_aligned(self) -> bool:
        """Whether the reco-energy axes of all datasets are aligned."""
        axes = [d.counts.geom.axes["energy"] for d in self._datasets]
        return all(axes[0].is_aligned(axis) for axis in axes)

    @property
    def contributes_to_stat(self) -> np.ndarray:
        """Whether each dataset has a bin in its mask (True without mask); one computation."""
        lazy = [d.mask.data.any() if d.mask is not None else True for d in self._datasets]
        return np.array([bool(v) for v in dask.compute(*lazy)], dtype=bool)

    @property
    def gti(self) -> GTI | None:
        """One interval per dataset with a non-empty GTI: its first start to its last stop."""
        intervals = [
            (d.gti.time_start[0], d.gti.time_stop[-1])
            for d in self._datasets
            if d.gti is not None and len(d.gti) > 0
        ]
        return GTI.from_time_intervals(intervals) if intervals else None

    @property
    def meta_table(self) -> Table:
        """Meta tables of the datasets stacked, with leading ``NAME`` and ``TYPE`` columns."""
        tables = [d.meta_table for d in self._datasets]
        present = [t for t in tables if t is not None]
        meta_table = vstack(present).copy() if present else Table()
        meta_table.add_column([d.tag for d in self._datasets], index=0, name="TYPE")
        meta_table.add_column(self.names, index=0, name="NAME")
        return meta_table

    # -- statistics -------------------------------------------------------------------------------

    def stat_sum(self, *, compute=True):
        """The joint statistic: the datasets' statistics, computed together, plus the priors of
        the models' parameters.

        Each dataset keeps what it caches between evaluations (see `MapDataset.stat_sum`), so a
        fit's evaluation costs what changed.  Small datasets compute in the calling thread; when
        any dataset is large the computation goes to the current dask scheduler.

        Parameters
        ----------
        compute : bool, keyword-only
            If False, return the lazy 0-d dask array of the datasets' statistics (priors and
            caches left out).
        """
        if not compute:
            lazy = [d.stat_sum(compute=False) for d in self._datasets]
            return sum(lazy[1:], lazy[0]) if lazy else 0.0
        pending = [d.lazy_stat_sum() for d in self._datasets]
        nodes = [node for p in pending for node in p.nodes]
        if all(p.in_process for p in pending):
            values = compute_in_process(*nodes)
        else:
            values = dask.compute(*nodes)
        total, start = 0.0, 0
        for p in pending:
            total += p.finish(values[start : start + len(p.nodes)])
            start += len(p.nodes)
        return total + self._prior_stat_sum()

    def _prior_stat_sum(self) -> float:
        """The priors' term: each parameter counted once, even when models share it (gammapy
        counts a shared parameter's prior once per model holding it)."""
        seen = {}
        for dataset in self._datasets:
            for model in dataset.models or []:
                for par in model.parameters:
                    seen.setdefault(id(par), par)
        return Parameters(list(seen.values())).prior_stat_sum()

    def stack_reduce(self, name=None, nan_to_num=True):
        """One dataset stacking all of them: ``datasets[0].to_masked()`` then ``stack`` of the
        others, in order (gammapy's result and order of additions), as dask graphs.

        Each output chunk of the result's maps is a chain of additions, one per dataset: compute
        them on the threaded scheduler, on a ``dask.distributed`` cluster, or stream them to
        storage with ``write(..., format="zarr")``.  See :func:`mapds.datasets.stacking.stack_reduce`.

        Parameters
        ----------
        name : str, optional
            Name of the stacked dataset (random if None).
        nan_to_num : bool
            Replace non-finite values by zero.
        """
        return stacking.stack_reduce(self._datasets, name=name, nan_to_num=nan_to_num)

    def info_table(self, cumulative: bool = False) -> Table:
        """Table of :meth:`MapDataset.info_dict` rows, computed together.

        Parameters
        ----------
        cumulative : bool
            Row ``i`` describes the stack of datasets ``0..i`` (model-dependent values are lost).
        """
        if not self.is_all_same_type:
            raise InvalidArgumentError("Info table not supported for mixed dataset types")
        if cumulative:
            stacked = self._datasets[0].to_masked(name="stacked")
            infos = [stacked.info_dict(compute=False)]
            for dataset in self._datasets[1:]:
                stacked.stack(dataset)
                infos.append(stacked.info_dict(compute=False))
        else:
            infos = [d.info_dict(compute=False) for d in self._datasets]
        (rows,) = dask.compute(infos)
        return Table(rows)

    # -- copies and text --------------------------------------------------------------------------

    def copy(self) -> Datasets:
        """Copies of the datasets (same names) sharing copies of their models.

        Maps are lazy graphs, so nothing large is copied; each model is copied once, so models
        shared between datasets stay shared between the copies.
        """
        originals = list(self.models)
        copies = dict(zip(map(id, originals), DatasetModels(originals).copy(), strict=True))
        new = []
        for dataset in self._datasets:
            copied = dataset.copy(name=dataset.name)
            if dataset.models is not None:
                copied.models = [copies[id(m)] for m in dataset.models]
            new.append(copied)
        return Datasets(new)

    def __str__(self) -> str:
        text = f"{type(self).__name__}\n--------\n\n"
        for idx, dataset in enumerate(self._datasets):
            try:
                instrument = set(dataset.meta_table["TELESCOP"]).pop()
            except (KeyError, TypeError):
                instrument = ""
            names = dataset.models.names if dataset.models else ""
            text += f"Dataset {idx}: \n\n"
            text += f"\tType       : {dataset.tag}\n"
            text += f"\tName       : {dataset.name}\n"
            text += f"\tInstrument : {instrument}\n"
            text += f"\tModels     : {names}\n\n"
        return text.expandtabs(tabsize=2)

    def __repr__(self) -> str:
        return f"Datasets({self.names})"

    # -- files ------------------------------------------------------------------------------------

    @classmethod
    def read(cls, filename, filename_models=None, lazy=True, cache=True, checksum=True) -> Datasets:
        """Datasets (and models) from gammapy's YAML files; the data stay on storage (lazy).

        Parameters
        ----------
        filename : str or os.PathLike
            Datasets YAML file (local or fsspec URL); dataset file names are relative to its
            directory.
        filename_models : str or os.PathLike, optional
            Models YAML file.
        lazy, cache : bool
            Accepted for gammapy compatibility (reading is always lazy).
        checksum : bool
            Verify the YAML ``checksum:`` line (a mismatch warns).
        """
        filename = make_path(filename)
        location = resolve(filename)
        with storage_errors(filename), location.fs.open(location.path, "rb") as f:
            raw = f.read()
        data = load_yaml(raw, source=filename, checksum=checksum)
        entries = data.get("datasets")
        if not isinstance(entries, list):
            raise InvalidArgumentError(f"{filename}: a datasets file needs a 'datasets' list")
        directory = parent(filename)
        datasets = []
        for index, entry in enumerate(entries):
            entry = _dataset_entry(entry, index, filename)
            candidate = join(directory, entry["filename"])
            if resolve(candidate).exists():
                entry["filename"] = candidate
            datasets.append(DATASET_TYPES[entry["type"]].from_dict(entry, lazy=lazy, cache=cache))
        datasets = cls(datasets)
        if filename_models is not None:
            datasets.models = Models.read(filename_models, checksum=checksum)
        return datasets

    def write(
        self, filename, filename_models=None, overwrite=False, write_covariance=True, checksum=True
    ) -> None:
        """Write the datasets file, one data file per dataset beside it, and the models file.

        Every file is written atomically; with ``overwrite=False`` an existing datasets file
        is reported before anything is written (:class:`~mapds.errors.OverwriteError`).

        Parameters
        ----------
        filename : str or os.PathLike
            Datasets YAML file (local or fsspec URL).
        filename_models : str or os.PathLike, optional
            Models YAML file.
        overwrite : bool
            Replace existing files.
        write_covariance : bool
            Write the models' covariance file.
        checksum : bool
            FITS checksum cards and a YAML ``checksum:`` line.
        """
        if filename is None:
            raise InvalidArgumentError("The filename is not defined")
        filename = make_path(filename)
        location = resolve(filename)
        if not overwrite and location.exists():
            raise OverwriteError(f"{filename!r} exists; pass overwrite=True to replace it")
        directory = parent(filename)
        entries = []
        for dataset in self._datasets:
            entry = dataset.to_dict()
            dataset.write(join(directory, entry["filename"]), overwrite=overwrite, checksum=checksum)
            entries.append(entry)
        text = dump_yaml({"datasets": entries}) + metadata_yaml()
        if checksum:
            text = add_checksum(text)
        with (
            storage_errors(filename),
            atomic_file(location, overwrite=overwrite) as tmp,
            open(tmp, "w", encoding="utf-8") as f,
        ):
            f.write(text)
        if filename_models is not None:
            self.models.write(
                filename_models, overwrite=overwrite, write_covariance=write_covariance, checksum=checksum
            )


def _dataset_entry(entry, index: int, filename: str) -> dict:
    """A copy of one ``datasets:`` entry of a datasets YAML file, checked.

    gammapy indexes the entry blindly (``KeyError: 'filename'``, ``AttributeError`` on a list);
    the checks here name the file, the entry and the key instead.

    Raises
    ------
    CorruptFileError
        The entry is not a mapping, its ``type`` is not a dataset class, or its ``name`` or
        ``filename`` is missing or not a string.
    """
    where = f"{filename}: datasets[{index}]"
    if not isinstance(entry, dict):
        raise CorruptFileError(f"{where} must be a mapping with name, type and filename, got {entry!r:.80}")
    if entry.get("type") not in DATASET_TYPES:
        raise CorruptFileError(
            f"{where}: unknown dataset type {entry.get('type')!r}; known: {sorted(DATASET_TYPES)}"
        )
    for key in ("name", "filename"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            value = entry.get(key)
            problem = "is missing" if key not in entry else f"must be a non-empty string, not {value!r:.80}"
            raise CorruptFileError(f"{where}: {key!r} {problem}")
    return dict(entry)


# -- many dataset files -------------------------------------------------------------------------


def open_datasets(urls, *, chunks=None, storage_options=None) -> list:
    """Open dataset files in parallel, each by a dask task (threads locally, the workers of a
    ``dask.distributed`` client when one is active).

    Only headers and small tables are read; the datasets that come back hold lazy graphs whose
    tasks read the maps' bytes.

    Parameters
    ----------
    urls : sequence of str or os.PathLike
        FITS files or zarr stores (any fsspec URL).
    chunks, storage_options : optional, keyword-only
        See :meth:`MapDataset.read`.
    """
    read = DATASET_TYPES["MapDataset"].read
    tasks = [
        dask.delayed(read, pure=False)(url, chunks=chunks, storage_options=storage_options) for url in urls
    ]
    return list(dask.compute(*tasks))


def _opened(items, chunks, storage_options) -> list:
    paths = [i for i, item in enumerate(items) if isinstance(item, (str, os.PathLike))]
    opened = open_datasets([items[i] for i in paths], chunks=chunks, storage_options=storage_options)
    items = list(items)
    for i, dataset in zip(paths, opened, strict=True):
        items[i] = dataset
    return items


def stack_to_zarr(
    datasets,
    filename,
    name=None,
    nan_to_num=True,
    *,
    batch_size=64,
    overwrite=False,
    chunks=None,
    storage_options=None,
) -> Dataset:
    """Stack many datasets (gammapy's ``stack_reduce`` result) into a zarr dataset group, streamed.

    Datasets are taken ``batch_size`` at a time: a batch is opened (file names and URLs by dask
    tasks, see :func:`open_datasets`), stacked in turn into the partial stack of the previous
    batches (read back lazily from storage; the first dataset masked for the first batch) as in
    :func:`stack_reduce`, and written chunk by chunk.  Every computation is one bounded graph in
    which each output chunk is a chain of additions over input chunks, so a worker holds a few
    chunks at a time however many datasets there are; it runs on the threaded scheduler or on
    the active ``dask.distributed`` client.

    Parameters
    ----------
    datasets : sequence of MapDataset, str or os.PathLike
        Datasets, or files / URLs of datasets, of one type; each on the first one's geometry or an
        aligned cutout of it.
    filename : str or os.PathLike
        Target zarr store (any fsspec URL); partial stacks of earlier batches are written next to
        it (under names unique to the run) and removed at the end.
    name : str, optional
        Name of the stacked dataset (random if None).
    nan_to_num : bool
        Replace non-finite values by zero.
    batch_size : int, keyword-only
        Datasets per graph (bounds the graph size, not the memory of a worker).
    overwrite : bool, keyword-only
        Replace an existing ``filename``.
    chunks, storage_options : optional, keyword-only
        Chunks of the datasets opened from files, and fsspec options for every URL.

    Returns
    -------
    MapDataset
        The stacked dataset, opened lazily from ``filename``.
    """
    items = list(datasets)
    if not items:
        raise InvalidArgumentError("stack_to_zarr needs at least one dataset")
    if int(batch_size) < 1:
        raise InvalidArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
    target = resolve(filename, storage_options)
    if not overwrite and target.exists():
        raise OverwriteError(f"{target.url!r} exists; pass overwrite=True to replace it")
    name = make_name(name)
    # Names unique to this run (two runs into one target must not share partial stacks), and
    # recognisable as temporary: a later write to the target removes those a killed run left.
    run = temp_sibling(target)
    partials = [target.sibling(f"{run.name}-partial{k}") for k in (0, 1)]
    first = partial = None
    batches = [items[i : i + int(batch_size)] for i in range(0, len(items), int(batch_size))]
    try:
        for k, batch in enumerate(batches):
            batch = _opened(batch, chunks, storage_options)
            first = batch[0] if first is None else first
            stacking.check_all(first, batch)
            stacked = stacking.stack_in_turn(batch, nan_to_num, start=partial, name=name)
            last = k == len(batches) - 1
            location = target if last else partials[k % 2]
            options = {"format": "zarr", "storage_options": storage_options}
            stacked.write(location.url, overwrite=overwrite or not last, **options)
            # the maps are read back lazily; GTI, meta table and livetime are kept as computed
            partial = stacking.carry_metadata(type(first).read(location.url, chunks={}, **options), stacked)
    finally:
        for location in partials:
            if location.exists():
                location.fs.rm(location.path, recursive=True)
    return partial


# A fit given datasets as a list makes them a `Datasets` (modeling sits below datasets).
DATASETS_CLASS.append(Datasets)
