from backend.delivery.fees import delivery_fee
from backend.delivery.policy import DeliveryPolicy
from backend.shipping.models import Destination


def test_a_service_point_is_free_and_the_door_costs_three_yuan_to_three_books_then_a_yuan_a_book() -> None:
    policy = DeliveryPolicy()

    to_the_door = [delivery_fee(Destination.HOME, books, policy) for books in range(1, 7)]
    to_a_service_point = [delivery_fee(Destination.SERVICE_POINT, books, policy) for books in range(1, 7)]

    assert to_the_door == [300, 300, 300, 400, 500, 600]
    assert to_a_service_point == [0] * 6


def test_the_scale_follows_the_policy() -> None:
    policy = DeliveryPolicy(home_fee_fen=500, home_fee_books=2, home_extra_fen=150)

    assert [delivery_fee(Destination.HOME, books, policy) for books in (1, 2, 3, 5)] == [500, 500, 650, 950]
