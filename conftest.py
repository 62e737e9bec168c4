"""Fixtures shared by every app's tests: tenants with keys, API clients, an outsider."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from accounts.selectors import api_key_cache_clear

pytest_plugins = ["softafrik.testing.browser"]  # browser, page, browser_login


@dataclass
class TenantClient:
    tenant: object
    key: str
    client: APIClient

    def post(self, path: str, data=None, **headers):
        return self.client.post(path, data, format="json", headers={"X-API-KEY": self.key, **headers})

    def get(self, path: str, params=None, **headers):
        return self.client.get(path, params, headers={"X-API-KEY": self.key, **headers})


def make_tenant_client(name: str, region: str = "TG") -> TenantClient:
    from accounts.services import tenant_create

    tenant, issued = tenant_create(name=name, default_region=region)
    return TenantClient(tenant=tenant, key=issued.plaintext, client=APIClient())


@pytest.fixture(autouse=True)
def _fresh_key_cache():
    api_key_cache_clear()
    yield
    api_key_cache_clear()


@pytest.fixture(autouse=True)
def _billing_defaults(settings):
    """Tests that are not about money send freely: a new account's trial credit covers
    anything they send. Billing's own tests set their balances; caches start empty
    (SQLite reuses ids after a rollback)."""
    from billing.pricing import tariffs_cache_clear
    from billing.services import account_cache_clear

    settings.BILLING_TRIAL_CREDIT = "100000000"
    tariffs_cache_clear()
    account_cache_clear()
    yield
    tariffs_cache_clear()
    account_cache_clear()


@pytest.fixture
def owner(db) -> TenantClient:
    return make_tenant_client("Owner Bank")


@pytest.fixture
def outsider(db) -> TenantClient:
    """Another tenant: whatever it asks about the owner's objects must be 404, nothing changed."""
    return make_tenant_client("Outsider Pay")


@pytest.fixture
def staff_client(client, owner):
    """The Django test client logged into the admin as the owner's staff user "ops"."""
    from accounts.models import User

    password = "pw-12345-long"  # noqa: S105 - a test user's
    user = User.objects.create_user("ops", password=password, is_staff=True, tenant=owner.tenant)
    client.force_login(user)
    return client


@pytest.fixture
def worker_env():
    """Environment of worker/beat processes; app test packages override it to add fakes."""
    from softafrik.testing.processes import process_env

    return process_env()


@pytest.fixture
def celery_procs(worker_env, tmp_path):
    """Start real ``celery worker``/``beat`` processes on the test database; all stopped after."""
    from softafrik.celery import app as celery_app
    from softafrik.testing.processes import CeleryProcess

    celery_app.control.purge()
    started: list = []

    def start(kind: str = "worker", *args: str):
        # Beat needs no schedule file: the database scheduler keeps its rows in the test database.
        extra = ["-P", "prefork", "-c", "2", "--without-gossip", "--without-mingle"] if kind == "worker" else []
        log = tmp_path / f"{kind}-{len(started)}.log"
        proc = CeleryProcess(kind, env=worker_env, args=[*extra, *args], log=log).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def pytest_sessionfinish(session, exitstatus):
    """Remove this run's SQLite test database files (WAL and SHM included)."""
    import os

    from django.conf import settings

    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if name and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") and f"-{os.getpid()}." in name:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(name + suffix):
                os.remove(name + suffix)
