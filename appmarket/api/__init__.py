"""The HTTP layer: parse, call a service, map errors. No domain logic lives here."""
