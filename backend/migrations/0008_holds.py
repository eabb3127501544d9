from tortoise import migrations
from tortoise.migrations import operations as ops
from backend.circulation.models import HoldStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from typing import Any

_STATEMENTS = [
    # One active hold per reader and title; an assigned copy serves one active hold.
    "CREATE UNIQUE INDEX hold_active_per_reader_and_title ON hold (reader_id, record_id) "
    "WHERE status IN ('waiting', 'in_transit', 'ready')",
    "CREATE UNIQUE INDEX hold_active_per_copy ON hold (copy_id) WHERE status IN ('in_transit', 'ready')",
    # Before holds, a copy in transit could only be going home.
    "UPDATE copy SET in_transit_to_id = home_library_id WHERE status = 'in_transit'",
]


async def create_indexes(apps: Any, schema_editor: Any) -> None:
    for statement in _STATEMENTS:
        await schema_editor.client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [('models', '0007_circulation')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Hold',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='holds', on_delete=OnDelete.CASCADE)),
                ('record', fields.ForeignKeyField('models.Record', source_field='record_id', db_constraint=True, to_field='id', related_name='holds', on_delete=OnDelete.RESTRICT)),
                ('pickup_library', fields.ForeignKeyField('models.Library', source_field='pickup_library_id', db_constraint=True, to_field='id', related_name='holds_to_pick_up', on_delete=OnDelete.RESTRICT)),
                ('status', fields.CharEnumField(default=HoldStatus.WAITING, description='WAITING: waiting\nIN_TRANSIT: in_transit\nREADY: ready\nFULFILLED: fulfilled\nCANCELLED: cancelled\nEXPIRED: expired', enum_type=HoldStatus, max_length=20)),
                ('placed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('suspended_until', fields.DateField(null=True)),
                ('copy', fields.ForeignKeyField('models.Copy', source_field='copy_id', null=True, db_constraint=True, to_field='id', related_name='holds', on_delete=OnDelete.RESTRICT)),
                ('ready_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'hold', 'app': 'models', 'indexes': [Index(fields=['record_id', 'status', 'placed_at']), Index(fields=['pickup_library_id', 'status'])], 'pk_attr': 'id', 'table_description': "A reader's title-level hold (预约), picked up at any library that offers pickup. The queue is first come,"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Copy',
            name='in_transit_to',
            field=fields.ForeignKeyField('models.Library', source_field='in_transit_to_id', null=True, db_constraint=True, to_field='id', related_name='copies_on_their_way', on_delete=OnDelete.RESTRICT),
        ),
        ops.RunPython(create_indexes),
    ]
