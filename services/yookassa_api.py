"""The YooKassa API through its official SDK: create a payment, read one back.

The SDK is blocking (requests) and keeps its configuration in class attributes, so every call
runs in a worker thread, bounded by a timeout, after making sure the configuration is ours.
Only what the payments service needs leaves this module: `ProviderPayment` values and
`ProviderUnavailable` for anything that went wrong on the way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from services.errors import DomainError

CALL_TIMEOUT = 15.0
T = TypeVar("T")


class ProviderUnavailable(DomainError):
    """YooKassa could not be reached or refused the request; try again later."""


class ProviderPaymentNotFound(DomainError):
    """YooKassa has no payment with this id (a forged or foreign notification)."""


@dataclass(frozen=True, slots=True)
class ProviderPayment:
    """A payment as YooKassa reports it; the only source of truth for crediting a link payment."""

    id: str
    status: str  # pending, waiting_for_capture, succeeded, canceled
    paid: bool
    amount: Decimal
    currency: str
    metadata: dict[str, str]
    method: str | None = None
    confirmation_url: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded" and self.paid

    @property
    def canceled(self) -> bool:
        return self.status == "canceled"


_configure_lock = threading.Lock()


class YooKassaGateway:
    """One shop's access to the YooKassa API (`api_url` points the SDK at a fake in tests)."""

    def __init__(self, shop_id: str, secret_key: str, api_url: str) -> None:
        self._credentials = (shop_id, secret_key, api_url.rstrip("/"))

    async def create_payment(
        self, request: dict[str, Any], *, idempotence_key: str
    ) -> ProviderPayment:
        """POST /payments; the same idempotence key returns the same payment, never a second."""
        return await self._call(lambda sdk: sdk.Payment.create(request, idempotence_key))

    async def get_payment(self, payment_id: str) -> ProviderPayment:
        """GET /payments/{id}: what YooKassa itself says about the payment now."""
        return await self._call(lambda sdk: sdk.Payment.find_one(payment_id))

    async def _call(self, request: Callable[[Any], Any]) -> ProviderPayment:
        def run() -> ProviderPayment:
            # The SDK (with requests and urllib3) is imported when a payment is first made:
            # most updates never need it, and every process pays its memory otherwise.
            import yookassa
            from yookassa.domain.exceptions import NotFoundError

            self._configure(yookassa.Configuration)
            try:
                response = request(yookassa)
            except NotFoundError as exc:
                raise ProviderPaymentNotFound(str(exc)) from exc
            return _provider_payment(response)

        try:
            return await asyncio.wait_for(asyncio.to_thread(run), CALL_TIMEOUT)
        except (ProviderUnavailable, ProviderPaymentNotFound):
            raise
        except Exception as exc:  # the SDK raises requests', urllib3's and its own errors
            raise ProviderUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _configure(self, configuration: Any) -> None:
        shop_id, secret_key, api_url = self._credentials
        with _configure_lock:
            current = (configuration.account_id, configuration.secret_key, configuration.api_url)
            if current != self._credentials:
                configuration.configure(shop_id, secret_key, api_url=api_url)


def _provider_payment(response: Any) -> ProviderPayment:
    amount = response.amount
    method = response.payment_method
    confirmation = response.confirmation
    try:
        value = Decimal(str(amount.value)).quantize(Decimal("0.01"))
    except (InvalidOperation, AttributeError) as exc:
        raise ProviderUnavailable("payment without a readable amount") from exc
    return ProviderPayment(
        id=str(response.id),
        status=str(response.status),
        paid=bool(response.paid),
        amount=value,
        currency=str(amount.currency),
        metadata={str(k): str(v) for k, v in (response.metadata or {}).items()},
        method=str(method.type) if method is not None and method.type else None,
        confirmation_url=getattr(confirmation, "confirmation_url", None),
    )


def is_yookassa_address(address: str) -> bool:
    """Whether a notification came from one of YooKassa's published networks."""
    from yookassa.domain.common import SecurityHelper

    try:
        return bool(SecurityHelper().is_ip_trusted(address))
    except Exception:  # not an IP address at all
        return False
