"""The ceiling for push delivery: firebase-admin alone, no platform, against the fake FCM.

    python bench/fcm_ceiling.py --url URL --account-file F --messages 50000 --threads 1

One process of the ceiling run. It builds a firebase-admin app from the service account
exactly as ``notifications.push.providers.fcm.FcmProvider`` does (same timeout, same URL
override ``fcm_app_point_at``, same connection pool and retry policy, OAuth token fetched
once up front), prints ``ready``, waits for ``go`` on stdin, then ``--threads`` threads
each call ``messaging.send_each`` on batches of 500 messages shaped like the platform's
(notification, string data, android ttl/collapse key/tag, apns headers) until
``--messages`` are sent. Prints one JSON line with wall-clock start/end (time.time(), so
the caller can combine processes), counts and the process's CPU seconds.
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
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
