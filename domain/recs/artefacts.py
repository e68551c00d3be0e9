"""Serialising a trained model bundle to bytes and back (pure; numpy's .npz, no pickle).

Every array of every part is stored under `<part>.<field>` (`<part>.<field>.<csr part>` for
sparse matrices); the items model's parameters go in a JSON header."""

from __future__ import annotations

import io
import json
from dataclasses import asdict, fields
from typing import Any

import numpy as np

from domain.recs.bundle import Bundle
from domain.recs.cart import CartModel
from domain.recs.items import Csr, ItemsModel, ItemsParams
from domain.recs.venues import VenueModel

FORMAT = 3  # 3: the items model keeps an item graph, not every user's vector
PARTS: dict[str, type[Any]] = {"items": ItemsModel, "venues": VenueModel, "cart": CartModel}


def to_bytes(bundle: Bundle) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    for part in PARTS:
        _pack(part, getattr(bundle, part), arrays)
    header = {"format": FORMAT, "params": asdict(bundle.items.params)}
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def readable(data: bytes) -> bool:
    """Whether `from_bytes` reads this artefact (its format is this code's); reads the header
    only."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return bool(_header(archive)["format"] == FORMAT)


def from_bytes(data: bytes) -> Bundle:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        header = _header(archive)
        if header["format"] != FORMAT:
            raise ValueError(
                f"unknown model artefact format {header['format']}: run `larder recs train`"
            )
        extra = {"params": ItemsParams(**header["params"])}
        parts = {part: _unpack(cls, part, archive, extra) for part, cls in PARTS.items()}
    return Bundle(**parts)


def _header(archive: Any) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(archive["header"].tobytes())
    return header


def _pack(prefix: str, part: Any, arrays: dict[str, np.ndarray]) -> None:
    for spec in fields(part):
        value = getattr(part, spec.name)
        if isinstance(value, Csr):
            for name in Csr._fields:
                arrays[f"{prefix}.{spec.name}.{name}"] = getattr(value, name)
        elif isinstance(value, np.ndarray):
            arrays[f"{prefix}.{spec.name}"] = value


def _unpack(cls: type[Any], prefix: str, archive: Any, extra: dict[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for spec in fields(cls):
        key = f"{prefix}.{spec.name}"
        if f"{key}.indptr" in archive:
            values[spec.name] = Csr(*(_frozen(archive[f"{key}.{n}"]) for n in Csr._fields))
        elif key in archive:
            values[spec.name] = _frozen(archive[key])
        else:
            values[spec.name] = extra[spec.name]
    return cls(**values)


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array
