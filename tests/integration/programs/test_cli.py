"""`larder` commands against the real services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from programs.cli import main
from tests.conftest import scalar, wait_for
from tests.support.factories import activity, order, venue
from workers import queues

EVENTS = queues.name(queues.EVENTS)


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_publish_sends_a_file_in_batches(broker: Any, worker: Any, db: Any, tmp_path: Path) -> None:
    # Given a file of 2,500 valid events
    events = [venue(f"v{i}", venue_id=i) for i in range(1, 1201)]
    events += [order(f"o{i}", order_id=f"O{i}") for i in range(1300)]
    path = write_jsonl(tmp_path / "events.jsonl", events)
    # When it is published
    result = CliRunner().invoke(main, ["intake", "publish", str(path)])
    # Then it went out as batches of at most 1,000 and everything lands
    assert result.exit_code == 0, result.output
    assert "published 2500 events in 3 messages" in result.output
    wait_for(lambda: scalar(db, "SELECT count(*) FROM processed_events") == 2500, timeout=60)


def test_publish_counts_in_the_singular_for_one(broker: Any, tmp_path: Path) -> None:
    # Given a file of one event / When it is published / Then "1 event in 1 message"
    path = write_jsonl(tmp_path / "one.jsonl", [venue("v1", venue_id=1)])
    result = CliRunner().invoke(main, ["intake", "publish", str(path)])
    assert result.exit_code == 0, result.output
    assert "published 1 event in 1 message: " in result.output


def test_publish_rejects_a_bad_file_and_sends_nothing(broker: Any, tmp_path: Path) -> None:
    # Given a file whose 3rd line breaks the schema and 5th is not JSON
    path = write_jsonl(
        tmp_path / "bad.jsonl", [venue(), activity(), venue("x", rating=11), order(), "{not json"]
    )
    # When it is published
    result = CliRunner().invoke(main, ["intake", "publish", str(path)])
    # Then both lines are reported by number and nothing was sent
    assert result.exit_code == 1
    assert "nothing published" in result.output
    assert "line 3: venue.upserted.rating" in result.output
    assert "line 5: not JSON" in result.output
    assert broker.get_queue_message_counts(EVENTS)[0] == 0


def test_db_check_reports_models_and_migrations_agree(db: Any) -> None:
    result = CliRunner().invoke(main, ["db", "check"])
    assert result.exit_code == 0, result.output
    assert "agree" in result.output


def test_dlq_list_shows_dead_letters_as_json_and_text(broker: Any, worker: Any, db: Any) -> None:
    # Given a rejected message
    from dramatiq.message import Message

    broker.enqueue(
        Message(
            queue_name=EVENTS,
            actor_name="ingest",
            args=(venue(rating=-1),),
            kwargs={},
            options={},
            message_id="cli-bad",
        )
    )
    wait_for(lambda: scalar(db, "SELECT count(*) FROM rejected_messages") == 1)
    # When listed
    result = CliRunner().invoke(main, ["dlq", "list", "--json"])
    # Then it shows with its reason
    rows = json.loads(result.output)
    assert rows[0]["message_id"] == "cli-bad" and "rating" in rows[0]["reason"]
    # And listed as text, its whole reason shows (it is longer than the 80 characters that
    # used to cut it)
    text = CliRunner().invoke(main, ["dlq", "list"]).output
    assert len(rows[0]["reason"]) > 80
    assert " ".join(text.split("reason: ")[1].split("body:")[0].split()) == rows[0]["reason"]


def test_seed_publishes_a_world_through_intake(broker: Any, worker: Any, db: Any) -> None:
    # Given an empty database
    # When a small world is seeded (published to RabbitMQ, consumed by the worker)
    result = CliRunner().invoke(
        main,
        ["simulate", "world", "--cities", "2", "--venues", "8", "--users", "40", "--days", "4"],
    )
    # Then every generated entity landed through the intake actor
    assert result.exit_code == 0, result.output
    wait_for(lambda: scalar(db, "SELECT count(*) FROM users") == 40, timeout=60)
    broker.join(EVENTS, min_successes=5, idle_time=50, timeout=60_000)
    worker.join()
    assert scalar(db, "SELECT count(*) FROM venues") == 8
    assert scalar(db, "SELECT count(*) FROM cities") == 2
    assert scalar(db, "SELECT count(*) FROM orders") > 0
    assert scalar(db, "SELECT count(*) FROM rejected_messages") == 0
    # And its history ended now: everything happened in the last 4 days, the newest activity
    # in the last one, where list refreshes (which read the last 30 days) find it
    recent = "now() - interval '4 days 1 minute'"
    assert scalar(db, f"SELECT bool_and(placed_at > {recent}) FROM orders")
    assert scalar(db, f"SELECT bool_and(occurred_at > {recent}) FROM activity_events")
    assert scalar(db, "SELECT max(occurred_at) > now() - interval '1 day' FROM activity_events")


def test_seed_can_write_jsonl_that_publish_accepts(tmp_path: Path, broker: Any) -> None:
    # Given a seeded world written to a file
    out = tmp_path / "world.jsonl"
    result = CliRunner().invoke(
        main, ["simulate", "world", "--venues", "3", "--users", "5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    # When the file is validated the way `larder intake publish` does / Then every line is valid
    from workers.publishing import read_events

    assert len(read_events(out)) == int(result.output.split()[1])


def test_prune_deletes_only_old_idempotency_records(db: Any) -> None:
    # Given one old and one fresh processed-event record
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO processed_events (event_id, event_type, processed_at) VALUES"
            " ('old', 'venue.upserted', now() - interval '40 days'),"
            " ('new', 'venue.upserted', now())"
        )
    # When pruning with a 30-day retention
    result = CliRunner().invoke(main, ["maintenance", "prune", "--days", "30"])
    # Then only the old one is gone
    assert result.exit_code == 0, result.output
    assert "deleted 1 " in result.output
    assert scalar(db, "SELECT string_agg(event_id, ',') FROM processed_events") == "new"


def test_eval_reports_a_bad_file_by_line_and_a_good_one_as_a_table(tmp_path: Path) -> None:
    # Given a CSV whose third line has a timestamp without an offset
    header = "order_id,user_id,venue_id,item_id,quantity,placed_at\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "A,1,1,5,1,2026-01-01T10:00:00Z\nB,1,1,6,1,2026-01-02T10:00:00\n")
    # When evaluated / Then the line is named and the command fails
    result = CliRunner().invoke(main, ["eval", "items", "--orders", str(bad)])
    assert result.exit_code == 1 and "line 3" in result.output
    # Given a valid history of two users with two orders each
    good = tmp_path / "good.csv"
    rows = [
        "A,1,1,5,1,2026-01-01T10:00:00Z",
        "B,1,1,5,1,2026-01-08T10:00:00Z",
        "C,2,1,6,1,2026-01-01T10:00:00Z",
        "D,2,1,6,1,2026-01-08T10:00:00Z",
    ]
    good.write_text(header + "\n".join(rows) + "\n")
    # When evaluated / Then all three models are reported
    result = CliRunner().invoke(main, ["eval", "items", "--orders", str(good)])
    assert result.exit_code == 0, result.output
    for model in ("G-TopFreq", "P-TopFreq", "larder items"):
        assert model in result.output


def test_import_orders_cli_loads_a_file_and_refuses_a_bad_one(db: Any, tmp_path: Path) -> None:
    header = "order_id,user_id,venue_id,item_id,quantity,placed_at\n"
    good = tmp_path / "good.csv"
    good.write_text(header + "A,1,1,5,2,2026-01-01T10:00:00Z\nA,1,1,6,1,2026-01-01T10:00:00Z\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "B,1,1,5,1,2026-01-01T10:00:00Z\nC,-1,1,5,1,2026-01-01T10:00:00Z\n")
    # When a good file is imported, then a file with a bad second row
    ok = CliRunner().invoke(main, ["intake", "import", str(good)])
    refused = CliRunner().invoke(main, ["intake", "import", str(bad)])
    # Then the first loads, the second names line 3 and why, and loads nothing (not even B)
    assert ok.exit_code == 0, ok.output
    assert "read 2 lines (1 order): 1 new order, 2 new order lines" in ok.output
    assert refused.exit_code == 1 and "nothing loaded" in refused.output
    assert "line 3: user_id must be a positive integer, got '-1'" in refused.output
    assert scalar(db, "SELECT string_agg(order_id, ',') FROM orders") == "A"


def test_import_shows_a_progress_bar_when_asked(db: Any, tmp_path: Path, capsys: Any) -> None:
    from store.intake.orders_import import import_orders

    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,user_id,venue_id,item_id,quantity,placed_at\nA,1,1,5,1,2026-01-01T10:00:00Z\n"
    )
    import_orders(db.engine, path, progress=True)
    assert "lines" in capsys.readouterr().err
