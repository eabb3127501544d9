from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from backend.counter.models import LookupAction, LookupBy
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

# The log of staff look-ups of readers (backend/counter), and an index for finding readers by the start of their name.
# The index is on the expression Tortoise's `name__istartswith` filters on, UPPER(CAST(name AS VARCHAR)), with
# pattern operators so that LIKE 'prefix%' walks it whatever the database's collation; the search plans with its
# value (force_custom_plan), since a generic plan cannot use an index for LIKE $1.
_NAME_PREFIX = (
    "CREATE INDEX reader_name_prefix ON reader (UPPER(CAST(name AS VARCHAR)) varchar_pattern_ops)",
    "DROP INDEX reader_name_prefix",
)


class Migration(migrations.Migration):
    dependencies = [("models", "0005_import_jobs")]

    initial = False

    operations = [
        ops.CreateModel(
            name='ReaderLookup',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', db_constraint=True, to_field='id', related_name='reader_lookups', on_delete=OnDelete.RESTRICT)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='reader_lookups', on_delete=OnDelete.RESTRICT)),
                ('action', fields.CharEnumField(description='SEARCH: search\nVIEW: view\nVERIFY: verify\nCREDIT: credit\nREPLACE: replace', enum_type=LookupAction, max_length=10)),
                ('looked_up_by', fields.CharEnumField(description='CARD_NUMBER: card_number\nPHONE: phone\nNAME: name', enum_type=LookupBy, max_length=20)),
                ('query_digest', fields.CharField(max_length=64)),
                ('reader_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('children_shown', fields.BooleanField()),
                ('outside_scope', fields.BooleanField()),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'reader_lookup', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One look-up of readers by a staff member: what was asked (its kind and a keyed hash of it, never the phone or'},
            bases=['Model'],
        ),
        ops.RunSQL(_NAME_PREFIX[0], reverse_sql=_NAME_PREFIX[1]),
    ]
