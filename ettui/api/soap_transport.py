"""zeep's async transport, set up the way ettui needs it.

* **Every wait bounded.** zeep's ``AsyncTransport`` has no timeouts by
  default; ours posts through ``wire.post``: connect and per-read timeouts,
  the profile's ``request_deadline`` for the whole exchange and a reply read
  as a stream up to ``max_reply_bytes`` (``send``; zeep's own ``post`` goes
  the same way).
* **No network at start-up.** ``load`` (zeep's hook for reading the WSDL and
  its imports) reads local files, answers the vendor's fault-schema import
  (``ETFrameworkFault.xsd``, referenced by nothing in the WSDL, spec §7.2) with
  a local stub, and fetches any other URL once, keeping it under the cache dir
  so the next start reads the file.
* **Cheap to build.** zeep's constructor also builds a synchronous
  ``httpx.Client`` (about 20 ms for its TLS context) that is used only to
  fetch WSDLs; ours creates it only if a WSDL really has to be downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from zeep.transports import AsyncTransport

from ettui.api.wire import Limits, Peer, Reply, host_of, post

__all__ = ["FAULT_SCHEMA_STUB", "FAULT_SCHEMA_URL", "SoapTransport", "is_fault_schema"]

log = logging.getLogger(__name__)

FAULT_SCHEMA_URL = "https://webservice.exacttarget.com/ETFrameworkFault.xsd"
"""The vendor WSDL's only import; nothing in the WSDL uses its namespace."""

FAULT_SCHEMA_STUB = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<schema xmlns="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:fault.partner.exacttarget.com"/>\n'
)
"""An empty schema for the fault namespace: all that the import has to provide."""

_MAX_DOWNLOAD = 16 * 1024 * 1024


def is_fault_schema(url: str) -> bool:
    """True for the vendor's fault-schema import, however its host is spelled."""
    return urlparse(url).path.lower().endswith("/etframeworkfault.xsd")


class SoapTransport(AsyncTransport):
    """An ``AsyncTransport`` posting through ``http`` and loading WSDLs locally (cached)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        cache_dir: Path | None = None,
        fetch_timeout: float = 30.0,
        limits: Limits | None = None,
    ) -> None:
        # AsyncTransport.__init__ is skipped on purpose: it would build the
        # synchronous client described in the module docstring.
        self.client = http
        self.cache = None
        self.wsdl_client: httpx.Client | None = None
        self.cache_dir = cache_dir
        self.fetch_timeout = fetch_timeout
        self.logger = logging.getLogger("zeep.transports")
        self._close_session = False
        self.downloads = 0
        """How many documents were fetched over the network (tests check it stays 0)."""
        self.limits = limits or Limits()
        """Timeouts, the request deadline and the reply cap of every call."""

    def __del__(self) -> None:  # zeep's __del__ closes a session we never opened
        pass

    async def send(self, url: str, content: bytes, headers: Mapping[str, str], *, call: str,
                   setting: str = "soap_url") -> Reply:
        """POST within ``limits``; raises the error family (``wire.post``)."""
        return await post(self.client, url, content=content, headers=headers, limits=self.limits,
                          peer=Peer(host_of(url), setting), call=call)

    async def post(self, address: str, message: Any, headers: Mapping[str, str]) -> httpx.Response:
        """zeep's hook, bounded like ``send`` (ettui's own calls use ``send``)."""
        content = message if isinstance(message, bytes) else str(message).encode("utf-8")
        reply = await self.send(address, content, headers, call="SOAP call")
        return httpx.Response(reply.status_code, content=reply.content,
                              headers={"Content-Type": reply.content_type or "text/xml"})

    def load(self, url: str) -> bytes:
        """The bytes of a WSDL or schema: local file, fault-schema stub, or cached download."""
        if is_fault_schema(url):
            return FAULT_SCHEMA_STUB
        scheme = urlparse(url).scheme.lower()
        if scheme in ("http", "https"):
            return self._load_cached(url)
        if scheme == "file":
            url = urlparse(url).path
        with open(os.path.expanduser(url), "rb") as handle:
            return handle.read()

    def cache_path(self, url: str) -> Path | None:
        """Where a downloaded document is kept, or None without a cache dir."""
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]
        suffix = Path(urlparse(url).path).suffix.lower()
        return self.cache_dir / f"{digest}{suffix if suffix in ('.wsdl', '.xsd', '.xml') else '.wsdl'}"

    def _load_cached(self, url: str) -> bytes:
        path = self.cache_path(url)
        if path is not None and path.is_file():
            return path.read_bytes()
        data = self._download(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            temp = path.with_suffix(path.suffix + ".part")
            temp.write_bytes(data)
            os.replace(temp, path)  # never leave half a WSDL for the next start to read
        return data

    def _download(self, url: str) -> bytes:
        """GET a WSDL document, streamed, within ``request_deadline`` and at most 16 MiB.

        Synchronous (zeep loads WSDLs that way, in ``SoapApi.create``'s worker
        thread), so the deadline is checked as each chunk arrives; the per-read
        timeout bounds the wait for a chunk.
        """
        from ettui.errors import ApiConnectionError

        if self.wsdl_client is None:
            self.wsdl_client = httpx.Client(timeout=self.fetch_timeout, follow_redirects=True)
        log.info("fetching WSDL document %s (once; it is cached)", url)
        deadline = time.monotonic() + self.limits.request_deadline
        message: str
        try:
            with self.wsdl_client.stream("GET", url) as response:
                if not response.is_success:
                    message = (f"The WSDL at {url} could not be fetched (HTTP {response.status_code}); "
                               "check the profile's wsdl URL.")
                else:
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > _MAX_DOWNLOAD:
                            message = (f"The WSDL at {url} is larger than {_MAX_DOWNLOAD // (1024 * 1024)} MiB, so "
                                       "ettui stopped reading it; check the profile's wsdl URL.")
                            break
                        if time.monotonic() > deadline:
                            message = (f"The WSDL at {url} did not arrive within the request deadline of "
                                       f"{self.limits.request_deadline:g} s; check the profile's wsdl URL or use a "
                                       "local copy.")
                            break
                        chunks.append(chunk)
                    else:
                        self.downloads += 1
                        return b"".join(chunks)
        except httpx.HTTPError as exc:
            message = f"The WSDL at {url} could not be fetched ({type(exc).__name__}); check the profile's wsdl URL."
        raise ApiConnectionError(message, call="wsdl")

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        if self.wsdl_client is not None:
            self.wsdl_client.close()
            self.wsdl_client = None
        await self.client.aclose()
