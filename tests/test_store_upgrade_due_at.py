"""Schema 10 adds ``delivery.due_at`` (since when a digest is due to go out, which outage alerts
count from): a database from before it gets one for every digest on upgrade, on both backends."""
from datetime import datetime, timezone

from freezegun import freeze_time
from sqlalchemy import text

from notifier.models import Paper
from notifier.outbox import State
from notifier.store import Store
from notifier.subscribers import new_subscriber

UTC = timezone.utc


def test_an_old_database_gets_when_each_digest_became_due_on_upgrade(db_url):
    """A digest sent and one waiting, whose subscriber changed after it was planned (resumed, in
    the version before): the waiting one counts from that change, as alerts did before, the sent
    one from its planning."""
    store = Store(db_url)
    with freeze_time("2026-07-06 06:00"):
        sub = store.add_subscriber(new_subscriber(address="ada@example.org", keywords=["agents"]))
        store.ingest([Paper("2607.00005", "Agents"), Paper("2607.00006", "More agents")], source="hf_daily",
                     digest_day="2026-07-06")
    for day, at in (("2026-07-05", "2026-07-05 07:30"), ("2026-07-06", "2026-07-06 07:30")):
        with freeze_time(at):
            store.plan_delivery(subscriber_id=sub.id, digest_day=day, items=[{"id": f"2607.0000{day[-1]}"}], meta={})
    [sent, waiting] = store.deliveries()
    with freeze_time("2026-07-06 07:31"):
        store.record(sent.id, State.SENT, now=datetime(2026, 7, 6, 7, 31, tzinfo=UTC))
    with freeze_time("2026-07-08 12:00"):
        store.update_subscriber(sub.id, name="Ada")
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE delivery DROP COLUMN due_at"))
        conn.execute(text("DELETE FROM schema_version WHERE version > 9"))
    store.close()
    again = Store(db_url)
    try:
        due = {d.digest_day: d.due_at.replace(tzinfo=None) for d in again.deliveries()}
        assert due == {"2026-07-05": datetime(2026, 7, 5, 7, 30), "2026-07-06": datetime(2026, 7, 8, 12, 0)}
    finally:
        again.close()
