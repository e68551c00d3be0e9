"""Thin actors: validate into a schemas/ model, open one transaction, call pure code, write."""
