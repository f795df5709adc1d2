"""The web UI: server-rendered pages (Jinja2) with htmx, over the same services as the API."""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

# web/ sits beside the package in a checkout: templates and static assets, all served by AppMarket itself.
WEB_DIR = Path(__file__).resolve().parents[3] / "web"


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=WEB_DIR / "templates", engine=JinjaTemplateEngine)


def static_router() -> Router:
    return create_static_files_router(path="/static", directories=[WEB_DIR / "static"],
                                      include_in_schema=False)
