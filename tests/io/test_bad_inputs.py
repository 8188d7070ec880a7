"""Every bad input is a named error: a subclass of ``MapdsError`` whose message names the file,
key or argument at fault, never a dependency's traceback, a hang or a wrong answer.

The cases are one table.  Each row builds a bad input (real files in ``tmp_path``: good files
written once by mapds, then damaged byte by byte or key by key), makes the call, and names the
exception class expected and a regex its message must match.  Rows are grouped by where the
input enters: FITS files, YAML files, zarr stores, arguments, write destinations.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import resource
import shutil
import signal
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from mapds.datasets import Datasets, MapDataset
from mapds.errors import (
    AxisError,
    CorruptFileError,
    GeometryError,
    InvalidArgumentError,
    MapdsError,
    MissingFileError,
    MissingHDUError,
    ModelError,
    ParameterError,
    StorageError,
    UnitMismatchError,
    UnknownModelTypeError,
)
from mapds.geom import MapAxis, WcsGeom
from mapds.io import FitsFile
from mapds.maps import Map
from mapds.modeling.models import Models

BLOCK = 2880
CARD = 80
CENTRE = SkyCoord(0.0, 0.0, unit="deg", frame="galactic")


@dataclass(frozen=True)
class Case:
    """One bad input: ``build(tmp_path, good)`` makes it, ``call(bad)`` must raise ``error``
    with a message matching ``match``."""

    id: str
    build: Callable[[Path, SimpleNamespace], object]
    call: Callable[[object], object]
    error: type[MapdsError]
    match: str


# -- good files, written once ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> SimpleNamespace:
    """Good files written by mapds: a map in FITS and zarr, a dataset in FITS and zarr, a
    datasets YAML file with its dataset file, and a models YAML text."""
    root = tmp_path_factory.mktemp("good")
    axis = MapAxis.from_energy_bounds("1 TeV", "10 TeV", 3)
    m = Map.create(npix=(20, 10), binsz=0.1, frame="galactic", axes=[axis], unit="cm-2")
    m.data = np.arange(600, dtype="f4").reshape(3, 10, 20)
    m.write(root / "map.fits", hdu="COUNTS")
    m.write(root / "map.zarr")
    # Counts and exposure only: a dataset with IRF maps takes seconds to create and write.
    exposure = Map.from_geom(m.geom.as_energy_true, unit="m2 s")
    dataset = MapDataset(counts=m, exposure=exposure, name="d1")
    dataset.write(root / "dataset.zarr")
    (root / "yaml").mkdir()
    Datasets([dataset]).write(root / "yaml" / "datasets.yaml")
    models = (
        "components:\n"
        "-   name: src\n"
        "    type: SkyModel\n"
        "    spectral:\n"
        "        type: PowerLawSpectralModel\n"
        "        parameters:\n"
        "        -   name: index\n"
        "            value: 2.0\n"
        "        -   name: amplitude\n"
        "            value: 1.0e-12\n"
        "            unit: TeV-1 s-1 cm-2\n"
        "        -   name: reference\n"
        "            value: 1.0\n"
        "            unit: TeV\n"
        "    spatial:\n"
        "        type: PointSpatialModel\n"
        "        frame: galactic\n"
        "        parameters:\n"
        "        -   name: lon_0\n"
        "            value: 1.0\n"
        "            unit: deg\n"
        "        -   name: lat_0\n"
        "            value: 0.0\n"
        "            unit: deg\n"
    )
    Models.from_yaml(models)  # the good text is good
    return SimpleNamespace(
        map=m,
        dataset=dataset,
        fits=(root / "map.fits").read_bytes(),
        dataset_fits=(root / "yaml" / "d1.fits").read_bytes(),
        zarr=root / "map.zarr",
        dataset_zarr=root / "dataset.zarr",
        datasets_yaml=(root / "yaml" / "datasets.yaml").read_text(),
        models_yaml=models,
    )


# -- damaging FITS bytes ---------------------------------------------------------------------------


def _header_starts(raw: bytes) -> list[int]:
    """Offsets of the HDU headers of an undamaged FITS file (block starts with SIMPLE/XTENSION)."""
    return [i for i in range(0, len(raw), BLOCK) if raw[i : i + 8] in (b"SIMPLE  ", b"XTENSION")]


def _card_offset(raw: bytes, key: str, hdu: int) -> int:
    start = _header_starts(raw)[hdu]
    keyword = key.encode().ljust(8)
    for offset in range(start, len(raw), CARD):
        if raw[offset : offset + 8] == keyword:
            return offset
    raise KeyError(key)


def set_card(raw: bytes, key: str, value: str, hdu: int = 1) -> bytes:
    """``raw`` with the card ``key`` of HDU ``hdu`` rewritten as ``KEY = value``."""
    offset = _card_offset(raw, key, hdu)
    card = (key.ljust(8) + "= " + value.rjust(20)).ljust(CARD).encode()
    return raw[:offset] + card + raw[offset + CARD :]


def blank_card(raw: bytes, key: str, hdu: int = 1) -> bytes:
    offset = _card_offset(raw, key, hdu)
    return raw[:offset] + b" " * CARD + raw[offset + CARD :]


def set_byte(raw: bytes, offset: int, value: int) -> bytes:
    return raw[:offset] + bytes([value]) + raw[offset + 1 :]


def drop_end(raw: bytes, hdu: int) -> bytes:
    """``raw`` with the END card of HDU ``hdu`` blanked."""
    offset = _card_offset(raw, "END", hdu)
    return raw[:offset] + b" " * 3 + raw[offset + 3 :]


def fits_file(transform: Callable[[bytes], bytes], source: str = "fits"):
    """A builder writing ``transform(good FITS bytes)`` to ``bad.fits``."""

    def build(tmp: Path, good: SimpleNamespace) -> Path:
        path = tmp / "bad.fits"
        path.write_bytes(transform(getattr(good, source)))
        return path

    return build


def good_fits(tmp: Path, good: SimpleNamespace) -> Path:
    path = tmp / "good.fits"
    path.write_bytes(good.fits)
    return path


def read_map(path):
    return Map.read(path, hdu="COUNTS")


def fits_case(id, transform, match, error=CorruptFileError, call=read_map, source="fits") -> Case:
    return Case(id, fits_file(transform, source), call, error, match)


def gzip_file(damage_fits: Callable[[bytes], bytes] = bytes, damage_gzip: Callable[[bytes], bytes] = bytes):
    """A builder writing the good FITS bytes, damaged, gzip-compressed, then damaged again."""

    def build(tmp: Path, good: SimpleNamespace) -> Path:
        path = tmp / "bad.fits.gz"
        path.write_bytes(damage_gzip(gzip.compress(damage_fits(good.fits))))
        return path

    return build


def read_gzip(path: Path):
    return Map.read(path, cache_dir=path.parent / "cache")


def directory(tmp: Path, good: SimpleNamespace) -> Path:
    path = tmp / "dir.fits"
    path.mkdir()
    return path


def _flip_xtension(raw: bytes, hdu: int) -> bytes:
    return set_byte(raw, _header_starts(raw)[hdu] + 1, ord("Y"))


def set_band(raw: bytes, row: int, column: int, value: float) -> bytes:
    """``raw`` with one float64 cell of the BANDS table (CHANNEL, ENERGY, E_MIN, E_MAX) set."""
    offset = _header_starts(raw)[2] + BLOCK + 32 * row + 8 * column
    return raw[:offset] + struct.pack(">d", value) + raw[offset + 8 :]


FITS_CASES = [
    # Cards with a wrong type: astropy.wcs would fall back to defaults (a silently wrong centre).
    fits_case(
        "fits-crval1-string", lambda r: set_card(r, "CRVAL1", "'abc'"), r"bad\.fits.*COUNTS.*CRVAL1.*number"
    ),
    fits_case(
        "fits-cdelt2-numeric-string", lambda r: set_card(r, "CDELT2", "'0.1'"), r"bad\.fits.*CDELT2.*'0\.1'"
    ),
    fits_case("fits-crpix1-logical", lambda r: set_card(r, "CRPIX1", "T"), r"bad\.fits.*CRPIX1.*got True"),
    fits_case(
        "fits-crval1-lost-equals",
        lambda r: set_byte(r, _card_offset(r, "CRVAL1", 1) + 8, ord(" ")),
        r"bad\.fits.*CRVAL1.*no '= ' value indicator",
    ),
    fits_case("fits-ctype1-number", lambda r: set_card(r, "CTYPE1", "5"), r"bad\.fits.*CTYPE1.*string"),
    fits_case(
        "fits-wcsshape-code", lambda r: set_card(r, "WCSSHAPE", "'__import__(1)'"), r"bad\.fits.*WCSSHAPE"
    ),
    # Size cards that cannot be: named as such, not as a missing HDU.
    fits_case(
        "fits-bitpix-17", lambda r: set_card(r, "BITPIX", "17", hdu=0), r"bad\.fits.*HDU #0.*BITPIX = 17"
    ),
    fits_case(
        "fits-bitpix-string", lambda r: set_card(r, "BITPIX", "'x'", hdu=1), r"bad\.fits.*HDU #1.*BITPIX"
    ),
    fits_case("fits-naxis-negative", lambda r: set_card(r, "NAXIS", "-1", hdu=0), r"bad\.fits.*NAXIS = -1"),
    fits_case(
        "fits-naxis-1000", lambda r: set_card(r, "NAXIS", "1000", hdu=1), r"bad\.fits.*NAXIS = 1000.*0-999"
    ),
    fits_case(
        "fits-naxis1-negative", lambda r: set_card(r, "NAXIS1", "-20"), r"bad\.fits.*HDU #1.*NAXIS1 = -20"
    ),
    fits_case("fits-naxis2-float", lambda r: set_card(r, "NAXIS2", "10.5"), r"bad\.fits.*NAXIS2 = 10\.5"),
    fits_case("fits-naxis3-missing", lambda r: blank_card(r, "NAXIS3"), r"bad\.fits.*NAXIS3 card is missing"),
    fits_case("fits-gcount-zero", lambda r: set_card(r, "GCOUNT", "0", hdu=2), r"bad\.fits.*HDU #2.*GCOUNT"),
    fits_case(
        "fits-pcount-negative", lambda r: set_card(r, "PCOUNT", "-8", hdu=2), r"bad\.fits.*HDU #2.*PCOUNT"
    ),
    fits_case(
        "fits-naxis1-huge",
        lambda r: set_card(r, "NAXIS1", "2000000000"),
        r"bad\.fits.*COUNTS.*claims \d+ bytes",
    ),
    # One flipped byte in an XTENSION card: astropy (and the scan) took the rest for padding.
    fits_case("fits-xtension-flipped", lambda r: _flip_xtension(r, 1), r"bad\.fits.*HDU #1 .*XTENSION"),
    fits_case("fits-xtension-flipped-last", lambda r: _flip_xtension(r, 2), r"bad\.fits.*HDU #2 .*XTENSION"),
    fits_case(
        "fits-xtension-flipped-dataset",
        lambda r: _flip_xtension(r, 3),
        r"bad\.fits.*HDU #3 .*XTENSION",
        call=MapDataset.read,
        source="dataset_fits",
    ),
    # Damaged cards and headers.
    fits_case(
        "fits-non-ascii-card",
        lambda r: set_byte(r, _card_offset(r, "CRVAL1", 1) + 40, 0xE9),
        r"bad\.fits.*HDU #1.*non-ASCII byte 0xe9 in card 'CRVAL1",
    ),
    fits_case("fits-no-end-primary", lambda r: drop_end(r, 0), r"bad\.fits.*HDU #0 has no END card"),
    fits_case("fits-no-end-image", lambda r: drop_end(r, 1), r"bad\.fits.*HDU #1.*missing END card"),
    fits_case("fits-no-end-last", lambda r: drop_end(r, 2), r"bad\.fits.*HDU #2"),
    fits_case(
        "fits-no-end-then-zeros",
        lambda r: drop_end(r, 0)[:BLOCK] + bytes(1001 * BLOCK),
        r"bad\.fits.*HDU #0 has no END card in its first \d+ bytes",
    ),
    # Truncated at every structural boundary (and between HDUs, where a card names what is gone).
    fits_case(
        "fits-truncated-in-primary-header", lambda r: r[:100], r"bad\.fits.*inside the header of HDU #0"
    ),
    fits_case(
        "fits-truncated-at-image-header", lambda r: r[:BLOCK], r"bad\.fits.*no HDU 'COUNTS'", MissingHDUError
    ),
    fits_case(
        "fits-truncated-in-image-header",
        lambda r: r[: BLOCK + 1000],
        r"bad\.fits.*inside the header of HDU #1",
    ),
    fits_case("fits-truncated-at-image-data", lambda r: r[: 2 * BLOCK], r"bad\.fits.*COUNTS.*ends after 0"),
    fits_case(
        "fits-truncated-in-image-data", lambda r: r[: 2 * BLOCK + 100], r"bad\.fits.*COUNTS.*ends after 100"
    ),
    fits_case(
        "fits-truncated-at-bands", lambda r: r[: 3 * BLOCK], r"bad\.fits.*'COUNTS_BANDS'", MissingHDUError
    ),
    fits_case(
        "fits-truncated-in-bands-header", lambda r: r[: 3 * BLOCK + 500], r"bad\.fits.*header of HDU #2"
    ),
    fits_case(
        "fits-truncated-in-bands-data",
        lambda r: r[: 4 * BLOCK + 50],
        r"bad\.fits.*COUNTS_BANDS.*ends after 50",
    ),
    fits_case("fits-empty-file", lambda r: b"", r"bad\.fits.*inside the header of HDU #0"),
    fits_case("fits-text-file", lambda r: b"hello world\n" * 300, r"bad\.fits.* is not a FITS file"),
    fits_case(
        "fits-png-file", lambda r: b"\x89PNG\r\n\x1a\n" + bytes(4000), r"bad\.fits.* is not a FITS file"
    ),
    # Tables and cards around the image.
    fits_case(
        "fits-bands-gap",
        lambda r: set_band(r, 1, 2, 3.0),
        r"COUNTS_BANDS.*E_MIN'/'E_MAX' are not contiguous",
        AxisError,
    ),
    fits_case(
        "fits-bands-not-increasing",
        lambda r: set_band(r, 1, 2, 50.0),
        r"COUNTS_BANDS.*'E_MIN' is not monotonic",
        AxisError,
    ),
    fits_case(
        "fits-bands-bad-tform",
        lambda r: set_card(r, "TFORM2", "'Q'", hdu=2),
        r"COUNTS_BANDS.*cannot be decoded.*Q",
    ),
    fits_case(
        "fits-bands-bad-interp",
        lambda r: set_card(r, "INTERP1", "'cubic'", hdu=2),
        r"COUNTS_BANDS.*'cubic'",
        AxisError,
    ),
    fits_case(
        "fits-bandshdu-missing",
        lambda r: set_card(r, "BANDSHDU", "'NOPE'"),
        r"bad\.fits.*no HDU 'NOPE'",
        MissingHDUError,
    ),
    fits_case(
        "fits-meta-not-json", lambda r: set_card(r, "META", "'{bad'"), r"bad\.fits.*COUNTS.*META = '\{bad'"
    ),
    fits_case(
        "fits-bunit-unknown",
        lambda r: set_card(r, "BUNIT", "'furlong'"),
        r"bad\.fits.*BUNIT = 'furlong'",
        UnitMismatchError,
    ),
    Case(
        "fits-hdu-unknown",
        good_fits,
        lambda p: Map.read(p, hdu="NOPE"),
        MissingHDUError,
        r"good\.fits.*no HDU 'NOPE'",
    ),
    Case(
        "fits-map-type-unknown",
        good_fits,
        lambda p: Map.read(p, map_type="hpx"),
        InvalidArgumentError,
        r"map_type 'hpx'",
    ),
    fits_case(
        "fits-header-only-open", lambda r: _flip_xtension(r, 1), r"bad\.fits.*XTENSION", call=FitsFile.open
    ),
    Case(
        "fits-directory",
        directory,
        Map.read,
        CorruptFileError,
        r"dir\.fits.* is a directory",
    ),
    Case(
        "fits-gzip-xtension-flipped",
        gzip_file(damage_fits=lambda r: _flip_xtension(r, 1)),
        read_gzip,
        CorruptFileError,
        r"bad\.fits\.gz.*HDU #1 .*XTENSION",
    ),
    Case(
        "fits-gzip-truncated",
        gzip_file(damage_gzip=lambda z: z[: len(z) // 2]),
        read_gzip,
        CorruptFileError,
        r"bad\.fits\.gz.*(truncated|ends)",
    ),
]


# -- YAML ------------------------------------------------------------------------------------------

#: The "billion laughs": under 400 bytes standing for 9**9 (387 million) strings.
ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def yaml_file(name: str, text: str | bytes | Callable[[SimpleNamespace], str]):
    def build(tmp: Path, good: SimpleNamespace) -> Path:
        content = text(good) if callable(text) else text
        path = tmp / "yaml" / name
        path.parent.mkdir(exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        (tmp / "yaml" / "d1.fits").write_bytes(good.dataset_fits)
        return path

    return build


def models_case(id, text, match, error=ModelError) -> Case:
    return Case(id, yaml_file("models.yaml", text), Models.read, error, match)


def read_datasets(path):
    return Datasets.read(path, checksum=False)


def datasets_case(id, text, match, error=CorruptFileError) -> Case:
    return Case(id, yaml_file("datasets.yaml", text), read_datasets, error, match)


def edit_models(old: str, new: str) -> Callable[[SimpleNamespace], str]:
    def text(good: SimpleNamespace) -> str:
        assert old in good.models_yaml, old
        return good.models_yaml.replace(old, new, 1)

    return text


def _one_spectral(body: str) -> str:
    return f"components:\n-   name: s\n    type: SkyModel\n    spectral:\n{body}"


def _dataset_entry(entry: str) -> str:
    return f"datasets:\n{entry}"


YAML_CASES = [
    models_case("models-alias-bomb", ALIAS_BOMB + "components: *i\n", r"models\.yaml.*alias"),
    datasets_case("datasets-alias-bomb", ALIAS_BOMB + "datasets: *i\n", r"datasets\.yaml.*alias", ModelError),
    models_case("models-recursive-alias", "components: &a [*a]\n", r"models\.yaml.*recursive"),
    models_case(
        "models-deeply-nested",
        "components: " + "[" * 150 + "]" * 150 + "\n",
        r"models\.yaml.*nested more than",
    ),
    models_case(
        "models-latin1", "components: []\n# caf\xe9\n".encode("latin-1"), r"models\.yaml.*UTF-8.*0xe9"
    ),
    datasets_case("datasets-binary", bytes(range(256)), r"datasets\.yaml.*UTF-8.*0x80", ModelError),
    models_case(
        "models-python-tag", "components: !!python/object/apply:os.system ['true']\n", r"models\.yaml.*python"
    ),
    datasets_case(
        "datasets-python-tag", "datasets: !!python/name:os.system\n", r"datasets\.yaml.*python", ModelError
    ),
    models_case("models-unknown-tag", "components: !foo [1]\n", r"models\.yaml.*!foo"),
    models_case("models-top-level-list", "- a\n- b\n", r"models\.yaml.*mapping at the top level"),
    models_case("models-components-dict", "components: {a: 1}\n", r"models\.yaml: .*'components' list"),
    models_case(
        "models-component-list", "components:\n- [1, 2]\n", r"models\.yaml: components\[0\].*mapping"
    ),
    models_case(
        "models-no-type",
        edit_models("    type: SkyModel\n", ""),
        r"models\.yaml: components\[0\].*type None",
        UnknownModelTypeError,
    ),
    models_case(
        "models-spectral-no-type",
        edit_models("        type: PowerLawSpectralModel\n", ""),
        r"models\.yaml: components\[0\].*spectral model type None",
        UnknownModelTypeError,
    ),
    models_case(
        "models-unknown-spectral-type",
        edit_models("PowerLawSpectralModel", "PowerLawSpectraModel"),
        r"models\.yaml: components\[0\].*'PowerLawSpectraModel'",
        UnknownModelTypeError,
    ),
    models_case(
        "models-no-parameters",
        _one_spectral("        type: PowerLawSpectralModel\n"),
        r"models\.yaml: components\[0\].*PowerLawSpectralModel.*no 'parameters'",
        ParameterError,
    ),
    models_case(
        "models-parameters-dict",
        _one_spectral("        type: PowerLawSpectralModel\n        parameters: {name: index, value: 2}\n"),
        r"models\.yaml: .*PowerLawSpectralModel: 'parameters' must be a list",
        ParameterError,
    ),
    models_case(
        "models-parameter-no-name",
        _one_spectral("        type: PowerLawSpectralModel\n        parameters:\n        -   value: 2\n"),
        r"models\.yaml: .*PowerLawSpectralModel: parameter entry .* no 'name'",
        ParameterError,
    ),
    models_case(
        "models-unknown-parameter",
        edit_models("name: index", "name: indx"),
        r"models\.yaml: .*PowerLawSpectralModel: unknown parameter 'indx'",
        ParameterError,
    ),
    models_case(
        "models-value-string",
        edit_models("value: 2.0", "value: two"),
        r"models\.yaml: .*parameter 'index'.*'two'",
        ParameterError,
    ),
    models_case(
        "models-value-list",
        edit_models("value: 2.0", "value: [1, 2]"),
        r"models\.yaml: .*parameter 'index'.*\[1, 2\]",
        ParameterError,
    ),
    models_case(
        "models-frozen-string",
        edit_models("value: 2.0\n", "value: 2.0\n            frozen: maybe\n"),
        r"models\.yaml: .*'index'.*frozen.*'maybe'",
        ParameterError,
    ),
    models_case(
        "models-unit-unknown",
        edit_models("unit: TeV\n", "unit: furlong\n"),
        r"models\.yaml: .*parameter 'reference'.*furlong",
        ParameterError,
    ),
    models_case(
        "models-spectral-list",
        edit_models("    spectral:\n", "    spectral: [1]\n    x:\n"),
        r"models\.yaml: components\[0\].*'spectral'",
    ),
    models_case(
        "models-unknown-frame",
        edit_models("frame: galactic", "frame: galactik"),
        r"models\.yaml: components\[0\].*PointSpatialModel: unknown sky frame 'galactik'",
    ),
    models_case(
        "models-frame-number",
        edit_models("frame: galactic", "frame: 3"),
        r"models\.yaml: .*PointSpatialModel.*frame 3",
    ),
    models_case(
        "models-name-list",
        edit_models("name: src", "name: [a, b]"),
        r"models\.yaml: components\[0\].*'name' must be",
    ),
    models_case(
        "models-datasets-names-number",
        edit_models("    type: SkyModel\n", "    type: SkyModel\n    datasets_names: 3\n"),
        r"models\.yaml: components\[0\].*'datasets_names'",
    ),
    models_case(
        "models-missing-template",
        _one_spectral(
            "        type: ConstantSpectralModel\n        parameters: []\n    spatial:\n"
            "        type: TemplateSpatialModel\n        frame: icrs\n        filename: nope.fits\n"
        ),
        r"models\.yaml: components\[0\].*nope\.fits",
        MissingFileError,
    ),
    datasets_case(
        "datasets-entry-no-filename",
        _dataset_entry("- {name: d1, type: MapDataset}\n"),
        r"datasets\.yaml: datasets\[0\]: 'filename' is missing",
    ),
    datasets_case(
        "datasets-entry-no-type",
        _dataset_entry("- {name: d1, filename: d1.fits}\n"),
        r"datasets\.yaml: datasets\[0\]: unknown dataset type None",
    ),
    datasets_case(
        "datasets-entry-no-name",
        _dataset_entry("- {type: MapDataset, filename: d1.fits}\n"),
        r"datasets\.yaml: datasets\[0\]: 'name' is missing",
    ),
    datasets_case(
        "datasets-entry-list",
        _dataset_entry("- [d1, MapDataset]\n"),
        r"datasets\.yaml: datasets\[0\] must be a mapping",
    ),
    datasets_case(
        "datasets-filename-number",
        _dataset_entry("- {name: d1, type: MapDataset, filename: 3}\n"),
        r"datasets\.yaml: datasets\[0\]: 'filename' must be a non-empty string, not 3",
    ),
    datasets_case(
        "datasets-not-a-list",
        "datasets: {name: d1}\n",
        r"datasets\.yaml.*'datasets' list",
        InvalidArgumentError,
    ),
    datasets_case(
        "datasets-missing-data-file",
        _dataset_entry("- {name: d1, type: MapDataset, filename: nope.fits}\n"),
        r"nope\.fits",
        MissingFileError,
    ),
]


# -- zarr ------------------------------------------------------------------------------------------


def plain_copy(source: Path, target: Path) -> Path:
    """A copy of a mapds store as a plain zarr store (no mapds manifest), as xarray or an older
    mapds writes them, so that the checks of the zarr metadata itself are reached."""
    shutil.copytree(source, target)
    for manifest in target.glob("mapds-manifest*"):
        shutil.rmtree(manifest) if manifest.is_dir() else manifest.unlink()
    root = json.loads((target / "zarr.json").read_text())
    root.get("attributes", {}).pop("mapds_manifest", None)
    (target / "zarr.json").write_text(json.dumps(root))
    return target


def _edit_json(path: Path, edit: Callable[[dict], object]) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def zarr_store(damage: Callable[[Path], object], source: str = "zarr"):
    def build(tmp: Path, good: SimpleNamespace) -> Path:
        store = plain_copy(getattr(good, source), tmp / "bad.zarr")
        damage(store)
        return store

    return build


def zarr_case(id, damage, match, call=Map.read, source="zarr") -> Case:
    return Case(id, zarr_store(damage, source), call, CorruptFileError, match)


def _write(name: str, text: str) -> Callable[[Path], object]:
    return lambda store: (store / name).write_text(text)


def _set_key(name: str, key: str, value) -> Callable[[Path], object]:
    return lambda store: _edit_json(store / name, lambda d: d.__setitem__(key, value))


def _set_group_listing(listing) -> Callable[[Path], object]:
    return lambda store: _edit_json(
        store / "zarr.json", lambda d: d["attributes"].__setitem__("mapds", listing)
    )


def _remove(name: str) -> Callable[[Path], object]:
    return lambda store: shutil.rmtree(store / name)


ZARR_CASES = [
    zarr_case(
        "zarr-root-not-json", _write("zarr.json", "{garbage"), r"bad\.zarr.*zarr\.json.*JSONDecodeError"
    ),
    zarr_case("zarr-array-not-json", _write("data/zarr.json", "not json"), r"bad\.zarr.*zarr\.json"),
    zarr_case("zarr-array-json-list", _write("data/zarr.json", "[1, 2]"), r"bad\.zarr.*zarr\.json"),
    zarr_case(
        "zarr-array-shape-string", _set_key("data/zarr.json", "shape", "abc"), r"bad\.zarr.*zarr\.json"
    ),
    zarr_case(
        "zarr-array-shape-mismatch", _set_key("data/zarr.json", "shape", [3, 10, 21]), r"bad\.zarr.*'x'"
    ),
    zarr_case(
        "zarr-array-unknown-dtype", _set_key("data/zarr.json", "data_type", "float99"), r"bad\.zarr.*float99"
    ),
    zarr_case("zarr-missing-x", _remove("x"), r"bad\.zarr.*'data' lacks its coordinate array\(s\) \['x'\]"),
    zarr_case("zarr-missing-energy-edges", _remove("energy_min"), r"bad\.zarr.*\['energy_min'\]"),
    zarr_case("zarr-missing-energy", _remove("energy"), r"bad\.zarr.*\['energy'\]"),
    zarr_case("zarr-missing-spatial-ref", _remove("spatial_ref"), r"bad\.zarr.*\['spatial_ref'\]"),
    zarr_case(
        "zarr-group-root-not-json",
        _write("zarr.json", "{bad"),
        r"bad\.zarr.*zarr\.json",
        MapDataset.read,
        "dataset_zarr",
    ),
    zarr_case(
        "zarr-group-listing-not-list",
        _set_group_listing({"maps": 3, "tables": []}),
        r"bad\.zarr.*'maps'.*got 3",
        MapDataset.read,
        "dataset_zarr",
    ),
    zarr_case(
        "zarr-group-listing-missing-key",
        _set_group_listing({}),
        r"bad\.zarr.*'maps'",
        MapDataset.read,
        "dataset_zarr",
    ),
    Case(
        "zarr-group-missing-subgroup",
        zarr_store(_remove("exposure"), "dataset_zarr"),
        MapDataset.read,
        MissingHDUError,
        r"group 'exposure'.*bad\.zarr",
    ),
    zarr_case(
        "zarr-group-counts-missing-x",
        _remove("counts/x"),
        r"bad\.zarr.*'counts' lacks its coordinate array\(s\) \['x'\]",
        MapDataset.read,
        "dataset_zarr",
    ),
]


# -- arguments -------------------------------------------------------------------------------------


def good_map(tmp: Path, good: SimpleNamespace) -> Map:
    return good.map


def nothing(tmp: Path, good: SimpleNamespace) -> None:
    return None


def chunks_case(id, chunks, match, build=good_map, call=None) -> Case:
    call = call or (lambda m: m.rechunk(chunks))
    return Case(id, build, call, InvalidArgumentError, match)


def cutout_case(id, width, match, error=GeometryError) -> Case:
    return Case(id, good_map, lambda m: m.cutout(CENTRE, width), error, match)


def dataset_case(id, call, error, match) -> Case:
    return Case(id, lambda tmp, good: good.dataset, call, error, match)


def geom_case(id, match, error=GeometryError, **kwargs) -> Case:
    arguments = {"npix": 10, "binsz": 0.1, **kwargs}
    if "width" in kwargs:
        arguments.pop("npix")
    return Case(id, nothing, lambda _: WcsGeom.create(**arguments), error, match)


def axis_case(id, make, match, error=AxisError) -> Case:
    return Case(id, nothing, lambda _: make(), error, match)


ARGUMENT_CASES = [
    chunks_case("chunks-zero", 0, r"chunks=0.*positive"),
    chunks_case("chunks-negative-dim", {"x": -3}, r"dimension 'x'.*positive.*-3"),
    chunks_case("chunks-zero-dim", {"energy": 0}, r"dimension 'energy'.*got 0"),
    chunks_case("chunks-nonsense-string", "abc", r"chunks='abc'.*\('energy', 'y', 'x'\)"),
    chunks_case("chunks-unknown-dim", {"lon": 3}, r"unknown dimensions \['lon'\]"),
    chunks_case("chunks-float", 2.5, r"chunks=2\.5"),
    chunks_case("chunks-bool", True, r"chunks=True"),
    chunks_case("chunks-wrong-length", (1, 2), r"chunks=\(1, 2\).*shape \(3, 10, 20\)"),
    chunks_case("chunks-map-create", 0, r"chunks=0", nothing, lambda _: Map.create(npix=5, chunks=0)),
    chunks_case(
        "chunks-map-read", {"y": 0}, r"dimension 'y'", good_fits, lambda p: Map.read(p, chunks={"y": 0})
    ),
    cutout_case("cutout-zero-width", 0 * u.deg, r"width must be positive"),
    cutout_case("cutout-negative-width", -0.5 * u.deg, r"width must be positive.*-0\.5"),
    cutout_case("cutout-negative-height", (0.5 * u.deg, -1 * u.deg), r"width must be positive.*-1\.0"),
    cutout_case("cutout-nan-width", np.nan * u.deg, r"width must be positive and finite"),
    cutout_case("cutout-width-not-angle", 1 * u.s, r"width=.*not an angle"),
    dataset_case(
        "cutout-dataset-zero-width",
        lambda d: d.cutout(CENTRE, 0 * u.deg),
        GeometryError,
        r"width must be positive",
    ),
    dataset_case(
        "slice-by-energy-min-above-max",
        lambda d: d.slice_by_energy(5 * u.TeV, 2 * u.TeV),
        InvalidArgumentError,
        r"energy_min=5\.0 TeV must be below energy_max=2\.0 TeV",
    ),
    dataset_case(
        "slice-by-energy-outside-axis",
        lambda d: d.slice_by_energy(50 * u.TeV, 100 * u.TeV),
        AxisError,
        r"axis 'energy'.*\[ 50\. 100\.\] TeV",
    ),
    dataset_case(
        "slice-by-energy-not-energy",
        lambda d: d.slice_by_energy(1 * u.m, 2 * u.m),
        UnitMismatchError,
        r"energy_min=.*not an energy",
    ),
    geom_case("geom-npix-zero", r"npix must be positive, got 0", npix=0),
    geom_case("geom-npix-negative", r"npix must be positive, got -5", npix=-5),
    geom_case("geom-npix-pair-zero", r"npix must be positive, got \(10, 0\)", npix=(10, 0)),
    geom_case("geom-npix-string", r"npix='abc'", npix="abc"),
    geom_case("geom-binsz-zero", r"binsz must be positive", binsz=0),
    geom_case("geom-binsz-negative", r"binsz must be positive.*-0\.1", binsz=-0.1),
    geom_case("geom-binsz-nan", r"binsz must be positive and finite", binsz=np.nan),
    geom_case("geom-width-negative", r"width must be positive", width=-1),
    geom_case("geom-width-under-a-pixel", r"width=.*less than half a pixel", width=0.01),
    geom_case("geom-unknown-projection", r"'FOO'", proj="FOO"),
    geom_case("geom-unknown-frame", r"Unknown sky frame 'galactik'", frame="galactik"),
    geom_case("geom-latitude-beyond-pole", r"skydir=\(0, 100\).*\[-90, 90\]", skydir=(0, 100)),
    axis_case("axis-not-monotonic", lambda: MapAxis.from_edges([1, 3, 2], name="x"), r"MapAxis 'x'.*sorted"),
    axis_case(
        "axis-repeated-edge", lambda: MapAxis.from_edges([1, 2, 2, 3], name="x"), r"MapAxis 'x'.*unique"
    ),
    axis_case("axis-nan-edge", lambda: MapAxis.from_edges([1, np.nan, 3], name="x"), r"MapAxis 'x'.*finite"),
    axis_case("axis-string-edges", lambda: MapAxis.from_edges("abc", name="x"), r"MapAxis 'x'.*numbers"),
    axis_case("axis-nbin-zero", lambda: MapAxis.from_energy_bounds("1 TeV", "10 TeV", 0), r"nbin.*got 0"),
    axis_case("axis-nbin-fraction", lambda: MapAxis.from_bounds(1, 10, 2.5, name="x"), r"nbin.*2\.5"),
    axis_case(
        "axis-energy-bounds-reversed",
        lambda: MapAxis.from_energy_bounds("10 TeV", "1 TeV", 3),
        r"energy_min=10\.0 TeV, energy_max=1\.0 TeV",
    ),
]


# -- write destinations ----------------------------------------------------------------------------


def unwritable_dir(tmp: Path) -> Path:
    """A directory no file can be created in: read-only, or (as root, who ignores permissions)
    sysfs, which refuses new files."""
    directory = tmp / "read-only"
    directory.mkdir()
    directory.chmod(0o555)
    for candidate in (directory, Path("/sys")):
        try:
            (candidate / ".probe").touch()
        except OSError:
            return candidate
        (candidate / ".probe").unlink()
    pytest.skip("no unwritable directory available")


@contextlib.contextmanager
def file_size_limit(nbytes: int) -> Iterator[None]:
    """Writes beyond ``nbytes`` fail with EFBIG (``RLIMIT_FSIZE``), as on a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def big_map() -> Map:
    m = Map.create(npix=(200, 100), binsz=0.01, axes=[MapAxis.from_energy_bounds("1 TeV", "10 TeV", 3)])
    m.data = np.random.default_rng(0).random(m.data.shape).astype("f4")
    return m


def full_disk_write(suffix: str, write: Callable[[Path], object]) -> Callable[[Path], object]:
    def call(tmp: Path):
        with file_size_limit(64 * 1024):
            write(tmp / f"out{suffix}")

    return call


def write_case(id, target: Callable[[Path], Path], write: Callable[[Map, Path], object], match) -> Case:
    return Case(
        id, lambda tmp, good: (good, target(tmp)), lambda args: write(args[0], args[1]), StorageError, match
    )


def read_only_case(id, name: str, write: Callable[[Map, Path], object], match) -> Case:
    """Writing ``name`` into a directory that cannot be written."""
    return write_case(id, lambda tmp: unwritable_dir(tmp) / name, write, match)


def _fifo(tmp: Path) -> Path:
    path = tmp / "pipe.fits"
    os.mkfifo(path)
    return path


WRITE_CASES = [
    read_only_case("write-fits-read-only", "m.fits", lambda g, p: g.map.write(p), r"m\.fits"),
    read_only_case("write-zarr-read-only", "m.zarr", lambda g, p: g.map.write(p), r"m\.zarr"),
    read_only_case("write-dataset-read-only", "d.fits", lambda g, p: g.dataset.write(p), r"d\.fits"),
    read_only_case(
        "write-models-read-only",
        "models.yaml",
        lambda g, p: Models.from_yaml(g.models_yaml).write(p),
        r"models(\.yaml|_covariance\.dat)",
    ),
    write_case(
        "write-over-fifo",
        _fifo,
        lambda g, p: g.map.write(p, overwrite=True),
        r"pipe\.fits.*not a regular file",
    ),
    Case(
        "write-fits-disk-full",
        lambda tmp, good: tmp,
        full_disk_write(".fits", lambda p: big_map().write(p)),
        StorageError,
        r"out\.fits.*File too large",
    ),
    Case(
        "write-zarr-disk-full",
        lambda tmp, good: tmp,
        full_disk_write(".zarr", lambda p: big_map().write(p)),
        StorageError,
        r"out\.zarr.*File too large",
    ),
]


CASES = FITS_CASES + YAML_CASES + ZARR_CASES + ARGUMENT_CASES + WRITE_CASES


def test_the_table_is_large_and_ids_unique():
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.filterwarnings("ignore:The following header keyword is invalid")  # the lost "=" case
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_raises_a_named_error(case: Case, tmp_path, good):
    bad = case.build(tmp_path, good)
    with pytest.raises(case.error, match=case.match) as info:
        result = case.call(bad)
        # Whatever a lazy call returned must not hide the damage until it is computed.
        if hasattr(result, "compute") and not isinstance(result, MapDataset):
            result.compute()
    assert isinstance(info.value, MapdsError)


def test_write_failures_leave_no_temporary_files(tmp_path):
    """A write that fails on a full disk leaves the directory as it was."""
    with pytest.raises(StorageError), file_size_limit(64 * 1024):
        big_map().write(tmp_path / "out.fits")
    assert os.listdir(tmp_path) == []


def test_a_bomb_fails_fast(tmp_path):
    """The alias bomb is refused before anything walks it (no memory blow-up, no long run)."""
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB + "components: *i\n")
    assert len(path.read_bytes()) < 1000
    with pytest.raises(ModelError, match="alias"):
        Models.read(path)
