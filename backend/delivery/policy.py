"""The delivery rules in force, from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from backend.settings import DeliverySettings


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_books_per_order: int = 5
    max_on_loan: int = 20
    loan_days: int = 40
    home_fee_fen: int = 300
    home_fee_books: int = 3
    home_extra_fen: int = 100
    packing_library: str = ""  # a library's code; empty: the network's root library
    payment_window: timedelta = timedelta(minutes=60)
    pickup_fee_fen: int = 500
    address_retention: timedelta = timedelta(days=90)
    ship_within_days: int = 3

    @classmethod
    def of(cls, settings: DeliverySettings) -> DeliveryPolicy:
        return cls(
            max_books_per_order=settings.max_books_per_order,
            max_on_loan=settings.max_on_loan,
            loan_days=settings.loan_days,
            home_fee_fen=settings.home_fee_fen,
            home_fee_books=settings.home_fee_books,
            home_extra_fen=settings.home_extra_fen,
            packing_library=settings.packing_library,
            payment_window=timedelta(minutes=settings.payment_minutes),
            pickup_fee_fen=settings.pickup_fee_fen,
            address_retention=timedelta(days=settings.address_retention_days),
            ship_within_days=settings.ship_within_days,
        )

    def home_fee(self, books: int) -> int:
        """To the door: the first `home_fee_books` books for `home_fee_fen`, each more for `home_extra_fen`."""
        return self.home_fee_fen + max(books - self.home_fee_books, 0) * self.home_extra_fen
