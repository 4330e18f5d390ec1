"""Build tools (not part of the function app)."""
