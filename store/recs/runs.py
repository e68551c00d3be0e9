"""Batch refresh runs: what was asked, and how far it got (counted from chunk rows)."""

from __future__ import annotations

from typing import Any

import psycopg

from store.recs import queries


def start(
    connection: psycopg.Connection[Any], scope: str, version: str, users: int, chunks: int
) -> int:
    params = {"scope": scope, "version": version, "users": users, "chunks": chunks}
    row = connection.execute(queries.START_RUN, params).fetchone()
    assert row is not None
    return int(row[0])


def add_chunk(
    connection: psycopg.Connection[Any], run_id: int, chunk: int, message_id: str, users: int
) -> None:
    params = {"run_id": run_id, "chunk": chunk, "message_id": message_id, "users": users}
    connection.execute(queries.ADD_RUN_CHUNK, params)


def finish_chunk(connection: psycopg.Connection[Any], run_id: int, chunk: int) -> None:
    connection.execute(queries.FINISH_RUN_CHUNK, {"run_id": run_id, "chunk": chunk})


def status(connection: psycopg.Connection[Any], run_id: int) -> dict[str, Any] | None:
    cursor = connection.execute(queries.RUN_STATUS, {"run_id": run_id})
    row = cursor.fetchone()
    if row is None:
        return None
    names = [column.name for column in cursor.description or []]
    found = dict(zip(names, row, strict=True))
    found["finished"] = found["done_chunks"] + found["failed_chunks"] >= found["total_chunks"]
    return found
