"""The support console (`/inbox`): one server-rendered page (a Jinja2 template) and its plain
JavaScript and CSS, every asset served from this package (no build step, nothing from the
internet). The page holds no data of its own: its script reads and acts through the API's own
inbox endpoints (`/v1/inbox`, programs/http/inbox.py) with the agent's API key.

How an agent signs in: the page asks for an API key (scopes inbox:read and inbox:act, made with
`larder keys create`), keeps it in the tab's sessionStorage (gone when the tab closes, never in
a cookie, so no request can carry it without the script) and sends it as
`Authorization: Bearer <key>` on every call. The page itself needs no key: it is the same for
everyone and holds nothing but the rules' names and explanations.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from domain.order_checks.rules import RULES

HERE = Path(__file__).parent
CONSOLE_URL = "/inbox"
POLL_S = 3.0  # the page reads the inbox again this often: new cards in, resolved ones out

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def add_console(app: FastAPI, url: str = CONSOLE_URL) -> None:
    """The console page at `url`, its assets under `<url>/static` (honouring root_path)."""
    app.mount(f"{url}/static", StaticFiles(directory=HERE / "static"), name="console-static")

    @app.get(url, include_in_schema=False, response_class=HTMLResponse)
    def console(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = _templates.get_template("inbox.html").render(
            root=root,
            static=f"{root}{url}/static",
            rules=RULES,
            poll_ms=int(POLL_S * 1000),
        )
        headers = {
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'none'",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        }
        return HTMLResponse(page, headers=headers)
