"""Distances on the Earth's surface (pure): great-circle distance by the haversine formula, for
one pair of points (`point_distance_m`: plain floats, for per-sample loops such as a courier's
track) or for every pair of two sets (`distance_m`: vectorised, for users x venues)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
EARTH_RADIUS_M = 6_371_000.0


def haversine_a(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    """The haversine term `a` for every pair (rows: points 1, columns: points 2), where
    distance = 2R asin(sqrt(a)). Built from per-point half-angle sines and cosines (angle
    difference identities), so a users x venues matrix needs no per-pair trigonometry."""
    h1, h2 = np.radians(lat1) / 2, np.radians(lat2) / 2
    g1, g2 = np.radians(lon1) / 2, np.radians(lon2) / 2
    sin_dp = np.outer(np.cos(h1), np.sin(h2)) - np.outer(np.sin(h1), np.cos(h2))
    sin_dl = np.outer(np.cos(g1), np.sin(g2)) - np.outer(np.sin(g1), np.cos(g2))
    return np.asarray(sin_dp**2 + np.outer(np.cos(2 * h1), np.cos(2 * h2)) * sin_dl**2)


def distance_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> FloatArray:
    """Great-circle distances in metres, points 1 (rows) x points 2 (columns)."""
    a = haversine_a(
        np.atleast_1d(lat1), np.atleast_1d(lon1), np.atleast_1d(lat2), np.atleast_1d(lon2)
    )
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def point_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points (the haversine formula, as
    `distance_m`, without numpy's per-call cost)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))
