"""Deployment pieces: Alembic migrations, service helpers."""
