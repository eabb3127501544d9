from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

# The importer finds a record without an ISBN again by its exact title and first author (isbn13 IS NULL AND title IN
# (...)); without an index that scanned every such record, twice a batch, and made the import slower as the catalogue
# grew (docs/benchmarks.md). Partial: records with an ISBN are found by their unique isbn13. Hand-written because
# the models cannot declare a partial index; the same statement serves SQLite and PostgreSQL.
_CREATE = "CREATE INDEX record_title_without_isbn ON record (title) WHERE isbn13 IS NULL"
_DROP = "DROP INDEX record_title_without_isbn"


async def create_index(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(_CREATE)


async def drop_index(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(_DROP)


class Migration(migrations.Migration):
    dependencies = [("models", "0005_search_rows")]

    operations = [ops.RunPython(create_index, drop_index)]
