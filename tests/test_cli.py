import json
import subprocess
import sys

import pytest

from notifier.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command):
    proc = subprocess.run([sys.executable, "-m", "notifier", command, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "usage: notifier" in proc.stdout and command in proc.stdout


def test_bare_help_lists_every_command():
    proc = subprocess.run([sys.executable, "-m", "notifier", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and all(c in proc.stdout for c in COMMANDS)


def test_subscribe_list_edit_unsubscribe(cli):
    assert cli("subscribe", "ada@example.org", "--keywords", '"kv cache", MoE', "--timezone", "Europe/Berlin")[0] == 0
    assert cli("subscribe", "#llm-papers", "--keywords", "speculative decoding", "--frequency", "weekly:fri")[0] == 0
    code, out, _ = cli("subscribers", "--json")
    subs = [json.loads(line) for line in out.splitlines()]
    assert [(s["address"], s["channel"], s["timezone"]) for s in subs] == [
        ("ada@example.org", "email", "Europe/Berlin"), ("#llm-papers", "slack", "UTC")]
    assert subs[1]["frequency"] == "weekly" and subs[1]["weekday"] == "fri"
    assert cli("edit", "ada@example.org", "--add-keywords", "mamba")[0] == 0
    code, out, _ = cli("subscribers", "--json")
    assert json.loads(out.splitlines()[0])["profiles"] == ['"kv cache", MoE', "mamba"]
    code, out, _ = cli("subscribers")
    assert "ada@example.org" in out and '"kv cache", MoE' in out
    assert cli("unsubscribe", "ada@example.org")[0] == 0
    code, out, _ = cli("subscribers", "--json")
    assert [json.loads(line)["address"] for line in out.splitlines()] == ["#llm-papers"]


@pytest.mark.parametrize("args,message", [
    (["ada@example", "-k", "x"], "'ada@example' is not a valid e-mail address"),
    (["slack-channel", "-k", "x"], "'slack-channel' is neither an e-mail address nor a Slack target"),
    (["ada@example.org", "-k", "x", "--timezone", "Berlin"], "unknown time zone 'Berlin'"),
    (["ada@example.org", "-k", "x", "--time", "25:00"], "delivery time '25:00' must be HH:MM (24-hour)"),
    (["ada@example.org", "-k", "x", "--frequency", "hourly"], "frequency 'hourly' must be daily, weekly or weekly:DAY"),
    (["ada@example.org", "-k", '"kv cache'], "profile '\"kv cache':"),
], ids=["email", "slack_form", "timezone", "time", "frequency", "profile"])
def test_subscribe_rejects_bad_input_in_one_line(cli, args, message):
    code, out, err = cli("subscribe", *args)
    assert code == 1 and err.startswith("notifier: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert cli("subscribers", "--json")[1] == ""


def test_duplicate_subscriber_is_one_line_error(cli):
    cli("subscribe", "ada@example.org", "-k", "x")
    code, _, err = cli("subscribe", "ada@example.org", "-k", "y")
    assert code == 1 and "a subscriber with address 'ada@example.org' already exists" in err


def test_unknown_subscriber_is_named(cli):
    code, _, err = cli("unsubscribe", "nobody@example.org")
    assert code == 1 and "no subscriber 'nobody@example.org'" in err


def test_config_file_subscribers_win_for_their_address(cli, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[[subscribers]]\nemail = 'ada@example.org'\nkeywords = 'from the file'\n")
    cli("subscribe", "ada@example.org", "-k", "from the cli")
    cli("--config", str(path), "edit", "ada@example.org", "-k", "edited on the cli")
    code, out, _ = cli("--config", str(path), "subscribers", "--json")
    sub = json.loads(out)
    assert sub["profiles"] == ["from the file"] and sub["origin"] == "config"


def thresholds(cli, *config) -> dict[str, float | None]:
    _, out, _ = cli(*config, "subscribers", "--json")
    return {s["address"]: s["threshold"] for s in map(json.loads, out.splitlines())}


def test_threshold_is_set_on_subscribe_changed_on_edit_and_listed(cli):
    assert cli("subscribe", "ada@example.org", "-k", "mamba", "--threshold", "0.25")[0] == 0
    assert cli("subscribe", "#llm-papers", "-k", "speculative decoding")[0] == 0
    assert thresholds(cli) == {"ada@example.org": 0.25, "#llm-papers": None}
    assert cli("edit", "#llm-papers", "--threshold", "0.6")[0] == 0
    assert cli("edit", "ada@example.org", "--add-keywords", "kv cache")[0] == 0     # other edits keep it
    assert thresholds(cli) == {"ada@example.org": 0.25, "#llm-papers": 0.6}
    _, table, _ = cli("subscribers")
    assert "threshold" in table and "0.25" in table and "0.6" in table


def test_subscribers_table_shows_the_default_threshold_for_those_without_one(cli, tmp_path):
    cli("subscribe", "ada@example.org", "-k", "mamba")
    _, table, _ = cli("subscribers")
    assert "│ 0.4 " in table                        # the matcher's default
    path = tmp_path / "c.toml"
    path.write_text("[matching]\nthreshold = 0.3\n")
    _, table, _ = cli("--config", str(path), "subscribers")
    assert "│ 0.3 " in table


@pytest.mark.parametrize("command,value", [
    (["subscribe", "ada@example.org", "-k", "x"], "1.5"),
    (["subscribe", "ada@example.org", "-k", "x"], "0.01"),
    (["edit", "bob@example.org"], "0"),
    (["edit", "bob@example.org"], "nan"),
], ids=["subscribe_above", "subscribe_below", "edit_zero", "edit_nan"])
def test_out_of_range_threshold_is_one_line_error(cli, command, value):
    cli("subscribe", "bob@example.org", "-k", "y", "--threshold", "0.3")
    code, _, err = cli(*command, "--threshold", value)
    shown = f"{float(value):g}"
    assert code == 1
    assert err == ("notifier: error: threshold must be between 0.05 and 0.95 "
                   f"(lower sends more papers, higher fewer), not {shown}\n")
    assert thresholds(cli) == {"bob@example.org": 0.3}


def test_threshold_that_is_not_a_number_is_a_usage_error(cli, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["subscribe", "ada@example.org", "-k", "x", "--threshold", "low"])
    assert exit_.value.code == 2 and "argument --threshold: invalid float value: 'low'" in capsys.readouterr().err


def test_config_file_subscribers_take_their_threshold_from_the_file(cli, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[[subscribers]]\nemail = 'ada@example.org'\nkeywords = 'x'\nthreshold = 0.2\n")
    assert thresholds(cli, "--config", str(path)) == {"ada@example.org": 0.2}
    cli("--config", str(path), "edit", "ada@example.org", "--threshold", "0.9")
    assert thresholds(cli, "--config", str(path)) == {"ada@example.org": 0.2}     # the file wins
