"""The web's rate limiter on a clock the test moves: no thread, no real time."""
from __future__ import annotations

import pytest

from notifier.web.ratelimit import MovingWindow, parse


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.mark.parametrize("limit, parsed", [("3/hour", (3, 3600)), ("120 / minute", (120, 60)), ("1/day", (1, 86400)),
                                           ("5/second", (5, 1))], ids=["hour", "spaces", "day", "second"])
def test_a_limit_reads_as_the_config_writes_it(limit, parsed):
    assert parse(limit) == parsed


def test_a_key_gets_n_requests_in_any_window_and_one_more_when_its_oldest_leaves(clock):
    limiter = MovingWindow(clock)
    assert limiter.hit("2/hour", "address", "eve@example.org")
    clock.now += 600
    assert limiter.hit("2/hour", "address", "eve@example.org")
    clock.now += 60
    assert not limiter.hit("2/hour", "address", "eve@example.org")
    assert limiter.retry_after("2/hour", "address", "eve@example.org") == 2940
    clock.now += 2940                                   # an hour after the first
    assert limiter.hit("2/hour", "address", "eve@example.org")
    assert limiter.retry_after("2/hour", "address", "eve@example.org") == 600     # the second is the oldest now


def test_a_refused_request_does_not_push_the_next_one_further_back(clock):
    limiter = MovingWindow(clock)
    limiter.hit("1/minute", "tester", "192.0.2.7")
    for _ in range(5):
        clock.now += 10
        assert not limiter.hit("1/minute", "tester", "192.0.2.7")
    clock.now += 10
    assert limiter.hit("1/minute", "tester", "192.0.2.7")


def test_keys_and_limits_are_counted_apart(clock):
    limiter = MovingWindow(clock)
    assert limiter.hit("1/hour", "address", "eve@example.org")
    assert limiter.hit("1/hour", "address", "ada@example.org")
    assert limiter.hit("1/hour", "client", "eve@example.org")
    assert limiter.hit("2/hour", "address", "eve@example.org")
    assert limiter.retry_after("1/hour", "client", "192.0.2.7") == 0


def test_keys_with_no_request_left_in_their_window_are_forgotten(clock):
    """Each visitor's key stayed in memory for as long as the process ran."""
    limiter = MovingWindow(clock)
    for i in range(100):
        limiter.hit("3/hour", "client", f"192.0.2.{i}")
    limiter.hit("1/day", "address", "eve@example.org")
    clock.now += 3600
    limiter.hit("3/hour", "client", "198.51.100.1")
    assert len(limiter) == 2                            # the day's key and the new one
    clock.now += 86400
    limiter.hit("3/hour", "client", "198.51.100.1")
    assert len(limiter) == 1


def test_a_request_taken_back_frees_its_place_in_the_window(clock):
    limiter = MovingWindow(clock)
    assert limiter.hit("1/minute", "mailed", "ada")
    limiter.forget("1/minute", "mailed", "ada")
    assert limiter.hit("1/minute", "mailed", "ada")
    assert not limiter.hit("1/minute", "mailed", "ada")
