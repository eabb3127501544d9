"""ISBN normalisation, with real ISBNs: every book ends up under its 13-digit ISBN, however it was written."""

from __future__ import annotations

import pytest

from backend.catalog.errors import InvalidIsbn
from backend.catalog.isbn import isbn10_of, looks_like_isbn, normalise_isbn, pad_isbn10

SANTI = "9787536692930"  # 三体, 重庆出版社; ISBN-10 7536692935
SORCERERS_STONE = "9780439554930"  # Harry Potter and the Sorcerer's Stone, Scholastic; ISBN-10 0439554934
HUNGER_GAMES = "9780439023481"  # The Hunger Games, Scholastic; ISBN-10 0439023483
FRENCH_979 = "9791032305690"  # 979-10 is France's group; 979 ISBNs have no ISBN-10
X_CHECK_DIGIT = "9780804429573"  # ISBN-10 080442957X: weighted sum 199 needs 10 more to reach 11 * 19


@pytest.mark.parametrize(
    ("raw", "isbn13"),
    [
        (SANTI, SANTI),
        (SORCERERS_STONE, SORCERERS_STONE),
        (FRENCH_979, FRENCH_979),
        ("978-7-5366-9293-0", SANTI),
        ("978 7 5366 9293 0", SANTI),
        ("979-10-323-0569-0", FRENCH_979),
        ("  9780439023481\n", HUNGER_GAMES),
    ],
)
def test_isbn13_is_kept_without_its_separators(raw: str, isbn13: str) -> None:
    assert normalise_isbn(raw) == isbn13


@pytest.mark.parametrize(
    ("raw", "isbn13"),
    [
        ("7536692935", SANTI),
        ("7-5366-9293-5", SANTI),
        ("0439554934", SORCERERS_STONE),
        ("0-439-02348-3", HUNGER_GAMES),
        ("0 439 02348 3", HUNGER_GAMES),
    ],
)
def test_isbn10_becomes_the_978_isbn13_with_a_recomputed_check_digit(raw: str, isbn13: str) -> None:
    assert normalise_isbn(raw) == isbn13


@pytest.mark.parametrize("raw", ["080442957X", "080442957x", "0-8044-2957-X", "0-8044-2957 x"])
def test_x_check_digit_of_isbn10_in_either_case(raw: str) -> None:
    assert normalise_isbn(raw) == X_CHECK_DIGIT


@pytest.mark.parametrize(
    "raw",
    [
        "ISBN 978-7-5366-9293-0",
        "ISBN978-7-5366-9293-0",
        "isbn: 9787536692930",
        "ISBN-13: 978-7-5366-9293-0",
        "ISBN 13 9787536692930",
        "ISBN-10: 7-5366-9293-5",
        "ISBN10 7536692935",
    ],
)
def test_isbn_prefixes_are_dropped(raw: str) -> None:
    assert normalise_isbn(raw) == SANTI


def test_isbn_10_label_is_not_confused_with_digits_that_start_with_10() -> None:
    # "ISBN 1..." must keep its first digits: only a separated "10"/"13" is a label.
    with pytest.raises(InvalidIsbn, match="9 digits"):
        normalise_isbn("ISBN 103669293")


@pytest.mark.parametrize(
    "raw",
    [
        "９７８７５３６６９２９３０",  # full-width digits, as a Chinese IME types them
        "９７８－７－５３６６－９２９３－０",  # full-width hyphens
        "ＩＳＢＮ：９７８－７－５３６６－９２９３－０",  # full-width letters and colon
        "ISBN\u3000978-7-5366-9293-0",  # ideographic space
        "978\u20107\u20135366\u20139293\u20130",  # typographic hyphen and en dashes from a word processor
        "７５３６６９２９３５",
    ],
)
def test_full_width_and_typographic_forms(raw: str) -> None:
    assert normalise_isbn(raw) == SANTI


@pytest.mark.parametrize(
    ("raw", "isbn13"),
    [
        ("9787536692930 (pbk.)", SANTI),
        ("7-5366-9293-5 : CNY23.00", SANTI),
        ("ISBN 978-7-5366-9293-0（平装）：CNY23.00", SANTI),
        ("0439554934 (trade pbk.) : $6.99", SORCERERS_STONE),
        ("080442957X (pbk.)", X_CHECK_DIGIT),
        ("080442957x : CNY23.00", X_CHECK_DIGIT),
        ("9780439023481; (hardcover)", HUNGER_GAMES),
    ],
)
def test_marc_020a_qualifiers_after_the_number_are_ignored(raw: str, isbn13: str) -> None:
    assert normalise_isbn(raw) == isbn13


@pytest.mark.parametrize(
    "raw",
    [
        "9787536692931",  # 三体 with the last digit off by one
        "9787536692390",  # two digits swapped: the weights 1, 3 catch it
        "7536692936",
        "0439023484",
        "0804429570",  # the X check digit replaced by 0
    ],
)
def test_wrong_check_digit_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidIsbn, match="check digit"):
        normalise_isbn(raw)


@pytest.mark.parametrize(
    ("raw", "count"),
    [("978753669293", 12), ("97875366929300", 14), ("753669293", 9), ("75366929355", 11), ("0", 1)],
)
def test_wrong_length_is_rejected(raw: str, count: int) -> None:
    with pytest.raises(InvalidIsbn, match=f"{count} digits"):
        normalise_isbn(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "978753669293O",  # letter O for the digit 0
        "9787536692930abc",
        "97875X6692930",
        "978753669293X",  # X is never the check digit of an ISBN-13
        "三体",
        "santi",
    ],
)
def test_letters_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidIsbn):
        normalise_isbn(raw)


def test_thirteen_digits_outside_978_and_979_are_rejected() -> None:
    # 977 is the ISSN range of EAN-13: a periodical, not a book, even with a valid check digit.
    with pytest.raises(InvalidIsbn, match="978 or 979"):
        normalise_isbn("9771234567003")


@pytest.mark.parametrize("raw", ["", "   ", "ISBN", "ISBN-13:"])
def test_empty_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidIsbn):
        normalise_isbn(raw)


def test_the_error_carries_its_code_and_both_messages() -> None:
    with pytest.raises(InvalidIsbn) as caught:
        normalise_isbn("9787536692931")
    assert caught.value.code == "invalid_isbn"
    assert caught.value.message("zh").startswith("ISBN 无效：")
    assert caught.value.message("en").startswith("The ISBN is not valid: ")


@pytest.mark.parametrize(
    ("isbn13", "isbn10"),
    [
        (SANTI, "7536692935"),
        (SORCERERS_STONE, "0439554934"),
        (HUNGER_GAMES, "0439023483"),
        (X_CHECK_DIGIT, "080442957X"),
    ],
)
def test_isbn10_of_a_978_isbn_round_trips(isbn13: str, isbn10: str) -> None:
    assert isbn10_of(isbn13) == isbn10
    assert normalise_isbn(isbn10) == isbn13


@pytest.mark.parametrize("value", [FRENCH_979, "978753669293", "978-7-5366-9293-0", "三体"])
def test_isbn10_of_is_none_for_979_and_for_anything_not_a_normalised_isbn13(value: str) -> None:
    assert isbn10_of(value) is None


@pytest.mark.parametrize(
    "query",
    [
        SANTI,
        "978-7-5366-9293-0",
        "ISBN 7-5366-9293-5",
        "９７８７５３６６９２９３０",
        "080442957x",
        "9787536692931",  # wrong check digit: still meant as an ISBN, so search can say it is not valid
        "9771234567003",  # wrong prefix, likewise
    ],
)
def test_queries_that_look_like_an_isbn(query: str) -> None:
    assert looks_like_isbn(query)


@pytest.mark.parametrize(
    "query",
    ["三体", "santi", "", "ISBN", "753669293", "97875366929300", "97875366929X0", "978753669293X", "刘慈欣 2008"],
)
def test_queries_that_do_not_look_like_an_isbn(query: str) -> None:
    assert not looks_like_isbn(query)


@pytest.mark.parametrize(
    ("stored", "padded"),
    [
        ("439023483", "0439023483"),  # The Hunger Games, stored as an integer
        ("439554934", "0439554934"),
        ("80442957X", "080442957X"),
        ("80442957x", "080442957X"),
        ("7002341", "0007002341"),  # seven characters: three zeros lost
    ],
)
def test_padding_restores_leading_zeros_lost_by_numeric_storage(stored: str, padded: str) -> None:
    assert pad_isbn10(stored) == padded


def test_padded_isbn10_normalises_to_the_book() -> None:
    assert normalise_isbn(pad_isbn10("439023483")) == HUNGER_GAMES


@pytest.mark.parametrize("value", ["0439023483", "9780439023481", "123456", "43902348X3", "4390-2348", "", "santi"])
def test_padding_leaves_everything_else_unchanged(value: str) -> None:
    assert pad_isbn10(value) == value
