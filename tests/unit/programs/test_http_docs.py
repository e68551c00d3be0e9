"""The docs pages are part of the app: Swagger UI's page and assets served by the app itself."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from programs.http.app import add_docs


def test_docs_and_their_assets_are_served_by_the_app_at_the_path_asked_for() -> None:
    # Given an app whose docs live at /api-docs (FastAPI's CDN pages off)
    app = FastAPI(title="t", docs_url=None, redoc_url=None)
    add_docs(app, "/api-docs")
    client = TestClient(app)
    # When its docs page is read
    page = client.get("/api-docs")
    # Then it loads Swagger UI from the app's own assets, not from any other host
    assert page.status_code == 200
    assert "/api-docs/assets/swagger-ui-bundle.js" in page.text
    assert "/api-docs/assets/swagger-ui.css" in page.text
    assert "'/openapi.json'" in page.text
    assert "https://" not in page.text and "http://" not in page.text
    # And those assets, the OAuth2 redirect page and the spec answer
    for path in ("/api-docs/assets/swagger-ui-bundle.js", "/api-docs/assets/swagger-ui.css"):
        response = client.get(path)
        assert response.status_code == 200 and len(response.content) > 10_000, path
    assert client.get("/api-docs/oauth2-redirect").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 404
