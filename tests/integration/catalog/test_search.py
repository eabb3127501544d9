import pytest

from backend.catalog.cataloguing import RecordDraft, correct_record
from backend.catalog.models import Copy, CopyStatus, ItemType, Record
from backend.catalog.search import CONSIDERED, index_records
from backend.network.models import Library
from tests.integration.factories import build_network
from tests.integration.service import Service

PARK = {"lat": 30.9458, "lng": 117.8131}  # next to the central library TL

# title, authors, isbn13, year, clc, language, copies: (library, status, item type)
BOOKS = [
    (
        "三体",
        [("刘慈欣", "author")],
        "9787536692930",
        2008,
        "I247.55",
        "chi",
        [("TL-B", CopyStatus.AVAILABLE, ItemType.BOOK), ("TL", CopyStatus.ON_LOAN, ItemType.BOOK)],
    ),
    (
        "红楼梦",
        [("曹雪芹", "author")],
        "9787020002207",
        1996,
        "I242.47",
        "chi",
        [("TL", CopyStatus.AVAILABLE, ItemType.BOOK), ("TL-A-1", CopyStatus.AVAILABLE, ItemType.BOOK)],
    ),
    (
        "活着",
        [("余华", "author")],
        "9787506365437",
        2012,
        "I247.57",
        "chi",
        [("TL-A-1", CopyStatus.AVAILABLE, ItemType.BOOK)],
    ),
    (
        "百年孤独",
        [("加西亚·马尔克斯", "author"), ("范晔", "translator")],
        "9787544253994",
        2011,
        "I775.45",
        "chi",
        [("TL-B-1", CopyStatus.AVAILABLE, ItemType.BOOK)],
    ),
    (
        "Harry Potter and the Sorcerer's Stone",
        [("J.K. Rowling", "author")],
        "9780439554930",
        1997,
        "I561.84",
        "eng",
        [("TL-A", CopyStatus.AVAILABLE, ItemType.BOOK)],
    ),
    (
        "The Hunger Games",
        [("Suzanne Collins", "author")],
        "9780439023481",
        2008,
        "I712.45",
        "eng",
        [("TL", CopyStatus.WITHDRAWN, ItemType.BOOK)],
    ),
    (
        "好饿的毛毛虫",
        [("艾瑞·卡尔", "author")],
        "9787533256630",
        2008,
        "I712.85",
        "chi",
        [("TL-A-1", CopyStatus.AVAILABLE, ItemType.PICTURE_BOOK)],
    ),
]


@pytest.fixture
async def catalogue(service: Service) -> None:
    await build_network()
    libraries = {lib.code: lib for lib in await Library.all()}
    barcode = 0
    for title, authors, isbn, year, clc, language, copies in BOOKS:
        record = await Record.create(
            title=title,
            authors=[{"name": n, "role": r} for n, r in authors],
            isbn13=isbn,
            year=year,
            clc_class=clc,
            language=language,
        )
        for code, status, item_type in copies:
            barcode += 1
            await Copy.create(
                barcode=f"T{barcode:07d}",
                record=record,
                home_library=libraries[code],
                current_library=libraries[code],
                status=status,
                item_type=item_type,
            )
    await index_records(await Record.all().values_list("id", flat=True))


async def titles(service: Service, **params: object) -> list[str]:
    response = await service.client.get("/records", params=params)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("三体", "三体"),
        ("刘慈欣", "三体"),
        ("santi", "三体"),
        ("st", "三体"),
        ("sant", "三体"),
        ("红楼梦", "红楼梦"),
        ("hongloumeng", "红楼梦"),
        ("hlm", "红楼梦"),
        ("曹雪芹", "红楼梦"),
        ("孤独", "百年孤独"),
        ("范晔", "百年孤独"),
        ("毛毛虫", "好饿的毛毛虫"),
        ("harry potter", "Harry Potter and the Sorcerer's Stone"),
        ("harr", "Harry Potter and the Sorcerer's Stone"),
        ("Rowling", "Harry Potter and the Sorcerer's Stone"),
        ("ＨＡＲＲＹ", "Harry Potter and the Sorcerer's Stone"),
    ],
)
async def test_readers_find_books_by_words_pinyin_and_initials(
    service: Service, catalogue: None, query: str, title: str
) -> None:
    assert title in (await titles(service, q=query))[:3]


@pytest.mark.parametrize(
    "isbn", ["9787536692930", "978-7-5366-9293-0", "7536692935", "7-5366-9293-5", "ISBN 978 7 5366 9293 0"]
)
async def test_any_written_form_of_an_isbn_finds_the_book(service: Service, catalogue: None, isbn: str) -> None:
    assert await titles(service, q=isbn) == ["三体"]


async def test_words_must_all_match(service: Service, catalogue: None) -> None:
    assert await titles(service, q="三体 曹雪芹") == []
    assert await titles(service, q="三体 刘慈欣") == ["三体"]


async def test_bad_queries_get_a_clear_answer_never_a_500(service: Service, catalogue: None) -> None:
    invalid_isbn = await service.client.get("/records", params={"q": "9787536692931"})
    too_long = await service.client.get("/records", params={"q": "x" * 10_000})
    hostile = [
        await service.client.get("/records", params={"q": q})
        for q in ["' OR 1=1 --", "a*b?(c)[d]", '"', "NEAR(", "santi*", "\\", "%_", "🙂", "的", "---"]
    ]

    assert (invalid_isbn.status_code, invalid_isbn.json()["code"]) == (422, "invalid_isbn")
    assert too_long.status_code == 400
    assert [r.status_code for r in hostile] == [200] * len(hostile)


async def test_filters_narrow_and_facets_count_the_matches(service: Service, catalogue: None) -> None:
    literature = (await service.client.get("/records", params={"clc": "I24"})).json()
    recent = await titles(service, year_from=2010, year_to=2012)
    english = await titles(service, language="eng")
    at_branch = await titles(service, library="TL-A-1")
    picture_books = await titles(service, item_type="picture_book")

    assert sorted(i["title"] for i in literature["items"]) == ["三体", "活着", "红楼梦"]
    assert sorted(recent) == ["活着", "百年孤独"]
    assert sorted(english) == ["Harry Potter and the Sorcerer's Stone"]  # The Hunger Games: only a withdrawn copy
    assert sorted(at_branch) == ["好饿的毛毛虫", "活着", "红楼梦"]
    assert picture_books == ["好饿的毛毛虫"]
    everything = (await service.client.get("/records")).json()
    assert dict((f["value"], f["count"]) for f in everything["facets"]["language"]) == {"chi": 5, "eng": 1}
    assert everything["facets"]["clc_class"] == [{"value": "I", "count": 6, "label": "文学"}]


async def test_each_result_tells_what_is_on_the_shelf_and_where_nearest(service: Service, catalogue: None) -> None:
    body = (await service.client.get("/records", params={"q": "三体", **PARK})).json()
    dream = (await service.client.get("/records", params={"q": "红楼梦", **PARK})).json()["items"][0]

    three_body = body["items"][0]
    assert (three_body["available"], three_body["libraries_with_available"]) == (1, 1)  # the other is on loan
    assert three_body["nearest_available"]["library_code"] == "TL-B"
    assert dream["nearest_available"]["library_code"] == "TL" and dream["nearest_available"]["distance_m"] < 200


async def test_pages_are_stable_and_newest_first_sorts_by_year(service: Service, catalogue: None) -> None:
    pages = [await titles(service, sort="newest", limit=4, offset=offset) for offset in (0, 4)]

    flat = [title for page in pages for title in page]
    assert len(flat) == 6 and len(set(flat)) == 6  # The Hunger Games has only a withdrawn copy
    assert flat[0] == "活着" and flat[-1] == "红楼梦"


async def test_an_unknown_library_filter_is_a_404(service: Service, catalogue: None) -> None:
    response = await service.client.get("/records", params={"library": "NOPE"})

    assert (response.status_code, response.json()["code"]) == (404, "library_not_found")


async def test_parents_find_books_for_their_childs_age(service: Service, catalogue: None) -> None:
    caterpillar = await Record.get(title="好饿的毛毛虫")
    await correct_record(caterpillar.id, RecordDraft(audience_min_age=0, audience_max_age=6))

    assert await titles(service, age=3) == ["好饿的毛毛虫"]
    assert await titles(service, age=9) == []


async def test_on_the_shelf_near_me_keeps_only_copies_available_close_by(service: Service, catalogue: None) -> None:
    # From the park: TL (~140 m), TL-A-1 (~1 km) and TL-A (~1.4 km) are close; the county libraries are ~60 km off.
    near = await titles(service, within_m=3000, **PARK)
    far = await titles(service, within_m=100, **PARK)

    assert sorted(near) == ["Harry Potter and the Sorcerer's Stone", "好饿的毛毛虫", "活着", "红楼梦"]
    assert far == []  # nothing within 100 m: the central library is ~140 m away


async def test_a_broad_search_counts_up_to_a_bound_and_says_so(service: Service, catalogue: None) -> None:
    branch = await Library.get(code="TL-B")
    await Record.bulk_create(
        [Record(title=f"Harbour Tales {i}", language="eng", year=1900 + i % 100) for i in range(CONSIDERED + 5)]
    )
    records = await Record.filter(title__startswith="Harbour")
    await Copy.bulk_create(
        [
            Copy(barcode=f"H{i:07d}", record=record, home_library=branch, current_library=branch)
            for i, record in enumerate(records)
        ]
    )
    await index_records([record.id for record in records])

    broad = (await service.client.get("/records", params={"q": "harbour", "sort": "newest"})).json()
    narrow = (await service.client.get("/records", params={"q": "harbour", "year_from": 1999})).json()
    last_page = (await service.client.get("/records", params={"q": "harbour", "offset": CONSIDERED - 5})).json()

    assert (broad["total"], broad["total_exact"]) == (CONSIDERED, False)
    assert broad["items"][0]["year"] == 1999  # newest first over all matches, not only those counted
    assert sum(f["count"] for f in broad["facets"]["language"]) == CONSIDERED
    assert (narrow["total"], narrow["total_exact"]) == (20, True)  # 1999: the 100th of each hundred titles
    assert len(last_page["items"]) == 5


async def test_the_author_filter_looks_at_authors_only(service: Service, catalogue: None) -> None:
    assert await titles(service, author="刘慈欣") == ["三体"]
    assert await titles(service, author="三体") == []  # a title word is not an author
    assert await titles(service, author="rowling", q="harry") == ["Harry Potter and the Sorcerer's Stone"]


async def test_a_word_in_the_title_ranks_above_the_same_word_in_the_subjects(service: Service, catalogue: None) -> None:
    three_body = await Record.get(title="三体")  # catalogued first: on a tie it would come first
    await correct_record(three_body.id, RecordDraft(subjects=["孤独"]))

    assert await titles(service, q="孤独") == ["百年孤独", "三体"]
