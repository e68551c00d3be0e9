"""Order lifecycle: the projection of an order's events and the problem rules (pure, no I/O)."""
