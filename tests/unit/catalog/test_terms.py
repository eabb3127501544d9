"""Search terms, with real titles and authors: whatever a reader types for a book, its record has the tokens."""

from __future__ import annotations

import csv
import functools
import gzip
import re
from pathlib import Path

import pytest

from backend.catalog.terms import QueryToken, SearchDocument, document_of, query_tokens

# Douban book lists: real Chinese catalogue titles and author statements ("[美]马克·波斯特 / 范静哗").
DOUBAN = Path(__file__).resolve().parents[4] / "shared" / "data" / "douban-booklists" / "douban_booklists.csv.gz"

_HAN = re.compile("[\u4e00-\u9fff]")
_LETTERS_AND_DIGITS = re.compile(r"[^\W_]+")


@functools.cache
def _douban_rows(count: int) -> list[tuple[str, list[str]]]:
    """The first `count` (title, authors) rows; author statements list translators too, separated by "/"."""
    assert DOUBAN.is_file(), f"the Douban book lists are missing at {DOUBAN}"
    rows: list[tuple[str, list[str]]] = []
    with gzip.open(DOUBAN, "rt", encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file):
            authors = [author.strip() for author in row["author"].split("/") if author.strip()]
            rows.append((row["title"], authors))
            if len(rows) == count:
                break
    assert len(rows) == count
    return rows


def _finds(query: str, document: SearchDocument) -> bool:
    """Whether a search ANDing the query's tokens over all fields returns the record, latin tokens as prefixes."""
    tokens = [token for field in document.tokens().values() for token in field]
    return all(
        any(token.startswith(term.text) for token in tokens) if term.latin else term.text in tokens
        for term in query_tokens(query)
    )


def test_chinese_title_is_a_token_with_its_pinyin_and_initials() -> None:
    document = document_of(title="三体")

    assert document.tokens()["title"] == ["三体"]
    assert {"santi", "st"} <= set(document.tokens()["pinyin"])


def test_long_chinese_word_also_yields_the_words_inside_it() -> None:
    document = document_of(title="红楼梦", authors=["曹雪芹"])

    assert {"红楼梦", "红楼"} <= set(document.tokens()["title"])
    assert {"hongloumeng", "hlm", "caoxueqin", "cxq"} <= set(document.tokens()["pinyin"])


def test_whole_title_has_pinyin_and_initials_besides_its_words() -> None:
    document = document_of(title="三体：地球往事")

    assert document.tokens()["title"] == ["三体", "地球", "往事"]
    assert {"santi", "st", "diqiu", "wangshi", "santidiqiuwangshi", "stdqws"} <= set(document.tokens()["pinyin"])


def test_subtitle_is_searched_with_the_title() -> None:
    document = document_of(title="人类简史", subtitle="从动物到上帝")

    assert {"人类", "简史", "动物", "上帝"} <= set(document.tokens()["title"])
    assert {"dongwu", "dw", "shangdi", "sd"} <= set(document.tokens()["pinyin"])


def test_chinese_author_is_a_token_with_pinyin_and_initials() -> None:
    document = document_of(title="三体", authors=["刘慈欣"])

    assert document.tokens()["authors"] == ["刘慈欣"]
    assert {"liucixin", "lcx"} <= set(document.tokens()["pinyin"])


def test_latin_words_are_split_off_chinese_and_stop_words_dropped() -> None:
    document = document_of(title="Harry Potter与魔法石")

    assert document.tokens()["title"] == ["harry", "potter", "魔法", "魔法石"]


def test_translated_name_is_whole_without_its_middle_dots_and_in_parts() -> None:
    document = document_of(title="成功，动机与目标", authors=["海蒂•格兰特•霍尔沃森"])

    authors = document.tokens()["authors"]
    assert authors[0] == "海蒂格兰特霍尔沃森"
    assert {"海蒂", "格兰特", "霍尔", "沃森"} <= set(authors)


def test_nationality_and_original_name_in_brackets_are_names_of_their_own() -> None:
    document = document_of(title="成功，动机与目标", authors=["[美]海蒂•格兰特•霍尔沃森 (Heidi Grant Halvorson)"])

    authors = set(document.tokens()["authors"])
    assert {"美", "海蒂格兰特霍尔沃森", "heidigranthalvorson", "heidi", "grant", "halvorson"} <= authors
    assert "美海蒂格兰特霍尔沃森" not in authors


def test_latin_author_is_whole_and_in_words_of_two_letters_or_more() -> None:
    document = document_of(title="Harry Potter and the Sorcerer's Stone", authors=["J.K. Rowling"])

    authors = document.tokens()["authors"]
    assert {"jkrowling", "rowling"} <= set(authors)
    assert "j" not in authors
    assert "k" not in authors


def test_full_width_latin_is_folded_to_lower_case_ascii() -> None:
    assert document_of(title="ＡＢＣ").tokens()["title"] == ["abc"]
    assert query_tokens("ＡＢＣ") == [QueryToken(text="abc", latin=True)]


def test_english_stop_words_are_dropped_from_documents_and_queries() -> None:
    assert document_of(title="The Art of Learning").tokens()["title"] == ["art", "learning"]
    assert query_tokens("the art of learning") == [QueryToken("art", True), QueryToken("learning", True)]


def test_tokens_of_a_field_are_unique_in_first_occurrence_order() -> None:
    document = document_of(title="Python Python 编程 python", subjects=["编程", "Python", "程序设计"])

    assert document.tokens()["title"] == ["python", "编程"]
    assert document.tokens()["subjects"] == ["编程", "python", "程序", "设计", "程序设计"]


def test_tokens_longer_than_40_characters_are_dropped() -> None:
    # 45 letters, in English dictionaries; a run this long in a record is more often a URL or an encoding accident.
    longest_word = "pneumonoultramicroscopicsilicovolcanoconiosis"

    assert document_of(title=f"{'x' * 40} {'y' * 41} {longest_word}").tokens()["title"] == ["x" * 40]
    assert query_tokens(longest_word) == []


def test_summary_is_segmented_for_search() -> None:
    document = document_of(
        title="三体", summary="文化大革命如火如荼进行的同时，军方探寻外星文明的绝秘计划“红岸工程”取得了突破性进展。"
    )

    summary = document.tokens()["summary"]
    assert {"外星", "文明", "红岸", "工程"} <= set(summary)
    assert "的" not in summary


def test_document_without_chinese_has_no_pinyin() -> None:
    assert document_of(title="The Art of Learning", authors=["Josh Waitzkin"]).pinyin == ""


def test_query_of_chinese_words_gives_one_token_each() -> None:
    assert query_tokens("三体 刘慈欣") == [QueryToken(text="三体", latin=False), QueryToken(text="刘慈欣", latin=False)]


def test_query_of_pinyin_gives_one_latin_token() -> None:
    assert query_tokens("santi") == [QueryToken(text="santi", latin=True)]


def test_query_is_cut_precisely_so_its_tokens_can_be_anded() -> None:
    assert query_tokens("红楼梦") == [QueryToken(text="红楼梦", latin=False)]
    assert query_tokens("Harry Potter与魔法石") == [
        QueryToken("harry", True),
        QueryToken("potter", True),
        QueryToken("魔法石", False),
    ]


def test_query_keeps_at_most_max_tokens_unique_in_typed_order() -> None:
    assert [token.text for token in query_tokens("c b a9 c d e f g h i j", max_tokens=3)] == ["c", "b", "a9"]
    assert query_tokens("三体", max_tokens=0) == []


@pytest.mark.parametrize("query", ["", "   ", "\t\n", "，。！？", "--- /// ...", "the of and", "的 与"])
def test_query_with_nothing_searchable_gives_no_tokens(query: str) -> None:
    assert query_tokens(query) == []


@pytest.mark.parametrize(
    "query",
    [
        "三体" * 5000,
        "x" * 10_000,
        "Harry Potter 与魔法石 " * 500,
        "' OR 1=1 --",
        "a*b?(c)[d]",
        "\x00",
        "三\x00体\x1b[31m",
        "🙂🙂",
        "🙂三体🙂",
        "\ud800santi",
        "%_\\'\"; DROP TABLE records; --",
        "NEAR(a b) AND title:x OR ^y*",
    ],
)
def test_hostile_query_gives_only_letters_and_digits(query: str) -> None:
    tokens = query_tokens(query)

    assert len(tokens) <= 8
    assert all(_LETTERS_AND_DIGITS.fullmatch(token.text) for token in tokens)
    assert all(token.latin == bool(re.fullmatch("[0-9a-z]+", token.text)) for token in tokens)


@pytest.mark.parametrize(
    ("query", "title", "authors"),
    [
        ("三体", "三体", ["刘慈欣"]),
        ("刘慈欣", "三体", ["刘慈欣"]),
        ("santi", "三体", ["刘慈欣"]),
        ("st", "三体", ["刘慈欣"]),
        ("liuci", "三体", ["刘慈欣"]),
        ("hongloumeng", "红楼梦", ["曹雪芹"]),
        ("hlm", "红楼梦", ["曹雪芹"]),
        ("红楼", "红楼梦", ["曹雪芹"]),
        ("Harry Potter与魔法石", "Harry Potter与魔法石", ["J.K. Rowling"]),
        ("harry 魔法石", "Harry Potter与魔法石", ["J.K. Rowling"]),
        ("J.K. Rowling", "Harry Potter与魔法石", ["J.K. Rowling"]),
        ("jk rowling", "Harry Potter与魔法石", ["J.K. Rowling"]),
        ("J·K·罗琳", "哈利·波特与魔法石", ["J·K·罗琳"]),
        ("霍尔沃森", "成功，动机与目标", ["海蒂•格兰特•霍尔沃森 (Heidi Grant Halvorson)"]),
        ("halvorson 动机", "成功，动机与目标", ["海蒂•格兰特•霍尔沃森 (Heidi Grant Halvorson)"]),
    ],
)
def test_what_readers_type_finds_the_book(query: str, title: str, authors: list[str]) -> None:
    assert _finds(query, document_of(title=title, authors=authors))


def test_unrelated_query_does_not_find_the_book() -> None:
    assert not _finds("三体 红楼梦", document_of(title="三体", authors=["刘慈欣"]))


def test_douban_documents_have_only_non_empty_tokens_without_spaces() -> None:
    for title, authors in _douban_rows(2000):
        for field, tokens in document_of(title=title, authors=authors).tokens().items():
            for token in tokens:
                assert token and _LETTERS_AND_DIGITS.fullmatch(token), (title, field, token)
                assert len(token) <= 40, (title, field, token)
            assert len(tokens) == len(set(tokens)), (title, field)


def test_douban_pinyin_is_ascii_letters() -> None:
    for title, authors in _douban_rows(2000):
        for token in document_of(title=title, authors=authors).tokens()["pinyin"]:
            assert re.fullmatch("[a-z]+", token), (title, token)


def test_reader_typing_a_douban_chinese_title_exactly_finds_it() -> None:
    titles = [title for title, _ in _douban_rows(2000) if _HAN.search(title)]
    assert len(titles) > 1000

    for title in titles:
        tokens = document_of(title=title).tokens()
        indexed = set(tokens["title"]) | set(tokens["pinyin"])
        missing = [token.text for token in query_tokens(title) if token.text not in indexed]
        assert not missing, (title, missing)
