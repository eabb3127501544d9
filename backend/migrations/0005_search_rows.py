from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

# One search row per record, carrying everything a search filters and sorts on, the libraries and item types of its
# copies included, so that a search reads one table and stops early (backend/catalog/search.py).
_SQLITE = [
    "DROP TABLE record_search",
    "CREATE TABLE record_search (record_id INTEGER PRIMARY KEY REFERENCES record (id) ON DELETE CASCADE, "
    "year INTEGER, clc_class TEXT NOT NULL, language TEXT NOT NULL, audience_min_age INTEGER, "
    "audience_max_age INTEGER, libraries TEXT NOT NULL, item_types TEXT NOT NULL)",
    "CREATE INDEX record_search_newest ON record_search (year DESC, record_id DESC)",
    "CREATE INDEX record_search_language_newest ON record_search (language, year DESC, record_id DESC)",
    "CREATE INDEX record_search_clc ON record_search (clc_class)",
    "CREATE VIRTUAL TABLE record_text USING fts5(title, authors, subjects, summary, pinyin, tokenize = 'unicode61')",
]
_FILTERED = ("clc_class", "language", "audience_min_age", "audience_max_age", "libraries", "item_types")


def _walk(name: str, *leading: str) -> str:
    """An index in browse order (newest first), after `leading` columns, covering every filtered column."""
    keys = ", ".join([*leading, "year DESC NULLS LAST", "record_id DESC"])
    included = ", ".join(c for c in _FILTERED if not any(key.startswith(c) for key in leading))
    return f"CREATE INDEX {name} ON record_search ({keys}) INCLUDE ({included})"


_POSTGRES = [
    "DROP TABLE record_search",
    "CREATE TABLE record_search (record_id integer PRIMARY KEY REFERENCES record (id) ON DELETE CASCADE, "
    "year smallint, clc_class varchar(40) NOT NULL, language varchar(8) NOT NULL, audience_min_age smallint, "
    "audience_max_age smallint, libraries integer[] NOT NULL, item_types varchar(20)[] NOT NULL, "
    "document tsvector NOT NULL)",
    "CREATE INDEX record_search_document ON record_search USING gin (document)",
    "CREATE INDEX record_search_libraries ON record_search USING gin (libraries)",
    # Browsing without words walks these in order, or in a class's or a language's range, and stops after the
    # first 2,001 matches. They carry every filtered column, so the walk reads no table row (an index-only scan;
    # the rows are wide with their tsvectors).
    _walk("record_search_newest"),
    _walk("record_search_language_newest", "language"),
    # text_pattern_ops: a class prefix (LIKE 'I24%') uses the index whatever the database's collation.
    _walk("record_search_clc", "clc_class text_pattern_ops"),
]


async def create_rows(apps: Any, schema_editor: Any) -> None:
    from backend.catalog.search import rebuild_index

    client = schema_editor.client
    for statement in _SQLITE if client.capabilities.dialect == "sqlite" else _POSTGRES:
        await client.execute_script(statement)
    await rebuild_index(client)


class Migration(migrations.Migration):
    dependencies = [("models", "0004_record_search_index")]

    operations = [ops.RunPython(create_rows)]
