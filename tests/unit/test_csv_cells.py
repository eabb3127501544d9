import csv
import io

from backend.spreadsheets import csv_document, safe_cell


def test_a_text_cell_that_a_spreadsheet_would_evaluate_gets_a_leading_quote() -> None:
    for formula in ("=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"):
        assert safe_cell(formula) == f"'{formula}"


def test_other_cells_are_written_as_they_are() -> None:
    assert [safe_cell(v) for v in ("王小明", "a=b", "", " =1", "'quoted")] == ["王小明", "a=b", "", " =1", "'quoted"]
    assert [safe_cell(v) for v in (-5, 2.5, None)] == ["-5", "2.5", ""]


def test_a_csv_document_has_a_bom_a_header_and_safe_cells() -> None:
    text = csv_document(["name", "seats"], [['=HYPERLINK("http://evil.example/","x")', 2]])

    assert text.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(text.removeprefix("\ufeff")))) == [
        ["name", "seats"],
        ['\'=HYPERLINK("http://evil.example/","x")', "2"],
    ]
