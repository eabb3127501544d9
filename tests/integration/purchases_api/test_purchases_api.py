import csv
import io
from datetime import UTC, datetime

import httpx

from backend.accounts.models import Reader
from tests.integration.factories import bearer, login_reader, staff_headers
from tests.integration.purchases.conftest import PASSWORD, Shops, a_reader, isbn
from tests.integration.service import Service

PROBLEM = "application/problem+json"


async def clerk_headers(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post("/staff/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


async def test_a_reader_checks_a_book_the_clerk_approves_and_the_reader_sees_the_loan(
    service: Service, partners: Shops
) -> None:
    number = await partners.stock(1, title="三体")
    reader = await login_reader(service, "chooser")
    card = await Reader.get(openid="chooser")
    clerk = await clerk_headers(service.client, "xinhua-1")

    checked = await service.client.get(
        "/readers/me/purchases/check", params={"bookstore_id": partners.shop.id, "isbn": number}, headers=reader.headers
    )
    approved = await service.client.post(
        "/bookstore/purchases", json={"isbn": number, "card_number": card.card_number}, headers=clerk
    )
    mine = await service.client.get("/readers/me/purchases", headers=reader.headers)
    offers = await service.client.get("/purchases/partner-offers", params={"isbns": f"{number},{isbn(99)}"})

    assert checked.status_code == 200, checked.text
    assert (checked.json()["approvable"], checked.json()["price_fen"]) == (True, 3400)
    assert approved.status_code == 201, approved.text
    page = mine.json()
    assert page["total"] == 1 and page["items"][0]["title"] == "三体"
    assert page["items"][0]["returned_at"] is None and page["items"][0]["state"] == "reserved"
    listed = [(i["isbn13"], [o["bookstore"] for o in i["offers"]]) for i in offers.json()["isbns"]]
    assert listed == [(number, ["铜陵新华书店"]), (isbn(99), [])]


async def test_a_clerk_of_another_shop_and_staff_outside_scope_are_refused(service: Service, partners: Shops) -> None:
    other_clerk = await clerk_headers(service.client, "zongyang-1")
    b_admin = await staff_headers(service.client, "b-admin")
    reader = await login_reader(service, "nosy")

    sales = await service.client.get("/bookstore/sales", headers=other_clerk)
    own_shop = await service.client.get("/bookstore", headers=other_clerk)
    as_staff = await service.client.get("/staff/purchases/processing", headers=other_clerk)
    foreign = await service.client.post(
        f"/staff/purchases/bookstores/{partners.shop.id}/statements", json={"year": 2026, "month": 12}, headers=b_admin
    )
    figures = await service.client.get(
        "/staff/purchases/libraries/TL-A/figures", params={"year": 2026}, headers=b_admin
    )
    reader_as_clerk = await service.client.get("/bookstore", headers=reader.headers)

    assert own_shop.json()["id"] == partners.other.id and sales.status_code == 200
    assert (as_staff.status_code, as_staff.json()["code"]) == (403, "staff_only")
    assert (foreign.status_code, foreign.json()["code"]) == (404, "bookstore_not_found")
    assert figures.status_code in (403, 404) and figures.headers["content-type"].startswith(PROBLEM)
    assert reader_as_clerk.status_code == 403


async def test_a_stock_upload_reports_its_bad_rows(service: Service, partners: Shops) -> None:
    clerk = await clerk_headers(service.client, "xinhua-1")
    body = (
        "isbn,title,authors,publisher,year,price,quantity,clc_class\n"
        f"{isbn(7)},好书,甲,社,2026,39.80,2,I247\n"
        "12345,坏书,乙,社,2026,10,1,I\n"
        f"{isbn(8)},,丙,社,2026,10,1,I\n"
    ).encode()

    loaded = await service.client.post(
        "/bookstore/stock", params={"format": "csv"}, content=body, headers={**clerk, "content-type": "text/csv"}
    )
    found = await service.client.get(f"/purchases/bookstores/{partners.shop.id}/stock", params={"q": "好书"})

    assert loaded.status_code == 200, loaded.text
    report = loaded.json()
    assert (report["rows"], report["created"], report["problem_count"]) == (3, 1, 2)
    assert [p["line"] for p in report["problems"]] == [3, 4]
    assert [i["list_price_fen"] for i in found.json()["items"]] == [3980]


async def test_the_settlement_csv_adds_up(service: Service, partners: Shops) -> None:
    for n in (11, 12):
        await partners.buy(await a_reader(f"读者{n}", "TL-A"), await partners.stock(n, list_price_fen=3000 + n))
    service.clock.freeze_at(datetime(2027, 1, 1, 2, 0, tzinfo=UTC))  # 10:00 on 1 January in Tongling: December is over
    admin = await staff_headers(service.client, "a-admin")

    settled = await service.client.post(
        f"/staff/purchases/bookstores/{partners.shop.id}/statements", json={"year": 2026, "month": 12}, headers=admin
    )
    statement = f"/staff/purchases/statements/{settled.json()['id']}"
    sheet = await service.client.get(f"{statement}/statement.csv", headers=admin)
    totals = await service.client.get(statement, headers=admin)
    first_line = await service.client.get(f"{statement}/lines", params={"limit": 1}, headers=admin)

    assert settled.status_code == 201, settled.text
    assert settled.json()["books"] == 2, (settled.text, sheet.text)
    rows = list(csv.reader(io.StringIO(sheet.text.lstrip("\ufeff"))))
    lines, total = rows[1:-1], rows[-1]
    assert len(lines) == 2 and total[2] == "2", sheet.text
    due = sum(round(float(r[6]) * 100) for r in lines)
    assert due == round(float(total[6]) * 100) == settled.json()["due_fen"] == totals.json()["due_fen"]
    assert (first_line.json()["total"], first_line.json()["next_offset"]) == (2, 1)
    assert first_line.json()["items"][0]["list_price_fen"] == 3011


async def test_bad_input_is_a_problem(service: Service, partners: Shops) -> None:
    admin = await staff_headers(service.client, "a-admin")
    reader = await login_reader(service, "bad")

    answers = [
        await service.client.get("/purchases/partner-offers", params={"isbns": "not-an-isbn"}),
        await service.client.get(f"/purchases/bookstores/{partners.shop.id}/stock", params={"limit": 0}),
        await service.client.get(
            "/readers/me/purchases/check", params={"bookstore_id": 0, "isbn": isbn(1)}, headers=reader.headers
        ),
        await service.client.put(
            "/staff/purchases/libraries/TL-A/budgets/2026/13", json={"total_fen": 1}, headers=admin
        ),
        await service.client.post(
            "/staff/purchases/bookstores",
            json={"name": "x", "discount_bp": 20000, "library_code": "TL-A"},
            headers=admin,
        ),
    ]

    assert [a.status_code for a in answers] == [422, 400, 400, 400, 400]
    assert answers[0].json()["code"] == "invalid_isbn"
    assert all(a.headers["content-type"].startswith(PROBLEM) for a in answers)
