"""Banners with known truths (pure): `larder simulate banners`' world, hidden click-through
rates and the comparison policies.

Every simulated user has a hidden click probability per banner: the banner's base rate, times
a multiplier of the user's lifecycle segment (new, returning, lapsed; per banner), times the
user's own taste for the banner's category (their share of orders at venues of that category:
0.2 + 3 x share; 1 for a city-wide banner), times the examination of the slot it is shown in
(1, 0.6, 0.35). The fleet's policy (`banners` surface) sees none of that: only impressions and
clicks, and the users' orders. Compared on the same users, the same eligible banners and the
same truth: a uniformly random ordering, a non-personalised (global) Beta-Bernoulli Thompson
sampler on slot 0, and the oracle (the best banner for each user). Regret is expected (true
click-through of the oracle's slot-0 banner minus the policy's), so it carries no click noise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from domain.recs.banners import lifecycle_segment

EXAMINATION = (1.0, 0.6, 0.35)
SLOTS = len(EXAMINATION)
BANNER_BASE = 900_000  # the simulation's banner ids: far from the world's
GOOD, BAD = BANNER_BASE + 90, BANNER_BASE + 91  # added mid-run
SEGMENTS = ("new", "returning", "lapsed")


@dataclass(frozen=True)
class SimBanner:
    banner_id: int
    category_id: int | None  # None: city-wide
    base: float
    segment: Mapping[str, float]


@dataclass
class Truth:
    """Users' hidden click probabilities (slot 0) per banner, and their segments."""

    users: list[int]
    city_id: int
    segments: dict[int, str]
    tastes: dict[int, Counter[int]]  # user -> category -> orders
    banners: list[SimBanner] = field(default_factory=list)

    def ctr(self, user: int, banner_id: int) -> float:
        banner = next(b for b in self.banners if b.banner_id == banner_id)
        taste = 1.0
        if banner.category_id is not None:
            orders = self.tastes.get(user, Counter())
            total = sum(orders.values())
            share = orders[banner.category_id] / total if total else 0.0
            taste = 0.2 + 3.0 * share
        return min(0.5, banner.base * banner.segment[self.segments[user]] * taste)


def world_truth(events: Iterable[Mapping[str, Any]], now: datetime) -> Truth:
    """Users, their segments and tastes from a synthetic world's events."""
    venue_category: dict[int, int] = {}
    users, cities = [], Counter[int]()
    last: dict[int, datetime] = {}
    tastes: dict[int, Counter[int]] = {}
    for e in events:
        if e["type"] == "venue.upserted" and e["category_ids"]:
            venue_category[e["venue_id"]] = e["category_ids"][0]
        elif e["type"] == "user.upserted":
            users.append(e["user_id"])
            cities[e["city_id"]] += 1
        elif e["type"] == "order.completed":
            at = datetime.fromisoformat(e["placed_at"])
            last[e["user_id"]] = max(at, last.get(e["user_id"], at))
            category = venue_category.get(e["venue_id"])
            if category is not None:
                tastes.setdefault(e["user_id"], Counter())[category] += 1
    segments: dict[int, str] = {u: lifecycle_segment(last.get(u), now) for u in users}
    return Truth(sorted(users), cities.most_common(1)[0][0], segments, tastes)


def make_banners(truth: Truth, rng: np.random.Generator, count: int = 6) -> list[SimBanner]:
    """`count - 1` banners for the most ordered categories and one city-wide banner, base rates
    2-5 %, segment multipliers 0.3-1.7."""
    popular = Counter[int]()
    for orders in truth.tastes.values():
        popular.update(orders)
    categories = [c for c, _ in popular.most_common(count - 1)]
    banners = [
        SimBanner(BANNER_BASE + i + 1, c, float(rng.uniform(0.02, 0.05)), _segments(rng))
        for i, c in enumerate([*categories, None])
    ]
    return banners


def _segments(rng: np.random.Generator) -> dict[str, float]:
    return {s: float(rng.uniform(0.3, 1.7)) for s in SEGMENTS}


def mid_run_banners(truth: Truth) -> list[SimBanner]:
    """A good banner (the most ordered category, 8 %) and a bad one (city-wide, 0.2 %)."""
    popular = Counter[int]()
    for orders in truth.tastes.values():
        popular.update(orders)
    flat = dict.fromkeys(SEGMENTS, 1.0)
    return [
        SimBanner(GOOD, popular.most_common(1)[0][0], 0.08, flat),
        SimBanner(BAD, None, 0.002, flat),
    ]


def banner_event(banner: SimBanner, city_id: int, now: datetime) -> dict[str, Any]:
    return {
        "type": "banner.upserted",
        "schema_version": 1,
        "event_id": f"sim-banner-{banner.banner_id}",
        "version": 1,
        "banner_id": banner.banner_id,
        "name": f"Simulated banner {banner.banner_id}",
        "city_ids": [city_id],
        "category_ids": [] if banner.category_id is None else [banner.category_id],
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=7)).isoformat(),
    }


def activity_events(
    run: str,
    user: int,
    shown: Sequence[int],
    propensities: Sequence[float],
    clicked: Sequence[bool],
    at: datetime,
) -> list[dict[str, Any]]:
    """Impressions (with slot and propensity) and clicks of one session."""
    events = []
    for position, (banner, p, click) in enumerate(zip(shown, propensities, clicked, strict=True)):
        base = {
            "type": "activity",
            "schema_version": 1,
            "surface": "banner",
            "user_id": user,
            "banner_id": banner,
            "position": position,
            "propensity": max(min(p, 1.0), 1e-6),
            "occurred_at": at.isoformat(),
        }
        events.append(
            {**base, "event_id": f"{run}-i-{user}-{banner}-{at:%H%M%S%f}", "kind": "impression"}
        )
        if click:
            events.append(
                {**base, "event_id": f"{run}-c-{user}-{banner}-{at:%H%M%S%f}", "kind": "click"}
            )
    return events


class GlobalThompson:
    """Non-personalised Beta(1, 1)-Bernoulli Thompson sampling on slot 0."""

    def __init__(self) -> None:
        self.shown: Counter[int] = Counter()
        self.clicked: Counter[int] = Counter()

    def choose(self, eligible: Sequence[int], rng: np.random.Generator) -> int:
        draws = [
            rng.beta(1 + self.clicked[b], 1 + self.shown[b] - self.clicked[b]) for b in eligible
        ]
        return eligible[int(np.argmax(draws))]

    def update(self, banner: int, click: bool) -> None:
        self.shown[banner] += 1
        self.clicked[banner] += int(click)


@dataclass
class Tally:
    """Per policy: impressions at slot 0, expected clicks, clicks drawn, cumulative regret."""

    shown: int = 0
    expected: float = 0.0
    clicks: int = 0
    regret: float = 0.0

    def add(self, ctr: float, best: float, click: bool) -> None:
        self.shown += 1
        self.expected += ctr
        self.clicks += int(click)
        self.regret += best - ctr

    def row(self) -> dict[str, float]:
        ctr = self.expected / self.shown if self.shown else 0.0
        return {
            "ctr": round(ctr, 5),
            "observed_clicks": self.clicks,
            "regret": round(self.regret, 3),
        }
