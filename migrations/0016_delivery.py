from tortoise import migrations
from tortoise.migrations import operations as ops
from backend.catalog.models import CopyStatus
from backend.counter.models import LookupAction, LookupBy
from backend.delivery.models import LineState, OrderState, PickupState
from backend.purchases.models import RequestState
from backend.shipping.models import Destination, ShipmentState
from notifications.models import NoticeKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# Click and deliver (issue 16): couriers and the parcels they carry (shipments, with each step reported), borrowing
# online for delivery (the basket, orders, the copies reserved for them, courier pickups of returns) and reader-chosen
# purchases ordered online from a partner's stock (a request, approved, sent by the shop, bought when received).
#
# A copy is in one active delivery line at most, whatever orders arrive at once: a partial unique index, which the
# models cannot declare. The network's fallback rule states the new term `delivery_allowed` (true: the credit tiers
# decide, as before).
_ACTIVE_LINE = (
    "CREATE UNIQUE INDEX delivery_line_active_per_copy ON delivery_line (copy_id) "
    "WHERE state IN ('reserved', 'picked', 'gathered')",
    "DROP INDEX delivery_line_active_per_copy",
)
_DELIVERY_TERM = (
    "INSERT INTO loan_rule (reader_category, item_type, library_id, term, value) "
    "VALUES (NULL, NULL, NULL, 'delivery_allowed', 'true')",
    "DELETE FROM loan_rule WHERE term = 'delivery_allowed'",
)


class Migration(migrations.Migration):
    dependencies = [('models', '0015_purchases')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BasketItem',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', db_constraint=True, to_field='id', related_name='basket', on_delete=OnDelete.CASCADE)),
                ('record', fields.ForeignKeyField('models.Record', source_field='record_id', db_constraint=True, to_field='id', related_name='in_baskets', on_delete=OnDelete.CASCADE)),
                ('added_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'delivery_basket', 'app': 'models', 'unique_together': (('reader_id', 'record_id'),), 'pk_attr': 'id', 'table_description': 'A title the reader means to order; a copy is chosen only when the order is placed.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Courier',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=20)),
                ('name', fields.CharField(max_length=100)),
                ('secret_encrypted', fields.BinaryField()),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'shipping_courier', 'app': 'models', 'pk_attr': 'id', 'table_description': "A courier company the network hands parcels to. It reports each parcel's steps to our webhook, signed with"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Shipment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', null=True, db_constraint=True, to_field='id', related_name='shipments', on_delete=OnDelete.SET_NULL)),
                ('destination', fields.CharEnumField(description='SERVICE_POINT: service_point\nHOME: home', enum_type=Destination, max_length=20)),
                ('pickup_library', fields.ForeignKeyField('models.Library', source_field='pickup_library_id', null=True, db_constraint=True, to_field='id', related_name='shipments_to_pick_up', on_delete=OnDelete.RESTRICT)),
                ('recipient_encrypted', fields.BinaryField(null=True)),
                ('phone_encrypted', fields.BinaryField(null=True)),
                ('address_encrypted', fields.BinaryField(null=True)),
                ('courier', fields.ForeignKeyField('models.Courier', source_field='courier_id', null=True, db_constraint=True, to_field='id', related_name='shipments', on_delete=OnDelete.RESTRICT)),
                ('tracking_no', fields.CharField(null=True, max_length=40)),
                ('state', fields.CharEnumField(default=ShipmentState.PREPARING, description='PREPARING: preparing\nSHIPPED: shipped\nIN_TRANSIT: in_transit\nOUT_FOR_DELIVERY: out_for_delivery\nDELIVERED: delivered\nFAILED: failed\nRETURNED: returned\nCANCELLED: cancelled', enum_type=ShipmentState, max_length=20)),
                ('state_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('shipped_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('address_erased_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'shipping_shipment', 'app': 'models', 'unique_together': (('courier_id', 'tracking_no'),), 'indexes': [Index(fields=['state', 'created_at']), Index(fields=['closed_at'])], 'pk_attr': 'id', 'table_description': 'One parcel to one reader. Its state moves forward only (`shipping.states`): a courier report that is late,'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeliveryOrder',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', null=True, db_constraint=True, to_field='id', related_name='delivery_orders', on_delete=OnDelete.SET_NULL)),
                ('packing_library', fields.ForeignKeyField('models.Library', source_field='packing_library_id', db_constraint=True, to_field='id', related_name='delivery_orders_packed', on_delete=OnDelete.RESTRICT)),
                ('shipment', fields.OneToOneField('models.Shipment', source_field='shipment_id', db_constraint=True, to_field='id', related_name='delivery_order', on_delete=OnDelete.RESTRICT)),
                ('state', fields.CharEnumField(description='AWAITING_PAYMENT: awaiting_payment\nPICKING: picking\nPACKED: packed\nSHIPPED: shipped\nDELIVERED: delivered\nFAILED: failed\nRETURNED: returned\nCANCELLED: cancelled', enum_type=OrderState, max_length=20)),
                ('fee_fen', fields.IntField(default=0)),
                ('charge', fields.ForeignKeyField('models.Charge', source_field='charge_id', null=True, db_constraint=True, to_field='id', related_name='delivery_orders', on_delete=OnDelete.RESTRICT)),
                ('loan_days', fields.SmallIntField()),
                ('placed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancel_reason', fields.CharField(default='', max_length=200)),
            ],
            options={'table': 'delivery_order', 'app': 'models', 'indexes': [Index(fields=['state', 'placed_at']), Index(fields=['reader_id', 'placed_at']), Index(fields=['packing_library_id', 'state'])], 'pk_attr': 'id', 'table_description': "A reader's order of books the network holds, delivered to a service point or their door. Its parcel (the"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeliveryLine',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('models.DeliveryOrder', source_field='order_id', db_constraint=True, to_field='id', related_name='lines', on_delete=OnDelete.CASCADE)),
                ('copy', fields.ForeignKeyField('models.Copy', source_field='copy_id', db_constraint=True, to_field='id', related_name='delivery_lines', on_delete=OnDelete.RESTRICT)),
                ('record', fields.ForeignKeyField('models.Record', source_field='record_id', db_constraint=True, to_field='id', related_name='delivery_lines', on_delete=OnDelete.RESTRICT)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='delivery_picks', on_delete=OnDelete.RESTRICT)),
                ('state', fields.CharEnumField(default=LineState.RESERVED, description='RESERVED: reserved\nPICKED: picked\nGATHERED: gathered\nDELIVERED: delivered\nMISSING: missing\nRELEASED: released', enum_type=LineState, max_length=20)),
                ('picked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('gathered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('loan', fields.ForeignKeyField('models.Loan', source_field='loan_id', null=True, db_constraint=True, to_field='id', related_name='delivery_lines', on_delete=OnDelete.SET_NULL)),
                ('hold', fields.ForeignKeyField('models.Hold', source_field='hold_id', null=True, db_constraint=True, to_field='id', related_name='delivery_lines', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'delivery_line', 'app': 'models', 'indexes': [Index(fields=['library_id', 'state']), Index(fields=['order_id'])], 'pk_attr': 'id', 'table_description': "A copy of an order. While the line is active the copy's status is `in_delivery`: no one else can borrow it"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PurchaseRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', null=True, db_constraint=True, to_field='id', related_name='purchase_requests', on_delete=OnDelete.SET_NULL)),
                ('bookstore', fields.ForeignKeyField('models.Bookstore', source_field='bookstore_id', db_constraint=True, to_field='id', related_name='requests', on_delete=OnDelete.RESTRICT)),
                ('main_library', fields.ForeignKeyField('models.Library', source_field='main_library_id', db_constraint=True, to_field='id', related_name='purchase_requests', on_delete=OnDelete.RESTRICT)),
                ('branch', fields.ForeignKeyField('models.Library', source_field='branch_id', null=True, db_constraint=True, to_field='id', related_name='branch_purchase_requests', on_delete=OnDelete.SET_NULL)),
                ('shipment', fields.OneToOneField('models.Shipment', source_field='shipment_id', db_constraint=True, to_field='id', related_name='purchase_request', on_delete=OnDelete.RESTRICT)),
                ('isbn13', fields.CharField(max_length=13)),
                ('title', fields.CharField(max_length=500)),
                ('list_price_fen', fields.IntField()),
                ('discount_bp', fields.SmallIntField()),
                ('price_fen', fields.IntField()),
                ('state', fields.CharEnumField(default=RequestState.PENDING, description='PENDING: pending\nAPPROVED: approved\nSHIPPED: shipped\nARRIVED: arrived\nRECEIVED: received\nREFUSED: refused\nCANCELLED: cancelled', enum_type=RequestState, max_length=10)),
                ('auto_approved', fields.BooleanField(default=False)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='purchase_requests_decided', on_delete=OnDelete.SET_NULL)),
                ('reason', fields.CharField(default='', max_length=200)),
                ('year', fields.SmallIntField()),
                ('month', fields.SmallIntField()),
                ('purchase', fields.OneToOneField('models.Purchase', source_field='purchase_id', null=True, db_constraint=True, to_field='id', related_name='request', on_delete=OnDelete.RESTRICT)),
                ('requested_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'purchase_request', 'app': 'models', 'indexes': [Index(fields=['reader_id', 'year', 'month']), Index(fields=['main_library_id', 'state', 'requested_at']), Index(fields=['bookstore_id', 'state'])], 'pk_attr': 'id', 'table_description': "A reader's choice from a partner's stock online, sent to a service point or their door. Staff approve it (or"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReturnPickup',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('reader', fields.ForeignKeyField('models.Reader', source_field='reader_id', null=True, db_constraint=True, to_field='id', related_name='return_pickups', on_delete=OnDelete.SET_NULL)),
                ('shipment', fields.OneToOneField('models.Shipment', source_field='shipment_id', db_constraint=True, to_field='id', related_name='return_pickup', on_delete=OnDelete.RESTRICT)),
                ('books', fields.SmallIntField()),
                ('fee_fen', fields.IntField()),
                ('charge', fields.ForeignKeyField('models.Charge', source_field='charge_id', null=True, db_constraint=True, to_field='id', related_name='return_pickups', on_delete=OnDelete.RESTRICT)),
                ('state', fields.CharEnumField(description='AWAITING_PAYMENT: awaiting_payment\nBOOKED: booked\nCOLLECTED: collected\nRECEIVED: received\nCANCELLED: cancelled', enum_type=PickupState, max_length=20)),
                ('booked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'delivery_return_pickup', 'app': 'models', 'indexes': [Index(fields=['state', 'booked_at']), Index(fields=['reader_id', 'booked_at'])], 'pk_attr': 'id', 'table_description': "A courier booked in the app to collect books from the reader's door and take them to a library: its parcel"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Step',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('shipment', fields.ForeignKeyField('models.Shipment', source_field='shipment_id', db_constraint=True, to_field='id', related_name='steps', on_delete=OnDelete.CASCADE)),
                ('state', fields.CharEnumField(description='PREPARING: preparing\nSHIPPED: shipped\nIN_TRANSIT: in_transit\nOUT_FOR_DELIVERY: out_for_delivery\nDELIVERED: delivered\nFAILED: failed\nRETURNED: returned\nCANCELLED: cancelled', enum_type=ShipmentState, max_length=20)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('applied', fields.BooleanField()),
                ('courier', fields.ForeignKeyField('models.Courier', source_field='courier_id', null=True, db_constraint=True, to_field='id', related_name='steps', on_delete=OnDelete.RESTRICT)),
                ('report_id', fields.CharField(null=True, max_length=64)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='shipment_steps', on_delete=OnDelete.SET_NULL)),
                ('note', fields.CharField(default='', max_length=200)),
            ],
            options={'table': 'shipping_step', 'app': 'models', 'unique_together': (('courier_id', 'report_id'),), 'indexes': [Index(fields=['shipment_id', 'occurred_at'])], 'pk_attr': 'id', 'table_description': "A step of a parcel as it was reported (by its courier, once per report id) or set by staff: the reader's"},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Copy',
            name='status',
            field=fields.CharEnumField(default=CopyStatus.AVAILABLE, db_index=True, description='AVAILABLE: available\nON_LOAN: on_loan\nIN_TRANSIT: in_transit\nON_HOLD_SHELF: on_hold_shelf\nLOST: lost\nIN_PROCESSING: in_processing\nWITHDRAWN: withdrawn\nIN_DELIVERY: in_delivery', enum_type=CopyStatus, max_length=20),
        ),
        ops.AddField(
            model_name='Hold',
            name='period_days',
            field=fields.SmallIntField(null=True),
        ),
        ops.AlterField(
            model_name='Purchase',
            name='loan',
            field=fields.ForeignKeyField('models.Loan', source_field='loan_id', null=True, db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name='PurchaseRules',
            name='auto_approve_under_fen',
            field=fields.IntField(null=True),
        ),
        ops.AlterField(
            model_name='Notice',
            name='kind',
            field=fields.CharEnumField(description='DUE_SOON: due_soon\nOVERDUE: overdue\nHOLD_READY: hold_ready\nHOLD_EXPIRING: hold_expiring\nSEAT_OFFERED: seat_offered\nEVENT_REMINDER: event_reminder\nEVENT_CHANGED: event_changed\nEVENT_CANCELLED: event_cancelled\nSTAFF_MESSAGE: staff_message\nPARCEL_SHIPPED: parcel_shipped\nPARCEL_DELIVERED: parcel_delivered\nPARCEL_FAILED: parcel_failed', enum_type=NoticeKind, max_length=20),
        ),
        ops.AlterField(
            model_name='ReaderLookup',
            name='action',
            field=fields.CharEnumField(description='SEARCH: search\nVIEW: view\nVERIFY: verify\nCREDIT: credit\nREPLACE: replace\nNEWBORN: newborn\nLABEL: label', enum_type=LookupAction, max_length=10),
        ),
        ops.AlterField(
            model_name='ReaderLookup',
            name='looked_up_by',
            field=fields.CharEnumField(description='CARD_NUMBER: card_number\nPHONE: phone\nNAME: name\nENROLMENT: enrolment\nORDER: order', enum_type=LookupBy, max_length=20),
        ),
        ops.RunSQL(_ACTIVE_LINE[0], reverse_sql=_ACTIVE_LINE[1]),
        ops.RunSQL(_DELIVERY_TERM[0], reverse_sql=_DELIVERY_TERM[1]),
    ]
