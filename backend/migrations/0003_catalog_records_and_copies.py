from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from backend.catalog.models import CopyStatus, ItemType
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_reader_card_counter')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Record',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('isbn13', fields.CharField(null=True, unique=True, max_length=13)),
                ('title', fields.CharField(max_length=500)),
                ('subtitle', fields.CharField(default='', max_length=500)),
                ('authors', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('publisher', fields.CharField(default='', max_length=200)),
                ('year', fields.SmallIntField(null=True, db_index=True)),
                ('clc_class', fields.CharField(default='', db_index=True, max_length=40)),
                ('subjects', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('language', fields.CharField(default='', max_length=8)),
                ('summary', fields.TextField(default='', unique=False)),
                ('cover_url', fields.CharField(default='', max_length=500)),
                ('audience_min_age', fields.SmallIntField(null=True)),
                ('audience_max_age', fields.SmallIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'record', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One title of the union catalogue (联合编目), shared by every library that holds a copy.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Copy',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('barcode', fields.CharField(unique=True, max_length=32)),
                ('record', fields.ForeignKeyField('models.Record', source_field='record_id', db_constraint=True, to_field='id', related_name='copies', on_delete=OnDelete.RESTRICT)),
                ('home_library', fields.ForeignKeyField('models.Library', source_field='home_library_id', db_constraint=True, to_field='id', related_name='owned_copies', on_delete=OnDelete.RESTRICT)),
                ('current_library', fields.ForeignKeyField('models.Library', source_field='current_library_id', db_constraint=True, to_field='id', related_name='present_copies', on_delete=OnDelete.RESTRICT)),
                ('shelf_location', fields.CharField(default='', max_length=60)),
                ('item_type', fields.CharEnumField(default=ItemType.BOOK, description='BOOK: book\nPICTURE_BOOK: picture_book\nPERIODICAL: periodical\nAUDIOVISUAL: audiovisual', enum_type=ItemType, max_length=20)),
                ('status', fields.CharEnumField(default=CopyStatus.AVAILABLE, db_index=True, description='AVAILABLE: available\nON_LOAN: on_loan\nIN_TRANSIT: in_transit\nON_HOLD_SHELF: on_hold_shelf\nLOST: lost\nIN_PROCESSING: in_processing\nWITHDRAWN: withdrawn', enum_type=CopyStatus, max_length=20)),
                ('floating', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'copy', 'app': 'models', 'indexes': [Index(fields=['record_id', 'current_library_id'])], 'pk_attr': 'id', 'table_description': 'A physical item with a barcode unique across the network. A floating copy stays where it is returned'},
            bases=['Model'],
        ),
    ]
