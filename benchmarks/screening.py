"""What screening a delivery costs a worker, per event, beside what Dramatiq alone does with
the same bodies, in the same run (pure CPU, one thread, no services):

  before (Dramatiq's consumer, plus larder's old screen): the body decoded twice
  larder's screen: size, signature (HMAC-SHA256 of the body), one decode, payload limits,
                   the envelope and its queue; unsigned and signed

for batches of 1,000 events and for single-event messages.

    python -m benchmarks.screening [--rounds 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dramatiq.message import Message

from domain.security.limits import PayloadLimits
from domain.security.signing import Keyring, Verification, sign
from synthetic.world import WorldConfig, generate
from workers.broker import Screen
from workers.publishing import batches

KEYRING = Keyring({"bench-1": b"the benchmark's signing key, 32 bytes"}, "bench-1")


def bodies(size: int) -> tuple[list[bytes], int]:
    """A seeded world's events as larder publishes them (batches of `size`), encoded."""
    config = WorldConfig(users=2000, venues=200, days=14, end=datetime(2026, 1, 19, tzinfo=UTC))
    events = list(generate(config))[: 58_000 if size > 1 else 10_000]
    return [m.copy(queue_name="events").encode() for m in batches(events, size)], len(events)


def best_of(rounds: int, run: Callable[[], Any]) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for size in (1000, 1):
        measure(size, args.rounds)


def measure(size: int, rounds: int) -> None:
    encoded, events = bodies(size)
    now = int(time.time() * 1000)
    headers = [sign(KEYRING, body, now) for body in encoded]
    actors = {"ingest": "events"}.get

    def screen(required: bool) -> Screen:
        return Screen(4 << 20, Verification(KEYRING, required), PayloadLimits(), actors)

    unsigned, signed = screen(False), screen(True)
    pairs = list(zip(encoded, headers, strict=True))
    assert all(not isinstance(signed("events", b, h, now), tuple) for b, h in pairs)
    results = {
        "dramatiq decode x2": best_of(
            rounds, lambda: [Message.decode(b) and Message.decode(b) for b in encoded]
        ),
        "larder screen, unsigned": best_of(
            rounds, lambda: [unsigned("events", b, None, now) for b in encoded]
        ),
        "larder screen, signed": best_of(
            rounds, lambda: [signed("events", b, h, now) for b, h in pairs]
        ),
    }
    base = results["dramatiq decode x2"]
    print(
        f"{events:,} events in {len(encoded):,} messages of up to {size}; best of {rounds} rounds"
    )
    for name, seconds in results.items():
        print(f"  {name:<26} {seconds / events * 1e6:6.2f} us/event   ratio {seconds / base:.2f}")


if __name__ == "__main__":
    main()
