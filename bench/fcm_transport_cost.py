"""Client CPU per FCM message of each transport, measured in one run against the fake FCM.

    python bench/fcm_transport_cost.py [--messages 5000] [--variants ...]

Each variant runs in a process of its own (its CPU read with getrusage around the timed
part, after a warm-up batch that opens the connections and fetches the OAuth token) and
sends ``--messages`` messages shaped as the platform's, in batches of 500:

* ``firebase-admin``: ``FcmProvider.send`` (firebase-admin's ``send_each``: requests and a
  thread per message), the transport before ``FCM_TRANSPORT=aiohttp``;
* ``aiohttp``: ``AiohttpFcmProvider.send``, the default transport;
* ``raw-aiohttp-h1``, ``raw-httpx-h1``, ``raw-httpx-h2``, ``raw-h2``: the bare clients, no
  provider around them, the same bodies with 100 requests in flight: aiohttp over
  HTTP/1.1 (100 keep-alive connections), httpx over HTTP/1.1 (100 connections), httpx
  over HTTP/2 (one connection, 100 concurrent streams, as the APNs adapter uses it) and
  the ``h2`` state machine driven directly on an asyncio protocol (one connection, 100
  streams: the least any HTTP/2 client on the installed libraries can spend).

The HTTP/1.1 variants talk to ``bench/fake_fcm_server.py`` (the fake FCM in a process of
its own; its CPU per request is reported too). The fake FCM speaks HTTP/1.1 only, so the
HTTP/2 variants talk to a minimal HTTP/2 (h2c, prior knowledge) server started by this
script on the ``h2`` library, answering every POST with FCM's success body. The httpx
variants send ``--httpx-messages`` (fewer: they cost the most, the figure is per message).
Prints one line per variant, ratios to ``firebase-admin``, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.harness import own_cpu_seconds

VARIANTS = ("firebase-admin", "aiohttp", "raw-aiohttp-h1", "raw-httpx-h1", "raw-httpx-h2", "raw-h2")
# httpx costs 1-7 ms a message here: fewer of them give the same figure in less time.
SLOW_VARIANTS = frozenset({"raw-httpx-h1", "raw-httpx-h2"})
BATCH = 500  # FCM_CHUNK: what the platform hands a provider at once
IN_FLIGHT = 100  # the providers' connection pool size
TOKEN_LENGTH = 163  # what FCM registration tokens measure today


def token_for(index: int) -> str:
    head = f"bench{index:09d}:APA91b"
    return head + "x" * (TOKEN_LENGTH - len(head))


# --- the HTTP/2 server for raw-httpx-h2 ---------------------------------------------------


def serve_h2c() -> None:
    """A minimal h2c server on 127.0.0.1: prints its port, answers FCM's 200 to every request."""
    import h2.config
    import h2.connection
    import h2.events

    body = b'{"name":"projects/bench-project/messages/1"}'
    headers = [(":status", "200"), ("content-type", "application/json; charset=UTF-8")]
    headers.append(("content-length", str(len(body))))

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:
            self.transport = transport
            config = h2.config.H2Configuration(client_side=False, header_encoding=None)
            self.conn = h2.connection.H2Connection(config=config)
            self.conn.local_settings.max_concurrent_streams = 1000
            self.conn.initiate_connection()
            # A connection window the bench never exhausts (acknowledged data tops it up).
            self.conn.increment_flow_control_window(2**30)
            transport.write(self.conn.data_to_send())

        def data_received(self, data: bytes) -> None:
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    self.conn.send_headers(event.stream_id, headers)
                    self.conn.send_data(event.stream_id, body, end_stream=True)
            self.transport.write(self.conn.data_to_send())

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Protocol, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes

    asyncio.run(main())


# --- one variant (a child process) --------------------------------------------------------


def run_variant(variant: str, url: str, h2_url: str, account: dict, messages: int) -> dict:
    from notifications.push.providers.base import Outcome, PushMessage, PushTarget
    from notifications.push.providers.fcm import FcmProvider, fcm_message_parts
    from notifications.push.providers.fcm_aiohttp import AiohttpFcmProvider, _BodyTemplate, encode_fcm_message

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    message = PushMessage(
        title="Flash sale",
        body="Everything half price until midnight",
        data={"campaign": "bench", "sa_message_id": "00000000-0000-4000-8000-000000000000"},
        ttl=4 * 7 * 86400,
        collapse_id="00000000-0000-4000-8000-000000000000",
    )
    batches = [range(start, min(start + BATCH, messages)) for start in range(0, messages, BATCH)]
    warm_up = range(messages, messages + BATCH)

    if variant in ("firebase-admin", "aiohttp"):
        provider_class = FcmProvider if variant == "firebase-admin" else AiohttpFcmProvider
        provider = provider_class(service_account=account, api_url=url, name="bench")
        counts: dict[str, int] = {}

        def send(batch: range) -> None:
            for result in provider.send(message, [PushTarget(index, token_for(index)) for index in batch]):
                counts[result.outcome] = counts.get(result.outcome, 0) + 1

        send(warm_up)
        counts.clear()
        started, cpu = time.perf_counter(), own_cpu_seconds()
        for batch in batches:
            send(batch)
        wall, cpu = time.perf_counter() - started, own_cpu_seconds() - cpu
        provider.close()
        return {
            "ok": counts.get(Outcome.SENT, 0),
            "failed": messages - counts.get(Outcome.SENT, 0),
            "wall": wall,
            "cpu": cpu,
        }

    # Raw clients: the provider's bodies and headers, built before the timing.
    helper = AiohttpFcmProvider(service_account=account, api_url=url, name="bench-token")
    helper._auth.ensure_access_token()
    headers = {"Content-Type": "application/json; charset=UTF-8", "X-GOOG-API-FORMAT-VERSION": "2"}
    helper._auth.credential.apply(headers)
    template = _BodyTemplate(encode_fcm_message(fcm_message_parts(message)))
    target_url = (
        f"{h2_url if variant in ('raw-httpx-h2', 'raw-h2') else url}/v1/projects/{account['project_id']}/messages:send"
    )
    bodies = {index: template.body(token_for(index)) for batch in [*batches, warm_up] for index in batch}

    async def main() -> dict:
        if variant == "raw-h2":
            post, close = await h2_client(target_url, bodies, headers)
        elif variant == "raw-aiohttp-h1":
            import aiohttp

            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT))

            async def post(index: int) -> bool:
                async with session.post(target_url, data=bodies[index], headers=headers) as response:
                    await response.read()
                    return response.status == 200

            close = session.close
        else:
            import httpx

            http2 = variant == "raw-httpx-h2"
            client = httpx.AsyncClient(
                http1=not http2,
                http2=http2,
                limits=httpx.Limits(max_connections=1 if http2 else IN_FLIGHT, max_keepalive_connections=IN_FLIGHT),
                timeout=30,
            )
            semaphore = asyncio.Semaphore(IN_FLIGHT)

            async def post(index: int) -> bool:
                async with semaphore:
                    response = await client.post(target_url, content=bodies[index], headers=headers)
                    return response.status_code == 200

            close = client.aclose

        await asyncio.gather(*(post(index) for index in warm_up))
        started, cpu = time.perf_counter(), own_cpu_seconds()
        ok = 0
        for batch in batches:
            ok += sum(await asyncio.gather(*(post(index) for index in batch)))
        wall, cpu = time.perf_counter() - started, own_cpu_seconds() - cpu
        await close()
        return {"ok": ok, "failed": messages - ok, "wall": wall, "cpu": cpu}

    result = asyncio.run(main())
    helper.close()
    return result


async def h2_client(target_url: str, bodies: dict[int, bytes], headers: dict[str, str]):
    """``post(index) -> bool`` over one h2c connection driven by ``h2`` directly, and ``close``."""
    import h2.config
    import h2.connection
    import h2.events
    from yarl import URL

    url = URL(target_url)
    loop = asyncio.get_running_loop()
    request_headers = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", f"{url.host}:{url.port}".encode()),
        (b":path", url.raw_path.encode()),
    ] + [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    semaphore = asyncio.Semaphore(IN_FLIGHT)

    class Client(asyncio.Protocol):
        def __init__(self) -> None:
            config = h2.config.H2Configuration(client_side=True, header_encoding=None)
            self.conn = h2.connection.H2Connection(config=config)
            self.waiters: dict[int, asyncio.Future] = {}
            self.statuses: dict[int, bytes] = {}

        def connection_made(self, transport: asyncio.Transport) -> None:
            self.transport = transport
            self.conn.initiate_connection()
            self.conn.increment_flow_control_window(2**24)
            transport.write(self.conn.data_to_send())

        def data_received(self, data: bytes) -> None:
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    self.statuses[event.stream_id] = dict(event.headers)[b":status"]
                elif isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    self.waiters.pop(event.stream_id).set_result(self.statuses.pop(event.stream_id, b""))
            self.transport.write(self.conn.data_to_send())

    _, client = await loop.create_connection(Client, url.host, url.port)

    async def post(index: int) -> bool:
        async with semaphore:
            stream_id = client.conn.get_next_available_stream_id()
            client.conn.send_headers(stream_id, request_headers)
            client.conn.send_data(stream_id, bodies[index], end_stream=True)
            client.transport.write(client.conn.data_to_send())
            client.waiters[stream_id] = waiter = loop.create_future()
            return await waiter == b"200"

    async def close() -> None:
        client.transport.close()

    return post, close


# --- the run --------------------------------------------------------------------------------


def fake_stats(fake: subprocess.Popen) -> dict:
    fake.stdin.write("stats\n")
    fake.stdin.flush()
    return json.loads(fake.stdout.readline())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--httpx-messages", type=int, default=1000)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--serve-h2c", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--h2-url", help=argparse.SUPPRESS)
    parser.add_argument("--account-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_h2c:
        serve_h2c()
        return
    if args.child:
        account = json.loads(args.account_file.read_text())
        print(json.dumps(run_variant(args.child, args.url, args.h2_url, account, args.messages)), flush=True)
        return

    from bench.push_parts import cpu_probe_ms

    root = Path(__file__).resolve().parent.parent
    script = str(Path(__file__).resolve())
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "softafrik.settings")}
    with tempfile.TemporaryDirectory() as run_dir:
        account_file = Path(run_dir) / "account.json"
        fake = subprocess.Popen(
            [sys.executable, "bench/fake_fcm_server.py", "--account-file", str(account_file)],
            cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        h2c = subprocess.Popen(
            [sys.executable, script, "--serve-h2c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            url = json.loads(fake.stdout.readline())["url"]
            h2_url = f"http://127.0.0.1:{h2c.stdout.readline().strip()}"
            results: dict[str, dict] = {"cpu_probe_ms_before": cpu_probe_ms()}
            for variant in args.variants:
                messages = args.httpx_messages if variant in SLOW_VARIANTS else args.messages
                before = fake_stats(fake)
                child = subprocess.run(
                    [sys.executable, script, "--child", variant, "--url", url, "--h2-url", h2_url,
                     "--account-file", str(account_file), "--messages", str(messages)],
                    cwd=root, env=env, capture_output=True, text=True,
                )  # fmt: skip
                if child.returncode:
                    raise SystemExit(f"{variant} failed:\n{child.stderr}")
                result = json.loads(child.stdout.strip().splitlines()[-1])
                after = fake_stats(fake)
                requests = after["send_requests"] - before["send_requests"]
                fake_cpu = after["cpu_seconds"] - before["cpu_seconds"]
                result.update(
                    messages=messages,
                    cpu_ms_per_message=round(result["cpu"] * 1000 / messages, 3),
                    messages_per_second=round(messages / result["wall"]),
                    fake_send_requests=requests,
                    # over warm-up and timed part alike; raw-httpx-h2 does not reach the fake
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
            for process in (fake, h2c):
                process.stdin.close()
                process.wait(timeout=10)
    base = results.get("firebase-admin")
    if base:
        for variant in args.variants:
            if variant != "firebase-admin":
                ratio = base["cpu_ms_per_message"] / results[variant]["cpu_ms_per_message"]
                results[variant]["cpu_ratio_to_firebase_admin"] = round(ratio, 2)
                print(f"firebase-admin / {variant}: {ratio:.2f}x the CPU per message")
    print(f"cpu probe: {results['cpu_probe_ms_before']} ms before, {results['cpu_probe_ms_after']} ms after")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
