import asyncio
import io

from PIL import Image

from backend.accounts.models import Reader
from backend.newborn import reading
from backend.newborn.models import Milestone, ReadingLogEntry, ReadingSource
from backend.newborn.reading import MILESTONES
from notifications.models import Notice
from tests.integration.newborn.enrolling import today
from tests.integration.newborn.recording import (
    catalogue,
    enrolled_family,
    lend_to_child,
    log_book,
    log_books,
    tla_desk,
)
from tests.integration.service import NETWORK_TIME, Service


async def test_the_tenth_book_reaches_the_first_milestone_and_the_family_is_told_once(service: Service) -> None:
    family = await enrolled_family(service, "openid-ten-books")
    await catalogue()
    desk = await tla_desk(service)
    await log_books(service, family, 8)
    before = await service.client.get(f"{family.record}/milestones", headers=family.parent.headers)

    ninth = await log_book(service, family, title="第九本")
    await lend_to_child(service, desk, family.parent, family.child_id, "9787533259563-1")  # a loan is a book read
    removed = await service.client.delete(
        f"{family.record}/reading/{ninth.json()['entry']['id']}", headers=family.parent.headers
    )
    again = await log_book(service, family, title="又读一遍第九本")
    after = await service.client.get(f"{family.record}/milestones", headers=family.parent.headers)

    assert (before.json()["books_read"], before.json()["next_milestone"], before.json()["milestones"]) == (8, 10, [])
    assert ninth.json()["milestones_reached"] == [] and removed.status_code == 204
    assert (again.json()["books_read"], again.json()["milestones_reached"]) == (10, [])  # 10 was reached at the loan
    progress = after.json()
    assert (progress["books_read"], progress["next_milestone"]) == (10, 50)
    (reached,) = progress["milestones"]
    assert reached["books"] == 10
    assert reached["certificate"] == f"{family.record}/milestones/10/certificate.png"
    (notice,) = await Notice.filter(reader__openid="openid-ten-books", title="阅读里程碑")
    assert notice.title == "阅读里程碑" and "小宝" in notice.body and "10本书" in notice.body
    assert notice.link == f"child={family.child_id}&milestone=10"


async def test_a_milestone_is_reached_once_when_books_are_logged_and_borrowed_at_once(service: Service) -> None:
    family = await enrolled_family(service, "openid-rush")
    await catalogue()
    desk = await tla_desk(service)
    await log_books(service, family, 7)
    cards = [
        (await service.client.get(f"/readers/me/children/{family.child_id}/card", headers=family.parent.headers))
        for _ in range(2)
    ]

    logged = [log_book(service, family, title=f"一起读的书 {n}") for n in range(10)]
    lent = [
        service.client.post(
            "/staff/checkouts", json={"card_payload": card.json()["payload"], "barcode": barcode}, headers=desk
        )
        for card, barcode in zip(cards, ["9787533259563-1", "9787533258931-1"], strict=True)
    ]
    answers = await asyncio.gather(*logged, *lent)

    assert [a.status_code for a in answers] == [201] * 12, [a.text for a in answers if a.status_code != 201]
    reached = [a.json()["milestones_reached"] for a in answers[:10]]
    assert all(r in ([], [10]) for r in reached) and reached.count([10]) <= 1  # none when a loan reached it
    assert await Milestone.filter(enrolment_id=family.enrolment_id).values_list("books", flat=True) == [10]
    assert await Notice.filter(reader__openid="openid-rush", title="阅读里程碑").count() == 1
    progress = (await service.client.get(f"{family.record}/milestones", headers=family.parent.headers)).json()
    assert progress["books_read"] == 19


async def test_two_books_logged_at_once_across_each_milestone_reach_it_once(service: Service) -> None:
    family = await enrolled_family(service, "openid-pairs")
    answers = []
    for milestone in MILESTONES:
        have = await ReadingLogEntry.filter(enrolment_id=family.enrolment_id).count()
        await ReadingLogEntry.bulk_create(
            [
                ReadingLogEntry(
                    enrolment_id=family.enrolment_id,
                    source=ReadingSource.FREE_TEXT,
                    title=f"第{n + 1}本",
                    read_on=today(service),
                    created_at=service.clock.now(),
                )
                for n in range(have, milestone - 2)
            ]
        )
        answers += await asyncio.gather(*(log_book(service, family, title=f"同时读的书 {n}") for n in range(2)))

    assert [a.status_code for a in answers] == [201] * 2 * len(MILESTONES)
    reached = sorted(books for a in answers for books in a.json()["milestones_reached"])
    assert reached == list(MILESTONES)
    assert await Milestone.filter(enrolment_id=family.enrolment_id).order_by("books").values_list(
        "books", flat=True
    ) == list(MILESTONES)
    assert await Notice.filter(reader__openid="openid-pairs", title="阅读里程碑").count() == 5


async def test_the_certificate_is_a_png_in_chinese_served_only_to_the_guardian(service: Service) -> None:
    family = await enrolled_family(service, "openid-certificate")
    other = await enrolled_family(service, "openid-other-parent", setup=family.setup, child_name="别人家的宝宝")
    await log_books(service, family, 10)
    path = f"{family.record}/milestones/10/certificate.png"

    mine = await service.client.get(path, headers=family.parent.headers)
    not_reached, not_a_milestone, beyond = [
        await service.client.get(f"{family.record}/milestones/{books}/certificate.png", headers=family.parent.headers)
        for books in (50, 7, 5000)
    ]
    theirs = await service.client.get(path, headers=other.parent.headers)
    anonymous = await service.client.get(path)

    assert mine.status_code == 200, mine.text
    assert mine.headers["content-type"] == "image/png" and "no-store" in mine.headers["cache-control"]
    image = Image.open(io.BytesIO(mine.content))
    assert (image.format, image.size) == ("PNG", (1000, 800))
    assert len(image.getcolors(maxcolors=1 << 16) or []) > 100  # text drawn antialiased, not a blank card
    assert [not_reached.json()["code"], not_a_milestone.json()["code"]] == ["newborn_milestone_not_reached"] * 2
    assert beyond.status_code == 400
    assert (theirs.status_code, theirs.json()["code"]) == (404, "child_not_found")
    assert anonymous.status_code == 401


async def test_the_certificate_is_given_by_the_library_the_family_collects_at(service: Service) -> None:
    family = await enrolled_family(service, "openid-certificate-library")
    await log_books(service, family, 10)
    parent = await Reader.get(openid="openid-certificate-library")
    enrolment = await reading.enrolment_of(parent, family.child_id)
    milestone = await Milestone.get(enrolment_id=family.enrolment_id, books=10)

    certificate = reading.certificate_of(enrolment, milestone, NETWORK_TIME)

    assert enrolment.library.code == "TL-A" and enrolment.programme.library.code == "TL"
    assert certificate.library == enrolment.library.name != enrolment.programme.library.name
