"""The money API's fixtures: money's small network, its copies to lend, and desks of each role at TL-A and TL-B."""

from tests.integration.money.conftest import desks

__all__ = ["desks"]
