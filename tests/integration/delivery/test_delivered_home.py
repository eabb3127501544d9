import asyncio
from datetime import datetime, timedelta

from backend.catalog.models import CopyStatus
from backend.circulation import rules
from backend.circulation.models import Hold, HoldStatus, Loan
from backend.counter.models import LookupAction, ReaderLookup
from backend.delivery.models import DeliveryLine, DeliveryOrder, LineState, OrderState
from tests.integration.circulation.lending import my_loans
from tests.integration.delivery.conftest import Delivery
from tests.integration.delivery.staff_fixtures import courier, desk_at, packed, pay_at_desk, scan, ship
from tests.integration.factories import login_reader


async def test_a_parcel_at_the_door_lends_its_books_for_forty_days_from_receipt(delivery: Delivery) -> None:
    client = delivery.service.client
    _, reader = await delivery.logged_in("openid-home")
    order = await delivery.order(reader, ["红楼梦", "朝花夕拾"], home=True)
    await pay_at_desk(delivery, order)
    a_desk = await desk_at(delivery, "a-picker", "TL-A")
    b_desk = await desk_at(delivery, "b-picker", "TL-B")
    sf = await courier(delivery)

    assert (await scan(delivery, "picks", "A0002", a_desk))["line_state"] == "picked"
    assert (await scan(delivery, "picks", "B0002", b_desk))["line_state"] == "picked"
    assert (await scan(delivery, "gathered", "A0002", delivery.desk_headers))["packed"] is False
    assert (await scan(delivery, "gathered", "B0002", delivery.desk_headers))["packed"] is True
    not_packing = await client.get(f"/staff/delivery/orders/{order.id}/label", headers=a_desk)
    label = await client.get(f"/staff/delivery/orders/{order.id}/label", headers=delivery.desk_headers)
    shipped = await ship(delivery, order.id, "SF1001")

    assert (not_packing.status_code, not_packing.json()["code"]) == (403, "outside_staff_scope")
    assert label.status_code == 200, label.text
    assert (label.json()["recipient"], label.json()["phone"]) == ("张三", "13800138000")
    assert sorted(book["barcode"] for book in label.json()["books"]) == ["A0002", "B0002"]
    logged = await ReaderLookup.filter(action=LookupAction.LABEL).values_list("staff_id", "reader_ids")
    assert logged == [(delivery.desk.id, [reader.id])]  # who saw the address, and whose
    assert (shipped["http"], shipped["state"], shipped["destination"]) == (200, "shipped", "home")

    delivery.service.clock.advance(timedelta(days=1, hours=3).total_seconds())
    received = delivery.now
    on_its_way = await sf.report("SF1001", "out_for_delivery", received - timedelta(hours=2))
    at_the_door = await sf.report("SF1001", "delivered", received)

    assert (on_its_way.json()["result"], at_the_door.json()["result"]) == ("applied", "applied")
    loans = await my_loans(delivery.service, await login_reader(delivery.service, "openid-home"))  # a day later
    due = rules.due_after(received, 40, delivery.libraries["TL"].timezone)
    assert sorted(loan["barcode"] for loan in loans) == ["A0002", "B0002"]
    assert {datetime.fromisoformat(str(loan["due_at"])) for loan in loans} == {due}
    done = await DeliveryOrder.get(id=order.id)
    assert (done.state, done.delivered_at) == (OrderState.DELIVERED, received)
    lines = await DeliveryLine.filter(order_id=order.id)
    assert {line.state for line in lines} == {LineState.DELIVERED}
    assert all(line.loan_id is not None for line in lines)
    loan = await Loan.get(copy__barcode="A0002").select_related("library")
    assert (loan.library.code, loan.checked_out_at, loan.staff_id) == ("TL", received, None)


async def test_a_delivered_report_sent_twice_at_once_lends_each_book_once(delivery: Delivery) -> None:
    _, reader = await delivery.logged_in("openid-twice")
    order = await delivery.order(reader, ["平凡的世界", "边城"], home=True)
    await pay_at_desk(delivery, order)
    sf = await courier(delivery)
    await packed(delivery, order)
    await ship(delivery, order.id, "SF2002")
    delivery.service.clock.advance(3600)
    at = delivery.now

    answers = await asyncio.gather(
        sf.report("SF2002", "delivered", at, report_id="r-1"),
        sf.report("SF2002", "delivered", at, report_id="r-1"),
        sf.report("SF2002", "delivered", at, report_id="r-2"),
        sf.report("SF2002", "delivered", at, report_id="r-3"),
    )
    late = await sf.report("SF2002", "in_transit", at - timedelta(minutes=30), report_id="r-0")

    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    assert [a.json()["result"] for a in answers].count("applied") == 1
    assert late.json()["result"] == "late"
    assert await Loan.filter(reader_id=reader.id).count() == 2
    assert (await DeliveryOrder.get(id=order.id)).state is OrderState.DELIVERED


async def test_a_parcel_that_comes_back_returns_its_books_to_circulation(delivery: Delivery) -> None:
    client = delivery.service.client
    _, reader = await delivery.logged_in("openid-away")
    waiting, _ = await delivery.logged_in("openid-waiting")
    order = await delivery.order(reader, ["红楼梦", "朝花夕拾"], home=True)
    await pay_at_desk(delivery, order)
    # The title's only copy is in the order: this reader waits for it.
    hold = await client.post(
        "/readers/me/holds",
        json={"record_id": delivery.titles["红楼梦"].id, "pickup_library_code": "TL-A-1"},
        headers=waiting.headers,
    )
    assert hold.status_code == 201, hold.text
    sf = await courier(delivery)
    await packed(delivery, order)
    await ship(delivery, order.id, "SF3003")

    delivery.service.clock.advance(86_400)
    failed = await sf.report("SF3003", "failed", delivery.now, note="收件人不在")
    assert failed.json()["result"] == "applied"
    assert (await DeliveryOrder.get(id=order.id)).state is OrderState.FAILED
    delivery.service.clock.advance(2 * 86_400)
    returned = await sf.report("SF3003", "returned", delivery.now)

    assert returned.json()["result"] == "applied"
    back = await DeliveryOrder.get(id=order.id)
    assert back.state is OrderState.RETURNED
    assert {line.state for line in await DeliveryLine.filter(order_id=order.id)} == {LineState.RELEASED}
    wanted = await delivery.copy("A0002")
    assert (wanted.status, wanted.in_transit_to_id) == (CopyStatus.IN_TRANSIT, delivery.libraries["TL-A-1"].id)
    filled = await Hold.get(record_id=delivery.titles["红楼梦"].id)
    assert (filled.status, filled.copy_id) == (HoldStatus.IN_TRANSIT, wanted.id)
    going_home = await delivery.copy("B0002")
    assert (going_home.status, going_home.in_transit_to_id) == (CopyStatus.IN_TRANSIT, delivery.libraries["TL-B"].id)
    assert await Loan.filter(reader_id=reader.id).count() == 0
