"""The request the handlers are given: a JSON body that cannot be read is the client's mistake, whatever the reason."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import SerializationException


class ApiRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        """The decoded JSON body. msgspec reports most malformed JSON as a decode error, which Litestar answers with a
        400; it raises other errors for two kinds of malformed input, which would otherwise answer a 500."""
        try:
            return await super().json()
        except RecursionError as error:  # nested deeper than the interpreter's recursion limit
            raise SerializationException("JSON nested too deeply") from error
        except UnicodeDecodeError as error:  # bytes that are not UTF-8
            raise SerializationException("JSON is not valid UTF-8") from error
