import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from notifier.errors import StoreError
from notifier.models import Paper
from notifier.store import SCHEMA_VERSION, Store, Subscriber, utcnow


def paper(pid="2607.00001", source="hf_daily", day="2026-07-01", **kw):
    kw.setdefault("title", "Sparse attention for long contexts")
    return Paper(arxiv_id=pid, source=source, digest_day=day, **kw)


# (name, first batch, second batch, expected new in second, expected updated in second, sightings of 2607.00001)
DIFF_CASES = [
    ("brand_new", [], [paper()], 1, 0, 1),
    ("seen_again_same_day", [paper()], [paper()], 0, 0, 1),
    ("seen_again_next_day", [paper()], [paper(day="2026-07-02")], 0, 0, 2),
    ("upvotes_changed", [paper(upvotes=3)], [paper(upvotes=40)], 0, 1, 1),
    ("late_abstract_fix", [paper(abstract="old")], [paper(abstract="fixed")], 0, 1, 1),
    ("new_version_is_not_new", [paper(version="v1")], [paper(version="v2")], 0, 1, 1),
    ("other_source_same_paper", [paper()], [paper(source="arxiv:cs.LG", categories=["cs.LG"])], 0, 1, 2),
    ("late_addition_to_past_day", [paper()], [paper(), paper(pid="2607.00002")], 1, 0, 1),
]


@pytest.mark.parametrize("first,second,new,updated,sightings", [c[1:] for c in DIFF_CASES],
                         ids=[c[0] for c in DIFF_CASES])
def test_diff_semantics(store, first, second, new, updated, sightings):
    store.ingest(first, source="hf_daily", digest_day="2026-07-01")
    result = store.ingest(second, source="hf_daily", digest_day="2026-07-01")
    assert (result.new, result.updated) == (new, updated)
    assert len(store.sightings("2607.00001")) == sightings


def test_one_paper_four_sightings_with_merged_metadata(store):
    store.ingest([paper(upvotes=12)], source="hf_daily", digest_day=None)
    store.ingest([paper(day="2026-07-02", upvotes=15)], source="hf_daily", digest_day=None)
    store.ingest([paper(source="arxiv:cs.LG", categories=["cs.LG"])], source="arxiv:cs.LG", digest_day=None)
    store.ingest([paper(source="arxiv:cs.CL", categories=["cs.CL"])], source="arxiv:cs.CL", digest_day=None)
    assert store.count_papers() == 1
    assert len(store.sightings("2607.00001")) == 4
    stored = store.get_papers(["2607.00001"])["2607.00001"]
    assert stored.upvotes == 15 and stored.categories == ["cs.CL", "cs.LG"]


def test_a_paper_on_hf_and_arxiv_rss_keeps_the_authors_with_affiliations_and_stops_counting_as_updated(store):
    """RSS names 'Ada Lovelace (Cambridge)', HF 'Ada Lovelace': the stored list switched at each
    re-read and the paper counted as updated at every fetch of either source."""
    hf = paper(authors=["Ada Lovelace", "Alan Turing"])
    rss = paper(source="arxiv:cs.LG", authors=["Ada Lovelace (Cambridge)", "Alan  Turing (Manchester, UK)"])
    updated = [store.ingest([p], source=p.source, digest_day=p.digest_day).updated for p in (hf, rss, hf, rss, hf)]
    assert updated == [0, 1, 0, 0, 0]
    assert store.get_papers(["2607.00001"])["2607.00001"].authors == rss.authors


def test_a_corrected_author_list_is_stored(store):
    store.ingest([paper(authors=["Ada Lovelace (Cambridge)"])], source="hf_daily", digest_day="2026-07-01")
    result = store.ingest([paper(authors=["Ada Lovelace", "Charles Babbage"])], source="hf_daily",
                          digest_day="2026-07-01")
    assert result.updated == 1 and store.get_papers(["2607.00001"])["2607.00001"].authors == [
        "Ada Lovelace", "Charles Babbage"]


def test_old_style_ids_are_kept(store):
    store.ingest([paper(pid="hep-th/9901001")], source="arxiv:hep-th", digest_day="1999-01-04")
    assert "hep-th/9901001" in store.get_papers(["hep-th/9901001"])


def test_sqlite_runs_in_wal_with_full_sync(store):
    if store.path is None:
        pytest.skip("SQLite only")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2      # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


WRITER = textwrap.dedent("""
    import sys
    from notifier.models import Paper
    from notifier.store import Store
    store = Store(sys.argv[1])
    tag = sys.argv[2]
    for i in range(60):
        store.ingest([Paper(arxiv_id=f"2607.{tag}{i:03d}", title="t", source="hf_daily", digest_day="2026-07-01"),
                      Paper(arxiv_id="2607.99999", title="shared", upvotes=i, source="hf_daily",
                            digest_day="2026-07-01")], source="hf_daily", digest_day="2026-07-01")
        store.plan_delivery(subscriber_id=1, digest_day=f"2026-07-{i % 28 + 1:02d}",
                            items=[{"id": "2607.99999"}], meta={})
""")


def test_two_processes_write_at_once_without_locking_errors(store, db_url, tmp_path):
    store.add_subscriber(Subscriber(channel="email", address="a@example.org", profile="[]"))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, db_url, tag], stderr=subprocess.PIPE)
             for tag in ("1", "2")]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert store.count_papers() == 121
    # the shared paper was planned for the subscriber exactly once, whichever process won
    assert len([d for d in store.deliveries() if json.loads(d.items)]) == 1


KILLED = textwrap.dedent("""
    import os, signal, sys
    from notifier.models import Paper
    from notifier.store import Store
    store = Store(sys.argv[1])
    with store.session() as s:
        from notifier.store import PaperRow
        for i in range(500):
            s.add(PaperRow(id=f"2608.{i:05d}", title="half"))
        s.flush()
        os.kill(os.getpid(), signal.SIGKILL)
""")


def test_process_killed_mid_transaction_leaves_consistent_database(store, db_url):
    store.ingest([paper()], source="hf_daily", digest_day="2026-07-01")
    proc = subprocess.run([sys.executable, "-c", KILLED, db_url])
    assert proc.returncode == -signal.SIGKILL
    reopened = Store(db_url)
    assert reopened.count_papers() == 1
    if reopened.path:
        with sqlite3.connect(reopened.path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_migrates_an_empty_database(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'new.sqlite'}")
    assert store.schema_version() == SCHEMA_VERSION


def test_opening_the_first_schema_again_keeps_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    Store(url).ingest([paper()], source="hf_daily", digest_day=None)
    again = Store(url)
    assert again.schema_version() == SCHEMA_VERSION and again.count_papers() == 1


SCHEMA_V1 = Path(__file__).parent / "fixtures/store/schema-v1.sql"


def schema_v1_database(tmp_path) -> str:
    """A file as digest-notifier left it at schema 1 (tests/fixtures/store/schema-v1.sql)."""
    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA_V1.read_text(encoding="utf-8"))
    conn.close()
    return f"sqlite:///{path}"


def test_schema_1_database_is_upgraded_keeping_subscribers_with_no_threshold(tmp_path):
    store = Store(schema_v1_database(tmp_path))
    assert store.schema_version() == SCHEMA_VERSION
    assert store.schema_version() == SCHEMA_VERSION and store.setting("config_subscribers") is None
    subs = store.list_subscribers()
    assert [(s.address, s.max_items, s.origin, s.threshold) for s in subs] == [
        ("ada@example.org", 5, "cli", None), ("#llm-papers", None, "config", None)]
    assert subs[1].weekday == "fri" and store.taken_papers([subs[1].id]).get(subs[1].id, set()) == {"2606.12243"}
    store.update_subscriber(subs[0].id, threshold=0.25)
    store.close()
    again = Store(store.url)            # opening the upgraded file again changes nothing
    assert again.schema_version() == SCHEMA_VERSION and again.find_subscriber("ada@example.org").threshold == 0.25
    again.set_vote(subs[1].id, "2606.12243", -1)         # schema 3: votes and pause on an upgraded file
    assert again.votes(subs[1].id) == [("2606.12243", -1)] and not again.find_subscriber("#llm-papers").paused


def test_old_database_gains_a_skipped_count_on_its_fetch_runs(tmp_path):
    url = schema_v1_database(tmp_path)
    with sqlite3.connect(url.split(":///")[1]) as conn:
        conn.execute("INSERT INTO fetch_run (source, digest_day, started_at, outcome, found, new, updated)"
                     " VALUES ('hf_daily', '2026-06-12', '2026-06-12 08:00:00', 'ok', 30, 30, 0)")
    conn.close()
    store = Store(url)
    assert store.last_fetch("hf_daily").skipped == 0
    run = store.start_fetch("hf_daily", "2026-06-13")
    store.finish_fetch(run, outcome="ok", found=29, skipped=1)
    assert store.last_fetch("hf_daily").skipped == 1


def test_schema_1_database_gets_the_index_that_plans_a_batch_without_scanning_every_digest(tmp_path):
    from sqlalchemy import inspect

    store = Store(schema_v1_database(tmp_path))
    indexes = {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("delivery")}
    store.close()
    assert indexes["ix_delivery_subscriber_state"] == ["subscriber_id", "state", "created_at"]


def test_new_database_stores_a_subscriber_threshold(store):
    store.add_subscriber(Subscriber(channel="email", address="a@example.org", profile="[]", threshold=0.2))
    store.add_subscriber(Subscriber(channel="email", address="b@example.org", profile="[]"))
    assert [s.threshold for s in store.list_subscribers()] == [0.2, None]


def test_database_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "db.sqlite"
    Store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (99, '2030-01-01')")
    with pytest.raises(StoreError, match=r"db.sqlite: made by a newer digest-notifier \(schema 99"):
        Store(f"sqlite:///{path}")


def test_corrupt_database_file_gets_one_line_error(tmp_path):
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError) as err:
        Store(f"sqlite:///{path}")
    assert str(err.value) == f"{path}: the file is not a SQLite database (corrupt or another format)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_state_directory_gets_one_line_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="ro/db.sqlite: "):
            Store(f"sqlite:///{folder / 'db.sqlite'}")
    finally:
        folder.chmod(0o700)


def test_prune_drops_old_raw_records_but_keeps_papers(store):
    store.ingest([paper(raw={"id": "2607.00001", "big": "x" * 100})], source="hf_daily", digest_day=None)
    assert store.prune_raw(older_than_days=30) == 0
    assert store.prune_raw(older_than_days=30, now=utcnow() + timedelta(days=31)) == 1
    assert store.count_papers() == 1 and len(store.sightings("2607.00001")) == 1


def test_pruning_keeps_the_delivery_history_so_a_sent_paper_is_not_planned_again(store):
    sub = store.add_subscriber(Subscriber(channel="email", address="a@example.org", profile="[]"))
    store.ingest([paper(raw={"id": "2607.00001"})], source="hf_daily", digest_day=None)
    assert store.plan_delivery(subscriber_id=sub.id, digest_day="2026-07-01", items=[{"id": "2607.00001"}], meta={})
    assert store.prune_raw(older_than_days=30, now=utcnow() + timedelta(days=31)) == 1
    assert store.plan_delivery(subscriber_id=sub.id, digest_day="2026-08-01", items=[{"id": "2607.00001"}], meta={}) is None
    assert store.taken_papers([sub.id]).get(sub.id, set()) == {"2607.00001"}


def test_a_delivered_paper_is_never_planned_again_for_that_subscriber(store):
    sub = store.add_subscriber(Subscriber(channel="email", address="a@example.org", profile="[]"))
    store.ingest([paper()], source="hf_daily", digest_day=None)
    first = store.plan_delivery(subscriber_id=sub.id, digest_day="2026-07-01", items=[{"id": "2607.00001"}], meta={})
    assert first is not None
    assert store.plan_delivery(subscriber_id=sub.id, digest_day="2026-07-01", items=[{"id": "2607.00001"}], meta={}) is None
    assert store.plan_delivery(subscriber_id=sub.id, digest_day="2026-07-02", items=[{"id": "2607.00001"}], meta={}) is None
    assert store.taken_papers([sub.id]).get(sub.id, set()) == {"2607.00001"}


def test_the_papers_a_profile_is_checked_against_are_the_3000_first_seen_last(store):
    """`notifier profile check` counts in "the 3,000 most recent stored papers" (README): one paper
    more, seen a day before the others, is left out; the newest ones all count."""
    from freezegun import freeze_time

    with freeze_time("2026-07-01 08:00"):
        store.ingest([paper(pid="2607.99999")], source="hf_daily", digest_day="2026-07-01")
    with freeze_time("2026-07-02 08:00"):
        store.ingest([paper(pid=f"2607.{i:05d}", day="2026-07-02") for i in range(3000)], source="hf_daily",
                     digest_day="2026-07-02")
    recent = {p.arxiv_id for p in store.recent_papers()}
    assert len(recent) == 3000 and "2607.99999" not in recent


def test_duplicate_subscriber_is_refused(store):
    store.add_subscriber(Subscriber(channel="email", address="a@example.org", profile="[]"))
    with pytest.raises(StoreError, match="a subscriber with address 'a@example.org' already exists"):
        store.add_subscriber(Subscriber(channel="email", address="a@example.org", profile="[]"))


def test_a_big_day_is_ingested_in_short_transactions_with_a_few_queries_each(store):
    from sqlalchemy import event

    from notifier.store import INGEST_BATCH

    statements, commits = [], []
    event.listen(store.engine, "before_cursor_execute", lambda conn, cur, sql, *a: statements.append(sql))
    event.listen(store.engine, "commit", commits.append)
    day = [paper(pid=f"2607.{i:05d}", upvotes=1) for i in range(INGEST_BATCH * 2 + 7)]
    first = store.ingest(day, source="hf_daily", digest_day="2026-07-01")
    again = store.ingest([paper(pid=p.arxiv_id, upvotes=2) for p in day], source="hf_daily", digest_day="2026-07-01")
    assert (first.found, first.new, again.new, again.updated) == (len(day), len(day), 0, len(day))
    assert len(commits) == 6                         # 3 batches, twice
    assert len(statements) <= 6 * 6                  # per batch: (BEGIN,) 3 SELECTs (the cutoff's row too), 1-2 writes; never per paper
    assert store.count_papers() == len(day) and len(store.sightings("2607.01006")) == 1


def test_the_same_paper_twice_in_one_answer_is_one_paper_and_one_sighting(store):
    result = store.ingest([paper(upvotes=1), paper(upvotes=5), paper(day="2026-07-02")],
                          source="hf_daily", digest_day="2026-07-01")
    assert (result.found, result.new, result.updated) == (3, 1, 1)
    assert store.get_papers(["2607.00001"])["2607.00001"].upvotes == 5
    assert [d for _, d in store.sightings("2607.00001")] == ["2026-07-01", "2026-07-02"]
def test_database_url_whose_driver_is_missing_gets_one_line_error():
    with pytest.raises(StoreError) as err:
        Store("postgresql+pg8000://notifier:secret@db.example.org/notifier")
    assert str(err.value) == ("db.example.org/notifier: the database driver 'pg8000' is not installed "
                              "(for PostgreSQL: pip install 'digest-notifier[postgres]')")


@pytest.mark.parametrize("configured, state_dir, expected", [
    ("50%41/n%2Fm.sqlite", "state", "50%41/n%2Fm.sqlite"),
    (None, "50%41?x", "50%41?x/notifier.sqlite"),
], ids=["database-url", "state-folder"])
def test_a_database_path_with_a_percent_sign_or_question_mark_is_that_file(cli, tmp_path, monkeypatch,
                                                                           configured, state_dir, expected):
    """[database] url (here through NOTIFIER_DATABASE_URL), or the default file in the state folder:
    '%2F' was a subfolder ('cannot open the database file'), '?x/notifier.sqlite' a URL's query."""
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path / state_dir))
    if configured:
        monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{tmp_path / configured}")
    else:
        monkeypatch.delenv("NOTIFIER_DATABASE_URL")
    assert cli("subscribe", "ada@example.org", "-k", "agents")[0] == 0
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*.sqlite")] == [expected]
    assert json.loads(cli("subscribers", "--json")[1])["address"] == "ada@example.org"


def test_a_database_in_memory_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store("sqlite://")
    store.add_subscriber(Subscriber(channel="email", address="ada@example.org", profile='["agents"]'))
    store.close()
    assert list(tmp_path.iterdir()) == []


def test_list_subscribers_by_ids_gives_the_active_ones_of_those_ids_in_order_however_many(store):
    from notifier.subscribers import new_subscriber, written

    store.upsert_subscribers([written(new_subscriber(address=f"u{i}@example.org", keywords=["agents"]))
                              for i in range(1203)], [])
    subs = store.list_subscribers()
    store.update_subscriber(subs[3].id, active=False)
    store.update_subscriber(subs[700].id, paused=True)
    wanted = [s.id for s in subs[1200:0:-2]] + [subs[3].id, subs[700].id, subs[3].id]       # unordered, repeated
    assert [s.id for s in store.list_subscribers(ids=wanted)] == sorted(set(wanted) - {subs[3].id, subs[700].id})
    assert store.list_subscribers(ids=[]) == []
    assert store.count_subscribers() == 1201 and store.count_subscribers(active_only=False) == 1203


def test_latest_deliveries_gives_each_subscribers_newest_in_the_asked_states(store):
    a = store.add_subscriber(Subscriber(channel="email", address="a@example.org", profile="[]"))
    b = store.add_subscriber(Subscriber(channel="email", address="b@example.org", profile="[]"))
    store.add_subscriber(Subscriber(channel="email", address="never@example.org", profile="[]"))
    for sub, day, state in [(a, "2026-07-01", "sent"), (b, "2026-07-01", "sent"), (a, "2026-07-02", "sent"),
                            (b, "2026-07-02", "failed"), (a, "2026-07-03", "empty")]:
        store.plan_delivery(subscriber_id=sub.id, digest_day=day, items=[], meta={"empty_note": True}, state=state)
    sent = store.latest_deliveries(("sent",))
    assert {sub: d.digest_day for sub, d in sent.items()} == {a.id: "2026-07-02", b.id: "2026-07-01"}
    planned = store.latest_deliveries(("sent", "failed", "empty"))
    assert {sub: d.digest_day for sub, d in planned.items()} == {a.id: "2026-07-03", b.id: "2026-07-02"}


def test_last_planned_is_when_each_subscribers_latest_digest_was_planned_cancelled_ones_aside(store):
    from datetime import datetime, timezone

    from notifier.clock import as_utc

    a = store.add_subscriber(Subscriber(channel="email", address="a@example.org", profile="[]"))
    b = store.add_subscriber(Subscriber(channel="email", address="b@example.org", profile="[]"))
    store.add_subscriber(Subscriber(channel="email", address="never@example.org", profile="[]"))
    for sub, day, state in [(a, "01", "sent"), (a, "02", "empty"), (b, "01", "failed"), (a, "03", "pending")]:
        store.plan_delivery(subscriber_id=sub.id, digest_day=f"2026-07-{day}", items=[], meta={"empty_note": True},
                            state=state, created_at=datetime(2026, 7, int(day), 7, 30, tzinfo=timezone.utc))
    store.cancel_open(a.id)                               # unsubscribed: the pending one of the 3rd is cancelled
    planned = {sid: as_utc(at) for sid, at in store.last_planned().items()}
    assert planned == {a.id: datetime(2026, 7, 2, 7, 30, tzinfo=timezone.utc),
                       b.id: datetime(2026, 7, 1, 7, 30, tzinfo=timezone.utc)}


def test_store_calls_in_a_transaction_are_kept_together_or_not_at_all(store):
    sub = store.add_subscriber(Subscriber(channel="email", address="a@example.org", profile="[]"))
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.update_subscriber(sub.id, name="Ada")
            store.put_setting("k", "v")
            raise RuntimeError("a later step failed")
    assert store.find_subscriber(sub.id).name == "" and store.setting("k") is None
    with store.transaction():
        store.update_subscriber(sub.id, name="Ada")
        with store.transaction():                   # nested: joins the outer one
            store.put_setting("k", "v")
    assert store.find_subscriber(sub.id).name == "Ada" and store.setting("k") == "v"


def test_a_pause_whose_digests_cannot_be_held_leaves_the_subscriber_unpaused(store, monkeypatch):
    sub = store.add_subscriber(Subscriber(channel="email", address="a@example.org", profile="[]"))
    store.ingest([paper()], source="hf_daily", digest_day="2026-07-01")
    store.plan_delivery(subscriber_id=sub.id, digest_day="2026-07-01", items=[{"id": "2607.00001"}], meta={})

    def failing_move(*args):
        raise StoreError("disk full")
    monkeypatch.setattr(store, "_move", failing_move)
    with pytest.raises(StoreError):
        store.set_paused(sub.id, True)
    assert not store.find_subscriber(sub.id).paused      # not paused with its digest still pending


@pytest.mark.parametrize("ref", ["²", "99999999999999999999", "2147483648"], ids=["superscript-digit", "huge", "past-int32"])
def test_a_subscriber_asked_for_by_what_cannot_be_an_id_is_not_found_in_one_line(cli, ref):
    code, out, err = cli("unsubscribe", ref)
    assert (code, out) == (1, "") and err == f"notifier: error: no subscriber '{ref}' (see `notifier subscribers`)\n"


def without_time_zones(store: Store, zone: str) -> None:
    """Every time column of the PostgreSQL database as `timestamp without time zone` (as an older
    SQLModel made them; schema 8 adds `lease_until` so to any older database), and the server's
    zone for its sessions ``zone``."""
    from sqlalchemy import text

    with store.engine.begin() as conn:
        columns = conn.execute(text("SELECT table_name, column_name FROM information_schema.columns WHERE "
                                    "table_schema = 'public' AND data_type = 'timestamp with time zone'")).all()
        for table, column in columns:
            conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE timestamp USING {column} AT TIME ZONE 'UTC'"))
        conn.execute(text(f"ALTER DATABASE {conn.engine.url.database} SET timezone = '{zone}'"))
    store.close()


@pytest.mark.parametrize("zone", ["America/New_York", "Pacific/Auckland"])
def test_times_on_a_postgresql_database_without_time_zone_columns_read_back_as_written_whatever_the_servers_zone(
        postgres_url, zone):
    """Each instant was stored as the session's local time and read back as UTC: a digest planned
    at 07:30 UTC read as planned at 03:30 in New York, its claim's lease 12 hours long in Auckland."""
    from datetime import datetime, timezone

    from notifier.subscribers import new_subscriber

    without_time_zones(Store(postgres_url), zone)
    store, morning = Store(postgres_url), datetime(2026, 6, 12, 7, 30, tzinfo=timezone.utc)
    sub = store.add_subscriber(new_subscriber(address="ann@example.org", keywords=["agents"]))
    store.ingest([paper()], source="hf_daily", digest_day="2026-06-12")
    d = store.plan_delivery(subscriber_id=sub.id, digest_day="2026-06-12", items=[{"id": paper().arxiv_id}], meta={},
                            created_at=morning)
    store.claim(d.id, now=morning, lease=timedelta(minutes=5))
    [row] = store.deliveries()
    store.close()
    assert (row.created_at, row.claimed_at, row.lease_until) == (morning, morning, morning + timedelta(minutes=5))


def test_a_long_read_holds_off_no_writer_on_another_connection(store, monkeypatch):
    """Every session began IMMEDIATE, so a read held the write lock: the web's warm-up over 8,000
    papers kept the daemon from recording a send for ~0.4 s. The writer here is another Store (its
    own connection) that waits 0.1 s at most, and writes while the read is in the middle of its query."""
    from sqlalchemy import event

    if store.path is None:
        pytest.skip("PostgreSQL reads never held writers off")
    store.ingest([paper(), paper(pid="2607.00002")], source="hf_daily", digest_day="2026-07-01")
    monkeypatch.setattr("notifier.store.engine.BUSY_TIMEOUT_MS", 100)
    writer, written = Store(store.url), []

    def write_meanwhile(conn, cursor, statement, *_):
        if statement.startswith("SELECT") and not written:      # the read has begun: it sees the papers
            written.append(writer.put_setting("daemon", "recorded a send"))
    event.listen(store.engine, "after_cursor_execute", write_meanwhile)
    try:
        assert sorted(p.arxiv_id for p in store.recent_papers()) == ["2607.00001", "2607.00002"]
    finally:
        event.remove(store.engine, "after_cursor_execute", write_meanwhile)
        writer.close()
    assert written == [None] and store.setting("daemon") == "recorded a send"
