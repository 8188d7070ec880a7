"""Non-spatial map axes: :class:`MapAxis`, :class:`LabelMapAxis` and the :class:`MapAxes` container.

Semantics follow gammapy: an axis is defined by nodes that are either bin edges
(``node_type="edges"``) or bin centres (``"center"``); pixel coordinate ``i`` is the centre of bin
``i`` and bin edges sit at ``i ± 0.5``.  Pixel <-> coordinate conversion interpolates linearly in the
axis' interpolation scale (``lin``, ``log`` or ``sqrt``) and extrapolates beyond the nodes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..errors import AxisError, UnitMismatchError
from .scale import INTERP_SCALES, interp1d_extrapolate, scale, scale_inverse

__all__ = ["INVALID_INDEX", "LabelMapAxis", "MapAxes", "MapAxis"]

#: Index returned for coordinates that fall outside an axis (as in gammapy).
INVALID_INDEX = -1

#: Names gammapy reserves for energy axes.
ENERGY_AXIS_NAMES = ("energy", "energy_true")


class MapAxis:
    """One non-spatial axis of a map (energy, true energy, offset, migration...).

    Parameters
    ----------
    nodes : array-like or `~astropy.units.Quantity`
        Node values, sorted and unique; bin edges or bin centres according to ``node_type``.
    interp : {"lin", "log", "sqrt"}
        Scale in which bins are evenly spaced and in which coordinates are interpolated.
    name : str
        Axis name (``energy``, ``energy_true``, ``rad``, ``migra``...).
    node_type : {"edges", "center"}
        Whether the nodes are bin edges or bin centres.
    unit : str or `~astropy.units.Unit`
        Unit of the nodes (ignored when ``nodes`` is a Quantity).
    """

    def __init__(self, nodes, interp="lin", name="", node_type="edges", unit=""):
        if not isinstance(name, str):
            raise TypeError(f"MapAxis name must be a string, got {type(name).__name__}")
        if isinstance(nodes, u.Quantity):
            unit = nodes.unit
            nodes = nodes.value
        nodes = np.array(nodes, dtype=float, ndmin=1)
        label = f"MapAxis {name!r}" if name else "MapAxis"
        if nodes.ndim != 1:
            raise AxisError(f"{label}: nodes must be one-dimensional, got shape {nodes.shape}")
        if interp not in INTERP_SCALES:
            raise AxisError(f"{label}: invalid interp {interp!r}, expected one of {INTERP_SCALES}")
        if node_type not in ("edges", "center"):
            raise AxisError(f"{label}: invalid node_type {node_type!r}, expected 'edges' or 'center'")
        if not np.all(np.isfinite(nodes)):
            raise AxisError(f"{label}: node values must be finite, got {nodes}")
        if np.unique(nodes).size != nodes.size:
            raise AxisError(f"{label}: node values must be unique, got {nodes}")
        diff = np.diff(nodes)
        if not (np.all(diff > 0) or np.all(diff < 0)):
            raise AxisError(f"{label}: node values must be monotonic (sorted), got {nodes}")
        if interp != "lin" and np.any(nodes < 0):
            raise AxisError(f"{label}: interp {interp!r} needs positive node values, got {nodes}")
        if node_type == "edges" and nodes.size < 2:
            raise AxisError(f"{label}: an edges axis needs at least two edges, got {nodes.size}")
        try:
            unit = u.Unit(unit)
        except ValueError as exc:
            raise UnitMismatchError(f"{label}: unknown unit {unit!r}") from exc

        self._name = name
        self._unit = unit
        self._nodes = nodes
        self._interp = interp
        self._node_type = node_type
        self._pix_offset = -0.5 if node_type == "edges" else 0.0
        self._nbin = nodes.size - 1 if node_type == "edges" else nodes.size

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_bounds(cls, lo_bnd, hi_bnd, nbin, *, interp="lin", node_type="edges", **kwargs):
        """Axis with ``nbin`` bins evenly spaced in ``interp`` between two bounds.

        With ``node_type="edges"`` the bounds are the outer bin edges, with ``"center"`` they are
        the centres of the first and last bin.
        """
        nbin = int(nbin)
        nnode = nbin + 1 if node_type == "edges" else nbin
        if interp == "lin":
            nodes = np.linspace(lo_bnd, hi_bnd, nnode)
        elif interp == "log":
            nodes = np.geomspace(lo_bnd, hi_bnd, nnode)
        elif interp == "sqrt":
            nodes = np.linspace(lo_bnd**0.5, hi_bnd**0.5, nnode) ** 2.0
        else:
            raise AxisError(f"Invalid interp {interp!r}, expected one of {INTERP_SCALES}")
        return cls(nodes, interp=interp, node_type=node_type, **kwargs)

    @classmethod
    def from_edges(cls, edges, **kwargs) -> MapAxis:
        """Axis whose nodes are the given bin edges."""
        if len(edges) < 2:
            raise AxisError("Edges array must have at least two elements.")
        return cls(edges, node_type="edges", **kwargs)

    @classmethod
    def from_nodes(cls, nodes, **kwargs) -> MapAxis:
        """Axis whose nodes are the given bin centres."""
        if len(nodes) < 1:
            raise AxisError("Nodes array must have at least one element.")
        return cls(nodes, node_type="center", **kwargs)

    @classmethod
    def from_energy_bounds(
        cls,
        energy_min,
        energy_max,
        nbin,
        unit=None,
        per_decade=False,
        name=None,
        node_type="edges",
        strict_bounds=True,
    ) -> MapAxis:
        """Log-spaced energy axis between two energies.

        Parameters
        ----------
        energy_min, energy_max : `~astropy.units.Quantity` or float
            Energy range (floats need ``unit``).
        nbin : int
            Number of bins, or bins per decade with ``per_decade=True``.
        unit : str, optional
            Unit of the axis; defaults to the unit of ``energy_max``.
        per_decade : bool
            Interpret ``nbin`` per decade.
        name : {"energy", "energy_true"}
            Axis name, default ``"energy"``.
        node_type : {"edges", "center"}
            Node type.
        strict_bounds : bool
            With ``per_decade``: end exactly at ``energy_max`` (True) or keep the number of bins per
            decade exact and lower ``energy_max`` (False).
        """
        energy_min = u.Quantity(energy_min, unit)
        energy_max = u.Quantity(energy_max, unit)
        if unit is None:
            unit = energy_max.unit
            energy_min = energy_min.to(unit)
        if not energy_max.unit.is_equivalent("TeV"):
            raise UnitMismatchError(f"Energy axis needs an energy unit, got {energy_max.unit!r}")
        if per_decade:
            ndecades = np.log10((energy_max / energy_min).to_value(""))
            if strict_bounds:
                nbin = np.ceil(ndecades * nbin)
            else:
                per = nbin
                nbin = np.floor(ndecades * per)
                if ndecades % (1 / per) != 0:
                    energy_max = energy_min * 10 ** (nbin / per)
        name = "energy" if name is None else name
        if name not in ENERGY_AXIS_NAMES:
            raise AxisError(f"Energy axis can only be named 'energy' or 'energy_true', got {name!r}")
        return cls.from_bounds(
            energy_min.to_value(unit),
            energy_max.to_value(unit),
            nbin=nbin,
            unit=unit,
            interp="log",
            name=name,
            node_type=node_type,
        )

    @classmethod
    def from_energy_edges(cls, energy_edges, unit=None, name=None, interp="log") -> MapAxis:
        """Energy axis from adjacent edges."""
        energy_edges = u.Quantity(energy_edges, unit)
        if not energy_edges.unit.is_equivalent("TeV"):
            raise UnitMismatchError(f"Energy axis needs an energy unit, got {energy_edges.unit!r}")
        name = "energy" if name is None else name
        if name not in ENERGY_AXIS_NAMES:
            raise AxisError(f"Energy axis can only be named 'energy' or 'energy_true', got {name!r}")
        return cls.from_edges(energy_edges, name=name, interp=interp)

    @classmethod
    def from_stack(cls, axes: Sequence[MapAxis]) -> MapAxis:
        """Concatenate contiguous axes."""
        stacked = axes[0]
        for axis in axes[1:]:
            stacked = stacked.concatenate(axis)
        return stacked

    # -- basic properties -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Axis name."""
        return self._name

    @property
    def unit(self) -> u.Unit:
        """Unit of the axis coordinates."""
        return self._unit

    @property
    def interp(self) -> str:
        """Interpolation scale (``lin``, ``log`` or ``sqrt``)."""
        return self._interp

    @property
    def node_type(self) -> str:
        """``"edges"`` or ``"center"``."""
        return self._node_type

    @property
    def nodes(self) -> np.ndarray:
        """The node values the axis was defined with (plain floats in :attr:`unit`)."""
        return self._nodes

    @property
    def nbin(self) -> int:
        """Number of bins."""
        return self._nbin

    @property
    def is_energy_axis(self) -> bool:
        """Whether the axis is ``energy`` or ``energy_true``."""
        return self.name in ENERGY_AXIS_NAMES

    @property
    def edges(self) -> u.Quantity:
        """Bin edges (``nbin + 1`` values)."""
        pix = np.arange(self.nbin + 1, dtype=float) - 0.5
        return self.pix_to_coord(pix)

    @property
    def edges_min(self) -> u.Quantity:
        """Lower bin edges."""
        return self.edges[:-1]

    @property
    def edges_max(self) -> u.Quantity:
        """Upper bin edges."""
        return self.edges[1:]

    @property
    def bounds(self) -> u.Quantity:
        """Lower and upper bound of the axis (outer edges)."""
        edges = self.edges
        return u.Quantity([edges[0], edges[-1]])

    @property
    def center(self) -> u.Quantity:
        """Bin centres: the coordinate at integer pixels (geometric mean of edges for log)."""
        return self.pix_to_coord(np.arange(self.nbin, dtype=float))

    @property
    def bin_width(self) -> u.Quantity:
        """Linear bin widths."""
        return np.diff(self.edges)

    @property
    def nbin_per_decade(self) -> float:
        """Bins per decade of a log axis."""
        if self.interp != "log":
            raise AxisError(f"Bins per decade need a log axis, axis {self.name!r} is {self.interp!r}")
        values = self.edges if self.node_type == "edges" else self.center
        return float(self.nbin / np.log10((values.max() / values.min()).to_value("")))

    def iter_by_edges(self) -> Iterator[tuple[u.Quantity, u.Quantity]]:
        """Iterate over ``(lower, upper)`` edge pairs."""
        edges = self.edges
        yield from itertools.pairwise(edges)

    # -- coordinate transforms ------------------------------------------------------------------

    def pix_to_coord(self, pix) -> u.Quantity:
        """Pixel coordinate(s) to axis coordinate(s) (extrapolating outside the axis)."""
        pix = np.asarray(pix, dtype=float) - self._pix_offset
        nodes_scaled = scale(self._nodes, self._interp)
        values = interp1d_extrapolate(pix, np.arange(self._nodes.size, dtype=float), nodes_scaled)
        return u.Quantity(scale_inverse(values, self._interp), self._unit, copy=None)

    def coord_to_pix(self, coord) -> np.ndarray:
        """Axis coordinate(s) to (fractional) pixel coordinate(s), at least one-dimensional."""
        coord = u.Quantity(coord, self._unit, copy=None).value
        nodes_scaled = scale(self._nodes, self._interp)
        pix = interp1d_extrapolate(
            scale(coord, self._interp), nodes_scaled, np.arange(self._nodes.size, dtype=float)
        )
        return np.array(pix + self._pix_offset, ndmin=1)

    def pix_to_idx(self, pix, clip=False) -> np.ndarray:
        """Pixel coordinates to integer bin indices; outside the axis -> ``-1`` unless ``clip``."""
        pix = np.asarray(pix)
        if clip:
            return np.clip(pix, 0, self.nbin - 1)
        return np.where((pix < 0) | (pix >= self.nbin), INVALID_INDEX, pix)

    def coord_to_idx(self, coord, clip=False) -> np.ndarray:
        """Bin index containing each coordinate; outside the axis -> ``-1`` unless ``clip``."""
        coord = np.array(u.Quantity(coord, self._unit, copy=None).value, ndmin=1, dtype=float)
        edges = self.edges.value
        idx = np.digitize(coord, edges) - 1
        if clip:
            idx = np.clip(idx, 0, self.nbin - 1)
        else:
            with np.errstate(invalid="ignore"):
                idx[coord > edges[-1]] = INVALID_INDEX
        idx[~np.isfinite(coord)] = INVALID_INDEX
        return idx

    def round(self, coord, clip=False) -> u.Quantity:
        """Round coordinates to the nearest bin edge."""
        pix = self.coord_to_pix(coord)
        if clip:
            pix = np.clip(pix, -0.5, self.nbin - 0.5)
        return self.pix_to_coord(np.round(pix + 0.5) - 0.5)

    # -- derived axes ---------------------------------------------------------------------------

    def copy(self, **kwargs) -> MapAxis:
        """Copy, optionally overriding constructor arguments."""
        args = {
            "nodes": self._nodes.copy(),
            "interp": self._interp,
            "name": self._name,
            "node_type": self._node_type,
            "unit": self._unit,
        }
        args.update(kwargs)
        return self.__class__(**args)

    def rename(self, new_name: str) -> MapAxis:
        """Copy with another name."""
        return self.copy(name=new_name)

    def to_node_type(self, node_type: str) -> MapAxis:
        """Same bins expressed with the other node type."""
        if node_type == self.node_type:
            return self
        nodes = self.edges if node_type == "edges" else self.center
        return self.copy(nodes=nodes.value, node_type=node_type)

    def slice(self, idx) -> MapAxis:
        """Sub-axis selected by a slice (or an integer, which keeps one bin)."""
        if isinstance(idx, (int, np.integer)):
            idx = slice(int(idx), int(idx) + 1) if idx != -1 else slice(-1, None)
        start, stop, step = idx.indices(self.nbin)
        if step != 1:
            raise AxisError(f"Axis {self.name!r}: only contiguous slices are supported, got {idx}")
        if stop <= start:
            raise AxisError(f"Axis {self.name!r}: slice {idx} selects no bin of {self.nbin}")
        stop_node = stop + 1 if self.node_type == "edges" else stop
        return self.copy(nodes=self._nodes[start:stop_node])

    def squash(self) -> MapAxis:
        """One bin spanning the whole axis."""
        return MapAxis.from_bounds(
            self.edges[0].value,
            self.edges[-1].value,
            nbin=1,
            interp=self._interp,
            name=self._name,
            unit=self._unit,
        )

    def pad(self, pad_width) -> MapAxis:
        """Axis extended by ``pad_width`` bins at both ends (or ``(low, high)``)."""
        low, high = pad_width if isinstance(pad_width, tuple) else (pad_width, pad_width)
        if self.node_type == "edges":
            edges = self.pix_to_coord(np.arange(-low, self.nbin + high + 1) - 0.5)
            return self.from_edges(edges, interp=self.interp, name=self.name)
        nodes = self.pix_to_coord(np.arange(-low, self.nbin + high))
        return self.from_nodes(nodes, interp=self.interp, name=self.name)

    def concatenate(self, axis: MapAxis) -> MapAxis:
        """Join a contiguous axis of the same name, node type and interp."""
        for attr in ("node_type", "name", "interp"):
            if getattr(self, attr) != getattr(axis, attr):
                raise AxisError(
                    f"Cannot concatenate axes with different {attr}: "
                    f"{getattr(self, attr)!r} and {getattr(axis, attr)!r}"
                )
        if self.node_type == "edges":
            edges = np.append(self.edges, axis.edges[1:])
            return self.from_edges(edges, interp=self.interp, name=self.name)
        nodes = np.append(self.center, axis.center)
        return self.from_nodes(nodes, interp=self.interp, name=self.name)

    def upsample(self, factor: int) -> MapAxis:
        """Split every bin into ``factor`` bins (evenly in the interp scale)."""
        if self.node_type == "edges":
            pix = np.linspace(-0.5, self.nbin - 0.5, int(self.nbin * factor) + 1)
            return self.from_edges(self.pix_to_coord(pix), name=self.name, interp=self.interp)
        pix = np.linspace(0, self.nbin - 1, int((self.nbin - 1) * factor) + 1)
        return self.from_nodes(self.pix_to_coord(pix), name=self.name, interp=self.interp)

    def downsample(self, factor: int, strict: bool = True) -> MapAxis:
        """Merge every ``factor`` bins; with ``strict`` the number of bins must be divisible."""
        values = self.edges if self.node_type == "edges" else self.center
        kept = values[::factor]
        if kept[-1] != values[-1]:
            if strict:
                count = self.nbin if self.node_type == "edges" else self.nbin - 1
                raise AxisError(f"Number of {self.name} bins ({count}) is not divisible by {factor}")
            kept = np.append(kept, values[-1])
        if self.node_type == "edges":
            return self.from_edges(kept, name=self.name, interp=self.interp)
        return self.from_nodes(kept, name=self.name, interp=self.interp)

    def group_table(self, edges) -> Table:
        """Table grouping this axis' bins into the bins defined by ``edges``.

        The requested edges are snapped to the nearest existing bin edge (in pixel space); bins
        below/above the requested range form ``underflow``/``overflow`` groups.
        """
        if self.node_type != "edges":
            raise AxisError(f"Only an edges axis can be grouped, {self.name!r} has centre nodes")
        edges_pix = np.clip(self.coord_to_pix(edges), -0.5, self.nbin - 0.5)
        edges_idx = np.unique(np.round(edges_pix + 0.5) - 0.5)
        edges_ref = self.pix_to_coord(edges_idx)
        if edges_idx.size < 2:
            raise AxisError(f"No overlap between axis {self.name!r} and the requested edges.")
        rows = []
        if edges_idx[0] > 0:
            rows.append(("underflow", 0, int(edges_idx[0] - 0.5), self.edges[0], edges_ref[0]))
        for lo_idx, hi_idx, lo, hi in zip(
            edges_idx[:-1], edges_idx[1:], edges_ref[:-1], edges_ref[1:], strict=True
        ):
            rows.append(("normal   ", int(lo_idx + 0.5), int(hi_idx - 0.5), lo, hi))
        if edges_idx[-1] < self.nbin - 0.5:
            rows.append(("overflow", int(edges_idx[-1] + 0.5), self.nbin - 1, edges_ref[-1], self.edges[-1]))
        table = Table()
        table["group_idx"] = np.arange(len(rows))
        table[f"{self.name}_min"] = u.Quantity([row[3] for row in rows])
        table[f"{self.name}_max"] = u.Quantity([row[4] for row in rows])
        table["idx_min"] = np.array([row[1] for row in rows], dtype=int)
        table["idx_max"] = np.array([row[2] for row in rows], dtype=int)
        table["bin_type"] = [row[0] for row in rows]
        return table

    # -- comparisons ----------------------------------------------------------------------------

    def is_aligned(self, other: MapAxis, atol: float = 2e-2) -> bool:
        """Whether bin centres of each axis fall on integer pixels of the other (same interp)."""
        pix = np.append(self.coord_to_pix(other.center), other.coord_to_pix(self.center))
        return bool(np.allclose(np.round(pix) - pix, 0, atol=atol)) and self.interp == other.interp

    def is_allclose(self, other: MapAxis, **kwargs) -> bool:
        """Same edges (``np.allclose``), unit, node type, interp and name (case-insensitive)."""
        if not isinstance(other, MapAxis):
            return False
        edges, other_edges = self.edges, other.edges
        return (
            edges.shape == other_edges.shape
            and self.unit.is_equivalent(other.unit)
            and bool(np.allclose(edges, other_edges, **kwargs))
            and self.node_type == other.node_type
            and self.interp == other.interp
            and self.name.upper() == other.name.upper()
        )

    def __eq__(self, other) -> bool:
        return isinstance(other, MapAxis) and self.is_allclose(other, rtol=1e-6, atol=1e-6)

    def __hash__(self) -> int:
        return hash((self.name, self.node_type, self.interp, str(self.unit), self.nbin))

    def assert_name(self, required_name: str) -> None:
        """Raise :class:`~mapds.errors.AxisError` unless the axis has the given name."""
        if self.name != required_name:
            raise AxisError(f"Unexpected axis name, expected {required_name!r}, got {self.name!r}")

    # -- FITS form ------------------------------------------------------------------------------

    def _fits_colnames(self) -> list[str]:
        name = self.name.upper()
        if self.name == "energy":
            return ["E_MIN", "E_MAX"] if self.node_type == "edges" else ["ENERGY"]
        return [f"{name}_MIN", f"{name}_MAX"] if self.node_type == "edges" else [name]

    def to_header(self, format="gadf", idx=1) -> fits.Header:
        """``AXCOLS<idx>`` / ``INTERP<idx>`` cards describing the axis in a gadf BANDS table."""
        if format not in ("gadf", "fgst-ccube", "fgst-template"):
            raise ValueError(f"Unsupported header format {format!r}")
        header = fits.Header()
        header[f"AXCOLS{idx}"] = ",".join(self._fits_colnames())
        header[f"INTERP{idx}"] = self.interp
        return header

    @classmethod
    def from_table(cls, table: Table, format="gadf", idx=0) -> MapAxis:
        """Axis number ``idx`` (0-based) of a gadf BANDS table, or the energy axis of a Fermi
        ``EBOUNDS`` (``fgst-ccube``) or ``ENERGIES`` (``fgst-template``) table."""
        if format == "fgst-ccube":
            lo, hi = table["E_MIN"].quantity, table["E_MAX"].quantity
            edges = np.append(lo.value, hi.to_value(lo.unit)[-1]) * lo.unit
            return cls.from_edges(edges, name="energy", interp="log")
        if format == "fgst-template":
            colname = next(c for c in table.colnames if c in ("Energy", "ENERGY", "energy"))
            return cls.from_nodes(table[colname].data, name="energy_true", unit="MeV", interp="log")
        if format != "gadf":
            raise ValueError(f"Unsupported table format {format!r}")
        key = f"AXCOLS{idx + 1}"
        if key not in table.meta:
            raise AxisError(f"BANDS table has no {key} card: cannot build axis {idx + 1}")
        colnames = table.meta[key].split(",")
        for colname in colnames:
            if colname not in table.colnames:
                raise AxisError(f"BANDS table lacks column {colname!r} named by {key}={table.meta[key]!r}")
        interp = table.meta.get(f"INTERP{idx + 1}", "lin")
        if colnames[0] == "E_MIN":
            name = "energy"
        else:
            name = colnames[0].replace("_MIN", "").lower()
            name = "rad" if name == "theta" else name  # legacy name used by old gammapy files
        if len(colnames) == 1:
            nodes = np.unique(table[colnames[0]].quantity)
            return cls(nodes.astype(float), node_type="center", interp=interp, name=name)
        edges_min = np.unique(table[colnames[0]].quantity)
        edges_max = np.unique(table[colnames[1]].quantity)
        edges = np.append(edges_min.value, edges_max.to_value(edges_min.unit)[-1])
        return cls(edges.astype(float), node_type="edges", interp=interp, name=name, unit=edges_min.unit)

    def __repr__(self) -> str:
        values = self.edges if self.node_type == "edges" else self.center
        return (
            f"{type(self).__name__}(name={self.name!r}, nbin={self.nbin}, "
            f"node_type={self.node_type!r}, {self.node_type}=[{values.value.min():.3g}, "
            f"{values.value.max():.3g}] {self.unit}, interp={self.interp!r})"
        )


class LabelMapAxis:
    """Axis of named bins (e.g. one bin per model or per dataset).

    Parameters
    ----------
    labels : sequence of str
        Unique labels, one per bin.
    name : str
        Axis name.
    """

    node_type = "label"
    interp = "lin"

    def __init__(self, labels, name=""):
        labels = np.array(labels, dtype=str, ndmin=1)
        if np.unique(labels).size != labels.size:
            raise AxisError(f"LabelMapAxis {name!r}: labels must be unique, got {list(labels)}")
        self._labels = labels
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def unit(self) -> u.Unit:
        return u.dimensionless_unscaled

    @property
    def nbin(self) -> int:
        return self._labels.size

    @property
    def center(self) -> np.ndarray:
        """The labels."""
        return self._labels

    def pix_to_coord(self, pix) -> np.ndarray:
        return self._labels[np.round(pix).astype(int)]

    def coord_to_idx(self, coord, **kwargs) -> np.ndarray:
        coord = np.array(coord, dtype=str, ndmin=1)
        missing = np.setdiff1d(coord, self._labels)
        if missing.size:
            raise AxisError(f"Labels {list(missing)} are not in axis {self.name!r}")
        sorter = np.argsort(self._labels)
        return sorter[np.searchsorted(self._labels, coord, sorter=sorter)]

    def coord_to_pix(self, coord) -> np.ndarray:
        return self.coord_to_idx(coord).astype(float)

    def slice(self, idx) -> LabelMapAxis:
        if isinstance(idx, (int, np.integer)):
            idx = slice(int(idx), int(idx) + 1)
        return LabelMapAxis(self._labels[idx], name=self.name)

    def squash(self) -> LabelMapAxis:
        return LabelMapAxis([f"{self._labels[0]}...{self._labels[-1]}"], name=self.name)

    def copy(self, **kwargs) -> LabelMapAxis:
        return LabelMapAxis(kwargs.get("labels", self._labels), name=kwargs.get("name", self.name))

    def rename(self, new_name: str) -> LabelMapAxis:
        return self.copy(name=new_name)

    def is_allclose(self, other, **kwargs) -> bool:
        return (
            isinstance(other, LabelMapAxis)
            and self.name == other.name
            and np.array_equal(self._labels, other._labels)
        )

    def __eq__(self, other) -> bool:
        return self.is_allclose(other)

    def __hash__(self) -> int:
        return hash((self.name, tuple(self._labels)))

    def assert_name(self, required_name: str) -> None:
        if self.name != required_name:
            raise AxisError(f"Unexpected axis name, expected {required_name!r}, got {self.name!r}")

    def to_header(self, format="gadf", idx=1) -> fits.Header:
        header = fits.Header()
        header[f"AXCOLS{idx}"] = self.name.upper()
        return header

    def _fits_colnames(self) -> list[str]:
        return [self.name.upper()]

    def __repr__(self) -> str:
        return f"LabelMapAxis(name={self.name!r}, labels={list(self._labels)})"


class MapAxes(Sequence):
    """Ordered collection of uniquely named non-spatial axes.

    Axes are listed in geometry order; the data array stores them in **reverse** order in front
    of the spatial ``(y, x)`` dimensions, as in gammapy.

    Parameters
    ----------
    axes : sequence of `MapAxis` or `LabelMapAxis`
        The axes.
    n_spatial_axes : int, optional
        Number of spatial dimensions that follow the axes in data order (used for broadcasting
        shapes, e.g. 2 for a WCS geometry).
    """

    def __init__(self, axes=(), n_spatial_axes=None):
        axes = list(axes)
        names = [ax.name for ax in axes]
        for name in names:
            if names.count(name) > 1:
                raise AxisError(f"Axis names must be unique, got {name!r} twice in {names}")
        self._axes = axes
        self._n_spatial_axes = n_spatial_axes

    @classmethod
    def from_default(cls, axes, n_spatial_axes=None) -> MapAxes:
        """Axes from a list of axes or edge arrays; unnamed axes become ``axis<i>``."""
        if axes is None:
            return cls([], n_spatial_axes=n_spatial_axes)
        out = []
        for idx, ax in enumerate(axes):
            if isinstance(ax, np.ndarray):
                ax = MapAxis(ax)
            if ax.name == "":
                ax = ax.rename(f"axis{idx}")
            out.append(ax)
        return cls(out, n_spatial_axes=n_spatial_axes)

    def __getitem__(self, idx):
        if isinstance(idx, (int, np.integer)):
            return self._axes[idx]
        if isinstance(idx, str):
            for ax in self._axes:
                if ax.name == idx:
                    return ax
            raise KeyError(f"Axis {idx!r} not in list of axis names {self.names}")
        if isinstance(idx, slice):
            return self.__class__(self._axes[idx], n_spatial_axes=self._n_spatial_axes)
        if isinstance(idx, list):
            return self.__class__([self[name] for name in idx], self._n_spatial_axes)
        raise TypeError(f"Invalid axes index type {type(idx).__name__}")

    def __len__(self) -> int:
        return len(self._axes)

    def __add__(self, other) -> MapAxes:
        return self.__class__([*self, *other], n_spatial_axes=self._n_spatial_axes)

    def __eq__(self, other) -> bool:
        if not isinstance(other, MapAxes):
            return False
        return self.is_allclose(other, rtol=1e-6, atol=1e-6)

    def __hash__(self) -> int:
        return hash(tuple(self._axes))

    def is_allclose(self, other: MapAxes, **kwargs) -> bool:
        """Same number of axes, pairwise :meth:`MapAxis.is_allclose`."""
        return len(self) == len(other) and all(
            a.is_allclose(b, **kwargs) for a, b in zip(self, other, strict=True)
        )

    def __repr__(self) -> str:
        return f"MapAxes({self._axes!r})"

    @property
    def names(self) -> list[str]:
        """Axis names, geometry order."""
        return [ax.name for ax in self._axes]

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of bins per axis, geometry order."""
        return tuple(ax.nbin for ax in self._axes)

    @property
    def is_unidimensional(self) -> bool:
        """At most one axis has more than one bin."""
        return sum(n > 1 for n in self.shape) <= 1

    @property
    def is_flat(self) -> bool:
        """Every axis has a single bin."""
        return all(n == 1 for n in self.shape)

    @property
    def primary_axis(self):
        """The axis with the most bins."""
        return self._axes[int(np.argmax(self.shape))]

    @property
    def reverse(self) -> list:
        """Axes in data order."""
        return self._axes[::-1]

    def index(self, axis_name: str) -> int:
        """Position of an axis in geometry order."""
        try:
            return self.names.index(axis_name)
        except ValueError:
            raise KeyError(f"Axis {axis_name!r} not in {self.names}") from None

    def index_data(self, axis_name: str) -> int:
        """Position of an axis in data order (counted from the first non-spatial dimension)."""
        return len(self) - self.index(axis_name) - 1

    def iter_with_reshape(self):
        """Yield ``(shape, axis)`` where ``shape`` broadcasts the axis against the data."""
        for idx, axis in enumerate(self):
            shape = [1] * len(self)
            shape[idx] = -1
            shape = shape[::-1] + [1] * (self._n_spatial_axes or 0)
            yield tuple(shape), axis

    def get_coord(self, mode="center", axis_name=None) -> dict:
        """Broadcastable bin centres (or edges of ``axis_name`` with ``mode="edges"``) per axis."""
        coords = {}
        for shape, axis in self.iter_with_reshape():
            values = axis.edges if mode == "edges" and axis.name == axis_name else axis.center
            coords[axis.name] = values.reshape(shape)
        return coords

    def bin_volume(self) -> u.Quantity:
        """Product of bin widths, broadcastable against the data."""
        volume = u.Quantity(1.0)
        for shape, axis in self.iter_with_reshape():
            volume = volume * axis.bin_width.reshape(shape)
        return volume

    # -- derived axes ---------------------------------------------------------------------------

    def _map_axis(self, axis_name: str, func) -> MapAxes:
        self.index(axis_name)  # raises a KeyError naming the axis if it does not exist
        axes = [func(ax) if ax.name == axis_name else ax for ax in self]
        return self.__class__(axes, n_spatial_axes=self._n_spatial_axes)

    def replace(self, axis) -> MapAxes:
        """Replace the axis of the same name."""
        return self._map_axis(axis.name, lambda ax: axis)

    def rename_axes(self, names, new_names) -> MapAxes:
        """Rename axes ``names`` to ``new_names``."""
        mapping = dict(zip(names, new_names, strict=True))
        return self.__class__(
            [ax.rename(mapping[ax.name]) if ax.name in mapping else ax for ax in self],
            n_spatial_axes=self._n_spatial_axes,
        )

    def drop(self, axis_name: str) -> MapAxes:
        """Axes without ``axis_name``."""
        self.index(axis_name)
        return self.__class__(
            [ax for ax in self if ax.name != axis_name], n_spatial_axes=self._n_spatial_axes
        )

    def squash(self, axis_name: str) -> MapAxes:
        return self._map_axis(axis_name, lambda ax: ax.squash())

    def pad(self, axis_name: str, pad_width) -> MapAxes:
        return self._map_axis(axis_name, lambda ax: ax.pad(pad_width))

    def upsample(self, factor: int, axis_name: str) -> MapAxes:
        return self._map_axis(axis_name, lambda ax: ax.upsample(factor))

    def downsample(self, factor: int, axis_name: str) -> MapAxes:
        return self._map_axis(axis_name, lambda ax: ax.downsample(factor))

    def resample(self, axis: MapAxis) -> MapAxes:
        """Replace an axis by a coarser one whose edges coincide with existing edges."""
        groups = self[axis.name].group_table(axis.edges)
        groups = groups[groups["bin_type"] == "normal   "]
        lo, hi = groups[f"{axis.name}_min"].quantity, groups[f"{axis.name}_max"].quantity
        edges = np.append(lo.value, hi.to_value(lo.unit)[-1]) * lo.unit
        return self.replace(MapAxis.from_edges(edges, interp=axis.interp, name=axis.name))

    def slice_by_idx(self, slices: dict) -> MapAxes:
        """Slice axes by name; an integer index drops the axis."""
        axes = []
        for ax in self:
            idx = slices.get(ax.name, slice(None))
            if isinstance(idx, slice):
                axes.append(ax.slice(idx))
        return self.__class__(axes, n_spatial_axes=self._n_spatial_axes)

    def assert_names(self, required_names, allow_extra=False) -> None:
        """Raise :class:`~mapds.errors.AxisError` unless the axes are ``required_names`` in order."""
        names = self.names if not allow_extra else self.names[: len(required_names)]
        if list(names) != list(required_names):
            raise AxisError(
                f"Incorrect axis order or names, expected {list(required_names)}, got {self.names}"
            )

    def copy(self) -> MapAxes:
        return self.__class__(list(self._axes), n_spatial_axes=self._n_spatial_axes)

    # -- transforms -----------------------------------------------------------------------------

    def coord_to_idx(self, coord, clip=True) -> tuple:
        return tuple(ax.coord_to_idx(coord[ax.name], clip=clip) for ax in self)

    def coord_to_pix(self, coord) -> tuple:
        return tuple(ax.coord_to_pix(coord[ax.name]) for ax in self)

    def pix_to_coord(self, pix) -> tuple:
        return tuple(ax.pix_to_coord(p) for ax, p in zip(self, pix, strict=True))

    def pix_to_idx(self, pix, clip=False) -> tuple:
        return tuple(ax.pix_to_idx(p, clip=clip) for ax, p in zip(self, pix, strict=True))

    # -- FITS (gadf BANDS table) form -----------------------------------------------------------

    def to_header(self, format="gadf") -> fits.Header:
        """``AXCOLSn``/``INTERPn`` cards for every axis (n starts at 1)."""
        header = fits.Header()
        for idx, ax in enumerate(self, start=1):
            header.update(ax.to_header(format=format, idx=idx))
        return header

    def to_table(self, format="gadf") -> Table:
        """The gadf BANDS table: ``CHANNEL`` then centre/min/max columns per axis.

        Rows enumerate all combinations of bins with numpy's ``meshgrid`` ordering, exactly as
        gammapy writes them (first axis fastest for one or two axes).
        """
        if format not in ("gadf", "fgst-ccube", "fgst-template"):
            raise ValueError(f"Unsupported table format {format!r}")
        table = Table()
        table["CHANNEL"] = np.arange(int(np.prod(self.shape)), dtype=np.int64)
        centers = np.meshgrid(*[ax.center for ax in self])
        mins = [None] * len(self)
        maxs = [None] * len(self)
        numeric = [ax for ax in self if isinstance(ax, MapAxis)]
        if len(numeric) == len(self):
            mins = np.meshgrid(*[ax.edges_min for ax in self])
            maxs = np.meshgrid(*[ax.edges_max for ax in self])
        for idx, ax in enumerate(self):
            name = ax.name.upper()
            names = ["ENERGY", "E_MIN", "E_MAX"] if name == "ENERGY" else [name, f"{name}_MIN", f"{name}_MAX"]
            table[names[0]] = np.ravel(centers[idx])
            if isinstance(ax, MapAxis):
                table[names[1]] = np.ravel(mins[idx])
                table[names[2]] = np.ravel(maxs[idx])
        return table

    def to_table_hdu(self, format="gadf", hdu_bands="BANDS") -> fits.BinTableHDU:
        """BANDS table as a FITS HDU named ``hdu_bands`` with the axis cards in its header."""
        table = self.to_table(format=format)
        return fits.BinTableHDU(table, name=hdu_bands, header=self.to_header(format=format))

    @classmethod
    def from_table(cls, table: Table, format="gadf") -> MapAxes:
        """Axes described by a gadf BANDS table (``AXCOLS1..5``) or a Fermi energy table."""
        if format in ("fgst-ccube", "fgst-template"):
            return cls([MapAxis.from_table(table, format=format)])
        if format != "gadf":
            raise ValueError(f"Unsupported table format {format!r}")
        axes = []
        for idx in range(5):
            axcols = table.meta.get(f"AXCOLS{idx + 1}")
            if axcols is None:
                break
            colnames = axcols.split(",")
            column = table[colnames[0]] if colnames[0] in table.colnames else None
            if len(colnames) == 1 and column is not None and column.dtype.kind in "US":
                labels = np.unique(column.data.astype(str))
                axes.append(LabelMapAxis(labels, name=colnames[0].lower()))
            else:
                axes.append(MapAxis.from_table(table, format=format, idx=idx))
        return cls(axes)

    @classmethod
    def from_table_hdu(cls, hdu, format="gadf") -> MapAxes:
        if hdu is None:
            return cls([])
        return cls.from_table(Table.read(hdu), format=format)
