"""The one MetaData every capability's tables are defined on (see store/tables.py)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, MetaData, func

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def versioned() -> list[Column[object]]:
    """The columns of a catalog entity replaced by newer versions (last writer wins by version)."""
    return [
        Column("version", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]
