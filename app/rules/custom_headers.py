"""A webhook's custom request headers, and which of them are credentials, pure.

Receivers are told to authenticate Hookline with a header (`Authorization: Bearer …`,
`X-API-Key: …`) rather than credentials in the URL, so these values are secrets like the
signing secret: encrypted at rest (app/storage/models.py `CustomHeadersField`), shown as
`••••1234` in the API, the dashboard, the portal and the attempt log, and in clear only on
the wire.

A header is secret when its name says it is a credential (`is_credential_name`, the floor:
it cannot be unmarked) or when the user marked it so. The rule looks at the words of the
name, not at substrings, so `X-API-Key` and `X-Auth-Token` are credentials and `X-Monkey`
is not. Which headers are secret is fixed when a webhook is read, so sending and recording
an attempt only look names up in a set (`CustomHeaders.hide_in`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping

# A name is a credential when one of its words (split at `-`, `_`, `.`) is one of these:
# Authorization, Proxy-Authorization, Cookie, X-API-Key, X-Auth-Token, Private-Token,
# Client-Secret, X-Password, X-Session-Id, ...
CREDENTIAL_WORDS = frozenset({
    "authorization", "auth", "cookie", "key", "apikey", "token", "secret", "password", "passwd", "credential",
    "credentials", "session",
})
_WORD_BREAK = re.compile(r"[^a-z0-9]+")
MASK = "••••"
SHOWN_TAIL = 4
# Shorter values are masked whole: the last 4 characters of an 8-character key are half of it.
MIN_LENGTH_FOR_TAIL = 12


@functools.lru_cache(maxsize=1024)
def is_credential_name(name: str) -> bool:
    """Cached: a webhook's few names come back at every claim, and the set of names is small."""
    return any(word in CREDENTIAL_WORDS for word in _WORD_BREAK.split(name.lower()))


def mask(value: str) -> str:
    """`••••1234`: enough to tell two tokens apart, never enough to use one."""
    return MASK + value[-SHOWN_TAIL:] if len(value) >= MIN_LENGTH_FOR_TAIL else MASK


def looks_masked(value: str) -> bool:
    return MASK in value


class CustomHeaders(Mapping[str, str]):
    """Header names to values in clear (what goes on the wire), and which of them are secret.

    Immutable. Names keep the case they were saved with; secrecy is looked up without case,
    as HTTP compares names. `repr` masks, so a traceback or a log line never shows a secret.
    """

    __slots__ = ("_values", "_secret")

    def __init__(self, values: Mapping[str, str] | None = None, secret: Iterable[str] = ()):
        self._values = dict(values or {})
        present = {name.lower() for name in self._values}
        self._secret = frozenset(name.lower() for name in secret) & present | {
            name.lower() for name in self._values if is_credential_name(name)
        }

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"CustomHeaders({self.shown()!r})"

    def is_secret(self, name: str) -> bool:
        return name.lower() in self._secret

    @property
    def secret_names(self) -> list[str]:
        """In the order the headers were saved, as the API and the form list them."""
        return [name for name in self._values if name.lower() in self._secret]

    def get_case_insensitive(self, name: str) -> str | None:
        return next((value for stored, value in self._values.items() if stored.lower() == name.lower()), None)

    def shown(self) -> dict[str, str]:
        """What anyone may see: secret values masked."""
        return self.hide_in(self._values)

    def hide_in(self, sent: Mapping[str, str]) -> dict[str, str]:
        """`sent` (the request headers of an attempt) with this webhook's secret values masked.

        The attempt log stores this: one set lookup per header, nothing at all for a
        webhook without secrets."""
        if not self._secret:
            return dict(sent)
        return {name: mask(value) if name.lower() in self._secret else value for name, value in sent.items()}
