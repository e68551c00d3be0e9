"""Small helpers for what the CLI prints."""

from __future__ import annotations

import textwrap


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """The count with its noun: `1 message`, `0 messages`, `2 deliveries` (give the plural
    when adding an `s` is wrong)."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"


def sent(events: int, messages: int) -> str:
    """What a publish sent: `1 event in 1 message`, `2500 events in 3 messages`."""
    return f"{plural(events, 'event')} in {plural(messages, 'message')}"


def clip(text: str, width: int) -> str:
    """`text` if it fits in `width`, else cut at the last space before it (mid-word only when a
    word is longer than half the width) and ended with an ellipsis."""
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width)
    if cut < width // 2:
        cut = width
    return text[:cut].rstrip() + " …"


def wrapped(text: str, width: int, first: str, then: str) -> str:
    """All of `text`, wrapped at word boundaries into lines of `width`: the first after
    `first`, the others after `then` (words are never split: a longer one gets a line of its
    own)."""
    return textwrap.fill(
        text,
        width=width,
        initial_indent=first,
        subsequent_indent=then,
        break_long_words=False,
        break_on_hyphens=False,
    )
