"""Subscribe-message templates for the WeChat stand-in: the shipped notice mapping, each kind given a made-up id."""

from __future__ import annotations

import json
from pathlib import Path

from notifications import templates
from notifications.models import NoticeKind


def template_id(kind: NoticeKind) -> str:
    """The id the stand-in's app gives the template of this notice kind."""
    return f"tmpl-{kind.value}"


def write_templates(path: Path) -> Path:
    """The shipped mapping with a template id for every kind, as an installation's configuration would be
    (`SHUXIANG_WECHAT_TEMPLATES_PATH` may point at the file written)."""
    raw = json.loads(templates.SHIPPED.read_text(encoding="utf-8"))
    for kind, spec in raw.items():
        spec["template_id"] = template_id(NoticeKind(kind))
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    return path
