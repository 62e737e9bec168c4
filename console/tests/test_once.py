"""A confirmation submitted twice at the same moment (a double click that got through,
two tabs) sends once: both submissions end on the same result page."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from console.tests.conftest import hidden_fields
from sms.models import SmsMessage, SmsRecipient

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/admin/send/sms/"
SUBMISSIONS = 4


def test_concurrent_submissions_of_one_confirmation_send_once(staff, sender):
    priced = staff.post(PATH, {"numbers": "+22890123456", "text": "Bonjour", "when": "now", "action": "price"})
    confirm = {**hidden_fields(priced.content.decode()), "action": "send"}
    start = threading.Barrier(SUBMISSIONS)
    answers: list = []

    def submit():
        try:
            start.wait()
            answers.append(staff.post(PATH, confirm))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(SUBMISSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [answer.status_code for answer in answers] == [303] * SUBMISSIONS
    assert len({answer["Location"] for answer in answers}) == 1
    assert SmsMessage.objects.count() == 1 and SmsRecipient.objects.count() == 1
