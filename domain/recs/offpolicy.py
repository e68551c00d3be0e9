"""Offline evaluation of banner policies on logged impressions with propensities (pure).

A log row is one impression: the item shown, its slot, whether it was clicked, the logging
policy's propensity of showing that item in that slot, and a context (the segment the
evaluated policy may use). A target policy gives, per row, the probability it would have shown
the logged item in the logged slot (`pi`). Estimators of the target's click-through:

- replay (Li, Chu, Langford, Wang, WSDM 2011): on a uniformly random log, draw the target's
  item for the slot and keep the rows where it equals the logged one; their mean click;
- IPS: mean of click x pi / propensity; clipped IPS: the weight capped at `clip`;
- SNIPS: sum(click x w) / sum(w).

Intervals are 95 %: normal for IPS (the delta method for SNIPS), Wilson for proportions
(observed click-through, replay's kept rows).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from domain.recs.banners import (
    DEFAULT_SETTINGS,
    BannerRow,
    BannerSettings,
    StatRow,
    posteriors,
)

FloatArray = npt.NDArray[np.float64]
Z95 = 1.959964


class LogRow(NamedTuple):
    at: datetime
    item: int
    slot: int  # 0-based
    click: bool
    propensity: float
    segment: str  # the context the evaluated policy may use


class Estimate(NamedTuple):
    value: float
    low: float
    high: float
    rows: int  # rows used (replay: matched)

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimate": round(self.value, 6),
            "ci95": [round(self.low, 6), round(self.high, 6)],
            "rows": self.rows,
        }

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


def observed(rows: Sequence[LogRow]) -> Estimate:
    """The log's own click-through (the logging policy on-policy), Wilson interval."""
    return wilson(sum(r.click for r in rows), len(rows))


def wilson(clicks: int, n: int) -> Estimate:
    """A binomial proportion with its 95 % Wilson interval (sound at 0 clicks, unlike the
    normal one: sparse clicks are the rule here)."""
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    p, z2 = clicks / n, Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Estimate(p, max(centre - half, 0.0), min(centre + half, 1.0), n)


def _mean(values: FloatArray) -> Estimate:
    n = len(values)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(values.mean())
    se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return Estimate(mean, mean - Z95 * se, mean + Z95 * se, n)


def ips(rows: Sequence[LogRow], pi: FloatArray, clip: float | None = None) -> Estimate:
    w = pi / np.array([r.propensity for r in rows])
    if clip is not None:
        w = np.minimum(w, clip)
    return _mean(w * np.array([r.click for r in rows], dtype=np.float64))


def snips(rows: Sequence[LogRow], pi: FloatArray) -> Estimate:
    w = pi / np.array([r.propensity for r in rows])
    r = np.array([row.click for row in rows], dtype=np.float64)
    n, total = len(rows), float(w.sum())
    if n == 0 or total == 0:
        return Estimate(math.nan, math.nan, math.nan, n)
    value = float((w * r).sum() / total)
    se = math.sqrt(float(((w * (r - value)) ** 2).sum())) / total
    return Estimate(value, value - Z95 * se, value + Z95 * se, n)


def replay(rows: Sequence[LogRow], choose: Callable[[LogRow], int], min_rows: int = 1) -> Estimate:
    """Li et al.'s replay: `choose` draws the target's item for the row's slot and context."""
    kept = [r.click for r in rows if choose(r) == r.item]
    if len(kept) < min_rows:
        return Estimate(math.nan, math.nan, math.nan, len(kept))
    return wilson(sum(kept), len(kept))


# --- policies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotPolicy:
    """A stochastic policy as per (segment, slot) probabilities over items."""

    items: Sequence[int]
    probabilities: Mapping[str, FloatArray]  # segment -> items x slots
    default: FloatArray  # an unknown segment

    def pi(self, rows: Sequence[LogRow]) -> FloatArray:
        column = {item: i for i, item in enumerate(self.items)}
        return np.array(
            [self._of(r)[column[r.item], r.slot] if r.item in column else 0.0 for r in rows]
        )

    def _of(self, row: LogRow) -> FloatArray:
        return self.probabilities.get(row.segment, self.default)

    def chooser(self, rng: np.random.Generator) -> Callable[[LogRow], int]:
        items = np.asarray(self.items)

        def choose(row: LogRow) -> int:
            p = self._of(row)[:, row.slot]
            return int(items[rng.choice(len(items), p=p / p.sum())])

        return choose


def uniform(items: Sequence[int], slots: int) -> SlotPolicy:
    table = np.full((len(items), slots), 1.0 / len(items))
    return SlotPolicy(list(items), {}, table)


def larder_policy(
    train: Sequence[LogRow],
    slots: int,
    rng: np.random.Generator,
    settings: BannerSettings = DEFAULT_SETTINGS,
    draws: int = 4000,
) -> SlotPolicy:
    """larder's banners policy trained on `train`: the hierarchical posteriors (all -> item ->
    item in segment; the log's single 'city') with position correction, and the probability
    that its Thompson sampling (plus the uniform share) puts each item in each slot."""
    items = sorted({r.item for r in train})
    stats = _stats(train)
    banners = [_as_banner(i) for i in items]
    model = posteriors(banners, stats, settings)
    segments = sorted({r.segment for r in train})
    tables = {s: _slot_table(model.beta, banners, s, slots, rng, settings, draws) for s in segments}
    default = _slot_table(model.beta, banners, "", slots, rng, settings, draws)
    return SlotPolicy(items, tables, default)


def _stats(rows: Sequence[LogRow]) -> list[StatRow]:
    counts: dict[tuple[int, str, int], list[int]] = {}
    for r in rows:
        cell = counts.setdefault((r.item, r.segment, r.slot), [0, 0])
        cell[0] += 1
        cell[1] += int(r.click)
    return [StatRow(i, 1, s, p, n, c) for (i, s, p), (n, c) in counts.items()]


def _as_banner(item: int) -> BannerRow:
    never = datetime(1970, 1, 1)
    return BannerRow(item, (), (), (), (), (), never, never, True)


def _slot_table(
    beta_of: Callable[[BannerRow, int, str], tuple[float, float]],
    banners: Sequence[BannerRow],
    segment: str,
    slots: int,
    rng: np.random.Generator,
    settings: BannerSettings,
    draws: int,
) -> FloatArray:
    """items x slots: eps / n + (1 - eps) x the share of posterior draws putting it there."""
    prior = np.array([beta_of(b, 1, segment) for b in banners])
    sampled = rng.beta(prior[:, 0], prior[:, 1], size=(draws, len(banners)))
    ranked = np.argsort(-sampled, axis=1)[:, :slots]
    table = np.zeros((len(banners), slots))
    for slot in range(slots):
        table[:, slot] = np.bincount(ranked[:, slot], minlength=len(banners)) / draws
    eps = settings.random_share
    return eps / len(banners) + (1 - eps) * table
