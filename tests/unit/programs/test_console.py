"""The console page is part of the app: its template, script and stylesheet served by the app
itself, nothing from another host, and no data without a key (the page has none)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from domain.order_checks.rules import RULES
from programs.http.console import add_console


def test_the_console_and_its_assets_are_served_by_the_app_alone() -> None:
    # Given an app with the console, behind a proxy prefix
    app = FastAPI()
    add_console(app)
    client = TestClient(app, root_path="/larder")
    # When the page is read (no key: the page holds no data)
    page = client.get("/inbox")
    # Then it is HTML with a strict policy, loading only its own assets under the prefix
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'src="/larder/inbox/static/console.js"' in page.text
    assert 'href="/larder/inbox/static/console.css"' in page.text
    assert 'data-api="/larder/v1/inbox"' in page.text
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    # And every rule is a filter option with its explanation in words
    for rule in RULES:
        assert f'<option value="{rule.name}">' in page.text
        assert rule.explanation in page.text
    # And the assets answer, with no host but the app's in them
    for asset in ("console.js", "console.css"):
        response = TestClient(app).get(f"/inbox/static/{asset}")
        assert response.status_code == 200 and len(response.text) > 1000, asset
        assert "http://" not in response.text and "https://" not in response.text


def test_every_form_control_of_the_page_has_a_label() -> None:
    app = FastAPI()
    add_console(app)
    html = TestClient(app).get("/inbox").text
    ids = re.findall(r"<(?:input|select|textarea)[^>]*\bid=\"([^\"]+)\"", html)
    assert ids
    for control in ids:
        labelled = f'for="{control}"' in html or re.search(
            rf"<label>[^<]*\s*<(?:input|select|textarea)[^>]*id=\"{control}\"", html
        )
        assert labelled, control
