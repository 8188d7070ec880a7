"""The same sky models in gammapy and mapds, for the npred and statistic tests.

Positions refer to the datasets of :func:`conftest.build_dataset` (0.1° pixels, 2° × 1.6° around
galactic (0, 0) by default): "inside", "edge" (the cutout is trimmed by the map border) and
"outside" (beyond the map, contributing only through the PSF, or not at all).
"""

from __future__ import annotations

import gammapy.modeling.models as gammapy_models

import mapds.modeling.models as mapds_models

LIBRARIES = {"gammapy": gammapy_models, "mapds": mapds_models}

#: name -> (spatial kind, lon, lat, spectral kind)
SOURCES = {
    "point": ("point", 0.3, -0.2, "pl"),
    "gauss": ("gauss", -0.45, 0.3, "pl"),
    "disk": ("disk", 0.55, 0.35, "lp"),
    "edge": ("gauss", -0.95, -0.7, "pl"),
    "point-edge": ("point", 0.98, 0.1, "ecpl"),
    "near": ("point", 1.15, 0.0, "pl"),
    "outside": ("point", 5.0, 5.0, "pl"),
}


def spectral_model(lib, kind: str, scale: float = 1.0):
    amplitude = f"{2e-11 * scale} cm-2 s-1 TeV-1"
    if kind == "pl":
        return lib.PowerLawSpectralModel(index=2.4, amplitude=amplitude)
    if kind == "lp":
        return lib.LogParabolaSpectralModel(amplitude=amplitude, reference="2 TeV", alpha=2.1, beta=0.2)
    if kind == "ecpl":
        return lib.ExpCutoffPowerLawSpectralModel(amplitude=amplitude, index=2.0, lambda_="0.1 TeV-1")
    raise ValueError(kind)


def spatial_model(lib, kind: str, lon: float, lat: float):
    position = {"lon_0": f"{lon} deg", "lat_0": f"{lat} deg", "frame": "galactic"}
    if kind == "point":
        return lib.PointSpatialModel(**position)
    if kind == "gauss":
        return lib.GaussianSpatialModel(sigma="0.15 deg", **position)
    if kind == "disk":
        return lib.DiskSpatialModel(r_0="0.25 deg", **position)
    if kind == "const":
        return lib.ConstantSpatialModel(value="1e-3 sr-1")
    if kind is None:
        return None
    raise ValueError(kind)


def sky_model(library: str, name: str, apply_irf=None, scale: float = 1.0):
    """One of :data:`SOURCES` (or ``"const"``/``"spectral-only"``) in ``library``."""
    lib = LIBRARIES[library]
    if name == "const":
        spatial, spectral = spatial_model(lib, "const", 0, 0), spectral_model(lib, "pl", 1e3 * scale)
    elif name == "spectral-only":
        spatial, spectral = None, spectral_model(lib, "pl", 1e-7 * scale)
    else:
        kind, lon, lat, spectral_kind = SOURCES[name]
        spatial, spectral = spatial_model(lib, kind, lon, lat), spectral_model(lib, spectral_kind, scale)
    kwargs = {}
    if apply_irf is not None:  # gammapy needs every key
        kwargs["apply_irf"] = {"exposure": True, "psf": True, "edisp": True, **apply_irf}
    return lib.SkyModel(spectral_model=spectral, spatial_model=spatial, name=name, **kwargs)


def models(library: str, names, dataset_name: str = "ds", fov=(1.1, 0.1), apply_irf=None):
    """Sky models ``names`` plus, unless ``fov`` is None, a FoV background model (norm, tilt)."""
    lib = LIBRARIES[library]
    out = [sky_model(library, name, apply_irf) for name in names]
    if fov is not None:
        background = lib.FoVBackgroundModel(dataset_name=dataset_name)
        background.spectral_model.norm.value, background.spectral_model.tilt.value = fov
        out.append(background)
    return lib.Models(out)
