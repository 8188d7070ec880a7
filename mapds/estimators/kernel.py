"""The correlation kernel of the excess map: a top-hat disk of the correlation radius."""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import Angle

__all__ = ["tophat_kernel"]


def tophat_kernel(correlation_radius, pixel_size) -> np.ndarray:
    """Top-hat kernel normalised to a maximum of 1 (pixels inside the radius count fully).

    Parameters
    ----------
    correlation_radius : str or `~astropy.coordinates.Angle`
        Radius of the disk.
    pixel_size : `~astropy.units.Quantity` or float
        Pixel size (deg when a float).

    Returns
    -------
    ndarray
        Odd-sized square array, astropy's ``Tophat2DKernel`` of the radius in pixels (as gammapy
        builds it) divided by its maximum.
    """
    from astropy.convolution import Tophat2DKernel  # deferred: astropy.convolution import cost

    radius = Angle(correlation_radius).deg / u.Quantity(pixel_size, "deg").value
    array = Tophat2DKernel(radius).array
    return array / array.max()
