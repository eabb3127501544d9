"""The purchases API's fixtures: the purchases area's shops, clerks, administrator and budget."""

from tests.integration.purchases.conftest import partners

__all__ = ["partners"]
