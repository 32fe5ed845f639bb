"""The server-rendered htmx dashboard: one module per page family, each with its `routes` list."""
