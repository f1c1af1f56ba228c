"""One person is one subscriber, and a lookup finds the subscriber meant: an exact address wins
over a name, an ambiguous name is an error listing the candidates."""
import json
import sqlite3

import pytest

from notifier.cli import main
from notifier.store import Store, Subscriber


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    monkeypatch.delenv("NOTIFIER_DATABASE_URL", raising=False)

    def run(*argv):
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run


def listed(cli) -> list[tuple[str, bool]]:
    _, out, _ = cli("subscribers", "--all", "--json")
    return [(s["address"], s["active"]) for s in map(json.loads, out.splitlines())]


def test_unsubscribing_an_address_never_hits_a_subscriber_named_like_it(cli):
    cli("subscribe", "x1@example.org", "-k", "x", "--name", "y1@example.org")
    cli("subscribe", "y1@example.org", "-k", "y")
    assert cli("unsubscribe", "y1@example.org") == (0, "unsubscribed y1@example.org\n", "")
    assert listed(cli) == [("x1@example.org", True), ("y1@example.org", False)]


@pytest.mark.parametrize("command", [["edit", "--max-items", "3"], ["preview"], ["unsubscribe"]])
def test_exact_address_wins_over_a_name_in_edit_preview_and_unsubscribe(cli, command):
    cli("subscribe", "x1@example.org", "-k", "x", "--name", "y1@example.org")
    cli("subscribe", "y1@example.org", "-k", "y")
    code, out, err = cli(command[0], "y1@example.org", *command[1:])
    assert code == 0, err
    assert "x1@example.org" not in out
    _, subs, _ = cli("subscribers", "--all", "--json")
    x1 = json.loads(subs.splitlines()[0])
    assert (x1["address"], x1["active"], x1["max_items"]) == ("x1@example.org", True, None)


def test_a_name_shared_by_two_subscribers_is_an_error_listing_them(cli):
    cli("subscribe", "ada@example.org", "-k", "x", "--name", "Ada")
    cli("subscribe", "#ada-papers", "-k", "y", "--name", "Ada")
    for command in (["unsubscribe", "Ada"], ["edit", "Ada", "--pause"], ["preview", "Ada"],
                    ["run", "--subscriber", "Ada", "--dry-run"]):
        code, _, err = cli(*command) if command[0] != "run" else run_offline(cli, command)
        assert (code, err) == (1, "notifier: error: 'Ada' is the name of 2 subscribers: ada@example.org (id 1), "
                                  "#ada-papers (id 2); use the address or id\n"), command
    assert listed(cli) == [("ada@example.org", True), ("#ada-papers", True)]
    assert cli("unsubscribe", "2")[0] == 0 and listed(cli) == [("ada@example.org", True), ("#ada-papers", False)]


def run_offline(cli, command):
    """`notifier run` with every source off, so it reaches the subscriber lookup without network."""
    import os
    path = os.path.join(os.environ["NOTIFIER_STATE_DIR"], "offline.toml")
    with open(path, "w") as fh:
        fh.write("[sources.hf_daily]\nenabled = false\n")
    return cli("--config", path, *command)


def test_a_unique_name_still_finds_its_subscriber(cli):
    cli("subscribe", "ada@example.org", "-k", "x", "--name", "Ada")
    assert cli("unsubscribe", "Ada") == (0, "unsubscribed ada@example.org\n", "")


def test_email_addresses_differing_only_in_case_are_one_subscriber(cli):
    assert cli("subscribe", "B8@EXAMPLE.ORG", "-k", "x")[0] == 0
    code, _, err = cli("subscribe", "b8@example.org", "-k", "y")
    assert (code, err) == (1, "notifier: error: a subscriber with address 'b8@example.org' already exists: "
                              "`notifier edit b8@example.org --keywords TEXT` changes their profile\n")
    assert listed(cli) == [("b8@example.org", True)]
    assert cli("unsubscribe", "B8@Example.Org") == (0, "unsubscribed b8@example.org\n", "")


def test_slack_user_id_with_and_without_at_is_one_subscriber(cli):
    assert cli("subscribe", "@U12345678", "-k", "x")[0] == 0
    code, _, err = cli("subscribe", "U12345678", "-k", "y")
    assert code == 1 and "a subscriber with address 'U12345678' already exists" in err
    assert listed(cli) == [("U12345678", True)]
    assert cli("edit", "@U12345678", "--max-items", "4")[0] == 0


def test_a_slack_channel_name_in_any_case_is_the_one_channel(cli):
    """Slack's channel names are lower case: #General was refused as no Slack target, and looking
    up #Papers did not find #papers."""
    assert cli("subscribe", "#Papers", "-k", "x") == (0, "subscribed #papers (slack, daily at 07:30 UTC)\n", "")
    code, _, err = cli("subscribe", "#papers", "-k", "y")
    assert code == 1 and "a subscriber with address '#papers' already exists" in err
    assert cli("edit", "#PAPERS", "--max-items", "4") == (0, "updated #papers: max-items default -> 4\n", "")
    assert listed(cli) == [("#papers", True)]


def test_an_email_address_in_another_case_finds_its_subscriber_in_every_command(cli):
    """Guard: the whole address is compared in lower case (subscribers.canonical_address says why)."""
    cli("subscribe", "ada@example.org", "-k", "x")
    assert cli("edit", "Ada@Example.ORG", "--pause") == (
        0, "paused ada@example.org: their digests wait until `notifier edit ada@example.org --resume`\n", "")
    assert cli("unsubscribe", "ADA@example.org") == (0, "unsubscribed ada@example.org\n", "")
    assert cli("subscribe", "Ada@EXAMPLE.org")[0] == 0
    assert listed(cli) == [("ada@example.org", True)]


def test_migration_canonicalises_addresses_and_keeps_duplicates(tmp_path, caplog):
    """A database from before canonical addresses (schema 2): rows are rewritten unless the
    canonical address is already someone's, in which case both are kept and a warning names them."""
    path = tmp_path / "v2.sqlite"
    store = Store(f"sqlite:///{path}")
    for address, channel in [("Ada@Example.org", "email"), ("@U12345678", "slack"), ("B8@EXAMPLE.ORG", "email"),
                             ("b8@example.org", "email"), ("#papers", "slack")]:
        store.add_subscriber(Subscriber(channel=channel, address=address, profile='["x"]'))
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM schema_version WHERE version > 2")
    conn.close()
    again = Store(f"sqlite:///{path}")
    assert [s.address for s in again.list_subscribers()] == [
        "ada@example.org", "U12345678", "B8@EXAMPLE.ORG", "b8@example.org", "#papers"]
    [warning] = [r for r in caplog.records if r.message == "duplicate subscriber kept"]
    assert warning.ctx == {"id": 3, "address": "B8@EXAMPLE.ORG", "same_as": "b8@example.org"}
    assert again.find_subscriber("b8@example.org").id == 4
    again.close()


@pytest.mark.parametrize("typed, said", [
    ("ada@exmaple.org", "no subscriber 'ada@exmaple.org' (did you mean ada@example.org?)"),
    ("bob", "no subscriber 'bob' (did you mean bob@example.org?)"),
    ("#llm-paper", "no subscriber '#llm-paper' (did you mean '#llm-papers'?)"),
    ("Ada Lovelce", "no subscriber 'Ada Lovelce' (did you mean ada@example.org?)"),
    ("ada lovelace", "no subscriber 'ada lovelace' (did you mean ada@example.org?)"),
    ("zed", "no subscriber 'zed' (see `notifier subscribers`)"),
    ("dan@example.org", "no subscriber 'dan@example.org' (see `notifier subscribers`)"),   # only the domain is shared
    ("cy", "no subscriber 'cy' (see `notifier subscribers`)"),        # two cy@: no guess
], ids=["address_typo", "before_the_at", "channel_typo", "name_typo", "name_case", "nothing_near", "same_domain", "two_near"])
def test_a_subscriber_typed_nearly_right_is_offered_the_one_meant(cli, typed, said):
    for address, name in [("ada@example.org", "Ada Lovelace"), ("bob@example.org", ""), ("#llm-papers", ""),
                          ("cy@example.org", ""), ("cy@example.com", "")]:
        cli("subscribe", address, "-k", "x", "--name", name)
    assert cli("edit", typed, "--max-items", "3") == (1, "", f"notifier: error: {said}\n")
