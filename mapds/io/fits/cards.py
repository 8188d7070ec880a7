"""Checks of the header cards mapds relies on, so a damaged card is an error, not a wrong map.

astropy parses a damaged card without complaint: a number written as a string
(``CRVAL1 = '12.5'``), a card whose ``=`` was lost (``CRVAL1    12.5``, read as commentary text)
or an unparsable value all become strings, and ``astropy.wcs.WCS`` then replaces them by
defaults with a mere warning, which moves the map silently.  The size cards (``BITPIX``,
``NAXIS``, ``NAXISn``...) decide where every later HDU starts, so a bad one would make the
header scan read data as headers.  These functions check the cards where a header enters
mapds and raise :class:`~mapds.errors.CorruptFileError` naming the file, the HDU and the card.
"""

from __future__ import annotations

import re

from astropy.io import fits

from ...errors import CorruptFileError

__all__ = ["check_after_last_hdu", "check_size_cards", "check_wcs_cards", "looks_like_extension_header"]

#: Pixel types of the FITS standard (table 8).
BITPIX_VALUES = (8, 16, 32, 64, -32, -64)
#: The FITS standard limits NAXIS to 999.
MAX_NAXIS = 999
#: WCS cards that must hold numbers (FITS WCS papers I and II, plus the AIPS CROTAn).
_NUMERIC_WCS = re.compile(
    r"^(CRVAL\d+|CRPIX\d+|CDELT\d+|CROTA\d+|PC\d+_\d+|CD\d+_\d+|PV\d+_\d+|LONPOLE|LATPOLE|EQUINOX)[A-Z]?$"
)
#: WCS cards that must hold strings.
_STRING_WCS = re.compile(r"^(CTYPE\d+|CUNIT\d+|RADESYS)[A-Z]?$")
#: gammapy's ``WCSSHAPE`` card: a tuple of pixel counts, e.g. ``'(200,100,4)'``.
_WCSSHAPE = re.compile(r"^\(\s*\d+(\s*,\s*\d+)*\s*,?\s*\)$")
#: The start of a keyword card: an 8-column keyword, then the value indicator "= ".
_KEYWORD_CARD = re.compile(rb"^[A-Z][A-Z0-9_-]{0,7} *= ")


def _is_int(value) -> bool:
    # FITS logical values come back as bool, which Python counts as int.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _card_text(header: fits.Header, key: str) -> str:
    return str(header.cards[key].image).rstrip()


def check_size_cards(header: fits.Header, index: int, url: str) -> None:
    """Check the cards that fix an HDU's data size: ``BITPIX``, ``NAXIS``, ``NAXISn``,
    ``PCOUNT`` and ``GCOUNT``.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`
        A header as parsed by the HDU scan.
    index : int
        HDU number in the file (for messages).
    url : str
        The file (for messages).

    Raises
    ------
    CorruptFileError
        A card is missing, not an integer or out of the range the FITS standard allows.
    """
    where = f"{url!r}, HDU #{index}"
    for key in ("BITPIX", "NAXIS"):
        if key not in header:
            raise CorruptFileError(f"{where}: the mandatory {key} card is missing")
    bitpix = header["BITPIX"]
    if not _is_int(bitpix) or bitpix not in BITPIX_VALUES:
        raise CorruptFileError(
            f"{where}: BITPIX = {bitpix!r} is not a FITS pixel type (expected one of {list(BITPIX_VALUES)}); "
            f"card: {_card_text(header, 'BITPIX')!r}"
        )
    naxis = header["NAXIS"]
    if not _is_int(naxis) or not 0 <= naxis <= MAX_NAXIS:
        raise CorruptFileError(
            f"{where}: NAXIS = {naxis!r} is not a number of axes (expected an integer 0-{MAX_NAXIS}); "
            f"card: {_card_text(header, 'NAXIS')!r}"
        )
    for i in range(1, naxis + 1):
        key = f"NAXIS{i}"
        if key not in header:
            raise CorruptFileError(f"{where}: NAXIS = {naxis} but the {key} card is missing")
        if not _is_int(header[key]) or header[key] < 0:
            raise CorruptFileError(
                f"{where}: {key} = {header[key]!r} is not an axis length (expected an integer >= 0); "
                f"card: {_card_text(header, key)!r}"
            )
    for key, minimum in (("PCOUNT", 0), ("GCOUNT", 1)):
        if key in header and (not _is_int(header[key]) or header[key] < minimum):
            raise CorruptFileError(
                f"{where}: {key} = {header[key]!r} is invalid (expected an integer >= {minimum}); "
                f"card: {_card_text(header, key)!r}"
            )


def check_wcs_cards(header: fits.Header, where: str) -> None:
    """Check the types of the WCS cards of a map header before astropy reads them.

    ``astropy.wcs.WCS`` replaces a WCS card holding a string by its default (``CRVAL1 = 0``...)
    with only a warning; this makes it an error.  ``WCSSHAPE`` (gammapy's pixel shape card) is
    checked too, since it is parsed as a Python literal.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`
        Header of a map HDU.
    where : str
        The file and HDU (for messages).

    Raises
    ------
    CorruptFileError
        A numeric WCS card holds something else than a number, a string card something else
        than a string, or ``WCSSHAPE`` is not a tuple of integers.
    """
    for card in header.cards:
        key, value = card.keyword, card.value
        if _NUMERIC_WCS.match(key) and not _is_number(value):
            # astropy reads a card that lost its "= " as commentary text: say so.
            damaged = "" if str(card.image)[8:10] == "= " else " (the card has no '= ' value indicator)"
            raise CorruptFileError(
                f"{where}: the WCS card {key} must hold a number, got {value!r}{damaged} "
                f"(card: {str(card.image).rstrip()!r})"
            )
        if _STRING_WCS.match(key) and not isinstance(value, str):
            raise CorruptFileError(
                f"{where}: the WCS card {key} must hold a string, got {value!r} "
                f"(card: {str(card.image).rstrip()!r})"
            )
    shape = header.get("WCSSHAPE")
    if shape is not None and not (isinstance(shape, str) and _WCSSHAPE.match(shape.strip())):
        raise CorruptFileError(
            f"{where}: WCSSHAPE = {shape!r} is not a tuple of pixel counts such as '(200,100,4)'"
        )


def looks_like_extension_header(block: bytes) -> bool:
    """Whether a 2880-byte block found after the last HDU is a damaged extension header.

    The FITS standard lets a file end with padding or "special records" that do not start with
    ``XTENSION``, and astropy ignores them; but a header whose ``XTENSION`` card lost a byte
    would then silently drop every HDU after it.  A block is taken for a damaged header when
    its first eight bytes differ from ``XTENSION`` by at most two bytes, or when its first card
    has the ``= `` value indicator of a keyword card in columns 9-10.
    """
    if len(block) < 10:
        return False
    near_xtension = sum(a != b for a, b in zip(block[:8], b"XTENSION", strict=True)) <= 2
    return near_xtension or _KEYWORD_CARD.match(block[:10]) is not None


def check_after_last_hdu(block: bytes, offset: int, last_index: int, url: str) -> None:
    """Refuse a damaged extension header where the HDU scan would see the end of the file.

    Parameters
    ----------
    block : bytes
        The bytes (up to one block) after HDU ``last_index``, which do not start with
        ``XTENSION``.
    offset : int
        Where they start in the file (for messages).
    last_index : int
        Number of the HDU they follow.
    url : str
        The file (for messages).

    Raises
    ------
    CorruptFileError
        The bytes look like an extension header whose ``XTENSION`` card is damaged.
    """
    if looks_like_extension_header(block):
        raise CorruptFileError(
            f"{url!r}: the header of HDU #{last_index + 1} at byte {offset} does not start with an "
            f"XTENSION card (found {block[:20].decode('ascii', 'replace')!r}): the file is corrupt "
            f"(every HDU from #{last_index + 1} on would be lost)"
        )
