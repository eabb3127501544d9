from datetime import date

import msgspec
import numpy as np

from recommendations.data import LoanLog, days_of
from recommendations.reasons import Pick
from recommendations.store import unpack_model
from recommendations.training import (
    ADULT,
    CARD,
    CHILD,
    NIGHTLY_PICKS_DAYS,
    TrainingData,
    readers_to_pick,
    train_and_pick,
)

NOW = days_of(date(2026, 12, 1))


def training_data(rows: list[tuple[str, str, float]], personal: set[str], children: set[str]) -> TrainingData:
    log = LoanLog.from_rows(rows)
    segments = {key: {CARD: CHILD if key in children else ADULT} for key in log.reader_keys}
    no_cards, no_bands = np.full(len(log), -1, np.int64), np.full(len(log), -1, np.int8)
    libraries, children_loans = np.ones(len(log), np.int64), np.zeros(len(log), np.bool_)
    return TrainingData(log, {}, segments, frozenset(personal), libraries, children_loans, no_cards, no_bands)


def shelf_of_regulars() -> TrainingData:
    """Readers 1-3 and the child 4 with personal picks on; 5 switched off; `~9` a returned loan without its reader.
    Reader 2 last borrowed just before the nightly window, the others within it."""
    rows = [(str(reader), str(100 + book), NOW - 200 - book) for reader in range(1, 6) for book in range(4)]
    rows += [("1", "110", NOW - 10), ("2", "110", NOW - NIGHTLY_PICKS_DAYS - 1), ("3", "111", NOW - 1)]
    rows += [("4", "112", NOW - 3), ("5", "110", NOW - 2), ("~9", "111", NOW - 1)]
    return training_data(rows, personal={"1", "2", "3", "4"}, children={"4"})


def test_the_nightly_run_picks_for_readers_with_picks_on_who_borrowed_lately_by_kind_of_card() -> None:
    assert readers_to_pick(shelf_of_regulars(), NOW) == ["1", "3", "4"]


def test_training_picks_for_the_readers_of_late_and_packs_a_model_without_histories() -> None:
    data = shelf_of_regulars()

    trained = train_and_pick(data, NOW)

    assert set(trained.picks) == {1, 3, 4}
    picks = msgspec.json.decode(trained.picks[1], type=list[Pick])
    assert picks and {pick.item for pick in picks}.isdisjoint({"100", "101", "102", "103", "110"})
    model = unpack_model(trained.model)
    assert model.histories == {}
    assert dict(trained.neighbour_lists()) == {
        int(model.item_keys[item]): [int(model.item_keys[other]) for other in trained.also_borrowed.of(item)]
        for item in range(len(model.item_keys))
        if len(trained.also_borrowed.of(item))
    }
