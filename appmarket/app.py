"""The composition root: ``create_app(settings)`` builds the service graph inside the app lifespan.

Importing this module does nothing; tests build apps from their own settings objects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from appmarket import __version__, metrics
from appmarket.api import chartmuseum, helm_repo, management
from appmarket.api.deps import provide_services
from appmarket.api.system import health
from appmarket.services import bootstrap, build_services
from appmarket.settings import Settings


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def create_app(settings: Settings) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(bootstrap, settings)
        services = await anyio.to_thread.run_sync(build_services, settings)
        app.state.services = services
        metrics.attach(services.db)
        try:
            yield
        finally:
            metrics.attach(None)
            await anyio.to_thread.run_sync(services.close)

    prometheus = PrometheusConfig(app_name="appmarket", prefix="appmarket", group_path=True,
                                  exclude=["/metrics"])
    return Litestar(
        route_handlers=[health, MetricsController, management.router, chartmuseum.router, helm_repo.router],
        dependencies={"services": Provide(provide_services, sync_to_thread=False)},
        lifespan=[lifespan],
        middleware=[prometheus.middleware],
        openapi_config=OpenAPIConfig(title="AppMarket", version=__version__, path="/api/v1/docs",
                                     render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")]),
        debug=False,
        # Logging is configured once by the CLI (text or JSON); the app must not replace it.
        logging_config=None,
    )
