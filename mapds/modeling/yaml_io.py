"""YAML text in gammapy's layout: 4-space indent, key order kept, creator metadata, checksum.

gammapy dumps with ``yaml.safe_dump(data, sort_keys=False, indent=4, width=80,
default_flow_style=False)`` and appends a ``metadata:`` block (creator, date, origin); with
``checksum=True`` a ``checksum:`` line holds the MD5 of everything above it.  Files are read
with ``yaml.safe_load``.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import warnings

import yaml

from ..errors import ModelError

__all__ = ["YAML_FORMAT", "add_checksum", "dump_yaml", "load_yaml", "metadata_yaml"]

#: ``yaml.safe_dump`` options giving gammapy's layout.
YAML_FORMAT = {"sort_keys": False, "indent": 4, "width": 80, "default_flow_style": False}


def dump_yaml(data: dict) -> str:
    """``data`` as YAML text in gammapy's layout (no metadata)."""
    return yaml.safe_dump(data, **YAML_FORMAT)


def metadata_yaml() -> str:
    """The ``metadata:`` block naming mapds as creator and the current UTC time."""
    try:
        version = importlib.metadata.version("mapds")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        version = "unknown"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return dump_yaml({"metadata": {"creator": f"mapds {version}", "date": now, "origin": None}})


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def add_checksum(text: str) -> str:
    """``text`` followed by a ``checksum:`` line with its MD5 (gammapy's ``checksum=True``)."""
    return text + yaml.safe_dump({"checksum": _md5(text)}, sort_keys=True, indent=4, width=80)


def load_yaml(text: str, source: str = "YAML text", checksum: bool = False) -> dict:
    """Parse YAML with ``yaml.safe_load``; the top level must be a mapping.

    The ``checksum`` entry is removed; with ``checksum=True`` it is verified against the
    re-dumped content and a mismatch is logged as a warning (as gammapy does).
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{source} must hold a YAML mapping at the top level, got {type(data).__name__}")
    expected = data.pop("checksum", None)
    if checksum and _md5(dump_yaml(data)) != expected:
        warnings.warn(f"Checksum verification failed for {source}", UserWarning, stacklevel=2)
    return data
