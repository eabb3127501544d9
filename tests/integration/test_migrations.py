from tortoise import Tortoise, connections
from tortoise.migrations.autodetector import MigrationAutodetector

from backend import db
from tests.integration.service import Service

# What the models cannot declare, written into the migration by hand (a squash must carry them over).
HAND_WRITTEN_INDEXES = {
    "loan_open_per_copy",
    "hold_active_per_reader_and_title",
    "hold_active_per_copy",
    "booking_active_per_attendee",
    "record_search_document",
    "record_search_libraries",
    "record_search_newest",
    "record_search_language_newest",
    "record_search_clc",
    "record_title_without_isbn",
    "reader_name_prefix",
    "loan_checked_out_at",
    "newborn_enrolment_tally_key",
    "payment_line_open_per_charge",
    "delivery_line_active_per_copy",
}


async def test_the_committed_migrations_describe_the_models_exactly(service: Service) -> None:
    apps = db.tortoise_config(service.settings.database.url)["apps"]

    pending = await MigrationAutodetector(Tortoise.apps, apps).changes()

    assert [w.name for w in pending] == [], "models changed without a migration: run `tortoise makemigrations`"


async def test_the_migrations_make_the_rules_the_search_table_and_the_rows_a_first_start_needs(
    service: Service,
) -> None:
    conn = connections.get("default")

    indexes = await conn.execute_query_dict("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    counters = await conn.execute_query_dict("SELECT name FROM counter")

    assert HAND_WRITTEN_INDEXES - {row["indexname"] for row in indexes} == set()
    assert counters == [{"name": "reader_card"}]
    assert [tier["name"] for tier in service.seeded["credit_tier"]] == ["优秀", "良好", "一般", "受限"]
    assert service.seeded["loan_rule"]  # the fallback rules
