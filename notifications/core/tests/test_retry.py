"""The one retry policy: backoff or a schedule, jitter, a cap, Retry-After honoured."""

from notifications.core.retry import RetryPolicy


def test_backoff_doubles_within_its_jitter_and_stops_at_the_cap():
    policy = RetryPolicy(base=10, cap=900)
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (7, 640), (8, 900), (20, 900)]:
        delays = [policy.delay(attempts) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 150  # jittered, not one value


def test_a_longer_retry_after_wins_and_a_shorter_one_does_not():
    policy = RetryPolicy(base=5, cap=600)
    assert policy.delay(1, retry_after=120) == 120
    assert 2.5 <= policy.delay(1, retry_after=0.1) <= 5


def test_a_schedule_is_followed_with_symmetric_jitter_and_its_last_entry_repeats():
    policy = RetryPolicy(schedule=(5, 300, 1800), cap=36000, jitter=0.1, symmetric=True)
    for attempts, expected in [(1, 5), (2, 300), (3, 1800), (9, 1800)]:
        delays = [policy.delay(attempts) for _ in range(200)]
        assert all(expected * 0.9 <= d <= expected * 1.1 for d in delays)
        assert min(delays) < expected < max(delays)
