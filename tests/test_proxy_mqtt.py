"""An unmodified MQTT client (paho-mqtt, which selects on a real descriptor) over the
module through ``atsock proxy``, against Debian's real broker (mosquitto) on loopback:
it subscribes and gets what a direct client publishes, and publishes what a direct
subscriber gets — QoS 1, binary payloads, byte for byte."""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import socks  # (PySocks: paho-mqtt's proxy support)

import atsock
from atsock.proxy import SocksProxy
from driver_fixtures import *  # noqa: F403  (the fixtures)
from peers import wait_until

mqtt = pytest.importorskip("paho.mqtt.client")

TIMEOUT = 10.0
MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
)
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="needs Debian's mosquitto broker: apt-get install mosquitto"
)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    """A mosquitto broker on 127.0.0.1 (a free port); its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    assert MOSQUITTO is not None
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        assert wait_until(lambda: _listening(port), TIMEOUT), "mosquitto did not start"
        yield port
    finally:
        process.terminate()
        process.communicate(timeout=TIMEOUT)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture
def proxy(module: atsock.Module) -> Iterator[SocksProxy]:
    with module.serve_socks() as served:
        yield served


class Client:
    """A paho-mqtt client, connected (through the proxy when given one), whose received
    messages land in a queue."""

    def __init__(self, port: int, proxy: SocksProxy | None = None) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.subscribed = queue.Queue[int]()
        self.paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.paho.on_message = lambda _c, _u, msg: self.messages.put((msg.topic, msg.payload))
        self.paho.on_subscribe = lambda _c, _u, mid, *_: self.subscribed.put(mid)
        if proxy is not None:
            host, proxy_port = proxy.address
            self.paho.proxy_set(
                proxy_type=socks.SOCKS5, proxy_addr=host, proxy_port=proxy_port, proxy_rdns=True
            )
        self.paho.connect("127.0.0.1", port, keepalive=30)
        self.paho.loop_start()

    def subscribe(self, topic: str) -> None:
        _, mid = self.paho.subscribe(topic, qos=1)
        assert self.subscribed.get(timeout=TIMEOUT) == mid

    def publish(self, topic: str, payload: bytes) -> None:
        self.paho.publish(topic, payload, qos=1).wait_for_publish(TIMEOUT)

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


def test_an_mqtt_client_over_the_module_subscribes_and_publishes(
    module: atsock.Module, proxy: SocksProxy, broker: int
) -> None:
    over_module, direct = Client(broker, proxy), Client(broker)
    try:
        over_module.subscribe("rig/in")
        direct.subscribe("rig/out")
        assert [r.target for r in proxy.stats.open_relays()] == [("127.0.0.1", broker)]
        payloads = [bytes(range(256)), os.urandom(20_000), b"+++\r\nAT\r\n"]
        for payload in payloads:
            direct.publish("rig/in", payload)
            assert over_module.messages.get(timeout=TIMEOUT) == ("rig/in", payload)
            over_module.publish("rig/out", payload[::-1])
            assert direct.messages.get(timeout=TIMEOUT) == ("rig/out", payload[::-1])
    finally:
        over_module.close()
        direct.close()
    assert wait_until(lambda: module.sockets() == [], TIMEOUT)
