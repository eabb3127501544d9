"""Candidate sources: each scores items for one reader's history and says why it picked each one.

A source is trained once from a loan log (nightly, in the worker's process pool, or by the evaluation) and then
asked per reader: its own best `k` items (`top`), its score for any items (`at`, so the blend can standardise every
source over the same pool), and the reason for an item. Work per reader is proportional to the reader's history and
the neighbours it reaches, never to the size of the catalogue, so picks can be recomputed when a reader borrows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from backend.catalog.terms import query_tokens
from recommendations.data import Days, Item, LoanLog
from recommendations.reasons import Reason, ReasonKind

IntArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class History:
    """One reader's loans the picks are for: distinct items (positions in the model's vocabulary) and the day each
    was last borrowed, most recent first."""

    items: IntArray
    days: FloatArray
    loans: int  # loans counted, re-borrowings included: what decides warm (>= 3) or cold
    segments: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def empty(cls, segments: Mapping[str, str] | None = None) -> History:
        return cls(np.zeros(0, np.int32), np.zeros(0, np.float64), 0, segments or {})


class ReaderScores(Protocol):
    def top(self, k: int) -> IntArray:
        """The source's best items for the reader, best first (ties: lower position first), at most `k`."""
        ...

    def at(self, items: IntArray) -> FloatArray:
        """The source's scores for `items` (0 where it has nothing to say)."""
        ...

    def reason(self, item: int) -> Reason: ...


class Source(Protocol):
    def for_reader(self, history: History) -> ReaderScores: ...


def decay(days_ago: FloatArray, half_life: float) -> FloatArray:
    return np.asarray(np.exp2(-np.maximum(days_ago, 0.0) / half_life), dtype=np.float64)


def best_first(scores: FloatArray, k: int) -> IntArray:
    """Positions of the `k` highest positive scores, best first, ties broken by lower position."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        # argpartition would split ties arbitrarily: keep every item tied with the k-th, then sort stably.
        threshold = np.partition(scores[positive], len(positive) - k)[len(positive) - k]
        positive = positive[scores[positive] >= threshold]
    order = np.argsort(-scores[positive], kind="stable")
    return positive[order][:k].astype(np.int32)


# --- popularity -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FixedScores:
    """The same list for every reader: popularity of some kind."""

    scores: FloatArray
    order: IntArray  # every item with a positive score, best first
    why: Reason

    def top(self, k: int) -> IntArray:
        return self.order[:k]

    def at(self, items: IntArray) -> FloatArray:
        return self.scores[items]

    def reason(self, item: int) -> Reason:
        return self.why


class Popularity:
    """Loans per item over all time (`half_life=None`) or with each loan's weight halving every `half_life` days
    before `as_of`: what is borrowed now, not what was borrowed once."""

    def __init__(self, log: LoanLog, as_of: Days, half_life: float | None) -> None:
        weights = np.ones(len(log)) if half_life is None else decay(as_of - log.days, half_life)
        scores = np.bincount(log.items, weights=weights, minlength=len(log.item_keys)).astype(np.float64)
        kind = ReasonKind.POPULAR if half_life is None else ReasonKind.POPULAR_RECENTLY
        self._fixed = _FixedScores(scores, best_first(scores, len(scores)), Reason(kind))

    @property
    def scores(self) -> FloatArray:
        return self._fixed.scores

    def for_reader(self, history: History) -> ReaderScores:
        return self._fixed


class SegmentPopularity:
    """Recent popularity among the readers of one segment (a library's readers, an age band), for readers in it;
    network-wide recent popularity for readers outside any known segment. Keeps the top `keep` per segment value,
    so a hundred libraries cost a hundred short lists, not a hundred catalogue-sized vectors."""

    def __init__(
        self,
        log: LoanLog,
        as_of: Days,
        half_life: float,
        segmentation: str,
        reader_segments: Mapping[int, str],
        network: Popularity,
        keep: int = 2000,
    ) -> None:
        self.segmentation = segmentation
        self._network = network
        self._lists: dict[str, _FixedScores] = {}
        values = np.array([reader_segments.get(int(reader), "") for reader in log.readers], dtype=object)
        weights = decay(as_of - log.days, half_life)
        for value in sorted(set(reader_segments.values())):
            mask = values == value
            scores = np.bincount(log.items[mask], weights=weights[mask], minlength=len(log.item_keys)).astype(
                np.float64
            )
            order = best_first(scores, keep)
            kept = np.zeros(len(log.item_keys))
            kept[order] = scores[order]
            why = Reason(ReasonKind.POPULAR_RECENTLY, segment=(segmentation, value))
            self._lists[value] = _FixedScores(kept, order, why)

    def for_reader(self, history: History) -> ReaderScores:
        listed = self._lists.get(history.segments.get(self.segmentation, ""))
        return listed if listed is not None else self._network.for_reader(history)


# --- readers who borrowed this also borrowed ---------------------------------------------------------------------


def reader_item_matrix(log: LoanLog, max_items_per_reader: int) -> sp.csr_matrix:
    """Readers x items, 1 where the reader borrowed the item, keeping each reader's `max_items_per_reader` most
    recently borrowed items: a few very heavy readers (or a school card) would otherwise dominate co-borrow counts
    and the memory of counting them."""
    n_readers, n_items = len(log.reader_keys), len(log.item_keys)
    # The latest loan of each (reader, item), then the newest per reader first.
    order = np.lexsort((-log.days, log.items, log.readers))
    readers, items, days = log.readers[order], log.items[order], log.days[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (readers[1:] != readers[:-1]) | (items[1:] != items[:-1])
    readers, items, days = readers[first], items[first], days[first]
    order = np.lexsort((-days, readers))
    readers, items = readers[order], items[order]
    starts = np.searchsorted(readers, readers, side="left")
    keep = (np.arange(len(readers)) - starts) < max_items_per_reader
    data = np.ones(int(keep.sum()))
    return sp.csr_matrix((data, (readers[keep], items[keep])), shape=(n_readers, n_items))


@dataclass(frozen=True, slots=True)
class Neighbours:
    """Items x items co-borrow neighbours: `similarity` by cosine, and `support` aligned with `similarity.data` (the
    same entries in the same order): how many distinct readers borrowed both items of each kept pair, counted from
    each reader's capped items (`reader_item_matrix`), before normalisation."""

    similarity: sp.csr_matrix
    support: IntArray

    def of(self, item: int) -> tuple[IntArray, FloatArray, IntArray]:
        """The item's neighbours (sorted positions), their similarities and their supports."""
        lo, hi = self.similarity.indptr[item], self.similarity.indptr[item + 1]
        return (
            self.similarity.indices[lo:hi].astype(np.int32),
            self.similarity.data[lo:hi].astype(np.float64),
            self.support[lo:hi],
        )


def co_borrow_neighbours(matrix: sp.csr_matrix, neighbours: int, max_pairs_per_block: int = 20_000_000) -> Neighbours:
    """For each item its `neighbours` most co-borrowed items by cosine (co-borrowers over the geometric mean of both
    items' borrowers), the rest dropped, each with its support (distinct co-borrowers): personal scoring uses every
    kept pair, the public "also borrowed" only pairs with enough support (`CoBorrow.also_borrowed`).

    The co-borrow counts are computed a block of items at a time, each block sized so that its count matrix has at
    most about `max_pairs_per_block` entries: memory stays bounded whatever the catalogue size, where the all-pairs
    matrix of a city (10M loans) would take about 10 GB.
    """
    n_items = matrix.shape[1]
    by_item = matrix.T.tocsr()  # items x readers
    borrowers = np.asarray(by_item.sum(axis=1)).ravel()
    inverse_root = np.zeros(n_items)
    inverse_root[borrowers > 0] = 1.0 / np.sqrt(borrowers[borrowers > 0])
    # Entries an item's row of counts can have at most: every item of every one of its borrowers.
    loans_per_reader = np.asarray(matrix.sum(axis=1)).ravel()
    bound = by_item @ loans_per_reader
    lengths = np.zeros(n_items, dtype=np.int64)
    columns: list[IntArray] = []
    values: list[FloatArray] = []
    supports: list[IntArray] = []
    start = 0
    while start < n_items:
        end = start + 1 + int(np.searchsorted(np.cumsum(bound[start + 1 :]), max_pairs_per_block))
        end = min(max(end, start + 1), n_items)
        counts = (by_item[start:end] @ matrix).tocsr()
        counts.setdiag(0, k=start)  # an item is not its own neighbour: the block's row i is item start + i
        counts.eliminate_zeros()
        for offset in range(end - start):
            lo, hi = counts.indptr[offset], counts.indptr[offset + 1]
            if lo == hi:
                continue
            # A 0/1 matrix: the counts are distinct co-borrowers (the support); cosine divides by both roots.
            row_columns, row_counts = counts.indices[lo:hi], counts.data[lo:hi]
            row_values = row_counts * inverse_root[start + offset] * inverse_root[row_columns]
            if hi - lo > neighbours:  # ties go to the more borrowed item, then the lower position: never to chance
                kept = np.lexsort((row_columns, -borrowers[row_columns], -row_values))[:neighbours]
                row_columns, row_values, row_counts = row_columns[kept], row_values[kept], row_counts[kept]
            by_position = np.argsort(row_columns, kind="stable")
            lengths[start + offset] = len(row_columns)
            columns.append(row_columns[by_position].astype(np.int32))
            values.append(row_values[by_position].astype(np.float64))
            supports.append(np.rint(row_counts[by_position]).astype(np.int32))
        start = end
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    if not columns:
        return Neighbours(sp.csr_matrix((n_items, n_items)), np.zeros(0, np.int32))
    similarity = sp.csr_matrix((np.concatenate(values), np.concatenate(columns), indptr), shape=(n_items, n_items))
    return Neighbours(similarity, np.concatenate(supports))


@dataclass(frozen=True, slots=True)
class _SparseReaderScores:
    """Scores of one reader as a sparse row (sorted positions and their values)."""

    positions: IntArray
    values: FloatArray

    def top(self, k: int) -> IntArray:
        order = best_first(self.values, k)
        return self.positions[order]

    def at(self, items: IntArray) -> FloatArray:
        found = np.searchsorted(self.positions, items)
        found = np.minimum(found, max(len(self.positions) - 1, 0))
        if len(self.positions) == 0:
            return np.zeros(len(items))
        return np.where(self.positions[found] == items, self.values[found], 0.0)


def _sparse_row(row: sp.csr_matrix) -> tuple[IntArray, FloatArray]:
    row = row.tocsr()
    row.sum_duplicates()
    row.sort_indices()
    return row.indices.astype(np.int32), row.data.astype(np.float64)


@dataclass(frozen=True, slots=True)
class _CoBorrowReaderScores:
    scores: _SparseReaderScores
    neighbours: sp.csr_matrix  # the reader's items' rows of the neighbour matrix
    history: History
    weights: FloatArray
    item_keys: tuple[str, ...]

    def top(self, k: int) -> IntArray:
        return self.scores.top(k)

    def at(self, items: IntArray) -> FloatArray:
        return self.scores.at(items)

    def reason(self, item: int) -> Reason:
        contributions = np.asarray(self.neighbours[:, [item]].todense()).ravel() * self.weights
        source = int(self.history.items[int(np.argmax(contributions))])
        return Reason(ReasonKind.BORROWED, record=self.item_keys[source])


class CoBorrow:
    """Readers who borrowed this also borrowed: each of the reader's items votes for its neighbours, recent loans
    more (their weight halves every `half_life` days before the newest)."""

    def __init__(
        self,
        log: LoanLog,
        *,
        neighbours: int = 100,
        max_items_per_reader: int = 500,
        half_life: float = 365.0,
        profile_items: int = 200,
    ) -> None:
        self.item_keys = log.item_keys
        self.neighbours = co_borrow_neighbours(reader_item_matrix(log, max_items_per_reader), neighbours)
        self.half_life = half_life
        self.profile_items = profile_items

    def for_reader(self, history: History) -> ReaderScores:
        items = history.items[: self.profile_items]
        weights = _profile_weights(history, len(items), self.half_life)
        rows = self.neighbours.similarity[items]
        positions, values = _sparse_row(sp.csr_matrix(weights.reshape(1, -1)) @ rows)
        return _CoBorrowReaderScores(_SparseReaderScores(positions, values), rows, history, weights, self.item_keys)

    def also_borrowed(self, item: int, k: int, min_co_borrowers: int) -> list[tuple[int, float]]:
        """The item's nearest co-borrowed items, best first, among those at least `min_co_borrowers` distinct readers
        borrowed both of: the record page's public "also borrowed", which must not list what one reader borrowed."""
        positions, values, support = self.neighbours.of(item)
        values = np.where(support >= min_co_borrowers, values, 0.0)
        order = best_first(values, k)
        return [(int(positions[i]), float(values[i])) for i in order]


def _profile_weights(history: History, count: int, half_life: float) -> FloatArray:
    if count == 0:
        return np.zeros(0)
    days = history.days[:count]
    return decay(days.max() - days, half_life)


# --- content: authors, classes, title words -----------------------------------------------------------------------

_CLC = re.compile(r"^[A-Z][A-Z0-9]*[0-9][0-9./:=\-]*$")  # I247.5, TP311, K825.6=76: a CLC number, not a genre


@dataclass(frozen=True, slots=True)
class ContentWeights:
    """How much each kind of feature counts before its rarity (idf) is applied."""

    author: float = 1.0
    subject: float = 0.5
    title_word: float = 0.5


def item_features(item: Item) -> list[tuple[str, str, str]]:
    """(kind, feature, shown as) per feature of an item: each author, each class with its CLC prefixes (I, I2,
    I24, I247: an I247.5 book is also an I24 one), each title word (jieba for Chinese, whole words otherwise)."""
    features: list[tuple[str, str, str]] = []
    for author in item.author.split(";"):
        if author.strip():
            features.append(("author", " ".join(author.lower().split()), author.strip()))
    for subject in item.classes.split(";"):
        subject = subject.strip()
        if not subject:
            continue
        if _CLC.match(subject.upper()):
            number = subject.upper().split(".")[0]
            prefixes = {number[:length] for length in range(1, len(number) + 1)} | {subject.upper()}
            features += [("subject", prefix, prefix) for prefix in sorted(prefixes)]
        else:
            features.append(("subject", subject.lower(), subject))
    for token in query_tokens(item.title, max_tokens=40):
        if not token.text.isdigit():
            features.append(("title_word", token.text, token.text))
    return features


@dataclass(frozen=True, slots=True)
class _ContentReaderScores:
    candidates: _SparseReaderScores
    profile: FloatArray  # dense over features: a few hundred thousand floats at most
    content: Content
    history: History

    def top(self, k: int) -> IntArray:
        return self.candidates.top(k)

    def at(self, items: IntArray) -> FloatArray:
        return np.asarray(self.content.features[items] @ self.profile, dtype=np.float64)

    def reason(self, item: int) -> Reason:
        row = self.content.features[item]
        contributions = row.data * self.profile[row.indices]
        if len(contributions) == 0:
            return Reason(ReasonKind.POPULAR_RECENTLY)
        feature = int(row.indices[int(np.argmax(contributions))])
        kind, shown = self.content.kinds[feature], self.content.shown[feature]
        if kind == "subject":
            # Over a few books, I, I2, ..., I247.5 are often shared by the same books and weigh the same: name the
            # most specific of the tied classes, since "I" says nothing.
            tied = row.indices[np.isclose(contributions, contributions.max())]
            shown = max(
                (self.content.shown[int(f)] for f in tied if self.content.kinds[int(f)] == "subject"),
                key=lambda code: (len(code), code),
            )
        if kind == "author":
            return Reason(ReasonKind.SAME_AUTHOR, author=shown)
        if kind == "subject":
            return Reason(ReasonKind.SAME_CLASS, subject=shown)
        # A shared title word: name the reader's latest book that has it.
        lo, hi = self.content.by_feature.indptr[feature], self.content.by_feature.indptr[feature + 1]
        having = np.isin(self.history.items, self.content.by_feature.indices[lo:hi])
        record = int(self.history.items[int(np.argmax(having))])
        return Reason(ReasonKind.BORROWED, record=self.content.item_keys[record])


class Content:
    """Items like the reader's items: tf-idf vectors of authors, classes and title words; the reader's profile is
    the sum of their items' vectors (recent ones weigh more) cut to its `profile_features` strongest features.

    Candidates come from each profile feature's `postings` most borrowed items, so a reader of "Fiction" or "I"
    does not score a whole catalogue; `at` scores any item exactly.
    """

    def __init__(
        self,
        log: LoanLog,
        items: Mapping[str, Item],
        *,
        weights: ContentWeights = ContentWeights(),
        half_life: float = 365.0,
        profile_items: int = 200,
        profile_features: int = 50,
        postings: int = 1000,
    ) -> None:
        self.item_keys = log.item_keys
        self.half_life = half_life
        self.profile_items = profile_items
        self.profile_features = profile_features
        index: dict[tuple[str, str], int] = {}
        self.kinds: list[str] = []
        self.shown: list[str] = []
        rows: list[int] = []
        columns: list[int] = []
        for position, key in enumerate(log.item_keys):
            item = items.get(key)
            if item is None:
                continue
            for kind, feature, shown in set(item_features(item)):
                column = index.setdefault((kind, feature), len(index))
                if column == len(self.kinds):
                    self.kinds.append(kind)
                    self.shown.append(shown)
                rows.append(position)
                columns.append(column)
        n_items, n_features = len(log.item_keys), len(index)
        presence = sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(n_items, n_features))
        presence.sum_duplicates()
        presence.data[:] = 1.0
        frequency = np.asarray(presence.sum(axis=0)).ravel()
        described = max(int((np.diff(presence.indptr) > 0).sum()), 1)
        # A feature of one item links it to nothing; rarer shared features say more (idf).
        kind_weight = np.array([getattr(weights, kind) for kind in self.kinds])
        idf = np.where(frequency >= 2, np.log(described / np.maximum(frequency, 1)) + 1.0, 0.0) * kind_weight
        features = (presence @ sp.diags(idf)).tocsr()
        norms = np.sqrt(np.asarray(features.multiply(features).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        self.features: sp.csr_matrix = (sp.diags(1.0 / norms) @ features).tocsr()
        self.features.eliminate_zeros()
        self.by_feature: sp.csr_matrix = self.features.T.tocsr()
        popularity = np.bincount(log.items, minlength=n_items).astype(np.float64)
        self.postings = _most_popular_per_row(self.by_feature, popularity, postings)

    def for_reader(self, history: History) -> ReaderScores:
        items = history.items[: self.profile_items]
        weights = _profile_weights(history, len(items), self.half_life)
        profile = np.zeros(len(self.kinds))
        if len(items):
            profile = np.asarray(self.features[items].T @ weights, dtype=np.float64).ravel()
        if np.count_nonzero(profile) > self.profile_features:
            weakest = np.argpartition(-profile, self.profile_features)[self.profile_features :]
            profile[weakest] = 0.0
        strongest = np.flatnonzero(profile)
        candidates = sp.csr_matrix(profile[strongest].reshape(1, -1)) @ self.postings[strongest]
        positions, values = _sparse_row(candidates)
        return _ContentReaderScores(_SparseReaderScores(positions, values), profile, self, history)


def _most_popular_per_row(matrix: sp.csr_matrix, popularity: FloatArray, cap: int) -> sp.csr_matrix:
    """The matrix keeping, in each row, the entries of the `cap` most popular columns."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order = np.lexsort((-popularity[matrix.indices], rows))
    rank = np.arange(len(order)) - matrix.indptr[rows[order]]
    kept = order[rank < cap]
    return sp.csr_matrix((matrix.data[kept], (rows[kept], matrix.indices[kept])), shape=matrix.shape)
