"""The emulator's worker threads: slow work (DNS, connect, TLS handshakes) runs off the
loop, and its result goes back to the firmware on the loop thread; work the firmware no
longer wants (it rebooted since) is discarded, never shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from atsock.emulator.firmware.actions import Action, Failed, Result
from atsock.emulator.firmware.core import Firmware
from atsock.emulator.firmware.errors import CommandFailed

log = logging.getLogger("atsock.emulator")

T = TypeVar("T")

#: Threads for slow work at once.
WORKERS = 4


class Workers:
    """A thread pool whose results reach the firmware through the loop (``call_soon``)."""

    def __init__(
        self,
        firmware: Firmware,
        carry_out: Callable[[list[Action]], None],
        call_soon: Callable[[Callable[[], None]], None],
    ) -> None:
        self._firmware = firmware
        self._carry_out = carry_out
        self._call_soon = call_soon
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="atsock-emu-worker")

    def submit(self, work: Callable[[], T]) -> Future[T]:
        """Plain work whose caller handles the result itself."""
        return self._pool.submit(work)

    def run(
        self, token: int, work: Callable[[], T], done: Callable[[T], Result], code: int
    ) -> None:
        """Runs ``work``; its result (``done`` of it, or Failed with the CommandFailed's
        code, else ``code``) goes to the firmware as ``token``'s."""

        def finished(future: Future[T]) -> None:
            def on_loop() -> None:
                if not self._firmware.expects(token):
                    _discard(future)
                    return
                exc = future.exception()
                result: Result
                if exc is None:
                    result = done(future.result())
                else:
                    if not isinstance(exc, CommandFailed):
                        log.info("work for token %d failed: %s", token, exc)
                    result = Failed(getattr(exc, "code", None) or code)
                self._carry_out(self._firmware.work_done(token, result))

            self._call_soon(on_loop)

        self._pool.submit(work).add_done_callback(finished)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _discard(future: Future[Any]) -> None:
    """Closes what a worker made for the module before it rebooted (a socket)."""
    if future.exception() is None:
        close = getattr(future.result(), "close", None)
        if callable(close):
            close()
