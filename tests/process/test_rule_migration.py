"""Migration 0002 on a database with loan rules of the old shape: every column of a rule becomes a term row of the
rule's scope, and every rule keeps its id."""

import subprocess
import sys

from entrypoints.embedded import psql

_MIGRATE = (
    "import asyncio, sys; from backend import db; from tortoise.migrations.api.migrate import migrate; "
    "asyncio.run(migrate(config=db.tortoise_config(sys.argv[1]), target=sys.argv[2]))"
)


TERMS_AT_0002 = 9  # the columns of an old rule; later migrations add terms to the fallback alone


def migrate(database_url: str, target: str) -> None:
    subprocess.run([sys.executable, "-c", _MIGRATE, database_url, target], check=True, timeout=120)


def test_each_column_of_an_old_rule_becomes_a_term_of_its_scope_under_the_same_id(database_url: str) -> None:
    migrate(database_url, "models.0001_initial")  # the fallback (id 1) and the periodicals' rule (id 2)
    psql(
        database_url,
        "INSERT INTO loan_rule (reader_category, loan_days, renewals, renewal_days, renew_from, holds_allowed, "
        "credit_per_overdue_day, fee_cents_per_day, fee_cap_cents, block_after_overdue_items) "
        "VALUES ('child', 21, 2, 14, 'today', FALSE, 0, 5, 300, 3)",
    )

    migrate(database_url, "models.0002_circulation_terms")

    rows = psql(database_url, "SELECT id, coalesce(reader_category, '-'), term, value FROM loan_rule ORDER BY id")
    first_of_scope = psql(database_url, "SELECT min(id) FROM loan_rule GROUP BY reader_category, item_type ORDER BY 1")
    child = {term: value for _, category, term, value in rows if category == "child"}
    assert len(rows) == 3 * TERMS_AT_0002
    assert first_of_scope == [["1"], ["2"], ["3"]]
    assert child == {
        "loan_days": "21",
        "renewals": "2",
        "renewal_days": "14",
        "renew_from": "today",
        "holds_allowed": "false",
        "credit_per_overdue_day": "0",
        "fee_cents_per_day": "5",
        "fee_cap_cents": "300",
        "block_after_overdue_items": "3",
    }
    assert {rid for rid, category, term, _ in rows if term == "loan_days"} == {"1", "2", "3"}
    before = psql(database_url, "SELECT version FROM loan_rule_version")
    psql(database_url, "UPDATE loan_rule SET value = '20' WHERE id = 3")
    assert psql(database_url, "SELECT version FROM loan_rule_version") != before
