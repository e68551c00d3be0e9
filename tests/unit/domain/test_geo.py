"""One haversine: the per-pair and the vectorised distances agree."""

from __future__ import annotations

import numpy as np
import pytest

from domain.geo import distance_m, point_distance_m


@pytest.mark.parametrize(
    ("a", "b"),
    [((60.17, 24.94), (60.17, 24.94)), ((60.17, 24.94), (59.33, 18.07)), ((0, 179.9), (0, -179.9))],
)
def test_the_pair_and_the_vectorised_distance_agree(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    matrix = distance_m(np.array([a[0]]), np.array([a[1]]), np.array([b[0]]), np.array([b[1]]))
    assert point_distance_m(*a, *b) == pytest.approx(float(matrix[0, 0]), abs=1e-6)


def test_helsinki_to_stockholm_is_about_396_km() -> None:
    assert point_distance_m(60.1699, 24.9384, 59.3293, 18.0686) == pytest.approx(396_000, rel=0.01)
