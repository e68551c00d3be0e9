"""`larder eval --orders FILE.csv [--json]`: offline evaluation of the items models on a file.

Reads the same CSV as `larder import orders` (UTF-8, optional BOM; raises BadFile listing the
problems) and runs domain.recs.evaluation's last-basket holdout on it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from domain.orders_csv import BadFile, parse_order_lines
from domain.recs.evaluation import METRICS, baskets_from_orders, evaluate, split_last_basket


def run(path: Path, as_json: bool) -> str:
    """The metrics per model, as an aligned table (3 decimals) or as JSON."""
    baskets = baskets_from_orders(parse_order_lines(_text_lines(path)))
    results = evaluate(baskets)
    if as_json:
        return json.dumps(results, indent=2)
    users = len(split_last_basket(baskets)[2])
    return _table(results) + f"\n{users} users scored on their last order (held out)"


def _text_lines(path: Path) -> io.StringIO:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BadFile([(line, f"not valid UTF-8 (byte {error.start})")]) from None
    return io.StringIO(text, newline="")


def _table(results: dict[str, dict[str, float]]) -> str:
    name_width = max(len("model"), *(len(name) for name in results))
    widths = [max(len(metric), 5) for metric in METRICS]
    header = "  ".join(
        ["model".ljust(name_width), *(m.rjust(w) for m, w in zip(METRICS, widths, strict=True))]
    )
    rows = [
        "  ".join(
            [
                name.ljust(name_width),
                *(f"{values[m]:.3f}".rjust(w) for m, w in zip(METRICS, widths, strict=True)),
            ]
        )
        for name, values in results.items()
    ]
    return "\n".join([header, *rows])
