from datetime import date

import numpy as np
import pytest

from backend.accounts.models import Reader, ReaderType
from recommendations.blend import train
from recommendations.data import AGE_BANDS, LoanLog, age_band, days_of
from recommendations.explain import render
from recommendations.reasons import Reason, ReasonKind
from recommendations.sources import History
from recommendations.training import (
    ADULT,
    AGE_BAND,
    CARD,
    CHILD,
    TRAINING,
    TrainingData,
    blend_for,
    card_segments,
    popular_lists,
)

NOW = days_of(date(2026, 12, 1))
LITTLE = {CARD: CHILD, AGE_BAND: "3-6"}
OLDER = {CARD: CHILD, AGE_BAND: "9-12"}
BABY = {CARD: CHILD, AGE_BAND: "0-3"}


@pytest.mark.parametrize(
    ("months", "band"), [(0, "0-3"), (35, "0-3"), (36, "3-6"), (107, "6-9"), (108, "9-12"), (144, "12+"), (170, "12+")]
)
def test_an_age_in_whole_months_falls_in_one_band(months: int, band: str) -> None:
    found = age_band(months)
    assert found is not None and found.name == band


def test_before_birth_there_is_no_band() -> None:
    assert age_band(-1) is None


def test_an_adults_card_has_no_band_whatever_birth_month_it_records() -> None:
    today = date(2026, 12, 2)
    assert card_segments(Reader(reader_type=ReaderType.CHILD, birth_month="2022-06"), today) == LITTLE
    assert card_segments(Reader(reader_type=ReaderType.CHILD), today) == {CARD: CHILD}
    assert card_segments(Reader(reader_type=ReaderType.ADULT, birth_month="2014-01"), today) == {CARD: ADULT}


@pytest.mark.parametrize(
    ("band", "zh", "en"),
    [
        ("0-3", "0-3 岁小读者近期热门", "Popular lately with readers aged 0-3"),
        ("3-6", "3-6 岁小读者近期热门", "Popular lately with readers aged 3-6"),
        ("12+", "12 岁以上小读者近期热门", "Popular lately with readers aged 12 and over"),
    ],
)
def test_a_bands_reason_names_the_band(band: str, zh: str, en: str) -> None:
    reason = Reason(ReasonKind.POPULAR_RECENTLY, segment=("age_band", band))
    assert render(reason, {}, "zh") == zh
    assert render(reason, {}, "en") == en


def banded_loans(older_children: int = 5) -> TrainingData:
    """Five children of 3-6 borrowed picture books, `older_children` of 9-12 novels, one baby five board books, adults
    a bestseller more than all of them. `~` readers are anonymous loans, as training keeps a card switched off: each
    loan a reader of its own, the card it names kept aside (`TrainingData.cards`). The baby's band is thin, as
    training loads it: its card's segments say no band."""
    rows, segments, cards = [], {}, {}
    for n in range(5):
        rows.append((f"~l{n}", f"picture-{n}", NOW - 1 - n))
        segments[f"~l{n}"], cards[f"~l{n}"] = LITTLE, 100 + n
    for n in range(older_children):
        rows.append((f"~o{n}", f"novel-{n}", NOW - 1.5 - n))
        segments[f"~o{n}"], cards[f"~o{n}"] = OLDER, 200 + n
    for n in range(5):
        rows.append((f"~b{n}", f"board-book-{n}", NOW - 3 - n))
        segments[f"~b{n}"], cards[f"~b{n}"] = {CARD: CHILD}, 300
    for n in range(20):
        rows.append((f"a{n}", "bestseller", NOW - 1))
        segments[f"a{n}"] = {CARD: ADULT}
    log = LoanLog.from_rows(rows)
    kinds = [segments[key] for key in log.reader_keys]
    children = np.array([kind[CARD] == CHILD for kind in kinds])[log.readers]
    codes = {band.name: code for code, band in enumerate(AGE_BANDS)}
    bands = np.array([codes.get(kind.get(AGE_BAND, ""), -1) for kind in kinds], np.int8)[log.readers]
    card_of = np.array([cards.get(key, -1) for key in log.reader_keys], np.int64)[log.readers]
    return TrainingData(log, {}, segments, frozenset(), np.ones(len(log), np.int64), children, card_of, bands)


def test_a_child_of_a_band_gets_its_bands_popularity_and_a_band_that_borrowed_little_all_childrens() -> None:
    data = banded_loans()
    model = train(data.log, data.items, data.segments, NOW, TRAINING)

    def picks(segments: dict[str, str]) -> list[tuple[str, tuple[str, str] | None]]:
        chosen = model.recommend(History.empty(segments), blend_for(segments), 20)
        return [(pick.item, pick.reason.segment) for pick in chosen]

    assert picks(LITTLE) == [(f"picture-{n}", ("age_band", "3-6")) for n in range(5)]
    assert picks(OLDER) == [(f"novel-{n}", ("age_band", "9-12")) for n in range(5)]
    everything_children_read = {f"{kind}-{n}" for kind in ("picture", "novel", "board-book") for n in range(5)}
    for segments in (BABY, {CARD: CHILD}):
        assert {item for item, _ in picks(segments)} == everything_children_read
        assert {segment for _, segment in picks(segments)} == {("card", "child")}
    assert picks({CARD: ADULT})[0] == ("bestseller", None)


def test_a_bands_served_list_is_its_books_then_all_childrens_others() -> None:
    lists = popular_lists(banded_loans(), NOW)

    little = lists["age_band:3-6"]
    assert [pick.item for pick in little[:5]] == [f"picture-{n}" for n in range(5)]
    assert {pick.reason.segment for pick in little[:5]} == {("age_band", "3-6")}
    assert {pick.item for pick in little[5:]} == {f"{kind}-{n}" for kind in ("novel", "board-book") for n in range(5)}
    assert {pick.reason.segment for pick in little[5:]} == {("card", "child")}
    assert lists["age_band:0-3"] == lists["age_band:12+"] == lists[CHILD]  # too little borrowed: all children's
    assert "bestseller" not in {pick.item for pick in little}


def test_a_band_in_which_four_children_borrowed_serves_all_childrens_list_with_five_its_own() -> None:
    four, five = popular_lists(banded_loans(older_children=4), NOW), popular_lists(banded_loans(), NOW)

    assert four["age_band:9-12"] == four[CHILD]  # four children's loans would tell what each of them reads
    assert [pick.item for pick in five["age_band:9-12"][:5]] == [f"novel-{n}" for n in range(5)]
    assert {pick.reason.segment for pick in five["age_band:9-12"][:5]} == {("age_band", "9-12")}


def test_one_child_borrowing_many_books_in_a_band_makes_no_list_of_the_band() -> None:
    data = banded_loans()
    babies = np.isin(data.log.readers, [data.log.reader_keys.index(f"~b{n}") for n in range(5)])
    data.bands[babies] = 0  # as if its band were not thin: still one card among the loans of the served window

    assert popular_lists(data, NOW)["age_band:0-3"] == popular_lists(data, NOW)[CHILD]
