"""What the recommendation endpoints take and answer."""

from __future__ import annotations

from typing import Annotated

import msgspec

from backend.catalog.search import Hit
from miniprogram_api.catalog.schemas import RecordSummaryOut
from miniprogram_api.schemas import Page, named
from recommendations.explain import render
from recommendations.reasons import ReasonKind
from recommendations.serving import Recommended


class RecommendationSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    personal: bool
    """Personal picks from my loans; false: only what is popular lately, and my recommendation profile is deleted."""


class RecommendationSettingsOut(msgspec.Struct):
    personal: bool


class ReasonOut(msgspec.Struct):
    kind: ReasonKind
    text: str
    """The reason in the reader's language (Accept-Language: en for English)."""
    record_id: int | None = None
    """The record of the reader's own history it cites ("because you borrowed ...")."""


class RecommendationOut(msgspec.Struct):
    record: RecordSummaryOut
    reason: ReasonOut

    @classmethod
    def of(cls, hit: Hit, recommended: Recommended, titles: dict[int, str], language: str) -> RecommendationOut:
        reason = recommended.reason
        cited = int(reason.record) if reason.kind == ReasonKind.BORROWED and reason.record is not None else None
        return cls(RecordSummaryOut.of(hit), ReasonOut(reason.kind, render(reason, titles, language), cited))


class RecommendationPage(Page[RecommendationOut], kw_only=True):
    """A page of picks, and whether they are personal."""

    items: list[RecommendationOut]  # stated again: Litestar does not carry a generic base's item type to a subclass
    personal: bool
    """False: recent popularity (personal picks are off, or none are trained for this card yet)."""


AlsoBorrowedPage = Annotated[Page[RecordSummaryOut], named("AlsoBorrowedPage")]
