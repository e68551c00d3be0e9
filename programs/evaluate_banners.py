"""`larder eval banners`: off-policy estimates of banner policies on logged impressions.

Logs are CSV in the Open Bandit Dataset's columns (`timestamp, item_id, position (1-based),
click, propensity_score, user_feature_0`, more ignored); `larder eval banners --export FILE`
writes larder's own impressions in that form. Every log is split in time: larder's policy is
trained on the earlier part of every log given (`--train-fraction` of the days) and evaluated on
each log's later part, beside the uniformly random policy and the logging policy itself. The
self-consistency checks: on each whole log, the logging policy's own estimates (IPS, SNIPS with
its propensities; replay of a uniform log by a uniform policy) cover the observed click-through.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from domain.recs import offpolicy as off
from domain.recs.offpolicy import LogRow

CLIP = 100.0
SLOTS = 3


def read_log(path: Path) -> list[LogRow]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            LogRow(
                datetime.fromisoformat(row["timestamp"]),
                int(row["item_id"]),
                int(row["position"]) - 1,
                row["click"] in ("1", "True", "true"),
                float(row["propensity_score"]),
                row.get("user_feature_0") or "",
            )
            for row in csv.DictReader(handle)
        ]


def write_log(path: Path, rows: Sequence[tuple[Any, ...]]) -> int:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["timestamp", "item_id", "position", "click", "propensity_score", "user_feature_0"]
        )
        for at, banner, position, clicked, propensity, city in rows:
            out.writerow(
                [at.isoformat(), banner, position, int(clicked), propensity, f"city{city}"]
            )
    return len(rows)


def split(rows: Sequence[LogRow], fraction: float) -> tuple[list[LogRow], list[LogRow]]:
    start, end = min(r.at for r in rows), max(r.at for r in rows)
    cut = start + timedelta(seconds=(end - start).total_seconds() * fraction)
    return [r for r in rows if r.at < cut], [r for r in rows if r.at >= cut]


def is_uniform(rows: Sequence[LogRow]) -> bool:
    propensities = {round(r.propensity, 9) for r in rows}
    return len(propensities) == 1


def evaluate(paths: Sequence[Path], fraction: float = 4 / 7, seed: int = 7) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    logs = {str(p): read_log(p) for p in paths}
    parts = {name: split(rows, fraction) for name, rows in logs.items()}
    train = [r for earlier, _ in parts.values() for r in earlier]
    larder = off.larder_policy(train, SLOTS, rng)
    report: dict[str, Any] = {"train_rows": len(train), "train_fraction": fraction, "logs": {}}
    for name, rows in logs.items():
        later = parts[name][1]
        items = sorted({r.item for r in rows})
        report["logs"][name] = {
            "rows": len(rows),
            "uniform_log": is_uniform(rows),
            "self_consistency": self_consistency(rows, items, rng),
            "later_part": policies(later, items, larder, rng),
        }
    return report


def self_consistency(
    rows: Sequence[LogRow], items: Sequence[int], rng: np.random.Generator
) -> dict[str, Any]:
    """The logging policy evaluated on its own log must cover the observed click-through."""
    seen = off.observed(rows)
    logging_pi = np.array([r.propensity for r in rows])
    found = {
        "observed": seen.as_dict(),
        "ips": off.ips(rows, logging_pi).as_dict(),
        "snips": off.snips(rows, logging_pi).as_dict(),
    }
    checks = {
        "ips_covers_observed": off.ips(rows, logging_pi).covers(seen.value),
        "snips_covers_observed": off.snips(rows, logging_pi).covers(seen.value),
    }
    if is_uniform(rows):
        replayed = off.replay(rows, off.uniform(items, SLOTS).chooser(rng))
        found["replay_uniform"] = replayed.as_dict()
        checks["replay_interval_overlaps_observed"] = (
            replayed.low <= seen.high and seen.low <= replayed.high
        )
    return {**found, "checks": checks, "passed": all(checks.values())}


def policies(
    rows: Sequence[LogRow], items: Sequence[int], larder: off.SlotPolicy, rng: np.random.Generator
) -> dict[str, Any]:
    """Each policy's estimates on `rows` (replay only on a uniform log)."""
    out: dict[str, Any] = {
        "rows": len(rows),
        "logging_policy_observed": off.observed(rows).as_dict(),
    }
    for name, policy in (("uniform_random", off.uniform(items, SLOTS)), ("larder", larder)):
        pi = policy.pi(rows)
        found = {
            "ips": off.ips(rows, pi).as_dict(),
            "clipped_ips": off.ips(rows, pi, CLIP).as_dict(),
            "snips": off.snips(rows, pi).as_dict(),
        }
        if is_uniform(rows):
            found["replay"] = off.replay(rows, policy.chooser(rng)).as_dict()
        out[name] = found
    return out


def text(report: dict[str, Any]) -> str:
    lines = [
        f"larder's policy trained on {report['train_rows']} rows (the earlier"
        f" {report['train_fraction']:.0%} of each log's time)"
    ]
    for name, log in report["logs"].items():
        consistency = log["self_consistency"]
        lines.append(
            f"\n{name}: {log['rows']} rows, {'uniform' if log['uniform_log'] else 'non-uniform'} logging policy"
        )
        lines.append(
            f"  self-consistency {'PASS' if consistency['passed'] else 'FAIL'}: {consistency['checks']}"
        )
        later = log["later_part"]
        lines.append(
            f"  later part, {later['rows']} rows; logging policy observed {_ci(later['logging_policy_observed'])}"
        )
        for policy in ("uniform_random", "larder"):
            estimates = "  ".join(f"{k} {_ci(v)}" for k, v in later[policy].items())
            lines.append(f"  {policy:<15} {estimates}")
    return "\n".join(lines)


def _ci(found: dict[str, Any]) -> str:
    low, high = found["ci95"]
    return f"{found['estimate']:.5f} [{low:.5f}, {high:.5f}]"
