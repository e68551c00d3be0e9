"""The recommendation surfaces: one module each, one entry here.

Adding a surface is one module in this package (its `SURFACE`: ids, context, length, storage,
ranker, fallback, its ranking in words) plus one entry in `SURFACES`, and its tests: the
refresh ranks it and stores it, the read API and CLI serve it, the README's table lists it.
Rankers run in the order of `SURFACES`; a surface that builds on another (`needs`) comes after.
"""

from __future__ import annotations

from domain.recs.surfaces import banners, brands, cart, category, discovery, food_categories, items
from domain.recs.surfaces.base import Surface

SURFACES: tuple[Surface, ...] = (
    discovery.SURFACE,
    category.SURFACE,
    items.SURFACE,
    cart.SURFACE,
    brands.SURFACE,
    food_categories.SURFACE,
    banners.SURFACE,
)
BY_NAME: dict[str, Surface] = {surface.name: surface for surface in SURFACES}
STORED: tuple[Surface, ...] = tuple(s for s in SURFACES if s.stored)  # one row per user each
STORED_NAMES: tuple[str, ...] = tuple(s.name for s in STORED)


def ranked(only: frozenset[str] | None = None) -> tuple[Surface, ...]:
    """The stored surfaces a refresh ranks: all of them, or those named in `only`, in order."""
    return tuple(s for s in STORED if only is None or s.name in only)


def get(name: str) -> Surface:
    """The surface called `name`; KeyError naming the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown surface {name!r}; known: {', '.join(BY_NAME)}") from None


def _check_order() -> None:
    seen: set[str] = set()
    for surface in SURFACES:
        missing = set(surface.needs) - seen
        if missing:
            raise ValueError(f"{surface.name} needs {sorted(missing)} ranked before it")
        seen.add(surface.name)


_check_order()
