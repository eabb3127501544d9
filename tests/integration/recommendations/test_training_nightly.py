"""The nightly training at city scale: picks only for the readers who borrowed lately, the others' on demand, and the
loans read from PostgreSQL in batches."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from backend.accounts.models import Reader, ReaderType
from backend.catalog.models import Copy, Record
from backend.circulation.models import Loan, ReaderCategory
from backend.network.models import Library
from entrypoints.queue import ArqJobs
from recommendations.models import RecommendationSetting
from recommendations.store import ModelCache, PickStore
from recommendations.training import NIGHTLY_PICKS_DAYS, load_training_data, refresh_reader, run_training
from tests.integration.factories import build_network
from tests.integration.service import NETWORK_TIME, Service

NOW = datetime.now(UTC)
TODAY = NETWORK_TIME.day(NOW)


@dataclass
class Desk:
    library: Library
    records: list[Record]
    lent: int = 0

    async def lend(self, reader: Reader | None, record: int, days_ago: float, category: str = "adult") -> Loan:
        """A loan of a copy of its own, lent `days_ago`; no reader: a returned loan that no longer names its reader."""
        self.lent += 1
        copy = await Copy.create(
            barcode=f"T{self.lent:05d}",
            record=self.records[record],
            home_library=self.library,
            current_library=self.library,
        )
        lent = NOW - timedelta(days=days_ago)
        return await Loan.create(
            copy=copy,
            reader=reader,
            reader_category=ReaderCategory(category),
            library=self.library,
            checked_out_at=lent,
            due_at=lent + timedelta(days=30),
            returned_at=None if reader is not None else lent + timedelta(days=14),
        )


@pytest.fixture
async def desk(service: Service) -> Desk:
    await build_network()
    records = [
        await Record.create(title=title, authors=[{"name": "刘慈欣", "role": "author"}], clc_class="I247.5")
        for title in ("三体", "流浪地球", "球状闪电", "超新星纪元", "乡村教师", "微纪元")
    ]
    return Desk(await Library.get(code="TL-A"), records)


async def _regulars(desk: Desk) -> None:
    """Readers who read the first three books, then the fourth: what co-borrows learn from."""
    for n in range(5):
        fan = await Reader.create(card_number=f"7100000{n:05d}")
        for book in range(4):
            await desk.lend(fan, book, 20 - book + n)


async def test_the_nightly_run_picks_for_readers_who_borrowed_lately_and_the_others_get_picks_on_demand(
    service: Service, desk: Desk
) -> None:
    await _regulars(desk)
    lately = await Reader.create(card_number="720000000001")
    await desk.lend(lately, 0, 3)
    long_ago = await Reader.create(card_number="720000000002")
    await desk.lend(long_ago, 0, NIGHTLY_PICKS_DAYS + 30)
    switched_off = await Reader.create(card_number="720000000003")
    await desk.lend(switched_off, 0, 3)
    await RecommendationSetting.create(reader=switched_off, personal=False, changed_at=NOW - timedelta(days=1))
    store = PickStore(service.redis)

    assert await run_training(store, ArqJobs(service.redis), NOW, NETWORK_TIME) == 6  # the five regulars and `lately`

    assert await store.picks(lately.id)
    assert await store.picks(long_ago.id) is None
    assert await refresh_reader(store, ModelCache(), long_ago.id, TODAY)  # what serving queues when it finds none
    on_demand = await store.picks(long_ago.id)
    assert on_demand and str(desk.records[0].id) not in {pick.item for pick in on_demand}
    assert await store.picks(switched_off.id) is None
    assert not await refresh_reader(store, ModelCache(), switched_off.id, TODAY)


async def test_loans_read_a_few_at_a_time_are_the_loans_read_at_once(service: Service, desk: Desk) -> None:
    await _regulars(desk)
    seven = f"{TODAY.year - 7}-{TODAY.month:02d}"
    child = await Reader.create(card_number="730000000001", reader_type=ReaderType.CHILD, birth_month=seven)
    await RecommendationSetting.create(reader=child, personal=True, changed_at=NOW)
    await desk.lend(child, 4, 2, "child")
    anonymous = [await desk.lend(None, 5, 100, "child"), await desk.lend(None, 4, 50)]

    in_batches = await load_training_data(TODAY, batch=3)
    at_once = await load_training_data(TODAY)

    for data in (in_batches, at_once):
        assert len(data.log) == 23
        assert data.personal == {str(reader.id) for reader in await Reader.all()}
        assert data.segments[str(child.id)] == {"card": "child"}  # alone in its band: 6-9 has no list (five cards)
        assert data.segments[f"~{anonymous[0].id}"] == {"card": "child"}
        assert data.segments[f"~{anonymous[1].id}"] == {"card": "adult"}
        assert list(data.log.reader_keys) == sorted(data.log.reader_keys)
        assert list(data.log.item_keys) == sorted(str(record.id) for record in desk.records)
        assert data.items[str(desk.records[0].id)].author == "刘慈欣"
    loans = [
        (in_batches.log.reader_keys[r], in_batches.log.item_keys[i], d)
        for r, i, d in zip(in_batches.log.readers, in_batches.log.items, in_batches.log.days, strict=True)
    ]
    expected = [
        (str(loan.reader_id) if loan.reader_id else f"~{loan.id}", str(copy.record_id), loan.checked_out_at)
        for loan in await Loan.all()
        for copy in [await Copy.get(id=loan.copy_id)]
    ]
    assert sorted(loans) == sorted(
        (reader, record, (at - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 86400.0)
        for reader, record, at in expected
    )
    assert np.array_equal(in_batches.children, at_once.children)
    assert in_batches.children.sum() == 2
