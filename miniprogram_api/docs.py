"""The API's documentation page, with Swagger UI's scripts and styles served by the service: it works offline and on a
network that cannot reach a CDN (Litestar's plugin loads them from jsDelivr by default)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar import Router
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/docs/assets"


def _swagger_ui_files() -> Path:
    # swagger-ui-py ships swagger-ui-dist (5.x, which reads OpenAPI 3.1) as package data; found without importing
    # the package, whose own code (web framework adapters, Jinja templates) is not used.
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: it ships the documentation page's assets")
    return Path(spec.submodule_search_locations[0]) / "static"


def swagger_page() -> SwaggerRenderPlugin:
    """Swagger UI at the documentation root, every asset (the favicon too) from `assets()`."""
    return SwaggerRenderPlugin(
        path="/",
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


def assets() -> Router:
    """The route serving Swagger UI's files."""
    return create_static_files_router(path=ASSETS_PATH, directories=[_swagger_ui_files()], name="docs-assets")
