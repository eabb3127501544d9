"""A pick's reason in the reader's words: Chinese by default, English on request."""

from __future__ import annotations

from collections.abc import Mapping

from recommendations.data import AGE_BANDS
from recommendations.reasons import Reason, ReasonKind

_BAND_NAMES = frozenset(band.name for band in AGE_BANDS)


def render(reason: Reason, titles: Mapping[int, str], language: str) -> str:
    """The sentence shown under a pick; `titles` names the records of the reader's own history it may cite."""
    en = language == "en"
    match reason.kind:
        case ReasonKind.BORROWED if reason.record is not None and int(reason.record) in titles:
            title = titles[int(reason.record)]
            return f"Because you borrowed “{title}”" if en else f"因为你借过《{title}》"
        case ReasonKind.BORROWED:
            return "Readers like you borrowed it" if en else "和你口味相近的读者借过"
        case ReasonKind.SAME_AUTHOR:
            return f"By {reason.author}, whom you have read" if en else f"你读过{reason.author}的书"
        case ReasonKind.SAME_CLASS:
            return f"Like the {reason.subject} books you often read" if en else f"与你常读的 {reason.subject} 同类"
        case ReasonKind.POPULAR_RECENTLY:
            return _popular_recently(reason.segment, en)
        case ReasonKind.POPULAR:
            return "Popular all along" if en else "一直很受欢迎"
    return "Recommended" if en else "推荐"


def render_arrival(reason: Reason | None, titles: Mapping[int, str], language: str) -> str:
    """The sentence under a new arrival: why it matches the reader's reading, or only that it is new."""
    if reason is None:
        return "New at your library" if language == "en" else "新到馆"
    return render(reason, titles, language)


def _popular_recently(segment: tuple[str, str] | None, en: bool) -> str:
    if segment is not None and segment[0] == "library":
        return "Popular lately at your library" if en else "本馆近期热门"
    if segment is not None and segment[0] == "card" and segment[1] == "child":
        return "Popular lately with young readers" if en else "小读者近期热门"
    if segment is not None and segment[0] == "age_band" and segment[1] in _BAND_NAMES:
        # A band's name is its ages in years: "3-6", or "12+" with no upper end.
        years = segment[1]
        if years.endswith("+"):
            low = years.removesuffix("+")
            return f"Popular lately with readers aged {low} and over" if en else f"{low} 岁以上小读者近期热门"
        return f"Popular lately with readers aged {years}" if en else f"{years} 岁小读者近期热门"
    return "Popular lately" if en else "近期热门"


def cited_records(reasons: list[Reason]) -> set[int]:
    """The records the reasons name, whose titles `render` needs."""
    return {int(r.record) for r in reasons if r.kind == ReasonKind.BORROWED and r.record is not None}
