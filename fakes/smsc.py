"""A fake SMSC that speaks real SMPP 3.4 on loopback.

``FakeSmsc`` runs ``smpp34.Server`` (the Rust/tokio SMPP engine: framing, bind handshake,
enquire_link, unbind, sequence numbers) inside an asyncio loop in a background thread,
behind a thin TCP front door of our own, because the Python API of ``smpp34.Server``
accepts every bind and shows neither the password nor the wire:

* the front door reads the ESME's first PDU and refuses a bind with the wrong
  ``system_id`` (ESME_RINVSYSID) or ``password`` (ESME_RINVPASWD) itself, then pipes bytes
  both ways and counts ``submit_sm`` against ``submit_sm_resp`` per connection, which gives
  ``max_outstanding`` (the largest window an ESME actually used) and ``enquire_links``;
* ``drop_connections()`` aborts the TCP connections there, as a network reset would.

The front door costs two more socket writes and reads per submit in Python. For a
throughput benchmark, ``FakeSmsc(front_door=False)`` (``--direct`` on the command line)
lets ESMEs talk to the engine itself: about twice the rate, but any credentials bind, and
``drop_connections``, ``drop_after``, ``max_outstanding`` and ``enquire_links`` are unavailable.

Each accepted ``submit_sm`` is answered with a fresh message id and recorded in ``received``
(thread-safe: a copy is returned). When ``registered_delivery`` asks for it, a delivery
receipt (``deliver_sm``, esm_class 0x04, the usual ``id:... stat:DELIVRD err:000`` text plus
the receipted_message_id and message_state TLVs) follows after ``receipt_delay`` seconds, on
the same bind if it is still up, else on the next one (as real SMSCs hold receipts).

Failures are injected by destination (``reject``, ``undeliverable``), by rate
(``throttle_after``) or on the connection (``drop_connections``, ``drop_after``).

Run standalone, in a process of its own (so a benchmark does not share a GIL with it)::

    python -m fakes.smsc --port 2775 --system-id bench --password secret [--direct]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import socket
import struct
import threading
import time
from dataclasses import dataclass

import smpp34

BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
GENERIC_NACK = 0x80000000
SUBMIT_SM_RESP = 0x80000004
BIND_COMMANDS = {BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER}

ESME_RINVCMDID = 0x03
ESME_RSYSERR = 0x08
ESME_RINVDSTADR = 0x0B
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RTHROTTLED = 0x58

# message_state values (SMPP 3.4, 5.2.28) for the receipt's message_state TLV.
MESSAGE_STATE_DELIVERED = 2
MESSAGE_STATE_UNDELIVERABLE = 5

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
MAX_PDU_LENGTH = 64 * 1024  # a bind is a few dozen bytes; anything this big is garbage
# smpp34 breaks a session whose inbound queue overflows; ours must outlast a busy loop.
INBOUND_CAPACITY = 65_536


@dataclass(frozen=True)
class ReceivedSubmit:
    message_id: str  # the id we answered with
    source: str
    source_ton: int
    destination: str
    dest_ton: int
    data_coding: int
    esm_class: int
    payload: bytes  # short_message, or the message_payload TLV when short_message is empty
    registered_delivery: int


@dataclass(frozen=True)
class SentReceipt:
    message_id: str
    stat: str  # "DELIVRD" | "UNDELIV"


class FakeSmsc:
    """Use as a context manager, or ``start()``/``stop()``. ``port`` is set once started."""

    def __init__(
        self,
        *,
        system_id: str = "softafrik",
        password: str = "secret",  # noqa: S107 (a fake's test credential)
        port: int = 0,
        receipt_delay: float = 0.0,
        response_delay: float = 0.0,
        front_door: bool = True,
    ) -> None:
        self.host = "127.0.0.1"
        self.front_door = front_door
        self.port = port  # 0: a free one, chosen at start()
        self.system_id = system_id
        self.password = password
        self.receipt_delay = receipt_delay  # seconds between submit_sm_resp and its receipt
        self.response_delay = response_delay  # seconds each submit_sm waits for its resp
        self.binds = 0  # successful binds so far
        self.refused_binds = 0
        self.enquire_links = 0  # enquire_link PDUs received from ESMEs
        self.max_outstanding = 0  # most submit_sm awaiting resp at once on one connection
        self._lock = threading.Lock()
        self._received: list[ReceivedSubmit] = []
        self._receipts: list[SentReceipt] = []
        self._rejections: dict[str, int] = {}
        self._undeliverable: set[str] = set()
        self._throttle_limit: int | None = None
        self._throttle_window_start = 0.0
        self._throttle_count = 0
        self._drop_countdown: int | None = None
        self._ids = itertools.count(1)
        # Event loop thread only:
        self._sessions: dict[str, smpp34.Esme] = {}
        self._pending_receipts: list[tuple[ReceivedSubmit, str]] = []
        self._connections: set[_FrontDoor] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._front: asyncio.Server | None = None
        self._engine: smpp34.Server | None = None
        self._engine_port = 0
        self._serve_task: asyncio.Task | None = None

    # Test API (any thread)

    @property
    def received(self) -> list[ReceivedSubmit]:
        with self._lock:
            return list(self._received)

    @property
    def received_count(self) -> int:
        with self._lock:
            return len(self._received)

    @property
    def receipts(self) -> list[SentReceipt]:
        """Receipts the ESME acknowledged with deliver_sm_resp."""
        with self._lock:
            return list(self._receipts)

    def reject(self, destination: str, status: int) -> None:
        """Answer every submit_sm to ``destination`` (as on the wire, no '+') with ``status``."""
        with self._lock:
            self._rejections[destination] = status

    def undeliverable(self, destination: str) -> None:
        """Accept submits to ``destination`` but receipt them stat:UNDELIV err:001."""
        with self._lock:
            self._undeliverable.add(destination)

    def throttle_after(self, n: int | None) -> None:
        """Answer ESME_RTHROTTLED to submits beyond ``n`` accepted per second; None lifts it."""
        with self._lock:
            self._throttle_limit = n
            self._throttle_window_start = time.monotonic()
            self._throttle_count = 0

    def drop_after(self, n: int) -> None:
        """Abort every connection when the n-th submit_sm from now arrives, leaving it unanswered."""
        self._require_front_door("drop_after")
        with self._lock:
            self._drop_countdown = n

    def drop_connections(self) -> None:
        """Abort every open connection (TCP reset, no unbind); waits until done."""
        self._require_front_door("drop_connections")
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._abort_all(), self._loop).result(timeout=10)

    def _require_front_door(self, what: str) -> None:
        if not self.front_door:
            raise RuntimeError(f"{what} needs FakeSmsc(front_door=True)")

    # Lifecycle

    def start(self) -> FakeSmsc:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-smsc", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._astart(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._astop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FakeSmsc:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Event loop thread

    async def _astart(self) -> None:
        # smpp34.Server takes a port, not a socket: find a free one, retry if it is taken
        # before the engine binds it.
        for attempt in range(5):
            self._engine_port = self.port if not self.front_door and self.port else _free_port()
            self._engine = smpp34.Server(
                host="127.0.0.1", port=self._engine_port, system_id="FAKESMSC", inbound_capacity=INBOUND_CAPACITY
            )
            try:
                await self._engine.start()
                break
            except smpp34.SmppError:
                if attempt == 4 or not self.front_door:
                    raise
        if not self.front_door:
            self.port = self._engine_port
            self._serve_task = asyncio.create_task(self._serve())
            return
        self._front = await asyncio.get_running_loop().create_server(
            lambda: _FrontDoor(self), self.host, self.port, backlog=256
        )
        self.port = self._front.sockets[0].getsockname()[1]
        self._serve_task = asyncio.create_task(self._serve())

    async def _astop(self) -> None:
        if self._front is not None:
            self._front.close()
        await self._abort_all()
        if self._serve_task is not None:
            self._serve_task.cancel()
        if self._engine is not None:
            await self._engine.stop()
        # Let smpp34's Rust tasks finish calling into Python before the loop closes: at
        # interpreter exit, a late callback can crash the process.
        await asyncio.sleep(0.05)

    async def _abort_all(self) -> None:
        for connection in list(self._connections):
            connection.abort()
        await asyncio.sleep(0)

    async def _serve(self) -> None:
        engine = self._engine
        assert engine is not None
        while True:
            event = await engine.next()
            if isinstance(event, smpp34.SubmitSmEvent):
                if self.response_delay > 0:
                    asyncio.get_running_loop().call_later(self.response_delay, self._answer, event)
                else:
                    self._answer(event)
            elif isinstance(event, smpp34.Esme):
                self._sessions[event.session_id] = event
                pending, self._pending_receipts = self._pending_receipts, []
                for submit, stat in pending:
                    self._send_receipt(event.session_id, submit, stat)
            elif isinstance(event, smpp34.Unbound):
                self._sessions.pop(event.session_id, None)

    def _answer(self, event: smpp34.SubmitSmEvent) -> None:
        destination = event.destination_addr
        with self._lock:
            if self._drop_countdown is not None:
                self._drop_countdown -= 1
                if self._drop_countdown <= 0:
                    self._drop_countdown = None
                    for connection in list(self._connections):
                        connection.abort()
                    event.reject(ESME_RSYSERR)  # goes nowhere: the connection is gone
                    return
            status = self._rejections.get(destination)
            if status is None and self._throttle_limit is not None:
                now = time.monotonic()
                if now - self._throttle_window_start >= 1.0:
                    self._throttle_window_start, self._throttle_count = now, 0
                if self._throttle_count >= self._throttle_limit:
                    status = ESME_RTHROTTLED
                else:
                    self._throttle_count += 1
            if status is not None:
                event.reject(status)
                return
            message_id = f"{next(self._ids):010x}"
            payload = event.short_message
            if not payload:
                payload = next((t.value for t in event.tlvs if t.tag == smpp34.TLV_MESSAGE_PAYLOAD), b"")
            submit = ReceivedSubmit(
                message_id=message_id,
                source=event.source_addr,
                source_ton=event.source_addr_ton,
                destination=destination,
                dest_ton=event.dest_addr_ton,
                data_coding=event.data_coding,
                esm_class=event.esm_class,
                payload=payload,
                registered_delivery=event.registered_delivery,
            )
            self._received.append(submit)
            stat = "UNDELIV" if destination in self._undeliverable else "DELIVRD"
        event.accept(message_id)
        # Bits 0-1 of registered_delivery: 1 = receipt on success or failure, 2 = on failure only.
        wanted = submit.registered_delivery & 0x03
        if wanted == 1 or (wanted == 2 and stat != "DELIVRD"):
            if self.receipt_delay > 0:
                asyncio.get_running_loop().call_later(
                    self.receipt_delay, self._send_receipt, event.session_id, submit, stat
                )
            else:
                self._send_receipt(event.session_id, submit, stat)

    def _send_receipt(self, session_id: str, submit: ReceivedSubmit, stat: str) -> None:
        # Callbacks rather than a task per receipt: the benchmark sends 100,000 of them.
        esme = self._sessions.get(session_id)
        if esme is None:
            esme = next((s for s in self._sessions.values() if s.can_receive), None)
        if esme is None:
            self._pending_receipts.append((submit, stat))
            return
        delivered = stat == "DELIVRD"
        stamp = time.strftime("%y%m%d%H%M")
        text = _receipt_text_excerpt(submit)
        short_message = (
            f"id:{submit.message_id} sub:001 dlvrd:{'001' if delivered else '000'} "
            f"submit date:{stamp} done date:{stamp} stat:{stat} err:{'000' if delivered else '001'} text:{text}"
        ).encode("ascii")
        state = MESSAGE_STATE_DELIVERED if delivered else MESSAGE_STATE_UNDELIVERABLE
        try:
            future = esme.deliver_sm(
                submit.source,
                short_message,
                source_addr=submit.destination,
                source_addr_ton=submit.dest_ton,
                source_addr_npi=1,
                dest_addr_ton=submit.source_ton,
                esm_class=0x04,
                tlvs=[
                    smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, submit.message_id.encode("ascii") + b"\x00"),
                    smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([state])),
                ],
            )
        except Exception:
            self._pending_receipts.append((submit, stat))
            return
        future.add_done_callback(lambda done: self._receipt_answered(done, submit, stat))

    def _receipt_answered(self, future: asyncio.Future, submit: ReceivedSubmit, stat: str) -> None:
        if future.cancelled() or future.exception() is not None:
            # The bind went away under us: hold the receipt for the next bind.
            self._pending_receipts.append((submit, stat))
        elif future.result().is_success:
            with self._lock:
                self._receipts.append(SentReceipt(submit.message_id, stat))

    def _check_bind(self, command_id: int, body: bytes) -> int:
        """command_status for a bind PDU body (system_id, password, ... as C-strings)."""
        fields = body.split(b"\x00", 2)
        if len(fields) < 3:
            return ESME_RINVSYSID
        system_id, password = fields[0].decode("latin-1"), fields[1].decode("latin-1")
        if system_id != self.system_id:
            return ESME_RINVSYSID
        if password != self.password:
            return ESME_RINVPASWD
        return 0


class _FrontDoor(asyncio.Protocol):
    """One ESME connection: checks the bind, then pipes to the engine, counting the window."""

    def __init__(self, smsc: FakeSmsc) -> None:
        self.smsc = smsc
        self.transport: asyncio.Transport | None = None
        self.upstream: _Upstream | None = None
        self.bound = False
        self.closed = False
        self.outstanding = 0
        self._inbound = bytearray()  # ESME -> SMSC bytes not yet scanned as whole PDUs
        self._early: list[bytes] = []  # ESME bytes that arrived before the engine connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.smsc._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.smsc._connections.discard(self)
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.abort()

    def data_received(self, data: bytes) -> None:
        buffer = self._inbound
        buffer += data
        offset, end = 0, len(buffer)
        smsc = self.smsc
        while end - offset >= 16:
            length, command_id, _status, sequence = HEADER.unpack_from(buffer, offset)
            if length < 16 or length > MAX_PDU_LENGTH:
                self.abort()
                return
            if end - offset < length:
                break
            if not self.bound:
                if command_id not in BIND_COMMANDS:
                    self._refuse(GENERIC_NACK, ESME_RINVCMDID, sequence)
                    return
                status = smsc._check_bind(command_id, bytes(buffer[offset + 16 : offset + length]))
                if status:
                    self._refuse(command_id | 0x80000000, status, sequence)
                    return
                self.bound = True
                smsc.binds += 1
                asyncio.get_running_loop().create_task(self._connect_upstream())
            elif command_id == SUBMIT_SM:
                self.outstanding += 1
                if self.outstanding > smsc.max_outstanding:
                    smsc.max_outstanding = self.outstanding
            elif command_id == ENQUIRE_LINK:
                smsc.enquire_links += 1
            offset += length
        if not self.bound:
            return  # wait for the rest of the bind PDU
        chunk = bytes(buffer[:offset])
        del buffer[:offset]
        if not chunk:
            return
        upstream = self.upstream
        if upstream is not None and upstream.transport is not None:
            upstream.transport.write(chunk)
        else:
            self._early.append(chunk)

    def _refuse(self, command_id: int, status: int, sequence: int) -> None:
        self.smsc.refused_binds += 1
        assert self.transport is not None
        # SMPP 3.4 leaves the body (our system_id) out of an error response; some clients
        # insist on it, so send it. (smpp34 1.5's client ignores the refusal either way and
        # reports "bind timed out" after its connect timeout.)
        body = b"FAKESMSC\x00" if command_id != GENERIC_NACK else b""
        self.transport.write(HEADER.pack(16 + len(body), command_id, status, sequence) + body)
        self.transport.close()

    async def _connect_upstream(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(lambda: _Upstream(self), "127.0.0.1", self.smsc._engine_port)
        except OSError:
            self.abort()
            return
        if self.closed:
            upstream.transport.close()
            return
        self.upstream = upstream
        for chunk in self._early:
            upstream.transport.write(chunk)
        self._early.clear()


class _Upstream(asyncio.Protocol):
    """Our connection to the smpp34 engine on behalf of one ESME."""

    def __init__(self, front: _FrontDoor) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.front.transport is not None:
            self.front.transport.close()

    def data_received(self, data: bytes) -> None:
        # Count submit_sm_resp (and generic_nack) to follow the window; forward as is.
        front = self.front
        buffer = self._buffer
        buffer += data
        offset, end = 0, len(buffer)
        while end - offset >= 8:
            length, command_id = struct.unpack_from(">II", buffer, offset)
            if end - offset < length or length < 16:
                break
            if command_id in (SUBMIT_SM_RESP, GENERIC_NACK) and front.outstanding > 0:
                front.outstanding -= 1
            offset += length
        if offset:
            del buffer[:offset]
        if front.transport is not None:
            front.transport.write(data)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _receipt_text_excerpt(submit: ReceivedSubmit) -> str:
    """The first 20 characters of the message, as receipts carry them (printable ASCII only)."""
    body = submit.payload
    if submit.esm_class & 0x40 and body:
        body = body[body[0] + 1 :]  # skip the UDH
    text = body.decode("utf-16-be", "replace") if submit.data_coding == 8 else body.decode("latin-1")
    return "".join(c if " " <= c <= "~" else "?" for c in text[:20])


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a fake SMSC on 127.0.0.1 until interrupted.")
    parser.add_argument("--port", type=int, default=2775)
    parser.add_argument("--system-id", default="softafrik")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--receipt-delay", type=float, default=0.0)
    parser.add_argument("--direct", action="store_true", help="no front door: faster, any credentials bind")
    args = parser.parse_args()
    smsc = FakeSmsc(
        system_id=args.system_id,
        password=args.password,
        port=args.port,
        receipt_delay=args.receipt_delay,
        front_door=not args.direct,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with smsc:
        print(f"fake SMSC on smpp://{smsc.system_id}:{smsc.password}@{smsc.host}:{smsc.port}", flush=True)
        try:
            while not stopping.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        print(f"received {smsc.received_count} submits", flush=True)


if __name__ == "__main__":
    main()
