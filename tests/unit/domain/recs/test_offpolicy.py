"""Off-policy estimators on simulated logs with known truths (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from domain.recs import offpolicy as off
from domain.recs.offpolicy import LogRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TRUE_CTR = {1: 0.02, 2: 0.05, 3: 0.10}


def uniform_log(n: int, seed: int = 1) -> list[LogRow]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        item = int(rng.integers(1, 4))
        rows.append(
            LogRow(T0 + timedelta(seconds=i), item, 0, rng.random() < TRUE_CTR[item], 1 / 3, "")
        )
    return rows


def skewed_log(n: int, seed: int = 2) -> list[LogRow]:
    """Logged by a policy preferring item 1 (60 %), item 2 (30 %), item 3 (10 %)."""
    rng = np.random.default_rng(seed)
    p = {1: 0.6, 2: 0.3, 3: 0.1}
    rows = []
    for i in range(n):
        item = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
        rows.append(
            LogRow(T0 + timedelta(seconds=i), item, 0, rng.random() < TRUE_CTR[item], p[item], "")
        )
    return rows


def always(item: int) -> off.SlotPolicy:
    table = np.array([[1.0 if i == item else 0.0] for i in (1, 2, 3)])
    return off.SlotPolicy([1, 2, 3], {}, table)


def test_every_estimator_recovers_a_known_policys_click_through() -> None:
    # Given logs of a uniform and of a skewed policy, and a policy that always shows item 3
    best = always(3)
    for rows in (uniform_log(30_000), skewed_log(30_000)):
        pi = best.pi(rows)
        # Then IPS and SNIPS cover its true 10 %
        assert off.ips(rows, pi).covers(0.10)
        assert off.snips(rows, pi).covers(0.10)
    # And replay does on the uniform log
    rows = uniform_log(30_000)
    found = off.replay(rows, best.chooser(np.random.default_rng(0)))
    assert found.covers(0.10) and 9_000 < found.rows < 11_000


def test_clipping_caps_the_weights_and_so_biases_down() -> None:
    rows = skewed_log(30_000)
    pi = always(3).pi(rows)  # weight 10 on item 3's rows
    assert off.ips(rows, pi, clip=5.0).value < 0.6 * off.ips(rows, pi).value


def test_the_logging_policy_evaluated_on_its_own_log_covers_what_was_observed() -> None:
    rows = skewed_log(5_000)
    seen = off.observed(rows)
    logging_pi = np.array([r.propensity for r in rows])
    assert off.ips(rows, logging_pi).covers(seen.value)
    assert off.snips(rows, logging_pi).covers(seen.value)
    # and a uniform policy replayed on a uniform log lands near the log's own click-through
    rows = uniform_log(20_000)
    replayed = off.replay(rows, off.uniform([1, 2, 3], 1).chooser(np.random.default_rng(3)))
    assert replayed.low <= off.observed(rows).value <= replayed.high


def test_wilson_intervals_are_sound_with_no_clicks() -> None:
    found = off.wilson(0, 56)
    assert found.value == 0 and found.low == 0 and 0.05 < found.high < 0.08


def test_larders_policy_trained_on_a_log_prefers_the_better_item() -> None:
    train = uniform_log(30_000)
    policy = off.larder_policy(train, 1, np.random.default_rng(4), draws=2000)
    probabilities = policy.default[:, 0]
    assert probabilities.argmax() == 2  # item 3
    assert probabilities.min() >= 0.05 / 3 - 1e-12  # the uniform share keeps every item alive
