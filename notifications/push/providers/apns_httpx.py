"""The APNs adapter over httpx (HTTP/2), the transport before ``apns_h2``, kept to measure it.

``HttpxApnsProvider`` is ``ApnsProvider`` (same payload, headers, provider token and
outcome mapping) with its requests sent by one ``httpx.AsyncClient`` limited to one
HTTP/2 connection and ``HTTPX_IN_FLIGHT`` concurrent streams, as the adapter did until
``apns_h2`` replaced it: ``bench/apns_transport_cost.py`` measures one against the other.
httpx's errors are translated to ``apns_h2``'s, so the same retries apply.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from typing import Any

import httpx

from notifications.push.providers import apns, apns_h2

try:
    import sniffio  # noqa: F401
except ImportError:
    # httpcore runs ``import sniffio`` for every lock it creates (several per request).
    # Python does not cache a failed import, so without sniffio installed each one
    # walks sys.path again (~1 ms of stat calls): cache the miss instead.
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

# httpcore advertises 100 concurrent streams; more only queues inside httpcore.
HTTPX_IN_FLIGHT = 100


class _HttpxClient:
    def __init__(self, provider: HttpxApnsProvider) -> None:
        self.loop = asyncio.get_running_loop()
        timeouts = apns.REQUEST_TIMEOUT
        verify: ssl.SSLContext | bool = True
        if provider._ca_file:
            verify = ssl.create_default_context(cafile=provider._ca_file)
        self.client = httpx.AsyncClient(
            http1=False,
            http2=True,
            verify=verify,
            timeout=httpx.Timeout(
                connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
            ),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=apns.KEEPALIVE_EXPIRY),
        )
        self.semaphore = asyncio.Semaphore(HTTPX_IN_FLIGHT)


class HttpxApnsProvider(apns.ApnsProvider):
    def _new_client(self) -> Any:
        return _HttpxClient(self)

    async def _close_client(self, client: Any) -> None:
        await client.client.aclose()

    def _request_headers(self, headers: dict[str, str]) -> Any:
        return headers

    async def _post(self, client: Any, token: str, headers: Any, bearer: str, body: bytes) -> apns_h2.Response:
        async with client.semaphore:
            try:
                response = await client.client.post(
                    f"{self.url}/3/device/{token}",
                    content=body,
                    headers={**headers, "authorization": f"bearer {bearer}"},
                )
            except httpx.TimeoutException as exc:
                raise getattr(apns_h2, type(exc).__name__, apns_h2.TimeoutException)(str(exc)) from None
            except httpx.ConnectError as exc:
                raise apns_h2.ConnectError(str(exc)) from None
            except httpx.WriteError as exc:
                raise apns_h2.WriteError(str(exc)) from None
            except httpx.RemoteProtocolError as exc:
                raise apns_h2.RemoteProtocolError(str(exc)) from None
            except httpx.TransportError as exc:
                raise apns_h2.ReadError(str(exc)) from None
        return apns_h2.Response(response.status_code, dict(response.headers), response.content)
