from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from backend.accounts.models import ReaderType, StaffRole
from backend.catalog.models import CopyStatus, ItemType
from backend.circulation.models import CreditReason, HoldStatus, ReaderCategory, RenewFrom, SuspensionKind
from backend.events.models import Audience, BookingStatus, EventCategory, EventStatus
from backend.network.models import LibraryLevel
from json import dumps, loads
from notifications.models import DeliveryStatus, NoticeKind, WallClockField
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# What the models cannot declare, written by hand after `makemigrations`.

# Rules that must hold whatever two desks or two phones do at the same moment: a copy is on one open loan at most;
# one active hold per reader and title, and an assigned copy serves one active hold; one active booking per event
# and attendee; one loan rule per (category, item type, library), where an empty column (NULL) counts as a value
# (the models' unique_together cannot say it: NULLs are distinct in a unique constraint).
_RULES = [
    "CREATE UNIQUE INDEX loan_open_per_copy ON loan (copy_id) WHERE returned_at IS NULL",
    "CREATE UNIQUE INDEX hold_active_per_reader_and_title ON hold (reader_id, record_id) "
    "WHERE status IN ('waiting', 'in_transit', 'ready')",
    "CREATE UNIQUE INDEX hold_active_per_copy ON hold (copy_id) WHERE status IN ('in_transit', 'ready')",
    "CREATE UNIQUE INDEX booking_active_per_attendee ON booking (event_id, attendee_id) "
    "WHERE status IN ('confirmed', 'waitlisted', 'offered', 'checked_in')",
    "CREATE UNIQUE INDEX loan_rule_one_per_key ON loan_rule "
    "(COALESCE(reader_category, ''), COALESCE(item_type, ''), COALESCE(library_id, 0))",
]

# The catalogue search (backend/catalog/search.py maintains it): one row per record, carrying everything a search
# filters and sorts on, the libraries and item types of its copies included, so that a search reads one table and
# stops early. Browsing without words walks the b-tree indexes in order (newest first), or in a class's or a
# language's range, and stops after the first 2,001 matches; they carry every filtered column, so the walk reads
# no table row (an index-only scan: the rows are wide with their tsvectors). text_pattern_ops: a class prefix
# (LIKE 'I24%') uses the index whatever the database's collation. The importer finds a record without an ISBN
# again by its exact title (partial: records with an ISBN are found by their unique isbn13).
_SEARCH = [
    "CREATE TABLE record_search (record_id integer PRIMARY KEY REFERENCES record (id) ON DELETE CASCADE, "
    "year smallint, clc_class varchar(40) NOT NULL, language varchar(8) NOT NULL, audience_min_age smallint, "
    "audience_max_age smallint, libraries integer[] NOT NULL, item_types varchar(20)[] NOT NULL, "
    "document tsvector NOT NULL)",
    "CREATE INDEX record_search_document ON record_search USING gin (document)",
    "CREATE INDEX record_search_libraries ON record_search USING gin (libraries)",
    "CREATE INDEX record_search_newest ON record_search (year DESC NULLS LAST, record_id DESC) "
    "INCLUDE (clc_class, language, audience_min_age, audience_max_age, libraries, item_types)",
    "CREATE INDEX record_search_language_newest ON record_search (language, year DESC NULLS LAST, record_id DESC) "
    "INCLUDE (clc_class, audience_min_age, audience_max_age, libraries, item_types)",
    "CREATE INDEX record_search_clc ON record_search (clc_class text_pattern_ops, year DESC NULLS LAST, "
    "record_id DESC) INCLUDE (language, audience_min_age, audience_max_age, libraries, item_types)",
    "CREATE INDEX record_title_without_isbn ON record (title) WHERE isbn13 IS NULL",
]

# The rows the service needs from its first start. The card-number counter exists before the first reader
# registers, so allocation is a plain row-locking UPDATE and never a racy insert. The credit tiers and loan rules
# are defaults from real libraries (../shared/DOMAIN.md): 20 items on loan at the best tier (Hangzhou), 30-day
# loans with one renewal of 30 days, overdue items block further loans until returned; every reader starts at 100.
# The first loan rule, for any reader, item and library, is the mandatory fallback.
_DEFAULTS = [
    "INSERT INTO counter (name, value) VALUES ('reader_card', 0)",
    "INSERT INTO credit_tier (name, min_score, deposit_free, self_service, max_loans, max_loan_days, max_renewals, "
    "max_holds, delivery) VALUES "
    "('优秀', 100, TRUE, TRUE, 20, 40, 1, 10, TRUE), "
    "('良好', 80, TRUE, TRUE, 10, 30, 1, 5, FALSE), "
    "('一般', 60, TRUE, FALSE, 3, 21, 0, 1, FALSE), "
    "('受限', -10000, FALSE, FALSE, 0, 0, 0, 0, FALSE)",
    "INSERT INTO loan_rule (item_type, loan_days, renewals, renewal_days, credit_per_overdue_day, fee_cents_per_day, "
    "fee_cap_cents, block_after_overdue_items, renew_from, holds_allowed) VALUES "
    "(NULL, 30, 1, 30, 1, 10, 500, 1, 'due_date', TRUE), "
    "('periodical', 14, 0, 0, 1, 10, 500, 1, 'due_date', TRUE)",
]


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Counter',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('value', fields.BigIntField(default=0)),
            ],
            options={'table': 'counter', 'app': 'models', 'pk_attr': 'name', 'table_description': 'Named monotonic counters: a row lock on UPDATE makes each allocation atomic on every database.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CreditTier',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=20)),
                ('min_score', fields.IntField(unique=True)),
                ('deposit_free', fields.BooleanField()),
                ('self_service', fields.BooleanField()),
                ('max_loans', fields.SmallIntField()),
                ('max_loan_days', fields.SmallIntField()),
                ('max_renewals', fields.SmallIntField()),
                ('max_holds', fields.SmallIntField()),
                ('delivery', fields.BooleanField()),
            ],
            options={'table': 'credit_tier', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What readers with a credit score from `min_score` up (to the next tier) may do.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Library',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=100)),
                ('level', fields.CharEnumField(db_index=True, description='CENTRAL: central\nMAIN: main\nBRANCH: branch\nSERVICE_POINT: service_point\nSELF_SERVICE: self_service_24h\nSWAP_CABINET: swap_cabinet', enum_type=LibraryLevel, max_length=20)),
                ('parent', fields.ForeignKeyField('models.Library', source_field='parent_id', null=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.RESTRICT)),
                ('path', fields.CharField(db_index=True, max_length=255)),
                ('address', fields.CharField(default='', max_length=200)),
                ('phone', fields.CharField(default='', max_length=30)),
                ('latitude', fields.FloatField(db_index=True)),
                ('longitude', fields.FloatField()),
                ('timezone', fields.CharField(default='Asia/Shanghai', max_length=40)),
                ('opening_hours', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('lending', fields.BooleanField(default=False)),
                ('returns', fields.BooleanField(default=False)),
                ('holds_pickup', fields.BooleanField(default=False)),
                ('events', fields.BooleanField(default=False)),
                ('self_service', fields.BooleanField(default=False)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'library', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One place of the network, from the central library down to a street swap cabinet.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EventSeries',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='event_series', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(max_length=50)),
                ('max_active_bookings', fields.SmallIntField(null=True)),
            ],
            options={'table': 'event_series', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Events that recur (the monthly club): a reader may hold at most `max_active_bookings` of them at once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LoanRule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader_category', fields.CharEnumField(null=True, description='ADULT: adult\nCHILD: child\nLITTLE_READER: little_reader', enum_type=ReaderCategory, max_length=20)),
                ('item_type', fields.CharEnumField(null=True, description='BOOK: book\nPICTURE_BOOK: picture_book\nPERIODICAL: periodical\nAUDIOVISUAL: audiovisual', enum_type=ItemType, max_length=20)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', null=True, db_constraint=True, to_field='id', related_name='loan_rules', on_delete=OnDelete.CASCADE)),
                ('loan_days', fields.SmallIntField()),
                ('renewals', fields.SmallIntField()),
                ('renewal_days', fields.SmallIntField()),
                ('renew_from', fields.CharEnumField(default=RenewFrom.DUE_DATE, description='DUE_DATE: due_date\nTODAY: today', enum_type=RenewFrom, max_length=10)),
                ('holds_allowed', fields.BooleanField(default=True)),
                ('credit_per_overdue_day', fields.SmallIntField()),
                ('fee_cents_per_day', fields.SmallIntField(default=0)),
                ('fee_cap_cents', fields.SmallIntField(default=0)),
                ('block_after_overdue_items', fields.SmallIntField()),
            ],
            options={'table': 'loan_rule', 'app': 'models', 'unique_together': (('reader_category', 'item_type', 'library'),), 'pk_attr': 'id', 'table_description': "A row of the circulation rule table, in the manner of Koha's: the most specific row for a reader category,"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Reader',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('card_number', fields.CharField(unique=True, max_length=20)),
                ('reader_type', fields.CharEnumField(default=ReaderType.ADULT, description='ADULT: adult\nCHILD: child', enum_type=ReaderType, max_length=10)),
                ('openid', fields.CharField(null=True, unique=True, max_length=64)),
                ('unionid', fields.CharField(null=True, db_index=True, max_length=64)),
                ('session_key_encrypted', fields.BinaryField(null=True)),
                ('phone_encrypted', fields.BinaryField(null=True)),
                ('phone_index', fields.CharField(null=True, db_index=True, max_length=64)),
                ('name', fields.CharField(default='', max_length=50)),
                ('birth_month', fields.CharField(null=True, max_length=7)),
                ('guardian', fields.ForeignKeyField('models.Reader', source_field='guardian_id', null=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.CASCADE)),
                ('guardian_consent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('keeps_reading_history', fields.BooleanField(default=False)),
                ('home_library', fields.ForeignKeyField('models.Library', source_field='home_library_id', null=True, db_constraint=True, to_field='id', related_name='home_readers', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'reader', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A reader of the network: one card everywhere. Children have no WeChat login: their guardian acts.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NoticePreferences',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.OneToOneField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='notice_preferences', on_delete=OnDelete.CASCADE)),
                ('muted_kinds', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('quiet_from', WallClockField(null=True)),
                ('quiet_until', WallClockField(null=True)),
            ],
            options={'table': 'notice_preferences', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What a reader chose: kinds they want no push for (the inbox still has them) and quiet hours.'},
            bases=['Model'],
        ),
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
                ('in_transit_to', fields.ForeignKeyField('models.Library', source_field='in_transit_to_id', null=True, db_constraint=True, to_field='id', related_name='copies_on_their_way', on_delete=OnDelete.RESTRICT)),
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
        ops.CreateModel(
            name='StaffUser',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('username', fields.CharField(unique=True, max_length=50)),
                ('password_hash', fields.CharField(max_length=200)),
                ('display_name', fields.CharField(default='', max_length=50)),
                ('role', fields.CharEnumField(description='NETWORK_ADMIN: network_admin\nLIBRARY_ADMIN: library_admin\nLIBRARIAN: librarian', enum_type=StaffRole, max_length=20)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='staff', on_delete=OnDelete.RESTRICT)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'staff_user', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A librarian or administrator who acts on their library and everything below it in the network.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuthSession',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('family', fields.UUIDField(db_index=True)),
                ('token_digest', fields.CharField(unique=True, max_length=64)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', null=True, db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'auth_session', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One refresh token. Rotated on every use, and all rotations of one login share a family, so the replay of'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CreditEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='credit_events', on_delete=OnDelete.CASCADE)),
                ('reason', fields.CharEnumField(description='ON_TIME_RETURN: on_time_return\nOVERDUE: overdue\nLOST_ITEM: lost_item\nDAMAGED_ITEM: damaged_item\nEVENT_NO_SHOW: event_no_show\nSTAFF_ADJUSTMENT: staff_adjustment', enum_type=CreditReason, max_length=20)),
                ('points', fields.SmallIntField()),
                ('note', fields.CharField(default='', max_length=200)),
                ('occasion', fields.CharField(null=True, unique=True, max_length=80)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='credit_events', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'credit_event', 'app': 'models', 'indexes': [Index(fields=['reader_id', 'created_at'])], 'pk_attr': 'id', 'table_description': "One line of a reader's credit ledger (append-only): the score is the starting score plus their sum."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Event',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='events_held', on_delete=OnDelete.RESTRICT)),
                ('series', fields.ForeignKeyField('models.EventSeries', source_field='series_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.SET_NULL)),
                ('title', fields.CharField(max_length=60)),
                ('description', fields.TextField(default='', unique=False)),
                ('category', fields.CharEnumField(description='LECTURE: lecture\nPARENT_CHILD: parent_child\nSHARED_READING: shared_reading\nSALON: salon\nTRAINING: training\nPERFORMANCE: performance\nEXHIBITION: exhibition', enum_type=EventCategory, max_length=20)),
                ('online', fields.BooleanField(default=False)),
                ('place', fields.CharField(default='', max_length=100)),
                ('cover_url', fields.CharField(default='', max_length=500)),
                ('starts_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('audience', fields.CharEnumField(default=Audience.EVERYONE, description='ADULTS: adults\nCHILDREN: children\nEVERYONE: everyone', enum_type=Audience, max_length=10)),
                ('min_age_months', fields.SmallIntField(null=True)),
                ('max_age_months', fields.SmallIntField(null=True)),
                ('max_companions', fields.SmallIntField(default=0)),
                ('capacity', fields.SmallIntField()),
                ('waitlist_limit', fields.SmallIntField()),
                ('seats_taken', fields.SmallIntField(default=0)),
                ('waitlisted', fields.SmallIntField(default=0)),
                ('booking_opens_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('booking_closes_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('cancel_until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(default=EventStatus.DRAFT, description='DRAFT: draft\nPUBLISHED: published\nCANCELLED: cancelled', enum_type=EventStatus, max_length=10)),
                ('cancel_reason', fields.CharField(default='', max_length=200)),
                ('created_by', fields.ForeignKeyField('models.StaffUser', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='events_created', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'event', 'app': 'models', 'indexes': [Index(fields=['status', 'starts_at']), Index(fields=['library_id', 'starts_at'])], 'pk_attr': 'id', 'table_description': 'An event with `capacity` seats. `seats_taken` counts the seats of confirmed, offered and checked-in'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Booking',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='bookings', on_delete=OnDelete.CASCADE)),
                ('attendee', fields.ForeignKeyField('models.Reader', source_field='attendee_id', db_constraint=True, to_field='id', related_name='event_bookings', on_delete=OnDelete.CASCADE)),
                ('booked_by', fields.ForeignKeyField('models.Reader', source_field='booked_by_id', db_constraint=True, to_field='id', related_name='event_bookings_made', on_delete=OnDelete.CASCADE)),
                ('seats', fields.SmallIntField()),
                ('status', fields.CharEnumField(description='CONFIRMED: confirmed\nWAITLISTED: waitlisted\nOFFERED: offered\nCHECKED_IN: checked_in\nCANCELLED: cancelled\nDECLINED: declined\nLAPSED: lapsed\nNO_SHOW: no_show\nEVENT_CANCELLED: event_cancelled', enum_type=BookingStatus, max_length=20)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('offer_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('checked_in_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'booking', 'app': 'models', 'indexes': [Index(fields=['event_id', 'status', 'id']), Index(fields=['booked_by_id', 'status'])], 'pk_attr': 'id', 'table_description': "One attendee's booking, with the companions it brings (`seats` in all). The waiting list is in `id` order."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Loan',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('copy', fields.ForeignKeyField('models.Copy', source_field='copy_id', db_constraint=True, to_field='id', related_name='loans', on_delete=OnDelete.RESTRICT)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', null=True, db_constraint=True, to_field='id', related_name='loans', on_delete=OnDelete.SET_NULL)),
                ('reader_category', fields.CharEnumField(description='ADULT: adult\nCHILD: child\nLITTLE_READER: little_reader', enum_type=ReaderCategory, max_length=20)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='loans_made', on_delete=OnDelete.RESTRICT)),
                ('rule', fields.ForeignKeyField('models.LoanRule', source_field='rule_id', db_constraint=True, to_field='id', related_name='loans', on_delete=OnDelete.RESTRICT)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='loans_made', on_delete=OnDelete.SET_NULL)),
                ('checked_out_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('renewals', fields.SmallIntField(default=0)),
                ('overdue_days_charged', fields.SmallIntField(default=0)),
                ('returned_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('return_library', fields.ForeignKeyField('models.Library', source_field='return_library_id', null=True, db_constraint=True, to_field='id', related_name='loans_returned', on_delete=OnDelete.RESTRICT)),
            ],
            options={'table': 'loan', 'app': 'models', 'indexes': [Index(fields=['reader_id', 'returned_at'])], 'pk_attr': 'id', 'table_description': 'A copy lent to a reader. At most one open loan per copy: a partial unique index (migration) says so.'},
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
        ops.CreateModel(
            name='Suspension',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='suspensions', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='SUSPENDED: suspended\nBLACKLISTED: blacklisted', enum_type=SuspensionKind, max_length=20)),
                ('reason', fields.CharField(max_length=200)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lifted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='suspensions', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'suspension', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A reader barred from borrowing, with the reason they are shown and until when.'},
            bases=['Model'],
        ),
        # Going back, dropping the tables drops their indexes and rows; record_search goes first, it refers to record.
        ops.RunSQL(_RULES, reverse_sql=ops.RunSQL.noop),
        ops.RunSQL(_SEARCH, reverse_sql="DROP TABLE record_search"),
        ops.RunSQL(_DEFAULTS, reverse_sql=ops.RunSQL.noop),
    ]
