from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from backend.accounts.models import ReaderType, StaffRole
from backend.network.models import LibraryLevel
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

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
                ('home_library', fields.ForeignKeyField('models.Library', source_field='home_library_id', null=True, db_constraint=True, to_field='id', related_name='home_readers', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'reader', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A reader of the network: one card everywhere. Children have no WeChat login: their guardian acts.'},
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
    ]
