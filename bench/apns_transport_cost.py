"""Client CPU per APNs notification of each transport, measured in one run against the fake APNs.

    python bench/apns_transport_cost.py [--messages 20000] [--httpx-messages 5000] [--variants ...]

The fake APNs (``fakes.apns.FakeApnsServer``: TLS, ALPN h2, ES256 provider tokens
verified, every request's headers and JSON body checked) runs in a process of its own,
so its CPU is not the client's; its CPU per request is reported for every variant.
Each variant runs in a process of its own, sends one batch of ``BATCH`` as a warm-up
(TLS handshake, provider token, HPACK tables), then ``--messages`` notifications shaped
as the platform's in batches of ``BATCH``, its CPU read with getrusage around the timed
part (every thread of the process, the event loop's included):

* ``httpx-provider``: ``HttpxApnsProvider.send``, the adapter's transport before
  ``apns_h2``: httpx.AsyncClient, one HTTP/2 connection, 100 streams in flight;
* ``h2-provider``: ``ApnsProvider.send``, the adapter on ``apns_h2`` (the ``h2`` state
  machine on an asyncio protocol, one connection, up to ``MAX_IN_FLIGHT`` streams);
* ``raw-h2``: the same bodies and headers through a bare client on ``h2`` and asyncio
  with h2's defaults (headers validated per request, Huffman coding, every header
  indexed, so each new ``:path`` evicts the provider token from the HPACK table), no
  provider, no timeouts, no outcome mapping (500 streams in flight): what a plain h2
  client costs, against which ``apns_h2``'s choices show;
* ``aioapns``: aioapns' ``APNs.send_notification`` (token auth, one connection), if
  aioapns is importable (it is not a dependency: ``pip install --target DIR aioapns
  pyOpenSSL`` and put DIR on PYTHONPATH to measure it).

Prints one line per variant, ratios to ``httpx-provider``, the CPU probe before and
after, then one JSON line. Compare figures within one run: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.harness import cpu_probe_ms, own_cpu_seconds

VARIANTS = ("httpx-provider", "h2-provider", "raw-h2", "aioapns")
SLOW_VARIANTS = frozenset({"httpx-provider"})  # ~1.5 ms a message: fewer give the same figure
BATCH = 500  # FANOUT_CHUNK: what the platform hands a provider at once
RAW_IN_FLIGHT = 500
KEY_ID = "BENCHKEY01"
TEAM_ID = "BENCHTEAM1"
TOPIC = "com.softafrik.bench"


def token_for(index: int) -> str:
    return f"{index:064x}"


# --- the fake APNs in its own process -----------------------------------------------------


def serve_fake(key_file: Path) -> None:
    """FakeApnsServer with a fresh key: prints {url, ca_file}; answers ``stats`` on stdin."""
    from fakes.apns import FakeApnsServer, make_apns_key

    pem, public_key = make_apns_key()
    key_file.write_text(pem)
    key_file.chmod(0o600)
    with FakeApnsServer() as server:
        server.add_key(KEY_ID, TEAM_ID, public_key)
        print(json.dumps({"url": server.url, "ca_file": server.ca_file}), flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                # ``received`` holds accepted notifications; the bench's are all valid.
                accepted = len(server.received)
                server.received.clear()
                print(json.dumps({"accepted": accepted, "cpu_seconds": own_cpu_seconds()}), flush=True)


# --- one variant (a child process) --------------------------------------------------------


def run_variant(variant: str, url: str, ca_file: str, key_pem: str, messages: int) -> dict:
    from notifications.push.providers.base import Outcome, PushMessage, PushTarget

    message = PushMessage(
        title="Flash sale",
        body="Everything half price until midnight",
        data={"campaign": "bench", "sa_message_id": "00000000-0000-4000-8000-000000000000"},
        ttl=4 * 7 * 86400,
        collapse_id="00000000-0000-4000-8000-000000000000",
    )
    batches = [range(start, min(start + BATCH, messages)) for start in range(0, messages, BATCH)]
    warm_up = range(messages, messages + BATCH)

    if variant in ("httpx-provider", "h2-provider"):
        if variant == "httpx-provider":
            from notifications.push.providers.apns_httpx import HttpxApnsProvider as provider_class
        else:
            from notifications.push.providers.apns import ApnsProvider as provider_class
        provider = provider_class(
            key_pem=key_pem, key_id=KEY_ID, team_id=TEAM_ID, topic=TOPIC, sandbox=True, url=url, ca_file=ca_file
        )
        ok = 0

        def send(batch: range) -> int:
            results = provider.send(message, [PushTarget(index, token_for(index)) for index in batch])
            return sum(1 for result in results if result.outcome is Outcome.SENT)

        send(warm_up)
        started, cpu = time.perf_counter(), own_cpu_seconds()
        for batch in batches:
            ok += send(batch)
        wall, cpu = time.perf_counter() - started, own_cpu_seconds() - cpu
        provider.close()
        return {"ok": ok, "failed": messages - ok, "wall": wall, "cpu": cpu}

    # The provider's body and headers, built once as the provider builds them per batch.
    from notifications.push.providers.apns import ApnsProvider

    helper = ApnsProvider(key_pem=key_pem, key_id=KEY_ID, team_id=TEAM_ID, topic=TOPIC, sandbox=True, url=url)
    body = helper._payload(message)
    headers = helper._headers(message)
    bearer = helper._bearer()

    async def main() -> dict:
        if variant == "raw-h2":
            post, close = await raw_h2_client(url, ca_file, body, headers, bearer)
        else:
            post, close = aioapns_client(url, ca_file, message, key_pem)
        await asyncio.gather(*(post(index) for index in warm_up))
        started, cpu = time.perf_counter(), own_cpu_seconds()
        ok = 0
        for batch in batches:
            ok += sum(await asyncio.gather(*(post(index) for index in batch)))
        wall, cpu = time.perf_counter() - started, own_cpu_seconds() - cpu
        await close()
        return {"ok": ok, "failed": messages - ok, "wall": wall, "cpu": cpu}

    return asyncio.run(main())


async def raw_h2_client(url: str, ca_file: str, body: bytes, headers: dict[str, str], bearer: str):
    """``post(index) -> bool`` over one TLS connection driven by ``h2`` directly, and ``close``."""
    import h2.config
    import h2.connection
    import h2.events

    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    context = ssl.create_default_context(cafile=ca_file)
    context.set_alpn_protocols(["h2"])
    static = [
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":authority", parts.netloc.encode()),
    ]
    tail = [(name.encode(), value.encode()) for name, value in headers.items()]
    tail.append((b"authorization", f"bearer {bearer}".encode()))
    semaphore = asyncio.Semaphore(RAW_IN_FLIGHT)

    class Client(asyncio.Protocol):
        def __init__(self) -> None:
            config = h2.config.H2Configuration(client_side=True, header_encoding=None)
            self.conn = h2.connection.H2Connection(config=config)
            self.waiters: dict[int, asyncio.Future] = {}
            self.statuses: dict[int, bytes] = {}
            self.blocked: list[tuple[int, bytes]] = []  # waiting for flow-control window
            self.flush_pending = False

        def connection_made(self, transport: asyncio.Transport) -> None:
            self.transport = transport
            self.conn.initiate_connection()
            transport.write(self.conn.data_to_send())

        def data_received(self, data: bytes) -> None:
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    self.statuses[event.stream_id] = dict(event.headers)[b":status"]
                elif isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    self.waiters.pop(event.stream_id).set_result(self.statuses.pop(event.stream_id, b""))
                elif isinstance(event, h2.events.WindowUpdated):
                    self.unblock()
            self.flush()

        def send(self, stream_id: int, data: bytes) -> None:
            if self.blocked or self.conn.local_flow_control_window(stream_id) < len(data):
                self.blocked.append((stream_id, data))
            else:
                self.conn.send_data(stream_id, data, end_stream=True)

        def unblock(self) -> None:
            while self.blocked and self.conn.local_flow_control_window(self.blocked[0][0]) >= len(self.blocked[0][1]):
                stream_id, data = self.blocked.pop(0)
                self.conn.send_data(stream_id, data, end_stream=True)

        def schedule_flush(self) -> None:
            if not self.flush_pending:
                self.flush_pending = True
                loop.call_soon(self.flush)

        def flush(self) -> None:
            self.flush_pending = False
            data = self.conn.data_to_send()
            if data:
                self.transport.write(data)

    _, client = await loop.create_connection(
        Client, parts.hostname, parts.port, ssl=context, server_hostname=parts.hostname
    )

    async def post(index: int) -> bool:
        async with semaphore:
            stream_id = client.conn.get_next_available_stream_id()
            client.conn.send_headers(stream_id, [*static, (b":path", f"/3/device/{token_for(index)}".encode()), *tail])
            client.send(stream_id, body)
            client.schedule_flush()
            client.waiters[stream_id] = waiter = loop.create_future()
            return await waiter == b"200"

    async def close() -> None:
        client.transport.close()

    return post, close


def aioapns_client(url: str, ca_file: str, message, key_pem: str):
    """``post(index) -> bool`` through aioapns (one connection, token auth), and ``close``."""
    from aioapns import APNs, NotificationRequest, PushType
    from aioapns.connection import APNsDevelopmentClientProtocol

    parts = urlsplit(url)
    # aioapns connects to Apple's hosts only: point its sandbox protocol at the fake.
    APNsDevelopmentClientProtocol.APNS_SERVER = parts.hostname
    APNsDevelopmentClientProtocol.APNS_PORT = parts.port
    context = ssl.create_default_context(cafile=ca_file)
    context.set_alpn_protocols(["h2"])
    document = {
        **message.data,
        "aps": {"alert": {"title": message.title, "body": message.body}, "sound": "default", "mutable-content": 1},
    }
    client = APNs(
        key=key_pem,
        key_id=KEY_ID,
        team_id=TEAM_ID,
        topic=TOPIC,
        use_sandbox=True,
        max_connections=1,
        ssl_context=context,
    )

    async def post(index: int) -> bool:
        request = NotificationRequest(
            device_token=token_for(index),
            message=document,
            time_to_live=message.ttl,
            priority=10,
            collapse_key=message.collapse_id,
            push_type=PushType.ALERT,
        )
        result = await client.send_notification(request)
        return result.is_successful

    async def close() -> None:
        client.pool.close()

    return post, close


# --- the run --------------------------------------------------------------------------------


def fake_stats(fake: subprocess.Popen) -> dict:
    fake.stdin.write("stats\n")
    fake.stdin.flush()
    return json.loads(fake.stdout.readline())


def aioapns_available() -> bool:
    try:
        import aioapns  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--httpx-messages", type=int, default=5000)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ca-file", help=argparse.SUPPRESS)
    parser.add_argument("--key-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.key_file)
        return
    if args.child:
        result = run_variant(args.child, args.url, args.ca_file, args.key_file.read_text(), args.messages)
        print(json.dumps(result), flush=True)
        return

    root = Path(__file__).resolve().parent.parent
    script = str(Path(__file__).resolve())
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "softafrik.settings")}
    variants = [v for v in args.variants if v != "aioapns" or aioapns_available()]
    if "aioapns" in args.variants and "aioapns" not in variants:
        print("aioapns           skipped: not importable (see the docstring)", flush=True)
    with tempfile.TemporaryDirectory() as run_dir:
        key_file = Path(run_dir) / "key.p8"
        fake = subprocess.Popen(
            [sys.executable, script, "--serve-fake", "--key-file", str(key_file)],
            cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            started = json.loads(fake.stdout.readline())
            results: dict[str, dict] = {"cpu_probe_ms_before": cpu_probe_ms()}
            for variant in variants:
                messages = args.httpx_messages if variant in SLOW_VARIANTS else args.messages
                before = fake_stats(fake)
                child = subprocess.run(
                    [sys.executable, script, "--child", variant, "--url", started["url"],
                     "--ca-file", started["ca_file"], "--key-file", str(key_file), "--messages", str(messages)],
                    cwd=root, env=env, capture_output=True, text=True,
                )  # fmt: skip
                if child.returncode:
                    raise SystemExit(f"{variant} failed:\n{child.stderr}")
                result = json.loads(child.stdout.strip().splitlines()[-1])
                after = fake_stats(fake)
                requests = after["accepted"]  # warm-up included: the fake's cost is per request
                fake_cpu = after["cpu_seconds"] - before["cpu_seconds"]
                result.update(
                    messages=messages,
                    cpu_ms_per_message=round(result["cpu"] * 1000 / messages, 3),
                    messages_per_second=round(messages / result["wall"]),
                    fake_requests=requests,
                    fake_cpu_ms_per_request=round(fake_cpu * 1000 / requests, 3) if requests else None,
                )
                results[variant] = result
                print(
                    f"{variant:15} {result['cpu_ms_per_message']:7.3f} ms CPU/message ({messages})  "
                    f"{result['messages_per_second']:6d} messages/s  ok {result['ok']}  failed {result['failed']}  "
                    f"fake {result['fake_cpu_ms_per_request'] or '-'} ms CPU/request",
                    flush=True,
                )
            results["cpu_probe_ms_after"] = cpu_probe_ms()
        finally:
            fake.stdin.close()
            fake.wait(timeout=10)
    base = results.get("httpx-provider")
    if base:
        for variant in variants:
            if variant != "httpx-provider":
                ratio = base["cpu_ms_per_message"] / results[variant]["cpu_ms_per_message"]
                results[variant]["cpu_ratio_to_httpx_provider"] = round(ratio, 2)
                print(f"httpx-provider / {variant}: {ratio:.2f}x the CPU per message")
    print(f"cpu probe: {results['cpu_probe_ms_before']} ms before, {results['cpu_probe_ms_after']} ms after")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
