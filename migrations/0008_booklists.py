from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from backend.booklists.models import BooklistAudience, BooklistStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint


# Curated reading lists (书单): the list, the libraries it is meant for, its records in order with notes, the readers
# who opened it, and its pushes as staff messages with the cards each reached (when they opened the list and borrowed a
# listed book within the report's window), so a push's report counts what it could have caused; when the window closes
# the counts are kept on the push and the per-reader rows deleted. A staff message (a push is one) keeps the client's
# request id, unique per staff member, so a retried send finds the first message instead of sending another.


class Migration(migrations.Migration):
    dependencies = [("models", "0007_lost_cards")]

    initial = False

    operations = [
        ops.CreateModel(
            name='Booklist',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='booklists', on_delete=OnDelete.RESTRICT)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='booklists', on_delete=OnDelete.SET_NULL)),
                ('title', fields.CharField(max_length=40)),
                ('description', fields.CharField(default='', max_length=1000)),
                ('cover_url', fields.CharField(default='', max_length=500)),
                ('audience', fields.CharEnumField(default=BooklistAudience.EVERYONE, description='EVERYONE: everyone\nADULTS: adults\nCHILDREN: children', enum_type=BooklistAudience, max_length=10)),
                ('min_age_months', fields.SmallIntField(null=True)),
                ('max_age_months', fields.SmallIntField(null=True)),
                ('status', fields.CharEnumField(default=BooklistStatus.DRAFT, description='DRAFT: draft\nPUBLISHED: published\nRETIRED: retired', enum_type=BooklistStatus, max_length=10)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('published_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('retired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('opened_earlier', fields.IntField(default=0)),
            ],
            options={'table': 'booklist', 'app': 'models', 'indexes': [Index(fields=['status', 'published_at', 'id'])], 'pk_attr': 'id', 'table_description': 'A list staff curate, owned by a library (staff of that library and above edit it), meant for readers of its'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BooklistEntry',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('booklist', fields.ForeignKeyField('models.Booklist', source_field='booklist_id', db_constraint=True, to_field='id', related_name='entries', on_delete=OnDelete.CASCADE)),
                ('record', fields.ForeignKeyField('models.Record', source_field='record_id', db_constraint=True, to_field='id', related_name='booklist_entries', on_delete=OnDelete.RESTRICT)),
                ('position', fields.SmallIntField()),
                ('note', fields.CharField(default='', max_length=200)),
            ],
            options={'table': 'booklist_entry', 'app': 'models', 'unique_together': (('booklist', 'record'),), 'indexes': [Index(fields=['booklist_id', 'position'])], 'pk_attr': 'id', 'table_description': "A record on a list, at its place, with the curator's note."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BooklistLibrary',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('booklist', fields.ForeignKeyField('models.Booklist', source_field='booklist_id', db_constraint=True, to_field='id', related_name='audience_libraries', on_delete=OnDelete.CASCADE)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='booklist_audiences', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'booklist_library', 'app': 'models', 'unique_together': (('booklist', 'library'),), 'indexes': [Index(fields=['library_id', 'booklist_id'])], 'pk_attr': 'id', 'table_description': 'A library whose readers (it and everything below it) a list is meant for.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BooklistOpen',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('booklist', fields.ForeignKeyField('models.Booklist', source_field='booklist_id', db_constraint=True, to_field='id', related_name='opens', on_delete=OnDelete.CASCADE)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='booklist_opens', on_delete=OnDelete.CASCADE)),
                ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'booklist_open', 'app': 'models', 'unique_together': (('booklist', 'reader'),), 'pk_attr': 'id', 'table_description': "A reader opened a list (the first time within the report's window): how far a list reached. Purged once older"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BooklistPush',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('booklist', fields.ForeignKeyField('models.Booklist', source_field='booklist_id', db_constraint=True, to_field='id', related_name='pushes', on_delete=OnDelete.CASCADE)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='booklist_pushes', on_delete=OnDelete.RESTRICT)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='booklist_pushes', on_delete=OnDelete.SET_NULL)),
                ('message_id', fields.IntField(unique=True)),
                ('record_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('recipients', fields.IntField()),
                ('pushed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('settled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('opened', fields.IntField(null=True)),
                ('held', fields.IntField(null=True)),
                ('borrowed', fields.IntField(null=True)),
                ('acted', fields.IntField(null=True)),
            ],
            options={'table': 'booklist_push', 'app': 'models', 'indexes': [Index(fields=['booklist_id', 'pushed_at', 'id'])], 'pk_attr': 'id', 'table_description': 'A list sent to its audience as a staff message. The cards reached and the records listed are kept as they were'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BooklistPushReader',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('push', fields.ForeignKeyField('models.BooklistPush', source_field='push_id', db_constraint=True, to_field='id', related_name='readers', on_delete=OnDelete.CASCADE)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='booklist_pushes_received', on_delete=OnDelete.CASCADE)),
                ('recipient', fields.ForeignKeyField('models.Reader', source_field='recipient_id', db_constraint=True, to_field='id', related_name='booklist_pushes_told', on_delete=OnDelete.CASCADE)),
                ('opened_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('borrowed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'booklist_push_reader', 'app': 'models', 'unique_together': (('push', 'reader'),), 'indexes': [Index(fields=['recipient_id', 'opened_at']), Index(fields=['reader_id', 'borrowed_at'])], 'pk_attr': 'id', 'table_description': "A card a push was meant for, and who was told (the reader, or a child's guardian). Within the report's window"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='StaffMessage',
            name='idempotency_key',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddConstraint(
            model_name='StaffMessage',
            constraint=UniqueConstraint(fields=('staff', 'idempotency_key'), name=None),
        ),
    ]
