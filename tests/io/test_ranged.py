"""Byte-range planning and the two range readers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapds.errors import CorruptFileError, MissingFileError
from mapds.io.ranged import FsspecRangeReader, LocalRangeReader, coalesce
from mapds.io.urls import resolve


@st.composite
def sorted_ranges(draw):
    n = draw(st.integers(1, 40))
    gaps = draw(st.lists(st.integers(0, 500), min_size=n, max_size=n))
    lengths = draw(st.lists(st.integers(1, 300), min_size=n, max_size=n))
    starts, ends, pos = [], [], 0
    for gap, length in zip(gaps, lengths, strict=True):
        pos += gap
        starts.append(pos)
        pos += length
        ends.append(pos)
    return np.array(starts), np.array(ends)


@settings(max_examples=200, deadline=None)
@given(sorted_ranges(), st.sampled_from([1.0, 1.25, 1.5, 3.0]))
def test_coalesce_covers_every_range_within_the_bound(ranges, amplification):
    starts, ends = ranges
    plan = coalesce(starts, ends, max_amplification=amplification)
    needed = int(np.sum(ends - starts))
    read = int(np.sum(plan.ends - plan.starts))
    assert read <= amplification * needed
    assert plan.first[0] == 0 and plan.first[-1] == starts.size
    for g in range(plan.starts.size):
        served = slice(plan.first[g], plan.first[g + 1])
        assert plan.starts[g] == starts[served][0] and plan.ends[g] == ends[served][-1]
    # Requests are disjoint and ordered.
    assert np.all(plan.starts[1:] >= plan.ends[:-1])


def test_coalesce_merges_small_gaps_first():
    plan = coalesce([0, 110, 1000], [100, 210, 1100], max_amplification=1.5)
    assert plan.starts.tolist() == [0, 1000]
    assert plan.ends.tolist() == [210, 1100]
    no_merge = coalesce([0, 110], [100, 210], max_amplification=1.0)
    assert no_merge.starts.tolist() == [0, 110]
    touching = coalesce([0, 100], [100, 200], max_amplification=1.0)
    assert touching.starts.tolist() == [0] and touching.ends.tolist() == [200]


@settings(max_examples=100, deadline=None)
@given(sorted_ranges(), st.sampled_from([1, 64, 256, 2048]))
def test_coalesce_with_a_merge_gap_sends_one_request_per_block_touched(ranges, gap):
    starts, ends = ranges
    plan = coalesce(starts, ends, max_amplification=1.5, merge_gap=gap)
    pairs = zip(starts.tolist(), ends.tolist(), strict=True)
    blocks = {b for s, e in pairs for b in range(s // gap, (e - 1) // gap + 1)}
    assert plan.starts.size <= len(blocks)
    needed = int(np.sum(ends - starts))
    assert int(np.sum(plan.ends - plan.starts)) <= max(1.5 * needed, len(blocks) * gap)
    for g in range(plan.starts.size):
        served = slice(plan.first[g], plan.first[g + 1])
        assert plan.starts[g] == starts[served][0] and plan.ends[g] == ends[served][-1]


def test_a_cutout_of_short_rows_is_one_request_with_a_merge_gap():
    # 20 x 20 x 5 float32 pixels of a 5 x 40 x 50 image: 100 runs of 80 bytes, 120 bytes apart
    # in a row block and 4120 bytes apart between planes.
    rows = np.arange(5)[:, None] * 40 + np.arange(10, 30)[None, :]
    starts = (rows.ravel() * 50 + 10) * 4
    assert coalesce(starts, starts + 80).starts.size == 67  # within 1.5x the bytes needed
    one = coalesce(starts, starts + 80, merge_gap=2**20)
    assert (one.starts.tolist(), one.ends.tolist()) == ([starts[0]], [starts[-1] + 80])


def test_coalesce_rejects_overlaps():
    with pytest.raises(ValueError, match="non-overlapping"):
        coalesce([0, 50], [100, 150])


@pytest.mark.parametrize("kind", ["local", "fsspec"])
def test_readers_fill_buffers_and_report_truncation(tmp_path, kind):
    path = tmp_path / "data.bin"
    payload = bytes(range(256)) * 4
    path.write_bytes(payload)
    location = resolve(path)
    reader = LocalRangeReader(str(path)) if kind == "local" else FsspecRangeReader(location)
    buffers = [bytearray(10), bytearray(3), bytearray(100)]
    reader.read_into([5, 300, 900], [memoryview(b) for b in buffers])
    assert [bytes(b) for b in buffers] == [payload[5:15], payload[300:303], payload[900:1000]]
    assert reader.read(1020, 1024) == payload[1020:]
    with pytest.raises(CorruptFileError, match="file ends"):
        reader.read(1000, 1100)


def test_missing_file_is_a_storage_error_naming_it(tmp_path):
    reader = LocalRangeReader(str(tmp_path / "absent.fits"))
    with pytest.raises(MissingFileError, match=r"absent\.fits"):
        reader.read(0, 10)
    with pytest.raises(FileNotFoundError):
        reader.read(0, 10)
