"""AppMarket: application marketplace, Helm chart repository and OCI registry."""

__version__ = "0.1.0"
