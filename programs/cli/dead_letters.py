"""`larder dlq`: what was dead-lettered and why; replay or purge it.

Every command reads both sides: the recorded rejections (Postgres: reason, actor, time) and
the dead-letter queues (RabbitMQ `<queue>.XQ`: what is still there), joined on the message."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from programs.cli.params import Since
from programs.cli.text import clip, plural, wrapped
from workers.queues import WORKLOADS

WIDTH = 100  # of a line, indent included
BODY_SHOWN = 200  # characters of a message body (--json shows it all)
EVERYTHING = datetime(1970, 1, 1, tzinfo=UTC)
MANY = 1_000_000


@click.group("dlq")
def dead_letters() -> None:
    """Dead-lettered messages: never retried, recorded with their reason."""


def filters(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--since", type=Since(), help="Rejected since: an age (30m, 2h, 7d) or an ISO-8601 time."
    )(command)
    command = click.option("--reason", default="", help="Reason contains this (any case).")(command)
    return click.option(
        "--queue",
        "queue_names",
        multiple=True,
        type=click.Choice(sorted(WORKLOADS)),
        help="A queue (repeatable). Default: every queue.",
    )(command)


def _workloads(names: tuple[str, ...]) -> list[str]:
    return list(names) or list(WORKLOADS)


def _queues(names: tuple[str, ...]) -> list[str]:
    from workers import queues

    return [queues.name(w) for w in _workloads(names)]


def _joined(
    names: tuple[str, ...], reason: str, since: datetime | None, limit: int
) -> list[dict[str, Any]]:
    """Recorded rejections matching the filters, each with whether it waits in its dead-letter
    queue; and letters waiting without a record (shown when no reason or time is asked)."""
    from store import dead_letters as records
    from workers.broker import broker, database
    from workers.dead_letter_queue import DeadLetterQueues

    queues = _queues(names)
    try:
        letters = DeadLetterQueues(broker.parameters).browse(queues)  # type: ignore[attr-defined]
    except Exception as error:
        click.echo(f"(RabbitMQ does not answer, queue contents unknown: {error})", err=True)
        letters = None
    with database.unit_of_work(single_statement=True) as uow:
        rows = records.matching(uow.connection, queues, reason, since or EVERYTHING, limit)
        known = records.by_fingerprint(uow.connection, [x.fingerprint for x in letters or []])
    waiting = {x.fingerprint for x in letters or []}
    for row in rows:
        row["in_queue"] = None if letters is None else row["fingerprint"] in waiting
    if not reason and since is None:
        for found in letters or []:
            if found.fingerprint not in known:
                rows.append(_unrecorded(found))
    return rows[:limit]


def _unrecorded(found: Any) -> dict[str, Any]:
    return {
        "id": None,
        "fingerprint": found.fingerprint,
        "message_id": found.message_id,
        "queue_name": found.queue,
        "actor_name": None,
        "reason": "(no recorded rejection)",
        "raw_body": found.body.decode("utf-8", errors="replace"),
        "rejected_at": None,
        "replays": 0,
        "replayed_at": None,
        "purged_at": None,
        "in_queue": True,
    }


@dead_letters.command("list")
@filters
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Every field in full, bodies included.")
def list_(
    queue_names: tuple[str, ...], reason: str, since: datetime | None, limit: int, as_json: bool
) -> None:
    """List the most recent dead-lettered messages and why (whole reasons; bodies cut short,
    --json shows them whole), and whether each still waits in its dead-letter queue."""
    _print_rows(_joined(queue_names, reason, since, limit), as_json)


@dead_letters.command("show")
@click.argument("key", metavar="ID")
def show(key: str) -> None:
    """One dead-lettered message in full: ID is its record number (#12) or its message id."""
    from store import dead_letters as records
    from workers import queues
    from workers.broker import database

    with database.unit_of_work(single_statement=True) as uow:
        row = records.one(uow.connection, key)
    if row is None:
        raise click.ClickException(f"no dead-lettered message {key}")
    workload = queues.workload_of(row["queue_name"])
    matches = [r for r in _joined((workload,), "", None, MANY) if r["id"] == row["id"]]
    row["in_queue"] = matches[0]["in_queue"] if matches else False
    click.echo(_row_text(row, body=None))
    try:
        click.echo(json.dumps(json.loads(row["raw_body"]), indent=2))
    except ValueError:
        click.echo(row["raw_body"])


def _selection(
    names: tuple[str, ...], reason: str, since: datetime | None, ids: tuple[str, ...]
) -> tuple[list[str], Callable[[Any], bool], int]:
    """The queues to go through, which letters are picked, and how many wait that match."""
    rows = [r for r in _joined(names, reason, since, MANY) if r["in_queue"]]
    if ids:
        wanted_ids = {i.lstrip("#") for i in ids}
        rows = [r for r in rows if str(r["id"]) in wanted_ids or r["message_id"] in wanted_ids]
    picked = {r["fingerprint"] for r in rows}
    return _queues(names), (lambda letter: letter.fingerprint in picked), len(rows)


def _chosen(
    names: tuple[str, ...],
    reason: str,
    since: datetime | None,
    ids: tuple[str, ...],
    yes: bool,
    verb: str,
    question: str,
) -> tuple[list[str], Callable[[Any], bool], int] | None:
    """The selection, once confirmed (None: nothing selected)."""
    queues, wanted, count = _selection(names, reason, since, ids)
    if count == 0:
        click.echo(f"nothing to {verb}")
        return None
    if not yes:
        click.confirm(question.format(plural(count, "dead-lettered message")), abort=True)
    return queues, wanted, count


def _recording(mark: Callable[[Any, str], None]) -> Callable[[Any], None]:
    """Records what was done to a letter (`mark_replayed`, `mark_purged`), in its own
    statement: done is done, whatever happens to the next one."""
    from workers.broker import database

    def recorded(letter: Any) -> None:
        with database.unit_of_work(single_statement=True) as uow:
            mark(uow.connection, letter.fingerprint)

    return recorded


def selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")(command)
    command = click.option(
        "--id", "ids", multiple=True, help="Only this record (#12) or message id (repeatable)."
    )(command)
    return filters(command)


@dead_letters.command("replay")
@selection_options
def replay(
    queue_names: tuple[str, ...],
    reason: str,
    since: datetime | None,
    ids: tuple[str, ...],
    yes: bool,
) -> None:
    """Publish the selected dead letters to their queue again, signed by this process, through
    the same validation: a message that failed because of a since-fixed bug now succeeds; one
    still invalid comes back with its reason; one whose original signature does not verify
    stays. Each leaves the dead-letter queue only once RabbitMQ confirmed it."""
    from store import dead_letters as records
    from workers.broker import broker
    from workers.replay import replay as replay_queue

    chosen = _chosen(queue_names, reason, since, ids, yes, "replay", "replay {}?")
    if chosen is None:
        return
    _, wanted, count = chosen
    recorded = _recording(records.mark_replayed)
    done, refused = 0, []
    try:
        for workload in _workloads(queue_names):
            report = replay_queue(broker, workload, MANY, wanted, recorded)
            done += report.replayed
            refused += report.refused
    except Exception as error:
        raise click.ClickException(
            f"replayed {done} of {count}, then: {error}; the rest is still in its dead-letter"
            " queue, and running this again is safe"
        ) from None
    click.echo(
        f"replayed {plural(done, 'message')}, each confirmed by RabbitMQ before it left its"
        " dead-letter queue (one still invalid comes back: larder dlq list)"
    )
    for why in refused:
        click.echo(f"  left in the dead-letter queue: {why}")


@dead_letters.command("purge")
@selection_options
def purge(
    queue_names: tuple[str, ...],
    reason: str,
    since: datetime | None,
    ids: tuple[str, ...],
    yes: bool,
) -> None:
    """Remove the selected dead letters for good (asks first; the recorded rejections stay, marked
    purged)."""
    from store import dead_letters as records
    from workers.broker import broker
    from workers.dead_letter_queue import DeadLetterQueues

    chosen = _chosen(queue_names, reason, since, ids, yes, "purge", "remove {} for good?")
    if chosen is None:
        return
    queues, wanted, _ = chosen
    recorded = _recording(records.mark_purged)
    dlq = DeadLetterQueues(broker.parameters)  # type: ignore[attr-defined]
    done = sum(dlq.purge(queue, wanted, recorded) for queue in queues)
    click.echo(f"purged {plural(done, 'message')}")


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    for row in rows:
        click.echo(_row_text(row))
    if not rows:
        click.echo("no dead-lettered messages")
    elif any(len(row["raw_body"]) > BODY_SHOWN for row in rows):
        click.echo(f"(bodies cut at {BODY_SHOWN} characters: --json shows them whole)")


def _row_text(row: dict[str, Any], body: int | None = BODY_SHOWN) -> str:
    """One rejection: what and when on one line, then its whole reason, its body cut (left out
    when `body` is None: shown apart), and where it is now."""
    when = f"{row['rejected_at']:%Y-%m-%d %H:%M:%S%z}" if row["rejected_at"] else "-"
    number = f"#{row['id']}" if row["id"] is not None else "#-"
    head = (
        f"{number} {when} queue {row['queue_name']}"
        f" actor {row['actor_name'] or '-'} message {row['message_id'] or '-'}"
    )
    lines = [head, wrapped(row["reason"], WIDTH, "    reason: ", " " * 12)]
    if body is not None:
        lines.append(wrapped(clip(row["raw_body"], body), WIDTH, "    body:   ", " " * 12))
    state = _state(row)
    if state:
        lines.append(wrapped(state, WIDTH, "    state:  ", " " * 12))
    return "\n".join(lines)


def _state(row: dict[str, Any]) -> str:
    parts = []
    if row.get("replays"):
        parts.append(
            f"replayed {plural(row['replays'], 'time')}, last {row['replayed_at']:%Y-%m-%d %H:%M:%S}"
        )
    if row.get("purged_at"):
        parts.append(f"purged {row['purged_at']:%Y-%m-%d %H:%M:%S}")
    waiting = row.get("in_queue")
    if waiting is True:
        parts.append("in the dead-letter queue")
    elif waiting is False and not row.get("purged_at") and not row.get("replays"):
        parts.append(
            "no longer in the dead-letter queue (RabbitMQ drops dead letters after 7 days)"
        )
    return "; ".join(parts)
