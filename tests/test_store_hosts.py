"""The host groups' turns kept in the database (store/hosts.py): workers taking turns at the same
moment, each with a Store (its own connections) of its own, on SQLite and PostgreSQL."""
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from notifier.store import Store, utcnow

NOW = datetime(2026, 6, 12, 7, tzinfo=timezone.utc)
LATEST = NOW + timedelta(minutes=10)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'shared.sqlite'}"


def turns_taken_at_once(url: str, workers: int, each: int) -> list[datetime]:
    """Every turn ``workers`` threads took of "arxiv" (3 s apart), starting together."""
    stores = [Store(url) for _ in range(workers)]
    start, taken = threading.Barrier(workers), []

    def work(store):
        start.wait()
        taken.extend(store.take_turn("arxiv", NOW, 3.0, LATEST).at for _ in range(each))
    threads = [threading.Thread(target=work, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    return sorted(taken)


def test_workers_taking_turns_at_the_same_moment_each_get_their_own_three_seconds_apart(url):
    assert turns_taken_at_once(url, workers=3, each=10) == [NOW + timedelta(seconds=3 * n) for n in range(30)]


def test_a_retry_after_refuses_every_workers_turn_and_reserves_none(url):
    one, two = Store(url), Store(url)
    try:
        one.hold_host("arxiv", NOW + timedelta(days=1), "HTTP 429", 429)
        refused = two.take_turn("arxiv", NOW, 3.0, LATEST)
        assert (refused.granted, refused.at, refused.problem) == (False, NOW + timedelta(days=1), "HTTP 429")
        after = NOW + timedelta(days=1, seconds=1)
        assert two.take_turn("arxiv", after, 3.0, after + timedelta(minutes=10)).at == after
        assert one.retry_after_holds() == {"arxiv": (NOW + timedelta(days=1), "HTTP 429", 429)}
    finally:
        one.close()
        two.close()


def test_a_retry_after_kept_before_the_upgrade_still_holds_its_host_and_the_old_rows_are_gone(url):
    """Schema 8 kept each group's Retry-After in a ``retry_after:<group>`` row, which the fetcher
    no longer reads: a hold running at the upgrade let the host be asked too early."""
    now = utcnow()
    store = Store(url)
    for group, until in [("arxiv", now + timedelta(hours=2)), ("hf", now - timedelta(hours=1))]:
        store.put_setting(f"retry_after:{group}",
                          json.dumps({"until": until.isoformat(), "problem": "HTTP 429", "status": 429}))
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM schema_version WHERE version > 8"))
    store.close()
    again = Store(url)
    try:
        refused = again.take_turn("arxiv", now, 3.0, now + timedelta(minutes=10))
        assert (refused.granted, refused.at, refused.problem) == (False, now + timedelta(hours=2), "HTTP 429")
        assert again.take_turn("hf", now, 1.0, now + timedelta(minutes=10)).at == now
        assert again.retry_after_holds() == {"arxiv": (now + timedelta(hours=2), "HTTP 429", 429)}
        assert [again.setting(f"retry_after:{group}") for group in ("arxiv", "hf")] == [None, None]
    finally:
        again.close()
