"""The ceilings for push delivery: a bare client alone, no platform, against the fake FCM.

    python bench/fcm_ceiling.py --url URL --account-file F --messages 50000 --threads 1 [--client aiohttp]

One process of a ceiling run. It prints ``ready`` once set up (OAuth token fetched up
front), waits for ``go`` on stdin, sends ``--messages`` messages shaped like the
platform's (notification, string data, android ttl/collapse key/tag, apns headers) in
batches of 500 (``FCM_CHUNK``), then prints one JSON line with wall-clock start/end
(time.time(), so the caller can combine processes), counts and the process's CPU seconds.

* ``--client firebase-admin`` (the transport before ``FCM_TRANSPORT=aiohttp``): a
  firebase-admin app built exactly as ``notifications.push.providers.fcm.FcmProvider``
  builds it (same timeout, URL override ``fcm_app_point_at``, connection pool and retry
  policy); ``--threads`` threads each call ``messaging.send_each`` on a batch at a time.
* ``--client aiohttp`` (the lean ceiling of ``FCM_TRANSPORT=aiohttp``): one
  ``aiohttp.ClientSession`` of ``POOL_SIZE`` keep-alive HTTP/1.1 connections, as the
  provider opens, posting the body the provider sends (firebase-admin's encoding, token
  spliced in) with nothing around it: no outcome mapping, no timeouts, no database.
  ``--threads`` batches are in flight at once on the one loop, every target of a batch
  concurrently: what ``--threads`` worker threads (or one prefork child per process)
  hand the provider.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import firebase_admin
import google.auth.transport.requests
from firebase_admin import credentials, messaging

from notifications.push.providers.fcm import DEFAULT_HTTP_TIMEOUT, FCM_CHUNK, SEND_RETRIES, fcm_app_point_at

TTL_SECONDS = 4 * 7 * 86400  # the platform's PUSH_TTL_SECONDS default
TOKEN_LENGTH = 163  # what FCM registration tokens measure today


def fake_fcm_token(prefix: str, index: int) -> str:
    """A unique token shaped like an FCM registration token (``<id>:APA91b...``)."""
    head = f"{prefix}{index:09d}:APA91b"
    return head + "x" * (TOKEN_LENGTH - len(head))


def message_template(*, title: str, body: str, data: dict[str, str], collapse_id: str) -> dict:
    """The ``messaging.Message`` arguments FcmProvider builds for the same push."""
    return {
        "notification": messaging.Notification(title=title, body=body),
        "data": data,
        "android": messaging.AndroidConfig(
            ttl=TTL_SECONDS, collapse_key=collapse_id, notification=messaging.AndroidNotification(tag=collapse_id)
        ),
        "apns": messaging.APNSConfig(
            headers={"apns-expiration": str(int(time.time()) + TTL_SECONDS), "apns-collapse-id": collapse_id}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--account-file", required=True, type=Path)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--token-prefix", default="ceil")
    parser.add_argument("--collapse-id", default="00000000-0000-4000-8000-000000000000")
    parser.add_argument("--client", default="firebase-admin", choices=["firebase-admin", "aiohttp"])
    args = parser.parse_args()
    if args.client == "aiohttp":
        lean_ceiling(args)
        return

    certificate = credentials.Certificate(json.loads(args.account_file.read_text()))
    app = firebase_admin.initialize_app(certificate, options={"httpTimeout": DEFAULT_HTTP_TIMEOUT}, name="ceiling")
    fcm_app_point_at(app, base_url=args.url, retries=SEND_RETRIES)
    credential = certificate.get_credential()
    if hasattr(credential, "_is_regional_access_boundary_lookup_required"):
        credential._is_regional_access_boundary_lookup_required = lambda: False  # as FcmProvider: no Google calls
    credential.refresh(google.auth.transport.requests.Request())

    template = message_template(
        title="Flash sale",
        body="Everything half price until midnight",
        data={"campaign": "bench", "sa_message_id": args.collapse_id},
        collapse_id=args.collapse_id,
    )
    batches = [range(start, min(start + FCM_CHUNK, args.messages)) for start in range(0, args.messages, FCM_CHUNK)]
    lock = threading.Lock()
    next_batch = iter(batches)
    ok = failed = 0
    errors: dict[str, int] = {}

    def sender() -> None:
        nonlocal ok, failed
        while True:
            with lock:
                batch = next(next_batch, None)
            if batch is None:
                return
            fcm_messages = []
            for index in batch:
                fcm_message = messaging.Message(**template)
                fcm_message.token = fake_fcm_token(args.token_prefix, index)  # set as FcmProvider does
                fcm_messages.append(fcm_message)
            response = messaging.send_each(fcm_messages, app=app)
            with lock:
                ok += response.success_count
                failed += response.failure_count
                for item in response.responses:
                    if item.exception is not None:
                        name = type(item.exception).__name__
                        errors[name] = errors.get(name, 0) + 1

    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.time()
    threads = [threading.Thread(target=sender) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = time.time()
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    print(
        json.dumps(
            {"started": started, "finished": finished, "ok": ok, "failed": failed, "errors": errors, "cpu": cpu}
        ),
        flush=True,
    )
    sys.stdin.read()  # stay alive until the caller has read its CPU meters
    firebase_admin.delete_app(app)


def lean_ceiling(args: argparse.Namespace) -> None:
    """``--client aiohttp``: the provider's bodies and headers, posted by bare aiohttp."""
    import asyncio

    import aiohttp

    from notifications.push.providers.base import PushMessage
    from notifications.push.providers.fcm import POOL_SIZE, fcm_message_parts
    from notifications.push.providers.fcm_aiohttp import (
        _FCM_HEADERS,
        AiohttpFcmProvider,
        _BodyTemplate,
        encode_fcm_message,
    )

    account = json.loads(args.account_file.read_text())
    helper = AiohttpFcmProvider(service_account=account, api_url=args.url, name="ceiling-token")
    helper._auth.ensure_access_token()  # the OAuth exchange, as the provider does before its first send
    headers = dict(_FCM_HEADERS)
    helper._auth.credential.apply(headers)
    message = PushMessage(
        title="Flash sale",
        body="Everything half price until midnight",
        data={"campaign": "bench", "sa_message_id": args.collapse_id},
        ttl=TTL_SECONDS,
        collapse_id=args.collapse_id,
    )
    template = _BodyTemplate(encode_fcm_message(fcm_message_parts(message)))
    url = f"{args.url.rstrip('/')}/v1/projects/{account['project_id']}/messages:send"
    batches = [range(start, min(start + FCM_CHUNK, args.messages)) for start in range(0, args.messages, FCM_CHUNK)]
    ok = failed = 0
    errors: dict[str, int] = {}

    async def run() -> tuple[float, float, float]:
        nonlocal ok, failed
        connector = aiohttp.TCPConnector(limit=POOL_SIZE, limit_per_host=0, keepalive_timeout=30)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def post(index: int) -> int:
                body = template.body(fake_fcm_token(args.token_prefix, index))  # per target, as the provider
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        return response.status
                except aiohttp.ClientError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    return 0

            pending = iter(batches)

            async def lane() -> None:
                nonlocal ok, failed
                for batch in pending:
                    statuses = await asyncio.gather(*(post(index) for index in batch))
                    sent = sum(1 for status in statuses if status == 200)
                    ok += sent
                    failed += len(statuses) - sent

            print("ready", flush=True)
            if sys.stdin.readline().strip() != "go":
                return 0.0, 0.0, 0.0
            usage_before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.time()
            await asyncio.gather(*(lane() for _ in range(args.threads)))
            finished = time.time()
            usage_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
        return started, finished, cpu

    started, finished, cpu = asyncio.run(run())
    if not started:
        return
    print(
        json.dumps(
            {"started": started, "finished": finished, "ok": ok, "failed": failed, "errors": errors, "cpu": cpu}
        ),
        flush=True,
    )
    sys.stdin.read()  # stay alive until the caller has read its CPU meters
    helper.close()


if __name__ == "__main__":
    main()
