"""The repository: Helm HTTP repository and OCI registry over one content-addressed store."""
