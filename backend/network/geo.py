"""Distances on the Earth for the "ten-minute reading circle"."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8
_METRES_PER_DEGREE_LATITUDE = 111_320.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lat/lon box that contains the circle, for an indexed pre-filter before exact distances."""
    dlat = radius_m / _METRES_PER_DEGREE_LATITUDE
    dlon = radius_m / (_METRES_PER_DEGREE_LATITUDE * max(math.cos(math.radians(lat)), 1e-6))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon
