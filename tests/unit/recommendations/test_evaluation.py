import json
from datetime import date
from pathlib import Path

import pytest

from entrypoints.cli import main
from recommendations.blend import POPULARITY, RECENT, Blend
from recommendations.evaluation import evaluate
from recommendations.loans_csv import read_items, read_loans

# Trained before 2020-01-01: r1 (warm) A B C; r2 A; r3 B F; A B C F are the candidates.
# Popularity: A 2, B 2, C 1, F 1. Recent (half-life 30 days): B 1.26, C 0.51, A 0.50, F 0.0002.
# First-time borrows in 2020: r1 F (A again does not count), r2 B C, r3 A, r4 (new) C D (D was never lent before).
LOANS = """reader_id,item_id,timestamp,branch
r1,A,2019-12-01,x
r1,B,2019-12-02,x
r1,C,2019-12-03,x
r2,A,2019-06-01,x
r3,B,2019-12-20T10:00:00,x
r3,F,2019-01-01,x
r1,A,2020-02-01,x
r1,F,2020-02-01,x
r2,B,2020-03-01,x
r2,C,2020-03-02,x
r3,A,2020-04-01,x
r4,C,2020-05-01 08:30,x
r4,D,2020-05-02,x
r4,A,2021-05-02,x
"""

ITEMS = """item_id,title,author,class,year,shelf
A,Ulysses,"Joyce, James",Fiction,1922,1
B,Dubliners,"Joyce, James",Fiction,,2
C,The Waste Land,"Eliot, T. S.",Poetry,1922,3
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    loans, items = tmp_path / "loans.csv", tmp_path / "items.csv"
    loans.write_text(LOANS, encoding="utf-8")
    items.write_text(ITEMS, encoding="utf-8")
    return loans, items


def test_recall_at_1_is_what_the_hand_count_says(files: tuple[Path, Path]) -> None:
    loans, items = files
    methods = {name: Blend.alone(name) for name in (POPULARITY, RECENT)}
    result = evaluate(read_loans(loans), read_items(items), {}, [date(2020, 1, 1)], 365, methods=methods, k=1)
    numbers = result.as_json()["methods"]
    # popularity: r1 F (hit), r2 B (1 of 2), r3 A (hit), r4 A (miss); recent: r1 F, r2 B, r3 C (miss), r4 B (miss)
    assert numbers[POPULARITY]["warm"] == {"recall@1": 1.0, "ndcg@1": 1.0, "readers": 1}
    assert numbers[POPULARITY]["cold"]["recall@1"] == pytest.approx(1.5 / 3)
    assert numbers[POPULARITY]["recall@1"] == pytest.approx(2.5 / 4)
    assert numbers[RECENT]["cold"]["recall@1"] == pytest.approx(0.5 / 3)
    assert numbers[RECENT]["cold"]["ndcg@1"] == pytest.approx(1 / 3)
    assert numbers[RECENT]["recall@1"] == pytest.approx(1.5 / 4)
    assert numbers[POPULARITY]["coverage"] == numbers[RECENT]["coverage"] == 0.75  # 3 of the 4 candidates shown


def test_the_command_writes_the_numbers_it_prints(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loans, items = files
    out = tmp_path / "out.json"
    arguments = ["recs", "evaluate", "--loans", str(loans), "--items", str(items), "--cutoffs", "2020-01-01"]
    with pytest.raises(SystemExit) as exit_:
        main([*arguments, "--horizon-days", "365", "--json", str(out)])
    assert exit_.value.code == 0
    numbers = json.loads(out.read_text())
    assert numbers["cutoffs"] == ["2020-01-01"]
    assert numbers["per_cutoff"]["2020-01-01"]["candidates"] == 4
    popularity, recent = numbers["methods"][POPULARITY], numbers["methods"][RECENT]
    # At 10 everything reachable is shown; r4's D was never lent before the cutoff, so r4 gets half.
    assert popularity["recall@10"] == recent["recall@10"] == pytest.approx(3.5 / 4)
    # r4's C is third by popularity (A B C F) and second by recent popularity (B C A F); r3's A second in recent.
    ideal_of_two = 1 + 1 / 1.5849625007211563
    assert popularity["cold"]["ndcg@10"] == pytest.approx((1 + 1 + 0.5 / ideal_of_two) / 3)
    assert recent["cold"]["ndcg@10"] == pytest.approx(
        (1 + 1 / 1.5849625007211563 + (1 / 1.5849625007211563) / ideal_of_two) / 3
    )
    for method in ("popularity", "recent-popularity", "co-borrow", "content", "shipped"):
        assert set(numbers["methods"][method]) == {"recall@10", "ndcg@10", "readers", "warm", "cold", "coverage"}
    printed = capsys.readouterr().out
    assert "shipped" in printed and f"{popularity['recall@10']:.4f}" in printed


def test_a_malformed_loans_file_is_refused_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loans = tmp_path / "loans.csv"
    loans.write_text("reader_id,item_id,timestamp\nr1,A,2020-01-01\nr1,B,2020-01-02\nr2,C,yesterday\n")
    with pytest.raises(SystemExit) as exit_:
        main(["recs", "evaluate", "--loans", str(loans), "--cutoffs", "2020-01-01"])
    assert exit_.value.code == 2
    assert "line 4: timestamp 'yesterday'" in capsys.readouterr().err
