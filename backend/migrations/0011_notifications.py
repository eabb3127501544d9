from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from notifications.models import DeliveryStatus, NoticeKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0010_events')]

    initial = False

    operations = [
        ops.CreateModel(
            name='NoticePreferences',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.OneToOneField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='notice_preferences', on_delete=OnDelete.CASCADE)),
                ('muted_kinds', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('quiet_from', fields.TimeField(null=True, auto_now=False, auto_now_add=False)),
                ('quiet_until', fields.TimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notice_preferences', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What a reader chose: kinds they want no push for (the inbox still has them) and quiet hours.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='messages_sent', on_delete=OnDelete.SET_NULL)),
                ('audience', fields.CharField(max_length=100)),
                ('title', fields.CharField(max_length=20)),
                ('body', fields.CharField(max_length=200)),
                ('recipients', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'staff_message', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A message staff sent to an audience. Its notices carry it, for the delivery report.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notice',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='notices', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='DUE_SOON: due_soon\nOVERDUE: overdue\nHOLD_READY: hold_ready\nHOLD_EXPIRING: hold_expiring\nSEAT_OFFERED: seat_offered\nEVENT_REMINDER: event_reminder\nEVENT_CHANGED: event_changed\nEVENT_CANCELLED: event_cancelled\nSTAFF_MESSAGE: staff_message', enum_type=NoticeKind, max_length=20)),
                ('key', fields.CharField(unique=True, max_length=200)),
                ('title', fields.CharField(max_length=40)),
                ('body', fields.CharField(max_length=500)),
                ('link', fields.CharField(default='', max_length=200)),
                ('values', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('message', fields.ForeignKeyField('models.StaffMessage', source_field='message_id', null=True, db_constraint=True, to_field='id', related_name='notices', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notice', 'app': 'models', 'indexes': [Index(fields=['reader_id', 'read_at', 'id'])], 'pk_attr': 'id', 'table_description': 'One notice to one reader, in their inbox from the moment it exists. `key` (kind, subject, reader,'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Delivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notice', fields.ForeignKeyField('models.Notice', source_field='notice_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=30)),
                ('status', fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: pending\nSENDING: sending\nSENT: sent\nFAILED: failed\nSKIPPED: skipped\nINTERRUPTED: interrupted', enum_type=DeliveryStatus, max_length=20)),
                ('not_before', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('attempts', fields.SmallIntField(default=0)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('error_code', fields.CharField(default='', max_length=30)),
                ('error_reason', fields.CharField(default='', max_length=200)),
            ],
            options={'table': 'delivery', 'app': 'models', 'unique_together': (('notice', 'channel'),), 'indexes': [Index(fields=['status', 'not_before'])], 'pk_attr': 'id', 'table_description': 'The delivery of a notice over one push channel. Recorded with the notice, claimed before the call and marked'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SubscribeGrant',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='subscribe_grants', on_delete=OnDelete.CASCADE)),
                ('template_id', fields.CharField(max_length=64)),
                ('remaining', fields.IntField(default=0)),
            ],
            options={'table': 'subscribe_grant', 'app': 'models', 'unique_together': (('reader', 'template_id'),), 'pk_attr': 'id', 'table_description': 'How many messages of a template a reader has authorised (each tap in the requestSubscribeMessage'},
            bases=['Model'],
        ),
    ]
