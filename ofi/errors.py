"""The exceptions ofi raises.

Every error derives from :class:`OfiError` and also from the builtin it refines, so both
``except OfiError`` and ``except ValueError`` (etc.) work.
"""
from __future__ import annotations

__all__ = [
    "OfiError",
    "InvalidInputError",
    "LeakageError",
    "ModelFileError",
    "BookIntegrityError",
    "SequenceGapError",
    "ExchangeError",
    "RateLimitError",
    "AuthenticationError",
    "TransportError",
    "RequestTimeoutError",
    "IpBanError",
    "OfiWarning",
]


class OfiError(Exception):
    """Base class of every error raised by ofi."""


class InvalidInputError(OfiError, ValueError):
    """An argument or a received message is malformed or out of range.

    The message names the argument (or the frame field), the value and what was expected.
    A rejected frame leaves every book untouched.
    """


class LeakageError(InvalidInputError):
    """Information from after a sample's time reaches it: a feature stamped after its sample
    (``ofi.models.validation.check_point_in_time``) or a label window that ends before its sample.

    Attributes
    ----------
    sample : int or None
        Position of the first offending sample.
    feature : int or None
        Column of the first offending feature (None for a label check).
    count : int or None
        How many values (or labels) offend.
    """

    def __init__(self, message: str, *, sample: int | None = None, feature: int | None = None,
                 count: int | None = None):
        super().__init__(message)
        self.sample = sample
        self.feature = feature
        self.count = count


class BookIntegrityError(OfiError, RuntimeError):
    """A message would leave the book crossed or locked (best bid >= best ask).

    The message is rolled back, the book keeps its previous contents and is marked stale
    until the next snapshot.
    """


class SequenceGapError(OfiError, RuntimeError):
    """A delta does not continue the book's update-id sequence (``u != last_u + 1``),
    or arrives while the book waits for a snapshot.

    Attributes
    ----------
    expected : int or None
        The update id the book expected (``last_u + 1``), None before any snapshot.
    received : int
        The update id of the rejected delta.
    """

    def __init__(self, message: str, expected: int | None = None, received: int | None = None):
        super().__init__(message)
        self.expected = expected
        self.received = received


class ExchangeError(OfiError, RuntimeError):
    """Bybit answered with an error (HTTP status or a non-zero ``retCode``)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        ret_code: int | None = None,
        ret_msg: str | None = None,
        endpoint: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.ret_code = ret_code
        self.ret_msg = ret_msg
        self.endpoint = endpoint


class RateLimitError(ExchangeError):
    """Bybit throttled the request (HTTP 429/403 or ``retCode`` 10006)."""


class AuthenticationError(ExchangeError):
    """Bybit rejected the credentials or the signature."""


class TransportError(ExchangeError, ConnectionError):
    """The request did not complete: connection refused or reset, TLS failure, bad redirect."""


class RequestTimeoutError(TransportError, TimeoutError):
    """No answer within the client's ``timeout`` (after the retries a GET is allowed)."""


class IpBanError(RateLimitError):
    """Bybit answered HTTP 403 (the IP limit of 600 requests per 5 s was broken, or the IP is
    in a restricted region). The client sends nothing to that host until the ban is over.

    Attributes
    ----------
    retry_after_s : float
        Seconds until the client lets requests through again.
    """

    def __init__(self, message: str, *, retry_after_s: float, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class OfiWarning(UserWarning):
    """Base class of the warnings ofi emits (e.g. a recording cut off mid-write)."""


class ModelFileError(InvalidInputError):
    """A model file that cannot be trusted or used: unknown format, a checksum that does not match
    (tampered or truncated), or feature names / a feature-config hash that differ from the engine's."""
