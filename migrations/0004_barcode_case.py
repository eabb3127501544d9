from tortoise import migrations
from tortoise.migrations import operations as ops

# Barcodes are stored in one form, upper-cased without surrounding spaces (backend/catalog/barcodes.py), so that
# `tlc0000001` and `TLC0000001` are one barcode in the catalogue as they already were at the desk. Copies whose
# barcodes differ only in case or spaces are two labelled items: merging them would lose one, so the migration
# stops and names them, for a librarian to relabel one before migrating again.
_REFUSE_CLASHES = """
DO $$
DECLARE
    clashes text;
BEGIN
    SELECT string_agg(barcodes, '; ') INTO clashes FROM (
        SELECT string_agg(barcode || ' (copy ' || id || ')', ', ' ORDER BY id) AS barcodes
        FROM "copy"
        GROUP BY upper(btrim(barcode, E' \\t\\r\\n'))
        HAVING count(*) > 1
    ) AS same;
    IF clashes IS NOT NULL THEN
        RAISE EXCEPTION 'copy barcodes that differ only in case or surrounding spaces would become one: %', clashes
            USING HINT = 'Give one copy of each group a new barcode, then run the migration again.';
    END IF;
END $$
"""
_UPPER_CASE = (
    "UPDATE \"copy\" SET barcode = upper(btrim(barcode, E' \\t\\r\\n')) "
    "WHERE barcode <> upper(btrim(barcode, E' \\t\\r\\n'))"
)


class Migration(migrations.Migration):
    dependencies = [("models", "0003_suspension_scope")]

    initial = False

    operations = [
        ops.RunSQL([_REFUSE_CLASHES, _UPPER_CASE], reverse_sql=ops.RunSQL.noop),
    ]
