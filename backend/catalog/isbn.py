"""ISBNs as readers type them, publishers print them and MARC records store them, reduced to one form.

The catalogue keys bibliographic records on the 13-digit ISBN: every ISBN-10 has exactly one ISBN-13 (978 + its
first nine digits + a new check digit), while 979-prefixed ISBN-13s have no ISBN-10 at all.
"""

from __future__ import annotations

import re
import unicodedata

from backend.catalog.errors import InvalidIsbn

# NFKC already folds full-width hyphens (U+FF0D, U+FE63) to "-", but not the typographic dashes that word
# processors substitute when a hyphenated ISBN is pasted from a document.
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))

# "ISBN", "ISBN:", "ISBN-10:", "ISBN 13 " ... The lookahead keeps "ISBN 1036..." from losing the "10" that
# belongs to the number itself.
_PREFIX = re.compile(r"ISBN(?:[\s-]?1[03](?![0-9]))?[\s:-]*")

# Digits with hyphen or space separators anywhere between them; X only as the last character, as the check
# digit of an ISBN-10. Whatever follows is a qualifier, e.g. MARC 020$a "(pbk.)" or " : CNY23.00".
_BODY = re.compile(r"[0-9](?:[\s-]*[0-9])*(?:[\s-]*X)?")

_SEPARATORS = re.compile(r"[\s-]+")
_ISBN_LIKE = re.compile(r"[0-9]{13}|[0-9]{9}[0-9X]")
_UNPADDED_ISBN10 = re.compile(r"[0-9]{6,8}[0-9Xx]")


def normalise_isbn(raw: str) -> str:
    """The 13-digit ISBN meant by `raw`, an ISBN-10 or ISBN-13 in any common written form.

    Raises InvalidIsbn, with the reason, unless the check digit matches (and, for 13 digits, the prefix is
    978 or 979: the only ranges allocated to books).
    """
    text = _canonical_text(raw)
    if not text:
        raise InvalidIsbn(reason="it is empty")
    prefix = _PREFIX.match(text)
    if prefix is not None:
        text = text[prefix.end() :]
    body = _BODY.match(text)
    if body is None:
        raise InvalidIsbn(reason="it does not start with a digit" if text else "no digits follow 'ISBN'")
    rest = text[body.end() :]
    # A letter or digit glued to the number is a typo (O for 0, a doubled digit), not a qualifier: qualifiers
    # start with a space or punctuation.
    if rest and rest[0] in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if rest[0] == "X":
            raise InvalidIsbn(reason="X can only be the check digit at the end of a 10-digit ISBN")
        raise InvalidIsbn(reason=f"unexpected character {rest[0]!r}")
    digits = _SEPARATORS.sub("", body.group())

    if len(digits) == 10:
        expected = _isbn10_check_digit(digits[:9])
        if digits[9] != expected:
            raise InvalidIsbn(reason=f"check digit {digits[9]} does not match the other digits of the ISBN-10")
        return _to_isbn13(digits[:9])
    if len(digits) == 13:
        if digits.endswith("X"):
            raise InvalidIsbn(reason="X can only be the check digit of a 10-digit ISBN")
        if not digits.startswith(("978", "979")):
            raise InvalidIsbn(reason=f"a 13-digit ISBN starts with 978 or 979, not {digits[:3]}")
        if digits[12] != _isbn13_check_digit(digits[:12]):
            raise InvalidIsbn(reason=f"check digit {digits[12]} does not match the other digits of the ISBN-13")
        return digits
    raise InvalidIsbn(reason=f"it has {len(digits)} digits; an ISBN has 10 or 13")


def isbn10_of(isbn13: str) -> str | None:
    """The ISBN-10 of a normalised, 978-prefixed ISBN-13; None for 979 (which never had ISBN-10s) or anything else.

    The check digit of `isbn13` is not re-validated: pass what normalise_isbn returned.
    """
    if len(isbn13) != 13 or not isbn13.startswith("978") or not _is_ascii_digits(isbn13):
        return None
    body = isbn13[3:12]
    return body + _isbn10_check_digit(body)


def looks_like_isbn(text: str) -> bool:
    """Whether a search query is plausibly meant as an ISBN, whatever its check digit.

    Deliberately looser than normalise_isbn, so that a search can answer "that ISBN is not valid" instead of
    running a title search for a mistyped number.
    """
    compact = _canonical_text(text)
    prefix = _PREFIX.match(compact)
    if prefix is not None:
        compact = compact[prefix.end() :]
    return _ISBN_LIKE.fullmatch(_SEPARATORS.sub("", compact)) is not None


def pad_isbn10(digits: str) -> str:
    """Restore the leading zeros of an ISBN-10 that a data set stored as a number ("439023483" -> "0439023483").

    Only 7 to 9 characters (digits, the last possibly X) are padded: publisher prefixes such as "00" lose at
    most three zeros, and shorter values are more likely to be something else. Everything else is returned
    unchanged. The result is not validated: pass it to normalise_isbn.
    """
    if _UNPADDED_ISBN10.fullmatch(digits) is None:
        return digits
    return digits.upper().rjust(10, "0")


def _canonical_text(raw: str) -> str:
    # NFKC turns full-width digits, letters, hyphens, colons and spaces (as typed with a Chinese IME) into ASCII.
    return unicodedata.normalize("NFKC", raw).translate(_DASHES).strip().upper()


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit alone also accepts other scripts' digits and superscripts.
    return text.isascii() and text.isdigit()


def _isbn10_check_digit(first9: str) -> str:
    # Weights 10 down to 2; the check digit brings the weighted sum to a multiple of 11, 10 being written X.
    remainder = -sum(int(digit) * weight for digit, weight in zip(first9, range(10, 1, -1), strict=True)) % 11
    return "X" if remainder == 10 else str(remainder)


def _isbn13_check_digit(first12: str) -> str:
    # Weights alternate 1, 3; the check digit brings the weighted sum to a multiple of 10.
    total = sum(int(digit) * (3 if position % 2 else 1) for position, digit in enumerate(first12))
    return str(-total % 10)


def _to_isbn13(isbn10_body: str) -> str:
    body = "978" + isbn10_body
    return body + _isbn13_check_digit(body)
