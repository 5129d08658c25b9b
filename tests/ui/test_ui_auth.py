"""The UI under ``--auth``: sign-in keeps a cookie session, a viewer sees no mutation controls, a
maintainer moves ``champion`` through the confirmation form and the audit names them, forged or
cross-site POSTs are refused, and the cookie is no API credential."""

from __future__ import annotations

from typing import Any

import httpx


def test_pages_need_a_session(auth_ui_server: Any, page: Any, shoot: Any) -> None:
    page.goto(f"{auth_ui_server.url}/models/churn")
    page.wait_for_url("**/login?next=%2Fmodels%2Fchurn")
    page.fill("input[name=token]", "lw_" + "x" * 43)
    page.click("button[type=submit]")
    assert "invalid or expired token" in page.locator(".error").inner_text()
    shoot(page, "login-refused")
    page.fill("input[name=token]", auth_ui_server.tokens["viewer"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{auth_ui_server.url}/models/churn")
    cookie = next(c for c in page.context.cookies() if c["name"] == "lw_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]  # http here
    xss = auth_ui_server.data["runs"]["xss"]
    anonymous = httpx.get(f"{auth_ui_server.url}/runs/{xss}/raw/notes.txt", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    signed = httpx.get(
        f"{auth_ui_server.url}/runs/{xss}/raw/notes.txt", cookies={"lw_session": cookie["value"]}
    )
    assert signed.text == "hello from a text artifact"


def test_viewer_sees_no_mutation_controls(auth_ui_server: Any, page: Any, shoot: Any, sign_in: Any) -> None:
    sign_in(page, auth_ui_server, "viewer")
    page.goto(f"{auth_ui_server.url}/models/churn")
    assert "vera · viewer" in page.locator("header").inner_text()
    assert page.locator("#move-alias").count() == 0
    assert page.locator("text=Archive…").count() == 0
    shoot(page, "model-viewer")
    page.goto(f"{auth_ui_server.url}/models/churn/confirm?action=set_alias&alias=champion&version=2")
    assert page.locator("#confirm-form").count() == 0


def test_maintainer_moves_alias_and_audit_names_them(
    auth_ui_server: Any, page: Any, shoot: Any, sign_in: Any
) -> None:
    sign_in(page, auth_ui_server, "maintainer")
    page.goto(f"{auth_ui_server.url}/models/churn")
    page.select_option("#move-alias select[name=version]", "2")
    page.click("#move-alias button")
    assert (
        page.locator("#summary").inner_text()
        == "Move alias 'champion' of 'churn' from version 1 to version 2?"
    )
    shoot(page, "confirm")
    page.click("#confirm-form button")
    page.wait_for_url(f"{auth_ui_server.url}/models/churn")
    assert "@champion → v2" in page.locator("#aliases").inner_text()
    newest = page.locator("#audit tbody tr").first.inner_text()
    assert "mona" in newest and "alias=champion; version: 1 → 2" in newest
    shoot(page, "model-moved")


def test_forged_posts_are_refused(auth_ui_server: Any, sign_in: Any, page: Any) -> None:
    sign_in(page, auth_ui_server, "maintainer")
    session = next(c["value"] for c in page.context.cookies() if c["name"] == "lw_session")
    url = f"{auth_ui_server.url}/models/churn/versions/1/status"
    with httpx.Client(cookies={"lw_session": session}) as client:
        no_csrf = client.post(url, data={"action": "archive"})
        wrong = client.post(url, data={"action": "archive", "csrf": "0" * 64})
        form = client.get(f"{auth_ui_server.url}/models/churn/confirm?action=archive&version=1").text
        csrf = form.split('name="csrf" value="')[1].split('"')[0]
        cross = client.post(
            url, data={"action": "archive", "csrf": csrf}, headers={"Origin": "https://evil.example"}
        )
    assert [no_csrf.status_code, wrong.status_code, cross.status_code] == [403, 403, 403]
    with httpx.Client(cookies={"lw_session": auth_ui_server.tokens["viewer"]}) as viewer:
        viewer_csrf = viewer.get(f"{auth_ui_server.url}/models/churn/confirm?action=archive&version=1").text
        token = (
            viewer_csrf.split('name="csrf" value="')[1].split('"')[0] if 'name="csrf"' in viewer_csrf else ""
        )
        denied = viewer.post(url, data={"action": "archive", "csrf": token})
    assert denied.status_code == 403 and "maintainer" in denied.text  # the role check, audited by the Guard
    api = httpx.get(f"{auth_ui_server.url}/api/v1/models/churn/versions/1", cookies={"lw_session": session})
    assert api.status_code == 401  # a session cookie is no API credential
    headers = {"Authorization": f"Bearer {auth_ui_server.tokens['admin']}"}
    version = httpx.get(f"{auth_ui_server.url}/api/v1/models/churn/versions/1", headers=headers).json()
    assert version["status"] == "ready"
