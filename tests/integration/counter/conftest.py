"""The counter's fixtures: circulation's small network with its desks at TL-A and TL-B."""

from tests.integration.circulation.conftest import desks

__all__ = ["desks"]
