"""``loopwright db …`` — schema migrations of the metadata store."""

from __future__ import annotations

import typer

from loopwright.cli.render import console
from loopwright.config import get_settings
from loopwright.errors import InvalidInput
from loopwright.store.sql.engine import create_engine, current_revision, head_revision, upgrade
from loopwright.store.sql.maintenance import analyze

app = typer.Typer(help="Metadata store schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_(
    store_uri: str = typer.Option(None, "--store-uri", help="Defaults to LOOPWRIGHT_STORE_URI."),
    revision: str = typer.Option("head", help="Target Alembic revision."),
) -> None:
    """Apply pending migrations, then refresh the query planner's statistics (ANALYZE).

    SQLite keeps no statistics until ANALYZE runs, and without them picks poor plans for searches of
    a large store; PostgreSQL's autovacuum analyses too, but only after many rows changed. Run this
    after loading a lot of runs (it is sampled: seconds at millions of rows).
    """
    engine = create_engine(_sql_uri(store_uri))
    try:
        before = current_revision(engine)
        after = upgrade(engine, revision)
        analyze(engine)
    finally:
        engine.dispose()
    if before == after:
        console.print(f"store already at revision [bold]{after}[/]; planner statistics refreshed")
    else:
        console.print(
            f"upgraded store from {before or 'empty'} to [bold]{after}[/]; planner statistics refreshed"
        )


@app.command()
def current(store_uri: str = typer.Option(None, "--store-uri")) -> None:
    """Show the store's revision and the newest one this version ships."""
    engine = create_engine(_sql_uri(store_uri))
    try:
        console.print(f"current: {current_revision(engine) or 'empty'}  head: {head_revision()}")
    finally:
        engine.dispose()


def _sql_uri(store_uri: str | None) -> str:
    uri = store_uri or get_settings().store_uri
    if uri.startswith(("http://", "https://")):
        raise InvalidInput(
            "a loopwright server migrates its own store: run `loopwright db upgrade` on its host"
        )
    return uri
