import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest

from backend.accounts.models import Reader, StaffRole
from backend.catalog.models import Copy, CopyStatus
from backend.circulation.credit import LOCAL
from backend.circulation.holds import expire_uncollected
from backend.circulation.models import Hold, HoldStatus, Loan
from backend.circulation.services import checkout
from backend.crypto import Keys
from backend.errors import DomainError
from backend.purchases import budgets
from backend.purchases.errors import (
    PurchaseRefused,
    RequestNotApproved,
    RequestNotCancellable,
    RequestNotPending,
    RequestsOnTheWay,
)
from backend.purchases.models import Budget, Purchase, PurchaseRequest, PurchaseRules, RequestState, StockItem
from backend.purchases.purchases import settle_month
from backend.purchases.requests import (
    Delivery,
    approve_request,
    cancel_request,
    refuse_request,
    request_purchase,
    ship_request,
)
from backend.purchases.shops import import_stock
from backend.shipping.addresses import Address
from backend.shipping.couriers import create_courier
from backend.shipping.models import Destination, ShipmentState
from backend.shipping.services import set_state
from tests.integration.factories import make_staff
from tests.integration.purchases.conftest import NOW, POLICY, Shops, a_reader, isbn, staff
from tests.integration.service import BUS, Service

HOME = Delivery(Destination.HOME, address=Address.of("张三", "13800138000", "安徽省铜陵市铜官区长江路 1 号"))
SERVICE_POINT = Delivery(Destination.SERVICE_POINT, library_code="TL-A-1")
PRICE = 3400  # 40 yuan listed, 15% off
COURIER_SECRET = "shared-secret-of-the-courier-0123456789"


@dataclass
class Online:
    partners: Shops
    keys: Keys

    async def ask(self, reader: Reader, number: str, where: Delivery = HOME) -> PurchaseRequest:
        return await request_purchase(
            reader,
            self.partners.shop.id,
            number,
            where,
            keys=self.keys,
            now=NOW,
            bus=BUS,
            policy=POLICY,
            credit_check=LOCAL,
        )

    async def approve(self, request: PurchaseRequest) -> PurchaseRequest:
        return await approve_request(self.partners.admin, request.id, now=NOW, policy=POLICY, credit_check=LOCAL)

    async def ship(self, request: PurchaseRequest, tracking_no: str | None = "SF100") -> PurchaseRequest:
        return await ship_request(
            self.partners.clerk,
            request.id,
            courier_code=None if tracking_no is None else "sf",
            tracking_no=tracking_no,
            now=NOW + timedelta(hours=2),
            bus=BUS,
        )

    async def parcel(self, request: PurchaseRequest, state: ShipmentState, hours: int = 26) -> None:
        async with BUS.transaction():
            await set_state(request.shipment_id, state, now=NOW + timedelta(hours=hours), staff=self.partners.admin)


@pytest.fixture
async def online(service: Service, partners: Shops) -> Online:
    keys: Keys = service.app.state.deps.keys
    await make_staff("network", StaffRole.NETWORK_ADMIN, "TL")
    await create_courier(keys, await staff("network"), code="sf", name="顺丰速运", secret=COURIER_SECRET, now=NOW)
    return Online(partners, keys)


async def _reserved() -> list[tuple[int | None, int, int]]:
    return [(b.month, b.reserved_fen, b.spent_fen) for b in await Budget.all().order_by("month")]


async def _quantity(number: str) -> int:
    return (await StockItem.get(isbn13=number)).quantity


async def test_a_book_sent_to_the_door_is_bought_when_it_arrives_and_on_loan_to_the_reader_for_thirty_days(
    online: Online,
) -> None:
    number = await online.partners.stock(1, title="三体")
    reader = await a_reader("张三", "TL-A")

    asked = await online.ask(reader, number)
    waiting = await _reserved()
    approved = await online.approve(asked)
    sent = await online.ship(approved)
    await online.parcel(sent, ShipmentState.DELIVERED)

    assert (asked.state, asked.auto_approved, asked.shipment.state) == (RequestState.PENDING, False, "preparing")
    assert waiting == [(None, 0, 0)]
    assert (approved.state, approved.price_fen, sent.state) == (RequestState.APPROVED, PRICE, RequestState.SHIPPED)
    done = await PurchaseRequest.get(id=asked.id).prefetch_related("purchase__loan", "purchase__copy")
    assert done.state is RequestState.RECEIVED and done.purchase is not None
    bought = done.purchase
    assert (bought.price_fen, bought.reader_id, bought.branch_id) == (PRICE, reader.id, reader.home_library_id)
    assert bought.loan is not None and bought.loan.reader_id == reader.id
    assert bought.loan.due_at.date() == (NOW + timedelta(hours=26, days=30)).date()
    assert (bought.copy.status, bought.copy.unprocessed) == (CopyStatus.ON_LOAN, True)
    assert bought.copy.home_library_id == online.partners.shop.main_library_id
    assert await _reserved() == [(None, PRICE, 0)]  # reserved at approval, once
    assert await _quantity(number) == 4


async def test_a_book_sent_to_a_service_point_waits_on_its_hold_shelf_and_is_lent_when_collected(
    online: Online,
) -> None:
    number = await online.partners.stock(1, title="活着")
    reader = await a_reader("李四")
    await make_staff("a1-desk", StaffRole.LIBRARIAN, "TL-A-1")

    asked = await online.ask(reader, number, SERVICE_POINT)
    await online.ship(await online.approve(asked), tracking_no=None)  # the library's van collects it
    await online.parcel(asked, ShipmentState.DELIVERED)
    arrived = await PurchaseRequest.get(id=asked.id).prefetch_related("purchase__copy")
    hold = await Hold.get(reader_id=reader.id)
    assert arrived.purchase is not None
    copy = arrived.purchase.copy
    lent = await checkout(
        reader,
        copy.barcode,
        now=NOW + timedelta(days=2),
        bus=BUS,
        network_time=POLICY.network_time,
        staff=await staff("a1-desk"),
    )

    assert (arrived.state, arrived.purchase.loan_id) == (RequestState.ARRIVED, None)
    assert (copy.status, hold.status, hold.period_days) == (CopyStatus.ON_HOLD_SHELF, HoldStatus.READY, 30)
    assert hold.pickup_library_id == (await Copy.get(id=copy.id)).current_library_id
    done = await PurchaseRequest.get(id=asked.id).prefetch_related("purchase")
    assert done.state is RequestState.RECEIVED and done.purchase is not None
    assert done.purchase.loan_id == lent.loan.id
    assert lent.loan.due_at.date() == (NOW + timedelta(days=32)).date()


async def test_a_book_left_on_the_hold_shelf_counts_as_not_yet_returned_until_its_hold_expires(
    online: Online,
) -> None:
    numbers = [await online.partners.stock(n) for n in range(1, 4)]
    reader = await a_reader("健忘的读者")
    await online.parcel(
        await online.ship(await online.approve(await online.ask(reader, numbers[0], SERVICE_POINT)), None),
        ShipmentState.DELIVERED,
    )
    await online.ask(reader, numbers[1])

    with pytest.raises(PurchaseRefused) as waiting:
        await online.ask(reader, numbers[2])
    await expire_uncollected(NOW + timedelta(days=30))
    later = await online.ask(reader, numbers[2])

    assert [r.code for r in waiting.value.reasons] == ["too_many_unreturned"]
    assert later.state is RequestState.PENDING


async def test_a_request_under_the_librarys_price_is_approved_at_once(online: Online) -> None:
    cheap, dear = await online.partners.stock(1, list_price_fen=2900), await online.partners.stock(2)
    await PurchaseRules.create(main_library=online.partners.shop.main_library, auto_approve_under_fen=3000)
    reader = await a_reader("王五")

    quick = await online.ask(reader, cheap)
    slow = await online.ask(reader, dear)

    assert (quick.state, quick.auto_approved, quick.staff_id) == (RequestState.APPROVED, True, None)
    assert (slow.state, slow.auto_approved) == (RequestState.PENDING, False)
    assert await _reserved() == [(None, 2465, 0)]
    assert (await _quantity(cheap), await _quantity(dear)) == (4, 5)


async def test_open_requests_and_shop_purchases_share_the_quota_and_every_reason_is_given(online: Online) -> None:
    numbers = [await online.partners.stock(n) for n in range(1, 5)]
    await PurchaseRules.create(main_library=online.partners.shop.main_library, max_unreturned=10)
    reader = await a_reader("赵六")
    await online.partners.buy(reader, numbers[0])
    await online.ask(reader, numbers[1])
    await online.ask(reader, numbers[2], SERVICE_POINT)

    with pytest.raises(PurchaseRefused) as refused:
        await online.ask(reader, numbers[3])

    assert [r.code for r in refused.value.reasons] == ["monthly_quota_used"]
    assert refused.value.reasons[0].params == {"used": 3, "quota": 3}
    assert await PurchaseRequest.all().count() == 2


async def test_two_open_requests_are_two_books_not_yet_returned(online: Online) -> None:
    numbers = [await online.partners.stock(n) for n in range(1, 4)]
    reader = await a_reader("孙七")
    await online.ask(reader, numbers[0])
    await online.ask(reader, numbers[1])

    with pytest.raises(PurchaseRefused) as refused:
        await online.ask(reader, numbers[2])

    assert [r.code for r in refused.value.reasons] == ["too_many_unreturned"]


async def test_the_check_runs_again_at_approval_and_refuses_what_the_budget_no_longer_covers(online: Online) -> None:
    number = await online.partners.stock(1)
    asked = await online.ask(await a_reader("周八"), number)
    await budgets.set_budget(online.partners.admin, "TL-A", 2026, PRICE - 1)

    with pytest.raises(PurchaseRefused) as refused:
        await online.approve(asked)

    assert [r.code for r in refused.value.reasons] == ["budget_short"]
    assert (await PurchaseRequest.get(id=asked.id)).state is RequestState.PENDING
    assert await _reserved() == [(None, 0, 0)]
    with pytest.raises(RequestNotApproved):
        await online.ship(asked)


async def test_a_cancelled_and_a_refused_approval_give_the_budget_and_the_stock_back(online: Online) -> None:
    first, second = await online.partners.stock(1), await online.partners.stock(2)
    reader = await a_reader("吴九")
    cancelled = await online.approve(await online.ask(reader, first))
    refused = await online.approve(await online.ask(reader, second))

    await cancel_request(reader, cancelled.id, NOW)
    done = await refuse_request(online.partners.admin, refused.id, "该书已列入本馆采购计划", NOW)

    assert (done.state, done.reason) == (RequestState.REFUSED, "该书已列入本馆采购计划")
    assert await _reserved() == [(None, 0, 0)]
    assert (await _quantity(first), await _quantity(second)) == (5, 5)
    assert await PurchaseRequest.filter(shipment__state=ShipmentState.CANCELLED).count() == 2
    with pytest.raises(RequestNotCancellable):
        await cancel_request(reader, cancelled.id, NOW)
    with pytest.raises(RequestNotPending):
        await online.approve(cancelled)


async def test_a_cancellation_and_a_refusal_at_once_release_the_reservation_once(online: Online) -> None:
    number = await online.partners.stock(1)
    reader = await a_reader("郑十")
    approved = await online.approve(await online.ask(reader, number))

    results = await asyncio.gather(
        cancel_request(reader, approved.id, NOW),
        refuse_request(online.partners.admin, approved.id, "重复", NOW),
        return_exceptions=True,
    )

    assert sorted(type(r).__name__ for r in results) == ["PurchaseRequest", "RequestNotCancellable"]
    assert await _reserved() == [(None, 0, 0)]
    assert await _quantity(number) == 5


async def test_a_parcel_that_fails_and_comes_back_cancels_the_request_and_releases_its_price(online: Online) -> None:
    number = await online.partners.stock(1)
    reader = await a_reader("钱一")
    sent = await online.ship(await online.approve(await online.ask(reader, number)))

    with pytest.raises(RequestNotCancellable):
        await cancel_request(reader, sent.id, NOW)
    await online.parcel(sent, ShipmentState.FAILED, hours=26)
    failing = await PurchaseRequest.get(id=sent.id)
    await online.parcel(sent, ShipmentState.RETURNED, hours=50)

    assert failing.state is RequestState.SHIPPED
    back = await PurchaseRequest.get(id=sent.id)
    assert (back.state, back.purchase_id) == (RequestState.CANCELLED, None)
    assert await _reserved() == [(None, 0, 0)]
    assert await _quantity(number) == 5
    assert await Purchase.all().count() == 0


async def test_a_shops_month_is_settled_once_no_parcel_of_it_is_on_its_way(online: Online) -> None:
    number = await online.partners.stock(1)
    sent = await online.ship(await online.approve(await online.ask(await a_reader("李雷"), number)))
    january = NOW + timedelta(days=40)

    with pytest.raises(RequestsOnTheWay):
        await settle_month(online.partners.admin, online.partners.shop.id, 2026, 12, january, policy=POLICY)
    await online.parcel(sent, ShipmentState.DELIVERED)
    statement = await settle_month(online.partners.admin, online.partners.shop.id, 2026, 12, january, policy=POLICY)

    assert (statement.books, statement.due_fen) == (1, PRICE)
    assert await _reserved() == [(None, 0, PRICE)]


def _codes(results: list[object]) -> set[str]:
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, DomainError)]
    assert not unexpected, unexpected
    return {reason.code for r in results if isinstance(r, PurchaseRefused) for reason in r.reasons}


async def test_two_hundred_requests_approved_at_once_against_a_budget_for_fifty_books_buy_exactly_fifty(
    online: Online,
) -> None:
    rows = "\n".join(f"{isbn(n)},新书{n},作者{n},出版社,2026,40.00,3,I247.5" for n in range(1, 201))
    data = f"isbn,title,authors,publisher,year,price,quantity,clc_class\n{rows}\n".encode()
    await import_stock(online.partners.admin, online.partners.shop.id, data, "csv", NOW, this_year=2026)
    await budgets.set_budget(online.partners.admin, "TL-A", 2026, 50 * PRICE)
    asked = [await online.ask(await a_reader(f"读者{n}"), isbn(n)) for n in range(1, 201)]

    results = await asyncio.gather(*(online.approve(r) for r in asked), return_exceptions=True)

    assert _codes(list(results)) == {"budget_short"}
    assert len([r for r in results if isinstance(r, PurchaseRequest)]) == 50
    assert await PurchaseRequest.filter(state=RequestState.APPROVED).count() == 50
    assert await _reserved() == [(None, 50 * PRICE, 0)]
    assert sum(await StockItem.all().values_list("quantity", flat=True)) == 200 * 3 - 50


async def test_one_readers_twenty_simultaneous_requests_stay_within_the_monthly_quota(online: Online) -> None:
    numbers = [await online.partners.stock(n) for n in range(1, 21)]
    await PurchaseRules.create(main_library=online.partners.shop.main_library, max_unreturned=10)
    reader = await a_reader("心急的读者")

    results = await asyncio.gather(*(online.ask(reader, n) for n in numbers), return_exceptions=True)

    assert len([r for r in results if isinstance(r, PurchaseRequest)]) == 3
    assert _codes(list(results)) == {"monthly_quota_used"}
    assert await PurchaseRequest.filter(reader_id=reader.id).count() == 3
    assert await Loan.all().count() == 0


async def test_shop_purchases_and_online_requests_at_once_stay_within_the_monthly_quota(online: Online) -> None:
    numbers = [await online.partners.stock(n) for n in range(1, 11)]
    await PurchaseRules.create(main_library=online.partners.shop.main_library, max_unreturned=10)
    reader = await a_reader("两头跑的读者")

    results = await asyncio.gather(
        *(online.partners.buy(reader, n) for n in numbers[:5]),
        *(online.ask(reader, n) for n in numbers[5:]),
        return_exceptions=True,
    )

    assert len([r for r in results if isinstance(r, Purchase | PurchaseRequest)]) == 3
    assert _codes(list(results)) == {"monthly_quota_used"}
    assert await Purchase.all().count() + await PurchaseRequest.all().count() == 3
