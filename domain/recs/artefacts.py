"""Serialising a trained items model to bytes and back (pure; numpy's .npz, no pickle)."""

from __future__ import annotations

import io
import json
from dataclasses import asdict, fields

import numpy as np

from domain.recs.items import Csr, ItemsModel, ItemsParams

FORMAT = 1
_CSR = ("vectors", "postings")


def to_bytes(model: ItemsModel) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    for spec in fields(model):
        value = getattr(model, spec.name)
        if spec.name in _CSR:
            for part in Csr._fields:
                arrays[f"{spec.name}.{part}"] = getattr(value, part)
        elif isinstance(value, np.ndarray):
            arrays[spec.name] = value
    header = {"format": FORMAT, "params": asdict(model.params)}
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def from_bytes(data: bytes) -> ItemsModel:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes())
        if header["format"] != FORMAT:
            raise ValueError(f"unknown model artefact format {header['format']}")
        values: dict[str, object] = {"params": ItemsParams(**header["params"])}
        for spec in fields(ItemsModel):
            if spec.name in _CSR:
                values[spec.name] = Csr(
                    *(_frozen(archive[f"{spec.name}.{p}"]) for p in Csr._fields)
                )
            elif spec.name != "params":
                values[spec.name] = _frozen(archive[spec.name])
    return ItemsModel(**values)  # type: ignore[arg-type]


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array
