"""Instrument response maps: PSF and energy dispersion per sky position, and kernels at one position."""

from .default_axes import MIGRA_AXIS_DEFAULT, RAD_AXIS_DEFAULT
from .edisp_kernel import EDispKernel
from .edisp_map import EDispKernelMap, EDispMap
from .irf_map import IRFMap
from .psf_kernel import PSFKernel
from .psf_map import PSFMap, RecoPSFMap

__all__ = [
    "MIGRA_AXIS_DEFAULT",
    "RAD_AXIS_DEFAULT",
    "EDispKernel",
    "EDispKernelMap",
    "EDispMap",
    "IRFMap",
    "PSFKernel",
    "PSFMap",
    "RecoPSFMap",
]
