"""Round-trip properties of axes (hypothesis): pixels <-> coordinates, axis <-> BANDS table <-> header."""

from __future__ import annotations

import io

import astropy.units as u
import numpy as np
from astropy.io import fits
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mapds.geom import LabelMapAxis, MapAxes, MapAxis

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def map_axes(draw, names=("x",)):
    """An axis from bounds: any interp and node type, 1-20 bins, positive bounds spanning 1e-3..1e3."""
    interp = draw(st.sampled_from(["lin", "log", "sqrt"]))
    node_type = draw(st.sampled_from(["edges", "center"]))
    nbin = draw(st.integers(min_value=2 if node_type == "center" else 1, max_value=20))
    lo = draw(st.floats(min_value=1e-2, max_value=10.0))
    ratio = draw(st.floats(min_value=1.5, max_value=1e3))
    name = draw(st.sampled_from(names))
    unit = draw(st.sampled_from(["", "TeV", "deg"]))
    axis = MapAxis.from_bounds(lo, lo * ratio, nbin, interp=interp, node_type=node_type, name=name, unit=unit)
    if interp == "sqrt" and node_type == "center":
        # The lowest edge must not extrapolate below zero in sqrt scale, where the axis folds.
        root = np.sqrt(axis.nodes)
        assume(root[0] - 0.5 * (root[1] - root[0]) >= 0)
    return axis


@SETTINGS
@given(axis=map_axes(), fraction=st.lists(st.floats(min_value=-0.5, max_value=1.5), min_size=1, max_size=10))
def test_pix_to_coord_to_pix_round_trip(axis, fraction):
    # Pixels across the axis, including up to half the axis of extrapolation on each side,
    # as long as the coordinate stays in the domain of the scale.
    pix = np.array(fraction) * axis.nbin - 0.5
    coord = axis.pix_to_coord(pix)
    valid = coord.value > 0 if axis.interp != "lin" else np.ones(pix.shape, bool)
    if axis.interp == "sqrt":
        # Below the lowest edge a sqrt scale may cross zero, where squaring is not invertible.
        valid &= pix >= -0.5
    np.testing.assert_allclose(axis.coord_to_pix(coord)[valid], pix[valid], atol=1e-9 * axis.nbin)


@SETTINGS
@given(axis=map_axes(), position=st.floats(min_value=0.01, max_value=0.99))
def test_coordinates_inside_a_bin_map_to_that_bin(axis, position):
    edges = axis.edges
    idx = np.arange(axis.nbin)
    # A point strictly inside each bin, interpolated in the axis' own scale.
    inside = axis.pix_to_coord(idx - 0.5 + position)
    np.testing.assert_array_equal(axis.coord_to_idx(inside), idx)
    np.testing.assert_array_equal(axis.coord_to_idx(axis.center), idx)
    assert np.all((inside >= edges[:-1]) & (inside <= edges[1:]))
    span = edges[-1] - edges[0]
    np.testing.assert_array_equal(
        axis.coord_to_idx(u.Quantity([edges[0] - span, edges[-1] + span])), [-1, -1]
    )


@SETTINGS
@given(axis=map_axes(names=("energy", "energy_true", "rad", "migra")), extra=map_axes(names=("offset",)))
def test_axes_to_bands_table_to_axes(axis, extra):
    axes = MapAxes([axis, extra])
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), axes.to_table_hdu(hdu_bands="X_BANDS")]).writeto(buffer)
    buffer.seek(0)
    with fits.open(buffer) as hdulist:
        back = MapAxes.from_table_hdu(hdulist["X_BANDS"])
    assert back == axes
    for ax, ax_back in zip(axes, back, strict=True):
        assert (ax_back.name, ax_back.node_type, ax_back.interp, ax_back.unit) == (
            ax.name,
            ax.node_type,
            ax.interp,
            ax.unit,
        )
        # Edges of a log axis are exp(log(nodes)), as in gammapy: a round trip may move them by an ulp.
        np.testing.assert_allclose(ax_back.edges.value, ax.edges.value, rtol=1e-14)
    # header -> axes -> header is the identity.
    assert back.to_header().tostring() == axes.to_header().tostring()


@SETTINGS
@given(axis=map_axes(names=("energy", "x")), ratio=st.integers(min_value=1, max_value=4))
def test_edges_table_axis_round_trip_after_resampling(axis, ratio):
    # Derived axes (upsampled, squashed) also survive the table form.
    for derived in (axis.upsample(ratio), axis.squash()):
        back = MapAxes.from_table_hdu(MapAxes([derived]).to_table_hdu())[0]
        # Edges of a log axis are exp(log(nodes)): one round trip may move them by an ulp.
        np.testing.assert_allclose(back.edges.value, derived.edges.value, rtol=1e-14)
        assert back.node_type == derived.node_type


@SETTINGS
@given(
    labels=st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=6), min_size=1, max_size=6, unique=True)
)
def test_label_axis_table_round_trip_sorts_labels(labels):
    axis = LabelMapAxis(labels, name="models")
    back = MapAxes.from_table_hdu(MapAxes([axis]).to_table_hdu())[0]
    assert back.name == "models"
    # gammapy keeps np.unique of the column: the labels come back sorted.
    assert back.center.tolist() == sorted(labels)
