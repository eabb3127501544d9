"""Which subscribe-message template each notice kind uses, and its values cut to WeChat's field rules.

The mapping is configuration (`SHUXIANG_WECHAT_TEMPLATES_PATH`, a JSON file shaped like `templates.json` beside this
module): each kind names its template id (chosen in the mini-program's admin console, so it differs per account),
the page a tap opens, and each template keyword's value as a pattern over the notice's values ("{title}"). A kind
without a template id is not pushed; its notices are in the inbox as always.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from notifications.models import NoticeKind

SHIPPED = Path(__file__).with_name("templates.json")
_KEYWORD = re.compile(r"([a-z_]+?)(\d+)")
# WeChat's limits per keyword type (subscribe messages, 2024 rules): longer values are refused with 47003.
_LIMITS = {
    "thing": 20,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "phone_number": 17,
    "car_number": 8,
    "name": 10,
    "phrase": 5,
}
_NOT_CJK = re.compile(r"[^\u4e00-\u9fff]")
_NOT_STRING = re.compile(r"[^0-9A-Za-z!-/:-@\[-`{-~]")


@dataclass(frozen=True, slots=True)
class Template:
    template_id: str
    page: str
    data: dict[str, str]  # keyword -> pattern over the notice's values

    def render(self, values: dict[str, str]) -> dict[str, dict[str, str]]:
        """The `data` of a send: each keyword's value filled in and cut to its type's rule."""
        return {
            keyword: {"value": fit(keyword, string.Formatter().vformat(pattern, (), _Missing(values)))}
            for keyword, pattern in self.data.items()
        }


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "-"  # WeChat refuses empty values


def fit(keyword: str, value: str) -> str:
    """A value made acceptable for the keyword's type (thing1, phrase3, time2...)."""
    match = _KEYWORD.fullmatch(keyword)
    kind = match.group(1) if match else keyword
    value = " ".join(value.split()) or "-"
    if kind == "phrase":  # Chinese characters only, five at most
        value = _NOT_CJK.sub("", value) or "通知"
    elif kind == "character_string":
        value = _NOT_STRING.sub("", value) or "-"
    limit = _LIMITS.get(kind)
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…" if kind == "thing" else value[:limit]
    return value


def wechat_time(moment: datetime) -> str:
    """The `time` and `date` keywords' format: 2026年12月05日 14:00."""
    return moment.strftime("%Y年%m月%d日 %H:%M")


def wechat_date(moment: datetime) -> str:
    return moment.strftime("%Y年%m月%d日")


def load(path: Path | None) -> dict[NoticeKind, Template]:
    raw = json.loads((path or SHIPPED).read_text(encoding="utf-8"))
    return {
        NoticeKind(kind): Template(spec["template_id"], spec["page"], dict(spec["data"]))
        for kind, spec in raw.items()
        if spec.get("template_id")
    }
