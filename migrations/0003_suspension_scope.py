from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# A suspension records the level that set it: the scope of the staff member who did, their library's path or "/" (the
# whole network) for a network admin; only staff whose scope contains it lift it. Suspensions set before were not
# recorded with one: they become the network's (the column's default fills them), so only a network admin lifts
# them, since nobody can tell any more whether a network admin set them.


class Migration(migrations.Migration):
    dependencies = [('models', '0002_circulation_terms')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='Suspension',
            options={'table': 'suspension', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A reader barred from borrowing: the reason they are shown, until when, who set it and at which level.'},
        ),
        ops.AddField(
            model_name='Suspension',
            name='scope_path',
            field=fields.CharField(db_default='/', max_length=255),
        ),
    ]
