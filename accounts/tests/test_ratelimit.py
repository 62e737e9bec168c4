"""Per-key rate limits: the sliding windows never let more through than the limit, a call
over it is a 429 with Retry-After in the dialect's body and does nothing (no message, no
charge), and the count holds across processes: a real gunicorn with several workers, and
several OS processes asking Redis at once."""

from __future__ import annotations

import contextlib
import http.client
import logging
import multiprocessing
import random
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import ratelimit
from accounts.models import ApiKey, IdempotentRequest, User
from accounts.ratelimit import Limits, LocalLimiter, RedisLimiter, key_limits, rate_limits_clear
from accounts.selectors import api_key_authenticate, api_key_cache_clear
from accounts.services import api_key_create, api_key_regenerate
from accounts.tests.bursts import http_burst, limiter_burst
from billing.models import BillingAccount, LedgerEntry
from devices.models import EndUser
from sms.models import SenderName, SenderStatus, SmsMessage
from softafrik.testing.processes import ROOT, process_env, wait_for

pytestmark = pytest.mark.django_db

TG = "+22890123456"
NEEDS_REDIS = pytest.mark.skipif(
    not django_settings.REDIS_URL,
    reason="needs REDIS_URL: without Redis the limits are counted in each process (make run's single "
    "web process), so several processes cannot share one count",
)


@pytest.fixture(autouse=True)
def _fresh_counts():
    rate_limits_clear()
    yield
    rate_limits_clear()


def over_limit(limit: int, window: str, retry_after: int) -> str:
    plural = "" if limit == 1 else "s"
    return (
        f"Rate limit exceeded: this API key may make {limit} request{plural} a {window}; retry after {retry_after} s."
    )


# --- The sliding windows, on a clock the test moves ----------------------------------------


class Clock:
    def __init__(self) -> None:
        self.us = 10**12

    def monotonic_ns(self) -> int:
        return self.us * 1000

    def at(self, seconds: float) -> None:
        self.us = 10**12 + round(seconds * 1_000_000)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(ratelimit.time, "monotonic_ns", clock.monotonic_ns)
    return clock


def test_a_second_window_refuses_the_request_over_the_limit_until_the_oldest_leaves(clock):
    limiter, limits = LocalLimiter(), Limits(per_second=3, per_minute=0)
    answers = []
    for at in (0.0, 0.1, 0.2, 0.5, 0.99, 1.0, 1.05, 1.1):
        clock.at(at)
        answers.append(limiter.admit("k", limits))

    assert [a is None for a in answers] == [True, True, True, False, False, True, False, True]
    # At 0.5 s the request of 0.0 leaves the window at 1.0 s: half a second, rounded up.
    assert (answers[3].retry_after, answers[3].limit, answers[3].window) == (1, 3, "second")


def test_a_minute_window_says_when_its_oldest_request_leaves(clock):
    limiter, limits = LocalLimiter(), Limits(per_second=0, per_minute=2)
    clock.at(0)
    limiter.admit("k", limits)
    clock.at(20)
    limiter.admit("k", limits)

    clock.at(35.5)
    refused = limiter.admit("k", limits)
    clock.at(60.001)
    admitted = limiter.admit("k", limits)

    assert (refused.retry_after, refused.limit, refused.window) == (25, 2, "minute")
    assert admitted is None


def test_the_longer_wait_of_both_windows_is_the_retry_after(clock):
    limiter, limits = LocalLimiter(), Limits(per_second=1, per_minute=2)
    clock.at(0)
    limiter.admit("k", limits)
    clock.at(2)
    limiter.admit("k", limits)

    clock.at(2.5)
    refused = limiter.admit("k", limits)

    assert (refused.retry_after, refused.window) == (58, "minute")


def test_refused_requests_are_not_counted(clock):
    limiter, limits = LocalLimiter(), Limits(per_second=1, per_minute=0)
    clock.at(0)
    limiter.admit("k", limits)
    for step in range(1, 10):
        clock.at(step / 10)
        assert limiter.admit("k", limits) is not None

    clock.at(1.0)
    assert limiter.admit("k", limits) is None


def test_no_window_ever_holds_more_than_its_limit_under_random_arrivals(clock):
    limiter, limits = LocalLimiter(), Limits(per_second=5, per_minute=40)
    rng = random.Random(12)
    admitted, at = [], 0.0
    for _ in range(3000):
        at += rng.expovariate(20)  # 20 a second on average, in bursts: well over both limits
        clock.at(at)
        if limiter.admit("k", limits) is None:
            admitted.append(clock.us)

    for index, start in enumerate(admitted):
        in_second = sum(1 for t in admitted[index : index + 6] if t < start + 1_000_000)
        in_minute = sum(1 for t in admitted[index : index + 41] if t < start + 60_000_000)
        assert in_second <= 5 and in_minute <= 40
    assert len(admitted) >= 40 * int(at // 60)  # and it does let the limit through


def test_keys_are_counted_apart(clock):
    limiter, limits = LocalLimiter(), Limits(per_second=1, per_minute=0)

    assert limiter.admit("a", limits) is None
    assert limiter.admit("b", limits) is None
    assert limiter.admit("a", limits) is not None


# --- Which limits a key has -------------------------------------------------------------


def test_a_key_has_the_platform_limits_unless_it_has_its_own(settings, owner):
    settings.API_RATE_PER_SECOND, settings.API_RATE_PER_MINUTE = 7, 70
    key = ApiKey.objects.get(tenant=owner.tenant)

    assert key_limits(key) == Limits(per_second=7, per_minute=70)
    key.rate_per_second = 0
    assert key_limits(key) == Limits(per_second=0, per_minute=70)
    key.rate_per_minute = 5
    assert key_limits(key) == Limits(per_second=0, per_minute=5)


def test_platform_limits_set_to_zero_turn_limits_off(settings, owner):
    settings.API_RATE_PER_SECOND, settings.API_RATE_PER_MINUTE = 0, 0

    statuses = {owner.get("/api/account").status_code for _ in range(30)}

    assert statuses == {200}


def test_the_platform_default_limits_a_key_without_its_own(settings, owner):
    settings.API_RATE_PER_SECOND, settings.API_RATE_PER_MINUTE = 0, 2

    statuses = [owner.get("/api/account").status_code for _ in range(4)]

    assert statuses == [200, 200, 429, 429]


def test_a_keys_own_limit_overrides_the_platform_default(settings, owner):
    settings.API_RATE_PER_SECOND, settings.API_RATE_PER_MINUTE = 0, 1
    own = api_key_create(tenant=owner.tenant, name="batch", rate_per_second=0, rate_per_minute=3).plaintext
    client = APIClient()

    statuses = [client.get("/api/account", headers={"X-API-KEY": own}).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_a_regenerated_key_keeps_its_limits(owner):
    old = api_key_create(tenant=owner.tenant, name="batch", rate_per_second=4, rate_per_minute=9).api_key

    new = api_key_regenerate(api_key=old).api_key

    assert (new.rate_per_second, new.rate_per_minute) == (4, 9)


# --- The 429, in each dialect, and nothing done --------------------------------------------


@pytest.fixture
def one_a_minute(owner) -> str:
    """A key of the owner's that may make one request a minute (a minute: the second call
    of a test is refused however slow the machine)."""
    SenderName.objects.create(tenant=owner.tenant, name="SoftAfrik", status=SenderStatus.APPROVED, is_default=True)
    return api_key_create(tenant=owner.tenant, name="slow", rate_per_second=0, rate_per_minute=1).plaintext


def assert_429(response, body_of) -> None:
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert response.json() == body_of(over_limit(1, "minute", retry_after))


def core_body(message: str) -> dict:
    return {"error": "rate_limited", "message": message}


def test_softafrik_api_429(one_a_minute):
    client = APIClient()
    first = client.get("/api/account", headers={"X-API-KEY": one_a_minute})

    second = client.post(
        "/api/users/register", {"external_user_ref": "cust-1"}, format="json", headers={"X-API-KEY": one_a_minute}
    )

    assert first.status_code == 200
    assert_429(second, core_body)
    assert EndUser.objects.count() == 0


def test_ion_429(one_a_minute):
    client = APIClient()
    body = {"emetteur": "SoftAfrik", "destinataire": TG, "corps": "x"}
    first = client.post("/api/V1/sms/unides", body, format="json", headers={"X-API-KEY": one_a_minute})

    second = client.post("/api/V1/sms/unides", body, format="json", headers={"X-API-KEY": one_a_minute})

    assert first.status_code == 201
    assert_429(second, core_body)
    assert SmsMessage.objects.count() == 1


def test_primotexto_429_in_both_forms(one_a_minute):
    client = APIClient()
    first = client.post(
        "/v2/notification/messages/send",
        {"number": TG, "message": "x"},
        format="json",
        headers={"X-Primotexto-ApiKey": one_a_minute},
    )

    posted = client.post(
        "/v2/notification/messages/send",
        {"number": TG, "message": "x"},
        format="json",
        headers={"X-Primotexto-ApiKey": one_a_minute},
    )
    by_query = client.get("/v2/notification/messages/send", {"identifier": TG, "message": "x", "apiKey": one_a_minute})

    assert first.status_code == 200
    assert_429(posted, core_body)  # Primotexto documents no code for it: none is made up
    assert_429(by_query, core_body)
    assert SmsMessage.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/SMS/v1/messages", {"text": "x", "destinations": ["22890123456"]}),
        ("/push/v1/messages", {"appCode": "X", "pushContent": {"text": "x"}}),
        ("/omni/v1/messages", {"channel": "sms", "destinations": [{"phone": TG}]}),
    ],
)
def test_delevera_429(one_a_minute, path, body):
    client = APIClient()
    bearer = {"Authorization": f"Bearer {one_a_minute}"}
    first = client.get("/push/v1/applications", headers=bearer)

    second = client.post(path, body, format="json", headers=bearer)

    assert first.status_code == 200
    assert_429(second, lambda message: {"code": 429, "message": message})
    assert SmsMessage.objects.count() == 0


def test_nothing_is_charged_or_written_on_a_429(owner, one_a_minute):
    client = APIClient()
    body = {"emetteur": "SoftAfrik", "numeros": [TG, "+22890123457"], "corps": "x"}
    sent = client.post("/api/V1/sms/muldes", body, format="json", headers={"X-API-KEY": one_a_minute})
    account = BillingAccount.objects.get(tenant=owner.tenant)
    books = (account.balance, account.reserved, account.spent)
    entries = LedgerEntry.objects.filter(account=account).count()

    refused = [
        client.post(
            "/api/V1/sms/muldes", body, format="json", headers={"X-API-KEY": one_a_minute, "Idempotency-Key": f"k{i}"}
        )
        for i in range(3)
    ]

    account.refresh_from_db()
    assert sent.status_code == 201 and entries > 0  # the admitted send was reserved
    assert [r.status_code for r in refused] == [429] * 3
    assert (account.balance, account.reserved, account.spent) == books
    assert LedgerEntry.objects.filter(account=account).count() == entries
    assert SmsMessage.objects.count() == 1
    assert not IdempotentRequest.objects.filter(tenant=owner.tenant).exists()  # no Idempotency-Key claimed


def test_a_bad_key_is_401_not_counted_against_anyone(owner, one_a_minute):
    client = APIClient()

    bad = [client.get("/api/account", headers={"X-API-KEY": one_a_minute[:-3] + "zzz"}) for _ in range(3)]
    good = client.get("/api/account", headers={"X-API-KEY": one_a_minute})

    assert [r.status_code for r in bad] == [401] * 3
    assert good.status_code == 200


def test_a_scope_refusal_counts_as_a_request(owner):
    """Every call with a valid key counts, refused or not: flooding 403s is flooding too."""
    key = api_key_create(tenant=owner.tenant, name="r", scopes=["account:read"], rate_per_second=0, rate_per_minute=2)
    client = APIClient()

    statuses = [
        client.post("/api/users/register", {}, format="json", headers={"X-API-KEY": key.plaintext}).status_code,
        client.get("/api/account", headers={"X-API-KEY": key.plaintext}).status_code,
        client.get("/api/account", headers={"X-API-KEY": key.plaintext}).status_code,
    ]

    assert statuses == [403, 200, 429]


# --- Redis: shared by every process; unreachable: fail open to the in-process count --------


@NEEDS_REDIS
def test_redis_limiter_admits_the_limit_and_refuses_the_rest():
    limiter = RedisLimiter(django_settings.REDIS_URL, fallback=LocalLimiter())
    name = f"test-{time.monotonic_ns()}"

    started = time.monotonic()
    answers = [limiter.admit(name, Limits(per_second=3, per_minute=5)) for _ in range(8)]
    elapsed = time.monotonic() - started

    admitted = sum(answer is None for answer in answers)
    assert admitted <= 3 if elapsed < 1 else admitted <= 5
    if elapsed < 1:
        assert admitted == 3
        assert {(a.retry_after, a.limit, a.window) for a in answers if a is not None} == {(1, 3, "second")}


@NEEDS_REDIS
def test_redis_limiter_says_when_the_minute_window_frees():
    limiter = RedisLimiter(django_settings.REDIS_URL, fallback=LocalLimiter())
    name = f"test-{time.monotonic_ns()}"
    limits = Limits(per_second=0, per_minute=2)

    answers = [limiter.admit(name, limits) for _ in range(3)]

    assert answers[:2] == [None, None]
    assert (answers[2].limit, answers[2].window) == (2, "minute")
    assert 59 <= answers[2].retry_after <= 60


def test_unreachable_redis_fails_open_to_the_in_process_count_with_a_warning(caplog):
    with socket.socket() as probe:  # a port nobody listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    limiter = RedisLimiter(f"redis://127.0.0.1:{port}/0", fallback=LocalLimiter())
    limits = Limits(per_second=0, per_minute=2)

    with caplog.at_level(logging.WARNING, logger="accounts.ratelimit"):
        answers = [limiter.admit("k", limits) for _ in range(3)]

    assert [a is None for a in answers] == [True, True, False]  # still limited, in this process
    warnings = [r.getMessage() for r in caplog.records if r.name == "accounts.ratelimit"]
    assert len(warnings) == 1  # once, not once a request
    assert warnings[0].startswith("rate limits: Redis unreachable (")
    assert warnings[0].endswith("counting in this process meanwhile")


@NEEDS_REDIS
def test_several_processes_asking_redis_at_once_never_get_more_than_the_limit():
    context = multiprocessing.get_context("spawn")  # fresh interpreters: nothing shared but Redis
    processes, calls, name = 6, 60, f"burst-{time.monotonic_ns()}"
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(
            target=limiter_burst, args=(django_settings.REDIS_URL, name, Limits(0, 100), calls, barrier, results)
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    admitted = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)

    assert sum(admitted) == 100  # of 360 asked at once: exactly the limit, never more
    assert len([n for n in admitted if n]) >= 2  # and the processes really competed


# --- A real gunicorn with several workers ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gunicorn(workers: int, log_path):
    port = _free_port()
    command = [sys.executable, "-m", "gunicorn", "softafrik.wsgi:application"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--log-level", "warning"]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=process_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:

        def answers() -> bool:
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/account")
                return conn.getresponse().status == 401
            return False

        wait_for(answers, timeout=60, what=f"gunicorn on port {port} ({log_path})")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@NEEDS_REDIS
@pytest.mark.django_db(transaction=True)
def test_a_burst_on_several_gunicorn_workers_lets_exactly_the_limit_through(tmp_path):
    from conftest import make_tenant_client

    owner = make_tenant_client("Owner Bank")
    key = api_key_create(tenant=owner.tenant, name="burst", rate_per_second=0, rate_per_minute=12).plaintext
    context = multiprocessing.get_context("spawn")
    clients, calls = 4, 15
    barrier, results = context.Barrier(clients), context.Queue()

    with gunicorn(3, tmp_path / "gunicorn.log") as port:
        procs = [
            context.Process(target=http_burst, args=(port, key, index * calls, calls, barrier, results))
            for index in range(clients)
        ]
        for proc in procs:
            proc.start()
        answers = [answer for _ in procs for answer in results.get(timeout=120)]
        for proc in procs:
            proc.join(timeout=30)

    created = [a for a in answers if a[0] == 201]
    refused = [a for a in answers if a[0] == 429]
    assert (len(created), len(refused)) == (12, clients * calls - 12)
    for _, retry_after, body in refused:
        assert 1 <= int(retry_after) <= 60
        assert body == {"error": "rate_limited", "message": over_limit(12, "minute", int(retry_after))}
    assert EndUser.objects.filter(tenant=owner.tenant).count() == 12  # nothing done on a 429


# --- last_used_at, the command line and the admin -------------------------------------------


def test_last_used_at_is_written_at_most_once_per_resolution_not_per_request(owner):
    api_key_authenticate(plaintext=owner.key)  # the first use writes it
    first = ApiKey.objects.get(tenant=owner.tenant).last_used_at

    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            api_key_cache_clear()  # even without the in-process cache: a read, no write
            assert owner.get("/api/account").status_code == 200

    assert first is not None
    assert ApiKey.objects.get(tenant=owner.tenant).last_used_at == first
    assert not [q["sql"] for q in queries.captured_queries if "UPDATE" in q["sql"] and "accounts_apikey" in q["sql"]]


def test_create_api_key_command_takes_rates_and_comma_separated_scopes(owner, capsys):
    call_command(
        "create_api_key",
        "--tenant",
        "Owner Bank",
        "--name",
        "batch",
        "--scopes",
        "sms:send,statuses:read",
        "--rate-per-second",
        "5",
        "--rate-per-minute",
        "0",
    )

    key = capsys.readouterr().out.strip().splitlines()[-1]
    row = api_key_authenticate(plaintext=key)
    assert (row.scopes, row.rate_per_second, row.rate_per_minute) == (["sms:send", "statuses:read"], 5, 0)


def test_create_api_key_command_refuses_a_negative_rate(owner):
    with pytest.raises(CommandError, match=r"--rate-per-second: '-1' is not a whole number of requests"):
        call_command("create_api_key", "--tenant", "Owner Bank", "--rate-per-second", "-1")
    assert owner.tenant.api_keys.count() == 1


LIMITS_FORM = {"name": "default", "expires_at_0": "", "expires_at_1": "", "allowed_networks": ""}


def test_admin_sets_a_keys_limits_and_lists_them(settings, staff_client, owner):
    settings.API_RATE_PER_SECOND, settings.API_RATE_PER_MINUTE = 50, 1500
    row = ApiKey.objects.get(tenant=owner.tenant)

    staff_client.post(
        f"/admin/accounts/apikey/{row.pk}/change/", {**LIMITS_FORM, "rate_per_second": "10", "rate_per_minute": "1"}
    )
    page = staff_client.get("/admin/accounts/apikey/").content.decode()

    row.refresh_from_db()
    assert (row.rate_per_second, row.rate_per_minute) == (10, 1)
    assert "10/s, 1/min" in page
    assert [owner.get("/api/account").status_code for _ in range(2)] == [200, 429]


@pytest.mark.parametrize(("field", "value"), [("rate_per_second", "0"), ("rate_per_minute", "1501")])
def test_a_tenants_staff_cannot_lift_the_platform_limits(settings, staff_client, owner, field, value):
    settings.API_RATE_PER_SECOND, settings.API_RATE_PER_MINUTE = 50, 1500
    row = ApiKey.objects.get(tenant=owner.tenant)

    response = staff_client.post(
        f"/admin/accounts/apikey/{row.pk}/change/",
        {**LIMITS_FORM, "rate_per_second": "", "rate_per_minute": "", field: value},
    )

    window = "second" if field == "rate_per_second" else "minute"
    platform = 50 if field == "rate_per_second" else 1500
    assert f"At most the platform&#x27;s {platform} requests a {window}" in response.content.decode()
    row.refresh_from_db()
    assert (row.rate_per_second, row.rate_per_minute) == (None, None)


def test_a_platform_admin_may_lift_a_keys_limits(settings, client, owner):
    settings.API_RATE_PER_SECOND, settings.API_RATE_PER_MINUTE = 50, 1500
    client.force_login(User.objects.create_superuser("root", password="pw-12345-long"))
    row = ApiKey.objects.get(tenant=owner.tenant)

    client.post(
        f"/admin/accounts/apikey/{row.pk}/change/",
        {**LIMITS_FORM, "tenant": owner.tenant.pk, "rate_per_second": "0", "rate_per_minute": "100000"},
    )

    row.refresh_from_db()
    assert (row.rate_per_second, row.rate_per_minute) == (0, 100000)


def test_admin_lists_the_platform_default_for_a_key_without_its_own(settings, staff_client, owner):
    settings.API_RATE_PER_SECOND, settings.API_RATE_PER_MINUTE = 50, 1500

    page = staff_client.get("/admin/accounts/apikey/").content.decode()

    assert "50/s, 1500/min (default)" in page


def test_admin_regenerate_action_shows_the_new_key_once_and_the_old_one_stops(staff_client, owner):
    row = ApiKey.objects.get(tenant=owner.tenant)

    response = staff_client.post(
        "/admin/accounts/apikey/", {"action": "regenerate_keys", "_selected_action": [row.pk]}, follow=True
    )

    page = response.content.decode()
    new_key = page.split("new key (shown once): ")[1].split("<")[0].strip()
    assert api_key_authenticate(plaintext=owner.key) is None
    assert api_key_authenticate(plaintext=new_key).tenant == owner.tenant
    assert owner.get("/api/account").status_code == 401


def test_admin_revoke_action_stops_the_key(staff_client, owner):
    row = ApiKey.objects.get(tenant=owner.tenant)

    staff_client.post("/admin/accounts/apikey/", {"action": "revoke_keys", "_selected_action": [row.pk]})

    assert owner.get("/api/account").status_code == 401


def test_admin_staff_cannot_act_on_another_tenants_key(staff_client, outsider):
    other = ApiKey.objects.get(tenant=outsider.tenant)

    staff_client.post("/admin/accounts/apikey/", {"action": "revoke_keys", "_selected_action": [other.pk]})
    page = staff_client.get("/admin/accounts/apikey/").content.decode()

    assert outsider.get("/api/account").status_code == 200
    assert other.prefix not in page
