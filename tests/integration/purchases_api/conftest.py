"""The purchases API's fixtures: the purchases area's shops, clerks, administrator and budget, and the service's clock
at the moment those are set up for (their budget is for its year, their stock new in it)."""

import pytest

from tests.integration.purchases.conftest import NOW, partners
from tests.integration.service import Service

__all__ = ["partners"]


@pytest.fixture(autouse=True)
def at_the_partners_moment(service: Service) -> None:
    service.clock.freeze_at(NOW)
