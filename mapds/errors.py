"""Exceptions raised by mapds.

Every error mapds raises on purpose derives from :class:`MapdsError`, so callers can catch the
whole family at once.  The specific subclasses also derive from the builtin exception a gammapy
user would expect in the same situation (``ValueError``, ``KeyError``, ``OSError``...), so code
written against gammapy keeps working.  Messages name the file, HDU, axis or parameter at fault
and what was expected.
"""

from __future__ import annotations

__all__ = [
    "AxisError",
    "ConcurrentWriteError",
    "CorruptFileError",
    "EnergyRangeError",
    "GeometryError",
    "GeometryMismatchError",
    "IRFError",
    "InvalidArgumentError",
    "MapdsError",
    "MissingDependencyError",
    "MissingFileError",
    "MissingHDUError",
    "ModelError",
    "NegativeCountsError",
    "OverwriteError",
    "ParameterError",
    "RangeRequestsUnsupportedError",
    "StaleFileError",
    "StorageError",
    "UndefinedVariableError",
    "UnitMismatchError",
    "UnknownModelTypeError",
    "UnknownSourceError",
]


class MapdsError(Exception):
    """Base class of every error raised by mapds."""


class GeometryError(MapdsError, ValueError):
    """A geometry (or a region defining one) is invalid, or an operation on it is not defined."""


class GeometryMismatchError(MapdsError, ValueError):
    """Two maps, datasets or geometries that must agree do not."""


class AxisError(MapdsError, ValueError):
    """A non-spatial axis is malformed (non-monotonic, wrong name, wrong length...)."""


class IRFError(MapdsError, ValueError):
    """An instrument response (PSF, EDisp map) is incomplete for the operation asked of it
    (e.g. stacking IRF maps that carry no IRF exposure map)."""


class InvalidArgumentError(MapdsError, ValueError):
    """An argument has a value outside those accepted (a mode, method, kernel name, factor...)."""


class EnergyRangeError(AxisError, InvalidArgumentError):
    """Energy bounds select no bin of a dataset's energy axis (e.g. flux-point edges outside
    the datasets' reco-energy range); the message names the bounds and the axis range."""


class NegativeCountsError(InvalidArgumentError):
    """Counts (on or off counts) hold negative values where a Poisson statistic needs counts
    ``>= 0`` (WStat of an on-off dataset); raised when the statistic is computed, the message
    names the dataset and the member."""


class UndefinedVariableError(InvalidArgumentError):
    """A file name uses an environment variable (``$GAMMAPY_DATA``...) that is not set."""


class MissingDependencyError(MapdsError, ImportError):
    """An optional dependency a feature needs (matplotlib for plots, ipywidgets for interactive
    plots...) is not installed; the message names the package and how to install it."""


class UnitMismatchError(MapdsError, ValueError):
    """A unit is unknown or not convertible to the one expected."""


class StorageError(MapdsError, OSError):
    """A file or URL cannot be read or written."""


class CorruptFileError(StorageError):
    """A file is truncated or does not follow the format it claims."""


class MissingFileError(StorageError, FileNotFoundError):
    """A file, object or URL that was asked for does not exist."""


class MissingHDUError(StorageError, KeyError):
    """A FITS HDU (or zarr array) that was asked for is not in the file."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class RangeRequestsUnsupportedError(StorageError):
    """A server answers byte-range requests (HTTP ``Range``) with the whole file, as
    ``python -m http.server`` does: mapds reads FITS files by ranges, so such a file cannot be read
    lazily from there.  The message says what to do (a server honouring ``Range``, or a local copy)."""


class OverwriteError(StorageError, FileExistsError):
    """Writing would clobber an existing file and ``overwrite=False`` was given."""


class StaleFileError(StorageError):
    """A file or store changed (was replaced or removed) after it was opened: the data read now
    would not be the data the open object describes.  Reopen it to see the new file."""


class ConcurrentWriteError(StorageError):
    """Another writer is publishing the same target at the same time; the message names it."""


class ModelError(MapdsError, ValueError):
    """A model or its serialised form is invalid."""


class UnknownModelTypeError(ModelError, KeyError):
    """A model ``type`` tag is not registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ParameterError(ModelError):
    """A model parameter is missing, unknown or has an invalid value or unit."""


class UnknownSourceError(ModelError, KeyError):
    """A source named (or indexed) by an estimator is not among the datasets' models; the
    message lists the models there are."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
