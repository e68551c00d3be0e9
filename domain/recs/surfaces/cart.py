"""`cart`: items to add to a cart, combined at read time from stored complements."""

from __future__ import annotations

from domain.recs.bundle import Bundle
from domain.recs.cart import complements_of
from domain.recs.surfaces.base import (
    EVERY_CITY,
    Context,
    FallbackInputs,
    FallbackRow,
    Surface,
)


def fallback(inputs: FallbackInputs) -> list[FallbackRow]:
    """Each item's complements (context = the item), what a cart read sums."""
    return complements(inputs.bundle)


def complements(bundle: Bundle) -> list[FallbackRow]:
    rows = []
    for item in bundle.cart.item_ids.tolist():
        found = complements_of(bundle.cart, item)
        if found:
            ids, scores = [i for i, _ in found], [round(s, 4) for _, s in found]
            rows.append(FallbackRow(EVERY_CITY, SURFACE.name, item, ids, scores))
    return rows


SURFACE = Surface(
    name="cart",
    description="Items to add to a cart, at the cart's venue.",
    ids="item",
    context=Context("cart", "the cart's item ids (`items`, one parameter each)", required=True),
    length=100,
    storage="read_time",
    ranking=(
        "per item, the items bought with it beyond popularity (lift shrunk by support,"
        " `cart.py`); a cart read sums its items' complements, re-ranks them by the user's"
        " `items` scores at that venue and drops what is in the cart: one SQL query"
        " (`READ_CART`)"
    ),
    fallback=fallback,
)
