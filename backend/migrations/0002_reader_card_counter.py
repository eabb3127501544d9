from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    # The network's card-number counter exists before the first reader registers, so allocation is a plain
    # row-locking UPDATE and never a racy insert.
    dependencies = [("models", "0001_initial")]

    operations = [
        ops.RunSQL(
            "INSERT INTO counter (name, value) VALUES ('reader_card', 0)",
            reverse_sql="DELETE FROM counter WHERE name = 'reader_card'",
        ),
    ]
