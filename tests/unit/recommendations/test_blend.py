from datetime import date

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.blend import CO_BORROW, RECENT, SHIPPED, Blend, Model, TrainingSettings, train
from recommendations.data import Item, LoanLog, days_of
from recommendations.evaluation import evaluate
from recommendations.reasons import ReasonKind
from recommendations.sources import History, co_borrow_neighbours, item_features, reader_item_matrix

START = days_of(date(2019, 1, 1))
CUTOFF = date(2020, 1, 1)


def clustered_loans(seed: int = 7) -> LoanLog:
    """Six reading circles of twelve books each, plus six bestsellers everybody borrows: a reader's next books are
    in their circle, which co-borrows show and popularity cannot."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, float]] = []
    for reader in range(240):
        circle = reader % 6
        books = rng.permutation(12)
        for index, book in enumerate(books[:8]):
            day = START + index * 60 + rng.uniform(0, 50)  # four books in 2019, four in 2020
            rows.append((f"r{reader:03}", f"c{circle}-{book:02}", day))
        for bestseller in rng.choice(6, size=3, replace=False):
            rows.append((f"r{reader:03}", f"best-{bestseller}", START + rng.uniform(0, 700)))
    return LoanLog.from_rows(rows)


def test_shipped_beats_popularity_where_co_borrows_say_what_comes_next() -> None:
    methods = {"popularity": Blend.alone("popularity"), "shipped": SHIPPED}
    result = evaluate(clustered_loans(), {}, {}, [CUTOFF], 365, methods=methods).overall()
    shipped, popularity = result["shipped"].warm, result["popularity"].warm
    assert shipped.readers == popularity.readers > 200
    assert shipped.recall / shipped.readers > 2 * popularity.recall / popularity.readers


def model() -> Model:
    items = {"c0-00": Item(title="红楼梦研究", author="俞平伯", classes="I207.411")}
    return train(clustered_loans(), items, {}, days_of(CUTOFF))


def test_a_reader_without_loans_gets_recent_popularity_exactly() -> None:
    trained = model()
    newcomer = History.empty()
    shipped = trained.recommend(newcomer, SHIPPED, 10)
    recent = trained.recommend(newcomer, Blend.alone(RECENT), 10)
    assert [pick.item for pick in shipped] == [pick.item for pick in recent]
    everything = np.arange(len(trained.item_keys), dtype=np.int32)
    recent_scores = trained.sources[RECENT].for_readers([newcomer]).at(np.zeros_like(everything), everything)
    by_recent = sorted(range(len(trained.item_keys)), key=lambda item: (-recent_scores[item], item))[:10]
    assert [pick.item for pick in shipped] == [trained.item_keys[item] for item in by_recent]
    assert {pick.reason.kind for pick in shipped} == {ReasonKind.POPULAR_RECENTLY}


def test_a_warm_readers_picks_are_new_to_them_and_say_which_of_their_books_led_there() -> None:
    trained = model()
    history = trained.history_of("r000")
    assert history.loans >= 3
    picks = trained.recommend(history, SHIPPED, 10)
    own = {trained.item_keys[item] for item in history.items}
    assert len(picks) == 10 and not own & {pick.item for pick in picks}
    borrowed = [pick.reason for pick in picks if pick.reason.kind is ReasonKind.BORROWED]
    assert borrowed and all(reason.record in own for reason in borrowed)


def test_a_fresh_history_after_a_checkout_changes_the_picks_without_retraining() -> None:
    trained = model()
    history = trained.history_of("r000")
    loans = [(trained.item_keys[item], float(day)) for item, day in zip(history.items, history.days, strict=True)]
    first_pick = trained.recommend(history, SHIPPED, 1)[0].item
    fresh = trained.history_from([*loans, (first_pick, days_of(CUTOFF))])
    assert fresh.loans == history.loans + 1
    assert first_pick not in {pick.item for pick in trained.recommend(fresh, SHIPPED, 10)}


def test_neighbours_computed_in_small_blocks_equal_those_computed_at_once() -> None:
    matrix = reader_item_matrix(clustered_loans(), max_items_per_reader=5)
    assert matrix.sum(axis=1).max() == 5  # the cap per reader holds
    at_once = co_borrow_neighbours(matrix, neighbours=10)
    in_blocks = co_borrow_neighbours(matrix, neighbours=10, max_pairs_per_block=50)
    difference = abs(at_once.similarity - in_blocks.similarity)
    assert isinstance(difference, sp.spmatrix | sp.sparray) and difference.max() == pytest.approx(0)
    assert (np.diff(at_once.similarity.indptr) <= 10).all()
    assert (at_once.similarity.indices == in_blocks.similarity.indices).all()
    assert (at_once.support == in_blocks.support).all()


def test_items_are_described_by_class_prefixes_authors_and_title_words() -> None:
    features = item_features(Item(title="红楼梦研究", author="俞平伯; Hu Shi", classes="I207.411; Fiction"))
    assert {("subject", prefix) for prefix in ("I", "I2", "I20", "I207", "I207.411")} <= {
        (kind, feature) for kind, feature, _ in features
    }
    assert ("subject", "fiction", "Fiction") in features
    assert ("author", "hu shi", "Hu Shi") in features
    assert {feature for kind, feature, _ in features if kind == "title_word"} == {"红楼梦", "研究"}
    english = item_features(Item(title="The Waste Land"))
    assert [feature for _, feature, _ in english] == ["waste", "land"]


def pair_borrowed_by(readers: int) -> Model:
    """`readers` readers who borrowed both "rare" and "secret"; ten who borrowed "other" (the popular book)."""
    rows = [(f"pair{n}", item, START + n) for n in range(readers) for item in ("rare", "secret")]
    rows += [(f"crowd{n}", "other", START + n) for n in range(10)]
    return train(LoanLog.from_rows(rows), {}, {}, START + 30)


def also_borrowed(model: Model, item: str) -> list[str]:
    return [model.item_keys[other] for other in model.also_borrowed(10).of(model.item_keys.index(item))]


def test_a_pair_two_readers_borrowed_is_a_personal_pick_but_not_shown_as_also_borrowed() -> None:
    model = pair_borrowed_by(2)
    history = model.history_from([("rare", START + 20)])

    picks = model.recommend(history, Blend.alone(CO_BORROW), 10)

    assert [pick.item for pick in picks] == ["secret"]
    assert picks[0].reason.kind is ReasonKind.BORROWED and picks[0].reason.record == "rare"
    assert model.settings.public_min_co_borrowers == 5
    assert also_borrowed(model, "rare") == [] and also_borrowed(model, "secret") == []


def test_a_pair_five_readers_borrowed_is_shown_as_also_borrowed() -> None:
    assert also_borrowed(pair_borrowed_by(4), "rare") == []
    assert also_borrowed(pair_borrowed_by(5), "rare") == ["secret"]
    assert also_borrowed(pair_borrowed_by(5), "secret") == ["rare"]


def test_the_public_minimum_is_a_setting() -> None:
    rows = [(f"pair{n}", item, START + n) for n in range(2) for item in ("rare", "secret")]
    model = train(LoanLog.from_rows(rows), {}, {}, START + 30, TrainingSettings(public_min_co_borrowers=2))
    assert also_borrowed(model, "rare") == ["secret"]


def test_support_counts_distinct_readers_within_each_readers_cap() -> None:
    rows = [("a", "x", START), ("a", "y", START + 1), ("a", "x", START + 2)]  # borrowed x again: still one reader
    rows += [("b", "x", START), ("b", "y", START + 1)]
    rows += [("c", "y", START), ("c", "z", START + 1), ("c", "x", START + 2)]  # x and z newest: y beyond the cap
    log = LoanLog.from_rows(rows)
    neighbours = co_borrow_neighbours(reader_item_matrix(log, max_items_per_reader=2), neighbours=10)
    x, y, z = (log.item_keys.index(key) for key in ("x", "y", "z"))

    lo, hi = neighbours.similarity.indptr[x], neighbours.similarity.indptr[x + 1]
    positions, similarity, support = (
        neighbours.similarity.indices[lo:hi],
        neighbours.similarity.data[lo:hi],
        neighbours.support[lo:hi],
    )

    assert dict(zip(positions.tolist(), support.tolist(), strict=True)) == {y: 2, z: 1}
    assert similarity[positions.tolist().index(y)] == pytest.approx(2 / np.sqrt(3 * 2))
