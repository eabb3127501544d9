from tortoise import migrations
from tortoise.migrations import operations as ops
from backend.money.models import AnomalyKind, RefundState
from backend.money.reconciliation import DifferenceKind
from tortoise import fields
from tortoise.indexes import Index

# The daily reconciliation with WeChat Pay's trade bill (issue 15): a row per day reconciled, and the differences found
# between the bill and our payments and refunds, once each, for staff. A refund WeChat Pay reports abnormal keeps
# counting (`abnormal`), and a forged notice is an anomaly for staff (`forged_notice`): no CHECK lists either enum.


class Migration(migrations.Migration):
    dependencies = [('models', '0013_picks_push_jobs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Reconciliation',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField(unique=True)),
                ('trades', fields.IntField()),
                ('differences', fields.IntField()),
                ('reconciled_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'money_reconciliation', 'app': 'models', 'pk_attr': 'id', 'table_description': "One day's bill reconciled: how many trades it listed and how many differences were found."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReconciliationDifference',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('kind', fields.CharEnumField(description='UNKNOWN_ORDER: unknown_order\nNOT_SETTLED: not_settled\nMISSING_FROM_BILL: missing_from_bill\nAMOUNT_DIFFERS: amount_differs\nUNKNOWN_REFUND: unknown_refund\nREFUND_NOT_FINISHED: refund_not_finished\nREFUND_MISSING_FROM_BILL: refund_missing_from_bill\nREFUND_AMOUNT_DIFFERS: refund_amount_differs', enum_type=DifferenceKind, max_length=30)),
                ('out_trade_no', fields.CharField(max_length=64)),
                ('out_refund_no', fields.CharField(null=True, max_length=64)),
                ('transaction_id', fields.CharField(default='', max_length=64)),
                ('ours_fen', fields.IntField(null=True)),
                ('wechatpay_fen', fields.IntField(null=True)),
                ('occasion', fields.CharField(unique=True, max_length=200)),
                ('found_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'money_reconciliation_difference', 'app': 'models', 'indexes': [Index(fields=['day', 'id'])], 'pk_attr': 'id', 'table_description': "A difference between WeChat Pay's bill of a day and our records, for staff to look into. Written once per fact"},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Refund',
            name='state',
            field=fields.CharEnumField(default=RefundState.PENDING, description='PENDING: pending\nSUCCEEDED: succeeded\nFAILED: failed\nABNORMAL: abnormal', enum_type=RefundState, max_length=10),
        ),
        ops.AlterField(
            model_name='PaymentAnomaly',
            name='kind',
            field=fields.CharEnumField(description='UNKNOWN_ORDER: unknown_order\nAMOUNT_MISMATCH: amount_mismatch\nPAID_TWICE: paid_twice\nBAD_TRANSACTION: bad_transaction\nFORGED_NOTICE: forged_notice', enum_type=AnomalyKind, max_length=20),
        ),
    ]
