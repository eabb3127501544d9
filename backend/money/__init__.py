"""Money: readers' charges and what settles them, deposits, payment orders, refunds and the reports on them."""
