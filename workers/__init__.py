"""Process-level wiring: settings, the one broker module, middleware, the `larder` CLI."""
