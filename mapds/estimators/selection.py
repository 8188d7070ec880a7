"""The ``selection_optional`` argument of the estimators: which optional quantities to compute."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InvalidArgumentError

__all__ = ["optional_selection"]


def optional_selection(selection: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """The optional steps asked for, in the order given ("all": every one of ``available``).

    Raises
    ------
    InvalidArgumentError
        A step is not one of ``available`` (gammapy's message).
    """
    if selection is None:
        return []
    if "all" in selection:
        return list(available)
    unknown = set(selection) - set(available)
    if unknown:
        raise InvalidArgumentError(f"{unknown} is not a valid method.")
    return list(selection)
