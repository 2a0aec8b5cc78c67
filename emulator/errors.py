"""The error a Bot API method raises inside the emulator, turned into Telegram's JSON error body."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Bot API failure with the exact status code and description Telegram would send."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    """400 with Telegram's «Bad Request: » prefix."""
    return ApiError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> ApiError:
    """403 with Telegram's «Forbidden: » prefix."""
    return ApiError(403, f"Forbidden: {detail}")


QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
