"""Random names for models and datasets created without one."""

from __future__ import annotations

import base64
import uuid

__all__ = ["make_name"]


def make_name(name: str | None = None) -> str:
    """``name`` as a string, or a random 8-character URL-safe name (gammapy's convention)."""
    if name is not None:
        if not isinstance(name, str):
            raise TypeError(f"Name must be a string, got {name!r}")
        return name
    while True:
        name = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:8]
        if not name.startswith("_"):
            return name
