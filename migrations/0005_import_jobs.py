from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from backend.catalog.models import ImportStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


# Catalogue files staff upload (POST /staff/catalogue/imports), imported by the worker: the job with its counts,
# the problems found (written batch by batch, readable while it runs), and the file itself in 1 MiB pieces, kept
# in the database so that any worker machine can read it, and dropped when the import is over.

class Migration(migrations.Migration):
    dependencies = [("models", "0004_barcode_case")]

    initial = False

    operations = [
        ops.CreateModel(
            name='ImportJob',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', db_constraint=True, to_field='id', related_name='catalogue_imports', on_delete=OnDelete.RESTRICT)),
                ('library', fields.ForeignKeyField('models.Library', source_field='library_id', db_constraint=True, to_field='id', related_name='catalogue_imports', on_delete=OnDelete.RESTRICT)),
                ('file_name', fields.CharField(max_length=200)),
                ('format', fields.CharField(max_length=10)),
                ('size_bytes', fields.IntField()),
                ('status', fields.CharEnumField(default=ImportStatus.QUEUED, db_index=True, description='QUEUED: queued\nRUNNING: running\nFINISHED: finished\nFAILED: failed', enum_type=ImportStatus, max_length=10)),
                ('attempts', fields.SmallIntField(default=0)),
                ('records_read', fields.IntField(default=0)),
                ('records_total', fields.IntField(null=True)),
                ('records_created', fields.IntField(default=0)),
                ('records_updated', fields.IntField(default=0)),
                ('copies_created', fields.IntField(default=0)),
                ('copies_updated', fields.IntField(default=0)),
                ('problem_count', fields.IntField(default=0)),
                ('failure', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('heartbeat_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'import_job', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A catalogue file staff uploaded, imported by the worker; its counts and problems are written batch by batch,'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ImportJobProblem',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('job', fields.ForeignKeyField('models.ImportJob', source_field='job_id', db_constraint=True, to_field='id', related_name='problems', on_delete=OnDelete.CASCADE)),
                ('position', fields.IntField()),
                ('reason', fields.TextField(unique=False)),
            ],
            options={'table': 'import_job_problem', 'app': 'models', 'indexes': [Index(fields=['job_id', 'position', 'id'])], 'pk_attr': 'id', 'table_description': "Something of an import's file skipped or changed, at a record (MARC) or line (CSV) of the file."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ImportUploadChunk',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('job', fields.ForeignKeyField('models.ImportJob', source_field='job_id', db_constraint=True, to_field='id', related_name='chunks', on_delete=OnDelete.CASCADE)),
                ('sequence', fields.IntField()),
                ('data', fields.BinaryField()),
            ],
            options={'table': 'import_upload_chunk', 'app': 'models', 'unique_together': (('job_id', 'sequence'),), 'pk_attr': 'id', 'table_description': 'A piece of an uploaded file, kept in the database so that any worker machine can read it; dropped once the'},
            bases=['Model'],
        ),
    ]
