from tortoise import migrations
from tortoise.migrations import operations as ops
from notifications.models import PicksPushStatus
import functools
from json import dumps, loads
from tortoise import fields

# A push of readers' own picks is sent by the worker, a batch of readers at a time: its state, the readers done so far
# in recipient order (a run after a crash resumes after them), the cards not told by reason, when its latest run began
# and last wrote (the worker's watchdog queues a silent one again), and when it ended. Pushes made before were sent at
# once: each column is added with a default that says so (done, nothing skipped), which is then dropped, as the models
# give every new push its own values.
_STATUS = 'QUEUED: queued\nRUNNING: running\nDONE: done\nFAILED: failed'


class Migration(migrations.Migration):
    dependencies = [('models', '0012_money')]

    initial = False

    operations = [
        ops.AddField(
            model_name='PicksPush',
            name='skipped',
            field=fields.JSONField(db_default={}, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AlterField(
            model_name='PicksPush',
            name='skipped',
            field=fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='PicksPush',
            name='status',
            field=fields.CharEnumField(db_default=PicksPushStatus.DONE, description=_STATUS, enum_type=PicksPushStatus, max_length=10),
        ),
        ops.AlterField(
            model_name='PicksPush',
            name='status',
            field=fields.CharEnumField(default=PicksPushStatus.QUEUED, description=_STATUS, enum_type=PicksPushStatus, max_length=10),
        ),
        ops.AddField(
            model_name='PicksPush',
            name='done_through',
            field=fields.IntField(db_default=0),
        ),
        ops.AlterField(
            model_name='PicksPush',
            name='done_through',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='PicksPush',
            name='finished_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='PicksPush',
            name='started_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='PicksPush',
            name='heartbeat_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
