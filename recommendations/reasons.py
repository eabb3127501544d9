"""Why an item was picked, as data: serving renders it ("因为你借过《…》", "本馆近期热门") in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReasonKind(StrEnum):
    BORROWED = "borrowed"  # readers of `record` (which this reader borrowed) also borrowed it
    SAME_AUTHOR = "same_author"  # by `author`, whom this reader reads
    SAME_CLASS = "same_class"  # in `subject` (a CLC class prefix or a genre) this reader often reads
    POPULAR_RECENTLY = "popular_recently"  # much borrowed lately, network-wide or in `segment`
    POPULAR = "popular"  # much borrowed, all time


@dataclass(frozen=True, slots=True)
class Reason:
    kind: ReasonKind
    record: str | None = None  # an item key of the reader's own history
    author: str | None = None
    subject: str | None = None
    segment: tuple[str, str] | None = None  # (segmentation, value): ("library", "TL-03"), ("age_band", "3-6")


@dataclass(frozen=True, slots=True)
class Pick:
    """One recommended item, its blended score (comparable within one reader's list only) and its reason."""

    item: str
    score: float
    reason: Reason
