"""Request signing for Bybit V5 private REST endpoints (HMAC-SHA256).

The signed string is (bybit-v5.md section 4.1, docs ``v5/guide`` "Authentication")::

    GET : timestamp + api_key + recv_window + query_string     # exactly the query sent
    POST: timestamp + api_key + recv_window + json_body        # exactly the body bytes sent

and ``X-BAPI-SIGN`` is the lower-case hex HMAC-SHA256 of it under the API secret. The headers
are ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP`` (UTC ms), ``X-BAPI-SIGN``, ``X-BAPI-RECV-WINDOW``
(ms) and ``X-BAPI-SIGN-TYPE: 2`` (HMAC).

The secret lives in a :class:`Secret`, whose ``repr``/``str``/``format`` are masked, which
refuses to be pickled and which never hands its value out: it signs, nothing else. Nothing in
this module logs. Every function that takes a raw secret wraps it before anything else can
raise, so a traceback that shows locals (rich, ``pytest --showlocals``) sees a masked
:class:`Secret`, never the text.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ofi.errors import InvalidInputError

__all__ = [
    "Secret",
    "Credentials",
    "sign",
    "signing_payload",
    "query_string",
    "json_body",
    "DEFAULT_RECV_WINDOW_MS",
]

DEFAULT_RECV_WINDOW_MS = 5000
_MASK = "********"
# Characters kept as they are in a query value. '%' stays so that the URL-encoded cursors Bybit
# hands out ("first%3DBIOUSDT%26last%3DBIOUSDT") go back exactly as received, as pybit sends them.
_QUERY_SAFE = "-_.~%:,"
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+$")


class Secret:
    """An API secret that cannot leak through ``repr``, ``str``, f-strings, logs or pickles.

    Parameters
    ----------
    value : str
        The secret as Bybit shows it once when the key is created.

    Raises
    ------
    InvalidInputError
        If the value is not a non-empty string.

    Notes
    -----
    The only use of the value is :meth:`sign`. Two secrets compare equal in constant time.
    """

    __slots__ = ("_key",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            object.__setattr__(self, "_key", value._key)
            return
        if not isinstance(value, str) or not value.strip():
            # the value itself is never echoed, only its type
            raise InvalidInputError(f"api_secret must be a non-empty string, got a {type(value).__name__}")
        object.__setattr__(self, "_key", value.strip().encode("utf-8"))

    @classmethod
    def wrap(cls, value: str | Secret) -> Secret:
        """``value`` as a :class:`Secret`: a Secret as it is, a string wrapped.

        Callers rebind their own argument to the result first thing, so that no frame holds the raw
        text once it is wrapped (tracebacks that show locals print every local).

        Raises
        ------
        InvalidInputError
            If ``value`` is neither a Secret nor a non-empty string.
        """
        return value if isinstance(value, Secret) else cls(value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, name: str = "BYBIT_API_SECRET") -> Secret | None:
        """The secret in the environment variable ``name``; None when it is unset or empty.

        The variable is read and wrapped here, so that the text never reaches a caller's locals.

        Raises
        ------
        InvalidInputError
            If the variable holds only blanks.
        """
        value = (os.environ if environ is None else environ).get(name) or None
        return None if value is None else cls(value)

    def sign(self, payload: str | bytes) -> str:
        """Lower-case hex HMAC-SHA256 of ``payload`` under this secret."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash((Secret, hashlib.sha256(self._key).digest()))

    def __reduce__(self):  # type: ignore[no-untyped-def]
        raise TypeError("a Secret cannot be pickled or serialised (it would write the API secret to disk)")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict) -> Secret:
        return self


class Credentials:
    """An API key and its secret, able to sign a request.

    Parameters
    ----------
    api_key : str
        The key (sent in ``X-BAPI-API-KEY``).
    api_secret : str or Secret
        The secret; kept in a :class:`Secret`.

    Raises
    ------
    InvalidInputError
        If either is empty or the key holds characters Bybit keys never have.
    """

    __slots__ = ("api_key", "secret")

    def __init__(self, api_key: str, api_secret: str | Secret) -> None:
        api_secret = Secret.wrap(api_secret)  # first: the key check below may raise
        if not isinstance(api_key, str) or not _KEY_RE.match(api_key.strip()):
            raise InvalidInputError("api_key must be a non-empty string of letters, digits, '-' or '_'")
        self.api_key = api_key.strip()
        self.secret = api_secret

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials | None:
        """Credentials from ``BYBIT_API_KEY`` and ``BYBIT_API_SECRET``; None when both are unset.

        Raises
        ------
        InvalidInputError
            If only one of the two variables is set.
        """
        # No local holds the mapping (the repr of os.environ shows every variable) nor the raw secret.
        key = (os.environ if environ is None else environ).get("BYBIT_API_KEY") or None
        secret = Secret.from_env(environ)
        if key is None and secret is None:
            return None
        if key is None or secret is None:
            missing = "BYBIT_API_KEY" if key is None else "BYBIT_API_SECRET"
            raise InvalidInputError(f"{missing} is not set while its partner is; set both or neither")
        return cls(key, secret)

    @property
    def masked_key(self) -> str:
        """The key with all but its first four characters hidden (for reprs and messages)."""
        return self.api_key[:4] + "****"

    def headers(self, timestamp_ms: int, recv_window_ms: int, payload: str) -> dict[str, str]:
        """The ``X-BAPI-*`` headers of one request.

        Parameters
        ----------
        timestamp_ms : int
            UTC milliseconds, corrected by the client's clock offset.
        recv_window_ms : int
            How long after ``timestamp_ms`` the server still accepts the request.
        payload : str
            The query string (GET) or the JSON body (POST), exactly as sent.
        """
        return {
            "X-BAPI-API-KEY": self.api_key,
            "X-BAPI-TIMESTAMP": str(int(timestamp_ms)),
            "X-BAPI-RECV-WINDOW": str(int(recv_window_ms)),
            "X-BAPI-SIGN": sign(self.secret, timestamp_ms, self.api_key, recv_window_ms, payload),
            "X-BAPI-SIGN-TYPE": "2",
        }

    def __repr__(self) -> str:
        if not hasattr(self, "api_key"):  # a traceback showing locals may print one whose __init__ raised
            return "Credentials(<not set>)"
        return f"Credentials(api_key='{self.masked_key}', api_secret={self.secret!r})"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        raise TypeError("Credentials cannot be pickled or serialised (they hold the API secret)")


def signing_payload(timestamp_ms: int, api_key: str, recv_window_ms: int, payload: str) -> str:
    """The string Bybit signs: ``str(timestamp) + api_key + str(recv_window) + payload``."""
    return f"{int(timestamp_ms)}{api_key}{int(recv_window_ms)}{payload}"


def sign(secret: Secret | str, timestamp_ms: int, api_key: str, recv_window_ms: int, payload: str) -> str:
    """``X-BAPI-SIGN``: lower-case hex HMAC-SHA256 of :func:`signing_payload` under the secret.

    Parameters
    ----------
    secret : Secret or str
    timestamp_ms, api_key, recv_window_ms, payload : see :func:`signing_payload`

    Returns
    -------
    str
        64 lower-case hex characters.
    """
    secret = Secret.wrap(secret)  # first: building the payload may raise
    return secret.sign(signing_payload(timestamp_ms, api_key, recv_window_ms, payload))


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def query_string(params: Mapping[str, Any] | None) -> str:
    """The query string sent and signed for a GET: keys sorted, ``None`` values dropped.

    Values are percent-encoded except for unreserved characters and ``%``, ``:`` and ``,``
    (so a cursor Bybit returned URL-encoded is sent back unchanged). Booleans are written
    ``true``/``false``. Sorting follows pybit; any order works as long as the string signed is
    the string sent, which the client guarantees by building the URL from this string.
    """
    if not params:
        return ""
    parts = []
    for k in sorted(params):
        v = params[k]
        if v is None:
            continue
        parts.append(f"{k}={quote(_wire(v), safe=_QUERY_SAFE)}")
    return "&".join(parts)


def json_body(body: Mapping[str, Any] | None) -> str:
    """The compact JSON body sent and signed for a POST (``None`` values dropped, key order kept)."""
    clean = {k: v for k, v in (body or {}).items() if v is not None}
    return json.dumps(clean, separators=(",", ":"), ensure_ascii=True)
