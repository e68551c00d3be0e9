"""A trained model survives the trip to bytes (what the model registry stores)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from domain.recs.artefacts import from_bytes, to_bytes
from domain.recs.bundle import train
from domain.recs.cart import complements_of
from domain.recs.items import Basket, ItemsParams, recommend_many


def history() -> list[Basket]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Basket(user, 1 + user % 2, start + timedelta(days=day), (user % 5 + 1, day % 7 + 10))
        for user in range(1, 30)
        for day in range(6)
    ]


def test_round_trip_gives_the_same_recommendations() -> None:
    # Given a bundle trained with non-default parameters
    bundle = train(history(), ItemsParams(neighbours=5, alpha=0.7))
    # When it is stored and loaded
    loaded_bundle = from_bytes(to_bytes(bundle))
    model, loaded = bundle.items, loaded_bundle.items
    # Then parameters, arrays and recommendations are identical
    assert loaded.params == model.params
    assert np.array_equal(loaded.similar.data, model.similar.data)
    assert loaded.item_ids.flags.c_contiguous and not loaded.item_ids.flags.writeable
    users = {u: [b for b in history() if b.user_id == u] for u in range(1, 30)}
    assert recommend_many(loaded, users, 10) == recommend_many(model, users, 10)
    # And the venue and cart parts come back whole
    assert np.array_equal(loaded_bundle.venues.popularity, bundle.venues.popularity)
    assert np.array_equal(loaded_bundle.venues.neighbours.data, bundle.venues.neighbours.data)
    assert complements_of(loaded_bundle.cart, 1) == complements_of(bundle.cart, 1)
