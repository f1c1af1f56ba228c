"""`notifier subscribers import` of a backup: nothing is imported while a row is bad, and every bad
row is named in that one refusal (so one pass over the file fixes it); and the import reads of the
stored subscribers only those it needs."""
import json

from sqlalchemy import event

from notifier.store import Store, Subscriber


def backup_with_stored_profiles_that_no_longer_read(cli, store, path):
    """Three subscribers exported, two with a profile a newer version reads more strictly."""
    for address in ("ada@example.org", "bob@example.org", "cy@example.org"):
        assert cli("subscribe", address, "-k", "agents")[0] == 0
    store.update_subscriber(1, profile=json.dumps(["+-mamba", "agents"]))
    store.update_subscriber(3, profile=json.dumps(["title:title:moe", "-x, -y"]))
    assert cli("subscribers", "export", str(path))[0] == 0


def test_import_names_every_bad_profile_of_every_row_at_once(cli, store, tmp_path):
    backup = tmp_path / "backup.jsonl"
    backup_with_stored_profiles_that_no_longer_read(cli, store, backup)
    code, _, err = cli("subscribers", "import", str(backup))
    assert (code, err.splitlines()) == (1, [
        f"notifier: error: {backup}: line 1: profile '+-mamba': two operators in term '+-mamba': use one, + (required) "
        "or - (excluded)",
        f"{backup}: line 3: profile 'title:title:moe': two fields in term 'title:title:moe': use one, title: or author:; "
        "profile '-x, -y': profile has only exclusions (-x): add a term to look for",
        f"{backup}: nothing imported (2 bad lines)"])


def test_import_names_rows_the_config_file_declares_with_the_bad_rows(cli, store, tmp_path):
    """Those were named only once every other row was good: a second pass over the file."""
    config = tmp_path / "c.toml"
    config.write_text("[[subscribers]]\nemail = 'dee@example.org'\nkeywords = 'from the file'\n")
    rows = [{"address": "dee@example.org", "profiles": ["changed"]}, {"address": "eve@example.org", "profiles": ["a,,b"]}]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code, _, err = cli("--config", str(config), "subscribers", "import", str(path))
    assert (code, err.splitlines()) == (1, [
        f"notifier: error: {path}: line 1: 'dee@example.org' is declared in the config file; change it there",
        f"{path}: line 2: profile 'a,,b': empty term after 'a': remove the extra comma",
        f"{path}: nothing imported (2 bad lines)"])


def test_import_reads_only_the_stored_subscribers_its_rows_name(cli, db_url, tmp_path):
    """It read every stored subscriber to find the few the config file declares: 10,000 for a
    file of two rows."""
    config = tmp_path / "c.toml"
    config.write_text("[[subscribers]]\nemail = 'dee@example.org'\nkeywords = 'from the file'\n")
    cli("--config", str(config), "subscribers")                     # applies the file: dee is stored
    store = Store(db_url)
    store.upsert_subscribers([{"address": f"u{i}@example.org", "name": "", "channel": "email", "profile": '["x"]',
                               "timezone": "UTC", "delivery_time": "07:30", "frequency": "daily", "weekday": None,
                               "max_items": None, "threshold": None, "origin": "cli", "active": None, "paused": None}
                              for i in range(300)], ())
    store.close()
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"address": "dee@example.org", "profiles": ["from the file"]}) + "\n"
                    + json.dumps({"address": "new@example.org", "profiles": ["moe"]}) + "\n")
    loaded = []

    def read(sub, _context):
        loaded.append(sub.address)
    event.listen(Subscriber, "load", read)
    try:
        code, out, err = cli("--config", str(config), "subscribers", "import", str(path))
    finally:
        event.remove(Subscriber, "load", read)
    assert (code, out, err) == (0, f"imported {path}: 1 added, 0 updated, 1 unchanged\n", "")
    assert len(loaded) < 10, f"{len(loaded)} stored subscribers read"


def test_a_backup_imported_onto_its_own_database_keeps_profiles_only_a_newer_check_refuses(cli, store, tmp_path):
    """'moe OR rag' was stored before profiles were checked for joined terms: its digests read it,
    `notifier edit` keeps it, but importing the export back was refused for it. A new address with
    that profile, or another address's, is still refused."""
    assert cli("subscribe", "ada@example.org", "-k", "agents")[0] == 0
    store.update_subscriber(1, profile=json.dumps(["moe OR rag", "agents"]))
    backup = tmp_path / "backup.jsonl"
    assert cli("subscribers", "export", str(backup))[0] == 0
    assert cli("subscribers", "import", str(backup)) == (0, f"imported {backup}: 0 added, 0 updated, 1 unchanged\n", "")
    row = json.loads(backup.read_text())
    backup.write_text(json.dumps(row | {"address": "ADA@example.org", "time": "08:00"}) + "\n"
                      + json.dumps(row | {"address": "bob@example.org"}) + "\n")
    code, _, err = cli("subscribers", "import", str(backup))
    assert (code, err.splitlines()) == (1, [
        f"notifier: error: {backup}: line 2: profile 'moe OR rag': term 'moe OR rag' joins terms with 'OR': "
        "separate them with commas, e.g. moe, rag",
        f"{backup}: nothing imported (1 bad line)"])
    backup.write_text(json.dumps(row | {"address": "ADA@example.org", "time": "08:00"}) + "\n")
    assert cli("subscribers", "import", str(backup))[0] == 0
    assert store.find_subscriber(1).delivery_time == "08:00"
