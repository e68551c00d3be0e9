"""The Dramatiq wire envelope a non-Python producer publishes (see README, 'AMQP contract')."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from schemas.base import StrictModel


class DramatiqEnvelope(StrictModel):
    """UTF-8 JSON body, published persistent to the default exchange, routing key = queue."""

    queue_name: Annotated[str, Field(description="e.g. 'events'; equals the routing key")]
    actor_name: Annotated[str, Field(description="e.g. 'ingest'")]
    args: Annotated[list[Any], Field(description="[message]: one event or a batch", max_length=1)]
    kwargs: dict[str, Any]
    options: Annotated[
        dict[str, Any],
        Field(
            description='{}, or {"trace": {"traceparent": "00-<trace id>-<span id>-01"}} to '
            "continue the producer's trace (W3C trace context)"
        ),
    ]
    message_id: Annotated[str, Field(description="unique per message, e.g. a UUID4")]
    message_timestamp: Annotated[int, Field(description="milliseconds since the epoch")]
