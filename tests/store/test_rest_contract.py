"""RestStore and the server are built from one contract: every Store method has a route, and RestStore
sends every parameter of it (a parameter it forgot would silently take its default on the server)."""

from __future__ import annotations

import inspect
import re

import pytest

from loopwright.store.interface import Store
from loopwright.store.rest import RestStore
from loopwright.store.routes import ROUTES
from loopwright.store.sql import SqlStore

SERVER_SIDE_ONLY = {"find_token", "touch_token"}  # tokens are checked by the server, never sent to it


@pytest.mark.parametrize("method", sorted(Store.__abstractmethods__))
def test_every_store_method_is_routed_and_forwards_all_its_parameters(method: str) -> None:
    ours = inspect.signature(getattr(RestStore, method))
    declared = list(inspect.signature(getattr(Store, method)).parameters)
    assert list(ours.parameters) == declared
    # the server calls SqlStore with the Store's parameter names
    assert list(inspect.signature(getattr(SqlStore, method)).parameters) == declared
    if method in SERVER_SIDE_ONLY:
        return
    assert method in ROUTES
    source = inspect.getsource(getattr(RestStore, method))
    sent = set(re.findall(r"(\w+)=\1\b", source))
    assert sent == set(ours.parameters) - {"self"}, (
        f"RestStore.{method} does not send {set(ours.parameters) - {'self'} - sent}"
    )
