"""Wire types of the registry's JSON management API (``/api/v1/projects/{project}/repositories``).

The ``/v2`` protocol has its own documents (manifests, tag lists); these answer what it cannot: which
repositories a project holds, and for each tag its digest, media type, size and platforms.
"""

from __future__ import annotations

import datetime as dt

import msgspec


class Platform(msgspec.Struct, frozen=True, omit_defaults=True):
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """From the recorded ``os/architecture[/variant]`` form."""
        os_, _, rest = text.partition("/")
        arch, _, variant = rest.partition("/")
        return cls(os=os_, architecture=arch, variant=variant or None)


class ImageOut(msgspec.Struct, frozen=True):
    """One image of an index."""

    digest: str
    platforms: list[Platform]
    size: int
    """The image manifest plus its config and layers, in bytes."""


class TagOut(msgspec.Struct, frozen=True):
    tag: str
    digest: str
    media_type: str
    kind: str
    """image | index | helm chart | artifact."""
    size: int
    """The manifest's own bytes (as in an OCI descriptor)."""
    total_size: int
    """The manifest plus everything it references (for an index, all its images)."""
    platforms: list[Platform]
    """What the tag runs on: an image's config platform, or every platform of an index."""
    images: list[ImageOut]
    """An index's images with their platforms (empty for anything else)."""
    updated_at: dt.datetime


class RepositoryOut(msgspec.Struct, frozen=True):
    repository: str
    """The full name, ``project/path``, as ``/v2`` and clients spell it."""
    name: str
    tags: int
    untagged: int
