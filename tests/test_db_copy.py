"""`notifier db copy --to URL`: a SQLite database moved to PostgreSQL (the throwaway cluster of
tests/pg.py) or to another SQLite file keeps every paper, subscriber and delivery, and the target
goes on working (new ids do not collide with copied ones)."""
import json
import os
import re

import pytest

from notifier.outbox import FetchState
from notifier.store import Store, Subscriber
from notifier.store.engine import WAL_LIMIT_BYTES

TARGETS = ["postgres", "sqlite"]


@pytest.fixture
def source(cli, tmp_path, monkeypatch) -> str:
    """A database as a real service leaves it: the demo's papers, sightings, subscribers, sent
    deliveries and fetch runs, plus an operator alert."""
    assert cli("demo", "--dir", str(tmp_path / "demo"))[0] == 0
    url = f"sqlite:///{tmp_path / 'demo' / 'notifier-demo.sqlite'}"
    store = Store(url)
    store.raise_alert("source:hf_daily", "hf_daily failing for 24 h")
    store.close()
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", url)
    return url


@pytest.fixture(params=TARGETS)
def target(request, tmp_path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'target.sqlite'}"


def snapshot(url: str) -> dict:
    store = Store(url)
    try:
        subs = store.list_subscribers(active_only=False)
        papers = store.get_papers(p.arxiv_id for p in store.recent_papers())
        return {
            "subscribers": [(s.id, s.address, s.profile, s.created_at) for s in subs],
            "deliveries": [(d.id, d.key, d.state, json.loads(d.items), d.sent_at) for d in store.deliveries()],
            "delivered": {s.id: store.taken_papers([s.id]).get(s.id, set()) for s in subs},
            "papers": {pid: (p.title, p.authors, p.upvotes) for pid, p in papers.items()},
            "sightings": {pid: store.sightings(pid) for pid in papers},
            "fetches": [(f.source, f.digest_day, f.outcome, f.found) for f in
                        [store.last_fetch(src) for src in store.fetch_sources()]],
            "alerts": [(a.key, a.text) for a in store.unsent_alerts()],
        }
    finally:
        store.close()


def test_copy_keeps_everything_and_prints_checked_counts(cli, source, target):
    before = snapshot(source)
    code, out, err = cli("db", "copy", "--to", target)
    assert code == 0, err
    assert snapshot(target) == before
    assert before["deliveries"] and before["delivered"] and before["alerts"]
    counts = dict(line.split()[:2] for line in out.splitlines()[:-1])
    assert counts["paper"] == str(len(before["papers"])) == "30"
    assert counts["subscriber"] == "2" and counts["delivery"] == str(len(before["deliveries"]))
    assert out.splitlines()[-1].endswith("counts checked table by table")


def test_the_copied_database_takes_new_rows_after_the_copied_ones(cli, source, target):
    assert cli("db", "copy", "--to", target)[0] == 0
    store = Store(target)
    try:
        sub = store.add_subscriber(Subscriber(channel="email", address="new@example.org", profile='["agents"]'))
        planned = store.plan_delivery(subscriber_id=sub.id, digest_day="2030-01-01",
                                      items=[{"id": next(iter(snapshot(source)["papers"]))}], meta={})
        assert sub.id == 3 and planned.id == len(snapshot(source)["deliveries"]) + 1
    finally:
        store.close()


def test_a_target_holding_data_is_refused_unless_forced(cli, source, target):
    other = Store(target)
    other.add_subscriber(Subscriber(channel="email", address="someone@example.org", profile="[]"))
    other.close()
    code, _, err = cli("db", "copy", "--to", target)
    assert code == 1 and err.startswith("notifier: error: ") and len(err.splitlines()) == 1
    assert "already holds data (subscriber); copy into an empty database, or replace its contents with --force" in err
    assert [s[1] for s in snapshot(target)["subscribers"]] == ["someone@example.org"]
    assert cli("db", "copy", "--to", target, "--force")[0] == 0
    assert snapshot(target) == snapshot(source)


def test_copy_onto_itself_is_refused(cli, source):
    assert cli("db", "copy", "--to", source)[2] == (
        "notifier: error: --to is the configured database itself; name another one\n")


def test_copy_onto_itself_under_another_name_is_refused_at_once(cli, source, tmp_path):
    """It waited 30 s on its own lock, then said the database was locked by another process."""
    (tmp_path / "link.sqlite").symlink_to(tmp_path / "demo" / "notifier-demo.sqlite")
    before = snapshot(source)
    for other in (f"sqlite:///{tmp_path}/demo/./notifier-demo.sqlite", f"sqlite:///{tmp_path / 'link.sqlite'}"):
        assert cli("db", "copy", "--to", other, "--force")[2] == (
            "notifier: error: --to is the configured database itself; name another one\n")
    assert snapshot(source) == before


def test_a_sqlite_target_in_a_folder_that_does_not_exist_is_refused_and_no_folder_is_made(cli, source, tmp_path):
    target = tmp_path / "typo" / "deep" / "copy.sqlite"
    assert cli("db", "copy", "--to", f"sqlite:///{target}") == (
        1, "", f"notifier: error: --to sqlite:///{target}: there is no folder {target.parent}; "
               "create it first, or name another file\n")
    assert not (tmp_path / "typo").exists()


def test_a_configured_sqlite_file_that_does_not_exist_is_refused_not_copied_as_an_empty_database(cli, tmp_path,
                                                                                                   monkeypatch):
    """Run without the service's --config, it made an empty database there and 'copied' 0 rows."""
    missing = tmp_path / "state" / "notifier.sqlite"
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{missing}")
    assert cli("db", "copy", "--to", f"sqlite:///{tmp_path / 'copy.sqlite'}") == (
        1, "", f"notifier: error: {missing}: no database there, nothing to copy; give the service's --config "
               "(or NOTIFIER_STATE_DIR)\n")
    assert not (tmp_path / "state").exists() and not (tmp_path / "copy.sqlite").exists()


def test_an_in_memory_target_is_refused_not_reported_copied(cli, source):
    assert cli("db", "copy", "--to", "sqlite:///:memory:") == (
        1, "", "notifier: error: --to sqlite:///:memory: is a database in memory, gone when this command ends; "
               "name a file\n")


def test_copy_shows_its_progress_on_a_terminal_and_nothing_on_a_pipe_or_under_ci(cli, source, tmp_path,
                                                                                   monkeypatch):
    """rich takes TTY_COMPATIBLE=1 for a terminal (it cannot tell one from a pipe otherwise here);
    CI systems set CI and often FORCE_COLOR, which rich also takes for a terminal."""
    monkeypatch.delenv("CI", raising=False)
    code, out, err = cli("db", "copy", "--to", f"sqlite:///{tmp_path / 'piped.sqlite'}")
    assert (code, err) == (0, "")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    code, out, err = cli("db", "copy", "--to", f"sqlite:///{tmp_path / 'shown.sqlite'}")
    total = out.splitlines()[-1].split(": ")[1].split()[0]
    assert code == 0 and f"{total}/{total} rows" in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err)    # colours off
    monkeypatch.setenv("CI", "true")
    assert cli("db", "copy", "--to", f"sqlite:///{tmp_path / 'ci.sqlite'}")[::2] == (0, "")


def test_a_percent_sign_in_a_sqlite_file_name_is_part_of_the_name(cli, source, tmp_path):
    """SQLAlchemy reads a URL's %41 as 'A': the copy went to pAb.sqlite, not the file named."""
    assert cli("db", "copy", "--to", f"sqlite:///{tmp_path / 'p%41b.sqlite'}")[0] == 0
    assert snapshot(f"sqlite:///{tmp_path / 'p%41b.sqlite'}") == snapshot(source)
    assert not (tmp_path / "pAb.sqlite").exists()


def test_a_copy_interrupted_half_way_keeps_nothing_and_running_it_again_copies_everything(cli, source, target):
    """Ctrl-C after the first batch of rows (`db copy` has no resume): the target is left as empty
    as it was, so the same command again needs no --force and copies it all."""
    def interrupted(table, done, total):
        raise KeyboardInterrupt

    before = snapshot(source)
    src, dst = Store(source), Store(target)
    try:
        with pytest.raises(KeyboardInterrupt):
            src.copy_to(dst, batch=10, progress=interrupted)
        assert dst.count_papers() == dst.count_subscribers(active_only=False) == 0
    finally:
        src.close()
        dst.close()
    code, _, err = cli("db", "copy", "--to", target)
    assert code == 0, err
    assert snapshot(target) == before


@pytest.fixture(params=["sqlite", "postgres"])
def served(request, source) -> str:
    """The database a running service writes to: the demo's, on SQLite or copied to PostgreSQL."""
    if request.param == "sqlite":
        return source
    url = request.getfixturevalue("postgres_url")
    src, dst = Store(source), Store(url)
    src.copy_to(dst)
    src.close()
    dst.close()
    return url


def test_a_service_writing_during_a_copy_is_not_held_up_and_the_copy_is_the_database_as_it_began(served, tmp_path):
    """The copy took the source's write lock: a running daemon could not record anything until it
    ended (SQLite: StoreBusy after 30 s), and on PostgreSQL a row committed meanwhile to a table
    not yet copied made the counts differ ("copy incomplete")."""
    src, dst, service = Store(served), Store(f"sqlite:///{tmp_path / 'copy.sqlite'}"), Store(served)
    started = []

    def service_fetches(table, done, total):          # after the first batch: fetch_run is not copied yet
        if not started:
            started.append(service.start_fetch("arxiv:cs.CL", "2026-08-04"))

    try:
        src.copy_to(dst, batch=10, progress=service_fetches)
        assert dst.last_fetch("arxiv:cs.CL", outcome=FetchState.RUNNING) is None
        assert service.last_fetch("arxiv:cs.CL", outcome=FetchState.RUNNING).id == started[0]
    finally:
        for store in (src, dst, service):
            store.close()


def test_the_write_ahead_log_a_service_grew_during_a_copy_shrinks_back_at_its_next_writes(source, tmp_path):
    """The copy's snapshot keeps SQLite from checkpointing what the service writes meanwhile; the
    -wal file then stayed at that size for as long as the service ran."""
    src, dst, service = Store(source), Store(f"sqlite:///{tmp_path / 'copy.sqlite'}"), Store(source)
    wal, grown = f"{src.path}-wal", []

    def service_writes(table, done, total):          # 10 MB, while the copy holds its snapshot
        if not grown:
            for n in range(100):
                service.put_setting(f"big:{n}", "x" * 100_000)
            grown.append(os.path.getsize(wal))

    try:
        src.copy_to(dst, progress=service_writes)
        service.put_setting("after", "1")          # checkpoints the log: nobody reads the old frames now
        service.put_setting("after", "2")          # starts it over
        assert grown[0] > 2 * WAL_LIMIT_BYTES and os.path.getsize(wal) <= WAL_LIMIT_BYTES
    finally:
        for store in (src, dst, service):
            store.close()
