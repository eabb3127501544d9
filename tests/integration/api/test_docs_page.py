import importlib.metadata
import re

import pytest

from tests.integration.service import Service

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
ASSETS = f"/docs/assets/{importlib.metadata.version('swagger-ui-py')}"


async def test_the_docs_page_loads_every_asset_from_the_service_itself(service: Service) -> None:
    page = await service.client.get("/docs/")
    assets = re.findall(r"""<(?:script|link)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""", page.text)

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert {asset.rsplit(".", 1)[-1] for asset in assets} == {"js", "css", "png"}  # scripts, styles, the icon
    for asset in assets:
        assert asset.startswith(f"{ASSETS}/"), f"{asset} is not on the service under the package's version"
        answer = await service.client.get(asset)
        expected = CONTENT_TYPES["." + asset.rsplit(".", 1)[-1]]
        assert (answer.status_code, answer.headers["content-type"].split(";")[0]) == (200, expected), asset
        assert answer.content, asset
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable", asset


@pytest.mark.parametrize(
    "path",
    [
        f"{ASSETS}/swagger-editor-bundle.js",  # Swagger Editor: shipped by the package, not used by the page
        f"{ASSETS}/swagger-editor-bundle.js.map",
        f"{ASSETS}/swagger-initializer.js",  # the package's demo, which loads the petstore
        f"{ASSETS}/LICENSE",
        "/docs/assets/swagger-ui-bundle.js",  # no version: not a URL the page gives
    ],
)
async def test_a_file_the_page_does_not_load_is_not_served(service: Service, path: str) -> None:
    assert (await service.client.get(path)).status_code == 404
