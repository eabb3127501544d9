"""A reader's choice about personal recommendations (PIPL art. 24): the only row the recommender keeps per reader."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from backend.accounts.models import Reader


class RecommendationSetting(Model):
    """Whether a card gets personal picks. No row: the default of its kind (`consent.personal_by_default`)."""

    id = fields.IntField(primary_key=True)
    reader: fields.OneToOneRelation[Reader] = fields.OneToOneField(
        "models.Reader", related_name="recommendation_setting", on_delete=fields.CASCADE
    )
    reader_id: int
    personal = fields.BooleanField()
    changed_at = fields.DatetimeField()

    class Meta:
        table = "recommendation_setting"
