"""Default non-spatial axes of IRF maps (gammapy's ``RAD_AXIS_DEFAULT`` / ``MIGRA_AXIS_DEFAULT``)."""

from __future__ import annotations

from ..geom import MapAxis

__all__ = ["MIGRA_AXIS_DEFAULT", "RAD_AXIS_DEFAULT"]

#: PSF offset axis: 66 linear bins of 0.01° from 0 to 0.66°.
RAD_AXIS_DEFAULT = MapAxis.from_bounds(0, 0.66, nbin=66, interp="lin", unit="deg", name="rad")

#: Energy migration axis (E_reco / E_true): 48 linear bins from 0.2 to 5.
MIGRA_AXIS_DEFAULT = MapAxis.from_bounds(0.2, 5, nbin=48, interp="lin", node_type="edges", name="migra")
