"""A fake YooKassa API v3 on 127.0.0.1 for tests, spoken to by the real `yookassa` SDK.

It keeps payments in memory, honours `Idempotence-Key` (the same key returns the same payment),
checks HTTP Basic credentials, records every request, and lets a test play the bank: mark a
payment paid or cancelled, add a payment made elsewhere (Telegram's checkout), and build the
notification YooKassa would POST.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

SHOP_ID = "506751"
SECRET_KEY = "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class FakeYooKassa:
    shop_id: str = SHOP_ID
    secret_key: str = SECRET_KEY
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    failures: int = 0  # answer the next N requests with 500
    _keys: dict[str, str] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3"

    async def __aenter__(self) -> FakeYooKassa:
        app = web.Application()
        app.router.add_post("/v3/payments", self._create)
        app.router.add_get("/v3/payments/{payment_id}", self._get)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ the bank's side

    def succeed(self, payment_id: str, method: str = "bank_card") -> dict[str, Any]:
        payment = self.payments[payment_id]
        now = _now()
        payment.update(
            status="succeeded",
            paid=True,
            captured_at=now,
            income_amount=dict(payment["amount"]),
            payment_method={"type": method, "id": str(uuid.uuid4()), "saved": False},
        )
        return payment

    def cancel(self, payment_id: str, reason: str = "expired_on_confirmation") -> dict[str, Any]:
        payment = self.payments[payment_id]
        payment.update(
            status="canceled",
            paid=False,
            cancellation_details={"party": "yoo_money", "reason": reason},
        )
        return payment

    def add_payment(
        self, value: str, *, status: str = "succeeded", metadata: dict[str, str] | None = None
    ) -> str:
        """A payment created by someone else (Telegram's checkout, another shop system)."""
        payment_id = str(uuid.uuid4())
        self.payments[payment_id] = self._payment(
            payment_id, {"value": value, "currency": "RUB"}, "", metadata or {}, None
        )
        if status == "succeeded":
            self.succeed(payment_id)
        return payment_id

    def notification(
        self, payment_id: str, event: str | None = None, **override: Any
    ) -> dict[str, Any]:
        """The body YooKassa would POST for the payment's current state (`override` forges it)."""
        payment = {**self.payments.get(payment_id, {"id": payment_id}), **override}
        status = payment.get("status", "succeeded")
        return {
            "type": "notification",
            "event": event or f"payment.{status}",
            "object": payment,
        }

    def created(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v3/payments"]

    def reads_of(self, payment_id: str) -> int:
        return sum(1 for r in self.requests if r.path == f"/v3/payments/{payment_id}")

    # ------------------------------------------------------------------ the API

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.shop_id}:{self.secret_key}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _record(self, request: web.Request) -> web.Response | None:
        body = None
        if request.can_read_body:
            body = json.loads(await request.text())
        self.requests.append(Recorded(request.method, request.path, dict(request.headers), body))
        if self.failures > 0:
            self.failures -= 1
            return _error(500, "internal_server_error", "Внутренняя ошибка")
        if not self._authorised(request):
            return _error(401, "invalid_credentials", "Неверные учётные данные")
        return None

    async def _create(self, request: web.Request) -> web.Response:
        refused = await self._record(request)
        if refused is not None:
            return refused
        key = request.headers.get("Idempotence-Key")
        if not key:
            return _error(400, "invalid_request", "Idempotence-Key header is missing")
        if key in self._keys:
            return web.json_response(self.payments[self._keys[key]])
        body = self.requests[-1].body or {}
        amount = body.get("amount") or {}
        try:
            if float(amount.get("value", 0)) <= 0:
                raise ValueError
        except (TypeError, ValueError):
            return _error(400, "invalid_request", "amount is invalid")
        confirmation = body.get("confirmation") or {}
        if confirmation.get("type") != "redirect" or not confirmation.get("return_url"):
            return _error(400, "invalid_request", "confirmation.return_url is required")
        payment_id = str(uuid.uuid4())
        self._keys[key] = payment_id
        self.payments[payment_id] = self._payment(
            payment_id,
            {"value": str(amount["value"]), "currency": amount.get("currency", "RUB")},
            body.get("description", ""),
            body.get("metadata") or {},
            confirmation["return_url"],
        )
        return web.json_response(self.payments[payment_id])

    async def _get(self, request: web.Request) -> web.Response:
        refused = await self._record(request)
        if refused is not None:
            return refused
        payment = self.payments.get(request.match_info["payment_id"])
        if payment is None:
            return _error(404, "not_found", "Платёж не найден")
        return web.json_response(payment)

    def _payment(
        self,
        payment_id: str,
        amount: dict[str, str],
        description: str,
        metadata: dict[str, str],
        return_url: str | None,
    ) -> dict[str, Any]:
        payment: dict[str, Any] = {
            "id": payment_id,
            "status": "pending",
            "paid": False,
            "amount": amount,
            "created_at": _now(),
            "description": description,
            "metadata": metadata,
            "recipient": {"account_id": self.shop_id, "gateway_id": "100500"},
            "refundable": False,
            "test": True,
        }
        if return_url is not None:
            payment["confirmation"] = {
                "type": "redirect",
                "return_url": return_url,
                "confirmation_url": f"https://yoomoney.ru/checkout/payments/v2/contract?orderId={payment_id}",
            }
        return payment


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, code: str, description: str) -> web.Response:
    return web.json_response(
        {"type": "error", "id": str(uuid.uuid4()), "code": code, "description": description},
        status=status,
    )
