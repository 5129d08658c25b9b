"""schemathesis against the platform server's own OpenAPI document: no 5xx, no answer outside its schema.

A real ``loopwright server`` (SQLite, no auth) is driven through ``/api/v1/openapi.json`` with a few
generated examples per operation. Checks: ``not_a_server_error`` and ``response_schema_conformance``
(a 2xx body matches the route's response model, an error body matches ``ErrorBody``).
``status_code_conformance`` is left out on purpose: any route may answer any of the shared error
codes (401/403 with --auth, 404, 409, 413, 422, 503), and the document lists them once per route
rather than per situation, so the check would only restate the document. ``negative_data_rejection``
and ``positive_data_acceptance`` are left out too: a schema-valid body can still name a run that
does not exist (404) or break a rule no schema expresses (a name's alphabet, a state machine).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from cli_process import PlatformServer

# valid requests reach the store (where the 5xx were); invalid ones mostly stop at validation
EXAMPLES_PER_OPERATION = {GenerationMode.POSITIVE: 5, GenerationMode.NEGATIVE: 2}


# Answers that are a JSON array of fixed shape (a Python tuple: ``prefixItems`` in the document).
# schemathesis 4.32 rewrites ``prefixItems`` into the old array form of ``items`` and then refuses
# its own rewrite as an invalid schema, so their bodies are checked for 5xx only.
TUPLE_ANSWERS = {"POST /api/v1/admin/purge-deleted"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    home: Path = tmp_path_factory.mktemp("server-schemathesis")
    server = PlatformServer(
        "--store-uri", f"sqlite:///{home}/lw.db", "--artifact-uri", str(home / "artifacts"), timeout=240
    )
    try:
        yield server
    finally:
        log = server.stop()
        assert "Traceback" not in log and " 500 " not in log, log[-5000:]


# One hypothesis run per operation, built here rather than by schemathesis' pytest plugin: its
# lazy ``from_fixture`` mode does not run under this pytest, and the schema only exists once the
# server (a fixture) is up. Every operation runs; the failures are reported together.
EXAMPLES = settings(
    deadline=None,
    # CI replays one fixed sequence (a red build names a reproducible request); local runs explore
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failing request is reported
)


def _exercise(operation: APIOperation, mode: GenerationMode) -> None:
    """Send a few generated requests to ``operation``; raise what the first failing one found."""
    checks: list[CheckFunction] = [not_a_server_error]
    if operation.label not in TUPLE_ANSWERS:
        checks.append(response_schema_conformance)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(EXAMPLES, max_examples=EXAMPLES_PER_OPERATION[mode])
    def exercise(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=checks, timeout=60)

    exercise()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_server_answers_within_its_schema(server: PlatformServer, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) > 80  # the whole Store and the artifact routes
    failures: list[str] = []
    for operation in operations:
        try:
            _exercise(operation, mode)
        except Unsatisfiable:  # nothing to make invalid (no parameters, or only a free-form string)
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as failure:
            failures.append(f"{operation.label}: {str(failure).strip()[:1500]}")
    assert not failures, "\n\n".join(failures)
