"""``loopwright tokens …`` — mirrors ``lw.create_token`` / ``lw.list_tokens`` / ``lw.revoke_token``.

They write straight to the store (``--store-uri``, else ``LOOPWRIGHT_STORE_URI``), so the first admin
token exists before any server runs. ``create`` prints the secret alone on the last line of stdout
(``TOKEN=$(loopwright tokens create --user ana --role editor)``); nothing else shows it ever again.
"""

from __future__ import annotations

import typer

from loopwright.cli.render import FullIdsOption, Output, OutputOption, console, err_console, render
from loopwright.store.entities import ROLES
from loopwright.tokens import create_token, list_tokens, revoke_token

app = typer.Typer(help="Create, list and revoke API tokens (a user and a role each).", no_args_is_help=True)

StoreUriOption = typer.Option(None, "--store-uri", help="Defaults to LOOPWRIGHT_STORE_URI.")


@app.command()
def create(
    user: str = typer.Option(..., "--user", "-u", help="Who the token acts for."),
    role: str = typer.Option(..., "--role", "-r", help=f"One of {', '.join(ROLES)}."),
    expires: str = typer.Option(
        None, "--expires", help="Valid for this long (30d, 12h); default: until revoked."
    ),
    store_uri: str = StoreUriOption,
) -> None:
    """Issue a token; its secret is printed once, alone on the last line of stdout."""
    token, secret = create_token(user, role, expires, store_uri=store_uri)
    until = f"until {token.expires:%Y-%m-%d %H:%M:%S} UTC" if token.expires else "until revoked"
    err_console.print(
        f"created token {token.id[:8]} for {token.user!r} ({token.role}, {until}); "
        "the secret below is shown only once",
        highlight=False,
        markup=False,
    )
    print(secret)


@app.command("list")
def list_(
    include_revoked: bool = typer.Option(False, "--all", "-a", help="Include revoked tokens."),
    output: Output = OutputOption,
    full_ids: bool = FullIdsOption,
    store_uri: str = StoreUriOption,
) -> None:
    """List tokens, oldest first (never their secrets)."""
    found = list_tokens(include_revoked, store_uri=store_uri)
    render(
        output,
        found,
        "tokens",
        ["id", "user", "role", "created", "expires", "revoked", "last used"],
        [(t.id, t.user, t.role, t.created, t.expires, t.revoked, t.last_used) for t in found],
        ids={"id"},
        full_ids=full_ids,
    )


@app.command()
def revoke(
    token_id: str = typer.Argument(..., help="The token's id or a unique prefix (8+ characters)."),
    store_uri: str = StoreUriOption,
) -> None:
    """Revoke a token: servers refuse it from then on (loopwright serve within a second)."""
    token = revoke_token(token_id, store_uri=store_uri)
    console.print(f"revoked token {token.id} of {token.user!r} ({token.role})", highlight=False, markup=False)
