"""OAuth access tokens for the SOAP dialect: fetched, cached, refreshed before expiry.

``POST {auth_url}`` with a JSON ``client_credentials`` body (spec §7.3) gives
``access_token`` and ``expires_in`` (seconds; 20 minutes per the vendor). The
token goes into every envelope as a ``fueloauth`` header. ``TokenSource``
refreshes it ``margin`` seconds before it runs out, and ``invalidate`` lets the
caller throw a token away after an expired-token fault so the next
``token()`` fetches a fresh one (the caller replays its request once).

Every failure is one of ``ettui.errors``; no message ever holds the secret or
the token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from ettui.api.secrets import mask_secrets
from ettui.api.wire import Limits, Peer, post
from ettui.errors import AuthError, MalformedReplyError, ThrottledError

__all__ = ["FUELOAUTH_NS", "TokenSource"]

log = logging.getLogger(__name__)

FUELOAUTH_NS = "http://exacttarget.com"
"""Namespace of the ``fueloauth`` header element, as the Fuel SDK for Python writes it (spec §7.3)."""


class TokenSource:
    """One OAuth client's access token, shared by every call of one ``SoapApi``."""

    def __init__(
        self,
        auth_url: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.AsyncClient,
        account_id: str | None = None,
        scope: str | None = None,
        margin: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        limits: Limits | None = None,
    ) -> None:
        """Args:
        auth_url: The token endpoint, e.g. ``https://SUBDOMAIN.auth.marketingcloudapis.com/v2/token``.
        client_id, client_secret: The installed package's credentials.
        http: The HTTP client to post with.
        account_id: The target MID, sent as ``account_id`` when given.
        scope: Sent as ``scope`` when given.
        margin: Seconds before expiry at which the token is refreshed.
        monotonic: The clock expiry is measured on (tests inject one).
        limits: Timeouts, request deadline and reply cap of the token call.
        """
        self.auth_url = auth_url
        self.client_id = client_id
        self.__secret = client_secret
        self._http = http
        self.account_id = account_id
        self.scope = scope
        self.margin = margin
        self._monotonic = monotonic
        self.limits = limits or Limits()
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many tokens were fetched (tests and diagnostics)."""
        try:
            url = httpx.URL(auth_url)
            self.host = url.host if url.port is None else f"{url.host}:{url.port}"
        except (httpx.InvalidURL, TypeError):
            self.host = "the token endpoint"

    def __repr__(self) -> str:
        return f"TokenSource(auth_url={self.auth_url!r}, client_id={self.client_id!r})"

    @property
    def secrets(self) -> list[str]:
        """Values that must never appear in a recorded document."""
        return [value for value in (self.__secret, self._token) if value]

    async def token(self) -> str:
        """A token with more than ``margin`` seconds left, fetching one if needed."""
        async with self._lock:
            if self._token is None or self._monotonic() >= self._expires_at - self.margin:
                await self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the service said it expired) unless it was already replaced."""
        if self._token == token:
            self._token = None

    async def _fetch(self) -> None:
        body: dict[str, Any] = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.__secret,
        }
        if self.account_id:
            body["account_id"] = self.account_id
        if self.scope:
            body["scope"] = self.scope
        started = self._monotonic()
        # wire.post: the profile's timeouts, request deadline and reply cap; its
        # errors never chain the httpx exception (which holds the secret).
        response = await post(self._http, self.auth_url, content=json.dumps(body).encode(),
                              headers={"Content-Type": "application/json"}, limits=self.limits,
                              peer=Peer(self.host, "auth_url"), call="token")
        if response.status_code == 500:
            raise ThrottledError(f"The token endpoint {self.host} answered HTTP 500 (the service is busy).",
                                 call="token", code="500")
        try:
            answer = response.json()
        except (ValueError, RecursionError):  # deep nesting ("[[[[...") is a RecursionError, not a ValueError
            answer = None
        if response.status_code in (400, 401, 403):
            reason = ""
            if isinstance(answer, dict):
                reason = str(answer.get("error_description") or answer.get("error") or answer.get("message") or "")
            reason = self._scrub(reason)[:200]
            raise AuthError(
                f"The token endpoint refused OAuth client {self.client_id!r}"
                + (f" ({reason})" if reason else "")
                + "; check client_id, the client secret and account_id.",
                call="token", code=str(response.status_code),
            )
        if not response.is_success:
            raise AuthError(f"The token endpoint {self.host} answered HTTP {response.status_code}; check auth_url.",
                            call="token", code=str(response.status_code))
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise MalformedReplyError(
                f"The token endpoint {self.host} answered without an access_token; check that auth_url is the /v2/token URL.",
                call="token",
            )
        try:
            lifetime = float(answer.get("expires_in", 1200))
        except (TypeError, ValueError):
            lifetime = 1200.0  # the vendor's documented 20 minutes
        self._token = token
        self._expires_at = started + max(0.0, lifetime)
        self.fetches += 1
        log.info("OAuth token for %s fetched from %s (expires in %.0f s)", self.client_id, self.host, lifetime)

    def _scrub(self, text: str) -> str:
        return mask_secrets(text, self.secrets)
