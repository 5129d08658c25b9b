"""A store URI's password never shows: not in any error opening the store, not in a repr, not in the CLI."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from cli_process import free_port, one_line_error, run_cli
from loopwright.errors import LoopwrightError
from loopwright.registry.client import RegistryClient
from loopwright.store import mask_password, open_store
from loopwright.tracking.client import Client

SECRET = "Sup3rS3cret"
# the suite's server (tests/conftest.py's PG_URI); imported by value: under xdist `conftest` may name another one
PG = sa.make_url(os.environ.get("LOOPWRIGHT_TEST_PG", "postgresql+psycopg://root@127.0.0.1:5432/test"))


def _pg(user: str = str(PG.username), host: str = f"{PG.host}:{PG.port}", database: str = "test") -> str:
    return f"postgresql+psycopg://{user}:{SECRET}@{host}/{database}"


BAD_URIS = {
    "unsupported scheme": (f"postgres://u:{SECRET}@db.example/x", "unsupported store URI"),
    "another database": (f"mysql://u:{SECRET}@db.example/x", "unsupported store URI"),
    "no scheme": (f"u:{SECRET}@db.example/x", "unsupported store URI"),
    "unknown driver": (f"postgresql+nodriver://u:{SECRET}@db.example/x", "invalid store URI"),
    "port not a number": (f"postgresql+psycopg://u:{SECRET}@127.0.0.1:port/x", "invalid store URI"),
    "bad SQLite form": (f"sqlite://u:{SECRET}@/x.db", "invalid store URI"),
    "'@' in the password": (f"postgresql+psycopg://u:{SECRET}@x@127.0.0.1/x", "%40"),
    "nothing listens": (_pg(host=f"127.0.0.1:{free_port()}"), "cannot open the store"),
    "unknown host": (_pg(host="no-such-host.invalid"), "cannot open the store"),
    "bad database name": (_pg(database="no_such_database"), 'database "no_such_database" does not exist'),
    "unknown user": (_pg(user="no_such_role"), 'role "no_such_role" does not exist'),
}


@pytest.mark.parametrize("case", list(BAD_URIS))
def test_store_uri_errors_mask_the_password(case: str) -> None:
    uri, problem = BAD_URIS[case]
    with pytest.raises(LoopwrightError) as raised:
        open_store(uri).close()
    message = str(raised.value)
    assert SECRET not in message and problem in message, message
    assert "***" in message, message  # the URI is shown, with its password masked


def test_cli_error_masks_the_password() -> None:
    uri, _ = BAD_URIS["bad database name"]
    result = run_cli("runs", "list", env={"LOOPWRIGHT_STORE_URI": uri})
    one_line_error(result, "no_such_database")
    assert SECRET not in result.stdout + result.stderr


def test_clients_show_their_store_without_the_password(tmp_path: object) -> None:
    client = Client(_pg(), str(tmp_path))  # the test server trusts any password
    try:
        for shown in (repr(client), repr(RegistryClient(client)), repr(client.store)):
            assert SECRET not in shown and "***" in shown, shown
    finally:
        client.close()


def test_mask_password_keeps_the_rest() -> None:
    assert mask_password("sqlite:////tmp/lw.db") == "sqlite:////tmp/lw.db"
    assert mask_password("postgresql+psycopg://ml@db/lw") == "postgresql+psycopg://ml@db/lw"
    assert (
        mask_password("postgresql+psycopg://ml:p/a@ss@db:5432/lw") == "postgresql+psycopg://ml:***@db:5432/lw"
    )
