"""Where things are: the checkout, and the team's shared data beside it (../shared)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
INSTACART = SHARED_DATA / "instacart" / "order_lines.csv"
OBD = SHARED_DATA / "obd"
