"""FITS pixel values <-> numpy values (BITPIX, byte order, BSCALE/BZERO, BLANK, masks).

The conversions reproduce what ``astropy.io.fits`` hands to gammapy, so a map read by mapds
has the values and dtype gammapy would see:

- big-endian storage becomes native byte order;
- the unsigned-integer conventions (BITPIX 16/32/64 with BZERO = 2**(n-1), BITPIX 8 with
  BZERO = -128 for int8) give exact unsigned (or int8) integers;
- any other BSCALE/BZERO, or a BLANK card on integers, gives floats (float32 for BITPIX 8/16,
  float64 above; float images keep their type), with BLANK pixels set to NaN;
- masks (gammapy writes them as int64) become bool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from ...errors import CorruptFileError

__all__ = ["PixelCodec"]

_BITPIX_DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_SIGNED_FOR_UNSIGNED = {np.dtype("u2"): ">i2", np.dtype("u4"): ">i4", np.dtype("u8"): ">i8"}


@dataclass(frozen=True)
class PixelCodec:
    """How stored pixels map to values.

    Attributes
    ----------
    file_dtype : numpy.dtype
        dtype of the stored (big-endian) pixels.
    dtype : numpy.dtype
        dtype of the values (native byte order).
    kind : {"plain", "offset", "scaled", "bool"}
        ``offset``: an exact integer offset convention (unsigned integers, int8);
        ``scaled``: ``value = stored * bscale + bzero`` in floating point.
    bscale, bzero : float
        Linear scaling (``scaled`` kind).
    blank : int, optional
        Stored integer value meaning "undefined" (``scaled`` kind), read as NaN.
    """

    file_dtype: np.dtype
    dtype: np.dtype
    kind: str = "plain"
    bscale: float = 1.0
    bzero: float = 0.0
    blank: int | None = None

    @classmethod
    def from_header(cls, header: fits.Header, as_bool: bool = False, where: str = "") -> PixelCodec:
        """Codec of an image HDU.

        Parameters
        ----------
        header : `~astropy.io.fits.Header`
            Image header (``BITPIX``, optional ``BSCALE``/``BZERO``/``BLANK``).
        as_bool : bool
            Read the values as a mask (non-zero is True).
        where : str
            File and HDU, for error messages.
        """
        bitpix = header.get("BITPIX")
        if bitpix not in _BITPIX_DTYPES:
            raise CorruptFileError(
                f"{where}: BITPIX = {bitpix!r} is not a FITS pixel type (expected one of "
                f"{sorted(_BITPIX_DTYPES)})"
            )
        file_dtype = np.dtype(_BITPIX_DTYPES[bitpix])
        bscale = float(header.get("BSCALE", 1.0))
        bzero = float(header.get("BZERO", 0.0))
        blank = header.get("BLANK") if file_dtype.kind != "f" else None
        if as_bool:
            return cls(file_dtype, np.dtype(bool), "bool")
        if bscale == 1.0 and file_dtype.kind in "iu":
            if bitpix == 8 and bzero == -128.0:
                return cls(file_dtype, np.dtype("i1"), "offset")
            if bitpix > 8 and bzero == 2.0 ** (bitpix - 1):
                return cls(file_dtype, np.dtype(f"u{bitpix // 8}"), "offset")
        if bscale == 1.0 and bzero == 0.0 and blank is None:
            return cls(file_dtype, file_dtype.newbyteorder("="))
        if file_dtype.kind == "f":
            out = file_dtype.newbyteorder("=")
        else:
            out = np.dtype("f4") if bitpix in (8, 16) else np.dtype("f8")
        return cls(file_dtype, out, "scaled", bscale, bzero, None if blank is None else int(blank))

    @classmethod
    def for_values(cls, dtype, where: str = "") -> PixelCodec:
        """Codec that stores values of ``dtype`` (bool is stored as int64, as gammapy does)."""
        dtype = np.dtype(dtype)
        if dtype.kind == "b":
            return cls(np.dtype(">i8"), dtype, "bool")
        if dtype == np.dtype("i1"):
            return cls(np.dtype("u1"), dtype, "offset")
        if dtype in _SIGNED_FOR_UNSIGNED:
            return cls(np.dtype(_SIGNED_FOR_UNSIGNED[dtype]), dtype, "offset")
        file_dtype = dtype.newbyteorder(">") if dtype.itemsize > 1 else dtype
        if file_dtype not in {np.dtype(v) for v in _BITPIX_DTYPES.values()}:
            raise TypeError(f"{where}: cannot store {dtype} values in a FITS image")
        return cls(file_dtype, dtype.newbyteorder("="))

    def placeholder(self, shape: tuple[int, ...]) -> np.ndarray:
        """A zero-memory array of the value dtype, from which astropy derives image cards."""
        dtype = np.dtype("i8") if self.kind == "bool" else self.dtype
        return np.broadcast_to(np.zeros((), dtype=dtype), shape)

    def _sign_bit(self, dtype: np.dtype):
        return np.dtype(dtype).type(1 << (8 * np.dtype(dtype).itemsize - 1))

    def decode_into(self, raw: np.ndarray, out: np.ndarray) -> None:
        """Write the values of stored pixels ``raw`` (``file_dtype``) into ``out`` (``dtype``).

        One pass over memory: the byte swap happens in the same loop as the copy (or the
        scaling), so pixels read into a small scratch buffer go straight to their place.
        """
        if self.kind == "plain":
            np.copyto(out, raw)
        elif self.kind == "bool":
            np.not_equal(raw, 0, out=out)
        elif self.kind == "offset":
            unsigned = np.dtype(f"u{raw.dtype.itemsize}")
            stored = raw.view(unsigned.newbyteorder(raw.dtype.byteorder if raw.dtype.itemsize > 1 else "|"))
            np.bitwise_xor(stored, self._sign_bit(unsigned), out=out.view(unsigned), casting="unsafe")
        else:
            np.multiply(raw, self.dtype.type(self.bscale), out=out, casting="unsafe")
            if self.bzero != 0.0:
                out += self.dtype.type(self.bzero)
            if self.blank is not None:
                out[raw == self.blank] = np.nan

    def decode(self, raw: np.ndarray) -> np.ndarray:
        """Values from stored pixels (``raw`` has ``file_dtype``)."""
        out = np.empty(raw.shape, dtype=self.dtype)
        self.decode_into(raw.reshape(-1), out.reshape(-1))
        return out

    def encode_into(self, values: np.ndarray, out: np.ndarray) -> None:
        """Write the stored pixels of ``values`` into ``out`` (``file_dtype``), in one pass."""
        if self.kind == "scaled":
            raise TypeError("scaled pixels are only decoded; values are written unscaled")
        if self.kind == "offset":
            unsigned = np.dtype(f"u{self.dtype.itemsize}")
            stored = out.view(unsigned.newbyteorder(out.dtype.byteorder if out.dtype.itemsize > 1 else "|"))
            np.bitwise_xor(values.view(unsigned), self._sign_bit(unsigned), out=stored, casting="unsafe")
        else:
            np.copyto(out, values, casting="unsafe")
