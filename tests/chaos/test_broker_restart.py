"""Restart RabbitMQ while publishing and consuming: publishers get a confirm or an error they
retry on a new connection (resuming from their first unconfirmed message), nothing confirmed
is lost, workers reconnect by themselves. A publisher that gives up says in one line how far
it got and that running it again is safe; running it again lands the rest, once."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.chaos import worlds
from tests.chaos.fleet import Fleet, wait_for
from tests.chaos.services import PrivatePostgres, PrivateRabbitMQ
from tests.chaos.test_worker_kills import applied_intake, assert_intake_exactly_once, published


def publisher(fleet: Fleet, *command: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        list(command),
        env=fleet.env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_restart_while_publishing_and_consuming(
    fleet: Fleet, private: tuple[PrivatePostgres, PrivateRabbitMQ], scratch: Path, figures: Any
) -> None:
    _, rabbitmq = private
    # Given a worker consuming, and `larder intake publish` sending ~30k events, 4 per message
    events = worlds.world(scratch / "world.jsonl", users=1200)
    fleet.worker("intake")
    running = publisher(fleet, "larder", "intake", "publish", str(events.path), "--batch-size", "4")
    url = fleet.database_url
    wait_for(lambda: applied_intake(url) > 500, 60, "the first events applied")
    # When RabbitMQ restarts in the middle of it
    assert running.poll() is None, "the publisher finished before the restart"
    down_s = rabbitmq.restart()
    out, err = running.communicate(timeout=300)
    # Then the publisher resumed by itself and had every event confirmed
    assert running.returncode == 0, out + err
    assert "Traceback" not in err
    resent = err.count("sending it again")
    confirmed = int(re.search(r"published (\d+) events", out)[1])  # type: ignore[index]
    assert confirmed == events.count
    # And the workers reconnected and applied every event, once
    wait_for(lambda: applied_intake(url) == events.count, 240, "all applied")
    assert_intake_exactly_once(url, events)
    figures(
        published=events.count,
        confirmed=confirmed,
        applied=applied_intake(url),
        restart_s=round(down_s, 1),
        publisher_retries=resent,
    )


def test_simulate_world_resumes_across_a_restart(
    fleet: Fleet, private: tuple[PrivatePostgres, PrivateRabbitMQ], figures: Any
) -> None:
    _, rabbitmq = private
    # Given `larder simulate world` publishing a world while a worker consumes it
    fleet.worker("intake")
    command = ["larder", "simulate", "world", "--users", "3000", "--venues", "60", "--days", "10"]
    command += ["--batch-size", "20"]  # thousands of confirmed messages: seconds of publishing
    running = publisher(fleet, *command)
    url = fleet.database_url
    wait_for(lambda: applied_intake(url) > 0, 60, "the first events applied")
    # When RabbitMQ restarts meanwhile
    assert running.poll() is None, "the publisher finished before the restart"
    rabbitmq.restart()
    out, err = running.communicate(timeout=300)
    # Then it finished, every event confirmed, and every one applied once
    assert running.returncode == 0, out + err
    confirmed = int(re.search(r"published (\d+) events", out)[1])  # type: ignore[index]
    wait_for(lambda: applied_intake(url) == confirmed, 240, "all applied")
    figures(published=confirmed, confirmed=confirmed, applied=applied_intake(url))


def test_a_publisher_that_gives_up_says_how_far_it_got_and_a_rerun_lands_the_rest(
    fleet: Fleet, private: tuple[PrivatePostgres, PrivateRabbitMQ], scratch: Path, figures: Any
) -> None:
    _, rabbitmq = private
    # Given a publisher that waits at most 2 s for RabbitMQ, sending ~15k events
    events = worlds.world(scratch / "world.jsonl", users=600)
    fleet.worker("intake")
    command = ["larder", "intake", "publish", str(events.path), "--batch-size", "4"]
    running = publisher(fleet, *command, LARDER_PUBLISH_RETRY_S="2")
    url = fleet.database_url
    wait_for(lambda: applied_intake(url) > 300, 60, "the first events applied")
    # When RabbitMQ goes away for longer than that
    assert running.poll() is None, "the publisher finished before the outage"
    rabbitmq.stop()
    _out, err = running.communicate(timeout=120)
    rabbitmq.start()
    # Then it ended with one line saying what was confirmed and that re-running is safe
    assert running.returncode == 1
    [line] = [x for x in err.splitlines() if x.startswith("Error:")]
    assert "Traceback" not in err
    got = re.search(r"RabbitMQ confirmed (\d+) events \((\d+) messages\)", line)
    assert got and "running the same command again is safe" in line
    first = int(got[1])
    assert 0 < first < events.count
    # And everything it said was confirmed is applied
    wait_for(lambda: applied_intake(url) >= first, 120, "the confirmed events applied")
    # When the same command runs again, Then every event is applied, once
    again = published(fleet.run(*command))
    wait_for(lambda: applied_intake(url) == events.count, 240, "all applied")
    assert_intake_exactly_once(url, events)
    figures(
        published=events.count,
        confirmed=again,
        applied=applied_intake(url),
        confirmed_before_giving_up=first,
    )
    time.sleep(0)  # (the fleet fixture stops the worker)
