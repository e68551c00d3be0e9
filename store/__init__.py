"""The Postgres store: table models, named SQL, engine and unit of work."""
