"""What a custom request header may be, pure: checked when a webhook is saved and again at
each send, for rows saved before the rules were this strict.

RFC 9110 section 5: a name is a token; a value is visible ASCII with spaces and tabs
between (obs-text, bytes above 0x7F, is obsolete and each library encodes it its own
way: httpx refuses "café" outright, aiohttp refuses a vertical tab). Anything else made
the request fail inside the HTTP client, at every attempt, instead of at save.
"""

from __future__ import annotations

import re

MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 1000
_NOT_TOKEN = re.compile(r"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
_NOT_FIELD_CHAR = re.compile(r"[^\t\x20-\x7e]")


def header_problem(name: object, value: object) -> str | None:
    """What is wrong with one header, said to follow its name ("'X-Team' is not ..."), or
    None. It never quotes the value (it may be a credential), only where in it the first
    character that breaks the rule is."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS or _NOT_TOKEN.search(name):
        return (f"is not a valid header name: 1 to {MAX_NAME_CHARS} letters, digits and "
                "!#$%&'*+-.^_`|~, without spaces")
    if not isinstance(value, str):
        return "must have a string value"
    if len(value) > MAX_VALUE_CHARS:
        return f"must have a value of at most {MAX_VALUE_CHARS} characters"
    if found := _NOT_FIELD_CHAR.search(value):
        return (f"must have a value of visible ASCII characters, spaces and tabs only "
                f"(character {found.start() + 1} is not one)")
    return None
