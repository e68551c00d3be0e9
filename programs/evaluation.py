"""`larder eval items --orders FILE.csv [--json]`: offline evaluation of the items models on a file.

Reads the same CSV as `larder intake import` (UTF-8, optional BOM; raises BadFile listing the
problems) and runs domain.recs.evaluation's last-basket holdout on it.
"""

from __future__ import annotations

import json
from pathlib import Path

from domain.recs.evaluation import METRICS, baskets_from_orders, evaluate, split_last_basket
from store.intake.orders_import import read_orders_file


def run(path: Path, as_json: bool) -> str:
    """The metrics per model, as an aligned table (3 decimals) or as JSON."""
    baskets = baskets_from_orders(read_orders_file(path))
    results = evaluate(baskets)
    if as_json:
        return json.dumps(results, indent=2)
    users = len(split_last_basket(baskets)[2])
    return _table(results) + f"\n{users} users scored on their last order (held out)"


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
