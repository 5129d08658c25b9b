"""The UI in headless Chromium against a populated server (no --auth): runs table, run, compare,
models, and user strings rendered as text. One server and one browser for the module."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
from playwright.sync_api import expect

from loopwright.store.entities import MetricPoint
from loopwright.store.sql import SqlStore


def test_runs_table_filters_sorts_and_hides_deleted(ui_server: Any, page: Any, shoot: Any) -> None:
    exp = ui_server.data["experiment_id"]
    page.goto(f"{ui_server.url}/experiments")
    page.click("text=ui-demo")
    page.wait_for_selector("table.runs")
    names = page.locator("table.runs tbody tr td:nth-child(2) a").all_inner_texts()
    assert set(names) == {"run-0", "run-1", "run-2", ui_server.data["xss_name"]}  # "gone" is deleted
    shoot(page, "runs")

    page.fill("input[name=filter]", "metrics.auc >> 1")
    page.press("input[name=filter]", "Enter")
    error = page.locator("#filter-error")
    error.wait_for()
    assert "invalid run filter" in error.inner_text() and "expected a number" in error.inner_text()
    shoot(page, "runs-bad-filter")

    page.fill("input[name=filter]", "params.penalty = 'l2'")
    page.press("input[name=filter]", "Enter")
    expect(page.locator("#filter-error")).to_have_count(0)  # no page script: the CSP forbids eval
    expect(page.locator("table.runs tbody tr")).to_have_count(2)
    assert "filter=" in page.url  # htmx pushed the state: a reload or a shared link shows the same

    page.goto(f"{ui_server.url}/experiments/{exp}?columns=metrics.auc,params.C")
    page.click("th a[data-column='metrics.auc']")  # first click: descending
    page.wait_for_url("**order_by=metrics.auc+DESC**")
    cells = page.locator("table.runs tbody tr td:nth-child(6)").all_inner_texts()
    assert [float(c) for c in cells] == sorted((float(c) for c in cells), reverse=True)
    page.click("th a[data-column='metrics.auc']")
    page.wait_for_url("**order_by=metrics.auc+ASC**")
    cells = page.locator("table.runs tbody tr td:nth-child(6)").all_inner_texts()
    assert [float(c) for c in cells] == sorted(float(c) for c in cells)
    shoot(page, "runs-sorted")

    page.goto(f"{ui_server.url}/experiments/{exp}?deleted=1")
    assert "gone" in page.locator("table.runs").inner_text()


def test_run_page_draws_metric_curves_and_artifacts(ui_server: Any, page: Any, shoot: Any) -> None:
    run_id = ui_server.data["runs"]["run-0"]
    page.goto(f"{ui_server.url}/runs/{run_id}")
    chart = page.locator("figure[data-metric='loss'] svg")
    assert int(chart.get_attribute("data-points")) == 40
    assert len(chart.locator("polyline").get_attribute("points").split()) == 40
    assert page.locator("#params").inner_text().count("penalty") == 1
    first = chart.locator("polyline").get_attribute("points")
    page.check("input[name=log]")  # htmx swaps the charts in place
    page.wait_for_url("**log=1**")
    expect(chart.locator("polyline")).not_to_have_attribute("points", first)
    shoot(page, "run")

    xss = ui_server.data["runs"]["xss"]
    page.goto(f"{ui_server.url}/runs/{xss}")
    assert page.locator("[data-kind=text] pre").inner_text() == "hello from a text artifact"
    config = page.locator("[data-kind=json]").filter(has_text="config.json").locator("pre")
    assert '"threshold": 0.5' in config.inner_text()
    frame = page.locator("[data-kind=html] iframe")
    assert frame.get_attribute("sandbox") == ""
    assert page.frame_locator("[data-kind=html] iframe").locator("#report").inner_text() == "report"
    assert "pwned" not in page.title()  # the report's script did not run (the page fixture fails on alert)
    package = page.locator(".package").inner_text()
    assert "flavor pyfunc" in package and "manifest" in package
    shoot(page, "run-artifacts")


def test_raw_artifacts_are_sandboxed_and_downloadable(ui_server: Any) -> None:
    xss = ui_server.data["runs"]["xss"]
    raw = httpx.get(f"{ui_server.url}/runs/{xss}/raw/report.html")
    assert raw.status_code == 200 and raw.headers["content-security-policy"] == "sandbox"
    download = httpx.get(f"{ui_server.url}/runs/{xss}/raw/notes.txt?download=1")
    assert download.text == "hello from a text artifact"
    assert download.headers["content-disposition"] == 'attachment; filename="notes.txt"'
    missing = httpx.get(f"{ui_server.url}/runs/{xss}/raw/nope.txt")
    assert missing.status_code == 404 and "has no artifact" in missing.text


def test_metric_history_downloads_whole_as_csv(ui_server: Any) -> None:
    """The chart draws at most MAX_POINTS; the CSV link next to it has every point."""
    run_id = ui_server.data["runs"]["run-0"]
    got = httpx.get(f"{ui_server.url}/runs/{run_id}/metric.csv", params={"key": "loss"})
    lines = got.text.splitlines()
    assert got.status_code == 200 and lines[0] == "step,value,timestamp_ms" and len(lines) == 41
    assert got.headers["content-disposition"].endswith('-loss.csv"')
    assert httpx.get(f"{ui_server.url}/runs/nope/metric.csv", params={"key": "loss"}).status_code == 404


def test_compare_two_runs(ui_server: Any, page: Any, shoot: Any) -> None:
    exp = ui_server.data["experiment_id"]
    page.goto(f"{ui_server.url}/experiments/{exp}")
    for name in ("run-0", "run-2"):
        page.check(f"input[aria-label='compare {name}']")
    page.click("text=Compare selected")
    page.wait_for_url("**/compare?**")
    page.select_option("select[name=metric]", "loss")
    page.click("text=Show")
    page.wait_for_url("**metric=loss**")
    assert page.locator("#curves svg polyline.series").count() == 2
    assert page.locator("#curves figcaption a[download]").count() == 2  # each curve's every point, as CSV
    assert page.locator("#parallel svg polyline").count() == 2
    differ = page.locator("#differ thead").inner_text()
    assert "C" in differ and "penalty" in differ
    shoot(page, "compare")
    page.goto(f"{ui_server.url}/compare?runs={ui_server.data['runs']['run-0']}")
    assert "pick 2 to 20 runs" in page.locator(".error").inner_text()


def test_model_page_shows_champion_audit_and_gate(ui_server: Any, page: Any, shoot: Any) -> None:
    page.goto(f"{ui_server.url}/models")
    page.click("text=churn")
    assert "@champion → v1" in page.locator("#aliases").inner_text()
    audit = page.locator("#audit").inner_text()
    assert "alias_set" in audit and "alias=champion; version=1" in audit and "setup" in audit
    assert page.locator(".gate").inner_text().count("auc 0.8 >= 0.6") == 1
    assert page.locator("#lineage-graph svg rect").count() >= 3  # run → v1, v2
    shoot(page, "model")


def test_user_strings_render_as_text(ui_server: Any, page: Any, shoot: Any) -> None:
    exp = ui_server.data["experiment_id"]
    page.goto(f"{ui_server.url}/experiments/{exp}?columns=params.C")
    assert ui_server.data["xss_name"] in page.locator("table.runs").inner_text()
    assert ui_server.data["xss_param"] in page.locator("table.runs").inner_text()
    assert page.locator("img[src=x]").count() == 0
    page.goto(f"{ui_server.url}/runs/{ui_server.data['runs']['xss']}")
    assert page.locator("#run-name").inner_text() == ui_server.data["xss_name"]
    assert page.locator("#params td").inner_text() == ui_server.data["xss_param"]
    assert page.locator("main script, main img[src=x]").count() == 0
    shoot(page, "xss")
    headers = httpx.get(f"{ui_server.url}/runs/{quote(ui_server.data['runs']['xss'])}").headers
    assert "script-src 'self'" in headers["content-security-policy"]  # no inline script, ever


def test_forged_post_is_refused_without_auth(ui_server: Any) -> None:
    """The open server still needs CSRF: a POST without the field, or from another site, changes nothing."""
    url = f"{ui_server.url}/models/churn/aliases"
    bare = httpx.post(url, data={"alias": "champion", "version": "2"})
    assert bare.status_code == 403 and "CSRF" in bare.text
    with httpx.Client(base_url=ui_server.url) as browser_like:
        page = browser_like.get("/models/churn/confirm?action=set_alias&alias=champion&version=2")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        cross = browser_like.post(
            "/models/churn/aliases",
            data={"csrf": csrf, "alias": "champion", "version": "2"},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        assert cross.status_code == 403
    assert httpx.get(f"{ui_server.url}/api/v1/models/churn").json()["aliases"] == {"champion": 1}


def test_keyset_pages_walk_300_runs(ui_server: Any, page: Any, shoot: Any) -> None:
    """300 runs sorted by a metric: "Next" continues where the page ended, and walking every page
    yields each run once (written straight into the server's SQLite store: the same tables)."""
    store = SqlStore(f"sqlite:///{ui_server.home}/lw.db")
    try:
        exp = store.create_experiment("scale")
        ids = [store.create_run(exp.id, name=f"s{i}", start_ms=1_700_000_000_000 + i).id for i in range(300)]
        store.log_metrics(
            [(rid, MetricPoint("auc", (i * 7919 % 300) / 300, 0, 1)) for i, rid in enumerate(ids)]
        )
    finally:
        store.close()
    first = f"{ui_server.url}/experiments/{exp.id}?order_by=metrics.auc+DESC&columns=metrics.auc"
    page.goto(first)
    top = [float(c) for c in page.locator("table.runs tbody td:nth-child(6)").all_inner_texts()]
    page.click("a[rel=next]")
    page.wait_for_url("**after=**")
    expect(page.locator("table.runs tbody tr")).to_have_count(50)
    second = [float(c) for c in page.locator("table.runs tbody td:nth-child(6)").all_inner_texts()]
    assert len(top) == 50 and top == sorted(top, reverse=True) and max(second) < min(top)
    shoot(page, "runs-page-2")
    seen: list[str] = []
    url: str | None = first
    while url:
        html = httpx.get(url).text
        seen += re.findall(r'name="runs" value="([0-9a-f]+)"', html)
        found = re.search(r'<a href="([^"]+)" hx-get="[^"]+" rel="next">', html)
        url = ui_server.url + found.group(1).replace("&amp;", "&") if found else None
    assert sorted(seen) == sorted(ids)
