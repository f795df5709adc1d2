"""Web UI helpers that are pure (no web framework): the values-schema form model."""
