from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

# One rule per (category, item type, library). The table's unique_together does not say it: empty columns are
# NULL, and NULLs are distinct in a unique constraint, so two network-wide rules for adults could coexist.
_ONE_RULE_PER_KEY = (
    "CREATE UNIQUE INDEX loan_rule_one_per_key ON loan_rule "
    "(COALESCE(reader_category, ''), COALESCE(item_type, ''), COALESCE(library_id, 0))"
)


async def create_index(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(_ONE_RULE_PER_KEY)


class Migration(migrations.Migration):
    dependencies = [('models', '0008_holds')]

    initial = False

    operations = [ops.RunPython(create_index)]
