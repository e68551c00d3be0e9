"""Pages in a real browser: the app served by uvicorn on a free port, read by headless Chromium.

Chromium is Debian's (`infra/browser.sh` installs it), driven by Playwright; Playwright's own
browser download is never used (it needs the internet). Every request the page makes is
recorded, and any that would leave the machine (a host other than the loopback) is aborted
and recorded too: a test asserts `page.left_the_machine == []`.

    with serve(app) as base_url, browse(base_url, tmp_path) as page:
        page.goto("/docs")
        page.screenshot_to("docs")

The fixtures in tests/integration/conftest.py (`live_app`, `page`) wrap these.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = Path(os.environ.get("LARDER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # no name is resolved but localhost's: nothing can leave the machine by name
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (bash infra/browser.sh --install)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make install)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: Any, timeout_s: float = 20.0) -> Iterator[str]:
    """`app` (any ASGI app) served by uvicorn in a thread of this process on a free loopback
    port, with its lifespan run as in production; yields the base URL, stops it after."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)


@dataclass
class Page:
    """A Playwright page on `base_url` (relative `goto` paths), with what it requested."""

    raw: Any  # playwright.sync_api.Page
    base_url: str
    screenshots: Path
    requests: list[str] = field(default_factory=list)
    left_the_machine: list[str] = field(default_factory=list)

    def goto(self, path: str, **options: Any) -> Any:
        return self.raw.goto(self.base_url + path, **options)

    def screenshot_to(self, name: str, full_page: bool = True) -> Path:
        """A PNG of the page as it is now, `<screenshots>/<name>.png`; its path."""
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{name}.png"
        self.raw.screenshot(path=str(path), full_page=full_page)
        return path

    def __getattr__(self, name: str) -> Any:  # locator, wait_for_selector, content, ...
        return getattr(self.raw, name)


@contextmanager
def browse(base_url: str, scratch: Path, timeout_ms: float = 15_000) -> Iterator[Page]:
    """Headless Chromium with a fresh profile under `scratch`; yields one page on `base_url`.
    Requests off the loopback are aborted and recorded."""
    from playwright.sync_api import Route, sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(scratch / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": 1280, "height": 900},
        )
        try:
            raw = context.pages[0] if context.pages else context.new_page()
            raw.set_default_timeout(timeout_ms)
            page = Page(raw, base_url, scratch / "screenshots")

            def guard(route: Route) -> None:
                url = route.request.url
                page.requests.append(url)
                if urlsplit(url).hostname in LOOPBACK or url.startswith(("data:", "blob:")):
                    route.continue_()
                else:
                    page.left_the_machine.append(url)
                    route.abort("blockedbyclient")

            context.route("**/*", guard)
            yield page
        finally:
            context.close()
