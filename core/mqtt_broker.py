"""A local MQTT 3.1.1 broker (amqtt) for a bare machine: ``python -m core.mqtt_broker PORT``.

Started by ``core.embedded.EmbeddedMqtt`` when ``MQTT_URL`` is unset. Listens on 127.0.0.1 only and
accepts any client. Unlike amqtt's stock anonymous authentication, a session here is not marked
anonymous, so ``clean_session=False`` sessions keep their subscriptions and queue QoS 1 messages
while the client is away, as Mosquitto does.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from amqtt.broker import Broker
from amqtt.plugins.authentication import AnonymousAuthPlugin
from amqtt.session import Session


class LocalAuthPlugin(AnonymousAuthPlugin):
    """Accept every local client without marking its session anonymous (which would drop persistence)."""

    async def authenticate(self, *, session: Session) -> bool:
        accepted = await super().authenticate(session=session)
        session.is_anonymous = False
        return bool(accepted)


def config(port: int) -> dict[str, object]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {f"{__name__}.LocalAuthPlugin": {"allow_anonymous": True}},
    }


async def serve(port: int) -> None:
    broker = Broker(config(port))
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logging.getLogger(__name__).warning("MQTT broker (amqtt) on 127.0.0.1:%s", port)
    await stop.wait()
    await broker.shutdown()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
