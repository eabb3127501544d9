from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

# The catalogue's full-text index is the one structure that differs by database, so it is made here by dialect
# (backend/catalog/search.py explains the choice and maintains it).
_SQLITE = [
    "CREATE VIRTUAL TABLE record_search USING fts5(title, authors, subjects, summary, pinyin, tokenize = 'unicode61')",
]
_POSTGRES = [
    "CREATE TABLE record_search (record_id integer PRIMARY KEY REFERENCES record (id) ON DELETE CASCADE, "
    "document tsvector NOT NULL)",
    "CREATE INDEX record_search_document ON record_search USING gin (document)",
]


async def create_index(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    for statement in _SQLITE if client.capabilities.dialect == "sqlite" else _POSTGRES:
        await client.execute_script(statement)


async def drop_index(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script("DROP TABLE record_search")


class Migration(migrations.Migration):
    dependencies = [("models", "0003_catalog_records_and_copies")]

    operations = [ops.RunPython(create_index, drop_index)]
