"""Search terms of bibliographic records and of what readers type, reduced to the same tokens.

The search index stores, per record and field, tokens that PostgreSQL takes as they are (a tsvector given as
lexemes, which its parser never sees): all language handling happens here, once, for records and queries alike. A
record is cut generously (jieba's search mode adds the shorter words inside long ones; pinyin and its initials are
what phone keyboards make easy to type), a query precisely, so that each of its tokens, ANDed with the others, is
found in the record the reader means.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jieba  # type: ignore[import-untyped]
from pypinyin import lazy_pinyin

MAX_TOKEN_LENGTH = 40
# A search box never needs more; it bounds segmentation work whatever a client sends.
MAX_QUERY_CHARS = 200

# Only whole tokens: 和 alone is noise, 和平 is a word.
_STOP_WORDS = frozenset(
    {"的", "之", "与", "和", "及", "了", "是", "在", "等", "或"}
    | {"the", "a", "an", "of", "and", "or", "to", "in", "on", "for", "with", "by"}
)

# Letters and digits of any script; the underscore is \w for identifiers' sake, not a letter.
_WORD = re.compile(r"[^\W_]+")
# jieba only knows the basic block; the rest still has to be split off latin and digits and sent to it (it yields
# unknown ideographs one by one). 〇 is the Han zero of dates and numbers, with pinyin "ling".
_HAN_RUN = re.compile("([\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+)")
# "J.K. Rowling", "C.S. Lewis", "J·K·罗琳": without gluing, a reader typing the name as printed sends "j" and "k",
# single letters that no token of the record needs to start with.
_DOTTED_INITIALS = re.compile(r"\b[a-z](?:[.·•・‧∙]\s?[a-z]\b)+[.·•・‧∙]?")
# Chinese catalogues write "[美]海伦·聂尔宁", "(英)道格拉斯·亚当斯", "雅诺什·科尔奈 (Janos Kornai)": nationality and
# original name are separate names, not parts of one.
_NAME_BRACKETS = re.compile(r"[()\[\]{}【】〔〕〈〉《》]")

# Runs this short repeat across records (names, title words); longer ones, from summaries, would only evict them.
_CACHED_RUN_LENGTH = 12

_jieba_lock = threading.Lock()
_segmenter: Any = None


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """Space-separated tokens of one record, per field of the search index."""

    title: str  # title and subtitle
    authors: str
    subjects: str
    summary: str
    pinyin: str  # pinyin and initials of the Chinese words of title, subtitle and authors

    def tokens(self) -> dict[str, list[str]]:
        return {
            "title": self.title.split(),
            "authors": self.authors.split(),
            "subjects": self.subjects.split(),
            "summary": self.summary.split(),
            "pinyin": self.pinyin.split(),
        }


@dataclass(frozen=True, slots=True)
class QueryToken:
    text: str
    latin: bool  # only [0-9a-z]: may be an English word prefix, a pinyin prefix or pinyin initials


def document_of(
    *,
    title: str,
    subtitle: str = "",
    authors: Sequence[str] = (),
    subjects: Sequence[str] = (),
    summary: str = "",
) -> SearchDocument:
    """The search tokens of a record, from its descriptive fields as catalogued."""
    title_text = _normalise(title)
    subtitle_text = _normalise(subtitle)
    author_texts = [_normalise(author) for author in authors]

    title_words = list(_han_words(title_text))
    pinyin: list[str] = []
    _add_pinyin(pinyin, title_words)
    full, initials = _pinyin_of_words(title_words)
    # A long title's pinyin is still found by its beginning, which is what a reader types: prefix queries match.
    pinyin += (full[:MAX_TOKEN_LENGTH], initials[:MAX_TOKEN_LENGTH])
    _add_pinyin(pinyin, _han_words(subtitle_text))
    for author_text in author_texts:
        _add_pinyin(pinyin, _han_words(author_text))

    return SearchDocument(
        title=_joined(_words(title_text, search=True), _words(subtitle_text, search=True)),
        authors=_joined(*(_author_terms(author_text) for author_text in author_texts)),
        subjects=_joined(*(_words(_normalise(subject), search=True) for subject in subjects)),
        summary=_joined(_words(_normalise(summary), search=True)),
        pinyin=_joined(pinyin),
    )


def query_tokens(query: str, max_tokens: int = 8) -> list[QueryToken]:
    """The tokens to AND for a search box query, in the order typed; [] when nothing searchable is left."""
    tokens: list[QueryToken] = []
    if max_tokens <= 0:
        return tokens
    seen: set[str] = set()
    for word in _words(_normalise(query[:MAX_QUERY_CHARS]), search=False):
        if word in seen or not _is_term(word):
            continue
        seen.add(word)
        tokens.append(QueryToken(text=word, latin=word.isascii() and word.isalnum()))
        if len(tokens) == max_tokens:
            break
    return tokens


def _normalise(text: str) -> str:
    # NFKC first: full-width letters and digits only become ASCII, and thus lower-case, through it.
    text = unicodedata.normalize("NFKC", text).lower()
    return _DOTTED_INITIALS.sub(_glued_initials, text) if "." in text or not text.isascii() else text


def _glued_initials(match: re.Match[str]) -> str:
    # The trailing space keeps "j.k.rowling" from gluing into one token with the surname.
    return "".join(char for char in match.group() if char.isalpha()) + " "


def _words(text: str, *, search: bool) -> Iterator[str]:
    """Words of normalised text: each Han run segmented by jieba, any other run of letters and digits whole."""
    for run in _WORD.findall(text):
        if run.isascii():
            yield run
            continue
        # Splitting yields non-Han and Han pieces alternately, Han at odd indices.
        for index, piece in enumerate(_HAN_RUN.split(run)):
            if not piece:
                continue
            if index % 2:
                yield from _segment(piece, search=search)
            else:
                yield piece


def _han_words(text: str) -> Iterator[str]:
    """The Chinese words of normalised text, as a query would cut them."""
    for run in _WORD.findall(text):
        if not run.isascii():
            for piece in _HAN_RUN.split(run)[1::2]:
                yield from _segment(piece, search=False)


def _segment(han: str, *, search: bool) -> tuple[str, ...]:
    if len(han) <= _CACHED_RUN_LENGTH:
        return _cut_for_search_cached(han) if search else _cut_cached(han)
    return _cut_for_search(han) if search else _cut(han)


def _cut(han: str) -> tuple[str, ...]:
    return tuple(_jieba().cut(han))


def _cut_for_search(han: str) -> tuple[str, ...]:
    # jieba's search mode is its precise cut plus the dictionary words inside each long word, so a query cut
    # precisely from the same text finds all its tokens here: no union with the precise cut is needed.
    return tuple(_jieba().cut_for_search(han))


_cut_cached = functools.lru_cache(maxsize=1 << 16)(_cut)
_cut_for_search_cached = functools.lru_cache(maxsize=1 << 16)(_cut_for_search)


def _jieba() -> Any:
    """jieba's segmenter, its dictionary loaded on first use (about half a second)."""
    global _segmenter
    segmenter = _segmenter
    if segmenter is None:
        with _jieba_lock:
            if _segmenter is None:
                jieba.setLogLevel(logging.WARNING)
                # Our own instance: a jieba.add_word elsewhere in the process would otherwise change how new
                # records are cut, and queries would stop matching the records indexed before it.
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _segmenter = tokenizer
            segmenter = _segmenter
    return segmenter


def _author_terms(name: str) -> Iterator[str]:
    """A normalised author name whole, without its spaces and dots, then its parts."""
    for piece in _NAME_BRACKETS.split(name):
        runs = _WORD.findall(piece)
        if not runs:
            continue
        yield "".join(runs)
        for word in _words(piece, search=True):
            # A lone latin letter is an initial: the whole name and the glued initials already cover it.
            if len(word) > 1 or not word.isascii():
                yield word


def _add_pinyin(pinyin: list[str], words: Iterable[str]) -> None:
    for word in words:
        if word in _STOP_WORDS:
            continue
        full, initials = _pinyin_forms(word)
        pinyin.append(full)
        # A single initial is a prefix of the full pinyin, which prefix queries already match.
        if len(initials) > 1:
            pinyin.append(initials)


def _pinyin_of_words(words: Iterable[str]) -> tuple[str, str]:
    forms = [_pinyin_forms(word) for word in words]
    return "".join(full for full, _ in forms), "".join(initials for _, initials in forms)


@functools.lru_cache(maxsize=1 << 16)
def _pinyin_forms(word: str) -> tuple[str, str]:
    """Toneless pinyin of a Chinese word, joined, and the first letters of its syllables."""
    # Per word, pypinyin reads polyphones in context (重庆 chongqing, 行长 hangzhang); errors="ignore" drops
    # what it has no reading for, and the ASCII check the rare non-ASCII readings.
    syllables = [
        syllable for syllable in lazy_pinyin(word, errors="ignore") if syllable.isascii() and syllable.isalpha()
    ]
    return "".join(syllables), "".join(syllable[0] for syllable in syllables)


def _is_term(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_LENGTH and token not in _STOP_WORDS


def _joined(*token_groups: Iterable[str]) -> str:
    # dict keeps first occurrences in order, which keeps the field readable when debugging a search.
    unique: dict[str, None] = {}
    for tokens in token_groups:
        for token in tokens:
            if _is_term(token):
                unique[token] = None
    return " ".join(unique)
