"""Precomputed recommendation lists: bulk writes and the one-lookup read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from domain.recs.discovery import AFFINITY_HALF_LIFE_DAYS, UserRow
from domain.recs.items import Basket
from domain.recs.lists import Activity, FallbackRow, UserLists
from domain.recs.venues import DAY_S, VenueCatalog, VenueRow
from schemas.recs import RecommendationList
from store.recs import personal, pgcopy, queries, registry

DEFAULT_MAX_AGE = timedelta(hours=72)
ACTIVITY_DAYS = 30  # activity older than this no longer moves affinity


def user_baskets(connection: psycopg.Connection[Any], user_ids: Sequence[int]) -> Iterator[Basket]:
    cursor = connection.cursor(binary=True)  # arrays and timestamps parse faster (measured)
    yield from registry.baskets(cursor.execute(queries.USER_BASKETS, {"user_ids": list(user_ids)}))


def stale_list_users(connection: psycopg.Connection[Any], ttl: timedelta, limit: int) -> list[int]:
    cursor = connection.execute(queries.STALE_LIST_USERS, {"ttl": ttl, "limit": limit})
    return [row[0] for row in cursor]


def users_without_lists(connection: psycopg.Connection[Any], limit: int) -> list[int]:
    """Known users (a home, or orders) with no stored list at all."""
    return [row[0] for row in connection.execute(queries.USERS_WITHOUT_LISTS, {"limit": limit})]


def mark_due(
    connection: psycopg.Connection[Any], user_ids: Sequence[int], delay: timedelta
) -> None:
    """Mark users for a refresh `delay` from now (the sweep claims them then)."""
    params = {"user_ids": list(user_ids), "delay": delay}
    connection.execute(queries.MARK_USERS_DUE, params)


def active_model_state(
    connection: psycopg.Connection[Any], kind: str
) -> tuple[str, timedelta, int] | None:
    """(version, age, orders it was trained on) of the active version; None without one."""
    row = connection.execute(queries.ACTIVE_MODEL_STATE, {"kind": kind}).fetchone()
    return None if row is None else (str(row[0]), row[1], int(row[2] or 0))


def orders_up_to(connection: psycopg.Connection[Any], cap: int) -> int:
    """How many orders there are, counted up to `cap`."""
    row = connection.execute(queries.ORDERS_UP_TO, {"cap": cap}).fetchone()
    return int(row[0]) if row else 0


def active_version(connection: psycopg.Connection[Any], kind: str) -> str | None:
    row = connection.execute(queries.ACTIVE_MODEL_VERSION, {"kind": kind}).fetchone()
    return str(row[0]) if row else None


def write_lists(
    connection: psycopg.Connection[Any],
    lists: UserLists,
    version: str,
    users: Sequence[int] = (),
) -> None:
    """Upsert a batch of users' lists, one row per user and surface (older inputs never
    overwrite newer lists). Each of `users` (the refreshed users) loses the lists it is no
    longer given: its surfaces are replaced whole, by empty rows where it has no list. Call
    inside a transaction: the staging table lives until commit."""
    if not lists.batches and not users:
        return
    connection.execute(queries.INCOMING_LISTS)
    with connection.cursor().copy(queries.COPY_INCOMING_LISTS) as copy:
        copy.write(pgcopy.encode(lists, users))
    connection.execute(queries.UPSERT_RECOMMENDATIONS, {"version": version})


def write_fallbacks(
    connection: psycopg.Connection[Any], rows: Sequence[FallbackRow], version: str
) -> int:
    """Replace every fallback list with these (inside a transaction)."""
    connection.execute(queries.INCOMING_FALLBACKS)
    with connection.cursor().copy(queries.COPY_INCOMING_FALLBACKS) as copy:
        copy.write("".join(_copy_line(row) for row in rows))
    connection.execute(queries.UPSERT_FALLBACKS, {"version": version})
    connection.execute(queries.DELETE_DROPPED_FALLBACKS)
    return len(rows)


def _copy_line(row: FallbackRow) -> str:
    """One line of COPY text format. Fields are numbers and surface names (no tabs,
    backslashes or newlines), so no escaping is needed."""
    fields = [str(value) for value in row[:3]]
    fields.append("{" + ",".join(map(str, row.ids)) + "}")
    fields.append("{" + ",".join(map(repr, row.scores)) + "}")
    return "\t".join(fields) + "\n"


def catalog_version(connection: psycopg.Connection[Any]) -> tuple[int, datetime | None]:
    """What changes whenever a venue does: (venues, the newest update). Rankers reload their
    catalog snapshot when it changes (one aggregate over the venues, ~0.3 ms for 2k)."""
    row = connection.execute(queries.CATALOG_VERSION).fetchone()
    return (int(row[0]), row[1]) if row else (0, None)


def catalog(connection: psycopg.Connection[Any]) -> VenueCatalog:
    rows = [VenueRow(*row) for row in connection.execute(queries.CATALOG_VENUES)]
    return VenueCatalog.from_rows(rows, loaded_at=datetime.now(UTC))


def users(connection: psycopg.Connection[Any], user_ids: Sequence[int]) -> list[UserRow]:
    cursor = connection.execute(queries.USERS_BY_ID, {"user_ids": list(user_ids)})
    return [UserRow(*row) for row in cursor]


def activity(
    connection: psycopg.Connection[Any], user_ids: Sequence[int], days: int = ACTIVITY_DAYS
) -> list[Activity]:
    half = AFFINITY_HALF_LIFE_DAYS * DAY_S
    params = {"user_ids": list(user_ids), "days": days, "half": half}
    cursor = connection.cursor(binary=True)
    return [Activity(*row) for row in cursor.execute(queries.USER_ACTIVITY, params)]


def users_to_refresh(connection: psycopg.Connection[Any], city_id: int | None) -> list[int]:
    """Every known user (of the city): with a home, or with orders."""
    cursor = connection.execute(queries.USERS_TO_REFRESH, {"city_id": city_id})
    return [row[0] for row in cursor]


def read(
    connection: psycopg.Connection[Any],
    user_id: int,
    surface: str,
    context: int = 0,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> RecommendationList | None:
    """One indexed query: the user's fresh list, else the fallback; None when neither exists."""
    if surface in personal.READS:  # guarded reads: flights, deliverability, overrides
        return personal.read(connection, user_id, surface, context, max_age)
    params = {"user_id": user_id, "surface": surface, "context": context, "max_age": max_age}
    row = connection.execute(queries.READ_RECOMMENDATIONS, params, prepare=True).fetchone()
    if row is None:
        return None
    ids, scores, version, computed_at, fallback = row
    return RecommendationList(
        user_id=user_id,
        surface=surface,
        context=context,
        ids=ids,
        scores=scores,
        model_version=version,
        computed_at=computed_at,
        fallback=fallback,
    )


def contexts(connection: psycopg.Connection[Any], user_id: int, surface: str) -> list[int] | None:
    """The contexts of the user's stored lists on `surface` (None: no row at all)."""
    params = {"user_id": user_id, "surface": surface}
    row = connection.execute(queries.USER_CONTEXTS, params).fetchone()
    return None if row is None else list(row[0])


SURFACE_CART = "cart"


class MixedCart(ValueError):
    """The cart's items belong to more than one venue."""

    def __init__(self, venue_ids: Sequence[int]) -> None:
        super().__init__(f"the cart's items belong to venues {list(venue_ids)}; a cart is at one")
        self.venue_ids = list(venue_ids)


def read_cart(
    connection: psycopg.Connection[Any],
    user_id: int,
    item_ids: Sequence[int],
    limit: int = 20,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> RecommendationList | None:
    """Items to add to a cart, best first: one query (`queries.READ_CART`, which explains the
    score). None when the cart's items are unknown or have no complements; `MixedCart` when
    they belong to more than one venue."""
    params = {"user_id": user_id, "item_ids": list(item_ids), "limit": limit, "max_age": max_age}
    row = connection.execute(queries.READ_CART, params, prepare=True).fetchone()
    assert row is not None  # an aggregate over no rows is still one row
    venue_ids, ids, scores, version, computed_at, fallback = row
    if venue_ids is not None and len(venue_ids) > 1:
        raise MixedCart(venue_ids)
    if venue_ids is None or ids is None:
        return None
    return RecommendationList(
        user_id=user_id,
        surface=SURFACE_CART,
        context=venue_ids[0],
        ids=ids,
        scores=scores,
        model_version=version,
        computed_at=computed_at,
        fallback=fallback,
    )


def claim_changed_users(
    connection: psycopg.Connection[Any], limit: int
) -> tuple[list[int], datetime | None]:
    """Claim (delete) up to `limit` change marks, any number of claimers at once (SKIP LOCKED);
    returns the distinct users, sorted (a burst of changes: one refresh), and the oldest mark's
    time (None without marks). Call in the transaction that enqueues their refreshes."""
    rows = connection.execute(queries.CLAIM_USER_CHANGES, {"limit": limit}).fetchall()
    return sorted({row[0] for row in rows}), min((row[1] for row in rows), default=None)


def analyze(connection: psycopg.Connection[Any]) -> None:
    """Refresh the planner's statistics of the list tables (after a bulk refresh)."""
    connection.execute(queries.ANALYZE_LISTS)


def demo_user(connection: psycopg.Connection[Any]) -> tuple[Any, ...] | None:
    """(user, category, venue, cart items) of a user worth showing (`larder demo`)."""
    return connection.execute(queries.DEMO_USER).fetchone()
