from tortoise import migrations
from tortoise.migrations import operations as ops
from backend.events.models import Audience, BookingStatus, EventCategory, EventStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from typing import Any

# One active booking per event and attendee: asking twice, or twenty times at once, gives one booking.
_ONE_ACTIVE_BOOKING = (
    "CREATE UNIQUE INDEX booking_active_per_attendee ON booking (event_id, attendee_id) "
    "WHERE status IN ('confirmed', 'waitlisted', 'offered', 'checked_in')"
)


async def create_index(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(_ONE_ACTIVE_BOOKING)

class Migration(migrations.Migration):
    dependencies = [('models', '0009_loan_rule_key')]

    initial = False

    operations = [
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
        ops.RunPython(create_index),
    ]
