from datetime import timedelta

import pytest

from backend.accounts.errors import BookstoreClerksOnly, StaffOnly
from backend.accounts.staff import clerk_for, staff_for
from backend.accounts.tokens import Principal, PrincipalKind
from backend.catalog.models import Copy, CopyStatus, Record
from backend.circulation import services as circulation
from backend.circulation.credit import LOCAL
from backend.circulation.errors import OverdueItemsBlock
from backend.circulation.holds import HoldPolicy
from backend.circulation.models import Loan, Suspension, SuspensionKind
from backend.circulation.rules import due_after
from backend.network.models import Library
from backend.purchases import budgets, purchases, shops
from backend.purchases.checks import check_isbn
from backend.purchases.errors import (
    CopyNotInProcessing,
    ItemTypesUnknown,
    NotInStock,
    NotMainLibrary,
    NotThisBookstore,
    PurchaseRefused,
    RulesInvalid,
)
from backend.purchases.models import Budget, PurchaseRules, PurchaseState, StockItem
from backend.purchases.policy import RulesDraft, set_rules
from tests.integration.purchases.conftest import NOW, POLICY, Shops, a_reader, isbn
from tests.integration.service import BUS, NETWORK_TIME

HOLDS = HoldPolicy(shelf_days=7, prefer_local=False)


async def test_the_check_in_the_shop_gives_every_reason_that_applies_with_its_code_and_where_to_borrow(
    partners: Shops,
) -> None:
    reader = await a_reader("张三")
    number = await partners.stock(
        1, title="高考数学真题全套", list_price_fen=12800, year=2019, clc_class="G634.603", item_type="periodical"
    )
    record = await Record.create(title="高考数学真题全套", isbn13=number)
    libraries = {lib.code: lib for lib in await Library.all()}
    for barcode, code, status in [
        ("H1", "TL-A", CopyStatus.AVAILABLE),
        ("H2", "TL-A", CopyStatus.ON_LOAN),
        ("H3", "TL-B", CopyStatus.ON_LOAN),
        ("H4", "TL-B", CopyStatus.WITHDRAWN),
    ]:
        lib = libraries[code]
        await Copy.create(barcode=barcode, record=record, home_library=lib, current_library=lib, status=status)
    await PurchaseRules.create(main_library=partners.shop.main_library, monthly_quota=0, max_unreturned=0)
    await Suspension.create(reader=reader, kind=SuspensionKind.SUSPENDED, reason="逾期未还", starts_at=NOW)
    await Budget.filter(main_library=partners.shop.main_library).update(total_fen=100)

    check = await check_isbn(reader, partners.shop.id, number, now=NOW, policy=POLICY, credit_check=LOCAL)

    assert [(r.code, r.params.get("kind")) for r in check.reasons] == [
        ("held_enough", None),
        ("price_over_cap", None),
        ("too_old", None),
        ("excluded_kind", "class"),
        ("excluded_kind", "item_type"),
        ("excluded_kind", "keyword"),
        ("monthly_quota_used", None),
        ("too_many_unreturned", None),
        ("reader_barred", None),
        ("budget_short", None),
    ]
    held, price, old, *_, barred, short = check.reasons
    assert held.params["copies"] == 3 and held.params["where"] == [
        {"library": "铜官区图书馆", "code": "TL-A", "copies": 2, "available": 1},
        {"library": "枞阳县图书馆", "code": "TL-B", "copies": 1, "available": 0},
    ]
    assert price.message("zh") == "定价 128.00 元，超过 100.00 元的上限"
    assert old.params == {"year": 2019, "since": 2023}
    assert (barred.params["because"], barred.params["codes"]) == ("reader_suspended", ["reader_suspended"])
    assert short.params == {"left_fen": 100, "price_fen": 10880}  # 128 yuan less 15%
    assert [r.params["matched"] for r in check.reasons if r.code == "excluded_kind"] == ["G634", "periodical", "全套"]


async def test_a_book_within_the_rules_passes_the_check(partners: Shops) -> None:
    number = await partners.stock(2)

    check = await check_isbn(
        await a_reader("李四"), partners.shop.id, number, now=NOW, policy=POLICY, credit_check=LOCAL
    )

    assert check.approvable and check.price_fen == 3400 and check.holdings == []


async def test_a_main_library_overrides_one_rule_and_keeps_the_networks_others(partners: Shops) -> None:
    reader = await a_reader("郑一")
    number = await partners.stock(9, list_price_fen=16000, clc_class="Z228")

    await set_rules(partners.admin, "TL-A", RulesDraft(price_cap_fen=20000))
    check = await check_isbn(reader, partners.shop.id, number, now=NOW, policy=POLICY, credit_check=LOCAL)

    assert [(r.code, r.params.get("matched")) for r in check.reasons] == [("excluded_kind", "Z")]
    with pytest.raises(RulesInvalid):
        await set_rules(partners.admin, "TL-A", RulesDraft(loan_days=0))
    with pytest.raises(RulesInvalid) as too_long:  # the column holds 100 characters
        await set_rules(partners.admin, "TL-A", RulesDraft(excluded_item_types="periodical," * 10))
    assert too_long.value.params == {"term": "excluded_item_types", "low": 0, "high": 100}
    with pytest.raises(ItemTypesUnknown):
        await set_rules(partners.admin, "TL-A", RulesDraft(excluded_item_types="periodical,map"))
    with pytest.raises(NotMainLibrary):
        await set_rules(partners.admin, "TL-A-1", RulesDraft(loan_days=21))


async def test_approval_lends_the_new_copy_for_thirty_days_and_reserves_the_discounted_price(partners: Shops) -> None:
    reader = await a_reader("王五", home="TL-A-1")
    number = await partners.stock(3, list_price_fen=3980)

    purchase = await partners.buy(reader, number)

    copy = await Copy.get(id=purchase.copy_id).select_related("home_library", "record")
    loan = await Loan.get(copy_id=copy.id, returned_at__isnull=True)
    assert (copy.status, copy.home_library.code, copy.price_fen, copy.unprocessed) == (
        CopyStatus.ON_LOAN,
        "TL-A",
        3980,
        True,
    )
    assert copy.barcode.startswith("RC") and copy.record.isbn13 == number and copy.record.title == "新书3"
    assert loan.reader_id == reader.id and loan.due_at == due_after(NOW, 30, "Asia/Shanghai")
    assert (purchase.price_fen, purchase.state, purchase.branch_id) == (
        3383,  # 39.80 yuan less 15%, to the nearest fen
        PurchaseState.RESERVED,
        (await Library.get(code="TL-A-1")).id,
    )
    year = await Budget.get(main_library=partners.shop.main_library, month=None)
    assert (year.reserved_fen, year.spent_fen) == (3383, 0)
    assert (await StockItem.get(isbn13=number)).quantity == 4


async def test_a_library_lending_chosen_books_for_longer_lends_them_up_to_the_readers_tier(partners: Shops) -> None:
    await PurchaseRules.create(main_library=partners.shop.main_library, loan_days=45)

    purchase = await partners.buy(await a_reader("冯一"), await partners.stock(14))

    # A new reader's tier (优秀) lends for 40 days at most.
    assert purchase.loan.due_at == due_after(NOW, 40, "Asia/Shanghai")


async def test_a_reader_with_an_overdue_loan_is_told_so_by_the_check_and_the_approval(partners: Shops) -> None:
    reader = await a_reader("陈二")
    library = await Library.get(code="TL-A")
    record = await Record.create(title="旧书", isbn13=isbn(99))
    await Copy.create(barcode="OLD-1", record=record, home_library=library, current_library=library)
    await circulation.checkout(
        reader, "OLD-1", now=NOW - timedelta(days=40), bus=BUS, network_time=NETWORK_TIME, staff=partners.librarian_a
    )
    number = await partners.stock(15)

    check = await check_isbn(reader, partners.shop.id, number, now=NOW, policy=POLICY, credit_check=LOCAL)
    with pytest.raises(PurchaseRefused) as refused:
        await partners.buy(reader, number)

    assert [(r.code, r.params["codes"]) for r in check.reasons] == [("reader_barred", ["overdue_items_block"])]
    assert not check.approvable
    assert [r.code for r in refused.value.reasons] == ["reader_barred"]
    assert check.reasons[0].message("en") == (
        "Borrowing is not possible now: " + OverdueItemsBlock(count=1).message("en")
    )


async def test_a_refused_approval_changes_nothing(partners: Shops) -> None:
    reader = await a_reader("赵六")
    number = await partners.stock(4, list_price_fen=20000)

    with pytest.raises(PurchaseRefused) as refused:
        await partners.buy(reader, number)

    assert [r.code for r in refused.value.reasons] == ["price_over_cap"]
    assert await Copy.all().count() == 0 and await Record.all().count() == 0
    assert (await Budget.get(main_library=partners.shop.main_library)).reserved_fen == 0


async def test_the_bought_copy_returned_anywhere_goes_to_its_libraries_processing_queue_then_joins_the_shelf(
    partners: Shops,
) -> None:
    reader = await a_reader("钱七")
    purchase = await partners.buy(reader, await partners.stock(5))
    copy = await Copy.get(id=purchase.copy_id)
    later = NOW + timedelta(days=10)

    returned = await circulation.check_in(copy.barcode, staff=partners.librarian_b, now=later, policy=HOLDS, bus=BUS)
    assert (returned.copy.status, returned.copy.in_transit_to.code if returned.copy.in_transit_to else None) == (
        CopyStatus.IN_TRANSIT,
        "TL-A",
    )
    with pytest.raises(CopyNotInProcessing):
        await purchases.finish_processing(partners.librarian_a, copy.barcode, now=later, hold_policy=HOLDS, bus=BUS)

    home = await circulation.receive(
        copy.barcode,
        library=partners.librarian_a.library,
        staff=partners.librarian_a,
        now=later,
        policy=HOLDS,
        bus=BUS,
    )
    assert home.copy.status is CopyStatus.IN_PROCESSING and home.hold is None
    queue, total = await purchases.processing_queue(partners.librarian_a, limit=10, offset=0)
    assert total == 1 and [c.barcode for c in queue] == [copy.barcode]

    processed, hold = await purchases.finish_processing(
        partners.librarian_a, copy.barcode, now=later, hold_policy=HOLDS, bus=BUS
    )
    assert (processed.status, processed.unprocessed, hold) == (CopyStatus.AVAILABLE, False, None)
    assert (await purchases.processing_queue(partners.librarian_a, limit=10, offset=0))[1] == 0


async def test_a_bought_copy_returned_at_its_own_library_waits_there_for_processing(partners: Shops) -> None:
    purchase = await partners.buy(await a_reader("孙八"), await partners.stock(6))
    copy = await Copy.get(id=purchase.copy_id)

    back = await circulation.check_in(copy.barcode, staff=partners.librarian_a, now=NOW, policy=HOLDS, bus=BUS)

    assert (back.copy.status, back.copy.current_library_id) == (CopyStatus.IN_PROCESSING, partners.shop.main_library_id)


async def test_a_cancelled_purchase_withdraws_the_returned_copy_and_releases_the_budget(partners: Shops) -> None:
    purchase = await partners.buy(await a_reader("周九"), await partners.stock(7))
    copy = await Copy.get(id=purchase.copy_id)
    await circulation.check_in(copy.barcode, staff=partners.librarian_a, now=NOW, policy=HOLDS, bus=BUS)

    cancelled = await purchases.cancel(partners.admin, purchase.id, NOW)

    assert cancelled.state is PurchaseState.RELEASED
    assert (await Copy.get(id=copy.id)).status is CopyStatus.WITHDRAWN
    assert (await Budget.get(main_library=partners.shop.main_library)).reserved_fen == 0
    assert (await budgets.left_fen(partners.shop.main_library_id, 2026, 12)) == 1_000_000


async def test_a_clerk_of_one_shop_cannot_act_for_another_nor_as_library_staff(partners: Shops) -> None:
    number = await partners.stock(8)  # in the TL-A shop only

    with pytest.raises(NotThisBookstore):
        await shops.import_stock(partners.other_clerk, partners.shop.id, b"[]", "json", NOW, this_year=2026)
    with pytest.raises(NotInStock):  # the TL-B shop's clerk sells from their own shop's stock only
        await purchases.approve(
            partners.other_clerk,
            purchases.ReaderCard(card_number=(await a_reader("吴十")).card_number),
            number,
            card_passes=partners.cards,
            now=NOW,
            bus=BUS,
            policy=POLICY,
            credit_check=LOCAL,
        )
    with pytest.raises(StaffOnly):
        await staff_for(Principal(PrincipalKind.STAFF, partners.clerk.id))
    with pytest.raises(BookstoreClerksOnly):
        await clerk_for(Principal(PrincipalKind.STAFF, partners.librarian_a.id))
    assert (await clerk_for(Principal(PrincipalKind.STAFF, partners.clerk.id))).bookstore_id == partners.shop.id
