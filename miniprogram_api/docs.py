"""The API's documentation page, with Swagger UI's scripts and styles served by the service: it works offline and on a
network that cannot reach a CDN (Litestar's plugin loads them from jsDelivr by default)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.response import File

_SWAGGER_UI_VERSION = importlib.metadata.version("swagger-ui-py")
ASSETS_PATH = f"/docs/assets/{_SWAGGER_UI_VERSION}"
"""Versioned by the package that ships the files, so an upgrade is a new URL and no browser keeps an old file."""

# What the page loads, and nothing else of the package's 25 MB (Swagger Editor, source maps, a demo initializer).
_FILES = ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "favicon-32x32.png")
_CACHED_FOR_A_YEAR = {"Cache-Control": "public, max-age=31536000, immutable"}


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


def assets() -> HTTPRouteHandler:
    """The route serving the files of Swagger UI that the page loads, each cached for a year."""
    files = {name: _swagger_ui_files() / name for name in _FILES}

    @get(f"{ASSETS_PATH}/{{name:str}}", include_in_schema=False, name="docs-assets")
    async def asset(name: str) -> File:
        path = files.get(name)
        if path is None:
            raise NotFoundException()
        return File(path, filename=name, content_disposition_type="inline", headers=_CACHED_FOR_A_YEAR)

    return asset
