"""A deterministic synthetic world: catalog, users and order/activity history as intake events.

Pure (no I/O): `generate(config)` yields JSON-ready event dicts, exactly what
`schemas.parse_event` accepts, in this order: cities, brands, categories, venues, items,
banners, users, then orders and activity in time order.

Conventions the generated data follows (and the tests check):
- opening hours are local wall-clock times in the venue's city timezone;
- every order's venue delivers to the user's home (haversine distance <= delivery radius),
  is active, and was open at `placed_at`; order lines are available items of that venue;
- all randomness comes from one `numpy.random.default_rng(seed)`, consumed in a fixed order,
  so the same config always yields the same events.

History is simulated day by day and streamed through a small time-ordered buffer, so memory
stays bounded by one or two days of events plus per-user state held in numpy arrays.
"""

from __future__ import annotations

import bisect
import functools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from domain.geo import EARTH_RADIUS_M, haversine_a
from domain.opening import weekly

EventDict = dict[str, Any]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

M_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True)
class WorldConfig:
    """What to generate. History runs over the `days` before `end` (an aware instant, usually
    now: list refreshes read the last 30 days, so a world that ended long ago has no activity
    they use); banner flights are placed relative to it too. The same config, `end` included,
    always gives the same events; moving `end` by whole weeks (outside DST changes) moves every
    timestamp by as much and changes nothing else."""

    cities: int = 3
    venues: int = 120  # total across cities
    items_per_venue: int = 25  # average
    users: int = 1000
    days: int = 30  # days of order history, up to `end`
    seed: int = 7
    end: datetime = field(kw_only=True)  # end of history (exclusive), timezone-aware

    def __post_init__(self) -> None:
        if self.cities < 1:
            raise ValueError("cities must be >= 1")
        for name in ("venues", "items_per_venue", "users", "days", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.end.tzinfo is None:
            raise ValueError("end must be timezone-aware")

    @property
    def start(self) -> datetime:
        """The first instant of history: `days` before `end`."""
        return self.end - timedelta(days=self.days)


def to_the_minute(instant: datetime) -> datetime:
    """`instant` floored to the minute (the default end of a seeded world is now, floored, so
    two runs in the same minute generate the same world)."""
    return instant.replace(second=0, microsecond=0)


# --- fixed reference data -------------------------------------------------------------------


@dataclass(frozen=True)
class CitySpec:
    name: str
    lat: float
    lon: float
    timezone: str
    weight: float  # relative size: share of venues and users, and how spread out it is


CITIES: tuple[CitySpec, ...] = (
    CitySpec("Berlin", 52.5200, 13.4050, "Europe/Berlin", 3.7),
    CitySpec("Madrid", 40.4168, -3.7038, "Europe/Madrid", 3.3),
    CitySpec("Rome", 41.9028, 12.4964, "Europe/Rome", 2.8),
    CitySpec("Paris", 48.8566, 2.3522, "Europe/Paris", 2.2),
    CitySpec("Vienna", 48.2082, 16.3738, "Europe/Vienna", 1.9),
    CitySpec("Warsaw", 52.2297, 21.0122, "Europe/Warsaw", 1.8),
    CitySpec("Prague", 50.0755, 14.4378, "Europe/Prague", 1.3),
    CitySpec("Stockholm", 59.3293, 18.0686, "Europe/Stockholm", 1.0),
    CitySpec("Amsterdam", 52.3676, 4.9041, "Europe/Amsterdam", 0.9),
    CitySpec("Helsinki", 60.1699, 24.9384, "Europe/Helsinki", 0.7),
    CitySpec("Copenhagen", 55.6761, 12.5683, "Europe/Copenhagen", 0.65),
    CitySpec("Lisbon", 38.7223, -9.1393, "Europe/Lisbon", 0.55),
)


@dataclass(frozen=True)
class Cuisine:
    slug: str
    title: str
    share: float  # share of venues, and the prior of user tastes
    base_price: int  # a typical main, in minor units, at price level 2
    shop: bool = False  # grocery-like: long opening hours, no meal-time peaks


CUISINES: tuple[Cuisine, ...] = (
    Cuisine("pizza", "Pizza", 0.15, 1100),
    Cuisine("burger", "Burger", 0.13, 1050),
    Cuisine("sushi", "Sushi", 0.08, 1500),
    Cuisine("indian", "Indian", 0.08, 1250),
    Cuisine("thai", "Thai", 0.06, 1200),
    Cuisine("grocery", "Grocery", 0.10, 350, shop=True),
    Cuisine("bakery", "Bakery", 0.05, 300, shop=True),
    Cuisine("vegan", "Vegan", 0.04, 1150),
    Cuisine("mexican", "Mexican", 0.06, 1050),
    Cuisine("chinese", "Chinese", 0.09, 1000),
    Cuisine("italian", "Italian", 0.08, 1350),
    Cuisine("kebab", "Kebab", 0.08, 800),
)

# Category ids: two parents, one category per cuisine, then menu sections shared by all.
PARENT_CATEGORIES: tuple[tuple[int, str, str], ...] = (
    (1, "Restaurants", "restaurants"),
    (2, "Shops", "shops"),
)
CUISINE_CATEGORY_BASE = 3  # cuisine i -> category id 3 + i
SECTIONS: tuple[tuple[str, str, float], ...] = (  # slug, item word, price factor vs a main
    ("sides", "side", 0.4),
    ("drinks", "drink", 0.3),
    ("desserts", "dessert", 0.5),
)
SECTION_CATEGORY_BASE = CUISINE_CATEGORY_BASE + len(CUISINES)

SEGMENTS: tuple[str, ...] = ("new", "regular", "vip", "student")
SEGMENT_SHARE = (0.2, 0.5, 0.1, 0.2)
SEGMENT_RATE = (0.5, 1.0, 3.0, 1.2)  # multiplies a user's base order rate

CHAIN_WORDS = ("Golden", "Urban", "Happy", "Royal", "Little", "Big", "Green", "Lucky")
OWNERS = ("Marco", "Anna", "Yuki", "Raj", "Sofia", "Ali", "Lena", "Chen", "Pablo", "Mia")

WEEKDAY_FACTOR = (0.85, 0.85, 0.9, 0.95, 1.2, 1.3, 1.25)  # Monday..Sunday order volume
BROWSE_RATIO = 0.5  # sessions without an order, per ordering session
CONSIDERED = 12  # venues a user actually orders from / sees in discovery, at most
DISTANCE_DECAY_M = 2000.0
POPULARITY_EXPONENT = 1.5  # word of mouth: demand concentrates beyond raw popularity
SESSION_LEAD_S = 1500  # a discovery session starts at most this long before its order
PRICE_LEVEL_FACTOR = (0.8, 1.0, 1.3, 1.7)
SEQ_SPAN = 1 << 40  # more events than any run will make


# --- small helpers --------------------------------------------------------------------------


class Draws:
    """Buffered scalar draws from one Generator: per-call numpy overhead would dominate."""

    def __init__(self, rng: np.random.Generator, size: int = 1 << 15) -> None:
        self._rng = rng
        self._size = size
        self._u: Iterator[float] = iter(())
        self._n: Iterator[float] = iter(())

    def uniform(self) -> float:
        x = next(self._u, None)
        if x is None:
            self._u = iter(self._rng.random(self._size).tolist())
            x = next(self._u)
        return x

    def normal(self) -> float:
        x = next(self._n, None)
        if x is None:
            self._n = iter(self._rng.standard_normal(self._size).tolist())
            x = next(self._n)
        return x

    def below(self, n: int) -> int:
        return min(int(self.uniform() * n), n - 1)

    def between(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.uniform()

    def pick(self, cumulative: list[float]) -> int:
        """An index drawn with probabilities given as a cumulative list ending at 1."""
        return min(
            bisect.bisect_right(cumulative, self.uniform() * cumulative[-1]), len(cumulative) - 1
        )


def allocate(total: int, weights: list[float]) -> list[int]:
    """Split `total` proportionally to `weights` (largest remainder), deterministically."""
    scale = sum(weights)
    exact = [total * w / scale for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def offset_points(
    rng: np.random.Generator, lat: float, lon: float, sigma_m: float, n: int
) -> tuple[FloatArray, FloatArray]:
    """Points normally scattered (in metres) around a centre, converted to degrees."""
    north = rng.normal(0.0, sigma_m, n)
    east = rng.normal(0.0, sigma_m, n)
    lats = lat + north / M_PER_DEG_LAT
    lons = lon + east / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    return np.round(lats, 6), np.round(lons, 6)


def _mix(*parts: int) -> int:
    """A stable 64-bit hash (splitmix64 steps): per-(user, venue) favourites without state."""
    x = 0
    for part in parts:
        x = (x + part + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return x


@functools.lru_cache(maxsize=4096)  # a session's events share timestamps
def iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def hhmm(minute: int) -> str:
    return f"{minute // 60 % 24:02d}:{minute % 60:02d}"


def _base(kind: str, seed: int, n: int) -> EventDict:
    return {"type": kind, "schema_version": 1, "event_id": f"seed{seed}-{kind}-{n}"}


def _upsert(kind: str, seed: int, n: int) -> EventDict:
    return {**_base(kind, seed, n), "version": 1}


# --- the catalog ----------------------------------------------------------------------------

Window = tuple[int, int, int]  # weekday, opens minute, closes minute (closes <= opens: overnight)


@dataclass(frozen=True)
class Banner:
    banner_id: int
    name: str
    city_ids: list[int]
    category_ids: list[int]
    brand_ids: list[int]
    venue_ids: list[int]
    segments: list[str]
    starts_at: int
    ends_at: int
    active: bool


@dataclass
class Catalog:
    cities: list[CitySpec]
    venue_city: IntArray  # city index per venue index
    venue_cuisine: IntArray
    venue_brand: list[int | None]
    lat: FloatArray
    lon: FloatArray
    radius: IntArray
    popularity: FloatArray
    active: npt.NDArray[np.bool_]
    names: list[str] = field(default_factory=list)
    price_level: list[int] = field(default_factory=list)
    rating: list[float] = field(default_factory=list)
    hours: list[list[Window]] = field(default_factory=list)
    first_item: list[int] = field(default_factory=list)  # item ids of venue v: first .. first+n-1
    item_count: list[int] = field(default_factory=list)
    item_category: list[int] = field(default_factory=list)  # by item id - 1
    item_name: list[str] = field(default_factory=list)
    item_price: list[int] = field(default_factory=list)
    item_available: list[bool] = field(default_factory=list)
    available: list[list[int]] = field(default_factory=list)  # per venue, menu order
    brand_names: list[str] = field(default_factory=list)
    banners: list[Banner] = field(default_factory=list)


def _pick_cities(n: int) -> list[CitySpec]:
    """The fixed list, cycled with a numeric suffix when more cities are asked for."""
    picked = []
    for i in range(n):
        spec = CITIES[i % len(CITIES)]
        lap = i // len(CITIES)
        picked.append(
            spec
            if lap == 0
            else CitySpec(f"{spec.name} {lap + 1}", spec.lat, spec.lon, spec.timezone, spec.weight)
        )
    return picked


def _spread_m(city: CitySpec) -> float:
    return 1500.0 + 600.0 * city.weight


def _chain_sizes(venues: int) -> list[int]:
    """About a third of venues belong to chains of >= 2 venues, sizes falling off with rank."""
    chains = max(1, round(venues * 0.05)) if venues >= 4 else 0
    if chains == 0:
        return []
    in_chains = max(2 * chains, round(venues * 0.35))
    extra = allocate(in_chains - 2 * chains, [1.0 / (rank + 1) ** 0.8 for rank in range(chains)])
    return [2 + e for e in extra]


def _layout_venues(
    config: WorldConfig, rng: np.random.Generator, cities: list[CitySpec]
) -> tuple[list[int], list[int | None], list[int], list[str]]:
    """City, brand (chain index or None) and cuisine of every venue; chains span cities."""
    quota = allocate(config.venues, [c.weight for c in cities])
    shares = np.array([c.share for c in CUISINES])
    shares /= shares.sum()
    sizes = _chain_sizes(config.venues)
    chain_cuisines = rng.choice(len(CUISINES), size=len(sizes), p=shares).tolist()
    per_city: list[list[tuple[int | None, int]]] = [[] for _ in cities]
    for chain, size in enumerate(sizes):
        for k in range(size):
            city = _next_city_with_room(quota, per_city, chain + k)
            per_city[city].append((chain, chain_cuisines[chain]))
    independent = rng.choice(len(CUISINES), size=config.venues, p=shares).tolist()
    order: list[int] = []
    brand: list[int | None] = []
    cuisine: list[int] = []
    for city, members in enumerate(per_city):
        while len(members) < quota[city]:
            members.append((None, independent.pop()))
        for chain_index, cuisine_index in members:
            order.append(city)
            brand.append(chain_index)
            cuisine.append(cuisine_index)
    names = _brand_names(sizes, chain_cuisines)
    return order, brand, cuisine, names


def _next_city_with_room(quota: list[int], per_city: list[list[Any]], start: int) -> int:
    for step in range(len(quota)):
        city = (start + step) % len(quota)
        if len(per_city[city]) < quota[city]:
            return city
    raise AssertionError("chains hold fewer venues than the total")


def _brand_names(sizes: list[int], cuisines: list[int]) -> list[str]:
    names = []
    for chain in range(len(sizes)):
        word = CHAIN_WORDS[chain % len(CHAIN_WORDS)]
        lap = chain // len(CHAIN_WORDS)
        suffix = f" {lap + 1}" if lap else ""
        names.append(f"{word} {CUISINES[cuisines[chain]].title}{suffix}")
    return names


def _opening_hours(cuisine: Cuisine, draws: Draws) -> list[Window]:
    """Weekly windows: shops open long, bakeries early; restaurants standard, late or split."""
    closed_day = -1
    if cuisine.shop:
        if cuisine.slug == "bakery":
            opens, closes = [390, 420][draws.below(2)], [1080, 1140][draws.below(2)]
        else:  # 0: until midnight
            opens, closes = [420, 480][draws.below(2)], [1260, 1320, 1380, 0][draws.below(4)]
        if draws.uniform() < 0.4:
            closed_day = 6
        return [(d, opens, closes) for d in range(7) if d != closed_day]
    if draws.uniform() < 0.3:
        closed_day = [0, 1, 6][draws.below(3)]
    style = draws.uniform()
    windows: list[Window] = []
    for day in range(7):
        if day == closed_day:
            continue
        if style < 0.2:  # split lunch / dinner service
            windows += [(day, 690, 870), (day, 1050, 1350)]
        elif style < 0.4:  # late nights, past midnight at weekends
            windows.append((day, 720 if day >= 5 else 1020, 120 if day >= 4 else 1425))
        else:
            windows.append(
                (day, [660, 690, 720][draws.below(3)], [1320, 1350, 1380][draws.below(3)])
            )
    return windows


def build_catalog(config: WorldConfig, rng: np.random.Generator, draws: Draws) -> Catalog:
    cities = _pick_cities(config.cities)
    city_of, brand, cuisine, brand_names = _layout_venues(config, rng, cities)
    n = config.venues
    venue_city = np.array(city_of, dtype=np.int64)
    lat, lon = np.zeros(n), np.zeros(n)
    for c, city in enumerate(cities):
        mask = venue_city == c
        lat[mask], lon[mask] = offset_points(
            rng, city.lat, city.lon, _spread_m(city), int(mask.sum())
        )
    chain = np.array([b is not None for b in brand], dtype=bool)
    popularity = (1.0 + rng.pareto(1.0, n)) * np.where(chain, 1.5, 1.0)
    catalog = Catalog(
        cities=cities,
        venue_city=venue_city,
        venue_cuisine=np.array(cuisine, dtype=np.int64),
        venue_brand=brand,
        lat=lat,
        lon=lon,
        radius=(rng.integers(20, 81, n) * 100).astype(np.int64),
        popularity=popularity,
        active=chain | (rng.random(n) >= 0.05),
        brand_names=brand_names,
    )
    _describe_venues(catalog, rng, draws)
    _build_menus(config, catalog, rng, draws)
    catalog.banners = _build_banners(config, catalog, draws)
    return catalog


def _describe_venues(catalog: Catalog, rng: np.random.Generator, draws: Draws) -> None:
    n = len(catalog.venue_brand)
    levels = rng.choice(4, size=n, p=[0.3, 0.4, 0.2, 0.1]) + 1
    nudge = 0.15 * np.log(catalog.popularity)  # popular places rate a little better
    ratings = np.clip(3.0 + 2.0 * rng.beta(4.0, 2.0, n) + nudge - 0.1, 3.0, 5.0)
    catalog.price_level = levels.tolist()
    catalog.rating = np.round(ratings, 1).tolist()
    seen: dict[tuple[int, int], int] = {}
    for v in range(n):
        city = catalog.cities[int(catalog.venue_city[v])]
        cuisine = CUISINES[int(catalog.venue_cuisine[v])]
        b = catalog.venue_brand[v]
        if b is None:
            catalog.names.append(f"{OWNERS[draws.below(len(OWNERS))]}'s {cuisine.title}")
        else:
            key = (b, int(catalog.venue_city[v]))
            seen[key] = seen.get(key, 0) + 1
            number = f" #{seen[key]}" if seen[key] > 1 else ""
            catalog.names.append(f"{catalog.brand_names[b]} {city.name}{number}")
        catalog.hours.append(_opening_hours(cuisine, draws))


def _menu_sizes(config: WorldConfig, catalog: Catalog, rng: np.random.Generator) -> list[int]:
    """Gamma-spread sizes averaging `items_per_venue`; shops carry more items."""
    n = len(catalog.venue_brand)
    shop = np.array([CUISINES[int(c)].shop for c in catalog.venue_cuisine], dtype=bool)
    raw = rng.gamma(4.0, 0.25, n) * np.where(shop, 1.6, 1.0)
    if n:
        raw /= raw.mean()
    return (
        np.maximum(3, np.round(raw * config.items_per_venue)).astype(np.int64).tolist()
        if config.items_per_venue
        else [0] * n
    )


def _build_menus(
    config: WorldConfig, catalog: Catalog, rng: np.random.Generator, draws: Draws
) -> None:
    next_id = 1
    for v, size in enumerate(_menu_sizes(config, catalog, rng)):
        cuisine_index = int(catalog.venue_cuisine[v])
        level = catalog.price_level[v]
        catalog.first_item.append(next_id)
        catalog.item_count.append(size)
        menu = []
        for k in range(size):
            category, name, price = _menu_item(cuisine_index, level, k, draws)
            available = k == 0 or draws.uniform() >= 0.07
            catalog.item_category.append(category)
            catalog.item_name.append(name)
            catalog.item_price.append(price)
            catalog.item_available.append(available)
            if available:
                menu.append(next_id + k)
        catalog.available.append(menu)
        next_id += size


def _menu_item(cuisine_index: int, level: int, k: int, draws: Draws) -> tuple[int, str, int]:
    cuisine = CUISINES[cuisine_index]
    section = -1  # a main, in the cuisine's own category
    roll = draws.uniform()
    if cuisine.shop:
        section = 1 if roll < 0.15 else -1
    elif roll < 0.4:
        section = 0 if roll < 0.15 else (1 if roll < 0.3 else 2)
    factor = 1.0 if section < 0 else SECTIONS[section][2]
    raw = (
        cuisine.base_price * PRICE_LEVEL_FACTOR[level - 1] * factor * math.exp(0.3 * draws.normal())
    )
    price = min(3490, max(250, round(raw / 50) * 50 - 10))
    if section < 0:
        return CUISINE_CATEGORY_BASE + cuisine_index, f"{cuisine.title} item {k + 1}", price
    _, word, _ = SECTIONS[section]
    return SECTION_CATEGORY_BASE + section, f"{cuisine.title} {word} {k + 1}", price


def _build_banners(config: WorldConfig, catalog: Catalog, draws: Draws) -> list[Banner]:
    count = max(4, min(20, config.venues // 12))
    start = int(config.start.timestamp())
    banners = []
    for b in range(count):
        starts = start + int(draws.between(-7, max(config.days, 1)) * 24) * 3600
        ends = starts + int(draws.between(3, 28) * 24) * 3600
        fields = _banner_targeting(b % 5, catalog, draws)
        banners.append(
            Banner(
                banner_id=b + 1,
                starts_at=starts,
                ends_at=ends,
                active=draws.uniform() >= 0.1,
                **fields,
            )
        )
    return banners


def _banner_targeting(kind: int, catalog: Catalog, draws: Draws) -> dict[str, Any]:
    """Five flavours: city-wide, cuisine promo, brand promo, segment offer, venue spotlight."""
    city = draws.below(len(catalog.cities))
    city_name = catalog.cities[city].name
    out: dict[str, Any] = {
        "city_ids": [city + 1],
        "category_ids": [],
        "brand_ids": [],
        "venue_ids": [],
        "segments": [],
    }
    if kind == 0:
        out["name"] = f"Free delivery in {city_name}"
    elif kind == 1:
        cuisine = draws.below(len(CUISINES))
        out |= {
            "name": f"20% off {CUISINES[cuisine].title}",
            "category_ids": [CUISINE_CATEGORY_BASE + cuisine],
        }
    elif kind == 2 and catalog.brand_names:
        brand = draws.below(len(catalog.brand_names))
        out |= {
            "name": f"New at {catalog.brand_names[brand]}",
            "brand_ids": [brand + 1],
            "city_ids": [],
        }
    elif kind == 3:
        segment = SEGMENTS[[0, 3, 2][draws.below(3)]]
        out |= {"name": f"Offer for {segment} customers", "segments": [segment]}
    elif len(catalog.venue_brand):
        venue = draws.below(len(catalog.venue_brand))
        city = int(catalog.venue_city[venue])
        out |= {
            "name": f"Spotlight: {catalog.names[venue]}",
            "venue_ids": [venue + 1],
            "city_ids": [city + 1],
        }
    else:
        out["name"] = f"Welcome to {city_name}"
    return out


# --- catalog events -------------------------------------------------------------------------


def catalog_events(config: WorldConfig, catalog: Catalog) -> Iterator[EventDict]:
    seed = config.seed
    for i, city in enumerate(catalog.cities):
        yield {
            **_upsert("city.upserted", seed, i + 1),
            "city_id": i + 1,
            "name": city.name,
            "lat": city.lat,
            "lon": city.lon,
            "timezone": city.timezone,
        }
    for b, name in enumerate(catalog.brand_names):
        yield {**_upsert("brand.upserted", seed, b + 1), "brand_id": b + 1, "name": name}
    yield from _category_events(seed)
    yield from _venue_events(seed, catalog)
    yield from _item_events(seed, catalog)
    for banner in catalog.banners:
        yield _banner_event(seed, banner)


def _category_events(seed: int) -> Iterator[EventDict]:
    rows: list[tuple[int, str, str, int | None]] = [
        (i, name, slug, None) for i, name, slug in PARENT_CATEGORIES
    ]
    for i, cuisine in enumerate(CUISINES):
        rows.append(
            (CUISINE_CATEGORY_BASE + i, cuisine.title, cuisine.slug, 2 if cuisine.shop else 1)
        )
    for i, (slug, _, _) in enumerate(SECTIONS):
        rows.append((SECTION_CATEGORY_BASE + i, slug.capitalize(), slug, None))
    for n, (category_id, name, slug, parent) in enumerate(rows, start=1):
        yield {
            **_upsert("category.upserted", seed, n),
            "category_id": category_id,
            "name": name,
            "slug": slug,
            "parent_id": parent,
        }


def _venue_events(seed: int, catalog: Catalog) -> Iterator[EventDict]:
    lats, lons, radii = catalog.lat.tolist(), catalog.lon.tolist(), catalog.radius.tolist()
    active = catalog.active.tolist()
    for v, brand in enumerate(catalog.venue_brand):
        cuisine = int(catalog.venue_cuisine[v])
        yield {
            **_upsert("venue.upserted", seed, v + 1),
            "venue_id": v + 1,
            "city_id": int(catalog.venue_city[v]) + 1,
            "name": catalog.names[v],
            "brand_id": None if brand is None else brand + 1,
            "lat": lats[v],
            "lon": lons[v],
            "delivery_radius_m": radii[v],
            "cuisines": [CUISINES[cuisine].slug],
            "category_ids": [CUISINE_CATEGORY_BASE + cuisine],
            "price_level": catalog.price_level[v],
            "rating": catalog.rating[v],
            "opening_hours": [
                {"weekday": d, "opens": hhmm(o), "closes": hhmm(c)} for d, o, c in catalog.hours[v]
            ],
            "active": active[v],
        }


def _item_events(seed: int, catalog: Catalog) -> Iterator[EventDict]:
    for v, first in enumerate(catalog.first_item):
        for item_id in range(first, first + catalog.item_count[v]):
            i = item_id - 1
            yield {
                **_upsert("item.upserted", seed, item_id),
                "item_id": item_id,
                "venue_id": v + 1,
                "category_id": catalog.item_category[i],
                "name": catalog.item_name[i],
                "price": catalog.item_price[i],
                "available": catalog.item_available[i],
            }


def _banner_event(seed: int, banner: Banner) -> EventDict:
    return {
        **_upsert("banner.upserted", seed, banner.banner_id),
        "banner_id": banner.banner_id,
        "name": banner.name,
        "city_ids": banner.city_ids,
        "category_ids": banner.category_ids,
        "brand_ids": banner.brand_ids,
        "venue_ids": banner.venue_ids,
        "segments": banner.segments,
        "starts_at": iso(banner.starts_at),
        "ends_at": iso(banner.ends_at),
        "active": banner.active,
    }


# --- users ----------------------------------------------------------------------------------


@dataclass
class Users:
    city: IntArray
    lat: FloatArray
    lon: FloatArray
    segment: IntArray
    rate: FloatArray  # expected orders per day (0: no venue delivers to them)
    considered: IntArray  # (users, CONSIDERED) venue indices, best first, -1 padded
    cumulative: FloatArray  # (users, CONSIDERED) cumulative choice weights over `considered`


def build_users(config: WorldConfig, catalog: Catalog, rng: np.random.Generator) -> Users:
    n = config.users
    counts = allocate(n, [c.weight for c in catalog.cities])
    city = rng.permutation(np.repeat(np.arange(len(counts)), counts)).astype(np.int64)
    lat, lon = np.zeros(n), np.zeros(n)
    for c, spec in enumerate(catalog.cities):
        mask = city == c
        lat[mask], lon[mask] = offset_points(
            rng, spec.lat, spec.lon, 1.3 * _spread_m(spec), int(mask.sum())
        )
    segment = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_SHARE).astype(np.int64)
    # Heavy-tailed appetite: median about two orders a month, a long tail of daily orderers.
    rate = np.minimum(
        np.exp(rng.normal(math.log(0.07), 1.0, n)) * np.array(SEGMENT_RATE)[segment], 1.5
    )
    shares = np.array([c.share for c in CUISINES])
    taste = (
        rng.dirichlet(2.0 * shares / shares.sum(), size=n) if n else np.zeros((0, len(CUISINES)))
    )
    users = Users(
        city,
        lat,
        lon,
        segment,
        rate,
        np.full((n, CONSIDERED), -1, dtype=np.int64),
        np.zeros((n, CONSIDERED)),
    )
    for c in range(len(catalog.cities)):
        _consider(users, taste, catalog, rng, c)
    users.rate[users.considered[:, 0] < 0] = 0.0
    return users


def _consider(
    users: Users, taste: FloatArray, catalog: Catalog, rng: np.random.Generator, city: int
) -> None:
    """Each user's consideration set: venues that deliver home, sampled without replacement
    with weight popularity x taste(cuisine) x distance decay (Gumbel top-k), best first."""
    venues = np.flatnonzero((catalog.venue_city == city) & catalog.active)
    members = np.flatnonzero(users.city == city)
    if venues.size == 0 or members.size == 0:
        return
    k = min(CONSIDERED, venues.size)
    log_pop = POPULARITY_EXPONENT * np.log(catalog.popularity[venues])
    threshold = np.sin(np.maximum(catalog.radius[venues] - 1.0, 0.0) / (2 * EARTH_RADIUS_M)) ** 2
    for chunk in np.array_split(members, max(1, members.size // 2048)):
        a = haversine_a(
            users.lat[chunk], users.lon[chunk], catalog.lat[venues], catalog.lon[venues]
        )
        log_w = (
            log_pop
            + np.log(taste[chunk][:, catalog.venue_cuisine[venues]] + 0.01)
            - 2 * EARTH_RADIUS_M * np.sqrt(a) / DISTANCE_DECAY_M  # small-angle distance
        )
        log_w = np.where(a <= threshold, log_w, -np.inf)
        keys = log_w - np.log(-np.log(rng.random(log_w.shape) + 1e-300) + 1e-300)
        top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(
            top, np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1), axis=1
        )
        chosen_w = np.take_along_axis(log_w, top, axis=1)
        valid = np.isfinite(chosen_w)
        weights = np.where(
            valid,
            np.exp(chosen_w - np.max(np.where(valid, chosen_w, -1e300), axis=1, keepdims=True)),
            0.0,
        )
        users.considered[chunk, :k] = np.where(valid, venues[top], -1)
        users.cumulative[chunk, :k] = np.cumsum(weights, axis=1)


def user_events(config: WorldConfig, users: Users) -> Iterator[EventDict]:
    cities, lats, lons, segments = (
        users.city.tolist(),
        users.lat.tolist(),
        users.lon.tolist(),
        users.segment.tolist(),
    )
    for u in range(config.users):
        yield {
            **_upsert("user.upserted", config.seed, u + 1),
            "user_id": u + 1,
            "city_id": cities[u] + 1,
            "home_lat": lats[u],
            "home_lon": lons[u],
            "segment": SEGMENTS[segments[u]],
        }


# --- history --------------------------------------------------------------------------------


def history_dates(config: WorldConfig) -> int:
    """How many dates, from the start's (UTC) date on, the window [start, end) touches: `days`
    when it runs midnight to midnight, one more when it starts and ends within a day."""
    if config.days == 0:
        return 0
    last = (config.end - timedelta(microseconds=1)).astimezone(UTC).date()
    return (last - config.start.astimezone(UTC).date()).days + 1


class History:
    """Simulates orders and discovery sessions one local day at a time into a time-ordered heap."""

    def __init__(self, config: WorldConfig, catalog: Catalog, users: Users, draws: Draws) -> None:
        self.config, self.catalog, self.users, self.draws = config, catalog, users, draws
        self.seed = config.seed
        self.start = int(config.start.timestamp())
        self.end = int(config.end.timestamp())
        self.zones = [ZoneInfo(c.timezone) for c in catalog.cities]
        self.hours = [weekly(h) for h in catalog.hours]  # local time, as published
        # Buffered events keyed by ts * SEQ_SPAN + seq: the seq keeps causal order within a
        # second. Plain int keys (not (ts, seq, event) tuples) sort fast and, unlike tuples
        # holding dicts, are not tracked by the garbage collector.
        self.keys: list[int] = []
        self.buffered: dict[int, EventDict] = {}
        self.seq = 0
        self.orders = self.activities = 0
        self.user_city = users.city.tolist()
        self.user_segment = users.segment.tolist()

    def emit(self, ts: int, event: EventDict) -> None:
        self.seq += 1
        key = ts * SEQ_SPAN + self.seq
        self.keys.append(key)
        self.buffered[key] = event

    def drain(self, before: int) -> Iterator[EventDict]:
        """Everything buffered earlier than `before`, in time order."""
        self.keys.sort()
        cut = bisect.bisect_left(self.keys, before * SEQ_SPAN)
        ready, self.keys = self.keys[:cut], self.keys[cut:]
        pop = self.buffered.pop
        for key in ready:
            yield pop(key)

    def run(self, rng: np.random.Generator) -> Iterator[EventDict]:
        first = self.config.start.astimezone(UTC).date()
        for d in range(history_dates(self.config)):
            day = first + timedelta(days=d)
            factor = WEEKDAY_FACTOR[day.weekday()]
            orders = rng.poisson(self.users.rate * factor)
            browses = rng.poisson(self.users.rate * factor * BROWSE_RATIO)
            for u in np.flatnonzero(orders + browses).tolist():
                for _ in range(int(orders[u])):
                    self.order(u, day)
                for _ in range(int(browses[u])):
                    self.browse(u, day)
            yield from self.drain(self.earliest_of(day + timedelta(days=1)))
        yield from self.drain(2**62)

    # -- time --

    def earliest_of(self, day: date) -> int:
        """No event of local `day` or later is earlier than this: the easternmost city's local
        midnight, less a session's lead (and an hour to spare)."""
        midnights = (datetime.combine(day, clock(), zone).timestamp() for zone in self.zones)
        return int(min(midnights)) - SESSION_LEAD_S - 3600

    def local_ts(self, u: int, day: date, minute: int) -> int | None:
        """UTC seconds for a local minute, or None if it doesn't exist (DST) or is out of range."""
        zone = self.zones[self.user_city[u]]
        second = self.draws.below(60)
        local = datetime.combine(day, clock(minute // 60, minute % 60, second), zone)
        ts = int(local.timestamp())
        back = datetime.fromtimestamp(ts, zone)
        if (back.hour, back.minute) != (local.hour, local.minute):
            return None
        if not self.start + 1800 <= ts < self.end:
            return None
        return ts

    def meal_minute(self, shop: bool) -> int:
        """Lunch and dinner peaks for restaurants; a flatter day with two bumps for shops."""
        roll = self.draws.uniform()
        if shop:
            hours = (
                10 + 1.5 * self.draws.normal()
                if roll < 0.35
                else (17.5 + 1.5 * self.draws.normal() if roll < 0.7 else self.draws.between(8, 22))
            )
        elif roll < 0.4:
            hours = 12.75 + 0.8 * self.draws.normal()
        elif roll < 0.9:
            hours = 19.5 + 1.1 * self.draws.normal()
        else:
            hours = self.draws.between(0, 24)
        return int(hours * 60) % 1440

    def order_time(self, u: int, v: int, day: date) -> int | None:
        hours = self.hours[v]
        weekday = day.weekday()
        shop = CUISINES[int(self.catalog.venue_cuisine[v])].shop
        for _ in range(6):
            minute = self.meal_minute(shop)
            if hours.open_at_minute(weekday * 1440 + minute):
                ts = self.local_ts(u, day, minute)
                if ts is not None:
                    return ts
        spans = hours.spans_on(weekday)
        if not spans:
            return None
        lo, hi = spans[self.draws.below(len(spans))]
        return self.local_ts(u, day, lo + self.draws.below(hi - lo))

    # -- choices --

    def considered(self, u: int) -> tuple[list[int], list[float]]:
        venues = [v for v in self.users.considered[u].tolist() if v >= 0]
        return venues, self.users.cumulative[u, : len(venues)].tolist()

    def favourites(self, u: int, v: int) -> list[int]:
        """A stable 1-3 favourite items per (user, venue), biased to the top of the menu."""
        menu = self.catalog.available[v]
        h = _mix(self.seed, u, v)
        picks = []
        for j in range(1 + h % 3):
            x = _mix(h, j) / 2.0**64
            item = menu[min(int(len(menu) * x**1.5), len(menu) - 1)]
            if item not in picks:
                picks.append(item)
        return picks

    def lines(self, u: int, v: int) -> list[tuple[int, int]]:
        menu = self.catalog.available[v]
        favourites = self.favourites(u, v)
        wanted = min(len(menu), 1 + self.draws.pick([0.35, 0.65, 0.82, 0.92, 0.97, 1.0]))
        items: list[int] = []
        for _ in range(4 * wanted):
            if len(items) == wanted:
                break
            if self.draws.uniform() < 0.65:
                item = favourites[self.draws.below(len(favourites))]
            else:
                item = menu[min(int(len(menu) * self.draws.uniform() ** 1.7), len(menu) - 1)]
            if item not in items:
                items.append(item)
        roll = [self.draws.uniform() for _ in items]
        return [
            (item, 1 if r < 0.85 else (2 if r < 0.97 else 3))
            for item, r in zip(items, roll, strict=True)
        ]

    # -- sessions --

    def order(self, u: int, day: date) -> None:
        venues, cumulative = self.considered(u)
        for _ in range(3):  # the first pick may be closed that day
            v = venues[self.draws.pick(cumulative)]
            placed = self.order_time(u, v, day)
            if placed is not None:
                self.emit_order(u, v, placed, venues)
                return

    def emit_order(self, u: int, v: int, placed: int, venues: list[int]) -> None:
        lines = self.lines(u, v)
        session = placed - int(self.draws.between(300, SESSION_LEAD_S))
        self.discovery(u, session, venues, ordered=v)
        clicked = session + int(self.draws.between(20, 120))
        for k, (item, _) in enumerate(lines):
            at = clicked + (placed - clicked) * (k + 1) // (len(lines) + 1)
            self.activity(u, at, "add_to_cart", "venue", venue_id=v + 1, item_id=item)
        self.orders += 1
        n = self.orders
        prices = self.catalog.item_price
        event = {
            **_base("order.completed", self.seed, n),
            "order_id": f"S-{n:06d}",
            "user_id": u + 1,
            "venue_id": v + 1,
            "city_id": self.user_city[u] + 1,
            "placed_at": iso(placed),
            "total": sum(prices[item - 1] * qty for item, qty in lines),
            "lines": [
                {"item_id": item, "quantity": qty, "line_no": k + 1}
                for k, (item, qty) in enumerate(lines)
            ],
        }
        self.emit(placed, event)

    def browse(self, u: int, day: date) -> None:
        """A discovery session without an order: impressions, a few clicks, rare abandoned carts."""
        venues, _ = self.considered(u)
        if not venues:
            return
        ts = self.local_ts(u, day, self.meal_minute(shop=False))
        if ts is None:
            return
        clicked = self.discovery(u, ts, venues, ordered=None)
        for v in clicked:
            if self.draws.uniform() < 0.1 and self.catalog.available[v]:
                item = self.catalog.available[v][self.draws.below(len(self.catalog.available[v]))]
                self.activity(u, ts + 90, "add_to_cart", "venue", venue_id=v + 1, item_id=item)

    def discovery(self, u: int, ts: int, venues: list[int], ordered: int | None) -> list[int]:
        """Impressions of several considered venues with positions; clicks at a low rate, almost
        always on the venue then ordered from. Returns the clicked venues."""
        shown = self.shown(venues, ordered)
        clicked = []
        for position, v in enumerate(shown):
            self.activity(u, ts, "impression", "discovery", venue_id=v + 1, position=position)
        for position, v in enumerate(shown):
            if self.draws.uniform() < (0.95 if v == ordered else 0.12):
                self.activity(
                    u, ts + 5 + position, "click", "discovery", venue_id=v + 1, position=position
                )
                clicked.append(v)
        self.banner(u, ts)
        return clicked

    def shown(self, venues: list[int], ordered: int | None) -> list[int]:
        want = min(len(venues), 4 + self.draws.below(5))
        pool = venues[:]
        shown: list[int] = []
        if ordered is not None:
            pool.remove(ordered)
            shown.append(ordered)
        while len(shown) < want and pool:
            shown.append(pool.pop(self.draws.below(len(pool))))
        # the ordered venue is usually, not always, near the top of the list
        if ordered is not None and len(shown) > 1:
            shown.insert(self.draws.below(min(len(shown), 3)), shown.pop(0))
        return shown

    def banner(self, u: int, ts: int) -> None:
        if self.draws.uniform() >= 0.3:
            return
        city, segment = self.user_city[u] + 1, SEGMENTS[self.user_segment[u]]
        for b in self.catalog.banners:
            targeted = (not b.city_ids or city in b.city_ids) and (
                not b.segments or segment in b.segments
            )
            if b.active and targeted and b.starts_at <= ts < b.ends_at:
                self.activity(u, ts, "impression", "banner", banner_id=b.banner_id, position=0)
                if self.draws.uniform() < 0.08:
                    self.activity(u, ts + 3, "click", "banner", banner_id=b.banner_id, position=0)
                return

    def activity(self, u: int, ts: int, kind: str, surface: str, **targets: int) -> None:
        self.activities += 1
        event = {
            "type": "activity",
            "schema_version": 1,
            "event_id": f"seed{self.seed}-activity-{self.activities}",
            "kind": kind,
            "surface": surface,
            "user_id": u + 1,
            "occurred_at": iso(ts),
            **targets,
        }
        self.emit(ts, event)


# --- entry point ----------------------------------------------------------------------------


def generate(config: WorldConfig) -> Iterator[dict[str, Any]]:
    """Catalog first (cities, brands, categories, venues, items, banners), then users, then
    orders and activity in time order."""
    rng = np.random.default_rng(config.seed)
    draws = Draws(rng)
    catalog = build_catalog(config, rng, draws)
    yield from catalog_events(config, catalog)
    users = build_users(config, catalog, rng)
    yield from user_events(config, users)
    yield from History(config, catalog, users, draws).run(rng)
