"""Lazy FITS images: values, dtypes and scaling exactly as astropy decodes them."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

from mapds.io.fits import FitsFile
from mapds.io.fits.image import FitsImageArray
from mapds.io.fits.pixels import PixelCodec
from mapds.io.ranged import LocalRangeReader
from mapds.maps.lazy import WindowedArray


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "image.fits"
    data = np.arange(3 * 17 * 23, dtype=">f4").reshape(3, 17, 23) * 0.5
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="IMG")]).writeto(path)
    return path, data.astype("f4")


@st.composite
def windows(draw, shape=(3, 17, 23)):
    key = []
    for n in shape:
        if draw(st.booleans()) and n > 1:
            key.append(draw(st.integers(0, n - 1)))
        else:
            start = draw(st.integers(0, n - 1))
            key.append(slice(start, draw(st.integers(start + 1, n))))
    return tuple(key)


@settings(max_examples=100, deadline=None)
@given(windows())
def test_any_window_reads_the_numpy_values(image_file, key):
    path, data = image_file
    array, _ = FitsFile.open(path).image_array("IMG")
    out = array[key]
    np.testing.assert_array_equal(out, data[key])
    assert out.dtype == np.dtype("f4") and out.dtype.isnative


def _complete(sizes, total):
    """Chunk sizes from drawn sizes, truncated or extended to sum to ``total``."""
    out, left = [], total
    for n in sizes:
        if left == 0:
            break
        out.append(min(n, left))
        left -= out[-1]
    return (*out, left) if left else tuple(out)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 17), min_size=1, max_size=4), st.lists(st.integers(1, 23), min_size=1, max_size=4)
)
def test_random_chunkings_compute_the_same_map(image_file, ychunks, xchunks):
    path, data = image_file
    chunks = ((1, 2), _complete(ychunks, 17), _complete(xchunks, 23))
    array, token = FitsFile.open(path).image_array("IMG")
    dask_array = WindowedArray(array, token).to_dask(chunks)
    assert dask_array.chunks == chunks
    np.testing.assert_array_equal(dask_array.compute(), data)


def _write_raw(path, data, **cards):
    """An image whose stored pixels are ``data`` verbatim, with extra header cards."""
    hdu = fits.PrimaryHDU(data)
    hdu.header.extend(list(cards.items()))
    # Scaling cards are written as given; astropy must not rescale the stored integers.
    hdu._do_not_scale_image_data = True
    hdu.writeto(path, overwrite=True, output_verify="ignore")


@pytest.mark.parametrize(
    ("stored", "cards"),
    [
        (np.arange(-6, 6, dtype=">i2"), {}),
        (np.arange(-6, 6, dtype=">i4"), {}),
        (np.arange(-6, 6, dtype=">i8"), {}),
        (np.arange(0, 12, dtype="u1"), {}),
        (np.arange(-6, 6, dtype=">f8"), {}),
        (np.arange(-6, 6, dtype=">i2"), {"BZERO": 32768, "BSCALE": 1}),
        (np.arange(-6, 6, dtype=">i4"), {"BZERO": 2**31}),
        (np.arange(0, 12, dtype="u1"), {"BZERO": -128}),
        (np.arange(-6, 6, dtype=">i2"), {"BSCALE": 0.5, "BZERO": 3.0, "BLANK": -2}),
        (np.arange(-6, 6, dtype=">i4"), {"BSCALE": 2.0, "BZERO": 1.5}),
        (np.arange(-6, 6, dtype=">i2"), {"BLANK": 4}),
        (np.arange(-6, 6, dtype=">f4"), {"BSCALE": 2.0, "BZERO": -1.0}),
    ],
)
def test_pixel_conventions_match_astropy(tmp_path, stored, cards):
    path = tmp_path / "px.fits"
    _write_raw(path, stored.reshape(3, 4), **cards)
    expected = fits.getdata(path)
    array, _ = FitsFile.open(path).image_array(0)
    values = array[:, :]
    assert values.dtype == expected.dtype.newbyteorder("=")
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(array[1, 1:3], expected[1, 1:3])


@pytest.mark.parametrize("dtype", ["f4", "f8", "i2", "i4", "i8", "u1", "i1", "u2", "u4", "u8", "bool"])
def test_codec_round_trips_every_writable_dtype(dtype):
    values = (np.arange(12) % 5).astype(dtype)
    codec = PixelCodec.for_values(dtype)
    stored = np.empty(values.shape, dtype=codec.file_dtype)
    codec.encode_into(values, stored)
    header = fits.PrimaryHDU(codec.placeholder(values.shape)).header
    decoded = PixelCodec.from_header(header, as_bool=dtype == "bool").decode(stored.copy())
    assert decoded.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(decoded, values)


def test_unwritable_dtypes_are_refused():
    with pytest.raises(TypeError, match="float16"):
        PixelCodec.for_values("f2", where="HDU 'X'")


class _TinyPieces(LocalRangeReader):
    """The real local reader, but handing its data over in 16-byte pieces."""

    def pieces(self, starts, ends, pack=False):
        for index, position, piece in super().pieces(starts, ends, pack=pack):
            for at in range(0, len(piece), 16):
                yield index, position + at, piece[at : at + 16]


@settings(max_examples=60, deadline=None)
@given(windows())
def test_decoding_does_not_depend_on_piece_boundaries(image_file, key):
    path, data = image_file
    info = FitsFile.open(path).info_of("IMG")
    array = FitsImageArray(
        _TinyPieces(str(path)), info.data_offset, info.shape, PixelCodec.from_header(info.header)
    )
    np.testing.assert_array_equal(array[key], data[key])
