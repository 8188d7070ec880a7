"""`LabelMapAxis`: an axis of named bins (one bin per model, dataset or event type)."""

from __future__ import annotations

from collections.abc import Sequence

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..errors import AxisError, InvalidArgumentError
from .axis import INVALID_INDEX

__all__ = ["LabelMapAxis"]


class LabelMapAxis:
    """Axis of named bins.

    Pixel ``i`` is the bin labelled ``labels[i]``; labels are kept in the given order.

    Parameters
    ----------
    labels : sequence of str
        Unique labels, one per bin.
    name : str
        Axis name.
    """

    node_type = "label"

    def __init__(self, labels, name=""):
        labels = np.array(labels, ndmin=1)
        if np.unique(labels).size != labels.size:
            raise AxisError(f"LabelMapAxis {name!r}: labels must be unique, got {labels.tolist()}")
        self._labels = labels
        self._name = name

    @property
    def name(self) -> str:
        """Axis name."""
        return self._name

    @property
    def unit(self) -> u.UnitBase:
        """Always dimensionless."""
        return u.dimensionless_unscaled

    @property
    def nbin(self) -> int:
        """Number of labels."""
        return self._labels.size

    @property
    def center(self) -> np.ndarray:
        """The labels."""
        return self._labels

    @property
    def edges(self):
        """Label axes have no edges: raises :class:`~mapds.errors.AxisError`."""
        raise AxisError(f"LabelMapAxis {self.name!r} does not define edges")

    @property
    def edges_min(self) -> np.ndarray:
        """The labels (what gammapy writes in place of lower edges)."""
        return self._labels

    @property
    def edges_max(self) -> np.ndarray:
        """The labels (what gammapy writes in place of upper edges)."""
        return self._labels

    @property
    def bin_width(self) -> np.ndarray:
        """Ones: every label is one bin wide."""
        return np.ones(self.nbin)

    def assert_name(self, required_name: str) -> None:
        """Raise :class:`~mapds.errors.AxisError` unless the axis has the given name."""
        if self.name != required_name:
            raise AxisError(f"Unexpected axis name, expected {required_name!r}, got {self.name!r}")

    # -- coordinate transforms ------------------------------------------------------------------

    def pix_to_coord(self, pix) -> np.ndarray:
        """Labels at the (rounded) pixel positions."""
        return self._labels[np.round(pix).astype(int)]

    def coord_to_idx(self, coord, **kwargs) -> np.ndarray:
        """Position of each label; unknown labels raise :class:`~mapds.errors.AxisError`."""
        coord = np.asarray(coord)[..., np.newaxis]
        is_equal = coord == self._labels
        found = np.any(is_equal, axis=-1)
        if not np.all(found):
            raise AxisError(
                f"Labels {np.unique(coord[..., 0][~found]).tolist()} are not in axis {self.name!r} "
                f"(labels {self._labels.tolist()})"
            )
        return np.argmax(is_equal, axis=-1)

    def coord_to_pix(self, coord) -> np.ndarray:
        """Position of each label as float pixel coordinates."""
        return self.coord_to_idx(coord).astype(float)

    def pix_to_idx(self, pix, clip=False) -> np.ndarray:
        """Pixel coordinates to indices; outside the axis -> ``-1`` unless ``clip``."""
        pix = np.asarray(pix)
        if clip:
            return np.clip(pix, 0, self.nbin - 1)
        return np.where((pix < 0) | (pix >= self.nbin), INVALID_INDEX, pix)

    # -- derived axes ---------------------------------------------------------------------------

    def copy(self, **kwargs) -> LabelMapAxis:
        """Copy, optionally with other ``labels`` or ``name``."""
        return LabelMapAxis(kwargs.get("labels", self._labels.copy()), name=kwargs.get("name", self.name))

    def rename(self, new_name: str) -> LabelMapAxis:
        """Copy with another name."""
        return self.copy(name=new_name)

    def slice(self, idx) -> LabelMapAxis:
        """Labels selected by a slice, an index array or an integer (one label)."""
        if isinstance(idx, (int, np.integer)):
            idx = slice(int(idx), int(idx) + 1 if idx != -1 else None)
        return LabelMapAxis(self._labels[idx], name=self.name)

    def squash(self) -> LabelMapAxis:
        """One bin labelled ``"<first>...<last>"``."""
        return LabelMapAxis([f"{self._labels[0]}...{self._labels[-1]}"], name=self.name)

    def concatenate(self, axis: LabelMapAxis) -> LabelMapAxis:
        """Labels of this axis followed by those of ``axis`` (same name, labels stay unique)."""
        if not isinstance(axis, LabelMapAxis):
            raise TypeError(f"axis must be a LabelMapAxis, got {type(axis).__name__}")
        if self.name != axis.name:
            raise AxisError(
                f"Cannot concatenate label axes with different names {self.name!r}, {axis.name!r}"
            )
        return LabelMapAxis(np.append(self._labels, axis.center), name=self.name)

    @classmethod
    def from_stack(cls, axes: Sequence[LabelMapAxis]) -> LabelMapAxis:
        """Concatenate label axes."""
        stacked = axes[0]
        for axis in axes[1:]:
            stacked = stacked.concatenate(axis)
        return stacked

    def _unsupported(self, operation: str):
        raise NotImplementedError(f"{operation} a LabelMapAxis ({self.name!r}) is not supported")

    def upsample(self, *args, **kwargs):
        """Not defined for labels: raises ``NotImplementedError``."""
        self._unsupported("Upsampling")

    def downsample(self, *args, **kwargs):
        """Not defined for labels: raises ``NotImplementedError``."""
        self._unsupported("Downsampling")

    def resample(self, *args, **kwargs):
        """Not defined for labels: raises ``NotImplementedError``."""
        self._unsupported("Resampling")

    def pad(self, *args, **kwargs):
        """Not defined for labels: raises ``NotImplementedError``."""
        self._unsupported("Padding")

    # -- comparisons ----------------------------------------------------------------------------

    def is_allclose(self, other, **kwargs) -> bool:
        """Same labels in the same order and same name (case-insensitive)."""
        return (
            isinstance(other, LabelMapAxis)
            and self.name.upper() == other.name.upper()
            and np.array_equal(self._labels, other._labels)
        )

    def __eq__(self, other) -> bool:
        return self.is_allclose(other)

    def __hash__(self) -> int:
        return hash((self.name.upper(), tuple(self._labels)))

    # -- FITS form ------------------------------------------------------------------------------

    def to_header(self, format="gadf", idx=0) -> fits.Header:
        """``AXCOLS<idx>`` naming the label column of a gadf BANDS table."""
        if format != "gadf":
            raise InvalidArgumentError(
                f"LabelMapAxis {self.name!r}: unknown header format {format!r}, expected 'gadf'"
            )
        header = fits.Header()
        header[f"AXCOLS{idx}"] = self.name.upper()
        return header

    @classmethod
    def from_table(cls, table: Table, format="gadf", idx=0) -> LabelMapAxis:
        """Label axis number ``idx`` (0-based) of a gadf BANDS table (labels sorted, unique).

        Raises ``KeyError`` when the table has no such axis and ``TypeError`` when its column
        does not hold strings, which is how a reader tells label axes from numeric ones.
        """
        if format != "gadf":
            raise InvalidArgumentError(f"Unknown label axis table format {format!r}, expected 'gadf'")
        colname = table.meta[f"AXCOLS{idx + 1}"]
        column = table[colname]
        if column.dtype.kind not in "US":
            raise TypeError(f"Column {colname!r} of dtype {column.dtype} cannot hold labels")
        return cls(np.unique(np.asarray(column).astype(str)), name=colname.lower())

    def __repr__(self) -> str:
        return f"LabelMapAxis(name={self.name!r}, labels={self._labels.tolist()})"
