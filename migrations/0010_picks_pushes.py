from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# Personal-picks pushes: the records each reader was sent, for the push's report. A push is a staff message to
# `picks:<library>` (one row per message); each card it reached keeps whom it told and the records named to it, and
# when either card first borrowed one within the report's window. When the window closes the counts are kept on the
# push and the per-card rows deleted, as a reading list's push does (migration 0008).


class Migration(migrations.Migration):
    dependencies = [("models", "0009_recommendations")]

    initial = False

    operations = [
        ops.CreateModel(
            name='PicksPush',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='picks_pushes', on_delete=OnDelete.RESTRICT)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='picks_pushes', on_delete=OnDelete.SET_NULL)),
                ('message', fields.OneToOneField('models.StaffMessage', source_field='message_id', db_constraint=True, to_field='id', related_name='picks_push', on_delete=OnDelete.CASCADE)),
                ('recipients', fields.IntField()),
                ('cards', fields.IntField()),
                ('pushed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('settled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('opened', fields.IntField(null=True)),
                ('held', fields.IntField(null=True)),
                ('borrowed', fields.IntField(null=True)),
                ('acted', fields.IntField(null=True)),
            ],
            options={'table': 'picks_push', 'app': 'models', 'indexes': [Index(fields=['pushed_at', 'id'])], 'pk_attr': 'id', 'table_description': "A message of each reader's own picks (`picks:<library>`). The cards reached and the records each was pushed are"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PicksPushReader',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('push', fields.ForeignKeyField('models.PicksPush', source_field='push_id', db_constraint=True, to_field='id', related_name='readers', on_delete=OnDelete.CASCADE)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='picks_pushes_received', on_delete=OnDelete.CASCADE)),
                ('recipient', fields.ForeignKeyField('models.Reader', source_field='recipient_id', db_constraint=True, to_field='id', related_name='picks_pushes_told', on_delete=OnDelete.CASCADE)),
                ('record_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('borrowed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'picks_push_reader', 'app': 'models', 'unique_together': (('push', 'reader'),), 'indexes': [Index(fields=['reader_id', 'borrowed_at']), Index(fields=['recipient_id', 'borrowed_at'])], 'pk_attr': 'id', 'table_description': "A card a picks push reached, whom it told (the reader, or a child's guardian), the records it named for that"},
            bases=['Model'],
        ),
    ]
