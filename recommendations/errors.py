"""Errors of the recommendations."""

from __future__ import annotations

from backend.errors import InvalidInput


class PlaceInvalid(InvalidInput):
    """A "near me" asked by halves: a filter quietly dropped would answer a question the reader never asked."""

    code = "recommendation_place_invalid"
    message_zh = "位置条件不完整或相互矛盾：{problem}"
    message_en = "Incomplete or conflicting place: {problem}"
