"""Convolution of maps with kernels and smoothing, streamed by tiles.

:func:`fft_convolve` is the pure per-plane operation (also used on small numpy cutouts by the
IRF and model-evaluation code).  :func:`convolve` and :func:`smooth` apply it (or a
``scipy.ndimage`` filter) to a map with :func:`dask.array.map_overlap`: each tile is extended by
the kernel half-size, filtered, and trimmed, which gives the same result as filtering the
whole plane because every output pixel only sees pixels within the kernel radius.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import astropy.units as u
import dask.array as da
import numpy as np

from ..errors import GeometryMismatchError, InvalidArgumentError
from ..geom import WcsGeom

if TYPE_CHECKING:
    from .core import Map

__all__ = ["SMOOTH_KERNELS", "convolve", "fft_convolve", "smooth"]

SMOOTH_KERNELS = ("gauss", "disk", "box")
CONVOLVE_METHODS = ("fft", "direct", "auto")
#: ``scipy.ndimage`` boundary modes and the dask ``map_overlap`` boundary reproducing them.
_BOUNDARIES = {"reflect": "reflect", "nearest": "nearest", "wrap": "periodic", "constant": None}
#: Relative tolerance on the agreement of map and kernel pixel sizes (as gammapy).
PIXEL_SCALE_RTOL = 1e-5


def fft_convolve(image: np.ndarray, kernel: np.ndarray, method: str = "fft") -> np.ndarray:
    """Convolve every image plane with its kernel plane (``scipy.signal.convolve``, "same").

    Parameters
    ----------
    image : ndarray
        Images, shape ``(..., ny, nx)``.
    kernel : ndarray
        Kernel ``(ky, kx)`` applied to every plane, or ``(..., ky, kx)`` with the leading
        shape of ``image`` (one kernel per plane).
    method : {"fft", "direct", "auto"}
        Passed to :func:`scipy.signal.convolve`.

    Returns
    -------
    ndarray
        float32 array of the shape of ``image`` (gammapy's convolution output type).
    """
    import scipy.signal  # deferred: scipy.signal (and scipy.stats under it) cost ~1 s to import

    image = np.asarray(image)
    kernel = np.asarray(kernel)
    if kernel.ndim > 2 and kernel.shape[:-2] != image.shape[:-2]:
        raise GeometryMismatchError(
            f"Kernel planes {kernel.shape[:-2]} do not match image planes {image.shape[:-2]}"
        )
    out = np.empty(image.shape, dtype=np.float32)
    for idx in np.ndindex(image.shape[:-2]):
        plane_kernel = kernel if kernel.ndim == 2 else kernel[idx]
        out[idx] = scipy.signal.convolve(image[idx], plane_kernel, method=method, mode="same")
    return out


def _kernel_planes(kernel: np.ndarray, block_info) -> np.ndarray:
    """The kernel planes matching the non-spatial location of a block."""
    if kernel.ndim == 2:
        return kernel
    location = block_info[0]["array-location"][:-2]
    return kernel[tuple(slice(start, stop) for start, stop in location)]


def _convolve_block(block, kernel, method, block_info=None):
    return fft_convolve(block, _kernel_planes(kernel, block_info), method=method)


def _overlap_depth(data: da.Array, half_sizes: tuple[int, int]) -> tuple[da.Array, dict]:
    """Halo depth per spatial dimension; a dimension in one chunk needs none."""
    depth = {}
    for dim, half in zip((data.ndim - 2, data.ndim - 1), half_sizes, strict=True):
        if len(data.chunks[dim]) > 1 and half >= data.shape[dim]:
            data = data.rechunk({dim: -1})
        depth[dim] = 0 if len(data.chunks[dim]) == 1 else int(half)
    return data, depth


def _resolve_kernel(m: Map, kernel):
    """Kernel array (dask for kernel maps, not computed here) and the axes it brings."""
    kernel_map = getattr(kernel, "psf_kernel_map", kernel)
    if hasattr(kernel_map, "geom"):
        scales, kernel_scales = cast(WcsGeom, m.geom).pixel_scales.deg, kernel_map.geom.pixel_scales.deg
        if not np.allclose(scales, kernel_scales, rtol=PIXEL_SCALE_RTOL):
            raise GeometryMismatchError(
                f"Pixel size of kernel ({kernel_scales} deg) and map ({scales} deg) not compatible"
            )
        return da.asarray(kernel_map.data).astype(np.float32), kernel_map.geom.axes
    kernel = np.asarray(kernel)
    if m.geom.is_image and kernel.ndim > 2:
        raise GeometryMismatchError(
            "Image convolution with a 3D kernel array requires a kernel map or PSFKernel"
        )
    return kernel, None


def _whole(kernel):
    """A (small) kernel as one graph node that every block task receives whole."""
    if isinstance(kernel, da.Array):
        return kernel.rechunk(kernel.shape).to_delayed().ravel()[0]
    return kernel


def convolve(m: Map, kernel, method="fft", mode="same") -> Map:
    """Convolve every image plane of ``m`` with ``kernel``, streaming by tiles.

    Parameters
    ----------
    m : Map
        WCS map.
    kernel : Map, PSFKernel-like or ndarray
        A kernel map (an image, or a cube with ``m``'s non-spatial axes) or any object with a
        ``psf_kernel_map``; its pixel size must agree with ``m``'s (rtol 1e-5) and it is cast
        to float32.  A numpy array is used as is (2D: every plane; ND: one plane per bin).
    method : {"fft", "direct", "auto"}
        :func:`scipy.signal.convolve` method.
    mode : {"same"}
        Only ``same`` is supported.

    Returns
    -------
    Map
        float32 map; an image convolved with a kernel cube becomes a cube with the kernel's
        axes.
    """
    if mode != "same":
        raise InvalidArgumentError(f"Convolution mode {mode!r} is not supported; only 'same' is")
    if method not in CONVOLVE_METHODS:
        raise InvalidArgumentError(
            f"Invalid convolution method {method!r}; expected one of {CONVOLVE_METHODS}"
        )
    kernel, kernel_axes = _resolve_kernel(m, kernel)
    geom, data = m.geom, m.dask_data
    if geom.is_image and kernel_axes is not None and len(kernel_axes):
        geom = geom.to_cube(kernel_axes)
        planes = kernel.shape[:-2]
        # gammapy casts the image to float32 before convolving it with each kernel plane.
        chunks = tuple((1,) * n for n in planes) + data.chunks
        data = da.broadcast_to(data.astype(np.float32), planes + data.shape, chunks=chunks)
    if kernel.ndim > 2 and kernel.shape[:-2] != geom.data_shape[:-2]:
        raise GeometryMismatchError(
            f"Incompatible shape between data {geom.data_shape[:-2]} and kernel {kernel.shape[:-2]}"
        )
    data, depth = _overlap_depth(data, (kernel.shape[-2] // 2, kernel.shape[-1] // 2))
    # map_overlap by hand, so that the kernel can be a graph node rather than a constant
    extended = da.overlap.overlap(data, depth=depth, boundary="none")
    out = da.map_blocks(
        _convolve_block,
        extended,
        _whole(kernel),
        method=method,
        dtype=np.float32,
        meta=np.empty((0,) * data.ndim, dtype=np.float32),
    )
    return m.copy(geom=geom, data=da.overlap.trim_internal(out, depth, boundary="none"))


def _smooth_filter(kernel: str, width: float, kwargs: dict):
    """The per-plane filter and its radius in pixels."""
    import scipy.ndimage as ndi  # deferred, as scipy.signal above

    if kernel == "gauss":
        truncate = kwargs.get("truncate", 4.0)
        radius = kwargs.get("radius") or int(truncate * width + 0.5)
        return (lambda img: ndi.gaussian_filter(img, width, **kwargs)), radius
    if kernel == "disk":
        from astropy.convolution import Tophat2DKernel  # deferred: it imports astropy.modeling

        disk = Tophat2DKernel(width)
        disk.normalize("integral")
        weights = disk.array
        return (lambda img: ndi.convolve(img, weights, **kwargs)), max(weights.shape) // 2
    if kernel == "box":
        return (lambda img: ndi.uniform_filter(img, width, **kwargs)), int(np.max(width)) // 2 + 1
    raise InvalidArgumentError(f"Invalid kernel {kernel!r}; expected one of {SMOOTH_KERNELS}")


def _smooth_block(block, apply):
    out = np.empty(block.shape, dtype=float)
    for idx in np.ndindex(block.shape[:-2]):
        out[idx] = apply(block[idx].astype(float))
    return out


def smooth(m: Map, width, kernel="gauss", **kwargs) -> Map:
    """Smooth every image plane, streaming by tiles.

    Parameters
    ----------
    m : Map
        WCS map.
    width : float, str or Quantity
        Gaussian sigma, disk radius or box side; an angle, or a number of pixels.
    kernel : {"gauss", "disk", "box"}
        Filter: ``scipy.ndimage.gaussian_filter``, convolution with a normalised
        ``Tophat2DKernel``, or ``scipy.ndimage.uniform_filter``.
    **kwargs
        Passed to the filter: ``mode`` (``reflect`` default, ``constant``, ``nearest``,
        ``wrap``), ``cval``, ``truncate``...

    Returns
    -------
    Map
        float64 map (gammapy's smoothing output type).
    """
    if isinstance(width, (u.Quantity, str)):
        width = (u.Quantity(width) / cast(WcsGeom, m.geom).pixel_scales.mean()).to_value("")
    mode = kwargs.get("mode", "reflect")
    if mode not in _BOUNDARIES:
        raise InvalidArgumentError(f"Invalid smoothing mode {mode!r}; expected one of {tuple(_BOUNDARIES)}")
    apply, radius = _smooth_filter(kernel, width, kwargs)
    data, depth = _overlap_depth(m.dask_data, (radius, radius))
    boundary = _BOUNDARIES[mode] if mode != "constant" else kwargs.get("cval", 0.0)
    out = da.map_overlap(
        _smooth_block,
        data,
        depth=depth,
        boundary=boundary,
        dtype=float,
        apply=apply,
        meta=np.empty((0,) * data.ndim, dtype=float),
    )
    return m.copy(data=out)
