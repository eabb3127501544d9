from pathlib import Path

import pytest

from recommendations.loans_csv import MalformedFile, read_items, read_loans, read_readers


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "file.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("reader,item_id,timestamp\nr1,A,2020-01-01\n", 1, "the header lacks reader_id"),
        ("reader_id,item_id,timestamp\nr1,A,2020-01-01\nr1,B\n", 3, "2 fields where the header has 3"),
        ("reader_id,item_id,timestamp\nr1,A,2020-01-01\n\n,B,2020-01-01\n", 4, "reader_id is empty"),
        ('reader_id,item_id,timestamp\n"r1\nstill r1",A,2020-01-01\nr2,B,2020-13-01\n', 4, "timestamp '2020-13-01'"),
    ],
)
def test_a_malformed_loans_file_names_its_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    with pytest.raises(MalformedFile) as refused:
        read_loans(write(tmp_path, text))
    assert refused.value.line == line
    assert problem in str(refused.value)
    assert f"line {line}" in str(refused.value)


def test_a_year_that_is_not_a_number_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(MalformedFile, match="line 3: year 'MCMXXII'"):
        read_items(write(tmp_path, "item_id,title,year\nA,Ulysses,1922\nB,Dubliners,MCMXXII\n"))


def test_unknown_columns_are_ignored_and_empty_cells_allowed(tmp_path: Path) -> None:
    items = read_items(write(tmp_path, "shelf,item_id,author,title\n3,A,,Ulysses\n"))
    assert items["A"].title == "Ulysses" and items["A"].author == "" and items["A"].year is None
    log = read_loans(write(tmp_path, "\ufeffTimestamp,reader_id,item_id,note\n2020-01-01T08:00:00+08:00,r1,A,\n"))
    assert log.reader_keys == ("r1",) and log.item_keys == ("A",)
    assert log.days[0] == pytest.approx(18262.0)  # midnight UTC on 2020-01-01


def test_reader_columns_other_than_the_id_are_segments(tmp_path: Path) -> None:
    readers = read_readers(write(tmp_path, "reader_id,library,age_band\nr1,TL-03,\nr2,TL-01,3-6\n"))
    assert readers == {"r1": {"library": "TL-03"}, "r2": {"library": "TL-01", "age_band": "3-6"}}
