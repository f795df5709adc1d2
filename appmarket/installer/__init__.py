"""The installer: registered clusters and Helm releases as durable operations."""
