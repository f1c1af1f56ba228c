"""What the subscriber commands print about a subscriber: a command they suggest can be pasted into
a shell as it is, and an incoming webhook URL (whoever has it can post to the channel) is never
printed, but where it must be whole: `subscribers export`, which imports back."""
import json
import re
import shlex

import pytest

WEBHOOK = "https://hooks.slack.com/services/T0000/B0000/SECRETxyz123"
SECRET = "SECRETxyz123"


def suggested(text: str) -> list[str]:
    """The commands a text suggests (between backticks), as a shell splits them, without 'notifier'."""
    return [shlex.split(command)[1:] for command in re.findall(r"`(notifier [^`]*)`", text)]


def test_a_paused_address_with_a_quote_gets_a_resume_command_that_pastes_into_a_shell(cli):
    assert cli("subscribe", "o'neil@example.org", "-k", "agents")[0] == 0
    code, out, _ = cli("edit", "o'neil@example.org", "--pause")
    assert (code, suggested(out)) == (0, [["edit", "o'neil@example.org", "--resume"]])
    _, _, err = cli("preview", "o'neil@example.org")
    assert suggested(err.splitlines()[-1]) == [["edit", "o'neil@example.org", "--resume"]]
    assert cli(*suggested(out)[0]) == (0, "resumed o'neil@example.org\n", "")


def test_an_unsubscribed_address_with_a_quote_gets_a_subscribe_command_that_brings_them_back(cli):
    cli("subscribe", "o'neil@example.org", "-k", "agents")
    cli("unsubscribe", "o'neil@example.org")
    code, _, err = cli("edit", "o'neil@example.org", "--max-items", "4")
    assert (code, suggested(err)) == (1, [["subscribe", "o'neil@example.org"]])
    assert cli(*suggested(err)[0])[0] == 0


def test_subscribing_an_address_again_suggests_an_edit_that_pastes_into_a_shell(cli):
    cli("subscribe", "o'neil@example.org", "-k", "agents")
    code, _, err = cli("subscribe", "o'neil@example.org", "-k", "moe")
    assert (code, suggested(err)) == (1, [["edit", "o'neil@example.org", "--keywords", "TEXT"]])


PAUSE, LEAVE = ["edit", "1", "--pause"], ["unsubscribe", "1"]


@pytest.mark.parametrize("before, command", [
    ([], ["subscribe", WEBHOOK, "-k", "moe"]),          # again: "already exists"
    ([], ["edit", "1", "--pause"]),
    ([PAUSE], ["preview", "1"]),
    ([PAUSE], ["subscribers"]),
    ([PAUSE], ["edit", "1", "--resume"]),
    ([], ["unsubscribe", "1"]),
    ([LEAVE], ["unsubscribe", "1"]),                    # "was already unsubscribed"
    ([LEAVE], ["subscribers", "--all"]),
    ([LEAVE], ["edit", "1", "--max-items", "4"]),       # "has unsubscribed; `notifier subscribe 1` brings them back"
    ([LEAVE], ["subscribe", "1"]),
], ids=lambda c: " ".join(c) if c and isinstance(c[0], str) else "")
def test_no_subscriber_command_prints_a_webhook_url(cli, before, command):
    assert cli("subscribe", WEBHOOK, "-k", "moe") == (0, "subscribed webhook subscriber #1 (slack, daily at 07:30 UTC)\n", "")
    for earlier in before:
        cli(*earlier)
    _, out, err = cli(*command)
    assert SECRET not in out + err
    assert "webhook subscriber #1" in out + err


def test_the_commands_a_webhook_subscriber_is_given_work_with_their_id(cli):
    cli("subscribe", WEBHOOK, "-k", "moe")
    _, out, _ = cli("edit", "1", "--pause")
    assert suggested(out) == [["edit", "1", "--resume"]]
    cli("unsubscribe", "1")
    _, _, err = cli("edit", "1", "--max-items", "4")
    assert suggested(err) == [["subscribe", "1"]]
    assert cli("subscribe", "1") == (0, "re-subscribed webhook subscriber #1 (slack, daily at 07:30 UTC; the "
                                        "profiles they had: 'moe'; papers sent before will not be sent again)\n", "")


def test_subscribe_takes_an_id_only_for_someone_stored(cli):
    """Guard: a number that is no subscriber's id is no address either."""
    code, _, err = cli("subscribe", "7", "-k", "moe")
    assert code == 1 and err.startswith("notifier: error: '7' is neither an e-mail address nor a Slack target")


def test_export_keeps_a_webhook_url_whole_so_it_imports_back(cli, tmp_path):
    """Guard: the list hides it, the backup must not."""
    cli("subscribe", WEBHOOK, "-k", "moe")
    assert cli("subscribers", "export", str(tmp_path / "all.jsonl"))[0] == 0
    assert json.loads((tmp_path / "all.jsonl").read_text())["address"] == WEBHOOK
    cli("unsubscribe", "1")
    assert cli("subscribers", "import", str(tmp_path / "all.jsonl"), "--resubscribe")[0] == 0
    assert cli("edit", WEBHOOK, "--max-items", "4")[0] == 0


def test_a_new_webhook_subscriber_is_not_named_after_their_url(cli):
    """`subscribers --json` gave the URL twice, as the address and as the name (the default name is
    the address); the name is now empty, and so is it after an export and import."""
    cli("subscribe", WEBHOOK, "-k", "moe")
    assert json.loads(cli("subscribers", "--json")[1])["name"] == ""


def named_after_the_url(db_url) -> None:
    """A webhook subscriber stored before session 31: their name is their URL."""
    from notifier.store import Store

    store = Store(db_url)
    store.update_subscriber(1, name=WEBHOOK)
    store.close()


@pytest.mark.parametrize("command", [
    ["subscribers", "--json"],
    ["subscribers"],                                  # guard: the table named them by id already
    ["preview", "1", "--format", "text"],             # "Sent by digest-notifier to <name>."
    ["preview", "1", "--format", "html"],
], ids=" ".join)
def test_a_webhook_url_stored_as_a_name_is_not_shown(cli, db_url, command):
    cli("subscribe", WEBHOOK, "-k", "moe")
    named_after_the_url(db_url)
    _, out, err = cli(*command)
    shown = json.loads(out)["name"] if "--json" in command else out + err
    assert SECRET not in shown


def test_an_edit_forgets_a_webhook_url_stored_as_a_name(cli, db_url):
    from notifier.store import Store

    cli("subscribe", WEBHOOK, "-k", "moe")
    named_after_the_url(db_url)
    assert cli("edit", "1", "--max-items", "4")[0] == 0
    store = Store(db_url)
    assert store.find_subscriber(1).name == ""
    store.close()
