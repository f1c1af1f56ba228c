"""Several workers on one database (issue 13 item 5): a digest is claimed by exactly one worker, a
live worker's claim holds (it renews its lease) and only an expired one is taken over, each source
day is fetched by one worker, and a unique-constraint race is "someone else did it", never an error.
Unit tests run on SQLite and on a throwaway PostgreSQL cluster; the fault test runs three real
`notifier run` processes with separate state folders on PostgreSQL and SIGKILLs one mid-batch."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest

from notifier.config import Config, load_config
from notifier.errors import ConfigError
from notifier.context import open_context
from notifier.fetch_cycle import fetch_claimed
from notifier.recovery import recover
from notifier.sending import renewing
from notifier.store import Delivery, FetchRun, Store
from notifier.store.tables import delivery_key
from notifier.subscribers import new_subscriber, written
from test_faults import SMTPServer, ingest, wait_for

T0 = datetime(2026, 6, 12, 8, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=60)


@pytest.fixture(params=["sqlite", "postgres"])
def any_url(request, tmp_path):
    """The same test on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'notifier.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def workers(any_url):
    """Two workers: two Stores on one database (each has its own worker id)."""
    stores = [Store(any_url), Store(any_url)]
    yield stores
    for s in stores:
        s.close()


def one_pending(store: Store, address: str = "ann@example.org") -> Delivery:
    sub = store.add_subscriber(new_subscriber(address=address, keywords=["agents"]))
    return store.plan_delivery(subscriber_id=sub.id, digest_day="2026-06-12", items=[], meta={"empty_note": True})


def worker_context(url: str, tmp_path, lease_seconds: int = 60):
    config = Config()
    config.general.state_dir = str(tmp_path)
    config.database.url = url
    config.delivery.lease_seconds = lease_seconds
    return open_context(config)


# ----------------------------------------------------------------------------- claims
def test_of_two_workers_claiming_one_digest_exactly_one_gets_it(workers):
    a, b = workers
    d = one_pending(a)
    mine = a.claim(d.id, now=T0, lease=LEASE)
    assert mine is not None and mine.worker == a.worker and mine.attempts == 1
    assert b.claim(d.id, now=T0, lease=LEASE) is None
    assert a.deliveries()[0].lease_until.replace(tzinfo=None) == (T0 + LEASE).replace(tzinfo=None)


def test_workers_claiming_in_parallel_send_each_digest_once(any_url):
    """Eight threads, each a worker of its own, race for the same 40 digests in the same order."""
    setup = Store(any_url)
    ids = [one_pending(setup, f"user{i}@example.org").id for i in range(40)]
    setup.close()
    won: list[tuple[str, int]] = []
    start = threading.Barrier(8)

    def worker():
        store = Store(any_url)
        start.wait()
        for i in ids:
            if store.claim(i, lease=LEASE) is not None:
                won.append((store.worker, i))
        store.close()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(i for _, i in won) == ids              # each claimed once, by one worker
    check = Store(any_url)
    assert {d.attempts for d in check.deliveries()} == {1}
    check.close()


def test_a_live_workers_claim_is_not_taken_over_until_its_lease_runs_out(workers):
    a, b = workers
    d = one_pending(a)
    a.claim(d.id, now=T0, lease=LEASE)
    assert b.take_over(d.id, T0 + timedelta(seconds=59), LEASE) is None
    assert a.renew(d.id, T0 + timedelta(seconds=50), LEASE)            # still sending: renewed to +110 s
    assert b.take_over(d.id, T0 + timedelta(seconds=100), LEASE) is None
    assert b.take_over(d.id, T0 + timedelta(seconds=111), LEASE) is not None   # a died: b resolves it
    assert not a.renew(d.id, T0 + timedelta(seconds=112), LEASE)


def test_a_claim_of_a_process_of_this_host_that_died_is_taken_over_at_once(workers):
    """systemd restarting a crashed worker: its digest in flight need not wait out the lease."""
    import socket

    a, b = workers
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                            # exited and reaped: its pid is gone
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rows = [one_pending(a, f"user{i}@example.org") for i in range(2)]
        for d, pid in zip(rows, (dead.pid, alive.pid)):
            a.worker = f"{socket.gethostname()}:{pid}:abc123"
            a.claim(d.id, now=T0, lease=LEASE)
        soon = T0 + timedelta(seconds=1)
        assert [d.id for d in b.claims_to_recover(soon, LEASE)] == [rows[0].id]
        assert b.take_over(rows[0].id, soon, LEASE, worker=f"{socket.gethostname()}:{dead.pid}:abc123") is not None
        assert b.take_over(rows[1].id, soon, LEASE, worker=f"{socket.gethostname()}:{alive.pid}:abc123") is None
    finally:
        alive.kill()
        alive.wait()


def test_a_worker_whose_claim_was_taken_over_records_nothing(workers):
    a, b = workers
    d = one_pending(a)
    a.claim(d.id, now=T0, lease=LEASE)
    b.take_over(d.id, T0 + 2 * LEASE, LEASE)
    assert b.record(d.id, "retry", error="interrupted while sending; re-sending")
    assert not a.record(d.id, "failed", error="550 late answer")         # a was only slow: not its row now
    [row] = b.deliveries()
    assert (row.state, row.last_error, row.worker) == ("retry", "interrupted while sending; re-sending", b.worker)


def test_a_starting_worker_on_a_shared_database_leaves_another_workers_send_alone(tmp_path, postgres_url):
    with worker_context(postgres_url, tmp_path) as first, worker_context(postgres_url, tmp_path) as second:
        d = one_pending(first.store)
        first.store.claim(d.id, now=datetime.now(timezone.utc), lease=LEASE)
        assert recover(second, at_start=True) == 0                 # same state folder, but not alone: lease holds
        assert [x.state for x in second.store.deliveries()] == ["sending"]
        assert recover(second, now=datetime.now(timezone.utc) + LEASE + timedelta(seconds=1)) == 1
        [row] = second.store.deliveries()
        assert (row.state, row.worker) == ("retry", second.store.worker)


def test_a_starting_worker_on_sqlite_holds_the_lock_and_resolves_any_interrupted_send(tmp_path):
    url = f"sqlite:///{tmp_path / 'notifier.sqlite'}"
    with worker_context(url, tmp_path) as dead, worker_context(url, tmp_path) as starting:
        d = one_pending(dead.store)
        dead.store.claim(d.id, now=datetime.now(timezone.utc), lease=LEASE)
        assert recover(starting, at_start=True) == 1
        assert [x.state for x in starting.store.deliveries()] == ["retry"]


def test_a_slow_send_keeps_its_claim_by_renewing_the_lease(tmp_path, any_url):
    with worker_context(any_url, tmp_path, lease_seconds=3) as ctx, worker_context(any_url, tmp_path) as other:
        d = one_pending(ctx.store)
        claimed_at = datetime.now(timezone.utc)
        first = ctx.store.claim(d.id, now=claimed_at, lease=timedelta(seconds=3)).lease_until
        with renewing(ctx, d.id):                            # the send in flight
            renewed = wait_for(lambda: ctx.store.deliveries()[0].lease_until != first and
                               ctx.store.deliveries()[0].lease_until, 15, "the lease renewed")
            # renewed at least a third of the lease after the claim: alive past the first expiry
            assert other.store.take_over(d.id, claimed_at + timedelta(seconds=3.5), LEASE) is None
        assert renewed.replace(tzinfo=None) > first.replace(tzinfo=None)
        assert ctx.store.record(d.id, "sent")


# ----------------------------------------------------------------------------- unique races
def lose_race(url: str, row, call):
    """Run ``call`` as another worker while ``row`` is inserted but not yet committed: on
    PostgreSQL its own insert of the same key waits on the unique index, and fails once the row
    commits. -> what ``call`` returned, or the exception it raised."""
    holder, out = Store(url), {}

    def other():
        try:
            out["result"] = call()
        except Exception as err:          # noqa: BLE001  (asserted on by the test)
            out["result"] = err
    with holder.session() as s:
        s.add(row)
        s.flush()
        thread = threading.Thread(target=other)
        thread.start()
        with holder.engine.connect() as conn:
            wait_for(lambda: conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()").scalar(), 20, "the other worker's insert to wait")
    thread.join(20)
    holder.close()
    return out["result"]


def test_a_digest_planned_by_two_workers_at_once_is_planned_once_without_error(postgres_url):
    store = Store(postgres_url)
    sub = store.add_subscriber(new_subscriber(address="ann@example.org", keywords=["agents"]))
    got = lose_race(postgres_url, Delivery(key=delivery_key(sub.id, "2026-06-12"), subscriber_id=sub.id, digest_day="2026-06-12"),
                    lambda: store.plan_delivery(subscriber_id=sub.id, digest_day="2026-06-12", items=[],
                                                meta={"empty_note": True}))
    assert got is None                                   # someone else planned it
    assert len(store.deliveries()) == 1
    store.close()


def test_a_paper_ingested_by_two_workers_at_once_is_stored_once_without_error(postgres_url):
    from notifier.models import Paper
    from notifier.store import PaperRow

    store = Store(postgres_url)
    paper = Paper(arxiv_id="2606.13681", title="Agents in the arena", source="arxiv:cs.AI")
    got = lose_race(postgres_url, PaperRow(id="2606.13681", title="Agents in the arena"),
                    lambda: store.ingest([paper], source="arxiv:cs.AI", digest_day="2026-06-12"))
    assert (got.found, got.new) == (1, 0)                 # the other worker's row, merged into
    assert store.count_papers() == 1 and store.sightings("2606.13681") == [("arxiv:cs.AI", "2026-06-12")]
    store.close()


def test_a_race_lost_in_a_later_batch_of_a_big_day_still_counts_the_earlier_batches_papers_as_new(
        postgres_url, monkeypatch):
    """Only the batch that lost runs again: the papers this worker stored before it stay its new ones."""
    from notifier.models import Paper
    from notifier.store import PaperRow

    monkeypatch.setattr("notifier.store.papers.INGEST_BATCH", 2)
    store = Store(postgres_url)
    papers = [Paper(arxiv_id=f"2606.1368{i}", title=f"Agents {i}", source="arxiv:cs.AI") for i in range(3)]
    got = lose_race(postgres_url, PaperRow(id="2606.13682", title="Agents 2"),
                    lambda: store.ingest(papers, source="arxiv:cs.AI", digest_day="2026-06-12"))
    assert (got.found, got.new) == (3, 2)                 # the third was the other worker's
    assert store.count_papers() == 3
    store.close()



def test_papers_another_worker_is_storing_while_a_digest_is_planned_are_in_that_digest_or_the_next(
        postgres_url, tmp_path, monkeypatch):
    """Worker A stores a day's papers (stamped, not yet committed) while worker B plans a digest:
    B's cutoff waits for A's commit, so the papers are B's candidates now, not stamped before a
    cutoff whose candidates could not see them (then no digest would ever offer them)."""
    from importlib.resources import files

    from notifier.parse import parse_text
    from notifier.planning import plan_batch
    from notifier.store import papers as store_papers

    papers = parse_text(files("notifier.samples").joinpath("hf_daily_papers_api_2026-06-12.json").read_text())
    storing, release, original = threading.Event(), threading.Event(), store_papers._ingest_batch

    def held_open(*args):
        original(*args)
        storing.set()
        assert release.wait(30)
    monkeypatch.setattr(store_papers, "_ingest_batch", held_open)
    with worker_context(postgres_url, tmp_path) as b, worker_context(postgres_url, tmp_path) as a:
        sub = b.store.add_subscriber(new_subscriber(address="ann@example.org", keywords=["agents"]))
        fetching = threading.Thread(target=a.store.ingest, args=(papers,), kwargs=dict(source="hf_daily", digest_day="2026-06-12"))
        fetching.start()
        assert storing.wait(30)
        planning = threading.Thread(target=plan_batch, args=(b, b.store.list_subscribers(ids=[sub.id])))
        planning.start()
        with a.store.engine.connect() as conn:
            wait_for(lambda: not planning.is_alive() or conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()").scalar(), 20, "the planning worker to finish or wait")
        release.set()
        fetching.join(30), planning.join(30)
        (digest,) = b.store.deliveries()
        assert digest.state == "pending" and len(json.loads(digest.items)) > 0


def test_config_subscribers_synced_by_two_workers_at_once_are_added_once_without_error(postgres_url):
    from notifier.store import Subscriber

    store = Store(postgres_url)
    wanted = new_subscriber(address="ann@example.org", keywords=["agents"], origin="config")
    got = lose_race(postgres_url, Subscriber(address="ann@example.org", channel="email", profile='["agents"]'),
                    lambda: store.upsert_subscribers([written(wanted)], ("profile", "origin")))
    assert got == (0, 1, 0)                              # added by the other worker: updated here
    assert [(s.address, s.origin) for s in store.list_subscribers()] == [("ann@example.org", "config")]
    store.close()


def test_a_vote_given_twice_at_once_is_stored_once_without_error(postgres_url):
    """Two web processes (or a double click on a Slack button) record the same first vote."""
    from notifier.models import Paper
    from notifier.store import Vote

    store = Store(postgres_url)
    sub = store.add_subscriber(new_subscriber(address="ann@example.org", keywords=["agents"]))
    store.ingest([Paper(arxiv_id="2606.13681", title="Agents in the arena")], source="arxiv:cs.AI", digest_day="2026-06-12")
    got = lose_race(postgres_url, Vote(subscriber_id=sub.id, paper_id="2606.13681", vote=1),
                    lambda: store.set_vote(sub.id, "2606.13681", -1))
    assert got is None                                   # no error: the other's row, now changed
    assert store.votes(sub.id) == [("2606.13681", -1)]
    store.close()


def test_workers_starting_at_once_on_a_new_database_all_start(postgres_url, monkeypatch):
    """One migrates while the other waits for it, instead of both creating the same tables (the
    second failed with 'duplicate key value violates unique constraint "pg_type_typname_nsp_index"')."""
    from sqlalchemy import create_engine

    from notifier.store.migrations import MIGRATIONS, SCHEMA_VERSION

    last, reached, go, out = MIGRATIONS[SCHEMA_VERSION], threading.Event(), threading.Event(), []
    monkeypatch.setitem(MIGRATIONS, SCHEMA_VERSION, lambda conn: (last(conn), reached.set(), go.wait(30)))

    def start_worker():
        try:
            out.append(Store(postgres_url).schema_version())
        except Exception as err:          # noqa: BLE001  (asserted on by the test)
            out.append(err)
    first, second = threading.Thread(target=start_worker), threading.Thread(target=start_worker)
    first.start()
    assert reached.wait(30), "the first worker never reached its last migration"
    second.start()
    watcher = create_engine(postgres_url, isolation_level="AUTOCOMMIT")   # pg_stat_activity is read once a transaction
    with watcher.connect() as conn:
        wait_for(lambda: conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()").scalar(), 20, "the second worker to wait")
    watcher.dispose()
    go.set()
    first.join(30)
    second.join(30)
    assert out == [SCHEMA_VERSION, SCHEMA_VERSION]


# ----------------------------------------------------------------------------- fetching
def test_a_worker_that_waited_for_another_fetching_the_same_day_does_not_fetch_it_again(tmp_path, postgres_url):
    config = Config()
    config.general.state_dir = str(tmp_path)
    config.database.url = postgres_url
    config.sources.hf_daily.base_url = "http://127.0.0.1:9"       # fetching for real would fail
    config.sources.max_attempts = 1
    day, since = date(2026, 6, 12), datetime.now(timezone.utc)
    with open_context(config) as first, open_context(config) as second:
        out = {}
        with first.store.fetch_claim("hf_daily", day.isoformat()):
            waiting = threading.Thread(target=lambda: out.update(report=fetch_claimed(second, "hf_daily", day, since)))
            waiting.start()
            with first.store.engine.connect() as conn:
                wait_for(lambda: conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()").scalar(), 20, "the second worker to wait")
            run_id = first.store.start_fetch("hf_daily", day.isoformat())
            first.store.finish_fetch(run_id, outcome="ok", http_status=200, found=3, new=3)
        waiting.join(20)
        assert (out["report"].outcome, out["report"].error) == ("skipped", "fetched by another worker meanwhile")
        assert [r.outcome for r in fetch_runs(first.store)] == ["ok"]


def test_a_fetch_left_running_by_a_dead_worker_is_closed_by_the_next_fetch_of_that_day(tmp_path, any_url):
    config = Config()
    config.general.state_dir = str(tmp_path)
    config.database.url = any_url
    config.sources.hf_daily.base_url = "http://127.0.0.1:9"
    config.sources.max_attempts = 1
    day = date(2026, 6, 12)
    with open_context(config) as ctx:
        ctx.store.start_fetch("hf_daily", day.isoformat())           # the worker died here
        report = fetch_claimed(ctx, "hf_daily", day, datetime.now(timezone.utc))
        runs = fetch_runs(ctx.store)
    assert report.outcome == "failed"                                 # port 9: nothing listens
    assert [(r.outcome, r.error) for r in runs][0] == ("failed", "interrupted: the fetching process died")
    assert not any(r.outcome == "running" for r in runs)


def fetch_runs(store: Store) -> list[FetchRun]:
    from sqlmodel import select

    with store.session() as s:
        return list(s.exec(select(FetchRun).order_by(FetchRun.id)))


# ----------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("value", [0, 2, 86401])
def test_a_lease_outside_its_range_is_a_one_line_config_error(tmp_path, value):
    path = tmp_path / "config.toml"
    path.write_text(f"[delivery]\nlease_seconds = {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == (f"{path}: line 2: 'delivery.lease_seconds' must be between 3 and 86400 (how long a dead "
                              f"worker's digest waits to be taken over), not {value}")


# ----------------------------------------------------------------------------- three real workers
N_SUBSCRIBERS = 2000
KILL_AFTER = 400            # messages received before a worker is killed while it is sending


def workers_config(url: str, folder, smtp_port: int, n: int, lease_seconds: int = 3) -> str:
    """n config subscribers (every worker syncs them at start), mail to a local SMTP sink."""
    lines = [f'[database]\nurl = "{url}"\n', "[sources.hf_daily]\nenabled = false\n",
             f'[email]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
             'from = "Paper digest <digest@example.org>"\ntimeout_seconds = 10\n',
             '[schedule]\ntime = "00:00"\ntimezone = "UTC"\n', f"[delivery]\nlease_seconds = {lease_seconds}\n"]
    lines += [f'[[subscribers]]\nemail = "reader{i:04d}@example.org"\nkeywords = \'agents\'\ntime = "00:00"\n'
              for i in range(n)]
    path = folder / "config.toml"
    path.write_text("\n".join(lines))
    return str(path)


def start_workers(config: str, folder, count: int) -> list[subprocess.Popen]:
    """`notifier run --all` x count, each with a state folder (and local lock) of its own."""
    procs = []
    for i in range(count):
        env = dict(os.environ, NOTIFIER_STATE_DIR=str(folder / f"worker{i}"))
        for name in ("JOURNAL_STREAM", "NOTIFIER_CONFIG", "NOTIFIER_DATABASE_URL"):
            env.pop(name, None)
        with open(folder / f"worker{i}.log", "wb") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "notifier", "--config", config, "run", "--all"],
                                          stdout=log, stderr=subprocess.STDOUT, env=env))
    return procs


def plan_everyone(config_path: str) -> None:
    """Every config subscriber's digest of today, planned up front as a planning pass leaves them
    (one matched for real, its papers copied to the rest, in one transaction): what the workers
    then race for is the sending. Matching 2,000 subscribers one by one would take minutes here."""
    from notifier.planning import plan
    from notifier.store import DeliveryPaper

    with open_context(load_config(config_path, env={})) as ctx:       # also applies the subscribers
        first, *rest = ctx.store.list_subscribers()
        model = plan(ctx, first)
        rows = [Delivery(key=delivery_key(sub.id, model.digest_day), subscriber_id=sub.id, digest_day=model.digest_day,
                         items=model.items, meta=model.meta, created_at=model.created_at) for sub in rest]
        with ctx.store.session() as s:
            s.add_all(rows)
            s.flush()
            s.add_all(DeliveryPaper(delivery_id=d.id, paper_id=item["id"], subscriber_id=d.subscriber_id)
                      for d in rows for item in json.loads(d.items))


def one_sending(url: str, procs: list[subprocess.Popen]) -> subprocess.Popen | None:
    """A worker with a digest claimed (`sending`) right now, if any."""
    store = Store(url)
    try:
        claimed = {d.worker for d in store.deliveries(states=("sending",)) if d.worker}
    finally:
        store.close()
    return next((p for p in procs if any(f":{p.pid}:" in w for w in claimed)), None)


@pytest.mark.timeout(300)        # about a minute on an idle 2-core machine; shared CI machines are slower
def test_three_workers_one_killed_mid_batch_send_every_digest_once(tmp_path, postgres_url):
    server = SMTPServer().start()
    try:
        config = workers_config(postgres_url, tmp_path, server.port, N_SUBSCRIBERS)
        ingest(postgres_url)
        plan_everyone(config)
        started = time.monotonic()
        procs = start_workers(config, tmp_path, 3)
        victim = wait_for(lambda: len(server.handler.snapshot()) >= KILL_AFTER and one_sending(postgres_url, procs),
                          120, "a worker sending, mid-batch", poll=0.005)   # not always worker 0: one slow to
        victim.send_signal(signal.SIGKILL)                                  # start found the batch sent (CI)
        for p in procs:
            p.wait(120)
        outputs = [(tmp_path / f"worker{i}.log").read_text() for i in range(len(procs))]
        elapsed = time.monotonic() - started
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        server.stop()

    messages = server.handler.snapshot()
    ids = server.handler.per_recipient()
    copies = Counter(m["To"] for m in messages)
    store = Store(postgres_url)
    rows = store.deliveries()
    runs = fetch_runs(store)
    store.close()
    print(f"\nWORKERS 3 workers, {N_SUBSCRIBERS} subscribers, worker {procs.index(victim)} killed after {KILL_AFTER} messages: "
          f"{len(messages)} messages, {sum(c > 1 for c in copies.values())} twice, "
          f"exit codes {[p.returncode for p in procs]}, {elapsed:.1f} s")
    assert len(ids) == N_SUBSCRIBERS                                   # everyone got their digest ...
    assert all(len(v) == 1 for v in ids.values())                      # ... one Message-ID each
    assert len(messages) - N_SUBSCRIBERS <= 1                          # at most the one in flight, twice
    assert Counter(d.state for d in rows) == {"sent": N_SUBSCRIBERS}   # nothing stuck, nothing lost
    assert not any(r.outcome == "running" for r in runs)
    assert victim.returncode == -signal.SIGKILL
    for p, out in zip(procs, outputs):                                # the survivors finished cleanly
        if p is victim:
            continue
        assert p.returncode == 0, out[-2000:]
        assert "Traceback" not in out and "error" not in out.lower(), out[-2000:]


@pytest.mark.timeout(300)
def test_a_digest_waiting_for_a_retry_fails_the_run_of_the_worker_that_tried_it_alone(tmp_path, postgres_url):
    """Two `notifier run` timers on one database at once: the worker whose send got a 451 exits 3
    and says so; the other, whose digests all went out, exits 0 (its box's unit is not failed)."""
    server = SMTPServer().start()
    server.handler.rcpt_replies = {"reader0007@example.org": ["451 4.3.0 Try again later"]}
    try:
        config = workers_config(postgres_url, tmp_path, server.port, 300, lease_seconds=60)
        ingest(postgres_url)
        plan_everyone(config)
        procs = start_workers(config, tmp_path, 2)
        codes = [p.wait(120) for p in procs]
        outputs = [(tmp_path / f"worker{i}.log").read_text() for i in range(len(procs))]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        server.stop()
    sent = [out.count(": sent, ") for out in outputs]
    print(f"\nWORKERS 2 workers, 300 digests: exit codes {codes}, sent {sent}")
    assert sorted(codes) == [0, 3], outputs
    tried, other = outputs[codes.index(3)], outputs[codes.index(0)]
    assert "deliver reader0007@example.org: retry, " in tried
    assert tried.splitlines()[-1].startswith("not delivered: 1 waiting for a retry (next try ")
    assert "reader0007" not in other and "not delivered" not in other
    assert sum(sent) == 299 and len(server.handler.snapshot()) == 299


def test_an_alert_raised_by_two_workers_at_once_is_recorded_once_without_error(postgres_url):
    from notifier.store import Alert

    store = Store(postgres_url)
    text = "source hf_daily has not been fetched successfully for 24 hours"
    got = lose_race(postgres_url, Alert(key="source:hf_daily", text=text),
                    lambda: store.raise_alert("source:hf_daily", text))
    assert got is False                                  # raised by the other worker: not raised again here
    assert [a.text for a in store.unsent_alerts()] == [text]
    store.close()


def claimed_by_a_live_worker(postgres_url, monkeypatch):
    """(another worker's store, a digest it claimed for a day, the simulated clock a wait moves)."""
    other = Store(postgres_url)
    d = one_pending(other)
    assert other.claim(d.id, lease=timedelta(days=1)) is not None      # a live worker, busy with it all along
    clock = [0.0]                                                       # simulated: a wait moves it, nothing else
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    return other, d, clock


def test_a_run_waits_at_its_end_two_leases_at_most_while_a_live_worker_holds_a_claim(postgres_url, tmp_path, monkeypatch):
    from notifier.recovery import finish_claimed

    other, d, clock = claimed_by_a_live_worker(postgres_url, monkeypatch)
    with worker_context(postgres_url, tmp_path, lease_seconds=60) as ctx:
        assert finish_claimed(ctx) == []
        [row] = ctx.store.deliveries()
    other.close()
    assert row.state == "sending" and row.worker == other.worker        # left to its live worker
    assert 120 <= clock[0] <= 121                                       # two leases of 60 s, then the run ends


def test_a_run_waiting_for_another_workers_claim_logs_what_it_waits_for_and_that_it_stopped(postgres_url, tmp_path,
                                                                                             monkeypatch, caplog):
    """A timer run could wait 10 minutes at its end without a word on what for."""
    from notifier.recovery import finish_claimed

    other, d, clock = claimed_by_a_live_worker(postgres_url, monkeypatch)
    with worker_context(postgres_url, tmp_path, lease_seconds=60) as ctx, caplog.at_level("INFO", "notifier.pipeline"):
        finish_claimed(ctx)
    other.close()
    said = [(r.levelname, r.getMessage(), r.ctx) for r in caplog.records if "waiting" in r.getMessage()]
    claim = {"digests": 1, "keys": d.key, "workers": other.worker}
    assert said == [("INFO", "waiting for digests other workers are sending", {**claim, "at_most": "120 s"}),
                    ("WARNING", "stopped waiting: digests still claimed by other workers", claim)]


def test_a_run_whose_digests_another_worker_sent_says_so(postgres_url, tmp_path, monkeypatch, capsys):
    """Two timers at once on one database: the run that found everything sent said "no digest to
    send", as if nothing had matched."""
    from freezegun import freeze_time

    from notifier.cli import main

    other = Store(postgres_url)
    with freeze_time(T0):
        for address in ("ann@example.org", "bob@example.org"):
            d = one_pending(other, address)
            other.claim(d.id)
            other.record(d.id, "sent")
        monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("NOTIFIER_DATABASE_URL", postgres_url)
        monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
        config = tmp_path / "offline.toml"
        config.write_text("[sources.hf_daily]\nenabled = false\n")
        assert main(["--config", str(config), "run", "--all"]) == 0
    other.close()
    assert capsys.readouterr().out == "no digest to send: 2 already sent by another worker\n"


def waiting(url: str) -> list[Delivery]:
    store = Store(url)
    try:
        return store.deliveries(states=("pending", "sending", "retry"))
    finally:
        store.close()


def test_two_daemons_started_at_the_same_second_on_a_new_day_send_each_digest_once(tmp_path, postgres_url):
    """Two `notifier serve` on one PostgreSQL database, started together with 30 digests due and
    none planned: their start-up sweeps plan and send the same batch at once; each subscriber gets
    one message, neither daemon logs a failed job, and both stop cleanly."""
    server = SMTPServer(delay=0.01).start()
    try:
        config = workers_config(postgres_url, tmp_path, server.port, 30)
        ingest(postgres_url)
        procs = []
        for i in range(2):
            env = dict(os.environ, NOTIFIER_STATE_DIR=str(tmp_path / f"worker{i}"))
            for name in ("JOURNAL_STREAM", "NOTIFIER_CONFIG", "NOTIFIER_DATABASE_URL"):
                env.pop(name, None)
            with open(tmp_path / f"daemon{i}.log", "wb") as log:
                procs.append(subprocess.Popen([sys.executable, "-m", "notifier", "--config", config, "serve"],
                                              stdout=log, stderr=subprocess.STDOUT, env=env))
        try:
            wait_for(lambda: len(server.handler.per_recipient()) == 30, 120, "every digest sent", poll=0.1)
            wait_for(lambda: not waiting(postgres_url), 60, "nothing left to send", poll=0.1)
        finally:
            for p in procs:
                p.terminate()
            codes = [p.wait(60) for p in procs]
        per_recipient = server.handler.per_recipient()
        assert len(server.handler.snapshot()) == 30 and all(len(ids) == 1 for ids in per_recipient.values())
        logs = [(tmp_path / f"daemon{i}.log").read_text() for i in range(2)]
        assert codes == [0, 0] and not [ln for log in logs for ln in log.splitlines() if "job failed" in ln], logs
    finally:
        server.stop()
