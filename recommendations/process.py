"""CPU-heavy work in a spawned process of its own, awaited without holding the event loop, and killable."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from multiprocessing import get_context
from typing import Any, TypeVar

T = TypeVar("T")


async def run_in_process(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in a new spawned process (spawned, not forked: no open connection or lock of this process
    is copied into it). Cancelling the await terminates the process at once: `ProcessPoolExecutor` would keep the
    event loop waiting on its shutdown until the child finished (hours of training)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    pool = get_context("spawn").Pool(1)
    try:
        pool.apply_async(
            function,
            args,
            callback=lambda result: loop.call_soon_threadsafe(settle, result, None),
            error_callback=lambda error: loop.call_soon_threadsafe(settle, None, error),
        )
        return await done
    finally:
        # Finished: the idle child goes. Cancelled or failed: the child is killed now, not awaited.
        pool.terminate()
