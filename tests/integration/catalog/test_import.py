import asyncio
import csv
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pymarc
import pytest
from pymarc import Field, Indicators, Subfield
from tortoise.transactions import in_transaction

from backend.catalog.errors import ImportFileUnreadable, InvalidIsbn
from backend.catalog.importer import (
    BATCH_SIZE,
    CSV_COLUMNS,
    READER_PROCESS_MIN_BYTES,
    ImportProblem,
    ImportSummary,
    import_records,
)
from backend.catalog.importer.writer import without_isbn_by_title
from backend.catalog.isbn import normalise_isbn, pad_isbn10
from backend.catalog.models import Copy, CopyStatus, ItemType, Record
from backend.catalog.search import SearchQuery, search
from backend.network.models import Library
from entrypoints.import_records import ProgressBar
from tests.integration.factories import build_network
from tests.integration.service import Service

GOODBOOKS = Path(__file__).resolve().parents[4] / "shared" / "data" / "goodbooks-10k" / "books.csv"
REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Book:
    isbn10: str
    isbn13: str
    title: str
    authors: list[str]
    year: int | None


def goodbooks(count: int) -> list[Book]:
    """English books of goodbooks-10k with a valid ISBN (the data set stored ISBN-10s as numbers)."""
    assert GOODBOOKS.is_file(), f"the shared data set is missing: {GOODBOOKS}"
    books: list[Book] = []
    with GOODBOOKS.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            if not row["language_code"].startswith("en"):
                continue
            try:
                isbn13 = normalise_isbn(pad_isbn10(row["isbn"]))
            except InvalidIsbn:
                continue
            year = row["original_publication_year"]
            books.append(
                Book(
                    isbn10=pad_isbn10(row["isbn"]),
                    isbn13=isbn13,
                    title=row["title"],
                    authors=[name.strip() for name in row["authors"].split(",")],
                    year=int(float(year)) if year and float(year) >= 1000 else None,
                )
            )
            if len(books) == count:
                return books
    raise AssertionError(f"{GOODBOOKS} has fewer than {count} usable English books")


def inverted(name: str) -> str:
    *given, family = name.split(" ")
    return f"{family}, {' '.join(given)}" if given else name


def marc21(book: Book, copies: list[list[Subfield]], *, isbn: str | None = None, title: bool = True) -> pymarc.Record:
    """A MARC21 record as a library system exports it: ISBD punctuation, inverted names, Koha items in 952."""
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    year = str(book.year) if book.year else "    "
    record.add_field(Field(tag="008", data=f"{'':6}s{year}{'':4}xxu{'':17}eng d"))
    record.add_field(Field(tag="020", indicators=Indicators(" ", " "), subfields=[Subfield("a", isbn or book.isbn10)]))
    record.add_field(
        Field(tag="100", indicators=Indicators("1", " "), subfields=[Subfield("a", inverted(book.authors[0]) + ",")])
    )
    if title:
        record.add_field(
            Field(
                tag="245",
                indicators=Indicators("1", "0"),
                subfields=[Subfield("a", book.title + " /"), Subfield("c", f"{book.authors[0]}.")],
            )
        )
    for other in book.authors[1:]:
        record.add_field(
            Field(tag="700", indicators=Indicators("1", " "), subfields=[Subfield("a", inverted(other) + ",")])
        )
    if book.year:
        record.add_field(Field(tag="260", indicators=Indicators(" ", " "), subfields=[Subfield("c", f"c{book.year}.")]))
    for subfields in copies:
        record.add_field(Field(tag="952", indicators=Indicators(" ", " "), subfields=subfields))
    return record


def koha_item(library: str, barcode: str, call_number: str = "813.54", item_type: str = "BK") -> list[Subfield]:
    return [
        Subfield("a", library),
        Subfield("b", library),
        Subfield("o", call_number),
        Subfield("p", barcode),
        Subfield("y", item_type),
    ]


def two_copies(number: int) -> list[list[Subfield]]:
    return [koha_item("TL-A-1", f"A1{number:06d}"), koha_item("TL-B-1", f"B1{number:06d}")]


def cnmarc(fields: list[tuple[str, list[tuple[str, str]]]]) -> pymarc.Record:
    record = pymarc.Record(leader="00000nam0 2200000   450 ")
    for tag, subfields in fields:
        record.add_field(
            Field(tag=tag, indicators=Indicators(" ", " "), subfields=[Subfield(c, v) for c, v in subfields])
        )
    return record


SANTI = cnmarc(
    [
        ("010", [("a", "978-7-5366-9293-0"), ("d", "CNY23.00")]),
        ("100", [("a", "20080101d2008    em y0chiy0121    ea")]),
        ("101", [("a", "chi")]),
        ("200", [("a", "三体"), ("f", "刘慈欣著")]),
        ("210", [("a", "重庆"), ("c", "重庆出版社"), ("d", "2008")]),
        ("330", [("a", "文化大革命如火如荼进行的同时，军方探寻外星文明的绝秘计划“红岸工程”取得了突破性进展。")]),
        ("606", [("a", "科学幻想小说"), ("y", "中国"), ("z", "当代")]),
        ("690", [("a", "I247.55"), ("v", "5")]),
        ("701", [("a", "刘慈欣"), ("4", "著")]),
        ("905", [("a", "TL"), ("b", "C0000001"), ("d", "I247.55"), ("e", "123")]),
        ("905", [("a", "TL-A"), ("b", "C0000002"), ("d", "I247.55"), ("e", "123")]),
    ]
)
HONGLOUMENG = cnmarc(
    [
        ("010", [("a", "978-7-02-000220-7")]),
        ("101", [("a", "chi")]),
        # No 701: the first name of the statement of responsibility is the author.
        ("200", [("a", "红楼梦"), ("f", "曹雪芹, 高鹗著")]),
        ("210", [("c", "人民文学出版社"), ("d", "1996")]),
        ("690", [("a", "I242.47")]),
        ("905", [("a", "TL-B-1"), ("b", "C0000003"), ("d", "I242.47")]),
    ]
)
BAINIAN_GUDU = cnmarc(
    [
        ("010", [("a", "9787544253994")]),
        ("101", [("a", "chi")]),
        ("200", [("a", "百年孤独"), ("f", "(哥伦比亚)加西亚·马尔克斯著"), ("g", "范晔译")]),
        ("210", [("c", "南海出版公司"), ("d", "2011")]),
        ("690", [("a", "I775.45")]),
        ("701", [("a", "加西亚·马尔克斯"), ("4", "070")]),
        ("702", [("a", "范晔"), ("4", "730")]),
        ("905", [("a", "TL-A-1"), ("b", "C0000004"), ("d", "I775.45")]),
    ]
)
HUOZHE = cnmarc(
    [
        ("010", [("a", "978-7-5063-6543-7")]),
        ("101", [("a", "chi")]),
        ("200", [("a", "活着"), ("f", "余华著")]),
        ("210", [("c", "作家出版社"), ("d", "2012")]),
        ("690", [("a", "I247.57")]),
        ("701", [("a", "余华")]),
        ("905", [("a", "TL-SC1"), ("b", "C0000005"), ("d", "I247.57")]),
    ]
)


def iso2709(record: pymarc.Record, encoding: str = "utf-8") -> bytes:
    """The record in transmission format with leader/09 left blank, as CNMARC systems write it, in any encoding
    (pymarc itself writes UTF-8 and marks it)."""
    directory, data = b"", b""
    for f in record.fields:
        encoded = f.as_marc(encoding=encoding)
        directory += f"{f.tag}{len(encoded):04d}{len(data):05d}".encode()
        data += encoded
    directory += b"\x1e"
    data += b"\x1d"
    base = 24 + len(directory)
    return f"{base + len(data):05d}nam  22{base:05d}   450 ".encode() + directory + data


@dataclass
class MarcFile:
    path: Path
    books: list[Book]
    imported: list[Book]  # those that must be imported
    expected_problems: list[tuple[int, str]]  # position, part of the reason


def broken_marc_file(directory: Path) -> MarcFile:
    """30 real English records, 4 Chinese CNMARC records, and every kind of damage between them."""
    books = goodbooks(32)
    parts: list[bytes] = [marc21(book, two_copies(n)).as_marc() for n, book in enumerate(books[:20])]  # 1-20
    truncated_leader = marc21(books[20], two_copies(20)).as_marc()[7:]
    parts.append(truncated_leader)  # 21
    whole = marc21(books[21], two_copies(21)).as_marc()
    parts.append(whole[:200] + b"\xff\xfe garbage \x00" + whole[200:])  # 22: bytes inserted inside
    parts.append(b"\x00\x01 this is not MARC \xe2\x80\x94")  # 23: stray bytes glued to the next record
    parts.append(marc21(books[22], two_copies(22)).as_marc())  # 24
    parts.append(marc21(books[30], two_copies(30), title=False).as_marc())  # 25: no 245
    parts.append(marc21(books[23], two_copies(23), isbn=wrong_check_digit(books[23].isbn10)).as_marc())  # 26
    unknown_and_no_barcode = [koha_item("TL-A-1", "A1000024"), koha_item("TL-XX", "X1000024"), koha_item("TL-B-1", "")]
    parts.append(marc21(books[24], unknown_and_no_barcode).as_marc())  # 27
    parts += [marc21(book, two_copies(n)).as_marc() for n, book in enumerate(books[25:30], start=25)]  # 28-32
    parts += [iso2709(SANTI), iso2709(HONGLOUMENG), iso2709(BAINIAN_GUDU), iso2709(HUOZHE, "gb18030")]  # 33-36
    parts.append(marc21(books[31], two_copies(31)).as_marc()[:150])  # 37: the file ends inside a record
    path = directory / "catalogue.mrc"
    path.write_bytes(b"".join(parts))
    return MarcFile(
        path,
        books,
        imported=[*books[:20], books[22], books[23], books[24], *books[25:30]],
        expected_problems=[
            (21, "5-digit record length"),
            (22, "declares"),
            (23, "is not a MARC record"),
            (25, "no title"),
            (26, "ISBN"),
            (27, "'TL-XX' is not a library"),
            (27, "no barcode"),
            (37, "truncated"),
        ],
    )


def wrong_check_digit(isbn10: str) -> str:
    return isbn10[:9] + ("1" if isbn10[9] == "0" else "0")


def assert_problems(summary: ImportSummary, expected: list[tuple[int, str]]) -> None:
    assert len(summary.problems) == len(expected), summary.lines()
    for problem, (position, words) in zip(summary.problems, expected, strict=True):
        assert problem.position == position and words in problem.reason, (problem, position, words)


async def test_imports_a_marc_file_skipping_and_reporting_each_broken_record(service: Service, tmp_path: Path) -> None:
    await build_network()
    marc = broken_marc_file(tmp_path)

    summary = await import_records(marc.path)

    assert_problems(summary, marc.expected_problems)
    assert (summary.records_created, summary.records_updated) == (28 + 4, 0)
    assert (summary.copies_created, summary.copies_updated) == (27 * 2 + 1 + 5, 0)
    assert await Record.all().count() == 32
    assert await Copy.all().count() == 60
    assert set(await Record.exclude(isbn13=None).values_list("isbn13", flat=True)) == {
        b.isbn13 for b in marc.imported if b is not marc.books[23]
    } | {"9787536692930", "9787020002207", "9787544253994", "9787506365437"}

    hunger_games = await Record.get(isbn13=marc.books[0].isbn13)
    assert hunger_games.title == marc.books[0].title
    assert hunger_games.authors == [{"name": inverted(marc.books[0].authors[0]), "role": "author"}]
    assert (hunger_games.year, hunger_games.language) == (marc.books[0].year, "eng")
    copies = await Copy.filter(record=hunger_games).order_by("barcode").prefetch_related("home_library")
    assert [(c.barcode, c.home_library.code, c.shelf_location, c.item_type) for c in copies] == [
        ("A1000000", "TL-A-1", "813.54", ItemType.BOOK),
        ("B1000000", "TL-B-1", "813.54", ItemType.BOOK),
    ]
    without_isbn = await Record.get(title=marc.books[23].title)
    assert without_isbn.isbn13 is None
    assert await Copy.filter(record__isbn13=marc.books[24].isbn13).values_list("barcode", flat=True) == ["A1000024"]

    santi = await Record.get(isbn13="9787536692930")
    assert (santi.title, santi.publisher, santi.year, santi.clc_class, santi.language) == (
        "三体",
        "重庆出版社",
        2008,
        "I247.55",
        "chi",
    )
    assert santi.authors == [{"name": "刘慈欣", "role": "author"}]
    assert santi.subjects == ["科学幻想小说"] and santi.summary.startswith("文化大革命")
    assert sorted(await Copy.filter(record=santi).values_list("barcode", "shelf_location")) == [
        ("C0000001", "I247.55/123"),
        ("C0000002", "I247.55/123"),
    ]
    assert (await Record.get(isbn13="9787020002207")).authors == [{"name": "曹雪芹", "role": "author"}]
    assert (await Record.get(isbn13="9787544253994")).authors == [
        {"name": "加西亚·马尔克斯", "role": "author"},
        {"name": "范晔", "role": "translator"},
    ]
    huozhe = await Record.get(isbn13="9787506365437")  # written in GB18030
    assert (huozhe.title, huozhe.publisher, huozhe.authors) == (
        "活着",
        "作家出版社",
        [{"name": "余华", "role": "author"}],
    )


async def test_running_the_same_file_again_creates_nothing(service: Service, tmp_path: Path) -> None:
    await build_network()
    marc = broken_marc_file(tmp_path)
    await import_records(marc.path)
    before = sorted(await Copy.all().values_list("id", "barcode", "record_id", "home_library_id"))

    again = await import_records(marc.path)

    assert (again.records_created, again.records_updated) == (0, 32)
    assert (again.copies_created, again.copies_updated) == (0, 60)
    assert_problems(again, marc.expected_problems)
    assert await Record.all().count() == 32
    assert sorted(await Copy.all().values_list("id", "barcode", "record_id", "home_library_id")) == before


async def test_imported_records_are_found_by_words_and_by_isbn(service: Service, tmp_path: Path) -> None:
    await build_network()
    marc = broken_marc_file(tmp_path)
    await import_records(marc.path)

    by_word = await search(SearchQuery(text="三体"))
    by_isbn = await search(SearchQuery(text="978-7-5366-9293-0"))
    by_english_title = await search(SearchQuery(text="hunger games"))

    assert [hit.record.title for hit in by_word.hits] == ["三体"]
    assert by_word.hits[0].available == 2 and by_word.hits[0].libraries_with_available == 2
    assert [hit.record.title for hit in by_isbn.hits] == ["三体"]
    assert marc.books[0].isbn13 in {hit.record.isbn13 for hit in by_english_title.hits}


async def test_imports_marcxml_and_reports_a_record_pymarc_cannot_read(service: Service, tmp_path: Path) -> None:
    await build_network()
    books = goodbooks(12)
    out = io.BytesIO()
    writer = pymarc.XMLWriter(out)
    for number, book in enumerate(books[:10]):
        writer.write(marc21(book, two_copies(number)))
    writer.write(SANTI)
    writer.close(close_fh=False)
    xml = out.getvalue().decode("utf-8")
    broken = '<record><leader>00000nam a2200000 a 4500</leader><datafield ind1=" " ind2=" "></datafield></record>'
    # The 4th record can't become a pymarc field; the file is cut inside the 12th: the 11 before it get in.
    records = xml.split("<record>")
    xml = "<record>".join([*records[:4], broken.removeprefix("<record>"), *records[4:]])
    path = tmp_path / "catalogue.xml"
    path.write_text(xml[: xml.rindex("</record>") - 40], encoding="utf-8")

    summary = await import_records(path)

    assert_problems(summary, [(4, "pymarc cannot read it"), (12, "XML cannot be read")])
    assert (summary.records_created, summary.copies_created) == (10, 20)
    assert await Record.filter(isbn13="9787536692930").count() == 0  # it was the record the file cut
    assert (await Record.get(isbn13=books[9].isbn13)).title == books[9].title


def csv_file(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(
            stream,
            fieldnames=list(CSV_COLUMNS),
        )
        writer.writeheader()
        writer.writerows(rows)
    return path


async def test_imports_a_csv_file_with_a_row_per_copy(service: Service, tmp_path: Path) -> None:
    await build_network()
    hunger_games, potter = goodbooks(2)
    santi = {
        "isbn": "978-7-5366-9293-0",
        "title": "三体",
        "authors": "刘慈欣",
        "publisher": "重庆出版社",
        "year": "2008",
        "clc": "I247.55",
        "subjects": "科幻;小说",
        "language": "chi",
    }
    anthology = {"title": "铜陵地方文献选编", "authors": "铜陵市图书馆|编", "year": "2019"}  # no ISBN
    rows = [
        {**santi, "library": "TL", "barcode": "CSV00001", "shelf": "I247.55/1"},
        {**santi, "library": "TL-A", "barcode": "CSV00002", "shelf": "I247.55/1"},  # line 3
        {"isbn": hunger_games.isbn10.lstrip("0"), "title": hunger_games.title, "authors": hunger_games.authors[0]}
        | {"year": f"{hunger_games.year}.0", "language": "eng", "library": "TL-B-1", "barcode": "CSV00003"},
        {**anthology, "library": "TL", "barcode": "CSV00004", "item_type": "期刊"},  # line 5
        {"isbn": potter.isbn13, "title": "", "library": "TL", "barcode": "CSV00005"},  # line 6: no title
        {**santi, "library": "TL-B-1", "barcode": "CSV00006"},  # line 7: the same record again, elsewhere
        {**anthology, "library": "TL-NOWHERE", "barcode": "CSV00007"},  # line 8
        {
            "isbn": "9787544253994",
            "title": "百年孤独",
            "authors": "加西亚·马尔克斯;范晔|译",
            "library": "TL-SC1",
            "barcode": "CSV00008",
            "item_type": "绘本",
        },
        {**anthology, "library": "TL-A-1", "barcode": "CSV00009", "item_type": "journal"},  # line 10
    ]
    path = csv_file(tmp_path / "holdings.csv", rows)

    first = await import_records(path)
    again = await import_records(path)

    assert_problems(first, [(6, "no title"), (8, "'TL-NOWHERE' is not a library")])
    assert (first.records_created, first.records_updated, first.copies_created, first.copies_updated) == (4, 0, 7, 0)
    assert (again.records_created, again.records_updated, again.copies_created, again.copies_updated) == (0, 4, 0, 7)
    assert again.position_name == "line" and "line 6: row skipped: it has no title" in again.lines()[3]
    assert await Record.all().count() == 4 and await Copy.all().count() == 7
    santi_record = await Record.get(isbn13="9787536692930")
    assert sorted(await Copy.filter(record=santi_record).values_list("barcode", flat=True)) == [
        "CSV00001",
        "CSV00002",
        "CSV00006",
    ]
    assert santi_record.subjects == ["科幻", "小说"]
    anthology_record = await Record.get(title="铜陵地方文献选编")
    assert anthology_record.isbn13 is None and anthology_record.year == 2019
    assert sorted(await Copy.filter(record=anthology_record).values_list("barcode", "item_type")) == [
        ("CSV00004", ItemType.PERIODICAL),
        ("CSV00009", ItemType.PERIODICAL),
    ]
    english = await Record.get(isbn13=hunger_games.isbn13)  # its ISBN-10 had lost its leading zero
    assert (english.year, english.authors) == (hunger_games.year, [{"name": hunger_games.authors[0], "role": "author"}])
    bainian = await Record.get(isbn13="9787544253994")
    assert bainian.authors == [{"name": "加西亚·马尔克斯", "role": "author"}, {"name": "范晔", "role": "translator"}]
    assert (await Copy.get(barcode="CSV00008")).item_type is ItemType.PICTURE_BOOK


async def test_an_imported_barcode_is_stored_upper_case_and_found_again_in_any_case(
    service: Service, tmp_path: Path
) -> None:
    await build_network()
    santi = {"isbn": "978-7-5366-9293-0", "title": "三体", "authors": "刘慈欣", "library": "TL-A"}

    first = await import_records(csv_file(tmp_path / "lower.csv", [{**santi, "barcode": " tlc0000001 "}]))
    again = await import_records(csv_file(tmp_path / "upper.csv", [{**santi, "barcode": "TLC0000001"}]))

    assert (first.copies_created, again.copies_created, again.copies_updated) == (1, 0, 1)
    assert await Copy.all().values_list("barcode", flat=True) == ["TLC0000001"]


async def test_a_copy_found_again_by_barcode_moves_to_the_record_and_library_the_file_gives(
    service: Service, tmp_path: Path
) -> None:
    await build_network()
    first_book, second_book = goodbooks(2)
    path = tmp_path / "one.mrc"
    path.write_bytes(marc21(first_book, two_copies(1)).as_marc())
    await import_records(path)
    moved = await Copy.get(barcode="A1000001")
    moved_from = moved.current_library_id
    rows = [
        {"isbn": second_book.isbn13, "title": second_book.title, "library": "TL-SC1", "barcode": "A1000001"},
        {"isbn": first_book.isbn13, "title": first_book.title, "library": "TL", "barcode": "A1000001"},  # line 3
    ]

    summary = await import_records(csv_file(tmp_path / "recatalogued.csv", rows))

    assert (summary.records_created, summary.records_updated) == (1, 1)
    assert (summary.copies_created, summary.copies_updated) == (0, 1)
    assert summary.problems == [
        ImportProblem(3, "copy skipped: barcode 'A1000001' was already given to a copy earlier in this file")
    ]
    copy = await Copy.get(barcode="A1000001").prefetch_related("record", "home_library")
    assert (copy.record.isbn13, copy.home_library.code) == (second_book.isbn13, "TL-SC1")
    # Where the copy is now is circulation's business: a file naming only its library does not move it.
    assert copy.current_library_id == moved_from
    assert await Copy.all().count() == 2


async def test_an_unknown_format_or_a_missing_file_is_refused_before_anything_is_written(
    service: Service, tmp_path: Path
) -> None:
    await build_network()

    with pytest.raises(ImportFileUnreadable, match="unknown extension"):
        await import_records(tmp_path / "records.json")
    with pytest.raises(ImportFileUnreadable, match="no such file"):
        await import_records(tmp_path / "missing.mrc")
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("9787536692930,三体\n", encoding="utf-8")
    with pytest.raises(ImportFileUnreadable, match="'title' is missing"):
        await import_records(headerless)
    large_headerless = tmp_path / "large_headerless.csv"
    large_headerless.write_text("9787536692930,三体\n" * 20_000, encoding="utf-8")  # read in a process of its own
    with pytest.raises(ImportFileUnreadable, match="'title' is missing"):
        await import_records(large_headerless)
    assert await Record.all().count() == 0


async def test_the_command_prints_progress_and_the_summary_and_fails_when_something_was_skipped(
    service: Service, tmp_path: Path
) -> None:
    await build_network()
    marc = broken_marc_file(tmp_path)
    clean = tmp_path / "clean.mrc"
    clean.write_bytes(iso2709(SANTI) + iso2709(HUOZHE, "gb18030"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUXIANG_")}
    env["SHUXIANG_DATABASE_URL"] = service.settings.database.url
    env["SHUXIANG_SECRET_KEY"] = service.settings.security.secret_key  # required with a database URL
    env["SHUXIANG_DATA_DIR"] = str(tmp_path)
    # In a process of its own, as the command runs: run_import starts its own event loop and ORM.
    command = "import sys; from pathlib import Path; from entrypoints.import_records import run_import; "
    command += (
        "from backend.settings import Settings; sys.exit(run_import(Settings.from_env(), Path(sys.argv[1]), None))"
    )

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", command, str(path)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    broken = run(marc.path)
    fine = run(clean)

    assert broken.returncode == 1, broken.stderr
    assert "records: 32 created, 0 updated" in broken.stdout and "record 22: at byte" in broken.stdout
    assert "37 records" in broken.stderr and "/s" in broken.stderr  # the bar, as written to a log
    assert fine.returncode == 0, fine.stderr
    assert fine.stdout.splitlines() == ["records: 0 created, 2 updated", "copies: 0 created, 3 updated", "problems: 0"]


async def test_the_progress_bar_redraws_at_most_every_fifth_of_a_second() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    now = [100.0]
    screen = Terminal()
    bar = ProgressBar(screen, interval=0.2, clock=lambda: now[0])

    for done in (500, 1000, 1500):
        now[0] += 0.05
        bar(done, 10_000)
    now[0] += 0.2
    bar(2000, 10_000)
    now[0] += 0.05
    bar(2500, 10_000)
    bar.finish()

    draws = screen.getvalue().split("\r")[1:]
    assert len(draws) == 3  # the first update, the one 0.3 s later, the final count
    assert draws[0].startswith("[") and "500/10,000 records" in draws[0]
    assert "2,000/10,000 records" in draws[1]
    assert "25%  2,500/10,000 records  6,250/s" in draws[2] and draws[2].endswith("\n")


async def test_a_record_found_again_takes_the_new_values_and_keeps_what_the_file_leaves_empty(
    service: Service, tmp_path: Path
) -> None:
    await build_network()
    first = {
        "isbn": "9787536692930",
        "title": "三体",
        "authors": "刘慈欣",
        "publisher": "重庆出版社",
        "summary": "地球往事三部曲之一",
        "library": "TL",
        "barcode": "CSV00001",
    }
    await import_records(csv_file(tmp_path / "first.csv", [first]))
    corrected = {
        "isbn": "978-7-5366-9293-0",
        "title": "三体",
        "subtitle": "地球往事",
        "authors": "刘慈欣;Ken Liu|translator",
        "subjects": "科幻",
        "year": "2008",
        "library": "TL",
        "barcode": "CSV00001",
        "shelf": "I247.55/LCX",
    }

    summary = await import_records(csv_file(tmp_path / "corrected.csv", [corrected]))

    assert (summary.records_created, summary.records_updated, summary.copies_updated) == (0, 1, 1)
    record = await Record.get(isbn13="9787536692930")
    assert record.authors == [{"name": "刘慈欣", "role": "author"}, {"name": "Ken Liu", "role": "translator"}]
    assert (record.subtitle, record.subjects, record.year) == ("地球往事", ["科幻"], 2008)
    assert (record.publisher, record.summary) == ("重庆出版社", "地球往事三部曲之一")
    assert (await Copy.get(barcode="CSV00001")).shelf_location == "I247.55/LCX"
    assert [hit.record.id for hit in (await search(SearchQuery(text="ken liu"))).hits] == [record.id]


def synthetic_isbn13(number: int) -> str:
    first12 = f"979{number:09d}"
    return first12 + str(-sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12)) % 10)


async def test_a_file_of_many_batches_is_imported_whole_found_by_words_and_where_its_copies_are(
    service: Service, tmp_path: Path
) -> None:
    await build_network()
    count = 3 * BATCH_SIZE + 7
    rows = [
        {
            # Every other record has no ISBN: found again by title and first author.
            "isbn": "" if n % 2 else synthetic_isbn13(n),
            "title": f"皖南民间故事 volume{n}",
            "authors": f"编者{n}",
            "summary": "长江边上的村庄，" * 20,
            "library": "TL-A-1" if n % 3 else "TL-B-1",
            "barcode": f"BIG{n:06d}",
        }
        for n in range(count)
    ]
    path = csv_file(tmp_path / "big.csv", rows)
    assert path.stat().st_size >= READER_PROCESS_MIN_BYTES  # read, and its words segmented, in a process of its own
    read: list[int] = []

    first = await import_records(path, progress=lambda done, total: read.append(done))
    again = await import_records(path)

    assert (first.records_created, first.records_updated, first.copies_created, first.problems) == (count, 0, count, [])
    assert (again.records_created, again.records_updated, again.copies_created, again.copies_updated) == (
        0,
        count,
        0,
        count,
    )
    assert len(read) >= 4 and read == sorted(read) and read[-1] == count
    assert await Record.all().count() == count and await Copy.all().count() == count
    last = count - 1  # in the last batch
    by_word = await search(SearchQuery(text=f"volume{last} 村庄"))
    assert [hit.record.title for hit in by_word.hits] == [f"皖南民间故事 volume{last}"]
    assert by_word.hits[0].record.isbn13 == synthetic_isbn13(last)
    there, elsewhere = rows[last]["library"], ({"TL-A-1", "TL-B-1"} - {rows[last]["library"]}).pop()
    found_there = await search(SearchQuery(text=f"volume{last}", library_code=there))
    assert [hit.record.title for hit in found_there.hits] == [f"皖南民间故事 volume{last}"]
    assert (await search(SearchQuery(text=f"volume{last}", library_code=elsewhere))).hits == []


async def test_copies_a_later_file_adds_or_moves_change_where_readers_find_the_records(
    service: Service, tmp_path: Path
) -> None:
    await build_network()
    santi = {"isbn": "9787536692930", "title": "三体", "authors": "刘慈欣"}
    huozhe = {"isbn": "9787506365437", "title": "活着", "authors": "余华"}
    await import_records(
        csv_file(
            tmp_path / "first.csv",
            [
                {**santi, "library": "TL-A-1", "barcode": "CSV00001"},
                {**huozhe, "library": "TL-A", "barcode": "CSV00002"},
            ],
        )
    )
    later = [
        {**santi, "library": "TL-B-1", "barcode": "CSV00003"},  # a new copy elsewhere
        # Recatalogued: the copy of 活着 at TL-A was a copy of 三体 all along (and stays where it is).
        {**santi, "library": "TL-A", "barcode": "CSV00002"},
    ]

    summary = await import_records(csv_file(tmp_path / "later.csv", later))

    assert (summary.records_created, summary.copies_created, summary.copies_updated) == (0, 1, 1)

    async def found_at(text: str, library_code: str) -> list[str]:
        return [hit.record.title for hit in (await search(SearchQuery(text=text, library_code=library_code))).hits]

    assert await found_at("三体", "TL-B-1") == ["三体"]
    assert await found_at("三体", "TL-A") == ["三体"]
    assert await found_at("活着", "TL-A") == []
    assert (await search(SearchQuery(text="活着"))).hits == []  # no copy left: readers no longer find it


async def test_records_without_an_isbn_are_found_again_through_an_index_on_their_title(service: Service) -> None:
    # Without it each batch scanned every record without an ISBN, and an import slowed down as the catalogue grew.
    await Record.bulk_create(
        [Record(isbn13=None if n % 2 else synthetic_isbn13(n), title=f"地方志 {n}") for n in range(5000)]
    )
    async with in_transaction() as connection:
        await connection.execute_script("ANALYZE record")  # as an import does while it grows the table
        sql, values = without_isbn_by_title(["地方志 1", "地方志 3"])
        plan = str(await connection.execute_query_dict(f"EXPLAIN {sql}", values))

    assert "record_title_without_isbn" in plan


async def test_two_imports_of_one_file_at_once_leave_each_record_and_copy_once(
    service: Service, tmp_path: Path
) -> None:
    await build_network()
    rows = [
        {"isbn": synthetic_isbn13(n), "title": f"铜陵年鉴 {n}", "library": "TL-A-1", "barcode": f"Y{n:06d}"}
        for n in range(300)
    ]
    path = csv_file(tmp_path / "twice.csv", rows)

    first, second = await asyncio.gather(import_records(path), import_records(path))

    assert first.problems == second.problems == []
    assert first.records_created + second.records_created == 300
    assert first.records_created + first.records_updated == second.records_created + second.records_updated == 300
    assert first.copies_created + second.copies_created == 300
    assert await Record.all().count() == 300 and await Copy.all().count() == 300
    found = await search(SearchQuery(text="铜陵年鉴", library_code="TL-A-1", limit=5))
    assert found.total == 300


async def test_the_shell_import_moves_no_copy_in_circulation(service: Service, tmp_path: Path) -> None:
    await build_network()
    central = await Library.get(code="TL")
    record = await Record.create(title="围城")
    for barcode, status in [("OUT0001", CopyStatus.ON_LOAN), ("IN0001", CopyStatus.AVAILABLE)]:
        await Copy.create(barcode=barcode, record=record, home_library=central, current_library=central, status=status)
    rows = [{"title": "围城", "library": "TL-SC1", "barcode": barcode} for barcode in ("OUT0001", "IN0001")]

    summary = await import_records(csv_file(tmp_path / "moved.csv", rows))

    assert summary.problems == [
        ImportProblem(
            2,
            "copy skipped: barcode 'OUT0001' is at library 'TL': The copy is on_loan; check it in first "
            "(copy_in_circulation)",
        )
    ]
    homes = dict(await Copy.all().values_list("barcode", "home_library__code"))
    assert homes == {"OUT0001": "TL", "IN0001": "TL-SC1"}
