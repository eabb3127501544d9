import re

from tests.integration.service import Service

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


async def test_the_docs_page_loads_every_asset_from_the_service_itself(service: Service) -> None:
    page = await service.client.get("/docs/")
    assets = re.findall(r"""<(?:script|link)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""", page.text)

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert {asset.rsplit(".", 1)[-1] for asset in assets} == {"js", "css", "png"}  # scripts, styles, the icon
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), f"{asset} is not on the service"
        answer = await service.client.get(asset)
        expected = CONTENT_TYPES["." + asset.rsplit(".", 1)[-1]]
        assert (answer.status_code, answer.headers["content-type"].split(";")[0]) == (200, expected), asset
        assert answer.content, asset
