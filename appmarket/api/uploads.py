"""Receiving request bodies without holding them whole in memory."""

from __future__ import annotations

import tempfile
from typing import Any, BinaryIO, cast

from litestar import Request

from appmarket.errors import TooLarge

SPOOL_IN_MEMORY = 1024 * 1024


async def spool_body(request: Request[Any, Any, Any], limit: int) -> BinaryIO:
    """Copy the request body to a spooled temporary file, refusing it once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned open
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"request body exceeds the limit of {limit} bytes")
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return cast(BinaryIO, spool)
