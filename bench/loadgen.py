"""A lean HTTP/1.1 keep-alive client for load generation: one request in flight per connection, written on raw
asyncio streams. httpx costs about a millisecond of CPU per request on these machines, so with the server on the
same two cores it, not the server, sets the rate (wrk measured /readers/me at about 1,900 requests/s where httpx
reached 300-500); this client costs a small fraction of that and can send a different token on every request,
which wrk cannot do without a script per run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader, self._writer, self._host = reader, writer, host

    @classmethod
    async def open(cls, base_url: str) -> Connection:
        url = urlsplit(base_url)
        assert url.hostname is not None and url.port is not None, base_url
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        return cls(reader, writer, url.netloc)

    async def request(
        self, method: str, path: str, token: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\nAuthorization: Bearer {token}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self._writer.write(head.encode() + b"\r\n" + (body or b""))
        status_line, *headers = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next(  # none: a 204, which has no body
            (int(value) for name, _, value in (h.partition(":") for h in headers) if name.lower() == "content-length"),
            0,
        )
        return Answer(int(status_line.split(" ", 2)[1]), await self._reader.readexactly(length))

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()
