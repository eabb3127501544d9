from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

# Loan rules become one row per scope and term (Koha's circulation rules): each column of a rule row becomes a term
# row of the same scope. The old row turns into its `loan_days` row, so every rule keeps its id (a rule is known by
# the id of its first row) and the other terms get rows after it. Loans stop pointing at a rule: their terms are
# resolved when needed, from the rules that apply to them then.
_TERM_COLUMNS = [
    "renewals",
    "renewal_days",
    "renew_from",
    "holds_allowed",
    "credit_per_overdue_day",
    "fee_cents_per_day",
    "fee_cap_cents",
    "block_after_overdue_items",
]
_OLD_COLUMNS = ["loan_days", *_TERM_COLUMNS]  # NOT NULL until they are dropped: the new rows carry them along
_TERM_ROWS = [
    f"INSERT INTO loan_rule (reader_category, item_type, library_id, {', '.join(_OLD_COLUMNS)}, term, value) "
    f"SELECT r.reader_category, r.item_type, r.library_id, {', '.join(f'r.{c}' for c in _OLD_COLUMNS)}, "
    "t.term, t.value FROM loan_rule r, LATERAL (VALUES "
    + ", ".join(f"({i}, '{column}', r.{column}::text)" for i, column in enumerate(_TERM_COLUMNS))
    + ") AS t (position, term, value) WHERE r.term IS NULL ORDER BY r.id, t.position",
    "UPDATE loan_rule SET term = 'loan_days', value = loan_days::text WHERE term IS NULL",
]

# One row per scope and term, where an empty scope column (NULL) counts as a value (PostgreSQL 15+).
#
# The version of the rules, for the cache every API process keeps of them (backend/circulation/rules.py): every
# statement that changes the table, whoever runs it (the policy endpoints, a migration, psql), sets a version never
# used before, in its transaction, so a process sees the new version exactly when it can see the new rules. The
# sequence starts at random, so that two databases (a test run's) never share a version either.
_RULES_AND_VERSION = [
    "ALTER TABLE loan_rule ADD CONSTRAINT loan_rule_one_per_key "
    "UNIQUE NULLS NOT DISTINCT (reader_category, item_type, library_id, term)",
    "CREATE SEQUENCE loan_rule_version_seq",
    "SELECT setval('loan_rule_version_seq', 1 + floor(random() * 1e15)::bigint)",
    "CREATE TABLE loan_rule_version (one boolean PRIMARY KEY DEFAULT TRUE CHECK (one), version bigint NOT NULL)",
    "INSERT INTO loan_rule_version (version) VALUES (nextval('loan_rule_version_seq'))",
    "CREATE FUNCTION loan_rule_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "UPDATE loan_rule_version SET version = nextval('loan_rule_version_seq'); RETURN NULL; END $$",
    "CREATE TRIGGER loan_rule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loan_rule "
    "FOR EACH STATEMENT EXECUTE FUNCTION loan_rule_changed()",
]


class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='Loan',
            options={'table': 'loan', 'app': 'models', 'indexes': [Index(fields=['reader_id', 'returned_at'])], 'pk_attr': 'id', 'table_description': 'A copy lent to a reader. At most one open loan per copy: a partial unique index (migration) says so. Its terms'},
        ),
        ops.RemoveField(model_name='Loan', name='rule'),
        ops.RemoveConstraint(
            model_name='LoanRule',
            name=None,
            fields=['reader_category', 'item_type', 'library'],
        ),
        ops.RunSQL("DROP INDEX loan_rule_one_per_key"),
        ops.AlterModelOptions(
            name='LoanRule',
            options={'table': 'loan_rule', 'app': 'models', 'pk_attr': 'id', 'table_description': "One loan rule, in the manner of Koha's circulation rules: the value of one term (`terms.TERMS`) for one scope"},
        ),
        ops.AddField(
            model_name='LoanRule',
            name='term',
            field=fields.CharField(null=True, max_length=40),
        ),
        ops.AddField(
            model_name='LoanRule',
            name='value',
            field=fields.CharField(null=True, max_length=40),
        ),
        ops.RunSQL(_TERM_ROWS),
        ops.AlterField(
            model_name='LoanRule',
            name='term',
            field=fields.CharField(max_length=40),
        ),
        ops.RemoveField(model_name='LoanRule', name='block_after_overdue_items'),
        ops.RemoveField(model_name='LoanRule', name='credit_per_overdue_day'),
        ops.RemoveField(model_name='LoanRule', name='fee_cap_cents'),
        ops.RemoveField(model_name='LoanRule', name='fee_cents_per_day'),
        ops.RemoveField(model_name='LoanRule', name='holds_allowed'),
        ops.RemoveField(model_name='LoanRule', name='loan_days'),
        ops.RemoveField(model_name='LoanRule', name='renew_from'),
        ops.RemoveField(model_name='LoanRule', name='renewal_days'),
        ops.RemoveField(model_name='LoanRule', name='renewals'),
        ops.RunSQL(_RULES_AND_VERSION),
    ]
