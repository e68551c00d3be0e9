"""Gauges of the fleet as a whole, counted when Prometheus scrapes the scheduler
(`larder scheduler --metrics-port`): queue depths, consumers and dead letters from RabbitMQ;
refresh waiting, run progress and the active model from Postgres; open problems
(workers/order_checks_metrics.py). No worker process could own these: they are facts about
the queues and tables, not about one process. With several schedulers, each exports the same
values: aggregate them with `max`.

A source that does not answer costs its gauges, not the scrape: `larder_scrape_source_up`
says which answered.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from workers import queues

log = logging.getLogger("larder.metrics")


class Sources(Collector):
    """Runs each source's collect; a source that raises reports down, the others still count."""

    def __init__(self, sources: dict[str, Callable[[], Iterable[Metric]]]) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "larder_scrape_source_up",
            "1 when the source (postgres, problems, rabbitmq) answered this scrape.",
            labels=["source"],
        )
        for name, source in self.sources.items():
            try:
                found = list(source())
            except Exception as error:
                log.warning("metrics: %s did not answer: %s", name, error)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from found
        yield up


def rabbitmq_gauges(url: str, prefix: str) -> Callable[[], list[Metric]]:
    """Ready messages and consumers of each workload's queue, and its dead letters (`.XQ`).
    A queue no pool declared yet is left out (pika would log its 404 at every scrape)."""
    logging.getLogger("pika.channel").setLevel(logging.ERROR)

    def collect() -> list[Metric]:
        import pika
        import pika.exceptions

        ready = GaugeMetricFamily(
            "larder_queue_messages",
            "Messages ready in the queue (not delivered).",
            labels=["queue"],
        )
        consumers = GaugeMetricFamily(
            "larder_queue_consumers", "Consumers of the queue (worker threads).", labels=["queue"]
        )
        dead = GaugeMetricFamily(
            "larder_dead_letters", "Messages in the queue's dead-letter queue.", labels=["queue"]
        )
        from workers.amqp import parameters
        from workers.settings import get_settings

        settings = get_settings()
        params = parameters(
            url, settings.amqp_ca_file, settings.amqp_cert_file, settings.amqp_key_file
        )
        params.socket_timeout = params.blocked_connection_timeout = 3
        params.connection_attempts = 1
        connection = pika.BlockingConnection(params)
        try:
            for workload in queues.WORKLOADS:
                name = prefix + workload
                found = _passive(connection, name)
                if found is None:
                    continue  # not declared (yet): no pool has started for it
                ready.add_metric([name], found[0])
                consumers.add_metric([name], found[1])
                letters = _passive(connection, name + ".XQ")
                dead.add_metric([name], 0 if letters is None else letters[0])
        finally:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()
        return [ready, consumers, dead]

    return collect


def _passive(connection: Any, queue: str) -> tuple[int, int] | None:
    import pika.exceptions

    channel = connection.channel()
    try:
        method = channel.queue_declare(queue, passive=True).method
    except pika.exceptions.ChannelClosedByBroker:
        return None
    with contextlib.suppress(pika.exceptions.AMQPError):
        channel.close()
    return int(method.message_count), int(method.consumer_count)


def postgres_gauges(database: Any) -> Callable[[], list[Metric]]:
    """Refreshes waiting, tracked runs' progress, the active models."""

    def collect() -> list[Metric]:
        from store import operations

        waiting = GaugeMetricFamily(
            "larder_refresh_waiting_users", "Users whose inputs changed, refresh not yet claimed."
        )
        oldest = GaugeMetricFamily(
            "larder_refresh_waiting_oldest_seconds",
            "Age of the oldest change mark due and not yet claimed by a sweep (0: none).",
        )
        chunks = GaugeMetricFamily(
            "larder_refresh_run_chunks",
            "Chunks of the tracked refresh runs of the last day, by state.",
            labels=["run_id", "state"],
        )
        model = GaugeMetricFamily(
            "larder_model_info", "The active model version (value 1).", labels=["kind", "version"]
        )
        age = GaugeMetricFamily(
            "larder_model_age_seconds", "Age of the active model version.", labels=["kind"]
        )
        with database.unit_of_work() as uow:
            count, age_s = operations.waiting_changes(uow.connection)
            runs = operations.recent_runs(uow.connection)
            models = operations.active_models(uow.connection)
        waiting.add_metric([], count)
        oldest.add_metric([], age_s)
        for run in runs:
            pending = run.total_chunks - run.done_chunks - run.failed_chunks
            for state, value in (
                ("done", run.done_chunks),
                ("failed", run.failed_chunks),
                ("pending", pending),
            ):
                chunks.add_metric([str(run.run_id), state], value)
        for kind, version, seconds in models:
            model.add_metric([kind, version], 1)
            age.add_metric([kind], seconds)
        return [waiting, oldest, chunks, model, age]

    return collect


def fleet_collector(database: Any, rabbitmq_url: str, prefix: str) -> Sources:
    """Every scrape-time gauge of the scheduler (open problems: workers/order_checks_metrics)."""
    from workers.order_checks_metrics import OpenProblems

    return Sources(
        {
            "postgres": postgres_gauges(database),
            "problems": OpenProblems(database).collect,
            "rabbitmq": rabbitmq_gauges(rabbitmq_url, prefix),
        }
    )
