from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# A reader's switch for personal recommendations (PIPL art. 24). No row means the default of the card's kind:
# on for adults, off for a child's card until the guardian turns it on (recommendations/consent.py).
# And loans by when they were lent: recent popularity (the training run's lists, and serving's count in PostgreSQL
# when Redis has none) and the readers who borrowed while a training ran read the last days or months of loans.
_LOAN_CHECKED_OUT_AT = (
    "CREATE INDEX loan_checked_out_at ON loan (checked_out_at)",
    "DROP INDEX loan_checked_out_at",
)


class Migration(migrations.Migration):
    dependencies = [("models", "0008_booklists")]

    initial = False

    operations = [
        ops.CreateModel(
            name='RecommendationSetting',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.OneToOneField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='recommendation_setting', on_delete=OnDelete.CASCADE)),
                ('personal', fields.BooleanField()),
                ('changed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'recommendation_setting', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Whether a card gets personal picks. No row: the default of its kind (`consent.personal_by_default`).'},
            bases=['Model'],
        ),
        ops.RunSQL(_LOAN_CHECKED_OUT_AT[0], reverse_sql=_LOAN_CHECKED_OUT_AT[1]),
    ]
