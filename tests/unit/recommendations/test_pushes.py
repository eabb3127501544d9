from recommendations.pushes import in_batches

# card -> whom its message tells: readers 1, 2 and 5 on their own cards, reader 3 with their children's cards 7 and 9.
CARDS = {5: 5, 9: 3, 1: 1, 3: 3, 7: 3, 2: 2}


def test_a_push_goes_through_its_readers_in_order_with_a_guardians_cards_in_one_batch() -> None:
    assert list(in_batches(CARDS, after=0, size=2)) == [{1: 1, 2: 2}, {3: 3, 7: 3, 9: 3, 5: 5}]


def test_a_push_run_again_goes_on_after_the_last_reader_told() -> None:
    assert list(in_batches(CARDS, after=2, size=1)) == [{3: 3, 7: 3, 9: 3}, {5: 5}]
    assert list(in_batches(CARDS, after=5, size=1)) == []
