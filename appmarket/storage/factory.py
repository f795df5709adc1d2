"""Build the configured blob store; the single place that knows which drivers exist."""

from __future__ import annotations

from appmarket.errors import Invalid
from appmarket.settings import FilesystemStorage, S3Storage, Settings
from appmarket.storage.base import BlobStore
from appmarket.storage.filesystem import FilesystemStore


def open_store(settings: Settings) -> BlobStore:
    """The store for ``settings.storage``; anything but a known driver is refused, never defaulted."""
    storage = settings.storage
    if isinstance(storage, FilesystemStorage):
        return FilesystemStore(settings.storage_root)
    if isinstance(storage, S3Storage):
        # Imported here so filesystem deployments never import boto3.
        from appmarket.storage.s3 import S3Store  # noqa: PLC0415 - lazy on purpose, see above

        return S3Store(storage)
    raise Invalid(f"unknown storage driver {type(storage).__name__}")
