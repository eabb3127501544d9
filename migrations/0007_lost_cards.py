from tortoise import migrations
from tortoise.migrations import operations as ops
from backend.accounts.models import CardRetiredBy
from tortoise.fields.base import OnDelete
from tortoise import fields

# A card reported lost gets a new number; the old one is kept in `retired_card` (unique: retired once, by whom and
# when), so a desk typing or scanning it is told the card was reported lost. Numbers come from a counter that only
# grows, so none is issued twice; the trigger refuses a reader row taking a retired number all the same (the
# counter set back by hand, readers imported with their old numbers), which would make a lost card work again.
#
# A reader's session generation: ending their sessions moves it on, and an access token of an older generation is
# refused at once.
_NEVER_REISSUED = [
    "CREATE FUNCTION reader_card_number_not_retired() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF EXISTS (SELECT 1 FROM retired_card WHERE card_number = NEW.card_number) THEN "
    "RAISE EXCEPTION 'card number % was reported lost and cannot be issued again', NEW.card_number "
    "USING ERRCODE = 'unique_violation'; END IF; RETURN NEW; END $$",
    "CREATE TRIGGER reader_card_number_not_retired BEFORE INSERT OR UPDATE OF card_number ON reader "
    "FOR EACH ROW EXECUTE FUNCTION reader_card_number_not_retired()",
]


class Migration(migrations.Migration):
    dependencies = [("models", "0006_reader_lookup")]

    initial = False

    operations = [
        ops.CreateModel(
            name='RetiredCard',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('card_number', fields.CharField(unique=True, max_length=20)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='retired_cards', on_delete=OnDelete.CASCADE)),
                ('replaced_by', fields.CharField(max_length=20)),
                ('retired_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('retired_on', fields.DateField()),
                ('retired_by', fields.CharEnumField(description='READER: reader\nGUARDIAN: guardian\nSTAFF: staff', enum_type=CardRetiredBy, max_length=10)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='retired_cards', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'retired_card', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A card number reported lost and replaced: kept so that a desk typing or scanning it is told the card was'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Reader',
            name='session_generation',
            field=fields.IntField(db_default=0),
        ),
        ops.RunSQL(
            _NEVER_REISSUED,
            reverse_sql=[
                "DROP TRIGGER reader_card_number_not_retired ON reader",
                "DROP FUNCTION reader_card_number_not_retired()",
            ],
        ),
    ]
