from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from backend.accounts.models import StaffRole
from backend.counter.models import LookupAction, LookupBy
from backend.newborn.models import ConsentEnd, EnrolmentChannel, PartnerKind, ReadingSource, ReservationStatus, StockMovementKind
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint


# The newborn reading programme (阅享宝贝): programmes and their stages by age in months, gift-pack types, partner
# hospitals and health centres with their wards and their enrollers (staff accounts of role `enroller` tied to a
# partner), enrolments with the guardian's separate consent (the consent row names no child, so it stays as the record
# of consent when the enrolment is deleted), the packs' stock per library with its ledger, one pack reservation per
# enrolment and stage, the child's reading record and milestones. A reader may record a date of birth (the day the
# stages count from); one child card per guardian, name and date of birth, and one enrolment per child card, so the
# same child is never enrolled twice. Staff reads of enrolments join the look-up log.
#
# Enrolments are counted per programme, partner (none: in the app), library and month, one row per key whether or not
# a partner is named: UNIQUE NULLS NOT DISTINCT, which the models cannot declare.
#
# The CHECK constraints each follow their table as an AddConstraint: CreateModel records a model's constraints in the
# state but does not create them in the database.
_TALLY_KEY = (
    "ALTER TABLE newborn_enrolment_tally ADD CONSTRAINT newborn_enrolment_tally_key "
    "UNIQUE NULLS NOT DISTINCT (programme_id, partner_id, library_id, month)",
    "ALTER TABLE newborn_enrolment_tally DROP CONSTRAINT newborn_enrolment_tally_key",
)


class Migration(migrations.Migration):
    dependencies = [('models', '0010_picks_pushes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PackType',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('description', fields.CharField(default='', max_length=500)),
                ('contents', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pack_type', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A kind of gift pack the network hands out (a newborn pack: cloth book, picture books, the reading record, a'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PackStock',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='pack_stock', on_delete=OnDelete.RESTRICT)),
                ('pack_type', fields.ForeignKeyField('models.PackType', source_field='pack_type_id', db_constraint=True, to_field='id', related_name='stock', on_delete=OnDelete.RESTRICT)),
                ('on_hand', fields.IntField(default=0)),
                ('reserved', fields.IntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pack_stock', 'app': 'models', 'unique_together': (('library', 'pack_type'),), 'pk_attr': 'id', 'table_description': 'The packs of one type at one library: `on_hand` are there, `reserved` are promised to families. Reservations'},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='PackStock',
            constraint=CheckConstraint(check='on_hand >= 0', name='pack_stock_on_hand_not_negative'),
        ),
        ops.AddConstraint(
            model_name='PackStock',
            constraint=CheckConstraint(check='reserved >= 0', name='pack_stock_reserved_not_negative'),
        ),
        ops.CreateModel(
            name='Programme',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=40)),
                ('description', fields.CharField(default='', max_length=1000)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='newborn_programmes', on_delete=OnDelete.RESTRICT)),
                ('active', fields.BooleanField(default=True)),
                ('reservation_days', fields.SmallIntField(default=60)),
                ('retention_days', fields.SmallIntField(default=365)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'newborn_programme', 'app': 'models', 'pk_attr': 'id', 'table_description': "A reading programme for babies run by a library for its part of the network (the central library's is the"},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='Programme',
            constraint=CheckConstraint(check='reservation_days > 0 AND retention_days >= 0', name='newborn_programme_days_positive'),
        ),
        ops.CreateModel(
            name='ConsentText',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('programme', fields.ForeignKeyField('models.Programme', source_field='programme_id', db_constraint=True, to_field='id', related_name='consent_texts', on_delete=OnDelete.RESTRICT)),
                ('version', fields.SmallIntField()),
                ('text', fields.TextField(unique=False)),
                ('purpose', fields.CharField(max_length=500)),
                ('retention', fields.CharField(max_length=200)),
                ('person_responsible', fields.CharField(max_length=100)),
                ('published_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'newborn_consent_text', 'app': 'models', 'unique_together': (('programme', 'version'),), 'pk_attr': 'id', 'table_description': "A version of the consent a guardian gives for the child's data (PIPL art. 28, 29, 31): what is processed, for"},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='ConsentText',
            constraint=CheckConstraint(check='version >= 1', name='newborn_consent_text_version'),
        ),
        ops.CreateModel(
            name='Consent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('guardian', fields.ForeignKeyField('models.Reader', source_field='guardian_id', db_constraint=True, to_field='id', related_name='newborn_consents', on_delete=OnDelete.CASCADE)),
                ('text', fields.ForeignKeyField('models.ConsentText', source_field='text_id', db_constraint=True, to_field='id', related_name='consents', on_delete=OnDelete.RESTRICT)),
                ('given_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ended_by', fields.CharEnumField(null=True, description='WITHDRAWN: withdrawn\nRETENTION: retention\nCARD_CLOSED: card_closed', enum_type=ConsentEnd, max_length=20)),
            ],
            options={'table': 'newborn_consent', 'app': 'models', 'pk_attr': 'id', 'table_description': "The guardian's separate consent to the child's data being processed in the programme: which text, when, and"},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='Consent',
            constraint=CheckConstraint(check='(ended_at IS NULL) = (ended_by IS NULL)', name='newborn_consent_ended'),
        ),
        ops.CreateModel(
            name='Partner',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('programme', fields.ForeignKeyField('models.Programme', source_field='programme_id', db_constraint=True, to_field='id', related_name='partners', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(unique=True, max_length=100)),
                ('kind', fields.CharEnumField(description='HOSPITAL: hospital\nHEALTH_CENTRE: health_centre', enum_type=PartnerKind, max_length=20)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='newborn_partners', on_delete=OnDelete.RESTRICT)),
                ('address', fields.CharField(default='', max_length=200)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'newborn_partner', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A hospital or community health centre that enrols newborn families for a programme. Its enrollers are staff'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EnrolmentTally',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('programme', fields.ForeignKeyField('models.Programme', source_field='programme_id', db_constraint=True, to_field='id', related_name='tallies', on_delete=OnDelete.CASCADE)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', null=True, db_constraint=True, to_field='id', related_name='tallies', on_delete=OnDelete.CASCADE)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='newborn_tallies', on_delete=OnDelete.CASCADE)),
                ('month', fields.DateField()),
                ('enrolled', fields.IntField(default=0)),
                ('withdrawn', fields.IntField(default=0)),
            ],
            options={'table': 'newborn_enrolment_tally', 'app': 'models', 'pk_attr': 'id', 'table_description': "Enrolments counted per programme, partner (none: in the app), collection library and month of the network's"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Stage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('programme', fields.ForeignKeyField('models.Programme', source_field='programme_id', db_constraint=True, to_field='id', related_name='stages', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=20)),
                ('min_age_months', fields.SmallIntField()),
                ('max_age_months', fields.SmallIntField()),
                ('pack_type', fields.ForeignKeyField('models.PackType', source_field='pack_type_id', db_constraint=True, to_field='id', related_name='stages', on_delete=OnDelete.RESTRICT)),
                ('booklist', fields.ForeignKeyField('models.Booklist', source_field='booklist_id', null=True, db_constraint=True, to_field='id', related_name='newborn_stages', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'newborn_stage', 'app': 'models', 'pk_attr': 'id', 'table_description': "An age band of a programme, in whole months on the network's calendar (`ages.age_in_months`): from"},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='Stage',
            constraint=CheckConstraint(check='min_age_months >= 0 AND max_age_months > min_age_months AND max_age_months <= 168', name='newborn_stage_ages'),
        ),
        ops.CreateModel(
            name='Ward',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='wards', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=40)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'newborn_ward', 'app': 'models', 'unique_together': (('partner', 'name'),), 'pk_attr': 'id', 'table_description': 'A ward or clinic of a partner, with its own printed mini-program code: the code names the ward, so a code'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Enrolment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('programme', fields.ForeignKeyField('models.Programme', source_field='programme_id', db_constraint=True, to_field='id', related_name='enrolments', on_delete=OnDelete.RESTRICT)),
                ('child', fields.OneToOneField('models.Reader', source_field='child_id', db_constraint=True, to_field='id', related_name='newborn_enrolment', on_delete=OnDelete.CASCADE)),
                ('guardian', fields.ForeignKeyField('models.Reader', source_field='guardian_id', db_constraint=True, to_field='id', related_name='newborn_enrolments', on_delete=OnDelete.CASCADE)),
                ('consent', fields.OneToOneField('models.Consent', source_field='consent_id', db_constraint=True, to_field='id', related_name='enrolment', on_delete=OnDelete.RESTRICT)),
                ('channel', fields.CharEnumField(description='PARTNER: partner\nAPP: app', enum_type=EnrolmentChannel, max_length=10)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', null=True, db_constraint=True, to_field='id', related_name='enrolments', on_delete=OnDelete.RESTRICT)),
                ('ward', fields.ForeignKeyField('models.Ward', source_field='ward_id', null=True, db_constraint=True, to_field='id', related_name='enrolments', on_delete=OnDelete.SET_NULL)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='newborn_enrolments', on_delete=OnDelete.RESTRICT)),
                ('stage', fields.ForeignKeyField('models.Stage', source_field='stage_id', null=True, db_constraint=True, to_field='id', related_name='enrolments', on_delete=OnDelete.RESTRICT)),
                ('enrolled_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'newborn_enrolment', 'app': 'models', 'indexes': [Index(fields=['partner_id', 'enrolled_at']), Index(fields=['library_id', 'enrolled_at'])], 'pk_attr': 'id', 'table_description': 'A child enrolled in a programme: the programme record. One per child card (unique here), and one child card per'},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='Enrolment',
            constraint=CheckConstraint(check="(channel = 'partner') = (partner_id IS NOT NULL)", name='newborn_enrolment_partner_channel'),
        ),
        ops.CreateModel(
            name='Milestone',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('enrolment', fields.ForeignKeyField('models.Enrolment', source_field='enrolment_id', db_constraint=True, to_field='id', related_name='milestones', on_delete=OnDelete.CASCADE)),
                ('books', fields.SmallIntField()),
                ('reached_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'newborn_milestone', 'app': 'models', 'unique_together': (('enrolment', 'books'),), 'pk_attr': 'id', 'table_description': 'A number of books read reached ("1,000 books before kindergarten": 10, 50, 100, 500, 1,000), once per child and'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PackReservation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('enrolment', fields.ForeignKeyField('models.Enrolment', source_field='enrolment_id', db_constraint=True, to_field='id', related_name='reservations', on_delete=OnDelete.CASCADE)),
                ('stage', fields.ForeignKeyField('models.Stage', source_field='stage_id', db_constraint=True, to_field='id', related_name='reservations', on_delete=OnDelete.RESTRICT)),
                ('pack_type', fields.ForeignKeyField('models.PackType', source_field='pack_type_id', db_constraint=True, to_field='id', related_name='reservations', on_delete=OnDelete.RESTRICT)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='pack_reservations', on_delete=OnDelete.RESTRICT)),
                ('status', fields.CharEnumField(default=ReservationStatus.RESERVED, description='RESERVED: reserved\nCLAIMED: claimed\nLAPSED: lapsed', enum_type=ReservationStatus, max_length=10)),
                ('reserved_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('claimed_library', fields.ForeignKeyField('models.Library', source_field='claimed_library_id', null=True, db_constraint=True, to_field='id', related_name='pack_claims', on_delete=OnDelete.RESTRICT)),
                ('claimed_by', fields.ForeignKeyField('models.StaffUser', source_field='claimed_by_id', null=True, db_constraint=True, to_field='id', related_name='pack_claims', on_delete=OnDelete.SET_NULL)),
                ('lapsed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pack_reservation', 'app': 'models', 'unique_together': (('enrolment', 'stage'),), 'indexes': [Index(fields=['status', 'expires_at']), Index(fields=['library_id', 'status'])], 'pk_attr': 'id', 'table_description': "A stage's pack set aside for an enrolled child at the family's library. One per enrolment and stage, whatever"},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='PackReservation',
            constraint=CheckConstraint(check="(status = 'claimed') = (claimed_at IS NOT NULL AND claimed_library_id IS NOT NULL)", name='pack_reservation_claimed'),
        ),
        ops.CreateModel(
            name='ReadingLogEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('enrolment', fields.ForeignKeyField('models.Enrolment', source_field='enrolment_id', db_constraint=True, to_field='id', related_name='reading_log', on_delete=OnDelete.CASCADE)),
                ('source', fields.CharEnumField(description='LOAN: loan\nCATALOGUE: catalogue\nISBN: isbn\nFREE_TEXT: free_text', enum_type=ReadingSource, max_length=10)),
                ('record', fields.ForeignKeyField('models.Record', source_field='record_id', null=True, db_constraint=True, to_field='id', related_name='newborn_reading', on_delete=OnDelete.SET_NULL)),
                ('loan', fields.OneToOneField('models.Loan', source_field='loan_id', null=True, db_constraint=True, to_field='id', related_name='newborn_reading', on_delete=OnDelete.SET_NULL)),
                ('isbn13', fields.CharField(null=True, max_length=13)),
                ('title', fields.CharField(max_length=200)),
                ('read_on', fields.DateField()),
                ('minutes', fields.SmallIntField(null=True)),
                ('note', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'newborn_reading', 'app': 'models', 'indexes': [Index(fields=['enrolment_id', 'read_on', 'id']), Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': "A book read with the child (阅读档案): borrowed on the child's card, or read at home and logged by the parent."},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='ReadingLogEntry',
            constraint=CheckConstraint(check='minutes IS NULL OR minutes BETWEEN 1 AND 1440', name='newborn_reading_minutes'),
        ),
        ops.AddConstraint(
            model_name='ReadingLogEntry',
            constraint=CheckConstraint(check="title <> ''", name='newborn_reading_title'),
        ),
        ops.CreateModel(
            name='StockMovement',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='pack_movements', on_delete=OnDelete.RESTRICT)),
                ('pack_type', fields.ForeignKeyField('models.PackType', source_field='pack_type_id', db_constraint=True, to_field='id', related_name='movements', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(description='RECEIVE: receive\nADJUST: adjust\nTRANSFER: transfer\nRESERVE: reserve\nCLAIM: claim\nLAPSE: lapse\nCANCEL: cancel', enum_type=StockMovementKind, max_length=10)),
                ('on_hand_change', fields.IntField(default=0)),
                ('reserved_change', fields.IntField(default=0)),
                ('reason', fields.CharField(default='', max_length=200)),
                ('counterpart', fields.ForeignKeyField('models.Library', source_field='counterpart_id', null=True, db_constraint=True, to_field='id', related_name='pack_movements_from_elsewhere', on_delete=OnDelete.RESTRICT)),
                ('stage', fields.ForeignKeyField('models.Stage', source_field='stage_id', null=True, db_constraint=True, to_field='id', related_name='pack_movements', on_delete=OnDelete.SET_NULL)),
                ('reservation', fields.ForeignKeyField('models.PackReservation', source_field='reservation_id', null=True, db_constraint=True, to_field='id', related_name='movements', on_delete=OnDelete.SET_NULL)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='pack_movements', on_delete=OnDelete.SET_NULL)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pack_movement', 'app': 'models', 'indexes': [Index(fields=['library_id', 'pack_type_id', 'at']), Index(fields=['reservation_id'])], 'pk_attr': 'id', 'table_description': 'One line of the pack ledger of a library and pack type, written in the transaction that changes its'},
            bases=['Model'],
        ),
        ops.AddConstraint(
            model_name='StockMovement',
            constraint=CheckConstraint(check="kind <> 'adjust' OR reason <> ''", name='pack_movement_adjust_reason'),
        ),
        ops.AddConstraint(
            model_name='StockMovement',
            constraint=CheckConstraint(check="(kind = 'transfer') = (counterpart_id IS NOT NULL)", name='pack_movement_transfer_counterpart'),
        ),
        ops.AddField(
            model_name='Reader',
            name='date_of_birth',
            field=fields.DateField(null=True),
        ),
        ops.AddConstraint(
            model_name='Reader',
            constraint=UniqueConstraint(fields=('guardian', 'name', 'date_of_birth'), name=None),
        ),
        ops.AlterField(
            model_name='ReaderLookup',
            name='action',
            field=fields.CharEnumField(description='SEARCH: search\nVIEW: view\nVERIFY: verify\nCREDIT: credit\nREPLACE: replace\nNEWBORN: newborn', enum_type=LookupAction, max_length=10),
        ),
        ops.AlterField(
            model_name='ReaderLookup',
            name='looked_up_by',
            field=fields.CharEnumField(description='CARD_NUMBER: card_number\nPHONE: phone\nNAME: name\nENROLMENT: enrolment', enum_type=LookupBy, max_length=20),
        ),
        ops.AlterField(
            model_name='StaffUser',
            name='role',
            field=fields.CharEnumField(description='NETWORK_ADMIN: network_admin\nLIBRARY_ADMIN: library_admin\nLIBRARIAN: librarian\nENROLLER: enroller', enum_type=StaffRole, max_length=20),
        ),
        ops.AddField(
            model_name='StaffUser',
            name='partner',
            field=fields.ForeignKeyField('models.Partner', source_field='partner_id', null=True, db_constraint=True, to_field='id', related_name='enrollers', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddConstraint(
            model_name='StaffUser',
            constraint=CheckConstraint(check="(role = 'enroller') = (partner_id IS NOT NULL)", name='staff_user_enroller_partner'),
        ),
        ops.RunSQL(_TALLY_KEY[0], reverse_sql=_TALLY_KEY[1]),
    ]
