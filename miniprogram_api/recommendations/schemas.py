"""What the recommendation endpoints take and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from backend.catalog.search import Hit
from miniprogram_api.catalog.schemas import RecordSummaryOut
from miniprogram_api.schemas import Page, named
from recommendations.arrivals import Arrival
from recommendations.explain import render, render_arrival
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
    def of(cls, recommended: Recommended, titles: dict[int, str], language: str) -> RecommendationOut:
        reason = recommended.reason
        cited = int(reason.record) if reason.kind == ReasonKind.BORROWED and reason.record is not None else None
        return cls(
            RecordSummaryOut.of(recommended.hit), ReasonOut(reason.kind, render(reason, titles, language), cited)
        )


class RecommendationPage(Page[RecommendationOut], kw_only=True):
    """A page of picks, and whether they are personal."""

    items: list[RecommendationOut]  # stated again: Litestar does not carry a generic base's item type to a subclass
    personal: bool
    """False: recent popularity (personal picks are off, or none are trained for this card yet)."""


AlsoBorrowedPage = Annotated[Page[RecordSummaryOut], named("AlsoBorrowedPage")]


class ArrivalPlaceOut(msgspec.Struct):
    code: str
    name: str


class ArrivalReasonOut(msgspec.Struct):
    kind: ReasonKind | None
    """Why it matches my reading (as a pick's reason); null: it is only new ("新到馆")."""
    text: str
    """The reason in the reader's language (Accept-Language: en for English)."""
    record_id: int | None = None
    """The record of the reader's own history it cites."""


class ArrivalOut(msgspec.Struct):
    record: RecordSummaryOut
    added_at: datetime
    """When the newest of its copies at my libraries was added."""
    libraries: list[ArrivalPlaceOut]
    """My libraries where a new copy of it is now."""
    reason: ArrivalReasonOut

    @classmethod
    def of(cls, hit: Hit, arrival: Arrival, titles: dict[int, str], language: str) -> ArrivalOut:
        reason = arrival.reason
        kind = reason.kind if reason is not None else None
        cited = None
        if reason is not None and reason.kind == ReasonKind.BORROWED and reason.record is not None:
            cited = int(reason.record)
        return cls(
            RecordSummaryOut.of(hit),
            arrival.added_at,
            [ArrivalPlaceOut(library.code, library.name) for library in arrival.libraries],
            ArrivalReasonOut(kind, render_arrival(reason, titles, language), cited),
        )


class ArrivalPage(Page[ArrivalOut], kw_only=True):
    """A page of new arrivals at my libraries, and whether my reading ranked them."""

    items: list[ArrivalOut]  # stated again: Litestar does not carry a generic base's item type to a subclass
    personal: bool
    """False: newest first (personal picks are off, or nothing I borrowed matches them)."""
