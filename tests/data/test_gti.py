"""GTI against gammapy's on identical inputs, and its FITS form both ways."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.time import Time
from gammapy.data import GTI as GammapyGTI
from numpy.testing import assert_allclose

from mapds.data import GTI
from mapds.errors import MissingHDUError

START, STOP = [0, 100, 40, 300] * u.s, [50, 200, 120, 300.5] * u.s


def both(start=START, stop=STOP, reference_time="2000-01-01"):
    return GTI.create(start, stop, reference_time), GammapyGTI.create(start, stop, reference_time)


def test_properties_match_gammapy():
    ours, theirs = both()
    assert_allclose(ours.time_sum.to_value("s"), theirs.time_sum.to_value("s"))
    assert_allclose(ours.met_start.value, theirs.met_start.to_value("s"))
    assert_allclose(ours.met_stop.value, theirs.met_stop.to_value("s"))
    assert_allclose(ours.time_start.mjd, theirs.time_start.mjd)
    assert ours.time_ref == theirs.time_ref


@pytest.mark.parametrize("merge_equal", [True, False])
def test_union_matches_gammapy(merge_equal):
    ours, theirs = both([0, 100, 40, 200] * u.s, [50, 200, 120, 250] * u.s)
    ours_union, theirs_union = ours.union(merge_equal=merge_equal), theirs.union(merge_equal=merge_equal)
    assert_allclose(ours_union.met_start.value, theirs_union.met_start.to_value("s"))
    assert_allclose(ours_union.met_stop.value, theirs_union.met_stop.to_value("s"))


def test_stack_keeps_absolute_times_across_reference_times():
    ours, theirs = both()
    other, other_theirs = both([10] * u.s, [20] * u.s, reference_time="2010-01-01")
    ours.stack(other)
    theirs.stack(other_theirs)
    assert_allclose(ours.met_start.value, theirs.met_start.to_value("s"))
    assert len(ours) == 5


def test_empty_gtis_stack_and_union():
    # gammapy 2.1 raises IndexError on the union of two stacked empty GTIs; we return an empty GTI.
    empty = GTI.create([] * u.s, [] * u.s)
    empty.stack(GTI.create([] * u.s, [] * u.s))
    assert len(empty.union()) == 0
    assert empty.time_sum == 0 * u.s


def test_select_time_and_delete_interval():
    gti = GTI.create([0, 100] * u.s, [50, 200] * u.s)
    t0 = gti.time_ref
    selected = gti.select_time((t0 + 20 * u.s, t0 + 150 * u.s))
    assert_allclose(selected.met_start.value, [20, 100], atol=1e-6)
    assert_allclose(selected.met_stop.value, [50, 150], atol=1e-6)
    deleted = gti.delete_interval((t0 + 20 * u.s, t0 + 150 * u.s))
    assert_allclose(deleted.time_sum.to_value("s"), 20 + 50, atol=1e-6)


def test_fits_round_trip_both_ways(tmp_path):
    ours, theirs = both(reference_time=Time("2004-03-01", scale="tt"))
    ours.write(tmp_path / "ours.fits")
    theirs.write(tmp_path / "theirs.fits")
    read_by_gammapy = GammapyGTI.read(tmp_path / "ours.fits")
    read_by_us = GTI.read(tmp_path / "theirs.fits")
    assert read_by_gammapy.time_ref == theirs.time_ref
    assert_allclose(read_by_gammapy.time_start.mjd, theirs.time_start.mjd, rtol=1e-13)
    assert_allclose(read_by_us.time_stop.mjd, ours.time_stop.mjd, rtol=1e-13)
    header = ours.to_table_hdu().header
    for card in ["MJDREFI", "MJDREFF", "TIMESYS", "EXTNAME"]:
        assert header[card] == theirs.to_table_hdu().header[card]


def test_missing_hdu_is_named(tmp_path):
    GTI.create([0] * u.s, [1] * u.s).write(tmp_path / "gti.fits")
    with pytest.raises(MissingHDUError, match="'EVENTS'"):
        GTI.read(tmp_path / "gti.fits", hdu="EVENTS")


def test_time_intervals_round_trip():
    gti = GTI.create([0, 100] * u.s, [50, 200] * u.s)
    again = GTI.from_time_intervals(gti.time_intervals, reference_time=gti.time_ref)
    assert_allclose(np.asarray(again.met_stop.value), [50, 200], atol=1e-6)


def test_default_reference_time_is_gammapys():
    ours, theirs = GTI.create([0] * u.s, [1] * u.s), GammapyGTI.create([0] * u.s, [1] * u.s)
    assert ours.time_ref.scale == theirs.time_ref.scale == "tt"
    assert ours.time_ref == theirs.time_ref
    interval = [(Time("2010-01-01", scale="tt"), Time("2010-01-02", scale="tt"))]
    assert_allclose(
        GTI.from_time_intervals(interval).met_start.value,
        GammapyGTI.from_time_intervals(interval).met_start.value,
        rtol=1e-12,
    )
