"""SMPP 3.4 route adapter: one long-lived bind_transceiver per route per worker process.

Client library: ``smpp34`` (Rust/tokio core with an asyncio API), not ``smpplib``. PDU
framing, sequence numbers, enquire_link and timers run in Rust threads outside the GIL,
and one asyncio loop keeps the whole window in flight; ``smpplib`` encodes and decodes
every PDU in Python and needs a reader thread of our own for the responses. Measured
against ``fakes.smsc`` in the same process, window 10, on the shared 2-core dev box:
smpp34 3,700-4,700 submit_sm/s, smpplib 2,300-2,700 (see ``raw_submit_rate``).

What smpp34 1.5 does not give us, and what we do about it:

* It sends enquire_link every 30 s on its own and does not expose that timer, so
  ``enquire_link_interval`` is how often we check the session is still alive and start a
  reconnect if not (a dead session is normally noticed at once: ``next()`` says so, or a
  submit_sm fails).
* Its ``connect()`` does not report a refused bind (wrong password, unknown system_id): it
  waits for the bind timeout (``timeout`` here) and fails with "bind timed out".
* Its ``window_size`` is not enforced on submit_sm, so the window is our semaphore.
* It leaves Nagle's algorithm on, which sends the window in bursts: see ``_disable_nagle``.
* A full inbound queue kills the session without a word: see ``INBOUND_CAPACITY``.
* It acknowledges deliver_sm itself (deliver_sm_resp OK) before we see the receipt, so a
  receipt is acknowledged even if ``on_receipt`` then fails: the handler must not lose it.

Threads: ``submit_batch`` is synchronous (Celery prefork workers call it) and hands the
batch to an asyncio loop in a daemon thread; ``on_receipt`` runs in a thread of its own, so
a slow handler never stalls submits. Build and use a route in the worker process, after the
fork: neither our thread nor smpp34's tokio runtime survives ``fork()``.

Benchmarking the client without the platform: ``raw_submit_rate(...)`` binds exactly as
the route does and submits ``n`` messages with ``window`` in flight, with none of the route
machinery (thread hop, limiter, outcomes).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import queue
import random
import re
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import smpp34

from sms.providers.base import (
    PermanentSmsError,
    Receipt,
    ReceiptHandler,
    SmsError,
    SmsPart,
    SmsSubmit,
    SubmitOutcome,
    SubmitResult,
    ThrottledError,
    TransientSmsError,
)

logger = logging.getLogger(__name__)

DEFAULT_PORT = 2775
MAX_SHORT_MESSAGE = 254  # longer payloads go in the message_payload TLV
ESM_CLASS_UDHI = 0x40
ESM_MESSAGE_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04
ESM_INTERMEDIATE_NOTIFICATION = 0x20
TON_UNKNOWN, TON_INTERNATIONAL, TON_ALPHANUMERIC = 0, 1, 5
NPI_UNKNOWN, NPI_ISDN = 0, 1

# Reconnect after a drop at once, then after 0.5 s, 1 s, 2 s ... up to 30 s (plus jitter),
# so a dead SMSC is not hammered by every worker process at the same instant.
RECONNECT_BACKOFF_BASE = 0.5
RECONNECT_BACKOFF_MAX = 30.0
# The token bucket holds 50 ms of parts: enough to absorb timer jitter at high rates,
# small enough that an SMSC counting per 100 ms or per second never sees a burst over tps.
BURST_SECONDS = 0.05
MIN_TPS = 1.0
# After ESME_RTHROTTLED the rate is halved, then grows back 10% a second.
THROTTLE_RECOVERY_PER_SECOND = 1.10
SESSION_SETTLE_SECONDS = 0.05  # let smpp34's Rust tasks finish before the loop goes away
# smpp34 queues every inbound PDU (submit_sm_resp and deliver_sm alike) for Python; when the
# queue is full the session dies silently (no Disconnected, is_alive() False). Receipts come
# in bursts and our loop can be slowed by the GIL, so make it deep: ~200 bytes an entry.
INBOUND_CAPACITY = 65_536

ESME_ROK = 0x00
ESME_RTHROTTLED = 0x58
STATUS_NAMES = {
    0x01: "ESME_RINVMSGLEN",
    0x02: "ESME_RINVCMDLEN",
    0x03: "ESME_RINVCMDID",
    0x04: "ESME_RINVBNDSTS",
    0x05: "ESME_RALYBND",
    0x06: "ESME_RINVPRTFLG",
    0x07: "ESME_RINVREGDLVFLG",
    0x08: "ESME_RSYSERR",
    0x0A: "ESME_RINVSRCADR",
    0x0B: "ESME_RINVDSTADR",
    0x0C: "ESME_RINVMSGID",
    0x14: "ESME_RMSGQFUL",
    0x15: "ESME_RINVSERTYP",
    0x43: "ESME_RINVESMCLASS",
    0x45: "ESME_RSUBMITFAIL",
    0x48: "ESME_RINVSRCTON",
    0x49: "ESME_RINVSRCNPI",
    0x50: "ESME_RINVDSTTON",
    0x51: "ESME_RINVDSTNPI",
    0x53: "ESME_RINVSYSTYP",
    0x58: "ESME_RTHROTTLED",
    0x61: "ESME_RINVSCHED",
    0x62: "ESME_RINVEXPIRY",
    0x63: "ESME_RINVDFTMSGID",
    0x64: "ESME_RX_T_APPN",
    0x65: "ESME_RX_P_APPN",
    0x66: "ESME_RX_R_APPN",
    0xC0: "ESME_RINVOPTPARSTREAM",
    0xC1: "ESME_ROPTPARNOTALLWD",
    0xC2: "ESME_RINVPARLEN",
    0xC3: "ESME_RMISSINGOPTPARAM",
    0xC4: "ESME_RINVOPTPARAMVAL",
    0xFE: "ESME_RDELIVERYFAILURE",
    0xFF: "ESME_RUNKNOWNERR",
}
# Worth retrying (later, or on another route): the SMSC is busy, broken or out of sync with
# us. Every other status, vendor codes included, is about the message and fails it at once.
TRANSIENT_STATUSES = frozenset({0x04, 0x08, 0x14, 0x45, 0x64, 0xFE, 0xFF})

# Delivery receipt text (SMPP 3.4 appendix B): "id:... sub:... dlvrd:... submit date:...
# done date:... stat:DELIVRD err:000 text:...".
_RECEIPT_FIELD = re.compile(r"\b(id|stat|err):(\S*)", re.IGNORECASE)
RECEIPT_STATES = {
    "DELIVRD": "delivered",
    "ACCEPTD": "sent",
    "ENROUTE": "sent",
    "UNDELIV": "failed",
    "REJECTD": "failed",
    "EXPIRED": "failed",
    "DELETED": "failed",
    "UNKNOWN": "failed",
}
# message_state TLV values (SMPP 3.4, 5.2.28), for receipts without a stat: field.
MESSAGE_STATE_STATS = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}


def status_error(status: int) -> SmsError:
    """The exception a non-zero submit_sm_resp command_status stands for."""
    name = STATUS_NAMES.get(status, f"command_status 0x{status:08X}")
    if status == ESME_RTHROTTLED:
        return ThrottledError(name)
    if status in TRANSIENT_STATUSES:
        return TransientSmsError(name)
    return PermanentSmsError(name)


def parse_receipt(short_message: bytes, tlvs: list[smpp34.Tlv]) -> Receipt | None:
    """A Receipt from a delivery receipt deliver_sm, or None if it names no id or state.

    The receipted_message_id TLV wins over the text's ``id:``; the text's ``stat:`` wins
    over the message_state TLV.
    """
    fields = {name.lower(): value for name, value in _RECEIPT_FIELD.findall(short_message.decode("latin-1"))}
    by_tag = {tlv.tag: tlv.value for tlv in tlvs}
    message_id = by_tag.get(smpp34.TLV_RECEIPTED_MESSAGE_ID, b"").rstrip(b"\x00").decode("latin-1")
    message_id = message_id or fields.get("id", "")
    stat = fields.get("stat", "").upper()
    if not stat and by_tag.get(smpp34.TLV_MESSAGE_STATE):
        stat = MESSAGE_STATE_STATS.get(by_tag[smpp34.TLV_MESSAGE_STATE][0], "")
    state = RECEIPT_STATES.get(stat)
    if not message_id or state is None:
        return None
    return Receipt(provider_message_id=message_id, state=state, error=stat if state == "failed" else "")


def smpp_address(address: str) -> tuple[str, int, int]:
    """(address, ton, npi): E.164 '+...' is international, digits a short code, else alphanumeric."""
    if address.startswith("+"):
        return address[1:], TON_INTERNATIONAL, NPI_ISDN
    if address.isdigit():
        return address, TON_UNKNOWN, NPI_ISDN
    return address, TON_ALPHANUMERIC, NPI_UNKNOWN


@dataclass(eq=False)
class _Session:
    client: smpp34.Client
    smsc: smpp34.Smsc
    lost: bool = False
    reader: asyncio.Task | None = None


class SmppRoute:
    """An SmsRoute over one SMPP bind_transceiver, bound on first use and kept bound.

    ``submit_batch`` returns one outcome per message, in order; it raises TransientSmsError
    only when no session can be bound. A message's parts go out one after the other, each
    with its own submit_sm; a part that fails stops the message and is its outcome (parts
    already accepted are logged, not reported). A message is reported sent only on
    submit_sm_resp OK for every part, i.e. once the SMSC holds all of it.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        system_id: str,
        password: str,
        system_type: str = "",
        window: int = 10,
        tps: float | None = None,
        enquire_link_interval: float = 30.0,
        on_receipt: ReceiptHandler | None = None,
        timeout: float = 10.0,
        tls: bool = False,
        throttle_pause: float = 1.0,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        if tps is not None and tps <= 0:
            raise ValueError("tps must be positive, or None for no limit")
        self.host, self.port = host, port
        self.system_id = system_id
        self._password = password
        self.system_type = system_type
        self.window = window
        self.tps = tps
        self.enquire_link_interval = enquire_link_interval
        self.timeout = timeout  # bind, and each submit_sm_resp
        self.tls = tls
        self.throttle_pause = throttle_pause  # seconds without submits after ESME_RTHROTTLED
        self._receipts = _ReceiptDispatcher(on_receipt) if on_receipt is not None else None
        self._start_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._reset_loop_state()

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> SmppRoute:
        """``smpp://SYSTEM_ID:PASSWORD@HOST:PORT`` (``smpps://`` for TLS); query parameters
        ``system_type``, ``window``, ``tps``, ``timeout``; keyword arguments win."""
        parts = urlsplit(url)
        if parts.scheme not in ("smpp", "smpps") or not parts.hostname or parts.username is None:
            raise ValueError("expected smpp://SYSTEM_ID:PASSWORD@HOST:PORT")
        options: dict[str, object] = {}
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        if "system_type" in query:
            options["system_type"] = query["system_type"]
        if "window" in query:
            options["window"] = int(query["window"])
        if "tps" in query:
            options["tps"] = float(query["tps"])
        if "timeout" in query:
            options["timeout"] = float(query["timeout"])
        options.update(kwargs)
        return cls(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORT,
            system_id=unquote(parts.username),
            password=unquote(parts.password or ""),
            tls=parts.scheme == "smpps",
            **options,  # type: ignore[arg-type]
        )

    def __repr__(self) -> str:
        return f"<SmppRoute smpp://{self.system_id}@{self.host}:{self.port}>"

    # SmsRoute

    def submit_batch(self, messages: list[SmsSubmit]) -> list[SubmitOutcome]:
        if not messages:
            return []
        loop = self._ensure_loop()
        return asyncio.run_coroutine_threadsafe(self._submit_batch(list(messages)), loop).result()

    def close(self) -> None:
        """Unbind and stop the thread; a later submit_batch binds again."""
        with self._start_lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None and self._pid == os.getpid():
            try:
                asyncio.run_coroutine_threadsafe(self._aclose(), loop).result(timeout=self.timeout + 5)
            except Exception:
                logger.exception("%r: unclean close", self)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            if not thread.is_alive():
                loop.close()
        if self._receipts is not None:
            self._receipts.close()

    def __enter__(self) -> SmppRoute:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Loop thread lifecycle

    def _reset_loop_state(self) -> None:
        """State owned by the loop thread; created again with each loop."""
        self._session: _Session | None = None
        self._bind_lock: asyncio.Lock | None = None
        self._window_slots: asyncio.Semaphore | None = None
        self._limiter: _RateLimiter | None = None
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._reconnecting = False
        self._bind_failures = 0
        self._next_bind_at = 0.0
        self._last_bind_error = ""

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is not None and self._pid == os.getpid():
                return self._loop
            # First use, or first use in a forked child (the parent's thread is not here).
            self._reset_loop_state()
            self._pid = os.getpid()
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name=f"smpp-{self.system_id}", daemon=True)
            self._thread.start()
            return self._loop

    async def _aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.lost:
            session.lost = True
            with contextlib.suppress(Exception):  # best effort: the SMSC may be gone already
                await asyncio.wait_for(session.smsc.unbind(), timeout=2.0)
            await _stop_client(session.client)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.sleep(SESSION_SETTLE_SECONDS)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # Binding (loop thread)

    async def _bound_session(self) -> _Session:
        session = self._session
        if session is not None and not session.lost:
            return session
        if self._bind_lock is None:
            self._bind_lock = asyncio.Lock()
            self._window_slots = asyncio.Semaphore(self.window)
            self._limiter = _RateLimiter(self.tps, self.throttle_pause)
        async with self._bind_lock:
            session = self._session
            if session is not None and not session.lost:
                return session
            wait = self._next_bind_at - time.monotonic()
            if wait > 0:
                # Fail fast while backing off, so the caller moves on to its next route.
                raise TransientSmsError(f"SMPP not bound ({self._last_bind_error}); next bind attempt in {wait:.1f}s")
            return await self._bind()

    async def _bind(self) -> _Session:
        client = smpp34.Client(
            self.host,
            self.port,
            self.system_id,
            self._password,
            bind_type="TRX",
            system_type=self.system_type,
            tls=self.tls,
            window_size=self.window,
            inbound_capacity=INBOUND_CAPACITY,
            connect_timeout_ms=int(self.timeout * 1000),
        )
        try:
            # smpp34 enforces connect_timeout_ms itself; it reports a refused bind as a timeout.
            smsc = await client.connect()
        except (smpp34.SmppError, OSError) as exc:
            self._bind_failures += 1
            backoff = min(RECONNECT_BACKOFF_MAX, RECONNECT_BACKOFF_BASE * 2 ** (self._bind_failures - 1))
            self._next_bind_at = time.monotonic() + backoff * random.uniform(0.8, 1.2)
            self._last_bind_error = str(exc)
            await _stop_client(client)
            raise TransientSmsError(
                f"SMPP bind to {self.host}:{self.port} as {self.system_id!r} failed: {exc}"
            ) from exc
        self._bind_failures = 0
        _disable_nagle(self.port)
        session = _Session(client, smsc)
        self._session = session
        session.reader = self._spawn(self._read_events(session))
        self._spawn(self._watch(session))
        logger.info("%r: bound (session %s)", self, smsc.session_id)
        return session

    def _lose(self, session: _Session, reason: str) -> None:
        if session.lost:
            return
        session.lost = True
        if self._session is session:
            self._session = None
        logger.warning("%r: SMPP session lost (%s)", self, reason)
        if session.reader is not None and session.reader is not asyncio.current_task():
            session.reader.cancel()  # a dead session may never say Disconnected
        self._spawn(_stop_client(session.client))
        if not self._closed and not self._reconnecting:
            self._spawn(self._reconnect())

    async def _reconnect(self) -> None:
        self._reconnecting = True
        try:
            while not self._closed and (self._session is None or self._session.lost):
                try:
                    await self._bound_session()
                except TransientSmsError as exc:
                    logger.warning("%r: reconnect failed: %s", self, exc)
                    await asyncio.sleep(max(0.05, self._next_bind_at - time.monotonic()))
        finally:
            self._reconnecting = False

    async def _watch(self, session: _Session) -> None:
        while not session.lost:
            await asyncio.sleep(self.enquire_link_interval)
            if not session.lost and not await session.client.is_alive():
                self._lose(session, "session task ended")

    async def _read_events(self, session: _Session) -> None:
        try:
            while True:
                event = await session.smsc.next()
                if not isinstance(event, smpp34.DeliverSmEvent):
                    break  # Disconnected
                self._on_deliver_sm(event)
        except Exception as exc:
            logger.exception("%r: reading from the SMSC failed", self)
            self._lose(session, f"reader failed: {exc}")
            return
        self._lose(session, "disconnected")

    def _on_deliver_sm(self, event: smpp34.DeliverSmEvent) -> None:
        if event.esm_class & ESM_MESSAGE_TYPE_MASK not in (ESM_DELIVERY_RECEIPT, ESM_INTERMEDIATE_NOTIFICATION):
            logger.info("%r: ignoring a mobile-originated deliver_sm from %s", self, event.source_addr)
            return
        receipt = parse_receipt(event.short_message, event.tlvs)
        if receipt is None:
            logger.warning("%r: unreadable delivery receipt %r", self, event.short_message)
        elif self._receipts is not None:
            self._receipts.put(receipt)

    # Submitting (loop thread)

    async def _submit_batch(self, messages: list[SmsSubmit]) -> list[SubmitOutcome]:
        session = await self._bound_session()
        return await asyncio.gather(*(self._submit_message(session, message) for message in messages))

    async def _submit_message(self, session: _Session, message: SmsSubmit) -> SubmitOutcome:
        if not message.parts:
            return PermanentSmsError("message has no parts")
        source = smpp_address(message.sender)
        destination = smpp_address(message.destination)
        ids: list[str] = []
        for number, part in enumerate(message.parts, start=1):
            try:
                ids.append(await self._submit_part(session, part, source, destination, message.want_receipt))
            except SmsError as exc:
                if ids:
                    logger.warning(
                        "%r: recipient %s: part %d/%d failed (%s) after parts %s were accepted",
                        self, message.recipient_id, number, len(message.parts), exc, ids,
                    )  # fmt: skip
                return exc
            except Exception as exc:  # a bug or a library surprise must not sink the batch
                logger.exception("%r: recipient %s: submit_sm failed", self, message.recipient_id)
                return TransientSmsError(f"submit_sm failed: {exc}")
        return SubmitResult(provider_message_ids=tuple(ids))

    async def _submit_part(
        self,
        session: _Session,
        part: SmsPart,
        source: tuple[str, int, int],
        destination: tuple[str, int, int],
        want_receipt: bool,
    ) -> str:
        assert self._window_slots is not None and self._limiter is not None
        async with self._window_slots:
            await self._limiter.acquire()
            if session.lost:
                raise TransientSmsError("SMPP connection lost")
            payload, tlvs = part.payload, []
            if len(payload) > MAX_SHORT_MESSAGE:
                payload, tlvs = b"", [smpp34.Tlv(smpp34.TLV_MESSAGE_PAYLOAD, part.payload)]
            try:
                future = session.smsc.submit_sm(
                    destination[0],
                    payload,
                    source_addr=source[0],
                    source_addr_ton=source[1],
                    source_addr_npi=source[2],
                    dest_addr_ton=destination[1],
                    dest_addr_npi=destination[2],
                    esm_class=ESM_CLASS_UDHI if part.udhi else 0,
                    registered_delivery=1 if want_receipt else 0,
                    data_coding=part.data_coding,
                    tlvs=tlvs,
                )
                async with asyncio.timeout(self.timeout):
                    response = await future
            except TimeoutError:
                raise TransientSmsError(f"no submit_sm_resp within {self.timeout:g}s") from None
            except smpp34.SmppError as exc:
                # Statuses come back in the response; an SmppError means the session failed
                # under this request (connection lost, or smpp34's own 30 s response timer).
                # Mark it lost now, so the next batch binds again instead of meeting it.
                self._lose(session, f"submit_sm: {exc}")
                raise TransientSmsError(f"SMPP connection lost ({exc})") from None
        status = response.command_status
        if status != ESME_ROK:
            if status == ESME_RTHROTTLED:
                self._limiter.throttled()
            raise status_error(status)
        return response.message_id or ""


class _RateLimiter:
    """A token bucket in parts per second (None: unlimited) that backs off on throttling.

    On ESME_RTHROTTLED no part goes out for ``pause`` seconds and the rate is halved (from
    the rate sent over the last second when unlimited); it then grows back 10% a second to
    the configured ceiling, or to unlimited once past the rate that was throttled.
    """

    def __init__(self, ceiling: float | None, pause: float) -> None:
        self.ceiling = ceiling
        self.rate = ceiling
        self.pause = pause
        self.paused_until = 0.0
        self._tokens = self._capacity()
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()  # FIFO: one waiter sleeps for the next token, not all
        self._sent: collections.deque[float] = collections.deque()  # while unlimited, last second
        self._last_cut = float("-inf")
        self._grown_at = 0.0
        self._unlimited_from: float | None = None

    def _capacity(self) -> float:
        return max(1.0, (self.rate or 0.0) * BURST_SECONDS)

    async def acquire(self) -> None:
        now = time.monotonic()
        if self.rate is None and now >= self.paused_until:
            self._note_sent(now)
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self.paused_until:
                    await asyncio.sleep(self.paused_until - now)
                    continue
                self._recover(now)
                if self.rate is None:
                    self._note_sent(now)
                    return
                self._tokens = min(self._capacity(), self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self.rate)

    def throttled(self) -> None:
        now = time.monotonic()
        self.paused_until = max(self.paused_until, now + self.pause)
        if now - self._last_cut < self.pause:
            return  # the other answers of the same burst
        self._last_cut = now
        if self.rate is None:
            while self._sent and self._sent[0] < now - 1.0:
                self._sent.popleft()
            base = max(MIN_TPS, float(len(self._sent)))
            self._unlimited_from = base
        else:
            base = self.rate
        self.rate = max(MIN_TPS, base / 2)
        self._tokens = min(self._tokens, self._capacity())
        self._stamp = self._grown_at = self.paused_until

    def _recover(self, now: float) -> None:
        if self.rate is None or self.rate == self.ceiling:
            return
        self.rate *= THROTTLE_RECOVERY_PER_SECOND ** max(0.0, now - self._grown_at)
        self._grown_at = now
        if self.ceiling is not None:
            self.rate = min(self.rate, self.ceiling)
        elif self._unlimited_from is not None and self.rate >= self._unlimited_from:
            self.rate = None
            self._sent.clear()

    def _note_sent(self, now: float) -> None:
        self._sent.append(now)
        if self._sent[0] < now - 1.0:
            self._sent.popleft()


class _ReceiptDispatcher:
    """Calls the receipt handler in a thread of its own; logs and drops what it raises.

    Receipts read in one pass of the event loop go over as one list: waking the handler
    thread once per receipt cost more than parsing it.
    """

    def __init__(self, handler: ReceiptHandler) -> None:
        self._handler = handler
        self._queue: queue.SimpleQueue[list[Receipt] | None] = queue.SimpleQueue()
        self._batch: list[Receipt] = []  # event loop thread only
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, receipt: Receipt) -> None:
        """From the event loop thread."""
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._flush)
        self._batch.append(receipt)

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="smpp-receipts", daemon=True)
                self._thread.start()
        self._queue.put(batch)

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=5)

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            for receipt in batch:
                try:
                    self._handler(receipt)
                except Exception:
                    logger.exception("receipt handler failed for %s", receipt)


def _disable_nagle(peer_port: int) -> None:
    """Set TCP_NODELAY on this process's TCP sockets connected to ``peer_port``.

    smpp34 leaves Nagle's algorithm on, so a submit_sm written while another is unacknowledged
    waits for the peer's ACK (up to its delayed-ACK timer, 40 ms on Linux) and the window goes
    out in bursts: against an SMSC answering in 20 ms, 4 in flight gave 117 submits/s instead
    of 172. smpp34 does not expose its socket, so we find it in /proc/self/fd (Linux; elsewhere
    this does nothing). Other sockets to the same port get TCP_NODELAY too, which is harmless.
    """
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        # Only sockets are duplicated: closing a duplicate of a regular file's descriptor
        # drops every POSIX lock this process holds on that file, and SQLite's locks are
        # such locks (doing so corrupted SQLite databases shared with other processes).
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            duplicate = os.dup(fd)  # closing the duplicate leaves smpp34's descriptor alone
        except OSError:
            continue  # closed meanwhile
        try:
            sock = socket.socket(fileno=duplicate)
        except OSError:
            os.close(duplicate)  # not a socket
            continue
        with sock:
            try:
                tcp = sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6)
                if tcp and sock.getpeername()[1] == peer_port:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                continue  # listening or unconnected


async def _stop_client(client: smpp34.Client) -> None:
    with contextlib.suppress(Exception):  # already stopped
        await client.stop()


def raw_submit_rate(
    host: str,
    port: int,
    system_id: str,
    password: str,
    n: int,
    window: int = 10,
    *,
    destination: str = "22890000000",
    payload: bytes = b"SoftAfrik benchmark",
    receipts: bool = False,
) -> float:
    """submit_sm per second for ``n`` submits with ``window`` in flight on one smpp34 bind.

    The same client and bind as SmppRoute, without the route around it: ``window`` senders
    each submit the next part as soon as their last is answered. Timed from the first
    submit_sm to the last submit_sm_resp. ``receipts`` asks for a delivery receipt with
    each (as the platform does) and reads and acknowledges every deliver_sm meanwhile; the
    clock then runs until the last receipt too (up to 30 s more), so an SMSC that falls
    behind on receipts cannot leave that work outside the measurement. Raises RuntimeError
    if any submit is refused or a receipt is missing.
    """

    async def run() -> float:
        client = smpp34.Client(
            host,
            port,
            system_id,
            password,
            bind_type="TRX",
            window_size=window,
            inbound_capacity=INBOUND_CAPACITY,
        )
        smsc = await client.connect()
        _disable_nagle(port)
        counts = collections.Counter()

        async def read() -> float | None:
            """When the last receipt came (None: disconnected before)."""
            while counts["receipts"] < n:
                if not isinstance(await smsc.next(), smpp34.DeliverSmEvent):
                    return None
                counts["receipts"] += 1
            return time.perf_counter()

        async def sender(share: int) -> None:
            for _ in range(share):
                response = await smsc.submit_sm(
                    destination,
                    payload,
                    source_addr="SoftAfrik",
                    source_addr_ton=TON_ALPHANUMERIC,
                    registered_delivery=1 if receipts else 0,
                )
                counts["refused"] += response.command_status != ESME_ROK

        reader = asyncio.get_running_loop().create_task(read()) if receipts else None
        shares = [n // window + (1 if i < n % window else 0) for i in range(window)]
        started = time.perf_counter()
        await asyncio.gather(*(sender(share) for share in shares))
        elapsed = time.perf_counter() - started
        if reader is not None:
            with contextlib.suppress(TimeoutError):  # wait_for cancels the reader then
                last = await asyncio.wait_for(reader, timeout=30)
                if last is not None:
                    elapsed = max(elapsed, last - started)
        await smsc.unbind()
        await _stop_client(client)
        await asyncio.sleep(SESSION_SETTLE_SECONDS)
        if counts["refused"]:
            raise RuntimeError(f"{counts['refused']} of {n} submits refused")
        if receipts and counts["receipts"] < n:
            raise RuntimeError(f"{counts['receipts']} of {n} receipts arrived")
        return n / elapsed

    return asyncio.run(run())
