import asyncio
import os
import time
from pathlib import Path

import pytest

from recommendations.process import run_in_process


def _sleep_after_saying_who(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(60)


def _double(n: int) -> int:
    return 2 * n


def _fail() -> None:
    raise ValueError("no")


async def test_the_work_comes_back_from_its_process() -> None:
    assert await run_in_process(_double, 21) == 42
    with pytest.raises(ValueError, match="no"):
        await run_in_process(_fail)


async def test_cancelling_ends_the_process_at_once_instead_of_waiting_for_it(tmp_path: Path) -> None:
    said = tmp_path / "pid"
    running = asyncio.create_task(run_in_process(_sleep_after_saying_who, str(said)))
    for _ in range(600):  # the spawned interpreter starts up
        if said.exists() and said.read_text():
            break
        await asyncio.sleep(0.05)
    pid = int(said.read_text())

    started = time.monotonic()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    assert time.monotonic() - started < 5  # not the child's 60 s
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
