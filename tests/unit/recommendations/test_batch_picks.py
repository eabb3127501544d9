import numpy as np
import pytest

from recommendations.blend import CONTENT, SHIPPED, Blend, Model, train
from recommendations.data import Item, LoanLog, days_of
from recommendations.sources import Content, History, best_first
from recommendations.store import pack_model, unpack_model
from tests.unit.recommendations.test_blend import CUTOFF, START, clustered_loans

AUTHORS = ["余华", "路遥", "刘慈欣", "莫言"]


def described_model() -> Model:
    """The reading circles, with titles, authors and classes for the content source (many ties between features)."""
    log = clustered_loans()
    items = {
        key: Item(title=f"{key} 故事 小说 研究", author=AUTHORS[n % 4], classes=f"I24{n % 3}.{n % 5}")
        for n, key in enumerate(log.item_keys)
    }
    return train(log, items, {}, days_of(CUTOFF))


def readers(model: Model) -> list[History]:
    return [model.history_of(key) for key in model.histories] + [
        History.empty(),
        model.history_from([("c0-00", START), ("unknown", START)]),
    ]


def test_picks_for_many_readers_at_once_are_those_for_each_alone() -> None:
    model = described_model()
    histories = readers(model)

    together = model.recommend_many(histories, SHIPPED, 20)

    assert together == [model.recommend(history, SHIPPED, 20) for history in histories]
    assert {pick.reason.kind for picks in together for pick in picks} >= {"borrowed", "popular_recently"}


def test_a_source_alone_stops_where_it_has_nothing_more_to_say() -> None:
    model = described_model()
    histories = readers(model)
    alone = Blend.alone(CONTENT)

    together = model.recommend_many(histories, alone, 50)

    assert together == [model.recommend(history, alone, 50) for history in histories]
    assert together[-2] == []  # no loans: no content to go by
    assert all(pick.score > 0 for picks in together for pick in picks)


def test_a_profile_keeps_its_strongest_features_and_of_equal_ones_the_first() -> None:
    # A book by sixty authors, each also the author of one other book: sixty features of equal weight, fifty kept.
    names = [f"author{n:02}" for n in range(60)]
    items = {"anthology": Item(author=";".join(names))} | {
        f"book{n:02}": Item(author=name) for n, name in enumerate(names)
    }
    log = LoanLog.from_rows([("reader", key, START + n) for n, key in enumerate(items)])
    content = Content(log, items)
    books = np.array([log.item_keys.index(f"book{n:02}") for n in range(60)], dtype=np.int32)

    scores = content.for_readers(
        [History(np.array([log.item_keys.index("anthology")], np.int32), np.array([START]), 1)]
    )
    matched = scores.at(np.zeros_like(books), books)

    assert content.profile_features == 50
    assert (matched[:50] > 0).all() and (matched[:50] == matched[0]).all()
    assert (matched[50:] == 0).all()


def test_every_records_also_borrowed_is_its_best_neighbours_with_enough_support() -> None:
    model = train(clustered_loans(), {}, {}, days_of(CUTOFF))
    co_borrow = model.sources["co-borrow"]
    similarity, support = co_borrow.neighbours.similarity, co_borrow.neighbours.support  # type: ignore[attr-defined]

    ranked = model.also_borrowed(5)

    for item in range(len(model.item_keys)):
        lo, hi = similarity.indptr[item], similarity.indptr[item + 1]
        public = np.where(support[lo:hi] >= model.settings.public_min_co_borrowers, similarity.data[lo:hi], 0.0)
        assert ranked.of(item).tolist() == similarity.indices[lo:hi][best_first(public, 5)].tolist()
    assert len(ranked.items) > 0


@pytest.mark.parametrize(("chunk_bytes", "pieces"), [(100, "many"), (2**26, "one")])
def test_a_packed_model_comes_back_whole_from_its_pieces(chunk_bytes: int, pieces: str) -> None:
    model = described_model()
    expected = model.recommend_many(readers(model), SHIPPED, 20)
    model.histories.clear()

    chunks = pack_model(model, chunk_bytes)
    unpacked = unpack_model(chunks)

    assert all(len(chunk) <= chunk_bytes for chunk in chunks)
    assert (len(chunks) > 1) == (pieces == "many")
    assert unpacked.recommend_many(readers(described_model()), SHIPPED, 20) == expected
