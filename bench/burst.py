"""The burst driver: runs in its own process, many responders as asyncio tasks, each sending its commands
back to back (the next one as soon as the previous is acknowledged). Bounded by a deadline."""

from __future__ import annotations

import asyncio
import time

from bench.requests import Prepared, post_async


async def _responder(url: str, plan: list[Prepared], deadline: float, timeout: float, out: list) -> None:
    for req in plan:
        if time.time() >= deadline:
            out.append((req.key, req.label, -1, 0.0, 0.0))  # not sent: the deadline passed
            continue
        status, sent, acked = await post_async(url, req, timeout=timeout)
        out.append((req.key, req.label, status, sent, acked))


async def _drive(url: str, plans: list[list[Prepared]], deadline_s: float, timeout: float) -> list[tuple]:
    out: list[tuple] = []
    deadline = time.time() + deadline_s
    await asyncio.gather(*(_responder(url, plan, deadline, timeout, out) for plan in plans))
    return out


def drive(url: str, plans: list[list[Prepared]], deadline_s: float, timeout: float) -> list[tuple]:
    """Entry point in the driver process: [(key, label, status, sent_at, acked_at)]; status -1 = not sent."""
    return asyncio.run(_drive(url, plans, deadline_s, timeout))


def run_in_process(url: str, plans: list[list[Prepared]], *, deadline_s: float, timeout: float) -> list[tuple]:
    """Run `drive` in a fresh (spawned) process so the load generator shares nothing with the bench."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(drive, url, plans, deadline_s, timeout).result(timeout=deadline_s + timeout + 60)
