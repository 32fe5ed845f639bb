"""JSON API v1 under /api/v1: one module per resource, each with its `routes` list."""
