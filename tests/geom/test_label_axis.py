"""`LabelMapAxis` against gammapy 2.1."""

from __future__ import annotations

import numpy as np
import pytest

from mapds.errors import AxisError
from mapds.geom import LabelMapAxis


@pytest.fixture
def labels_pair(ref):
    ours = LabelMapAxis(["crab", "vela", "geminga"], name="models")
    return ours, ref.axis(ours)


def test_properties_and_transforms_match_gammapy(labels_pair, same):
    ours, theirs = labels_pair
    assert (ours.name, ours.nbin, ours.node_type, ours.unit) == (
        theirs.name,
        theirs.nbin,
        theirs.node_type,
        theirs.unit,
    )
    same(ours.center, theirs.center)
    same(ours.edges_min, theirs.edges_min)
    same(ours.bin_width, theirs.bin_width)
    same(ours.pix_to_coord(np.array([0, 1.2, 2])), theirs.pix_to_coord(np.array([0, 1.2, 2])))
    coords = np.array([["vela", "crab"], ["geminga", "vela"]])
    same(ours.coord_to_idx(coords), theirs.coord_to_idx(coords))
    same(ours.coord_to_pix(["geminga"]), theirs.coord_to_pix(["geminga"]))
    for clip in (False, True):
        same(
            ours.pix_to_idx(np.array([-1, 0, 2, 3]), clip=clip),
            theirs.pix_to_idx(np.array([-1, 0, 2, 3]), clip=clip),
        )


def test_derived_axes_match_gammapy(labels_pair, ref, same):
    ours, theirs = labels_pair
    same(ours.slice(slice(1, 3)).center, theirs.slice(slice(1, 3)).center)
    same(ours.squash().center, theirs.squash().center)
    other = LabelMapAxis(["pks"], name="models")
    same(ours.concatenate(other).center, theirs.concatenate(ref.axis(other)).center)
    same(
        LabelMapAxis.from_stack([ours, other]).center,
        ref.maps.LabelMapAxis.from_stack([theirs, ref.axis(other)]).center,
    )
    assert dict(ours.to_header(idx=2)) == dict(theirs.to_header(idx=2))
    assert ours == ours.copy() and ours != ours.slice(slice(0, 2))
    assert (ours == ours.rename("MODELS")) == (theirs == ref.axis(ours.rename("MODELS")))


def test_unsupported_operations_raise(labels_pair):
    ours, _ = labels_pair
    for op in (ours.upsample, ours.downsample, ours.resample, ours.pad):
        with pytest.raises(NotImplementedError, match="'models'"):
            op(2)
    with pytest.raises(AxisError, match="does not define edges"):
        _ = ours.edges
    with pytest.raises(AxisError, match=r"\['pks'\] are not in axis 'models'"):
        ours.coord_to_idx(["crab", "pks"])
    with pytest.raises(AxisError, match="unique"):
        LabelMapAxis(["a", "a"], name="models")
    with pytest.raises(AxisError, match="different names"):
        ours.concatenate(LabelMapAxis(["x"], name="datasets"))
