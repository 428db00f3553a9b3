"""Issue 13, the fast part (in `make test`): the node list in the settings, and a connection that goes
to the first live node of the list. A node lost under a live connection: tests/cluster/test_node_loss.py."""

from __future__ import annotations

import os

import aio_pika
import pytest

from ops.free_ports import free_port
from services.common.messaging.broker import FailoverConnection, connect_broker
from services.common.settings import Settings, load_settings
from tests.infra import rabbitmqctl
from tests.support import eventually

LIVE = "amqp://guest:guest@127.0.0.1:5672/"


def dead_url() -> str:
    """A local port nobody listens on."""
    return f"amqp://guest:guest@127.0.0.1:{free_port()}/"


def test_the_node_list_is_read_comma_separated_or_as_json_and_its_first_node_is_amqp_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MEDINS_AMQP_URL", raising=False)
    monkeypatch.setenv("MEDINS_AMQP_URLS", "amqp://a:5681/, amqp://b:5682/")
    settings = Settings()
    assert settings.broker_urls == ("amqp://a:5681/", "amqp://b:5682/")
    assert settings.amqp_url == "amqp://a:5681/"
    monkeypatch.setenv("MEDINS_AMQP_URLS", '["amqp://c:5683/"]')
    assert Settings().broker_urls == ("amqp://c:5683/",)


def test_without_a_node_list_the_one_broker_is_amqp_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDINS_AMQP_URLS", "")
    monkeypatch.setenv("MEDINS_AMQP_URL", "amqp://one:5672/")
    assert Settings().broker_urls == ("amqp://one:5672/",)


def test_a_wrong_node_url_is_refused_with_a_message_naming_it_and_no_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDINS_AMQP_URLS", "amqp://ok:5681/,http://user:secret@web:80/")
    with pytest.raises(SystemExit) as refused:
        load_settings()
    message = str(refused.value)
    assert "MEDINS_AMQP_URLS" in message and "web:80" in message
    assert "secret" not in message and "Traceback" not in message


async def test_a_process_connects_to_the_first_live_node_past_dead_ones() -> None:
    connection = await connect_broker([dead_url(), dead_url(), LIVE], attempts=1)
    try:
        assert isinstance(connection, FailoverConnection)
        assert connection.node == "127.0.0.1:5672"
        channel = await connection.channel()
        assert not channel.is_closed
    finally:
        await connection.close()


async def test_with_every_node_down_the_attempts_run_out_with_the_connection_error() -> None:
    with pytest.raises(OSError):
        await connect_broker([dead_url(), dead_url()], attempts=1)


async def test_a_connection_the_broker_closes_reconnects_to_the_next_node_and_restores_its_channel() -> None:
    """The default broker under two names stands in for two live nodes: the server closes the
    connection (as a stopping node does), and the same connection object comes back on the other name."""
    vhost = f"medins_t{os.getpid()}_failover"
    await rabbitmqctl("add_vhost", vhost)
    await rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    # Node 2 is down: the connection lost on node 1 tries it, then goes on to node 3.
    nodes = [f"amqp://guest:guest@127.0.0.1:5672/{vhost}", dead_url(), f"amqp://guest:guest@localhost:5672/{vhost}"]
    connection = await connect_broker(nodes, attempts=1)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        assert isinstance(connection, FailoverConnection) and connection.node == "127.0.0.1:5672"
        await rabbitmqctl("close_all_connections", "--vhost", vhost, "node going away (test)")

        async def moved() -> None:
            assert connection.node == "localhost:5672" and connection.url.host == "localhost"
            assert connection.connected.is_set() and not channel.is_closed

        await eventually(moved, timeout=30, interval=0.1)
        # The channel works again on the new connection: its exclusive queue was declared anew there.
        await channel.default_exchange.publish(aio_pika.Message(b"after failover"), routing_key=queue.name)
        message = await queue.get(timeout=10)
        assert message.body == b"after failover"
        await message.ack()
    finally:
        await connection.close()
        await rabbitmqctl("delete_vhost", vhost, check=False)
