"""What an API key may do: one entry per scope. The HTTP dependency, `larder keys create
--scope`, the OpenAPI descriptions and docs/security.md read this table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    name: str
    description: str


LISTS_READ = Scope("lists:read", "read users' precomputed lists (recommendations, cart)")
INBOX_READ = Scope("inbox:read", "read the support inbox's problem records and their history")
INBOX_ACT = Scope("inbox:act", "acknowledge and resolve problem records, as the key's principal")

SCOPES = {scope.name: scope for scope in (LISTS_READ, INBOX_READ, INBOX_ACT)}
