"""Candidate sources: each scores items for a batch of readers' histories and says why it picked each one.

A source is trained once from a loan log (nightly, in the worker's process pool, or by the evaluation) and then
asked for a batch of readers (one reader is a batch of one): each reader's own best `k` items (`top`), its score for
any (reader, item) pairs (`at`, so the blend can standardise every source over each reader's pool), and the reason
for a pick. Work is proportional to the readers' histories and the neighbours they reach, never to the size of the
catalogue, so picks can be recomputed when a reader borrows; a batch does its sparse products in one call each
rather than one per reader (the nightly run picks for a hundred thousand readers and more).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
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
Offsets = npt.NDArray[np.int64]


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


@dataclass(frozen=True, slots=True)
class Ranked:
    """Items per reader of a batch: reader `r`'s are `items[indptr[r]:indptr[r + 1]]`, best first."""

    indptr: Offsets
    items: IntArray

    def of(self, reader: int) -> IntArray:
        return self.items[self.indptr[reader] : self.indptr[reader + 1]]


class BatchScores(Protocol):
    """A source's scores for a batch of readers (readers are positions in the batch)."""

    def top(self, k: Offsets) -> Ranked:
        """Each reader's best items, at most `k[reader]`, best first (ties: lower position first)."""
        ...

    def at(self, readers: IntArray, items: IntArray) -> FloatArray:
        """The score of reader `readers[i]` for `items[i]` (0 where the source has nothing to say)."""
        ...

    def reasons(self, readers: IntArray, items: IntArray) -> list[Reason]:
        """Why the source would pick `items[i]` for reader `readers[i]`."""
        ...


class Source(Protocol):
    def for_readers(self, histories: Sequence[History]) -> BatchScores: ...


class ReaderScores(Protocol):
    """One reader's scores (`Content.for_reader`: new arrivals rank one card's candidates)."""

    def at(self, items: IntArray) -> FloatArray: ...

    def reason(self, item: int) -> Reason: ...


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


def _offsets(lengths: npt.NDArray[np.integer]) -> Offsets:
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)


def _rows_of(indptr: npt.NDArray[np.integer]) -> IntArray:
    """The row of each entry of a CSR structure."""
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))


def _best_entries(indptr: Offsets, values: FloatArray, k: Offsets) -> tuple[Offsets, Offsets]:
    """`best_first` on each row of a CSR structure with sorted indices: the entries of each row's `k[row]` highest
    positive values, best first (ties: lower position), row after row, and the row offsets into them. A selection
    per row, not one sort of the whole batch: a row keeps a few hundred of its thousands of entries."""
    entries: list[Offsets] = [np.zeros(0, np.int64)]
    for row, (lo, hi) in enumerate(itertools.pairwise(indptr.tolist())):
        entries.append(lo + best_first(values[lo:hi], int(k[row])).astype(np.int64))
    return np.concatenate(entries), _offsets(np.array([len(row) for row in entries[1:]], dtype=np.int64))


def _ranked(matrix: sp.csr_matrix, k: Offsets) -> Ranked:
    """Each row's `k[row]` best columns of a readers x items matrix (sorted indices)."""
    entries, indptr = _best_entries(matrix.indptr, matrix.data, k)
    return Ranked(indptr, matrix.indices[entries].astype(np.int32))


def distinct(keys: Offsets) -> Offsets:
    """The distinct keys, sorted (`np.unique` without its hashing, which is many times slower on large int64 arrays
    with numpy 2.4)."""
    ordered = np.sort(keys)
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return ordered[first]


def contained(keys: Offsets, sorted_set: Offsets) -> npt.NDArray[np.bool_]:
    """Whether each key is in `sorted_set` (sorted, distinct): `np.isin` by binary search."""
    if len(sorted_set) == 0:
        return np.zeros(len(keys), dtype=bool)
    found = np.minimum(np.searchsorted(sorted_set, keys), len(sorted_set) - 1)
    return np.asarray(sorted_set[found] == keys)


def _lookup(matrix: sp.csr_matrix, rows: IntArray, columns: IntArray) -> FloatArray:
    """`matrix[rows[i], columns[i]]` for every i, of a CSR matrix with sorted indices."""
    if matrix.nnz == 0:
        return np.zeros(len(rows))
    width = np.int64(matrix.shape[1])
    keys = _rows_of(matrix.indptr).astype(np.int64) * width + matrix.indices
    wanted = rows.astype(np.int64) * width + columns
    found = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[found] == wanted, matrix.data[found], 0.0)


@dataclass(frozen=True, slots=True)
class _Profiles:
    """The batch's readers' most recent items, stacked: reader `r`'s are `items[indptr[r]:indptr[r + 1]]`, each
    weighted by how recent it is; `matrix` (readers x stacked items) holds the weights."""

    items: IntArray
    weights: FloatArray
    indptr: Offsets

    @property
    def matrix(self) -> sp.csr_matrix:
        # Columns in history order: a product with it adds each reader's items in the order a reader alone would.
        columns = np.arange(len(self.items), dtype=np.int32)
        return sp.csr_matrix((self.weights, columns, self.indptr), shape=(len(self.indptr) - 1, len(self.items)))


def _profiles(histories: Sequence[History], count: int, half_life: float) -> _Profiles:
    """Each reader's `count` most recent items, weighted by `_profile_weights`."""
    items = [history.items[:count] for history in histories]
    weights = [_profile_weights(history, len(mine), half_life) for history, mine in zip(histories, items, strict=True)]
    return _Profiles(
        np.concatenate([np.zeros(0, np.int32), *items]).astype(np.int32),
        np.concatenate([np.zeros(0), *weights]),
        _offsets(np.array([len(mine) for mine in items], dtype=np.int64)),
    )


# --- popularity -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FixedList:
    """One list for many readers: popularity of some kind."""

    scores: FloatArray
    order: IntArray  # every item with a positive score, best first
    why: Reason


@dataclass(frozen=True, slots=True)
class _Lists:
    """Fixed lists, each reader of the batch reading one of them (popularity: the network's, or their segment's)."""

    lists: tuple[FixedList, ...]
    chosen: IntArray  # per reader, the position of its list

    def top(self, k: Offsets) -> Ranked:
        sizes = np.array([len(fixed.order) for fixed in self.lists], dtype=np.int64)
        lengths = np.minimum(k, sizes[self.chosen])
        indptr = _offsets(lengths)
        owners = _rows_of(indptr)
        ranks = np.arange(indptr[-1]) - indptr[owners]
        items = np.zeros(indptr[-1], np.int32)
        for index, fixed in enumerate(self.lists):
            mine = self.chosen[owners] == index
            items[mine] = fixed.order[ranks[mine]]
        return Ranked(indptr, items)

    def at(self, readers: IntArray, items: IntArray) -> FloatArray:
        scores = np.zeros(len(items))
        for index, fixed in enumerate(self.lists):
            mine = self.chosen[readers] == index
            scores[mine] = fixed.scores[items[mine]]
        return scores

    def reasons(self, readers: IntArray, items: IntArray) -> list[Reason]:
        return [self.lists[index].why for index in self.chosen[readers].tolist()]


class Popularity:
    """Loans per item over all time (`half_life=None`) or with each loan's weight halving every `half_life` days
    before `as_of`: what is borrowed now, not what was borrowed once."""

    def __init__(self, log: LoanLog, as_of: Days, half_life: float | None) -> None:
        weights = np.ones(len(log)) if half_life is None else decay(as_of - log.days, half_life)
        scores = np.bincount(log.items, weights=weights, minlength=len(log.item_keys)).astype(np.float64)
        kind = ReasonKind.POPULAR if half_life is None else ReasonKind.POPULAR_RECENTLY
        self.fixed = FixedList(scores, best_first(scores, len(scores)), Reason(kind))

    @property
    def scores(self) -> FloatArray:
        return self.fixed.scores

    def for_readers(self, histories: Sequence[History]) -> BatchScores:
        return _Lists((self.fixed,), np.zeros(len(histories), np.int32))


class SegmentPopularity:
    """Recent popularity among the readers of one segment (a library's readers, an age band), for readers in it; the
    `outside` list for readers outside any known segment (the network's; a children's age band: all children's). Keeps
    the top `keep` per segment value, so a hundred libraries cost a hundred short lists, not a hundred catalogue-sized
    vectors."""

    def __init__(
        self,
        log: LoanLog,
        as_of: Days,
        half_life: float,
        segmentation: str,
        reader_segments: Mapping[int, str],
        outside: FixedList,
        keep: int = 2000,
    ) -> None:
        self.segmentation = segmentation
        names = sorted(set(reader_segments.values()))
        self._positions = {name: position for position, name in enumerate(names)}
        # Each loan's segment as a number (-1: none), without a Python object per loan.
        of_reader = np.full(len(log.reader_keys), self._positions.get("", -1), dtype=np.int32)
        if reader_segments:
            of_reader[np.fromiter(reader_segments.keys(), np.int64, len(reader_segments))] = [
                self._positions[name] for name in reader_segments.values()
            ]
        of_loan = of_reader[log.readers]
        weights = decay(as_of - log.days, half_life)
        lists = []
        for position, value in enumerate(names):
            mask = of_loan == position
            scores = np.bincount(log.items[mask], weights=weights[mask], minlength=len(log.item_keys)).astype(
                np.float64
            )
            order = best_first(scores, keep)
            kept = np.zeros(len(log.item_keys))
            kept[order] = scores[order]
            lists.append(FixedList(kept, order, Reason(ReasonKind.POPULAR_RECENTLY, segment=(segmentation, value))))
        self._lists = (*lists, outside)  # last: the readers of no list of their own read it

    def list_of(self, value: str) -> FixedList | None:
        """The list of a segment value (None: it has none of its own)."""
        position = self._positions.get(value)
        return None if position is None else self._lists[position]

    def for_readers(self, histories: Sequence[History]) -> BatchScores:
        outside = len(self._lists) - 1
        chosen = [self._positions.get(history.segments.get(self.segmentation, ""), outside) for history in histories]
        return _Lists(self._lists, np.array(chosen, dtype=np.int32))


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
class _SparseScores:
    """Scores of a batch of readers as a readers x items matrix with sorted indices."""

    matrix: sp.csr_matrix

    def top(self, k: Offsets) -> Ranked:
        return _ranked(self.matrix, k)

    def at(self, readers: IntArray, items: IntArray) -> FloatArray:
        return _lookup(self.matrix, readers, items)


def _product(weights: sp.csr_matrix, rows: sp.csr_matrix) -> sp.csr_matrix:
    """`weights @ rows` with sorted indices (readers x columns)."""
    product: sp.csr_matrix = (weights @ rows).tocsr()
    product.sort_indices()
    return product


@dataclass(frozen=True, slots=True)
class _CoBorrowScores:
    scores: _SparseScores
    neighbours: sp.csr_matrix  # the stacked profile items' rows of the neighbour matrix
    profiles: _Profiles
    item_keys: tuple[str, ...]

    def top(self, k: Offsets) -> Ranked:
        return self.scores.top(k)

    def at(self, readers: IntArray, items: IntArray) -> FloatArray:
        return self.scores.at(readers, items)

    def reasons(self, readers: IntArray, items: IntArray) -> list[Reason]:
        """The reader's item whose vote for the pick weighed most (the most recent of equal votes)."""
        width = np.int64(self.neighbours.shape[1])
        stacked = _rows_of(self.neighbours.indptr)  # per neighbour entry, its profile item (stacked)
        keys = _rows_of(self.profiles.indptr)[stacked].astype(np.int64) * width + self.neighbours.indices
        wanted = readers.astype(np.int64) * width + items
        hits = np.flatnonzero(contained(keys, distinct(wanted)))
        votes = self.neighbours.data[hits] * self.profiles.weights[stacked[hits]]
        # Per pick its strongest vote, of equal ones the reader's most recent item: what argmax over one reader's
        # items gave.
        order = hits[np.lexsort((stacked[hits], -votes, keys[hits]))]
        strongest = np.ones(len(order), dtype=bool)
        strongest[1:] = keys[order][1:] != keys[order][:-1]
        best = order[strongest]
        # No vote at all (led there by standardising, not by a neighbour): the reader's newest item, as argmax did.
        voter = self.profiles.indptr[readers].copy()
        found = np.searchsorted(keys[best], wanted)
        voted = found < len(best)
        voted[voted] = keys[best][found[voted]] == wanted[voted]
        voter[voted] = stacked[best][found[voted]]
        reasons = []
        empty = self.profiles.indptr[readers] == self.profiles.indptr[readers + 1]
        for position, nothing in zip(voter.tolist(), empty.tolist(), strict=True):
            if nothing:  # a warm reader whose loans are all of records the model never saw: no book to name
                reasons.append(Reason(ReasonKind.POPULAR_RECENTLY))
            else:
                reasons.append(Reason(ReasonKind.BORROWED, record=self.item_keys[int(self.profiles.items[position])]))
        return reasons


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

    def for_readers(self, histories: Sequence[History]) -> BatchScores:
        profiles = _profiles(histories, self.profile_items, self.half_life)
        rows = self.neighbours.similarity[profiles.items]
        return _CoBorrowScores(_SparseScores(_product(profiles.matrix, rows)), rows, profiles, self.item_keys)

    def also_borrowed(self, k: int, min_co_borrowers: int) -> Ranked:
        """Every item's nearest co-borrowed items, best first, among those at least `min_co_borrowers` distinct
        readers borrowed both of: the record page's public "also borrowed", which must not list what one reader
        borrowed."""
        similarity = self.neighbours.similarity
        values = np.where(self.neighbours.support >= min_co_borrowers, similarity.data, 0.0)
        entries, indptr = _best_entries(similarity.indptr, values, np.full(similarity.shape[0], k))
        return Ranked(indptr, similarity.indices[entries].astype(np.int32))


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
class _ContentScores:
    candidates: _SparseScores
    profiles: sp.csr_matrix  # readers x features (sorted indices): each reader's strongest features
    content: Content
    histories: Sequence[History]

    def top(self, k: Offsets) -> Ranked:
        return self.candidates.top(k)

    def at(self, readers: IntArray, items: IntArray) -> FloatArray:
        indptr, _, products = self._products(readers, items)
        # Added in the order the features are stored, one feature of every pair at a time: the very sums of one
        # reader's matrix-vector product, to the last bit.
        lengths = np.diff(indptr)
        totals = np.zeros(len(items))
        for step in range(int(lengths.max(initial=0))):
            pairs = np.flatnonzero(lengths > step)
            totals[pairs] += products[indptr[pairs] + step]
        return totals

    def reasons(self, readers: IntArray, items: IntArray) -> list[Reason]:
        indptr, entries, products = self._products(readers, items)
        features = self.content.features.indices[entries]
        return [
            self._reason(features[lo:hi], products[lo:hi], self.histories[reader])
            for reader, lo, hi in zip(readers.tolist(), indptr[:-1].tolist(), indptr[1:].tolist(), strict=True)
        ]

    def _products(self, readers: IntArray, items: IntArray) -> tuple[Offsets, Offsets, FloatArray]:
        """For every (reader, item) pair, the item's features as stored, each weighed by the reader's profile: pair
        i's are `[indptr[i], indptr[i + 1])` of the entries (into `features`) and their products."""
        features = self.content.features
        starts = features.indptr[items].astype(np.int64)
        indptr = _offsets(features.indptr[items + 1] - starts)
        pairs = _rows_of(indptr)
        entries = starts[pairs] + (np.arange(indptr[-1]) - indptr[pairs])
        products = features.data[entries] * _lookup(self.profiles, readers[pairs], features.indices[entries])
        return indptr, entries, products

    def _reason(self, features: IntArray, contributions: FloatArray, history: History) -> Reason:
        if len(contributions) == 0:
            return Reason(ReasonKind.POPULAR_RECENTLY)
        feature = int(features[int(np.argmax(contributions))])
        kind, shown = self.content.kinds[feature], self.content.shown[feature]
        if kind == "subject":
            # Over a few books, I, I2, ..., I247.5 are often shared by the same books and weigh the same: name the
            # most specific of the tied classes, since "I" says nothing.
            tied = features[np.isclose(contributions, contributions.max())]
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
        having = np.isin(history.items, self.content.by_feature.indices[lo:hi])
        record = int(history.items[int(np.argmax(having))])
        return Reason(ReasonKind.BORROWED, record=self.content.item_keys[record])


@dataclass(frozen=True, slots=True)
class _OneReader:
    scores: BatchScores

    def at(self, items: IntArray) -> FloatArray:
        return self.scores.at(np.zeros(len(items), np.int32), items)

    def reason(self, item: int) -> Reason:
        return self.scores.reasons(np.zeros(1, np.int32), np.array([item], np.int32))[0]


def _strongest(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row's `k` highest values (ties: the lower column), the rest dropped; indices stay sorted."""
    entries, indptr = _best_entries(matrix.indptr, matrix.data, np.full(matrix.shape[0], k))
    entries.sort()  # back to column order: a row's entries all come before the next row's
    return sp.csr_matrix((matrix.data[entries], matrix.indices[entries], indptr), shape=matrix.shape)


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
            # Distinct features in their own order, not a set's: a set's order follows the process's string hashing,
            # so the features' numbering, and with it how ties between them break, would change from run to run.
            for kind, feature, shown in dict.fromkeys(item_features(item)):
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

    def for_readers(self, histories: Sequence[History]) -> BatchScores:
        profiles = _profiles(histories, self.profile_items, self.half_life)
        strongest = _strongest(_product(profiles.matrix, self.features[profiles.items]), self.profile_features)
        return _ContentScores(_SparseScores(_product(strongest, self.postings)), strongest, self, histories)

    def for_reader(self, history: History) -> ReaderScores:
        """One reader's scores (new arrivals rank a card's candidates with them)."""
        return _OneReader(self.for_readers([history]))


def _most_popular_per_row(matrix: sp.csr_matrix, popularity: FloatArray, cap: int) -> sp.csr_matrix:
    """The matrix keeping, in each row, the entries of the `cap` most popular columns."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order = np.lexsort((-popularity[matrix.indices], rows))
    rank = np.arange(len(order)) - matrix.indptr[rows[order]]
    kept = order[rank < cap]
    return sp.csr_matrix((matrix.data[kept], (rows[kept], matrix.indices[kept])), shape=matrix.shape)
