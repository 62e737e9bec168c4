"""What the HTTP SMS route adapters (Africa's Talking, Twilio) share.

An adapter subclasses ``HttpRoute`` and supplies the form of one message and the outcome
of one answer; the base POSTs a batch concurrently on one keep-alive session and turns a
refused credential or a provider nobody can connect to into ``TransientSmsError`` for the
whole batch, so the caller falls back to the next route.

A POST is never retried here: a lost answer may hide a sent message, and whether to risk a
duplicate is the caller's decision.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from sms.providers.base import SmsSubmit, SubmitOutcome, TransientSmsError

# Longest slice of a provider's error body kept in the reason recorded on the recipient.
REASON_MAX_CHARS = 200


class Unreachable(TransientSmsError):
    """The connection could not even be opened: the request never left."""


@dataclass
class Batch:
    """State shared by the workers of one ``submit_batch`` call."""

    down: threading.Event = field(default_factory=threading.Event)
    reason: str = ""

    def fail_route(self, reason: str) -> None:
        self.reason = reason
        self.down.set()


class HttpRoute(ABC):
    """One provider account; thread-safe, kept alive per worker process."""

    name: ClassVar[str]  # prefixes every reason, e.g. "twilio: HTTP 503"

    def __init__(self, *, endpoint: str, timeout: float, max_workers: int) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._session = http_session(max_workers)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"sms-{self.name}")

    def submit_batch(self, messages: list[SmsSubmit]) -> list[SubmitOutcome]:
        """One outcome per message, in order.

        Raises TransientSmsError when the route is unusable: credentials refused (the rest
        of the batch is then not sent) or no connection could be opened for any message.
        """
        if not messages:
            return []
        batch = Batch()
        outcomes = list(self._pool.map(partial(self._submit_one, batch=batch), messages))
        if batch.down.is_set():
            # Logged under the adapter's module, so per-provider logging settings still apply.
            logging.getLogger(type(self).__module__).warning("%s route unusable: %s", self.name, batch.reason)
            raise TransientSmsError(batch.reason)
        if all(isinstance(outcome, Unreachable) for outcome in outcomes):
            raise TransientSmsError(f"{self.name} unreachable: {outcomes[0]}")
        return outcomes

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._session.close()

    def _submit_one(self, message: SmsSubmit, *, batch: Batch) -> SubmitOutcome:
        if batch.down.is_set():
            return TransientSmsError(batch.reason)
        try:
            response = self._session.post(self._endpoint, data=self._form(message), timeout=self._timeout)
        except requests.RequestException as exc:
            return transport_error(exc, self.name)
        return self._outcome(message, response, batch)

    @abstractmethod
    def _form(self, message: SmsSubmit) -> dict[str, str]:
        """The POSTed form fields for ``message``."""

    @abstractmethod
    def _outcome(self, message: SmsSubmit, response: requests.Response, batch: Batch) -> SubmitOutcome:
        """The outcome of ``message`` from the provider's answer.

        Calls ``batch.fail_route`` when the answer shows the whole route unusable.
        """


def form_field(form: Mapping[str, Any], key: str) -> str:
    """One field of a callback form, stripped; ``""`` when absent."""
    value = form.get(key)
    if isinstance(value, list | tuple):  # dict(querydict) or parse_qs output
        value = value[-1] if value else None
    return "" if value is None else str(value).strip()


def http_session(max_workers: int) -> requests.Session:
    session = requests.Session()
    # max_retries=0: a POST that reached the provider must not be sent twice behind our back.
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max_workers, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def transport_error(exc: requests.RequestException, provider_name: str) -> TransientSmsError:
    """``Unreachable`` when no connection was opened, else ``TransientSmsError``."""
    if isinstance(exc, requests.ConnectTimeout) or (
        isinstance(exc, requests.ConnectionError) and _is_connect_failure(exc)
    ):
        return Unreachable(f"{provider_name}: cannot connect ({type(exc).__name__})")
    if isinstance(exc, requests.Timeout):
        return TransientSmsError(f"{provider_name}: timeout waiting for the answer")
    return TransientSmsError(f"{provider_name}: {type(exc).__name__}")


def _is_connect_failure(exc: requests.ConnectionError) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def snippet(text: str) -> str:
    """``text`` on one line, cut to ``REASON_MAX_CHARS``."""
    return " ".join(text.split())[:REASON_MAX_CHARS]
