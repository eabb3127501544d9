"""Field types shared by every area's request shapes."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.params import Parameter

# Free text that people type: no control characters (a NUL byte cannot even be stored by PostgreSQL).
PLAIN_TEXT = r"^[^\x00-\x1f\x7f]*$"


# A row id in a path: bounded to the database's integer, so an absurd id is a 400, not an overflow.
RowId = Annotated[int, Parameter(ge=1, le=2**31 - 1)]


def text(max_length: int, min_length: int = 0) -> msgspec.Meta:
    """Constraints of a free-text field, `Annotated[str, text(50)]`: bounded length, no control characters."""
    return msgspec.Meta(min_length=min_length, max_length=max_length, pattern=PLAIN_TEXT)
