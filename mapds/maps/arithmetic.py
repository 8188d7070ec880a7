"""The unit rules of map arithmetic: astropy's, for operators and numpy ufuncs alike.

``Map`` routes every operator (``+``, ``<``, ``**``, ``&``...) through ``numpy``'s ufuncs
(``NDArrayOperatorsMixin``), and every ufunc through :func:`ufunc_units`, so ``m < q`` and
``np.less(m, q)`` cannot disagree.  :func:`ufunc_units` asks astropy's own ufunc helpers which
unit the result has and by which factor each operand must be scaled first — the rules a
``Quantity`` follows — without touching the (lazy) values: the factors are applied to the dask
arrays by the caller.
"""

from __future__ import annotations

import numbers

import astropy.units as u
import numpy as np
from astropy.units.quantity_helper.converters import UFUNC_HELPERS, UNSUPPORTED_UFUNCS, converters_and_unit

from ..errors import UnitMismatchError

__all__ = ["UnitRule", "ufunc_units"]


class _UnitOf:
    """Stand-in for a lazy operand: astropy's helpers only look at ``.unit``."""

    def __init__(self, unit: u.UnitBase):
        self.unit = unit


class UnitRule:
    """What a ufunc needs: a scale per input (None: use as is) and the unit(s) of the result."""

    def __init__(self, scales: list, unit):
        self.scales = scales
        self.unit = unit


def _scale(converter) -> float | None:
    if converter is None:
        return None
    factor = converter(1.0)
    if converter(0.0) != 0:  # not a plain scaling (logarithmic or offset units)
        raise UnitMismatchError("Map arithmetic supports only units that convert by a scale factor")
    return None if factor == 1 else float(factor)


def _result_unit(unit):
    if isinstance(unit, tuple):
        return tuple(_result_unit(x) for x in unit)
    return u.dimensionless_unscaled if unit is None else unit


def ufunc_units(ufunc: np.ufunc, units: list, values: list) -> UnitRule:
    """Scales of the inputs and unit of the result of ``ufunc``, by astropy's rules.

    Parameters
    ----------
    ufunc : numpy.ufunc
        The function applied.
    units : list of Unit or None
        Unit of each input (None: a plain number or array without unit).
    values : list
        Each input's value where astropy's rules depend on it: the exponent of ``np.power``
        (a number, or None when it is an array), and the unit-less plain inputs (a value that
        is all zero, infinite or NaN may be combined with any unit, as for a ``Quantity``);
        None where unknown (lazy).

    Raises
    ------
    UnitMismatchError
        The units cannot be combined by this function.
    """
    name = ufunc.__name__
    if ufunc in UNSUPPORTED_UFUNCS or ufunc not in UFUNC_HELPERS:
        # Logical and bitwise functions act on values (masks): they need dimensionless inputs.
        bad = [unit for unit in units if unit is not None and unit != u.dimensionless_unscaled]
        if bad:
            raise UnitMismatchError(f"np.{name} needs dimensionless maps, got units {bad}")
        return UnitRule([None] * len(units), u.dimensionless_unscaled)
    power = ufunc in (np.power, np.float_power)
    if power and values[1] is None and units[0] not in (None, u.dimensionless_unscaled):
        raise UnitMismatchError(f"A map in {units[0]} can only be raised to a scalar power")
    args = []
    for i, (unit, value) in enumerate(zip(units, values, strict=True)):
        if power and i == 1 and value is not None:
            args.append(value if unit is None else u.Quantity(value, unit))  # the exponent sets the unit
        elif unit is not None:
            args.append(_UnitOf(unit))
        elif isinstance(value, (numbers.Number, np.ndarray, np.generic)):
            args.append(value)
        else:
            args.append(np.ones(()))  # a lazy array without unit: never "arbitrary"
    try:
        converters, unit = converters_and_unit(ufunc, "__call__", *args)
    except (u.UnitsError, TypeError, ValueError) as exc:
        raise UnitMismatchError(f"np.{name} on operands in {units}: {exc}") from exc
    return UnitRule([_scale(c) for c in converters], _result_unit(unit))
