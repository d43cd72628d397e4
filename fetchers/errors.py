"""The fetchers' errors: one root (``FetchError``), translated once at the provider edge.

Every message is built by us from the provider's name, the request path (never its query or
headers) and a short, scrubbed excerpt of the answer, so no key ever reaches a log, a repr or an
event. ``retryable`` says whether trying again later may help; it is what ``fetch_failed`` records.
"""

from __future__ import annotations


class FetchError(Exception):
    """Root of every fetcher error: a provider could not give the data asked for."""

    retryable: bool = False

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message)
        self.provider = provider

    @property
    def reason(self) -> str:
        """The message, without the exception class (what users and events see)."""
        return str(self)


class TransientError(FetchError):
    """A failure that may pass: 5xx, overload, timeout, connection error (after the retries)."""

    retryable = True


class TimedOutError(TransientError):
    """No answer in time (an attempt's timeout, or a caller's bound on the whole request)."""


class RateLimitedError(TransientError):
    """HTTP 429 (or 529): the provider asks us to slow down; ``retry_after`` seconds if given."""

    def __init__(self, message: str, *, provider: str = "", retry_after: float | None = None):
        super().__init__(message, provider=provider)
        self.retry_after = retry_after


class InputRejectedError(FetchError):
    """The provider rejected our input (400, 404, 413, 422): retrying cannot help."""


class AuthError(FetchError):
    """The key was refused (401): check the configured secret."""


class AccessDeniedError(FetchError):
    """The plan does not give access to this resource (403), e.g. a Finnhub premium endpoint."""


class SpendCapError(FetchError):
    """The account reached its spending limit (Anthropic 429 spend cap): waiting will not help."""


class NoDataError(FetchError):
    """The provider has no data for this request in the plan's window (UW 403 history): not an
    outage; providers turn it into an empty answer."""


class ShapeError(FetchError):
    """The answer's shape changed (missing or renamed field, wrong type, malformed JSON); the
    message names the field, as msgspec reports it (``... - at `$.data[0].total_premium```)."""


class UnknownSymbolError(FetchError):
    """The provider does not know this symbol."""


class InvalidSymbolError(FetchError, ValueError):
    """A symbol given by a user is not a ticker; raised before any request."""


class FeatureDisabledError(FetchError):
    """An optional provider has no key configured, so the feature using it is off."""
