"""YooKassa's HTTP notifications: `POST /yookassa/notify` on the bot's web server.

Only the payment id is taken from the request; the payments service re-reads the payment from
YooKassa's API before changing anything. With YOOKASSA_CHECK_SOURCE_IP (the default) requests
from outside YooKassa's published networks are refused with 403. Behind a reverse proxy on the
same host (the peer is a loopback address) the source is the last X-Forwarded-For address, the
one the proxy itself appended.
"""

from __future__ import annotations

import logging
from ipaddress import ip_address
from typing import TYPE_CHECKING

from aiohttp import web

from services import payments
from services.yookassa_api import ProviderUnavailable, YooKassaGateway, is_yookassa_address

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)

NOTIFY_PATH = "/yookassa/notify"


def source_address(request: web.Request) -> str:
    peer = request.remote or ""
    try:
        behind_proxy = ip_address(peer).is_loopback
    except ValueError:
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "")
    if behind_proxy and forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return peer


def register(app: web.Application, runtime: Runtime) -> None:
    """Add the notification endpoint when YooKassa is configured."""
    gateway: YooKassaGateway | None = runtime.extras.get("yookassa")
    if gateway is None:
        return
    settings, clock = runtime.settings, runtime.extras["clock"]

    async def notify(request: web.Request) -> web.Response:
        if settings.yookassa_check_source_ip and not is_yookassa_address(source_address(request)):
            log.warning("YooKassa notification from an untrusted address refused")
            return web.json_response({"status": "forbidden"}, status=403)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"status": "not json"}, status=400)
        try:
            async with runtime.sessions() as session:
                result = await payments.handle_notification(session, gateway, body, now=clock.now())
        except ProviderUnavailable as exc:
            # YooKassa repeats a notification until it gets 200; polling also catches up.
            log.warning("could not re-read a notified payment: %s", exc)
            return web.json_response({"status": "retry later"}, status=503)
        log.info("YooKassa notification: %s", result)
        return web.json_response({"status": str(result)})

    app.router.add_post(NOTIFY_PATH, notify)
