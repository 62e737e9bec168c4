"""Kicker: many kicks become few publishes, and every kick is followed by a publish."""

import threading
import time

from notifications.push.kick import Kicker


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_burst_of_kicks_is_coalesced_into_few_publishes():
    published = []
    kicker = Kicker(lambda: published.append(time.monotonic()), interval=0.05, name="test-kicker")
    for _ in range(1000):
        kicker.kick()
    _wait_for(lambda: len(published) >= 1)
    time.sleep(0.2)
    assert 1 <= len(published) <= 2


def test_every_kick_is_followed_by_a_later_publish():
    published = []
    gate = threading.Event()

    def publish():
        published.append(time.monotonic())
        gate.wait(1)  # a slow publish: kicks arrive while it runs

    kicker = Kicker(publish, interval=0.01, name="test-kicker")
    kicker.kick()
    _wait_for(lambda: len(published) == 1)
    kicked_at = time.monotonic()
    kicker.kick()  # during the publish: must cause one more
    gate.set()
    _wait_for(lambda: len(published) == 2)
    assert published[1] > kicked_at
    time.sleep(0.1)
    assert len(published) == 2  # and nothing more without a kick


def test_a_failing_publish_does_not_stop_the_kicker():
    calls = []

    def publish():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("broker down")

    kicker = Kicker(publish, interval=0.01, name="test-kicker")
    kicker.kick()
    _wait_for(lambda: len(calls) == 1)
    time.sleep(0.05)
    kicker.kick()
    _wait_for(lambda: len(calls) == 2)
