"""``Changes``, the asyncio front-end's wait for the protocol's state: every waiter with a
deadline shares one timer, and each still wakes by its own deadline, not before."""

from __future__ import annotations

import asyncio

from atsock.aio.link import Changes


async def _woke_at(changes: Changes, until: float) -> float:
    loop = asyncio.get_running_loop()
    await changes.wait(loop, until)
    return loop.time()


def test_each_waiter_wakes_by_its_own_deadline_whatever_order_they_came_in() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        changes, start = Changes(), loop.time()
        late = asyncio.ensure_future(_woke_at(changes, start + 1.0))
        await asyncio.sleep(0)  # (the timer is set for the later deadline first)
        early = asyncio.ensure_future(_woke_at(changes, start + 0.05))
        middle = asyncio.ensure_future(_woke_at(changes, start + 0.15))
        woke = await asyncio.gather(early, middle, late)
        for at, deadline in zip(woke, (0.05, 0.15, 1.0)):
            assert start + deadline <= at + 0.002, f"woke {at - start:.3f} s in, before {deadline}"
            assert at - start < deadline + 0.4, f"woke {at - start:.3f} s in, long after {deadline}"

    asyncio.run(main())


def test_a_change_wakes_every_waiter_and_their_timer_wakes_nobody_later() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        changes = Changes()
        waiters = [asyncio.ensure_future(_woke_at(changes, loop.time() + 0.05)) for _ in range(3)]
        forever = asyncio.ensure_future(_woke_at(changes, float("inf")))
        await asyncio.sleep(0)
        changes.notify()
        await asyncio.wait_for(asyncio.gather(*waiters, forever), 1.0)
        # a new waiter after the change waits for its own deadline, not the stale timer's
        start = loop.time()
        at = await _woke_at(changes, start + 0.20)
        assert at - start >= 0.198

    asyncio.run(main())


def test_a_cancelled_waiter_leaves_the_others_waiting_and_timed() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        changes, start = Changes(), loop.time()
        gone = asyncio.ensure_future(_woke_at(changes, start + 0.05))
        kept = asyncio.ensure_future(_woke_at(changes, start + 0.10))
        await asyncio.sleep(0)
        gone.cancel()
        at = await asyncio.wait_for(kept, 1.0)
        assert start + 0.10 <= at + 0.002
        assert gone.cancelled()

    asyncio.run(main())
