"""`larder simulate banners`: the banners surface against known truths, through the fleet.

A synthetic world (one city) and simulated banners go through RabbitMQ and intake; a model is
trained; then, round after round: every user's banner ordering is re-ranked by the real
`refresh_lists` actor (the job the change sweep sends), read through the real read path
(`store.recs.read`: flights, overrides, propensities), shown in 3 slots to the simulated user,
whose hidden click probabilities (synthetic/banners.py) decide the clicks; impressions (with
slot and propensity) and clicks go back through RabbitMQ and intake into the statistics the
next re-rank learns from. Random ordering, a global Thompson sampler and the oracle are scored
on the same users, eligible banners and truth. A good and a bad banner are added a third of
the way in. See `synthetic/banners.py` for the truth.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from store.db import Database
from store.recs import personal
from synthetic import banners as sim
from workers.publishing import publish


@dataclass(frozen=True)
class BannerSimConfig:
    users: int = 300
    venues: int = 40
    rounds: int = 24
    seed: int = 7


POLICIES = ("personalised", "random", "global", "oracle")


def run(
    config: BannerSimConfig,
    broker: Any,
    database: Database,
    echo: Callable[[str], object] = print,
) -> dict[str, Any]:
    """The whole simulation (see the module docstring); returns the report."""
    from actors.recs import enqueue_refresh, refresh_fallbacks
    from actors.recs.training import train_version
    from synthetic.world import WorldConfig, generate

    rng = np.random.default_rng(config.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    world = WorldConfig(
        cities=1, venues=config.venues, users=config.users, days=60, seed=config.seed, end=now
    )
    events = [e for e in generate(world) if _kept(e)]
    truth = sim.world_truth(events, now)
    truth.banners = sim.make_banners(truth, rng)
    events += [sim.banner_event(b, truth.city_id, now) for b in truth.banners]
    echo(f"publishing a world of {len(truth.users)} users and {len(truth.banners)} banners")
    publish(broker, events, 1000)
    _wait(database, lambda c: personal.known_users(c) >= len(truth.users), "the world")
    ids = [b.banner_id for b in truth.banners]  # published last: the world is in once they are
    _wait(database, lambda c: personal.known_banners(c, ids) == len(ids), "the banners")
    echo(f"trained {train_version()}; {refresh_fallbacks()} fallback lists")
    run_id = f"simb{uuid.uuid4().hex[:6]}"
    tallies = {p: sim.Tally() for p in POLICIES}
    global_ts, rounds, added = sim.GlobalThompson(), [], -1
    sent = 0
    for number in range(config.rounds):
        if number == config.rounds // 3:
            added = number
            _add_banners(broker, database, truth, now)
        started, clock = datetime.now(UTC), time.perf_counter()
        enqueue_refresh(truth.users, chunk=100)
        _wait(
            database,
            _at_least(personal.banner_rows_since, started, len(truth.users)),
            "re-rank",
        )
        rerank_s = time.perf_counter() - clock
        before = {p: (t.expected, t.shown) for p, t in tallies.items()}
        shown = _round(run_id, number, truth, database, rng, tallies, global_ts)
        clock = time.perf_counter()
        publish(broker, shown.events, 1000)
        sent += sum(1 for _ in shown.events)
        _wait(database, _at_least(personal.run_activity, run_id, sent), "intake")
        intake_s = time.perf_counter() - clock
        row = {"round": number, **{p: t.row() for p, t in tallies.items()}, **shown.tops}
        row["round_ctr"] = {
            p: round((t.expected - before[p][0]) / max(t.shown - before[p][1], 1), 5)
            for p, t in tallies.items()
        }
        row["seconds"] = {"rerank": round(rerank_s, 3), "intake": round(intake_s, 3)}
        rounds.append(row)
        echo(_line(row))
    return _report(config, tallies, rounds, added)


def _kept(event: dict[str, Any]) -> bool:
    """The world without its own banners and banner activity (the simulation brings its own)."""
    if event["type"] == "banner.upserted":
        return False
    return not (event["type"] == "activity" and event.get("surface") == "banner")


def _at_least(count: Callable[[Any, Any], int], arg: Any, wanted: int) -> Callable[[Any], bool]:
    return lambda connection: count(connection, arg) >= wanted


def _wait(
    database: Database, done: Callable[[Any], bool], what: str, timeout_s: float = 300
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with database.unit_of_work(single_statement=True) as uow:
            if done(uow.connection):
                return
        time.sleep(0.05)
    raise TimeoutError(f"waited {timeout_s:.0f} s for {what}: is the fleet running?")


def _add_banners(broker: Any, database: Database, truth: sim.Truth, now: datetime) -> None:
    extra = sim.mid_run_banners(truth)
    truth.banners += extra
    publish(broker, [sim.banner_event(b, truth.city_id, now) for b in extra], 1000)
    ids = [b.banner_id for b in extra]
    _wait(database, lambda c: personal.known_banners(c, ids) == len(ids), "new banners")


@dataclass
class Shown:
    events: list[dict[str, Any]]
    tops: dict[str, float]  # the mid-run banners' share of personalised slot-0 impressions


def _round(
    run_id: str,
    number: int,
    truth: sim.Truth,
    database: Database,
    rng: np.random.Generator,
    tallies: dict[str, sim.Tally],
    global_ts: sim.GlobalThompson,
) -> Shown:
    from store import recs

    events: list[dict[str, Any]] = []
    at = datetime.now(UTC) - timedelta(seconds=1)
    tops = {"good_top_share": 0.0, "bad_top_share": 0.0}
    with database.unit_of_work(single_statement=True) as uow:
        served = {u: recs.read(uow.connection, u, "banners") for u in truth.users}
    sessions = 0
    for user, found in served.items():
        if found is None or not found.ids:
            continue
        sessions += 1
        eligible = [b for b in found.ids if any(t.banner_id == b for t in truth.banners)]
        if not eligible:
            continue
        ctr = {b: truth.ctr(user, b) for b in eligible}
        best = max(ctr.values())
        shown = eligible[: sim.SLOTS]
        clicks = [rng.random() < ctr[b] * sim.EXAMINATION[p] for p, b in enumerate(shown)]
        props = (found.propensities or [1.0] * len(found.ids))[: len(shown)]
        events += sim.activity_events(f"{run_id}-{number}", user, shown, props, clicks, at)
        tallies["personalised"].add(ctr[shown[0]], best, clicks[0])
        pick = eligible[int(rng.integers(len(eligible)))]
        tallies["random"].add(ctr[pick], best, rng.random() < ctr[pick])
        pick = global_ts.choose(eligible, rng)
        click = rng.random() < ctr[pick]
        global_ts.update(pick, click)
        tallies["global"].add(ctr[pick], best, click)
        tallies["oracle"].add(best, best, rng.random() < best)
        tops["good_top_share"] += shown[0] == sim.GOOD
        tops["bad_top_share"] += shown[0] == sim.BAD
    return Shown(events, {k: round(v / max(sessions, 1), 4) for k, v in tops.items()})


def _line(row: dict[str, Any]) -> str:
    ctr = "  ".join(f"{p} {row['round_ctr'][p]:.4f}" for p in POLICIES)
    regret = "  ".join(f"{p} {row[p]['regret']:.1f}" for p in POLICIES[:3])  # cumulative
    return (
        f"round {row['round']:>3}  CTR {ctr}  | regret {regret}"
        f"  | top slot: good {row['good_top_share']:.2f} bad {row['bad_top_share']:.2f}"
        f"  | re-rank {row['seconds']['rerank']:.2f} s, intake {row['seconds']['intake']:.2f} s"
    )


def _report(
    config: BannerSimConfig, tallies: dict[str, sim.Tally], rounds: list[dict[str, Any]], added: int
) -> dict[str, Any]:
    ctr = {p: t.row()["ctr"] for p, t in tallies.items()}
    after = [r for r in rounds if r["round"] >= added] if added >= 0 else []
    late = after[len(after) // 2 :] or after
    good = float(np.mean([r["good_top_share"] for r in late])) if late else 0.0
    bad = float(np.mean([r["bad_top_share"] for r in late])) if late else 0.0
    personal, global_, oracle = ctr["personalised"], ctr["global"], ctr["oracle"]
    checks = {
        "beats_global": personal > global_ * 1.1
        and tallies["personalised"].regret < tallies["global"].regret,
        "good_banner_discovered": good > 0.2,
        "bad_banner_sinks": bad < 0.05,
    }
    last = rounds[-1]["round_ctr"] if rounds else {}
    return {
        "config": config.__dict__,
        "last_round_ctr": last,
        "last_round_ratio_to_oracle": (
            round(last["personalised"] / last["oracle"], 4) if last.get("oracle") else None
        ),
        "seconds_p50": {
            k: round(float(np.median([r["seconds"][k] for r in rounds])), 3)
            for k in ("rerank", "intake")
        }
        if rounds
        else {},
        "ctr": ctr,
        "regret": {p: round(t.regret, 3) for p, t in tallies.items()},
        "ratio_to_oracle": round(personal / oracle, 4) if oracle else None,
        "lift_over_global": round(personal / global_ - 1, 4) if global_ else None,
        "mid_run": {"added_at_round": added, "good_top_share": good, "bad_top_share": bad},
        "checks": checks,
        "passed": all(checks.values()),
        "rounds": rounds,
    }
