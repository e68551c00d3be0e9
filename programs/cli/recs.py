"""`larder recs`: the recommendation lists: read, refresh, train, model versions."""

from __future__ import annotations

import json
from typing import Any

import click

from domain.recs.surfaces import BY_NAME, STORED, SURFACES
from domain.recs.surfaces.base import Surface
from programs.cli.overrides import overrides
from programs.cli.text import plural
from schemas.base import BIGINT_MAX


@click.group()
def recs() -> None:
    """Recommendation lists: read one, refresh users, train and roll back models."""


@recs.command("show")
@click.argument("user_id", type=click.IntRange(1, BIGINT_MAX))
@click.option(
    "--surface",
    default="discovery",
    show_default=True,
    type=click.Choice(list(BY_NAME)),
    help="; ".join(f"{s.name}: {s.description}" for s in SURFACES),
)
@click.option(
    "--context",
    default=0,
    show_default=True,
    type=click.IntRange(0, BIGINT_MAX),
    help="; ".join(f"{s.name}: {s.context.description}" for s in STORED),
)
@click.option("--items", "cart", default="", help="Cart item ids, comma-separated (cart).")
@click.option("--json", "as_json", is_flag=True)
def show(user_id: int, surface: str, context: int, cart: str, as_json: bool) -> None:
    """Read one precomputed list (one indexed query; falls back to popular lists). A surface
    that needs a context, asked without one, lists the contexts the user has lists for."""
    from store import recs
    from workers.broker import database

    chosen, item_ids = BY_NAME[surface], _id_list(cart)
    if not chosen.stored and not item_ids:
        raise click.UsageError(f"the {surface} surface needs --items ID[,ID...]")
    with database.unit_of_work(single_statement=True) as uow:
        if chosen.stored and chosen.context.required and context == 0:
            _list_contexts(user_id, chosen, recs.contexts(uow.connection, user_id, surface))
            return
        if not chosen.stored:
            found = recs.read_cart(uow.connection, user_id, item_ids)
        else:
            found = recs.read(uow.connection, user_id, surface, context)
    if found is None:
        raise click.ClickException(f"no list for user {user_id}, {surface}, context {context}")
    if as_json:
        click.echo(found.model_dump_json(indent=2))
        return
    kind = "fallback" if found.fallback else "personal"
    click.echo(
        f"{kind} {surface} list (context {found.context}), model {found.model_version},"
        f" computed {found.computed_at:%Y-%m-%d %H:%M}"
    )
    props: list[float | None] = [*found.propensities] if found.propensities else []
    props += [None] * (len(found.ids) - len(props))
    for rank, (item, score, p) in enumerate(zip(found.ids, found.scores, props, strict=True), 1):
        click.echo(f"{rank:>3}. {item}  {score:.4f}" + ("" if p is None else f"  p={p:.4f}"))


def _list_contexts(user_id: int, surface: Surface, contexts: list[int] | None) -> None:
    need = f"{surface.name} needs --context ({surface.context.description})"
    if not contexts:
        raise click.ClickException(
            f"{need}; user {user_id} has no personal {surface.name} lists (see the README,"
            " 'Recommendation lists', for what makes one exist); reads fall back to the"
            " popular lists of the user's city"
        )
    shown = ", ".join(map(str, contexts))
    click.echo(f"{need}. User {user_id} has {surface.name} lists for contexts: {shown}")


def _id_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"not a list of ids: {text!r}", param_hint="--items") from None


@recs.command()
@click.argument("user_ids", nargs=-1, type=click.IntRange(1, BIGINT_MAX))
@click.option("--all", "everyone", is_flag=True, help="Every known user.")
@click.option("--city", type=click.IntRange(1, BIGINT_MAX), help="Every known user of this city.")
@click.option("--chunk", default=500, show_default=True, type=click.IntRange(1, 1000))
@click.option("--detach", is_flag=True, help="Print the run id and return at once.")
@click.option("--status", "run_id", type=click.IntRange(1), help="Show (or wait for) a run.")
def refresh(
    user_ids: tuple[int, ...],
    everyone: bool,
    city: int | None,
    chunk: int,
    detach: bool,
    run_id: int | None,
) -> None:
    """Recompute every list of the chosen users as a tracked run of chunked jobs, after storing
    the cold-start lists; waits with a progress bar unless --detach."""
    from actors.recs import refresh_fallbacks, start_run
    from store import recs
    from workers.broker import database

    if run_id is None:
        if sum((everyone, city is not None, bool(user_ids))) != 1:
            raise click.UsageError("give exactly one of --all, --city C or user ids")
        users, scope = list(user_ids), "users"
        if everyone or city is not None:
            with database.unit_of_work(single_statement=True) as uow:
                users = recs.users_to_refresh(uow.connection, city)
            scope = "all" if everyone else f"city {city}"
        fallbacks = refresh_fallbacks()
        try:
            run_id = start_run(scope, users, chunk)
        except LookupError as error:
            raise click.ClickException(str(error)) from None
        stored = plural(fallbacks, "fallback list")
        click.echo(f"run {run_id}: {plural(len(users), 'user')}; {stored} stored")
    if detach:
        click.echo(f"follow it with: larder recs refresh --status {run_id}")
        return
    _follow_run(run_id)


def _follow_run(run_id: int) -> None:
    import time

    from tqdm import tqdm

    from store import recs as recs_store
    from store.recs import runs
    from workers.broker import database

    status = _run_status(runs, database, run_id)
    with tqdm(total=status["total_users"], unit="users", disable=None) as bar:
        while True:
            bar.update(status["done_users"] - bar.n)
            if status["finished"]:
                break
            time.sleep(0.5)
            status = _run_status(runs, database, run_id)
    click.echo(
        f"run {run_id}: {status['done_chunks']}/{status['total_chunks']} chunks done,"
        f" {status['failed_chunks']} failed"
    )
    with database.unit_of_work(single_statement=True) as uow:
        recs_store.analyze(uow.connection)
    if status["failed_chunks"]:
        raise click.ClickException("some chunks failed: see `larder dlq list`")


def _run_status(runs: Any, database: Any, run_id: int) -> dict[str, Any]:
    with database.unit_of_work(single_statement=True) as uow:
        status = runs.status(uow.connection, run_id)
    if status is None:
        raise click.ClickException(f"no refresh run {run_id}")
    return dict(status)


@recs.command()
@click.option("--no-activate", is_flag=True, help="Store the version without switching to it.")
def train(no_activate: bool) -> None:
    """Train the model bundle on all order history as a new version (evaluated, then active).
    Too little history to evaluate a model stores nothing, says so, and exits 0."""
    from actors.recs.training import NotEnoughHistory, train_version

    try:
        version = train_version(activate=not no_activate)
    except NotEnoughHistory as error:
        click.echo(str(error))
        return
    click.echo(f"trained {version}" + ("" if no_activate else " (active)"))


@recs.command("models")
@click.option("--json", "as_json", is_flag=True)
def model_list(as_json: bool) -> None:
    """Versions, newest first, with their offline metrics."""
    from actors.recs.training import KIND
    from store.recs import registry
    from workers.broker import database

    with database.unit_of_work(single_statement=True) as uow:
        rows = registry.versions(uow.connection, KIND)
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    for row in rows:
        production: dict[str, float] = (
            next(  # older versions were evaluated under an earlier model name
                (m for name, m in row["metrics"].items() if name.startswith("larder items")), {}
            )
        )
        click.echo(
            f"{'*' if row['active'] else ' '} {row['version']}  {row['created_at']:%Y-%m-%d %H:%M}"
            f"  orders={row['trained_on'].get('orders')}"
            f"  recall@10={production.get('Recall@10', float('nan')):.3f}"
            f"  ndcg@10={production.get('NDCG@10', float('nan')):.3f}"
        )


@recs.command("activate")
@click.argument("version")
def model_activate(version: str) -> None:
    """Switch to VERSION atomically (e.g. roll back to the previous one)."""
    from actors.recs.training import KIND
    from store.recs import registry
    from workers.broker import database

    try:
        with database.unit_of_work() as uow:
            registry.activate(uow.connection, KIND, version)
    except registry.UnknownVersion as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{version} is active")


recs.add_command(overrides)


@recs.command("surfaces")
def surfaces() -> None:
    """The surfaces (the registry, domain/recs/surfaces), as the README's table."""
    click.echo(surfaces_table())


def surfaces_table() -> str:
    """The README's table of surfaces, from the registry (a test keeps the README in step)."""
    rows = [
        "| surface | ids | context | length | stored | how it is ranked (`domain/recs/`) |",
        "|---|---|---|---|---|---|",
    ]
    for s in SURFACES:
        context = "none" if s.context.name == "none" else s.context.description
        stored = "per user" if s.stored else "combined at read time"
        rows.append(f"| `{s.name}` | {s.ids} | {context} | {s.length} | {stored} | {s.ranking} |")
    return "\n".join(rows)
