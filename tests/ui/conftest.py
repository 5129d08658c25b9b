"""Fixtures for the web UI's browser tests: a populated ``loopwright server``, one with ``--auth`` and
a token per role, and a Playwright page in Debian's Chromium (screenshots go to ``test-artifacts/``).

Data is logged the way a user logs it: the ``lw`` API with ``LOOPWRIGHT_STORE_URI`` set to the
server's URL (and ``LOOPWRIGHT_TOKEN`` under ``--auth``), so the pages show what the REST path wrote.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import loopwright as lw
from cli_process import PlatformServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ROLES = ("viewer", "editor", "maintainer", "admin")
USERS = {"viewer": "vera", "editor": "eddie", "maintainer": "mona", "admin": "ada"}
XSS_NAME = "<script>alert(1)</script>"
XSS_PARAM = '"><img src=x onerror=alert(1)>'
# the model class lives in a module of its own name: a server process imports it by that name, and
# `conftest` names a different file depending on which test folder was imported first
from ui_models import Threshold  # noqa: E402

HTML_REPORT = "<html><body><h1 id='report'>report</h1><script>parent.document.title='pwned'; alert(2)</script></body></html>"


@dataclass
class UIServer:
    """A running server with data in it: ``url``, tokens by role (empty without --auth), what was logged."""

    server: PlatformServer
    home: Path
    tokens: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url


def populate(url: str, home: Path, token: str | None = None) -> dict[str, Any]:
    """Log an experiment of runs (one XSS-named, one deleted), artifacts, a model with two versions,
    ``champion`` on v1 and a gate verdict on v2, through the lw API against the server ``url``."""
    env = {"LOOPWRIGHT_STORE_URI": url, "LOOPWRIGHT_HOME": str(home / "client"), "LOOPWRIGHT_USER": "setup"}
    if token:
        env["LOOPWRIGHT_TOKEN"] = token
    data: dict[str, Any] = {"runs": {}, "xss_name": XSS_NAME, "xss_param": XSS_PARAM}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("LOOPWRIGHT_ARTIFACT_URI", raising=False)
        lw.reset_clients()
        try:
            data["experiment_id"] = lw.set_experiment("ui-demo").id
            for i, (c, penalty) in enumerate([(0.1, "l2"), (1.0, "l2"), (10.0, "l1")]):
                with lw.start_run(name=f"run-{i}") as run:
                    lw.log_params({"C": str(c), "penalty": penalty})
                    lw.set_tag("team", "risk")
                    for step in range(40):
                        lw.log_metric("loss", (i + 1) / (step + 1) + 0.01, step=step)
                    lw.log_metric("auc", 0.7 + 0.1 * i)
                data["runs"][f"run-{i}"] = run.id
            with lw.start_run(name=XSS_NAME) as run:
                lw.log_params({"C": XSS_PARAM})
                lw.log_metric("auc", 0.5)
                lw.log_text("hello from a text artifact", "notes.txt")
                lw.log_dict({"threshold": 0.5, "label": XSS_NAME}, "config.json")
                lw.log_text(HTML_REPORT, "report.html")
                lw.log_model(Threshold(), "model")
            data["runs"]["xss"] = run.id
            with lw.start_run(name="gone") as run:
                lw.log_metric("auc", 0.1)
            lw.delete_run(run.id)
            data["runs"]["gone"] = run.id
            lw.register_model(f"runs:/{data['runs']['xss']}/model", "churn")
            lw.register_model(f"runs:/{data['runs']['xss']}/model", "churn")
            lw.set_alias("churn", "champion", 1)
            check = {
                "metric": "auc",
                "scope": "overall",
                "kind": "threshold",
                "rule": ">= 0.6",
                "candidate": 0.8,
                "champion": None,
                "passed": True,
                "reason": "auc 0.8 >= 0.6",
            }
            lw.get_client().store.append_audit(
                "model_version",
                "churn",
                "gate_verdict",
                actor="gatekeeper",
                version=2,
                after={"passed": True, "checks": [check]},
            )
        finally:
            lw.reset_clients()
    return data


def _serve(home: Path, *args: str) -> PlatformServer:
    return PlatformServer(
        *args, "--store-uri", f"sqlite:///{home}/lw.db", "--artifact-uri", str(home / "artifacts")
    )


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """``loopwright server`` (no --auth) on SQLite, populated by :func:`populate`."""
    home = tmp_path_factory.mktemp("ui")
    server = _serve(home)
    try:
        yield UIServer(server, home, data=populate(server.url, home))
    finally:
        log = server.stop()
        assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
def auth_ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """``loopwright server --auth`` on SQLite with a token per role (``tokens[role]``), populated as admin."""
    home = tmp_path_factory.mktemp("ui-auth")
    uri = f"sqlite:///{home}/lw.db"
    tokens = {role: lw.create_token(USERS[role], role, store_uri=uri)[1] for role in ROLES}
    server = _serve(home, "--auth")
    try:
        yield UIServer(server, home, tokens, populate(server.url, home, tokens["admin"]))
    finally:
        log = server.stop()
        assert "Traceback" not in log, log[-3000:]
        for secret in tokens.values():
            assert secret not in log  # session cookies hold tokens: they never reach the log


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (its own browser download is not available here).

    Per module, not per session: Playwright's sync API keeps an event loop running in this thread while
    it is open, and every later test on the same worker that calls ``asyncio.run`` would fail."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("the UI tests need Chromium: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context's page; any JavaScript dialog (``alert``) fails the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    yield tab
    context.close()
    assert not dialogs, f"a script ran: dialogs {dialogs}"


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page as ``test-artifacts/ui-NAME.png`` (kept locally, uploaded nowhere)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"ui-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page: Any, server: UIServer, role: str) -> None:
    """Sign in through the form with the token of ``role``."""
    page.goto(f"{server.url}/login")
    page.fill("input[name=token]", server.tokens[role])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/experiments")


@pytest.fixture
def shoot() -> Any:
    """:func:`screenshot`, for test modules (they cannot import this conftest by name)."""
    return screenshot


@pytest.fixture
def sign_in() -> Any:
    """:func:`login`, for test modules."""
    return login
