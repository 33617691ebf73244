"""Processes, peers and measurements shared by the end-to-end benchmarks.

The end-to-end benchmarks drive a real :class:`atsock.Module` over a real pty to the
emulator running in a process of its own (:class:`atsock.demo.EmulatorProcess`), whose
sockets reach a TCP echo peer (:class:`atsock.testing.TcpEcho`). The peer runs in a
process of its own too, so that everything this (the driver's) process spends — CPU
seconds, resident memory — is the driver's.

Every helper here cleans up after itself: processes are terminated and waited for,
their pipes closed, descriptors closed (the test run turns warnings into errors).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import serial
from pytest_benchmark.fixture import BenchmarkFixture

from atsock import Module, SocketType
from atsock.demo import EmulatorProcess, payload_blocks
from atsock.sync.transparent import TransparentStream

MIB = 1 << 20
#: Bytes per write into the transparent stream (what the demo writes).
WRITE_CHUNK = 64 * 1024
#: Bytes asked for per read from the transparent stream.
READ_CHUNK = 1 << 20
#: One block of the demo's payload (random bytes salted with +++, \r\nOK\r\n, ...).
PAYLOAD = next(payload_blocks(MIB))
#: Wait for any single step of a benchmark; generous, the CI machine has 2 cores.
STEP_TIMEOUT = 60.0

_PEER_SCRIPT = """
import sys
from atsock.testing import TcpEcho
peer = TcpEcho(record=False)
print(peer.address[1], flush=True)
sys.stdin.read()
peer.close()
"""


def disabled(benchmark: BenchmarkFixture) -> bool:
    """True in ``make test`` (``--benchmark-disable``): run a tiny version only."""
    return bool(benchmark.disabled)


def value_row(
    measure: str,
    value: float,
    unit: str,
    op: str | None = None,
    limit: float | None = None,
    *,
    reference: float | None = None,
    reference_label: str = "",
) -> dict[str, object]:
    """A table row that is a value against a target, not a ratio (see summary_table.py); a
    ``reference`` (the same measure of another run in this one) is shown beside it."""
    return {
        "measure": measure,
        "value": value,
        "unit": unit,
        "op": op,
        "limit": limit,
        "reference": reference,
        "reference_label": reference_label,
    }


def pedantic(
    benchmark: BenchmarkFixture,
    target: Callable[[], object],
    rounds: int,
    paired_with: Callable[[], object] | None = None,
    block: int = 1,
    *,
    record_pairs: bool = True,
    reference: tuple[str, Callable[[], object]] | None = None,
) -> None:
    """Times ``rounds`` calls of ``target`` (one call when benchmarks are disabled).

    With ``paired_with`` (a baseline), the rounds alternate with as many calls of it,
    ``block`` at a time, in the order ABBA (see :class:`PairedBaseline`); their seconds
    go to ``extra_info["paired_baseline_seconds"]``, and the table compares atsock with
    those (see summary_table.py). Load that drifts over the run then weighs on both
    sides of a ratio, and neither side always comes first. A ``reference`` (label,
    callable) runs as a block of its own after each block of the baseline, timed into
    ``extra_info["reference_seconds"]``: a second baseline the table shows beside the
    first, without a target."""
    run: Callable[..., object] = benchmark.pedantic  # untyped in pytest-benchmark
    if paired_with is None:
        run(target, rounds=rounds, iterations=1, warmup_rounds=0)
        return
    paired = PairedBaseline(paired_with, rounds, block, reference[1] if reference else None)
    if reference is not None:
        benchmark.extra_info.update(
            reference_label=reference[0], reference_seconds=paired.reference_seconds
        )
    if record_pairs:  # (False: the rounds alternate, but the table compares with another)
        benchmark.extra_info.update(paired_baseline_seconds=paired.seconds, paired_block=block)
    # (no warmup rounds: each call of the setup and the teardown is a timed round's)
    run(target, setup=paired.before, teardown=paired.after, rounds=rounds, warmup_rounds=0)


class PairedBaseline:
    """A benchmark's setup and teardown that run ``baseline`` as often as the benchmark
    runs its ``rounds``, ``block`` calls at a time: before the even blocks of rounds and
    after the odd ones (ABBA), each call timed (``time.perf_counter``, pytest-benchmark's
    default timer) into :attr:`seconds`, in round order. A ``reference`` runs as many
    calls right after each block of the baseline, timed into :attr:`reference_seconds`."""

    def __init__(
        self,
        baseline: Callable[[], object],
        rounds: int,
        block: int = 1,
        reference: Callable[[], object] | None = None,
    ) -> None:
        if block < 1:
            raise ValueError(f"block must be at least 1, not {block}")
        self.baseline = baseline
        self.reference = reference
        self.rounds = rounds
        self.block = block
        self.seconds: list[float] = []
        self.reference_seconds: list[float] = []
        self._before = self._after = 0  # rounds started, rounds ended

    def before(self) -> None:
        """The setup of a round: a block of baseline calls if an even block starts."""
        started, self._before = self._before, self._before + 1
        if started < self.rounds and started % self.block == 0 and started // self.block % 2 == 0:
            self._run(min(self.block, self.rounds - started))

    def after(self) -> None:
        """The teardown of a round: a block of baseline calls if an odd block ended."""
        ended, self._after = self._after, self._after + 1
        first = ended - ended % self.block
        last = min(first + self.block, self.rounds) - 1
        if ended == last and first // self.block % 2 == 1:
            self._run(last - first + 1)

    def _run(self, calls: int) -> None:
        _timed(self.baseline, calls, self.seconds)
        if self.reference is not None:
            _timed(self.reference, calls, self.reference_seconds)


def _timed(call: Callable[[], object], calls: int, seconds: list[float]) -> None:
    for _ in range(calls):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)


class EchoPeerProcess:
    """:class:`atsock.testing.TcpEcho` in a process of its own (stops when stdin closes)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PEER_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.close()
            raise RuntimeError("the echo peer did not start")
        self.address = ("127.0.0.1", int(port))

    def close(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[str]) -> None:
    """Ends ``proc`` (EOF on stdin, then SIGTERM, then SIGKILL) and closes its pipes."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(2)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@contextlib.contextmanager
def echo_peer() -> Iterator[tuple[str, int]]:
    """The address of an echo peer process, stopped afterwards."""
    peer = EchoPeerProcess()
    try:
        yield peer.address
    finally:
        peer.close()


@contextlib.contextmanager
def emulators(count: int, baud: int | None = None) -> Iterator[list[str]]:
    """``count`` emulator processes (``atsock emulate --pty``), started in parallel;
    yields their URLs (``/dev/pts/N``) and stops them all afterwards."""
    started: list[EmulatorProcess] = []
    lock = threading.Lock()

    def start() -> str:
        emulator = EmulatorProcess(baud)
        with lock:
            started.append(emulator)
        return emulator.url

    try:
        with ThreadPoolExecutor(max_workers=min(count, 8)) as pool:
            urls = list(pool.map(lambda _: start(), range(count)))
        yield urls
    finally:
        for emulator in started:
            emulator.close()
            if emulator.proc.stdout is not None:
                emulator.proc.stdout.close()


@contextlib.contextmanager
def connected_module(
    url: str, peer: tuple[str, int], *, link_rate: float | None = None
) -> Iterator[tuple[Module, int]]:
    """A driver on ``url`` with one TCP client connection to ``peer``: (module, ConID).

    The connection is not deleted at the end (that would wait out the firmware's
    post-``+++`` delay for nothing): the emulator process is stopped right after."""
    with Module(url, timeout=10.0, exit_delay=0.05, link_rate=link_rate) as module:
        con_id = module.open_socket(SocketType.TCP_CLIENT, peer[0], peer[1])
        yield module, con_id


def echo_stream(
    stream: TransparentStream, size: int, chunk: int = WRITE_CHUNK, usage: Usage | None = None
) -> None:
    """Writes ``size`` bytes of payload (``chunk`` bytes per write, on a thread) while
    reading the peer's echo of them; returns once all of it came back. With ``usage``,
    adds the CPU time of the reading and the writing thread to its roles."""
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            with thread_role(usage, "writer"):
                for piece in payload_pieces(size, chunk):
                    stream.write(piece)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=writer, name="bench-writer", daemon=True)
    thread.start()
    received = 0
    try:
        with thread_role(usage, "reader"):
            while received < size and not failure:
                received += len(stream.read(READ_CHUNK, timeout=STEP_TIMEOUT))
    finally:
        thread.join(STEP_TIMEOUT)
    if failure:
        raise failure[0]
    assert received == size, f"{received} bytes echoed of {size}"


# --- the raw pty baseline --------------------------------------------------------------------


def raw_pty_duplex(size: int, chunk: int = WRITE_CHUNK) -> None:
    """``size`` bytes each way through a pty pair in raw mode, both directions at once
    (master → slave and slave → master), with plain blocking os.write/os.read on four
    threads: the most a pty moves on this machine, shaped like the atsock echo run."""
    master, slave = os.openpty()
    try:
        tty.setraw(slave)
        _pump_concurrently([(master, slave), (slave, master)], size, chunk)
    finally:
        os.close(master)
        os.close(slave)


def _pump_concurrently(
    routes: list[tuple[int, int]], size: int, chunk: int, usage: Usage | None = None
) -> None:
    """For each (write fd, read fd): ``size`` bytes written to one while as many are read
    from the other, on a thread each, all at once; returns when every thread finished.
    With ``usage``, adds the threads' CPU time to its roles "writer" and "reader"."""
    threads = []
    for write_fd, read_fd in routes:
        threads.append(threading.Thread(target=_pump_write, args=(write_fd, size, chunk, usage)))
        threads.append(threading.Thread(target=_pump_read, args=(read_fd, size, usage)))
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join(STEP_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "raw pty pumps did not finish"


def payload_pieces(size: int, chunk: int = WRITE_CHUNK) -> Iterator[memoryview]:
    """``size`` bytes of :data:`PAYLOAD`, over and over, as views of ``chunk`` bytes (the
    last one shorter): what every echo run writes."""
    view = memoryview(PAYLOAD)
    left = size
    while left > 0:
        for offset in range(0, len(view), chunk):
            piece = view[offset : offset + min(chunk, left)]
            left -= len(piece)
            yield piece
            if left <= 0:
                return


def _pump_write(fd: int, size: int, chunk: int, usage: Usage | None = None) -> None:
    with thread_role(usage, "writer"):
        for piece in payload_pieces(size, chunk):
            while piece:
                piece = piece[os.write(fd, piece) :]


def _pump_read(fd: int, size: int, usage: Usage | None = None) -> None:
    got = 0
    # one reusable buffer: os.read(fd, READ_CHUNK) would map and unmap a fresh MiB on
    # every read (~14 µs, far more than a pty read itself)
    buffer = memoryview(bytearray(READ_CHUNK))
    with thread_role(usage, "reader"):
        while got < size:
            got += os.readv(fd, [buffer])


# --- the bare relay: the same processes and sockets, no atsock code -------------------------

_RELAY_SCRIPT = """
import os, socket, sys, threading
master = int(sys.argv[1])
sock = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
def up():
    while data := os.read(master, 65536):
        sock.sendall(data)
threading.Thread(target=up, daemon=True).start()
print("ready", flush=True)
while data := sock.recv(65536):
    view = memoryview(data)
    while view:
        view = view[os.write(master, view):]
"""


@contextlib.contextmanager
def bare_relay(peer: tuple[str, int]) -> Iterator[int]:
    """A pty whose master end a minimal relay process (two blocking threads, one send
    per pty read, no guard, no packets, no AT) connects to ``peer`` over TCP; yields
    the raw slave descriptor."""
    master, slave = os.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen(
        [sys.executable, "-c", _RELAY_SCRIPT, str(master), str(peer[1])],
        pass_fds=(master,),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    os.close(master)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the bare relay did not start")
        yield slave
    finally:
        stop_process(proc)
        os.close(slave)


@contextlib.contextmanager
def raw_transparent(url: str, peer: tuple[str, int]) -> Iterator[int]:
    """The emulator at ``url`` in transparent mode to ``peer``, set up with plain
    pyserial (no atsock driver); yields the port's descriptor, blocking, VMIN=1."""
    with serial.Serial(url, timeout=STEP_TIMEOUT) as port:
        for line, answer in ((b"AT+SOCKET=4,%s,%d" % (peer[0].encode(), peer[1]), b"OK\r\n"),
                             (b"AT+SOCKETTT", b">")):  # fmt: skip
            port.write(line + b"\r\n")
            reply = port.read_until(answer)
            if not reply.endswith(answer):
                raise RuntimeError(f"{line!r} answered {reply!r}")
        fd = port.fileno()
        os.set_blocking(fd, True)
        attributes = termios.tcgetattr(fd)
        attributes[6][termios.VMIN], attributes[6][termios.VTIME] = 1, 0
        termios.tcsetattr(fd, termios.TCSANOW, attributes)
        yield fd


def raw_echo(fd: int, size: int, chunk: int = WRITE_CHUNK, usage: Usage | None = None) -> None:
    """``size`` bytes written to ``fd`` on one thread while their echo is read on
    another, with plain blocking os.write/os.read (the host end of the reference runs)."""
    _pump_concurrently([(fd, fd)], size, chunk, usage)


# --- process measurements --------------------------------------------------------------------


def rss_bytes() -> int:
    """This process's resident set size (``VmRSS`` in /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass
class Usage:
    """Wall and CPU seconds (all threads of this process) over a ``with`` block, and the
    CPU seconds of the threads playing a role in it (see :meth:`add_role`)."""

    wall: float = 0.0
    cpu: float = 0.0
    roles: dict[str, float] = field(default_factory=dict)

    def add_role(self, role: str, seconds: float) -> None:
        """Adds a thread's CPU seconds to ``role`` (one thread per role at a time)."""
        self.roles[role] = self.roles.get(role, 0.0) + seconds

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu


@contextlib.contextmanager
def thread_role(usage: Usage | None, role: str) -> Iterator[None]:
    """Adds the calling thread's CPU seconds over the block to ``usage``'s ``role``
    (nothing without a ``usage``), also when the block raises."""
    started = time.thread_time()
    try:
        yield
    finally:
        if usage is not None:
            usage.add_role(role, time.thread_time() - started)


def describe_scale(
    benchmark: BenchmarkFixture,
    count: int,
    size: int,
    per_module: list[float],
    group_of: Callable[[int], str],
) -> None:
    """The scale benchmarks' report: ``count`` modules of ``size`` bytes each way, their
    MB/s (``per_module``), fairness (slowest over fastest) against one module's group."""
    fairness = min(per_module) / max(per_module)
    benchmark.extra_info.update(
        impl="atsock",
        bytes=size * count,
        modules=count,
        bytes_per_module=size,
        direction="both directions concurrently; bytes = each way, all modules",
        write_chunk=WRITE_CHUNK,
        per_module_mbps=per_module,
        fairness=fairness,
    )
    if count > 1:  # one module is trivially fair
        benchmark.extra_info["baseline_group"] = group_of(1)
        benchmark.extra_info["rows"] = [
            value_row(f"{group_of(count)} fairness (min/max)", fairness, "")
        ]
