"""Which requests the list reads' fast path answers itself: only the plain, valid ones; every
other request goes on to FastAPI, which validates and answers it as before."""

from __future__ import annotations

from typing import Any

import pytest

from programs.http.fastpath import ListReads


async def _never(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not called by parse")


def _reads() -> ListReads:
    return ListReads(
        _never,
        read=lambda *args: None,  # type: ignore[arg-type]
        surfaces=frozenset({"discovery", "items"}),
        max_id=2**63 - 1,
        max_limit=100,
        default_limit=20,
    )


def _scope(path: str, query: bytes = b"", method: str = "GET", **extra: Any) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": query, **extra}


@pytest.mark.parametrize(
    ("path", "query", "wanted"),
    [
        ("/v1/users/7/recommendations/discovery", b"", (7, "discovery", 0, 20)),
        ("/v1/users/7/recommendations/items", b"context=5", (7, "items", 5, 20)),
        ("/v1/users/7/recommendations/items", b"limit=3&context=5", (7, "items", 5, 3)),
        ("/v1/users/7/recommendations/discovery", b"context=0&limit=100", (7, "discovery", 0, 100)),
        (f"/v1/users/{2**63 - 1}/recommendations/discovery", b"", (2**63 - 1, "discovery", 0, 20)),
    ],
)
def test_a_plain_valid_list_read_is_answered_by_the_fast_path(
    path: str, query: bytes, wanted: tuple[int, str, int, int]
) -> None:
    # Given a well-formed read of a known surface / When parsed / Then its values come back
    assert _reads().parse(_scope(path, query)) == wanted


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/users/7/recommendations/coupons", b""),  # unknown surface: FastAPI's 404
        ("/v1/users/0/recommendations/discovery", b""),  # out of range: FastAPI's 422
        ("/v1/users/007/recommendations/discovery", b""),  # leading zeros: FastAPI's to judge
        (f"/v1/users/{2**63}/recommendations/discovery", b""),
        ("/v1/users/abc/recommendations/discovery", b""),
        ("/v1/users/7/recommendations/discovery/", b""),  # trailing slash: FastAPI's redirect
        ("/v1/users/7/recommendations/discovery", b"limit=0"),
        ("/v1/users/7/recommendations/discovery", b"limit=101"),
        ("/v1/users/7/recommendations/discovery", b"limit=many"),
        ("/v1/users/7/recommendations/discovery", b"limit=+5"),
        ("/v1/users/7/recommendations/items", b"context=-5"),
        ("/v1/users/7/recommendations/items", b"context=5&context=6"),  # repeated
        ("/v1/users/7/recommendations/items", b"context=5&utm=x"),  # a parameter to ignore
        ("/v1/users/7/recommendations/items", b"context=5&"),
        ("/v1/users/7/recommendations/items", b"context=%35"),  # percent-encoded
        ("/v1/users/7/cart", b"items=1"),
        ("/healthz", b""),
    ],
)
def test_anything_else_goes_on_to_fastapi(path: str, query: bytes) -> None:
    # Given a request the route must validate, reject or route / When parsed / Then no answer
    assert _reads().parse(_scope(path, query)) is None


def test_other_methods_and_a_proxy_prefix_go_on_to_fastapi() -> None:
    path = "/v1/users/7/recommendations/discovery"
    assert _reads().parse(_scope(path, method="HEAD")) is None
    assert _reads().parse(_scope(path, method="POST")) is None
    assert _reads().parse(_scope(path, root_path="/api")) is None
    assert _reads().parse({"type": "websocket", "path": path, "query_string": b""}) is None
