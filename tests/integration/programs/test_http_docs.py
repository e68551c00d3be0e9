"""`/docs` in a real browser: Swagger UI renders the API's operations from assets the app
serves itself (nothing loaded from outside the machine: it must work offline)."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.support.browser import Page

OPERATIONS = (
    ("GET", "/v1/users/{user_id}/recommendations/{surface}"),
    ("GET", "/v1/users/{user_id}/cart"),
    ("GET", "/healthz"),
    ("GET", "/v1/inbox"),
)


def test_docs_render_the_operations_in_a_browser_from_local_assets(page: Page) -> None:
    # Given the app served by uvicorn / When Chromium opens /docs
    response = page.goto("/docs")
    assert response is not None and response.status == 200
    # Then Swagger UI renders, with a block per operation of the API
    page.wait_for_selector(".swagger-ui .opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    for method, path in OPERATIONS:
        block = page.locator(f".opblock-{method.lower()}", has_text=path)
        assert block.count() >= 1, (path, paths)
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("larder read API")
    shot = page.screenshot_to("docs")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # And every request went to the app on the loopback: the page, its JS and CSS, the spec
    assert page.left_the_machine == []
    hosts = {urlsplit(url).hostname for url in page.requests}
    assert hosts == {"127.0.0.1"}, page.requests
    requested = {urlsplit(url).path for url in page.requests}
    assert {"/docs", "/openapi.json", "/docs/assets/swagger-ui-bundle.js"} <= requested
