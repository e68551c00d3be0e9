"""Recommendation models for larder and their offline evaluation (pure: no I/O)."""
