from backend.catalog.models import Copy, CopyStatus, ItemType, Record
from backend.network.models import Library
from tests.integration.factories import build_network
from tests.integration.service import Service

# Standing in 人民公园, next to the central library (TL) and a couple of km from TL-A-1.
PARK = {"lat": 30.9458, "lng": 117.8131}


async def three_body() -> Record:
    record = await Record.create(
        isbn13="9787536692930",
        title="三体",
        authors=[{"name": "刘慈欣", "role": "author"}],
        publisher="重庆出版社",
        year=2008,
        clc_class="I247.55",
        language="chi",
    )
    libraries = {lib.code: lib for lib in await Library.all()}
    for barcode, code, status in [
        ("TL00000001", "TL-B", CopyStatus.AVAILABLE),
        ("TL00000002", "TL", CopyStatus.ON_LOAN),
        ("TL00000003", "TL-A-1", CopyStatus.AVAILABLE),
        ("TL00000004", "TL-A-1", CopyStatus.AVAILABLE),
        ("TL00000005", "TL", CopyStatus.WITHDRAWN),
    ]:
        await Copy.create(
            barcode=barcode,
            record=record,
            home_library=libraries[code],
            current_library=libraries[code],
            status=status,
            item_type=ItemType.BOOK,
        )
    return record


async def test_a_record_shows_every_copy_by_library_available_and_nearest_first(service: Service) -> None:
    await build_network()
    record = await three_body()

    detail = (await service.client.get(f"/records/{record.id}", params=PARK)).json()

    assert detail["title"] == "三体" and detail["authors"] == [{"name": "刘慈欣", "role": "author"}]
    assert detail["available"] == 3
    assert [(h["library_code"], h["available"]) for h in detail["holdings"]] == [("TL-A-1", 2), ("TL-B", 1), ("TL", 0)]
    assert detail["holdings"][0]["distance_m"] < detail["holdings"][1]["distance_m"]
    barcodes = [c["barcode"] for h in detail["holdings"] for c in h["copies"]]
    assert "TL00000005" not in barcodes  # withdrawn: no longer part of the collection
    assert detail["holdings"][2]["copies"][0]["status"] == "on_loan"


async def test_without_a_location_holdings_come_without_distances(service: Service) -> None:
    await build_network()
    record = await three_body()

    detail = (await service.client.get(f"/records/{record.id}")).json()

    assert {h["distance_m"] for h in detail["holdings"]} == {None}


async def test_unknown_records_are_a_clear_404(service: Service) -> None:
    missing = await service.client.get("/records/424242")
    absurd = await service.client.get("/records/99999999999")

    assert (missing.status_code, missing.json()["code"]) == (404, "record_not_found")
    assert absurd.status_code == 400
