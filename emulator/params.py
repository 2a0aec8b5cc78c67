"""Decoding Bot API parameters from query strings, forms, multipart bodies and JSON alike.

aiogram sends nested objects as JSON strings inside forms and scalars as plain strings; the
emulator normalises both into Python values once, so method handlers and recorded calls see
the same typed dict whatever the transport was.
"""

from __future__ import annotations

import json
import mimetypes
import re
from dataclasses import dataclass
from typing import Any

from emulator.errors import bad_request

JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "media",
        "prices",
        "reply_parameters",
        "allowed_updates",
        "commands",
        "scope",
        "menu_button",
        "link_preview_options",
        "message_ids",
        "suggested_tip_amounts",
        "shipping_options",
        "results",
        "permissions",
        "reaction",
    }
)
STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "title",
        "description",
        "short_description",
        "payload",
        "provider_token",
        "currency",
        "start_parameter",
        "provider_data",
        "callback_query_id",
        "pre_checkout_query_id",
        "shipping_query_id",
        "error_message",
        "url",
        "secret_token",
        "parse_mode",
        "file_id",
        "name",
        "action",
        "emoji",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "ip_address",
        "icon_custom_emoji_id",
        "photo_url",
        "question",
        "address",
        "phone_number",
        "first_name",
        "last_name",
        "vcard",
    }
)
_INT = re.compile(r"-?\d+")


@dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str | None
    data: bytes
    content_type: str | None

    def __post_init__(self) -> None:
        if self.content_type in (None, "application/octet-stream") and self.filename:
            self.content_type = mimetypes.guess_type(self.filename)[0] or self.content_type

    def describe(self) -> dict[str, Any]:
        return {"filename": self.filename, "size": len(self.data), "mime_type": self.content_type}


def decode_value(key: str, value: Any) -> Any:
    """Turn a form string into the value the Bot API means by it."""
    if not isinstance(value, str):
        return value
    if key in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError as exc:
            raise bad_request(f"can't parse {key} JSON object") from exc
    if key in STRING_FIELDS:
        return value
    if _INT.fullmatch(value):
        return int(value)
    if value in ("true", "false"):
        return value == "true"
    return value


class Params:
    """Typed accessors over one call's decoded parameters, raising Telegram-style 400s."""

    def __init__(self, data: dict[str, Any], files: dict[str, Upload]) -> None:
        self.data = data
        self.files = files

    def __contains__(self, key: str) -> bool:
        return self.data.get(key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def get_int(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and _INT.fullmatch(value):
            return int(value)
        raise bad_request(f'field "{key}" must be of type Integer')

    def req_int(self, key: str) -> int:
        value = self.get_int(key)
        if value is None:
            raise bad_request(f"{key} is empty" if key.endswith("_id") else f"{key} is required")
        return value

    def get_str(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    def req_str(self, key: str) -> str:
        value = self.get_str(key)
        if value is None:
            raise bad_request(f"{key} is empty" if key.endswith("_id") else f"{key} is required")
        return value

    def get_bool(self, key: str) -> bool:
        value = self.data.get(key)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def obj(self, key: str) -> Any:
        """A nested JSON value (already decoded when it came as a form string)."""
        value = self.data.get(key)
        if isinstance(value, str) and key not in STRING_FIELDS:
            try:
                return json.loads(value)
            except ValueError as exc:
                raise bad_request(f"can't parse {key} JSON object") from exc
        return value

    def file(self, key: str) -> Upload | str | None:
        """An uploaded file (directly or via attach://) or a file_id/URL string."""
        if key in self.files:
            return self.files[key]
        value = self.data.get(key)
        return self.resolve_media(value) if value is not None else None

    def resolve_media(self, value: Any) -> Upload | str:
        if isinstance(value, str) and value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name not in self.files:
                raise bad_request(f"file attach://{name} not found in the request")
            return self.files[name]
        if not isinstance(value, str) or not value:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return value

    def recorded(self) -> dict[str, Any]:
        """Parameters for `ApiCall.params`: uploads replaced by small descriptors."""

        def describe(value: Any) -> Any:
            if isinstance(value, str) and value.startswith("attach://"):
                upload = self.files.get(value.removeprefix("attach://"))
                return upload.describe() if upload else value
            if isinstance(value, list):
                return [describe(item) for item in value]
            if isinstance(value, dict):
                return {k: describe(v) for k, v in value.items()}
            return value

        attached = {
            v.removeprefix("attach://") for v in _strings(self.data) if v.startswith("attach://")
        }
        result = {k: describe(v) for k, v in self.data.items()}
        for name, upload in self.files.items():
            if name not in attached:
                result[name] = upload.describe()
        return result


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    return []
