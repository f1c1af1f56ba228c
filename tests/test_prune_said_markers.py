"""`notifier prune` drops the markers of warnings said once a day (a timer's run records one a
day, e.g. for the missing unsubscribe address) from earlier days; today's stays, so the warning is
still not said twice today, and real alerts are kept. Both backends."""
from datetime import datetime, timezone

from freezegun import freeze_time

from notifier.store import Store

WARNING = "no unsubscribe address"


def test_prune_drops_the_once_a_day_warning_markers_of_earlier_days_and_keeps_todays(cli, db_url):
    """Before: one row a day, never removed (`prune` printed nothing about them)."""
    store = Store(db_url)
    try:
        for day in (1, 2, 3):
            with freeze_time(f"2026-07-0{day} 09:00"):
                assert store.said_first_on(datetime(2026, 7, day, 9, tzinfo=timezone.utc), WARNING)
        store.raise_alert("source:hf_daily:failing", "source hf_daily is failing")
        with freeze_time("2026-07-03 18:00"):
            code, out, _ = cli("prune")
            assert not store.said_first_on(datetime(2026, 7, 3, 18, tzinfo=timezone.utc), WARNING)
        assert code == 0 and "pruned 2 markers of warnings said once a day, of earlier days" in out.splitlines()
        assert store.alert_keys("said:", "source:") == {f"said:{WARNING}:20260703", "source:hf_daily:failing"}
    finally:
        store.close()
