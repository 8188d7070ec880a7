"""`MapAxis`: one non-spatial map axis (energy, true energy, offset, migration...).

Semantics follow gammapy: an axis is defined by nodes that are either bin edges
(``node_type="edges"``) or bin centres (``"center"``); pixel coordinate ``i`` is the centre of bin
``i`` and bin edges sit at ``i ± 0.5``.  Pixel <-> coordinate conversion interpolates linearly in the
axis' interpolation scale (``lin``, ``log`` or ``sqrt``) and extrapolates beyond the nodes.

The axis also has single-axis table forms (OGIP ``EBOUNDS``, ARF ``SPECRESP`` columns, DL3 IRF
columns, Fermi ``gtpsf``, gadf ``BANDS`` cards), written and read by :mod:`mapds.geom.axis_tables`;
the multi-axis BANDS table lives on :class:`~mapds.geom.MapAxes`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from functools import cached_property

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..errors import AxisError, UnitMismatchError
from .axis_tables import OGIP_HEADER_FORMATS, axis_arguments_from_table, axis_header, axis_table
from .scale import INTERP_SCALES, interp1d_extrapolate, scale, scale_inverse

__all__ = ["INVALID_INDEX", "MapAxis"]

#: Index returned for coordinates that fall outside an axis (as in gammapy).
INVALID_INDEX = -1

#: Names gammapy reserves for energy axes.
ENERGY_AXIS_NAMES = ("energy", "energy_true")

BOUNDARY_TYPES = ("monotonic", "periodic")


def _energy_axis_name(name: str | None) -> str:
    name = "energy" if name is None else name
    if name not in ENERGY_AXIS_NAMES:
        raise AxisError(f"Energy axis can only be named 'energy' or 'energy_true', got {name!r}")
    return name


def _check_energy_unit(unit: u.UnitBase) -> None:
    if not unit.is_equivalent("TeV"):
        raise UnitMismatchError(f"Energy axis needs an energy unit, got {unit.to_string()!r}")


def _bin_count(nbin) -> int:
    """``nbin`` as a positive integer (integral floats such as ``np.ceil(...)`` results accepted).

    gammapy truncates ``nbin=2.5`` to 2 bins and fails later, or builds an empty axis, for
    ``nbin <= 0``.
    """
    try:
        count = int(nbin)
    except (TypeError, ValueError) as exc:
        raise AxisError(f"nbin={nbin!r} is not a number of bins") from exc
    if count != nbin or count < 1:
        raise AxisError(f"nbin must be a positive integer, got {nbin!r}")
    return count


class MapAxis:
    """One non-spatial axis of a map.

    Parameters
    ----------
    nodes : array-like or `~astropy.units.Quantity`
        Node values, sorted (increasing or decreasing) and unique; bin edges or bin centres
        according to ``node_type``.
    interp : {"lin", "log", "sqrt"}
        Scale in which bins are evenly spaced and in which coordinates are interpolated.
    name : str
        Axis name (``energy``, ``energy_true``, ``rad``, ``migra``...).
    node_type : {"edges", "center"}
        Whether the nodes are bin edges or bin centres.
    unit : str or `~astropy.units.Unit`
        Unit of the nodes (ignored when ``nodes`` is a Quantity).
    boundary_type : {"monotonic", "periodic"}
        ``periodic`` wraps coordinates into the axis range before converting them to pixels
        (only for ``lin`` axes, e.g. a phase axis).

    Raises
    ------
    AxisError
        Nodes not one-dimensional, not finite, duplicated, not sorted, negative on a log/sqrt axis,
        or an unknown ``interp``/``node_type``/``boundary_type``.
    UnitMismatchError
        ``unit`` is not a valid unit.
    """

    def __init__(self, nodes, interp="lin", name="", node_type="edges", unit="", boundary_type="monotonic"):
        if not isinstance(name, str):
            raise TypeError(f"MapAxis name must be a string, got {type(name).__name__}")
        label = f"MapAxis {name!r}" if name else "MapAxis"
        if isinstance(nodes, u.Quantity):
            unit = nodes.unit
            nodes = nodes.value
        try:
            unit = u.Unit(unit)
        except (ValueError, TypeError) as exc:
            raise UnitMismatchError(f"{label}: unknown unit {unit!r}") from exc
        try:
            nodes = np.array(nodes, dtype=float, ndmin=1)
        except (ValueError, TypeError) as exc:
            raise AxisError(f"{label}: node values must be numbers, got {nodes!r:.80}") from exc
        if nodes.ndim != 1:
            raise AxisError(f"{label}: nodes must be one-dimensional, got shape {nodes.shape}")
        if interp not in INTERP_SCALES:
            raise AxisError(f"{label}: invalid interp {interp!r}, expected one of {INTERP_SCALES}")
        if node_type not in ("edges", "center"):
            raise AxisError(f"{label}: invalid node_type {node_type!r}, expected 'edges' or 'center'")
        if boundary_type not in BOUNDARY_TYPES:
            raise AxisError(f"{label}: invalid boundary_type {boundary_type!r}, expected {BOUNDARY_TYPES}")
        if boundary_type == "periodic" and interp != "lin":
            raise AxisError(f"{label}: a periodic axis needs interp='lin', got {interp!r}")
        if not np.all(np.isfinite(nodes)):
            raise AxisError(f"{label}: node values must be finite, got {nodes}")
        if np.unique(nodes).size != nodes.size:
            raise AxisError(f"{label}: node values must be unique, got {nodes}")
        diff = np.diff(nodes)
        if not (np.all(diff > 0) or np.all(diff < 0)):
            raise AxisError(f"{label}: node values must be sorted (monotonic), got {nodes}")
        if interp != "lin" and np.any(nodes < 0):
            raise AxisError(f"{label}: interp {interp!r} needs non-negative node values, got {nodes}")
        if node_type == "edges" and nodes.size < 2:
            raise AxisError(f"{label}: an edges axis needs at least two edges, got {nodes.size}")

        self._name = name
        self._unit = unit
        self._nodes = nodes
        self._interp = interp
        self._node_type = node_type
        self._boundary_type = boundary_type
        self._pix_offset = -0.5 if node_type == "edges" else 0.0
        self._nbin = nodes.size - 1 if node_type == "edges" else nodes.size

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_bounds(cls, lo_bnd, hi_bnd, nbin, **kwargs) -> MapAxis:
        """Axis with ``nbin`` bins evenly spaced in ``interp`` between two bounds.

        With ``node_type="edges"`` (default) the bounds are the outer bin edges, with
        ``"center"`` they are the centres of the first and last bin.  Other keyword arguments
        (``interp``, ``name``, ``unit``...) go to :class:`MapAxis`.
        """
        nbin = _bin_count(nbin)
        interp = kwargs.setdefault("interp", "lin")
        node_type = kwargs.setdefault("node_type", "edges")
        if node_type not in ("edges", "center"):
            raise AxisError(f"Invalid node_type {node_type!r}, expected 'edges' or 'center'")
        nnode = nbin + 1 if node_type == "edges" else nbin
        if interp == "lin":
            nodes = np.linspace(lo_bnd, hi_bnd, nnode)
        elif interp == "log":
            nodes = np.geomspace(lo_bnd, hi_bnd, nnode)
        elif interp == "sqrt":
            nodes = np.linspace(lo_bnd**0.5, hi_bnd**0.5, nnode) ** 2.0
        else:
            raise AxisError(f"Invalid interp {interp!r}, expected one of {INTERP_SCALES}")
        return cls(nodes, **kwargs)

    @classmethod
    def from_edges(cls, edges, **kwargs) -> MapAxis:
        """Axis whose nodes are the given bin edges (at least two)."""
        if len(edges) < 2:
            raise AxisError(f"Edges array must have at least two elements, got {len(edges)}")
        return cls(edges, node_type="edges", **kwargs)

    @classmethod
    def from_nodes(cls, nodes, **kwargs) -> MapAxis:
        """Axis whose nodes are the given bin centres (at least one)."""
        if len(nodes) < 1:
            raise AxisError("Nodes array must have at least one element")
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
        energy_min, energy_max : `~astropy.units.Quantity`, str or float
            Energy range (floats need ``unit``).
        nbin : int
            Number of bins, or bins per decade with ``per_decade=True``.
        unit : str, optional
            Unit of the axis; defaults to the unit of ``energy_max``.
        per_decade : bool
            Interpret ``nbin`` per decade: ``ceil(decades × nbin)`` bins.
        name : {"energy", "energy_true"}
            Axis name, default ``"energy"``.
        node_type : {"edges", "center"}
            Node type.
        strict_bounds : bool
            With ``per_decade``: end exactly at ``energy_max`` (True), or keep exactly ``nbin``
            bins per decade, using ``floor(decades × nbin)`` bins and lowering ``energy_max``
            (False).
        """
        energy_min = u.Quantity(energy_min, unit)
        energy_max = u.Quantity(energy_max, unit)
        if unit is None:
            unit = energy_max.unit
            _check_energy_unit(energy_min.unit)
            energy_min = energy_min.to(unit)
        _check_energy_unit(energy_max.unit)
        if not 0 < energy_min < energy_max:
            # gammapy builds a decreasing axis from energy_min > energy_max; the names say otherwise.
            raise AxisError(
                f"from_energy_bounds needs 0 < energy_min < energy_max, got energy_min={energy_min}, "
                f"energy_max={energy_max}"
            )
        if per_decade:
            ndecades = np.log10((energy_max / energy_min).to_value(""))
            if strict_bounds:
                nbin = np.ceil(ndecades * nbin)
            else:
                per = nbin
                nbin = np.floor(ndecades * per)
                if ndecades % (1 / per) != 0:
                    energy_max = energy_min * 10 ** (nbin / per)
        return cls.from_bounds(
            energy_min.value,
            energy_max.value,
            nbin=nbin,
            unit=unit,
            interp="log",
            name=_energy_axis_name(name),
            node_type=node_type,
        )

    @classmethod
    def from_energy_edges(cls, energy_edges, unit=None, name=None, interp="log") -> MapAxis:
        """Energy axis from adjacent edges."""
        energy_edges = u.Quantity(energy_edges, unit)
        _check_energy_unit(energy_edges.unit)
        return cls.from_edges(energy_edges, name=_energy_axis_name(name), interp=interp)

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
    def unit(self) -> u.UnitBase:
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
    def boundary_type(self) -> str:
        """``"monotonic"`` or ``"periodic"``."""
        return self._boundary_type

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

    @cached_property
    def edges(self) -> u.Quantity:
        """Bin edges (``nbin + 1`` values)."""
        return self.pix_to_coord(np.arange(self.nbin + 1, dtype=float) - 0.5)

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
        """First and last node: outer edges of an edges axis, outer centres of a centre axis."""
        values = self.edges if self.node_type == "edges" else self.center
        return values[[0, -1]]

    @cached_property
    def center(self) -> u.Quantity:
        """Bin centres: the coordinate at integer pixels (geometric mean of edges for log)."""
        return self.pix_to_coord(np.arange(self.nbin, dtype=float))

    @cached_property
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

    @property
    def iter_by_edges(self) -> Iterator[tuple[u.Quantity, u.Quantity]]:
        """Generator of ``(lower, upper)`` edge pairs (a property, as in gammapy)."""
        yield from itertools.pairwise(self.edges)

    # -- coordinate transforms ------------------------------------------------------------------

    def pix_to_coord(self, pix) -> u.Quantity:
        """Pixel coordinate(s) to axis coordinate(s) (extrapolating outside the axis)."""
        pix = np.asarray(pix, dtype=float) - self._pix_offset
        values = interp1d_extrapolate(
            pix, np.arange(self._nodes.size, dtype=float), scale(self._nodes, self._interp)
        )
        return u.Quantity(scale_inverse(values, self._interp), self._unit, copy=None)

    def wrap_coord(self, coord) -> u.Quantity:
        """Wrap coordinates into ``[lower edge, upper edge)`` (periodic axes)."""
        coord = u.Quantity(coord, self._unit)
        low, high = self.edges[0], self.edges[-1]
        outside = (coord >= high) | (coord < low)
        return np.where(outside, (coord - low) % (high - low) + low, coord)

    def coord_to_pix(self, coord) -> np.ndarray:
        """Axis coordinate(s) to (fractional) pixel coordinate(s), at least one-dimensional."""
        if self._boundary_type == "periodic":
            coord = self.wrap_coord(coord)
        coord = u.Quantity(coord, self._unit, copy=None).value
        pix = interp1d_extrapolate(
            scale(coord, self._interp),
            scale(self._nodes, self._interp),
            np.arange(self._nodes.size, dtype=float),
        )
        return np.array(pix + self._pix_offset, ndmin=1)

    def pix_to_idx(self, pix, clip=False) -> np.ndarray:
        """Pixel coordinates to integer bin indices; outside the axis -> ``-1`` unless ``clip``."""
        pix = np.asarray(pix)
        if clip:
            return np.clip(pix, 0, self.nbin - 1)
        return np.where((pix < 0) | (pix >= self.nbin), INVALID_INDEX, pix)

    def coord_to_idx(self, coord, clip=False) -> np.ndarray:
        """Bin index containing each coordinate; outside the axis -> ``-1`` unless ``clip``.

        A coordinate equal to the upper edge belongs to the last bin.
        """
        if self._boundary_type == "periodic":
            coord = self.wrap_coord(coord)
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
            "boundary_type": self._boundary_type,
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
        """Sub-axis of the bins selected by a contiguous slice (or an integer: one bin)."""
        if isinstance(idx, (int, np.integer)):
            start = int(idx) + self.nbin if idx < 0 else int(idx)
            if not 0 <= start < self.nbin:
                raise AxisError(f"Axis {self.name!r}: index {idx} out of range for {self.nbin} bins")
            idx = slice(start, start + 1)
        start, stop, step = idx.indices(self.nbin)
        if step != 1:
            raise AxisError(f"Axis {self.name!r}: only contiguous slices are supported, got {idx}")
        if stop <= start:
            raise AxisError(f"Axis {self.name!r}: slice {idx} selects none of its {self.nbin} bins")
        stop_node = stop + 1 if self.node_type == "edges" else stop
        return self.copy(nodes=self._nodes[start:stop_node])

    def squash(self) -> MapAxis:
        """One bin spanning the whole axis (an edges axis, whatever the node type)."""
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
        """Join an axis of the same name, node type and interp that continues this one.

        Raises
        ------
        AxisError
            Different name, node type or interp, or (edges axes) ``axis`` does not start at the
            upper edge of this one.
        """
        for attr in ("node_type", "name", "interp"):
            if getattr(self, attr) != getattr(axis, attr):
                raise AxisError(
                    f"Cannot concatenate axes with different {attr}: "
                    f"{getattr(self, attr)!r} and {getattr(axis, attr)!r}"
                )
        if self.node_type == "edges":
            if not np.isclose(self.edges[-1], axis.edges[0], rtol=1e-6, atol=0):
                raise AxisError(
                    f"Cannot concatenate axes {self.name!r}: edges are not contiguous "
                    f"({self.edges[-1]} != {axis.edges[0]})"
                )
            edges = np.append(self.edges, axis.edges[1:])
            return self.from_edges(edges, interp=self.interp, name=self.name)
        nodes = np.append(self.center, axis.center)
        return self.from_nodes(nodes, interp=self.interp, name=self.name)

    def upsample(self, factor: int) -> MapAxis:
        """Split every bin into ``factor`` bins, evenly in the interp scale.

        An edges axis gets ``nbin × factor`` bins, a centre axis ``(nbin - 1) × factor + 1``.
        """
        if self.node_type == "edges":
            pix = np.linspace(-0.5, self.nbin - 0.5, int(self.nbin * factor) + 1)
            return self.from_edges(self.pix_to_coord(pix), name=self.name, interp=self.interp)
        pix = np.linspace(0, self.nbin - 1, int((self.nbin - 1) * factor) + 1)
        return self.from_nodes(self.pix_to_coord(pix), name=self.name, interp=self.interp)

    def downsample(self, factor: int, strict: bool = True) -> MapAxis:
        """Keep every ``factor``-th edge (or centre), preserving the axis bounds.

        With ``strict`` the number of bins (``nbin - 1`` for a centre axis) must be divisible by
        ``factor``; otherwise the remainder goes into the last bin.
        """
        values = self.edges if self.node_type == "edges" else self.center
        kept = values[::factor]
        if kept[-1] != values[-1]:
            if strict:
                count = "" if self.node_type == "edges" else " - 1"
                raise AxisError(
                    f"Number of {self.name} bins{count} ({values.size - 1}) is not divisible by {factor}"
                )
            kept = np.append(kept, values[-1])
        if self.node_type == "edges":
            return self.from_edges(kept, name=self.name, interp=self.interp)
        return self.from_nodes(kept, name=self.name, interp=self.interp)

    def group_table(self, edges) -> Table:
        """Table grouping this axis' bins into the coarser bins defined by ``edges``.

        The requested edges are snapped to the nearest existing bin edge (in pixel space); bins
        below/above the requested range form ``underflow``/``overflow`` groups.  Columns:
        ``group_idx``, ``<name>_min``, ``<name>_max``, ``idx_min``, ``idx_max``, ``bin_type``.
        """
        if self.node_type != "edges":
            raise AxisError(f"Only an edges axis can be grouped, {self.name!r} has centre nodes")
        edges_pix = np.clip(self.coord_to_pix(edges), -0.5, self.nbin - 0.5)
        edges_idx = np.unique(np.round(edges_pix + 0.5) - 0.5)
        if edges_idx.size < 2:
            raise AxisError(f"No overlap between axis {self.name!r} and the requested edges {edges}")
        edges_ref = self.pix_to_coord(edges_idx)
        rows = []
        if edges_idx[0] > 0:
            rows.append(("underflow", 0, edges_idx[0], self.edges[0], edges_ref[0]))
        for lo_idx, hi_idx, lo, hi in zip(
            edges_idx[:-1], edges_idx[1:], edges_ref[:-1], edges_ref[1:], strict=True
        ):
            rows.append(("normal   ", lo_idx + 0.5, hi_idx - 0.5, lo, hi))
        if edges_idx[-1] < self.nbin - 0.5:
            rows.append(("overflow", edges_idx[-1] + 1, self.nbin - 1, edges_ref[-1], self.edges[-1]))
        table = Table()
        table["group_idx"] = np.arange(len(rows))
        table[f"{self.name}_min"] = u.Quantity([row[3] for row in rows])
        table[f"{self.name}_max"] = u.Quantity([row[4] for row in rows])
        # gammapy's underflow row stores the half-integer edge pixel truncated to int.
        table["idx_min"] = np.array([row[1] for row in rows]).astype(int)
        table["idx_max"] = np.array([row[2] for row in rows]).astype(int)
        table["bin_type"] = [row[0] for row in rows]
        return table

    # -- comparisons ----------------------------------------------------------------------------

    def is_aligned(self, other: MapAxis, atol: float = 2e-2) -> bool:
        """Whether bin centres of each axis fall on integer pixels of the other (same interp)."""
        pix = np.append(self.coord_to_pix(other.center), other.coord_to_pix(self.center))
        return bool(np.allclose(np.round(pix) - pix, 0, atol=atol)) and self.interp == other.interp

    def is_allclose(self, other: MapAxis, **kwargs) -> bool:
        """Same edges (``np.allclose`` with ``kwargs``), equivalent unit, node type, interp,
        boundary type and name (case-insensitive)."""
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
            and self.boundary_type == other.boundary_type
        )

    def __eq__(self, other) -> bool:
        return isinstance(other, MapAxis) and self.is_allclose(other, rtol=1e-6, atol=1e-6)

    def __hash__(self) -> int:
        # Only what equality compares exactly, so equal axes hash equally.
        return hash((self.name.upper(), self.node_type, self.interp, self.nbin))

    def assert_name(self, required_name: str) -> None:
        """Raise :class:`~mapds.errors.AxisError` unless the axis has the given name."""
        if self.name != required_name:
            raise AxisError(f"Unexpected axis name, expected {required_name!r}, got {self.name!r}")

    # -- FITS forms (see mapds.geom.axis_tables) ----------------------------------------------

    def to_header(self, format="ogip", idx=0) -> fits.Header:
        """Header cards describing the axis.

        ``ogip``/``ogip-sherpa``: the cards of an OGIP ``EBOUNDS`` extension; ``gadf`` (and the
        Fermi formats): ``AXCOLS<idx>`` and ``INTERP<idx>`` naming the axis columns of a BANDS
        table (``MapAxes.to_header`` numbers axes from 1).
        """
        return axis_header(self, format=format, idx=idx)

    def to_table(self, format="ogip") -> Table:
        """The axis as a table.

        Parameters
        ----------
        format : str
            ``ogip``/``ogip-sherpa``: ``EBOUNDS`` columns ``CHANNEL``, ``E_MIN``, ``E_MAX``
            (keV for sherpa; axis must be ``energy``); ``ogip-arf``/``ogip-arf-sherpa``:
            ``ENERG_LO``, ``ENERG_HI`` (axis ``energy_true``); ``gadf-dl3``: one row with
            ``<PREFIX>_LO``/``<PREFIX>_HI`` array cells; ``gadf-sed``: ``e_ref``, ``e_min``,
            ``e_max`` (energy axes); ``gtpsf``: ``Energy`` in MeV or ``Theta`` in deg (centres).
        """
        return axis_table(self, format=format)

    def to_table_hdu(self, format="ogip") -> fits.BinTableHDU:
        """:meth:`to_table` as a FITS HDU (``EBOUNDS`` cards for OGIP, ``THETA`` for gtpsf)."""
        hdu = fits.BinTableHDU(self.to_table(format=format), name="THETA" if format == "gtpsf" else None)
        if format in OGIP_HEADER_FORMATS:
            hdu.header.update(self.to_header(format=format))
        return hdu

    @classmethod
    def from_table(cls, table: Table, format="ogip", idx=0, column_prefix="") -> MapAxis:
        """Axis from a table.

        Parameters
        ----------
        table : `~astropy.table.Table`
            The table (with its header cards in ``meta``).
        format : str
            ``ogip``/``fgst-ccube`` (``E_MIN``/``E_MAX``), ``ogip-arf`` (``ENERG_LO``/``_HI``),
            ``fgst-template``/``fgst-bexpcube`` (``ENERGY`` nodes in MeV), ``gadf`` (axis ``idx``
            of a BANDS table, named by ``AXCOLS<idx+1>``), ``gadf-dl3`` (``<column_prefix>_LO``
            /``_HI``), ``gtpsf``.
        idx : int
            0-based axis number in a gadf BANDS table.
        column_prefix : str
            DL3 column prefix (``ENERG``, ``THETA``, ``RAD``, ``MIGRA``, ``DETX``, ``DETY``).
        """
        return cls(**axis_arguments_from_table(table, format=format, idx=idx, column_prefix=column_prefix))

    @classmethod
    def from_table_hdu(cls, hdu: fits.BinTableHDU, format="ogip", idx=0) -> MapAxis:
        """Axis from a table HDU (see :meth:`from_table`)."""
        return cls.from_table(Table.read(hdu), format=format, idx=idx)

    def __repr__(self) -> str:
        values = self.edges if self.node_type == "edges" else self.center
        return (
            f"{type(self).__name__}(name={self.name!r}, nbin={self.nbin}, "
            f"node_type={self.node_type!r}, {self.node_type}=[{values.value.min():.3g}, "
            f"{values.value.max():.3g}] {self.unit}, interp={self.interp!r})"
        )
