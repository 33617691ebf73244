"""``atsock demo``: stream data through a module to a real TCP peer and prove it arrived.

By default everything is local: the emulator runs on a pty in a process of its own,
the peer is a TCP echo server on 127.0.0.1, and the driver streams a payload (full of
``+++`` and ``\\r\\nOK\\r\\n``, the sequences that trip naive drivers) through
transparent mode, reads the echo back, leaves with the guard-timed ``+++`` and checks
both directions byte for byte (sha256). With ``--port``/``--peer`` the same run goes
through a real module to a real peer.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from atsock.sync.module import Module
from atsock.testing import TcpEcho
from atsock.types import SocketType

#: Pieces of payload that must pass through untouched.
TRICKY = (b"+++", b"\r\nOK\r\n", b"+EVENT:SocketDown,1,5\r\n", b"\r\n+++\r\n", b"ready\r\n")
BLOCK = 1 << 20
CHUNK = 64 * 1024


def payload_blocks(size: int, seed: int = 2026) -> Iterator[bytes]:
    """``size`` bytes of random data salted with :data:`TRICKY` sequences, in blocks."""
    rng = random.Random(seed)
    block = bytearray(rng.randbytes(BLOCK))
    for offset in range(0, BLOCK - 64, 997):
        piece = TRICKY[offset % len(TRICKY)]
        block[offset : offset + len(piece)] = piece
    data = bytes(block)
    sent = 0
    while sent < size:
        n = min(BLOCK, size - sent)
        yield data[:n]
        sent += n


class EmulatorProcess:
    """``atsock emulate --pty`` in a process of its own; its first line is the URL."""

    def __init__(self, baud: int | None) -> None:
        cmd = [sys.executable, "-m", "atsock", "emulate", "--pty"]
        if baud:
            cmd += ["--baud", str(baud)]
        # a session of its own: Ctrl-C in the terminal interrupts the demo, which then
        # stops the emulator itself (killed first, it took the port down mid-stream)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url:
            code = self.proc.wait(5)
            raise RuntimeError(f"the emulator did not start (exit status {code})")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@dataclass
class Report:
    size: int
    seconds: float
    cpu_seconds: float
    sent_sha256: str
    echo_sha256: str
    line_rate: float | None

    @property
    def verified(self) -> bool:
        return self.sent_sha256 == self.echo_sha256

    def lines(self) -> list[str]:
        rate = self.size / self.seconds / 1e6 if self.seconds else 0.0
        out = [
            f"  bytes each way   {self.size:,}",
            f"  seconds          {self.seconds:.2f}",
            f"  throughput       {rate:.1f} MB/s up, {rate:.1f} MB/s down (concurrently)",
            f"  driver CPU       {self.cpu_seconds:.2f} s "
            f"({100 * self.cpu_seconds / max(self.seconds, 1e-9):.0f} % of one core)",
        ]
        if self.line_rate:
            share = self.size / self.seconds / self.line_rate if self.seconds else 0.0
            out.append(
                f"  line rate        {self.line_rate / 1e6:.3f} MB/s: {share:.1%} of it used"
            )
        out.append(f"  sha256 sent      {self.sent_sha256}")
        out.append(f"  sha256 echoed    {self.echo_sha256}")
        out.append(f"  verified         {'yes' if self.verified else 'NO'}")
        return out


class Progress:
    """A tqdm bar on a terminal; plain lines at each quarter otherwise (NO_COLOR honoured)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self._next_mark = total // 4
        self._bar: Any = None
        if stream.isatty():
            from tqdm import tqdm

            colour = None if os.environ.get("NO_COLOR") else "green"
            self._bar = tqdm(
                total=total, unit="B", unit_scale=True, desc="echoed", file=stream, colour=colour
            )

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.done >= self._next_mark and self.total:
            print(f"  … {self.done * 100 // self.total} % echoed", file=self.stream, flush=True)
            self._next_mark += max(1, self.total // 4)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run_demo(
    *,
    size: int,
    baud: int | None = None,
    port: str | None = None,
    peer: tuple[str, int] | None = None,
    out: TextIO = sys.stdout,
) -> Report:
    """Runs the demo and returns its report (printing as it goes)."""
    emulator = EmulatorProcess(baud) if port is None else None
    echo = TcpEcho(record=False) if peer is None else None
    url = port or (emulator.url if emulator else "")
    target = peer or (echo.address if echo else ("127.0.0.1", 0))
    line_rate = baud / 10 if baud else None
    # a real UART runs at the baud rate asked for (the kernel paces it); a pty before the
    # emulator is told the line rate the emulator paces at
    uart = {"baudrate": baud} if port and baud else {"link_rate": line_rate}
    try:
        with Module(url, timeout=10.0, **uart) as module:
            print(f"module on {url}", file=out)
            for line in module.version():
                print(f"  {line}", file=out)
            con_id = module.open_socket(SocketType.TCP_CLIENT, target[0], target[1])
            print(f"connected to {target[0]}:{target[1]} as ConID {con_id}", file=out)
            report = _stream(module, size, line_rate, out)
            module.delete(con_id)
    finally:
        if echo is not None:
            echo.close()
        if emulator is not None:
            emulator.close()
    for line in report.lines():
        print(line, file=out)
    return report


def _stream(module: Module, size: int, line_rate: float | None, out: TextIO) -> Report:
    sent_hash, echo_hash = hashlib.sha256(), hashlib.sha256()
    failure: list[BaseException] = []
    print(f"streaming {size:,} bytes through transparent mode …", file=out, flush=True)
    progress = Progress(size, out)
    start, cpu_start = time.monotonic(), time.process_time()
    stop = threading.Event()
    with module.transparent(timeout=30.0) as stream:

        def writer() -> None:
            try:
                for block in payload_blocks(size):
                    sent_hash.update(block)
                    for offset in range(0, len(block), CHUNK):
                        if stop.is_set():
                            return
                        stream.write(block[offset : offset + CHUNK])
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=writer, name="demo-writer", daemon=True)
        thread.start()
        received = 0
        try:
            while received < size:
                data = stream.read(1 << 20, timeout=30.0)
                echo_hash.update(data)
                received += len(data)
                progress.update(len(data))
        finally:  # (Ctrl-C: the writer stops before the stream is left with +++)
            stop.set()
            thread.join()
        seconds = time.monotonic() - start
    progress.close()
    cpu = time.process_time() - cpu_start
    if failure:
        raise failure[0]
    print("left transparent mode (+++, OK)", file=out)
    return Report(size, seconds, cpu, sent_hash.hexdigest(), echo_hash.hexdigest(), line_rate)
