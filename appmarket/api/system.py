"""Health and metrics endpoints."""

from __future__ import annotations

from litestar import get

from appmarket.api.deps import ServicesDep


@get("/health", sync_to_thread=True, tags=["system"])
def health(services: ServicesDep) -> dict[str, bool]:
    """ChartMuseum's health shape; also proves the database answers."""
    with services.db.read() as s:
        s.connection().exec_driver_sql("SELECT 1")
    return {"healthy": True}
