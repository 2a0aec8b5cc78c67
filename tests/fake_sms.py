"""A fake SMS provider on 127.0.0.1 for tests: records what it accepted, checks the key, and
answers with a status the test chose for the next requests."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

API_KEY = "sms-test-key"


@dataclass
class FakeSmsProvider:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)  # answers for the next requests
    _runner: web.AppRunner | None = None
    url: str = ""

    async def _send(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response({"error": "unauthorized"}, status=401)
        status = self.statuses.popleft() if self.statuses else 200
        if status != 200:
            return web.json_response({"error": f"status {status}"}, status=status)
        body = await request.json()
        self.accepted.append(body)
        return web.json_response({"id": f"sms-{len(self.accepted)}", "status": "accepted"})

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/v1/sms", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{port}/v1/sms"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
