"""Sentry, when SENTRY_DSN is set, with personal data scrubbed before anything is sent.

What must never leave the process (docs/security.md): message bodies (homes, orders, notes),
coordinates, addresses, free text from users or agents, request bodies, credentials. Sentry is
told not to collect them (no default PII, no request bodies, no local variables), and
`scrub` (the `before_send` and `before_breadcrumb` hook) removes what an integration attaches
anyway (the Dramatiq integration puts the message's body in the event) and masks what could
carry them in text: quoted values, precise numbers, credentials in URLs.
"""

from __future__ import annotations

import re
from typing import Any

from workers.settings import Settings

QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
PRECISE_NUMBER = re.compile(r"-?\d+\.\d{2,}")
URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
KEPT_HEADERS = {"user-agent", "content-type", "content-length", "host"}


def init_sentry(settings: Settings, **options: Any) -> None:
    if settings.sentry_dsn is None:
        return
    import sentry_sdk
    from sentry_sdk.integrations.dramatiq import DramatiqIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.env,
        integrations=[DramatiqIntegration()],
        data_collection={
            "user_info": False,
            "http_bodies": [],
            "stack_frame_variables": False,
            "database_query_data": False,
            "queues": False,
        },
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub,  # type: ignore[arg-type]  # Event is a TypedDict of these dicts
        before_send_transaction=scrub,  # type: ignore[arg-type]
        before_breadcrumb=scrub_breadcrumb,
        **options,
    )


def masked(text: Any) -> Any:
    """Text with quoted values, precise numbers and URL credentials masked."""
    if not isinstance(text, str):
        return text
    text = URL_CREDENTIALS.sub(r"\1***@", text)
    text = QUOTED.sub("'[masked]'", text)
    return PRECISE_NUMBER.sub("[number]", text)


def scrub(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """The event without bodies, variables, users, cookies, and with its texts masked."""
    event.pop("user", None)
    event.pop("extra", None)
    contexts = event.get("contexts") or {}
    for name in ("dramatiq", "request", "response"):
        if isinstance(contexts.get(name), dict):
            contexts[name].pop("data", None)
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
        request.pop("query_string", None)
        headers = request.get("headers") or {}
        request["headers"] = {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
    if "message" in event:
        event["message"] = masked(event["message"])
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        for field in ("message", "formatted"):
            if field in logentry:
                logentry[field] = masked(logentry[field])
        logentry.pop("params", None)
    for exception in (event.get("exception") or {}).get("values") or []:
        if "value" in exception:
            exception["value"] = masked(exception["value"])
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for crumb in (event.get("breadcrumbs") or {}).get("values") or []:
        scrub_breadcrumb(crumb)
    return event


def scrub_breadcrumb(crumb: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    crumb.pop("data", None)
    if "message" in crumb:
        crumb["message"] = masked(crumb["message"])
    return crumb
