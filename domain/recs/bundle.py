"""One model version: every artefact the rankers need, trained together from one snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.recs import items
from domain.recs.cart import CartModel, train_cart
from domain.recs.items import Basket, ItemsModel, ItemsParams
from domain.recs.venues import VenueModel, train_venues

MODEL_KIND = "recs"  # the name its versions have in the model registry


@dataclass(frozen=True, eq=False)
class Bundle:
    items: ItemsModel  # items surface (and the user's item affinity for cart reads)
    venues: VenueModel  # discovery and category surfaces
    cart: CartModel  # cart complements


def train(baskets: Sequence[Basket], params: ItemsParams | None = None) -> Bundle:
    return Bundle(items.train(baskets, params), train_venues(baskets), train_cart(baskets))
