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
from appmarket.api import addons as addons_api
from appmarket.api import catalog, chartmuseum, helm_repo, management, oci
from appmarket.api.deps import provide_services
from appmarket.api.system import health
from appmarket.api.web import pages as web_pages
from appmarket.api.web import pages_addons as web_addons
from appmarket.api.web import pages_admin as web_admin
from appmarket.api.web import pages_install as web_install
from appmarket.api.web import pages_manage as web_manage
from appmarket.api.web import static_router, template_config
from appmarket.api.web.session import session_config
from appmarket.catalog.publish import publish_at_startup
from appmarket.installer.secretbox import load_or_create_key
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
        if settings.publish_catalog:
            await anyio.to_thread.run_sync(publish_at_startup, services.db, services.projects, services.charts,
                                           settings.catalog_dir)
        metrics.attach(services.db)
        services.workers.start()
        services.addons.controller.start()
        services.registry.janitor.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(services.registry.janitor.stop)
            await anyio.to_thread.run_sync(services.addons.controller.stop)
            await anyio.to_thread.run_sync(services.workers.stop)
            metrics.attach(None)
            await anyio.to_thread.run_sync(services.close)

    prometheus = PrometheusConfig(app_name="appmarket", prefix="appmarket", group_path=True,
                                  exclude=["/metrics"])
    return Litestar(
        route_handlers=[health, MetricsController, management.router, catalog.router, chartmuseum.router,
                        helm_repo.router, oci.router, oci.token_router, oci.admin_router,
                        web_pages.router, web_manage.router, web_install.router, web_admin.router, static_router(),
                        addons_api.router, web_addons.router],
        template_config=template_config(),
        dependencies={"services": Provide(provide_services, sync_to_thread=False)},
        lifespan=[lifespan],
        middleware=[prometheus.middleware,
                    session_config(load_or_create_key(settings.data_path, settings.secret_key)).middleware],
        openapi_config=OpenAPIConfig(title="AppMarket", version=__version__, path="/api/v1/docs",
                                     render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")]),
        debug=False,
        # Logging is configured once by the CLI (text or JSON); the app must not replace it.
        logging_config=None,
    )
