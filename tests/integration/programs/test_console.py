"""The support console (`/inbox`) in a real browser (Debian's Chromium, headless): lifecycle
events go through RabbitMQ to the real actors, the card appears without a reload, an agent
opens it, acknowledges and resolves it and it leaves; a second agent acting first gets a clear
conflict; screenshots of the main views are checked for pixels and laid-out elements."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.api import bearer, key_for
from tests.support.browser import Page

CARD = "#problem-list button.card"


@pytest.fixture
def scheduler(worker: Any) -> Iterator[None]:
    """The scheduler's order-check duties, every 0.3 s in a thread (as `larder scheduler`
    runs them), while the in-process worker consumes the session's RabbitMQ queues."""
    from actors.order_checks import sweep_order_checks
    from actors.order_checks.silences import expire_silences

    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            sweep_order_checks()
            expire_silences()
            stop.wait(0.3)

    thread = threading.Thread(target=run, name="test-scheduler", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def publish_unaccepted_order(order_id: str, venue_id: int, city_id: int) -> None:
    """Created 8 minutes ago, paid 7.5 minutes ago, never accepted: venue_not_accepting (5 min
    after payment) holds; sent to the `order_checks` queue one event per message."""
    from actors.order_checks import check_order_events

    now = datetime.now(UTC)
    stamp = lambda minutes: (now - timedelta(minutes=minutes)).isoformat()  # noqa: E731
    common = {"schema_version": 1, "order_id": order_id}
    created = {
        **common,
        "type": "order.created",
        "event_id": f"{order_id}:1",
        "sequence": 1,
        "occurred_at": stamp(8),
        "user_id": 1,
        "venue_id": venue_id,
        "city_id": city_id,
        "items": [{"item_id": 100, "quantity": 1}],
        "total": 1290,
        "payment_method": "card",
        "promised_delivery_at": (now + timedelta(minutes=30)).isoformat(),
    }
    paid = {
        **common,
        "type": "payment.authorized",
        "event_id": f"{order_id}:2",
        "sequence": 2,
        "occurred_at": stamp(7.5),
    }
    for event in (created, paid):
        check_order_events.send(event)


def sign_in(page: Page, token: str) -> None:
    page.goto("/inbox")
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#workspace:not([hidden])")


def card(page: Page, order_id: str) -> Any:
    return page.locator(CARD, has_text=order_id)


def test_an_agent_works_a_live_problem_in_the_console(
    page: Page, live_app: str, db: Any, scheduler: None
) -> None:
    errors: list[str] = []
    page.raw.on("pageerror", lambda error: errors.append(str(error)))
    token = key_for(db, "alice", "inbox:read", "inbox:act")
    # Given alice signed in to an empty inbox
    sign_in(page, token)
    page.wait_for_selector("#problem-list .empty")
    # When an order's lifecycle events go through RabbitMQ and the venue never accepts
    publish_unaccepted_order("ORD-C1", venue_id=31, city_id=3)
    # Then its card appears without a reload, under its city and venue, with the rule
    card(page, "ORD-C1").wait_for(timeout=30_000)
    group = page.locator("section.group", has=page.locator("button.card", has_text="ORD-C1"))
    assert group.get_by_role("heading").inner_text() == "City 3 · venue 31"
    assert "venue_not_accepting" in card(page, "ORD-C1").inner_text()
    # When she opens it (by keyboard)
    card(page, "ORD-C1").focus()
    page.keyboard.press("Enter")
    detail = page.locator("#detail")
    detail.wait_for()
    # Then it says what is wrong in words, when things happened and what is overdue
    assert "venue_not_accepting" in page.locator("#detail-title").inner_text()
    assert "neither accepted nor rejected" in detail.locator(".explanation").inner_text()
    timeline = detail.locator("table.timeline").inner_text()
    assert "order.created" in timeline and "payment.authorized" in timeline
    overdue = detail.locator("tr.overdue").inner_text()
    assert "venue.accepted" in overdue and "overdue" in overdue
    assert "opened by larder" in page.locator("#history").inner_text()
    # When she acknowledges, then resolves it
    page.get_by_role("button", name="Acknowledge", exact=True).click()
    page.locator("#history li", has_text="acknowledged by alice").wait_for()
    page.get_by_role("button", name="Resolve", exact=True).click()
    page.locator("#history li", has_text="resolved by alice").wait_for()
    # Then the card leaves the open list, and the history says who did what
    card(page, "ORD-C1").wait_for(state="detached", timeout=15_000)
    changes = page.locator("#history li .change").all_inner_texts()
    assert changes == ["opened", "acknowledged", "resolved"]
    # And it shows under the resolved filter
    page.get_by_label("Status").select_option("resolved")
    card(page, "ORD-C1").wait_for()
    assert "resolved (agent)" in card(page, "ORD-C1").inner_text()
    assert errors == [] and page.left_the_machine == []


def test_two_agents_at_once_the_second_gets_a_clear_conflict(
    page: Page, live_app: str, db: Any, scheduler: None
) -> None:
    alice = key_for(db, "alice", "inbox:read", "inbox:act")
    bob = key_for(db, "bob", "inbox:read", "inbox:act")
    # Given alice has a problem open in the console
    sign_in(page, alice)
    publish_unaccepted_order("ORD-C2", venue_id=32, city_id=3)
    card(page, "ORD-C2").wait_for(timeout=30_000)
    card(page, "ORD-C2").click()
    page.locator("#detail-title").wait_for()
    problem_id = int(page.locator("#detail-title").inner_text().split()[0].lstrip("#"))
    # When bob, in his own session, assigns it to himself first
    with httpx.Client(base_url=live_app, headers=bearer(bob)) as client:
        seen = client.get(f"/v1/inbox/{problem_id}").json()["version"]
        body = {"version": seen, "assignee": "bob"}
        assert client.post(f"/v1/inbox/{problem_id}/assign", json=body).status_code == 200
    # And alice, on the version she saw, resolves it
    page.get_by_role("button", name="Resolve", exact=True).click()
    # Then she is told plainly, and sees the problem as it is now: not resolved, bob's
    alert = page.get_by_role("alert").filter(has_text="changed since you saw it")
    alert.wait_for()
    assert "assigned by bob" in alert.inner_text()
    page.locator("#history li", has_text="assigned by bob").wait_for()
    facts = page.locator("dl.facts").inner_text()
    assert "bob" in facts and "resolved" not in page.locator("#history").inner_text()
    # And resolving again, now on the current version, works
    page.get_by_role("button", name="Resolve", exact=True).click()
    page.locator("#history li", has_text="resolved by alice").wait_for()


def test_an_agent_notes_assigns_and_silences_a_problem(
    page: Page, live_app: str, db: Any, scheduler: None
) -> None:
    sign_in(page, key_for(db, "alice", "inbox:read", "inbox:act"))
    publish_unaccepted_order("ORD-N1", venue_id=61, city_id=6)
    card(page, "ORD-N1").wait_for(timeout=30_000)
    card(page, "ORD-N1").click()
    # When alice adds a note, assigns the problem to carol, then silences it for 15 minutes
    page.get_by_label("Note").fill("venue phone busy, retrying")
    page.get_by_role("button", name="Add note", exact=True).click()
    page.locator("#history li", has_text="noted by alice").wait_for()
    page.get_by_label("Assign to").fill("carol")
    page.get_by_role("button", name="Assign", exact=True).click()
    page.locator("#history li", has_text="assigned by alice to carol").wait_for()
    page.get_by_label("Silence for").select_option("15")
    page.get_by_role("button", name="Silence", exact=True).click()
    page.locator("#history li", has_text="silenced by alice until").wait_for()
    # Then the note is kept, and the card leaves the open list for the silenced one
    assert "venue phone busy, retrying" in page.locator("#history").inner_text()
    card(page, "ORD-N1").wait_for(state="detached", timeout=15_000)
    page.get_by_label("Status").select_option("silenced")
    card(page, "ORD-N1").wait_for()
    assert "silenced until" in card(page, "ORD-N1").inner_text()
    assert "carol" in card(page, "ORD-N1").inner_text()
    # And the assignee filter finds it under carol's name
    page.get_by_label("Assignee").fill("carol")
    page.get_by_label("Assignee").press("Enter")
    card(page, "ORD-N1").wait_for()


def test_a_venue_level_problem_holds_its_orders_muted_under_it(
    page: Page, live_app: str, db: Any, scheduler: None
) -> None:
    # Given three orders of one venue that nobody accepts (venue_struggling: 3 waiting)
    sign_in(page, key_for(db, "alice", "inbox:read", "inbox:act"))
    for n in (1, 2, 3):
        publish_unaccepted_order(f"ORD-V{n}", venue_id=51, city_id=5)
    # Then the venue's card heads its group, its orders' records muted under it
    venue_card = page.locator(CARD, has_text="venue_struggling")
    venue_card.wait_for(timeout=30_000)
    group = page.locator("section.group", has=page.locator("button.card", has_text="venue 51"))
    page.locator(".symptoms button.card.muted").nth(2).wait_for(timeout=15_000)
    muted = group.locator(".symptoms button.card.muted").all_inner_texts()
    assert muted == ["venue_not_accepting because venue struggling"] * 3
    first = group.locator("button.card").first.inner_text()
    assert "venue_struggling" in first and "venue 51" in first
    # And by keyboard: down from the venue's card to its first muted order, Enter opens it
    group.locator("button.card").first.focus()
    page.keyboard.press("ArrowDown")
    assert "muted" in (page.evaluate("() => document.activeElement.className") or "")
    page.keyboard.press("Enter")
    # Then it says what mutes it
    page.locator("dl.facts", has_text="Muted by").wait_for()
    assert "venue_struggling" in page.locator("dl.facts").inner_text()
    # And Escape closes it, back to its card
    page.keyboard.press("Escape")
    page.locator("#detail").wait_for(state="hidden")
    assert "muted" in (page.evaluate("() => document.activeElement.className") or "")


# ---------------------------------------------------------------- screenshots

PIXELS_JS = """async (b64) => {
  const image = new Image();
  image.src = "data:image/png;base64," + b64;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width; canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const data = context.getImageData(0, 0, image.width, image.height).data;
  const counts = new Map();
  for (let i = 0; i < data.length; i += 16) {   // every 4th pixel
    const key = (data[i] >> 3) << 10 | (data[i + 1] >> 3) << 5 | (data[i + 2] >> 3);
    counts.set(key, (counts.get(key) || 0) + 1);
  }
  const total = data.length / 16;
  const background = Math.max(...counts.values());
  return {colours: counts.size, painted: 1 - background / total,
          width: image.width, height: image.height};
}"""


def pixels(page: Page, name: str) -> dict[str, float]:
    """How many colours and what share of pixels differ from the commonest (the background)
    in a screenshot of the page as it is now (decoded by the browser, in the page)."""
    png = page.screenshot_to(name, full_page=False).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    result: dict[str, float] = page.evaluate(PIXELS_JS, base64.b64encode(png).decode())
    return result


def laid_out(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not rendered"
    return box


def test_the_main_views_render_something_real(
    page: Page, live_app: str, db: Any, scheduler: None
) -> None:
    # The sign-in view: a form, visible, in a page that is not blank
    page.goto("/inbox")
    page.get_by_label("API key").wait_for()
    assert laid_out(page, "#sign-in")["width"] > 300
    signed_out = pixels(page, "console-sign-in")
    assert signed_out["colours"] >= 8 and signed_out["painted"] > 0.02, signed_out
    # The list view with two problems, one critical-looking group each
    sign_in(page, key_for(db, "alice", "inbox:read", "inbox:act"))
    publish_unaccepted_order("ORD-S1", venue_id=41, city_id=4)
    publish_unaccepted_order("ORD-S2", venue_id=42, city_id=4)
    card(page, "ORD-S2").wait_for(timeout=30_000)
    card(page, "ORD-S1").wait_for(timeout=30_000)
    for selector in (CARD, "#filters", "header.bar"):
        box = laid_out(page, selector)
        assert box["width"] > 200 and box["height"] > 20, (selector, box)
    listed = pixels(page, "console-list")
    assert listed["colours"] >= 12 and listed["painted"] > 0.1, listed
    # The detail view beside the list: timeline, actions and history laid out
    card(page, "ORD-S1").click()
    page.locator("table.timeline").wait_for()
    for selector in ("#detail", "table.timeline", "section.actions", "#history"):
        box = laid_out(page, selector)
        assert box["width"] > 200 and box["height"] > 20, (selector, box)
    assert laid_out(page, "#detail")["x"] > laid_out(page, CARD)["x"]  # side by side
    detailed = pixels(page, "console-detail")
    assert detailed["colours"] > listed["colours"] * 0.8 and detailed["painted"] > 0.15, detailed
    # Every control has an accessible name
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, input, select, textarea')]
              .filter(el => el.offsetParent !== null)
              .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                            && !el.textContent.trim())
              .map(el => el.outerHTML)"""
    )
    assert unnamed == []
    assert page.left_the_machine == []


def test_a_blank_page_fails_the_pixel_check(page: Page, live_app: str) -> None:
    # The screenshot check itself: an empty page is flagged (it can fail)
    page.goto("/inbox")
    page.evaluate(
        "() => { document.body.innerHTML = ''; document.body.style.background = '#fff'; }"
    )
    time.sleep(0.1)
    blank = pixels(page, "blank")
    assert blank["colours"] < 8 or blank["painted"] <= 0.02, blank
