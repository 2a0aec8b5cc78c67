"""Telegram's text rules: strict HTML parse mode, UTF-16 entity offsets, bot_command detection.

The real server rejects HTML the bot did not escape; the emulator must be at least as strict so
such bugs surface in tests instead of in production.
"""

from __future__ import annotations

import re
from typing import Any

from emulator.errors import ApiError, bad_request

_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "tg-emoji": "custom_emoji",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ATTR = re.compile(r"""\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>"']+))?""")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z]+);")
_COMMAND = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@])")


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _parse_error(source: str, index: int, detail: str) -> ApiError:
    offset = len(source[:index].encode())
    return bad_request(f"can't parse entities: {detail.format(offset=offset)}")


def _decode_entity(source: str, index: int) -> tuple[str, int]:
    match = _ENTITY.match(source, index)
    if match is None:
        raise _parse_error(
            source, index, 'Character "&" at byte offset {offset} must be escaped as "&amp;"'
        )
    body = match.group(1)
    if body.startswith(("#x", "#X")):
        char = chr(int(body[2:], 16))
    elif body.startswith("#"):
        char = chr(int(body[1:]))
    elif body in _NAMED:
        char = _NAMED[body]
    else:
        raise _parse_error(
            source, index, f'Unsupported HTML entity "&{body};" at byte offset {{offset}}'
        )
    return char, match.end()


def _parse_attrs(source: str, start: int, end: int, tag: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    pos = start
    while pos < end:
        if source[pos:end].strip() in ("", "/"):
            break
        match = _ATTR.match(source, pos, end)
        if match is None or match.end() == pos:
            raise _parse_error(
                source, pos, f'Empty attribute name in the tag "{tag}" at byte offset {{offset}}'
            )
        value = match.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        attrs[match.group(1).lower()] = _unescape(value)
        pos = match.end()
    return attrs


def _unescape(value: str) -> str:
    return _ENTITY.sub(
        lambda m: (
            _decode_entity(m.group(0), 0)[0]
            if m.group(1) in _NAMED or m.group(1)[0] == "#"
            else m.group(0)
        ),
        value,
    )


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) like Telegram's HTML parse mode, or raise 400 «can't parse»."""
    out: list[str] = []
    cursor = 0  # UTF-16 length of the plain text so far
    stack: list[tuple[str, int, dict[str, str], int]] = []
    entities: list[dict[str, Any]] = []
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == "&":
            char, i = _decode_entity(source, i)
            out.append(char)
            cursor += utf16_len(char)
            continue
        if ch != "<":
            j = i
            while j < n and source[j] not in "<&":
                j += 1
            chunk = source[i:j]
            out.append(chunk)
            cursor += utf16_len(chunk)
            i = j
            continue
        close = source.find(">", i)
        if source.startswith("</", i):
            if close == -1:
                raise _parse_error(source, i, "Unclosed end tag at byte offset {offset}")
            name = source[i + 2 : close].strip().lower()
            if not stack:
                raise _parse_error(source, i, "Unexpected end tag at byte offset {offset}")
            tag, start, attrs, _ = stack.pop()
            if name != tag:
                raise _parse_error(
                    source,
                    i,
                    f'Unmatched end tag at byte offset {{offset}}, expected "</{tag}>", '
                    f'found "</{name}>"',
                )
            _close_entity(entities, stack, tag, attrs, start, cursor)
            i = close + 1
            continue
        match = _TAG_NAME.match(source, i + 1)
        name = match.group(0).lower() if match else ""
        if name not in _TAG_ENTITY:
            raise _parse_error(
                source, i, f'Unsupported start tag "{name}" at byte offset {{offset}}'
            )
        if close == -1:
            raise _parse_error(source, i, "Unclosed start tag at byte offset {offset}")
        assert match is not None
        attrs = _parse_attrs(source, match.end(), close, name)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _parse_error(
                source, i, 'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
            )
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise _parse_error(
                source, i, 'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}'
            )
        stack.append((name, cursor, attrs, i))
        i = close + 1
    if stack:
        tag = stack[-1][0]
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{tag}\""
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_entity(
    entities: list[dict[str, Any]],
    stack: list[tuple[str, int, dict[str, str], int]],
    tag: str,
    attrs: dict[str, str],
    start: int,
    end: int,
) -> None:
    length = end - start
    if length <= 0:
        return
    kind = _TAG_ENTITY[tag]
    entity: dict[str, Any] = {"type": kind, "offset": start, "length": length}
    if tag == "a":
        href = attrs.get("href")
        if not href:
            return
        if href.startswith("tg://user?id="):
            entity = {
                "type": "text_mention",
                "offset": start,
                "length": length,
                "user": {
                    "id": int(href.split("=", 1)[1] or 0),
                    "is_bot": False,
                    "first_name": "user",
                },
            }
        else:
            entity["url"] = href
    elif tag == "code" and stack and stack[-1][0] == "pre":
        language = attrs.get("class", "")
        if language.startswith("language-"):
            pre_attrs = stack[-1][2]
            pre_attrs["language"] = language.removeprefix("language-")
            return
    elif tag == "pre" and attrs.get("language"):
        entity["language"] = attrs["language"]
    elif tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs["emoji-id"]
    entities.append(entity)


def command_entities(text: str) -> list[dict[str, Any]]:
    """bot_command entities the way Telegram clients mark `/start` or `/help@bot` in user text."""
    result = []
    for match in _COMMAND.finditer(text):
        result.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group(0)),
            }
        )
    return result
