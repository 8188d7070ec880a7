"""gammapy "gadf" FITS maps: lazy ranged reads over fsspec, streamed atomic writes."""

from .file import FitsFile
from .maps import LazyImageHDU, map_to_hdus
from .writer import write_fits

__all__ = ["FitsFile", "LazyImageHDU", "map_to_hdus", "write_fits"]
