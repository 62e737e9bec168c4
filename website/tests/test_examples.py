"""The docs' examples work when pasted: each dialect's first call, in curl, PHP, Node and
Python, taken from the rendered page (so with the base URL the page gives: the live
server's), is run by the real interpreter with a real key, and answers what the page
documents beside it. The send really happened: its row is in the database."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys

import pytest
import requests

from devices.models import EndUser
from sms.models import SenderName, SenderStatus, SmsMessage
from website.examples import KEY_PLACEHOLDER, SENDER

pytestmark = pytest.mark.django_db(transaction=True)

RUN_SECONDS = 60
INTERPRETERS = {
    "curl": ["bash", "-c"],
    "php": ["php", "-r"],
    "node": ["node", "-e"],
    "python": [sys.executable, "-c"],
}
# What each dialect's first call leaves behind, for the tenant that made it.
CREATED = {
    "softafrik": lambda tenant: EndUser.objects.filter(tenant=tenant, external_user_ref="user_12345").count(),
    "ion": lambda tenant: SmsMessage.objects.filter(tenant=tenant, dialect="ion").count(),
    "primotexto": lambda tenant: SmsMessage.objects.filter(tenant=tenant, dialect="primotexto").count(),
    "delevera": lambda tenant: SmsMessage.objects.filter(tenant=tenant).count(),
}


def page_example(base_url: str, dialect: str, language: str) -> tuple[str, int, dict, list[str]]:
    """(code, documented status, documented answer, fields that vary) from the docs page."""
    page = requests.get(f"{base_url}/docs/{dialect}/", timeout=30).text
    code = re.search(rf'<code data-example="{dialect}" data-lang="{language}">(.*?)</code>', page, re.S).group(1)
    answer = re.search(
        rf'<code data-answer="{dialect}" data-status="(\d+)" data-varies="([^"]*)">(.*?)</code>', page, re.S
    )
    varies = [name for name in answer.group(2).split(",") if name]
    return html.unescape(code), int(answer.group(1)), json.loads(html.unescape(answer.group(3))), varies


def run(language: str, code: str) -> tuple[int | None, dict]:
    """Runs ``code``; (status it printed, or None for curl, which prints the body only; body)."""
    if language == "php":
        code = code.removeprefix("<?php")  # php -r takes the code without its opening tag
    done = subprocess.run([*INTERPRETERS[language], code], capture_output=True, text=True, timeout=RUN_SECONDS)
    assert done.returncode == 0, done.stderr
    if language == "curl":
        return None, json.loads(done.stdout)
    first, _, body = done.stdout.strip().partition("\n")
    return int(re.search(r"\b(\d{3})\b", first).group(1)), json.loads(body)


def without(answer, names: list[str]):
    """``answer`` with the fields ``names`` (at any depth) replaced by a marker."""
    if isinstance(answer, dict):
        return {k: "<varies>" if k in names else without(v, names) for k, v in answer.items()}
    if isinstance(answer, list):
        return [without(item, names) for item in answer]
    return answer


@pytest.mark.parametrize("language", ["curl", "php", "node", "python"])
@pytest.mark.parametrize("dialect", ["softafrik", "ion", "primotexto", "delevera"])
def test_the_first_call_works_when_pasted(live_server, owner, dialect, language):
    interpreter = "curl" if language == "curl" else INTERPRETERS[language][0]
    if not shutil.which(interpreter):
        pytest.skip(
            f"{interpreter} is not installed here (.ci/run installs php-cli; node and curl come with the image)"
        )
    SenderName.objects.create(tenant=owner.tenant, name=SENDER, status=SenderStatus.APPROVED)
    code, status, documented, varies = page_example(live_server.url, dialect, language)
    assert f"{live_server.url}/" in code and KEY_PLACEHOLDER in code

    printed_status, answer = run(language, code.replace(KEY_PLACEHOLDER, owner.key))

    assert printed_status in (None, status)
    assert without(answer, varies) == without(documented, varies)
    assert CREATED[dialect](owner.tenant) == 1
