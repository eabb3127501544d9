from typing import Any

from backend.accounts.cards import luhn_digit
from backend.accounts.models import StaffRole
from backend.catalog.models import Copy, ItemType, Record
from backend.network.models import Library
from tests.integration.api.test_rate_limits import budgets
from tests.integration.circulation.lending import lend
from tests.integration.factories import LoggedIn, login_reader, make_staff, staff_headers
from tests.integration.service import Service

Desks = dict[str, dict[str, str]]


async def a_reader(
    service: Service, openid: str, *, name: str, home: str | None = None, phone: str | None = None
) -> tuple[LoggedIn, str]:
    """A logged-in reader with a name (and a home library and a phone when given), and their card number."""
    reader = await login_reader(service, openid)
    profile: dict[str, str] = {"name": name} | ({"home_library_code": home} if home else {})
    assert (await service.client.patch("/readers/me", json=profile, headers=reader.headers)).status_code == 200
    if phone is not None:
        code = service.wechat.issue_phone_code(phone)
        assert (await service.client.put("/readers/me/phone", json={"code": code}, headers=reader.headers)).is_success
    card = (await service.client.get("/readers/me", headers=reader.headers)).json()["card_number"]
    return reader, card


def mistyped(card: str) -> str:
    """The card number with a wrong check digit, as a slip of the finger on the last key gives."""
    return card[:-1] + str((int(card[-1]) + 1) % 10)


async def on_loan(service: Service, reader: LoggedIn) -> list[str]:
    loans = (await service.client.get("/readers/me/loans", headers=reader.headers)).json()
    return [loan["barcode"] for loan in loans["items"]]


async def find(service: Service, desk: dict[str, str], **query: str) -> dict[str, Any]:
    response = await service.client.get("/staff/readers", params=query, headers=desk)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_a_desk_lends_on_a_physical_card_number_typed_with_spaces(service: Service, desks: Desks) -> None:
    reader, card = await a_reader(service, "openid-flat-phone", name="王小明")
    typed = f" {card[:4]} {card[4:8]} {card[8:]} "

    lent = await service.client.post(
        "/staff/checkouts", json={"card_number": typed, "barcode": "A0001"}, headers=desks["a-desk"]
    )

    assert lent.status_code == 201, lent.text
    assert lent.json()["card_number"] == card
    assert await on_loan(service, reader) == ["A0001"]


async def test_a_checkout_names_the_reader_by_exactly_one_of_card_code_and_card_number(
    service: Service, desks: Desks
) -> None:
    reader, card = await a_reader(service, "openid-both", name="李雷")
    payload = (await service.client.get("/readers/me/card", headers=reader.headers)).json()["payload"]

    both = await service.client.post(
        "/staff/checkouts",
        json={"card_payload": payload, "card_number": card, "barcode": "A0001"},
        headers=desks["a-desk"],
    )
    neither = await service.client.post("/staff/checkouts", json={"barcode": "A0001"}, headers=desks["a-desk"])

    for response in (both, neither):
        assert (response.status_code, response.json()["code"]) == (422, "reader_card_required")
    assert await on_loan(service, reader) == []


async def test_a_card_number_with_a_wrong_check_digit_is_called_mistyped_not_unknown(
    service: Service, desks: Desks
) -> None:
    _, card = await a_reader(service, "openid-typo", name="韩梅梅")
    nobodys = "056299999999" + luhn_digit("056299999999")

    checkout = await service.client.post(
        "/staff/checkouts", json={"card_number": mistyped(card), "barcode": "A0001"}, headers=desks["a-desk"]
    )
    verify = await service.client.post(
        "/staff/cards/verify", json={"card_number": mistyped(card)}, headers=desks["a-desk"]
    )
    view = await service.client.get(f"/staff/readers/{mistyped(card)}", headers=desks["a-desk"])
    unknown = await service.client.post(
        "/staff/checkouts", json={"card_number": nobodys, "barcode": "A0001"}, headers=desks["a-desk"]
    )

    for response in (checkout, verify, view):
        assert (response.status_code, response.json()["code"]) == (422, "card_number_invalid"), response.text
    assert (unknown.status_code, unknown.json()["code"]) == (404, "reader_card_not_found")


async def test_a_desk_verifies_a_typed_card_number_and_sees_whose_card_it_is(service: Service, desks: Desks) -> None:
    _, card = await a_reader(service, "openid-verify", name="张三", home="TL-A")

    verified = await service.client.post("/staff/cards/verify", json={"card_number": card}, headers=desks["b-desk"])

    assert verified.status_code == 200, verified.text
    assert (verified.json()["card_number"], verified.json()["name"]) == (card, "张三")


async def test_readers_are_found_by_card_number_phone_or_the_start_of_the_name(service: Service, desks: Desks) -> None:
    _, card = await a_reader(service, "openid-wang", name="王小明", home="TL-A", phone="13800138000")
    await a_reader(service, "openid-wang-2", name="王芳", home="TL-A-1")
    await a_reader(service, "openid-li", name="李雷", home="TL-A")
    desk = desks["a-desk"]

    by_card = await find(service, desk, card_number=card)
    by_phone = await find(service, desk, phone="138 0013 8000")
    by_phone_with_country = await find(service, desk, phone="+86 138-0013-8000")
    by_name = await find(service, desk, name="王")
    second_page = await find(service, desk, name="王", limit="1", offset="1")

    assert [r["card_number"] for r in by_card["items"]] == [card]
    assert by_card["items"][0] == {
        "card_number": card,
        "name": "王小明",
        "reader_type": "adult",
        "masked_phone": "+86 138****8000",
        "home_library_code": "TL-A",
        "guardian": None,
    }
    assert [r["name"] for r in by_phone["items"]] == [r["name"] for r in by_phone_with_country["items"]] == ["王小明"]
    assert sorted(r["name"] for r in by_name["items"]) == ["王小明", "王芳"] and by_name["total"] == 2
    assert (len(second_page["items"]), second_page["total"], second_page["next_offset"]) == (1, 2, None)


async def test_a_search_takes_exactly_one_of_card_number_phone_and_name(service: Service, desks: Desks) -> None:
    _, card = await a_reader(service, "openid-one", name="王小明", home="TL-A")

    both = await service.client.get(
        "/staff/readers", params={"card_number": card, "name": "王"}, headers=desks["a-desk"]
    )
    neither = await service.client.get("/staff/readers", headers=desks["a-desk"])
    not_a_phone = await service.client.get("/staff/readers", params={"phone": "abc"}, headers=desks["a-desk"])

    assert (both.status_code, both.json()["code"]) == (422, "reader_query_required")
    assert (neither.status_code, neither.json()["code"]) == (422, "reader_query_required")
    assert (not_a_phone.status_code, not_a_phone.json()["code"]) == (422, "phone_invalid")


async def test_another_districts_desk_finds_a_reader_by_card_but_cannot_browse_them_by_name_or_phone(
    service: Service, desks: Desks
) -> None:
    _, card = await a_reader(service, "openid-tongguan", name="王小明", home="TL-A", phone="13800138000")
    b_desk = desks["b-desk"]

    by_name = await find(service, b_desk, name="王")
    by_phone = await find(service, b_desk, phone="13800138000")
    by_card = await find(service, b_desk, card_number=card)
    # One card, borrow anywhere: once the reader borrows at TL-B, TL-B's desk serves them as its own.
    lent = await service.client.post("/staff/checkouts", json={"card_number": card, "barcode": "B0001"}, headers=b_desk)
    by_name_after = await find(service, b_desk, name="王")

    assert by_name["items"] == [] and by_name["total"] == 0
    assert by_phone["items"] == []
    assert [r["card_number"] for r in by_card["items"]] == [card]
    assert lent.status_code == 201, lent.text
    assert [r["card_number"] for r in by_name_after["items"]] == [card]


async def test_the_staff_view_shows_loans_holds_credit_suspensions_and_children(service: Service, desks: Desks) -> None:
    await make_staff("a-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    admin = await staff_headers(service.client, "a-admin")
    reader, card = await a_reader(service, "openid-parent", name="王小明", home="TL-A", phone="13800138000")
    assert (await lend(service, desks["a-desk"], reader, "A0001"))["status"] == 201
    wanted = await Record.create(title="活着", authors=[{"name": "余华", "role": "author"}])
    tl_b = await Library.get(code="TL-B")
    await Copy.create(barcode="B0100", record=wanted, home_library=tl_b, current_library=tl_b, item_type=ItemType.BOOK)
    placed = await service.client.post(
        "/readers/me/holds", json={"record_id": wanted.id, "pickup_library_code": "TL-A-1"}, headers=reader.headers
    )
    child = await service.client.post(
        "/readers/me/children",
        json={"name": "王小小", "birth_month": "2020-05", "guardian_consent": True},
        headers=reader.headers,
    )
    suspended = await service.client.post(
        f"/staff/readers/{card}/suspensions", json={"kind": "suspended", "reason": "逾期未还"}, headers=admin
    )
    assert placed.status_code == 201 and child.status_code == 201 and suspended.status_code == 201, placed.text

    seen_by_admin = await service.client.get(f"/staff/readers/{card}", headers=admin)
    seen_at_b = await service.client.get(f"/staff/readers/{card}", headers=desks["b-desk"])

    assert seen_by_admin.status_code == 200, seen_by_admin.text
    view = seen_by_admin.json()
    assert view["reader"]["masked_phone"] == "+86 138****8000"
    assert [(loan["barcode"], loan["overdue_days"]) for loan in view["loans"]["items"]] == [("A0001", 0)]
    assert [(h["title"], h["pickup_library_code"]) for h in view["holds"]["items"]] == [("活着", "TL-A-1")]
    assert view["credit"]["score"] == 100 and view["credit"]["suspension"]["reason"] == "逾期未还"
    assert [(s["reason"], s["set_by"], s["level_library_code"], s["liftable"]) for s in view["suspensions"]] == [
        ("逾期未还", "a-admin", "TL-A", True)
    ]
    assert [(c["name"], c["reader_type"], c["guardian"]["card_number"]) for c in view["children"]] == [
        ("王小小", "child", card)
    ]
    # Any desk serves the reader whose card it is shown; only the setter's level (or above) lifts the suspension.
    assert seen_at_b.status_code == 200
    assert [s["liftable"] for s in seen_at_b.json()["suspensions"]] == [False]


async def test_every_look_up_is_logged_for_the_administrators_of_its_library_and_no_one_else(
    service: Service, desks: Desks
) -> None:
    await make_staff("a-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    await make_staff("b-admin", StaffRole.LIBRARY_ADMIN, "TL-B")
    reader, card = await a_reader(service, "openid-logged", name="王小明", home="TL-A", phone="13800138000")
    child = await service.client.post(
        "/readers/me/children",
        json={"name": "王小小", "birth_month": "2020-05", "guardian_consent": True},
        headers=reader.headers,
    )
    child_card = child.json()["card_number"]
    desk = desks["a-desk"]
    await find(service, desk, phone="13800138000")
    await find(service, desk, name="王")
    assert (await service.client.get(f"/staff/readers/{card}", headers=desk)).status_code == 200
    assert (await service.client.post("/staff/cards/verify", json={"card_number": child_card}, headers=desk)).is_success

    a_log = await service.client.get("/staff/reader-lookups", headers=await staff_headers(service.client, "a-admin"))
    b_log = await service.client.get("/staff/reader-lookups", headers=await staff_headers(service.client, "b-admin"))
    by_librarian = await service.client.get("/staff/reader-lookups", headers=desk)

    assert a_log.status_code == 200, a_log.text
    rows = [
        (
            r["staff_username"],
            r["library_code"],
            r["action"],
            r["looked_up_by"],
            sorted(r["card_numbers"]),
            r["children_shown"],
        )
        for r in a_log.json()["items"]
    ]
    assert rows == [
        ("a-desk", "TL-A", "verify", "card_number", [child_card], True),
        ("a-desk", "TL-A", "view", "card_number", sorted([card, child_card]), True),
        ("a-desk", "TL-A", "search", "name", sorted([card, child_card]), True),
        ("a-desk", "TL-A", "search", "phone", [card], False),
    ]
    assert "13800138000" not in a_log.text
    assert b_log.json()["items"] == []
    assert (by_librarian.status_code, by_librarian.json()["code"]) == (403, "staff_role_insufficient")


async def test_a_desk_reads_readers_outside_its_libraries_by_card_number_only_within_its_hourly_budget(
    service: Service, desks: Desks
) -> None:
    elsewhere = [(await a_reader(service, f"openid-tl-a-{n}", name=f"王{n}", home="TL-A"))[1] for n in range(5)]
    _, own = await a_reader(service, "openid-tl-b", name="李雷", home="TL-B")
    await make_staff("b-desk-2", StaffRole.LIBRARIAN, "TL-B")
    b_desk, b_desk_2 = desks["b-desk"], await staff_headers(service.client, "b-desk-2")

    with budgets(service, desk_out_of_scope=4):
        # Every read of a reader by card number spends the budget: the view, the credit, a search, a verification.
        spent = [
            await service.client.get(f"/staff/readers/{elsewhere[0]}", headers=b_desk),
            await service.client.get(f"/staff/readers/{elsewhere[1]}/credit", headers=b_desk),
            await service.client.get("/staff/readers", params={"card_number": elsewhere[2]}, headers=b_desk),
            await service.client.post("/staff/cards/verify", json={"card_number": elsewhere[3]}, headers=b_desk),
        ]
        past_budget = [
            await service.client.get(f"/staff/readers/{elsewhere[4]}", headers=b_desk),
            await service.client.get("/staff/readers", params={"card_number": elsewhere[4]}, headers=b_desk),
            await service.client.post(
                f"/staff/readers/{elsewhere[4]}/card-replacement", json={"end_sessions": False}, headers=b_desk
            ),
        ]
        own_reader = await service.client.get(f"/staff/readers/{own}", headers=b_desk)
        other_staff = await service.client.get(f"/staff/readers/{elsewhere[4]}", headers=b_desk_2)
        home_desk = [await service.client.get(f"/staff/readers/{card}", headers=desks["a-desk"]) for card in elsewhere]

    assert [r.status_code for r in spent] == [200] * 4, [r.text for r in spent]
    for refused in past_budget:
        assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
        assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert own_reader.status_code == 200  # readers of the desk's own libraries cost nothing
    assert other_staff.status_code == 200  # the budget is each staff member's
    assert [r.status_code for r in home_desk] == [200] * 5
    assert (
        await service.client.get("/readers/me", headers=(await login_reader(service, "openid-tl-a-4")).headers)
    ).json()["card_number"] == elsewhere[4]  # the refused replacement replaced nothing


async def test_the_lookup_log_marks_and_filters_readers_looked_up_from_outside_the_lookers_libraries(
    service: Service, desks: Desks
) -> None:
    await make_staff("b-admin", StaffRole.LIBRARY_ADMIN, "TL-B")
    _, visitor = await a_reader(service, "openid-visitor", name="王小明", home="TL-A")
    _, local = await a_reader(service, "openid-local", name="李雷", home="TL-B")
    b_desk = desks["b-desk"]
    assert (await service.client.get(f"/staff/readers/{visitor}", headers=b_desk)).status_code == 200
    assert (await service.client.get(f"/staff/readers/{local}", headers=b_desk)).status_code == 200
    assert (await find(service, b_desk, name="李"))["total"] == 1
    admin = await staff_headers(service.client, "b-admin")

    outside = await service.client.get("/staff/reader-lookups", params={"outside_scope": "true"}, headers=admin)
    inside = await service.client.get("/staff/reader-lookups", params={"outside_scope": "false"}, headers=admin)
    every = await service.client.get("/staff/reader-lookups", headers=admin)

    assert outside.status_code == 200, outside.text
    assert [(r["action"], r["card_numbers"], r["outside_scope"]) for r in outside.json()["items"]] == [
        ("view", [visitor], True)
    ]
    assert [(r["action"], r["card_numbers"], r["outside_scope"]) for r in inside.json()["items"]] == [
        ("search", [local], False),
        ("view", [local], False),
    ]
    assert every.json()["total"] == 3


async def test_a_readers_credit_and_a_card_replaced_at_a_desk_are_logged_as_look_ups(
    service: Service, desks: Desks
) -> None:
    await make_staff("a-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    _, card = await a_reader(service, "openid-credit-seen", name="王小明", home="TL-A")
    desk = desks["a-desk"]

    credit = await service.client.get(f"/staff/readers/{card}/credit", headers=desk)
    replaced = await service.client.post(
        f"/staff/readers/{card}/card-replacement", json={"end_sessions": False}, headers=desk
    )
    log = await service.client.get("/staff/reader-lookups", headers=await staff_headers(service.client, "a-admin"))

    assert credit.status_code == 200 and replaced.status_code == 200, replaced.text
    new = replaced.json()["card_number"]
    assert [(r["staff_username"], r["action"], r["card_numbers"]) for r in log.json()["items"]] == [
        ("a-desk", "replace", [new]),  # the reader's card as it is now
        ("a-desk", "credit", [new]),
    ]


async def test_a_card_number_in_a_path_is_read_as_typed_like_one_in_a_body(service: Service, desks: Desks) -> None:
    reader, card = await a_reader(service, "openid-typed-path", name="王小明", home="TL-A")
    full_width = card.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    dashed = f"{card[:4]}-{card[4:8]}-{card[8:]}"
    desk = desks["a-desk"]

    view = await service.client.get(f"/staff/readers/{card[:4]} {card[4:]}", headers=desk)
    credit = await service.client.get(f"/staff/readers/{full_width}/credit", headers=desk)
    reported = await service.client.post(
        "/readers/me/card/replacement", json={"card_number": dashed}, headers=reader.headers
    )
    too_long = await service.client.get(f"/staff/readers/{'1' * 41}", headers=desk)

    assert view.status_code == 200 and view.json()["reader"]["card_number"] == card, view.text
    assert credit.status_code == 200, credit.text
    assert reported.status_code == 200 and reported.json()["replaced_card_number"] == card, reported.text
    assert too_long.status_code == 400
