"""The OCI Distribution registry: pure protocol modules plus the registry services over the shared store."""
