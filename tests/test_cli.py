import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from notifier.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command):
    proc = subprocess.run([sys.executable, "-m", "notifier", command, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "usage: notifier" in proc.stdout and command in proc.stdout


def test_every_option_of_every_command_says_what_it_does():
    from notifier.cli import build_parser

    for command in COMMANDS:
        parser = build_parser(only=command)
        sub = parser._subparsers._group_actions[0].choices[command]
        silent = [a.option_strings or a.dest for a in sub._actions if not a.help]
        assert silent == [], command


def every_parser():
    """(name, parser) of each command and of each action below one (`profile check`, `db copy`)."""
    from notifier.cli import build_parser

    for command in COMMANDS:
        todo = [(command, build_parser(only=command)._subparsers._group_actions[0].choices[command])]
        while todo:
            name, parser = todo.pop()
            yield name, parser
            todo += [(f"{name} {sub}", p) for a in parser._actions if a.choices and hasattr(a, "_name_parser_map")
                     for sub, p in a.choices.items()]


def test_every_help_page_says_what_it_does_and_names_only_files_in_the_repository():
    root = Path(__file__).resolve().parent.parent
    for name, parser in every_parser():
        assert parser.description, name
        for doc in re.findall(r"[\w/.-]+\.md\b", parser.format_help()):
            assert (root / doc).exists() or (root / "docs" / doc).exists(), (name, doc)



def test_every_value_a_help_page_asks_for_is_named_in_capitals():
    """`vote subscriber paper {up,down,clear}` beside `parse PATH_OR_URL`: a word in lower case reads as
    one to type as it is (`list`, `copy`), so each value to fill in is in capitals."""
    for name, parser in every_parser():
        for action in parser._actions:
            if action.choices is None and action.nargs != 0:
                shown = action.metavar or (action.dest.upper() if action.option_strings else action.dest)
                assert re.fullmatch(r"[A-Z_:]+(\.[a-z]+)?", shown), (name, shown)


def test_every_example_in_a_help_page_is_one_that_works():
    """A profile given as an example is accepted as typed, and a command line shown names a command
    and options it has."""
    from notifier.profile import check_profile

    for name, parser in every_parser():
        text = " ".join(parser.format_help().split())
        for profile in re.findall(r"e\.g\. '([^']+)'", text):
            check_profile(profile)
        for shown in re.findall(r"`(notifier [^`]+)`", text):
            for command in shown.split("|"):
                words = command.split()[1:]
                options = {o for p in parsers_named(words) for a in p._actions for o in a.option_strings}
                assert {w for w in words if w.startswith("--")} <= options, (name, command)


def parsers_named(words: list[str]) -> list:
    """The parsers a command line's first words name: its command's, and its action's (`profile check`)."""
    parsers = [p for name, p in every_parser() if name == words[0]]
    assert parsers, words
    below = [p for name, p in every_parser() if len(words) > 1 and name == " ".join(words[:2])]
    return parsers + below

@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("argv", [["config"], ["subscribers", "export"], ["subscribers"]])
def test_output_to_a_full_disk_is_one_line_saying_so_and_exit_1(cli, argv):
    """`notifier subscribers export > backup.jsonl` on a full disk ended in a traceback."""
    cli("subscribe", "ada@example.org", "-k", "agents")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "notifier", *argv], stdout=full, stderr=subprocess.PIPE, text=True)
    error = proc.stderr.removeprefix("notifier: the built-in defaults (no --config, no $NOTIFIER_CONFIG)\n")  # config's
    assert (proc.returncode, error) == (1, "notifier: error: could not write the output: No space left on device\n")


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]       # nothing listens there once it is closed: connection refused


def as_a_user(argv: list[str]) -> list[str]:
    """ARGV run without root's power to pass any file permission (a test box runs as root), as an
    operator's account meets them; skips where that cannot be done."""
    import shutil

    if os.geteuid() != 0:
        return argv
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv (util-linux) to drop root's file-permission override")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--inh-caps=-all", "--", *argv]


@pytest.mark.parametrize("argv", [["status"], ["subscribe", "ada@example.org", "-k", "moe"]], ids=["status", "subscribe"])
def test_a_state_folder_the_user_may_not_enter_is_one_line_naming_the_database(tmp_path, argv):
    """A state folder without search permission ended every command in a PermissionError traceback
    (then the CLI's catch-all line, which did not say what was being read: the store says it)."""
    state = tmp_path / "state"
    state.mkdir(mode=0o000)
    env = {**os.environ, "NOTIFIER_STATE_DIR": str(state)}
    env.pop("NOTIFIER_DATABASE_URL", None)
    env.pop("NOTIFIER_CONFIG", None)
    try:
        proc = subprocess.run(as_a_user([sys.executable, "-m", "notifier", *argv]), capture_output=True, text=True, env=env)
    finally:
        state.chmod(0o700)
    assert (proc.returncode, proc.stderr) == (1, f"notifier: error: {state}/notifier.sqlite: cannot read the database "
                                                 "file: Permission denied (check the permissions of it and of the "
                                                 "folders above it)\n")


def test_ctrl_c_while_a_command_is_still_loading_is_one_line_and_exit_130(monkeypatch, capsys):
    """`notifier match` takes a quarter of a second to load its module (numpy); a Ctrl-C then ended in
    a KeyboardInterrupt traceback and death by SIGINT, where one later says 'interrupted', 130."""
    import notifier.cli

    def interrupted(module):
        raise KeyboardInterrupt
    monkeypatch.setattr(notifier.cli, "_module", interrupted)
    try:
        code = main(["match", "--papers", "p.jsonl", "--profile", "moe"])
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C went past main: a traceback", pytrace=False)
    assert (code, capsys.readouterr().err) == (130, "notifier: interrupted\n")

def test_ctrl_c_while_the_command_line_itself_loads_is_one_line_and_exit_130():
    """The `notifier` script imported notifier.cli (argparse and all, 15-20 ms) before anything could
    catch a Ctrl-C: a SIGINT 40-120 ms after start was a KeyboardInterrupt traceback in 24 of 50
    tries. The script's entry point is run as pip writes it, with a Ctrl-C as notifier.cli loads."""
    import tomllib

    entry = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]["notifier"]
    module, function = entry.split(":")
    script = ("import sys\n"
              "class CtrlC:\n"
              "    def find_spec(self, name, path=None, target=None):\n"
              "        if name == 'notifier.cli':\n"
              "            raise KeyboardInterrupt\n"
              "sys.meta_path.insert(0, CtrlC())\n"
              f"from {module} import {function}\n"
              f"sys.exit({function}())\n")
    proc = subprocess.run([sys.executable, "-c", script, "--help"], capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (130, "notifier: interrupted\n")


@pytest.mark.parametrize("argv,code", [(["fetch", "--date", "2026-06-12"], 1), (["run", "--date", "2026-06-12"], 1),
                                       (["status"], 3)], ids=["fetch", "run", "status"])
def test_a_command_whose_reader_stops_early_keeps_its_exit_status(cli, tmp_path, argv, code):
    """`notifier fetch ... | head -1` under systemd's PYTHONUNBUFFERED=1: the first line broke the pipe
    and the command ended there with exit 0, hiding its failed source (only status kept its 3)."""
    config = tmp_path / "config.toml"
    config.write_text(f'[sources]\nmax_attempts = 1\n[sources.hf_daily]\nbase_url = "http://127.0.0.1:{closed_port()}"\n'
                      "min_interval_seconds = 0\n")
    cli("--config", str(config), "fetch", "--date", "2026-06-12")           # failed: status asks for attention
    read, write = os.pipe()
    os.close(read)                      # the reader has gone before anything is written
    with os.fdopen(write, "w") as gone:
        proc = subprocess.run([sys.executable, "-m", "notifier", "--config", str(config), *argv], stdout=gone,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == code and "BrokenPipe" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("command", ["subscribe", "edit"])
def test_max_items_help_gives_the_range_the_configuration_allows(command, capsys):
    """subscribe --help said only 'most papers per digest' (edit said 1-100): a 200 was refused unannounced."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--max-items N most papers per digest, 1-100" in " ".join(capsys.readouterr().out.split())


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
    (["ada@example.org", "-k", "x", "--time", "25:00"], "--time '25:00' must be HH:MM (24-hour)"),
    (["ada@example.org", "-k", "x", "--time", "7:5"], "--time '7:5' must be HH:MM (24-hour)"),
    (["ada@example.org", "-k", "x", "--frequency", "hourly"], "--frequency 'hourly' must be daily, weekly or weekly:DAY"),
    (["ada@example.org", "-k", '"kv cache'], "profile '\"kv cache':"),
], ids=["email", "slack_form", "timezone", "time", "minutes_of_one_digit", "frequency", "profile"])
def test_subscribe_rejects_bad_input_in_one_line(cli, args, message):
    code, out, err = cli("subscribe", *args)
    assert code == 1 and err.startswith("notifier: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert cli("subscribers", "--json")[1] == ""


@pytest.mark.parametrize("typed,stored", [("7:30", "07:30"), ("07:30", "07:30"), ("23:59", "23:59")])
def test_a_delivery_time_typed_without_its_leading_zero_is_that_time(cli, typed, stored):
    assert cli("subscribe", "ada@example.org", "-k", "mamba", "--time", typed)[0] == 0
    assert json.loads(cli("subscribers", "--json")[1])["time"] == stored
    assert cli("edit", "ada@example.org", "--time", typed.replace("7:", "6:"))[0] == 0
    assert json.loads(cli("subscribers", "--json")[1])["time"] == stored.replace("7:", "6:")


def test_edit_without_an_option_is_a_usage_error_listing_what_can_change(cli, capsys):
    cli("subscribe", "ada@example.org", "-k", "mamba")
    with pytest.raises(SystemExit) as exit_:
        main(["edit", "ada@example.org"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "notifier edit: error: nothing to change: give one or more of --keywords, --add-keywords, --name, "
        "--timezone, --time, --frequency, --max-items, --threshold, --pause, --resume")


@pytest.mark.parametrize("options,said", [
    (["--pause"], "is paused already"),
    (["--pause", "--name", "Ada"], "is paused and has these settings already"),
    (["--name", "Ada"], "has these settings already"),
    (["-k", "mamba"], "has these settings already"),
    (["--add-keywords", ""], "has these settings already"),
], ids=["pause_again", "pause_again_and_same_name", "same_name", "same_keywords", "empty_addition"])
def test_an_edit_that_changes_nothing_says_so(cli, options, said):
    """`edit --pause` of someone paused said "has these settings already"."""
    cli("subscribe", "ada@example.org", "-k", "mamba", "--name", "Ada")
    cli("edit", "ada@example.org", "--pause")
    assert cli("edit", "ada@example.org", *options)[:2] == (0, f"nothing changed: ada@example.org {said}\n")


def test_resuming_someone_not_paused_says_so(cli):
    cli("subscribe", "ada@example.org", "-k", "mamba")
    assert cli("edit", "ada@example.org", "--resume")[:2] == (0, "nothing changed: ada@example.org is not paused\n")


@pytest.mark.parametrize("options,said", [
    (["--time", "08:00"], "time 07:30 -> 08:00"),
    (["--timezone", "Europe/Berlin", "--frequency", "weekly:mon"], "timezone UTC -> Europe/Berlin, frequency daily -> weekly:mon"),
    (["--max-items", "5", "--threshold", "0.4"], "max-items default -> 5, threshold default -> 0.4"),
    (["--name", "Ada L."], "name 'Ada' -> 'Ada L.'"),
    (["--add-keywords", "rl"], "added profile 'rl'"),
    (["-k", "robots"], "added profile 'robots', removed profile 'mamba'"),
    (["--name", "Ada", "--time", "09:15"], "time 07:30 -> 09:15"),          # the name as it was: not named
], ids=["time", "zone_and_frequency", "limits", "name", "add_profile", "replace_profile", "only_what_changed"])
def test_an_edit_says_what_it_changed(cli, options, said):
    """`edit --time 08:00` said "updated ada@example.org", whatever it changed."""
    cli("subscribe", "ada@example.org", "-k", "mamba", "--name", "Ada")
    assert cli("edit", "ada@example.org", *options)[:2] == (0, f"updated ada@example.org: {said}\n")


def test_an_edit_clearing_the_name_says_so_and_what_is_shown_instead(cli):
    """`edit --name ""` said "name 'Ada' -> 'ada@example.org'" (the address is stored in a missing
    name's place), and setting a name again "name 'ada@example.org' -> 'Ada'"."""
    cli("subscribe", "ada@example.org", "-k", "mamba", "--name", "Ada")
    assert cli("edit", "ada@example.org", "--name", "")[:2] == \
        (0, "updated ada@example.org: name 'Ada' cleared: ada@example.org is shown instead\n")
    assert cli("edit", "ada@example.org", "--name", "Ada")[:2] == (0, "updated ada@example.org: name none -> 'Ada'\n")


@pytest.mark.parametrize("options,said", [
    (["--pause"], "paused ada@example.org: their digests wait until `notifier edit ada@example.org --resume`"),
    (["--time", "08:00", "--pause"],
     "updated and paused ada@example.org: time 07:30 -> 08:00; their digests wait until "
     "`notifier edit ada@example.org --resume`"),
    (["--time", "08:00"], "updated ada@example.org: time 07:30 -> 08:00"),
], ids=["pause", "change_and_pause", "change"])
def test_an_edit_says_whether_it_paused(cli, options, said):
    """`edit --pause` said "updated ada@example.org", as any change does."""
    cli("subscribe", "ada@example.org", "-k", "mamba")
    assert cli("edit", "ada@example.org", *options)[:2] == (0, said + "\n")
    if "--pause" in options:
        assert cli("edit", "ada@example.org", "--resume")[:2] == (0, "resumed ada@example.org\n")


@pytest.mark.parametrize("typed,said", [
    ("statu", "unknown command 'statu': did you mean 'status'?"),
    ("subscirbe", "unknown command 'subscirbe': did you mean 'subscribe'?"),
    ("help", "argument COMMAND: invalid choice: 'help' (choose from " + ", ".join(f"'{c}'" for c in COMMANDS) + ")"),
], ids=["typo", "swapped_letters", "nothing_close"])
def test_a_mistyped_command_is_answered_with_the_one_meant(capsys, typed, said):
    """argparse listed all 19 commands for 'statu'."""
    with pytest.raises(SystemExit) as exit_:
        main([typed])
    assert (exit_.value.code, capsys.readouterr().err.splitlines()[-1]) == (2, f"notifier: error: {said}")


@pytest.mark.parametrize("argv,said", [
    (["subscribe"], "notifier subscribe: error: the following arguments are required: ADDRESS"),
    (["preview", "ada@example.org", "--format", "pdf"],
     "notifier preview: error: argument --format: invalid choice: 'pdf' (choose from 'html', 'text', 'slack')"),
    (["--nope"], "notifier: error: unrecognized arguments: --nope"),
    (["preview", "ada@example.org", "--format", "htm"], "notifier preview: error: argument --format: invalid choice: "
     "'htm': did you mean 'html'? (choose from 'html', 'text', 'slack')"),
    (["subscribers", "imprt", "team.csv"], "notifier subscribers: error: argument action: invalid choice: 'imprt': "
     "did you mean 'import'? (choose from 'list', 'import', 'export')"),
    (["vote", "ada@example.org", "2601.00001", "upp"], "notifier vote: error: argument vote: invalid choice: 'upp': "
     "did you mean 'up'? (choose from 'up', 'down', 'clear')"),
], ids=["missing_argument", "bad_choice", "unknown_option", "choice_typo", "action_typo", "vote_typo"])
def test_a_usage_error_is_one_line_and_exit_2(capsys, argv, said):
    """argparse printed its usage block, up to five lines, above the one that says what is wrong."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert (exit_.value.code, capsys.readouterr().err) == (2, said + "\n")


def test_version_prints_the_version(capsys):
    from notifier import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert (exit_.value.code, capsys.readouterr().out) == (0, f"notifier {__version__}\n")


def test_resume_does_not_bring_back_someone_who_unsubscribed(cli):
    cli("subscribe", "ada@example.org", "-k", "mamba")
    cli("unsubscribe", "ada@example.org")
    assert cli("edit", "ada@example.org", "--resume") == (
        1, "", "notifier: error: ada@example.org has unsubscribed; `notifier subscribe ada@example.org` brings "
               "them back, with their profiles\n")
    assert cli("subscribers", "--json")[1] == ""


def test_unsubscribing_twice_says_it_was_already_done(cli):
    cli("subscribe", "ada@example.org", "-k", "mamba")
    assert cli("unsubscribe", "ada@example.org")[:2] == (0, "unsubscribed ada@example.org\n")
    assert cli("unsubscribe", "ada@example.org")[:2] == (0, "ada@example.org was already unsubscribed; nothing changed\n")


def test_status_says_its_times_are_utc(cli, store):
    from datetime import datetime, timezone

    from freezegun import freeze_time

    from notifier.models import Paper

    cli("subscribe", "ada@example.org", "-k", "mamba")
    store.ingest([Paper("2606.00001", "Mamba")], source="hf_daily", digest_day="2026-06-12")
    run_id = store.start_fetch("hf_daily", "2026-06-12")
    store.finish_fetch(run_id, outcome="ok", http_status=200, found=1, new=1)
    d = store.plan_delivery(subscriber_id=store.find_subscriber("ada@example.org").id, digest_day="2026-06-12",
                            items=[{"id": "2606.00001"}], meta={})
    store.claim(d.id)
    store.record(d.id, "retry", error="451 Try again later", next_attempt_at=datetime(2026, 6, 12, 10, 5, tzinfo=timezone.utc))
    with freeze_time("2026-06-12 10:00"):           # before the next try: not overdue
        out = cli("status")[1]
    assert re.search(r"hf_daily +last ok: \d{4}-\d\d-\d\d \d\d:\d\d UTC \(day 2026-06-12, 1 new\)", out), out
    assert "retry    ada@example.org 2026-06-12 (attempts 1, next try 2026-06-12 10:05 UTC): 451 Try again later" in out


def test_status_says_a_not_modified_fetch_was_not_modified(cli, store):
    """It said "(day D, 0 new)", which reads as a day without papers, not an unchanged page."""
    run_id = store.start_fetch("hf_daily", "2026-06-12")
    store.finish_fetch(run_id, outcome="not_modified", http_status=304, found=0, new=0)
    out = cli("status")[1]
    assert re.search(r"hf_daily +last ok: \S+ \S+ UTC \(day 2026-06-12, not modified\)\n", out), out


def test_preview_of_a_day_without_stored_papers_says_so_instead_of_an_empty_digest(cli, store):
    from notifier.models import Paper

    cli("subscribe", "ada@example.org", "-k", "mamba")
    store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-12")
    assert cli("preview", "ada@example.org", "--date", "2026-06-12")[1].startswith("Subject: 1 paper on mamba")
    assert cli("preview", "ada@example.org", "--date", "2026-06-11") == (1, "", (
        "notifier: error: --date 2026-06-11: no papers stored for that digest day "
        "(`notifier fetch --date 2026-06-11` fetches them)\n"))


def test_preview_before_any_fetch_warns_that_its_digest_is_empty_for_want_of_papers(cli):
    """It rendered 'None of the new papers matched your profile' alone: a profile that looked wrong."""
    cli("subscribe", "ada@example.org", "-k", "mamba")
    code, out, err = cli("preview", "ada@example.org")
    assert code == 0 and "None of the new papers matched your profile" in out
    assert err == "notifier: warning: no papers stored yet, so this digest is empty: `notifier fetch` fetches today's\n"


@pytest.mark.parametrize("how, warning", [
    ("unsubscribe", "has unsubscribed: no digest is sent to them (`notifier subscribe ada@example.org` brings "
                    "them back, with their profiles)"),
    ("pause", "is paused: no digest is sent until `notifier edit ada@example.org --resume`")])
def test_preview_of_someone_who_gets_no_digests_says_so_after_the_digest(cli, store, how, warning):
    """It rendered their digest as if it would go out tomorrow."""
    from notifier.models import Paper

    cli("subscribe", "ada@example.org", "-k", "mamba")
    store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-12")
    cli(*(("unsubscribe", "ada@example.org") if how == "unsubscribe" else ("edit", "ada@example.org", "--pause")))
    code, out, err = cli("preview", "ada@example.org", "--date", "2026-06-12")
    assert code == 0 and "Mamba at scale" in out
    assert err == f"notifier: warning: ada@example.org {warning}\n"


@pytest.mark.parametrize("paper", ["2606.00001", "arXiv:2606.00001v2", "https://arxiv.org/abs/2606.00001",
                                   "https://huggingface.co/papers/2606.00001"], ids=["id", "versioned", "arxiv", "hf"])
def test_vote_takes_a_paper_link_from_a_digest_and_names_the_paper_it_recorded(cli, store, paper):
    from notifier.models import Paper

    cli("subscribe", "ada@example.org", "-k", "mamba")
    store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-12")
    assert cli("vote", "ada@example.org", paper, "up")[:2] == (
        0, "ada@example.org: more like this — Mamba at scale (2606.00001)\n")
    assert store.votes(store.find_subscriber("ada@example.org").id) == [("2606.00001", 1)]


def test_vote_for_someone_who_unsubscribed_is_refused_and_records_nothing(cli, store):
    """It was recorded, silently, for digests they asked not to get."""
    from notifier.models import Paper

    cli("subscribe", "ada@example.org", "-k", "mamba")
    cli("unsubscribe", "ada@example.org")
    store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-12")
    one_line_error(cli("vote", "ada@example.org", "2606.00001", "up"),
                   "ada@example.org has unsubscribed: no vote recorded (`notifier subscribe ada@example.org` brings "
                   "them back, with their profiles)")
    assert store.votes(store.find_subscriber("ada@example.org").id) == []


def test_clearing_a_vote_that_was_never_cast_says_there_was_none(cli, store):
    """It said 'vote cleared'."""
    from notifier.models import Paper

    cli("subscribe", "ada@example.org", "-k", "mamba")
    store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-12")
    assert cli("vote", "ada@example.org", "2606.00001", "clear")[:2] == (
        0, "ada@example.org: no vote to clear — Mamba at scale (2606.00001)\n")
    cli("vote", "ada@example.org", "2606.00001", "down")
    assert cli("vote", "ada@example.org", "2606.00001", "clear")[:2] == (
        0, "ada@example.org: vote cleared — Mamba at scale (2606.00001)\n")


@pytest.mark.parametrize("paper,message", [
    ("2606.99999", "no stored paper '2606.99999' (votes are for papers the service has seen)"),
    ("mamba", "'mamba' is not a paper's arXiv id (2606.01234) nor a link to one (arxiv.org, huggingface.co/papers)"),
], ids=["not_stored", "not_an_id"])
def test_vote_on_a_paper_not_stored_or_not_an_id_says_which(cli, paper, message):
    cli("subscribe", "ada@example.org", "-k", "mamba")
    one_line_error(cli("vote", "ada@example.org", paper, "up"), message)


def test_duplicate_subscriber_is_one_line_error(cli):
    cli("subscribe", "ada@example.org", "-k", "x")
    code, _, err = cli("subscribe", "ada@example.org", "-k", "y")
    assert code == 1 and "a subscriber with address 'ada@example.org' already exists" in err


def test_subscribing_again_without_keywords_someone_who_unsubscribed_gives_them_their_profiles_back(cli):
    assert cli("subscribe", "ada@example.org", "-k", "agents", "-k", "kv cache")[0] == 0
    assert cli("unsubscribe", "ada@example.org")[0] == 0
    assert cli("subscribe", "Ada@example.org") == (0, "re-subscribed ada@example.org (email, daily at 07:30 UTC; the "
                                                      "profiles they had: 'agents' | 'kv cache'; papers sent before "
                                                      "will not be sent again)\n", "")
    sub = json.loads(cli("subscribers", "--json")[1])
    assert (sub["active"], sub["profiles"]) == (True, ["agents", "kv cache"])


def test_subscribing_again_someone_who_unsubscribed_keeps_the_settings_they_do_not_give(cli):
    """Their name, time, zone and frequency were replaced by the defaults: "Hi ada@example.org", daily at 07:30 UTC."""
    assert cli("subscribe", "ada@example.org", "-k", "agents", "--name", "Ada Lovelace", "--time", "06:15",
               "--timezone", "Europe/Berlin", "--frequency", "weekly:fri", "--max-items", "5")[0] == 0
    assert cli("unsubscribe", "ada@example.org")[0] == 0
    assert cli("subscribe", "ada@example.org", "-k", "robotics", "--time", "08:00")[1] == (
        "re-subscribed ada@example.org (email, weekly fri at 08:00 Europe/Berlin; papers sent before will not be "
        "sent again)\n")
    sub = json.loads(cli("subscribers", "--json")[1])
    assert ((sub["name"], sub["profiles"], sub["time"], sub["timezone"], sub["frequency"], sub["weekday"],
             sub["max_items"]) == ("Ada Lovelace", ["robotics"], "08:00", "Europe/Berlin", "weekly", "fri", 5))


def test_subscribing_again_without_keywords_someone_whose_stored_profile_no_longer_reads_says_what_to_give(cli,
                                                                                                           store):
    assert cli("subscribe", "ada@example.org", "-k", "mamba")[0] == 0
    assert cli("unsubscribe", "ada@example.org")[0] == 0
    store.update_subscriber(store.find_subscriber("ada@example.org").id, profile=json.dumps(["+-mamba"]))
    one_line_error(cli("subscribe", "ada@example.org"),
                   "ada@example.org: the stored profile '+-mamba' no longer reads (two operators in term '+-mamba': "
                   "use one, + (required) or - (excluded)); `notifier subscribe ada@example.org -k TEXT` gives them "
                   "a new one")
    assert cli("subscribe", "ada@example.org", "-k", "mamba")[0] == 0


def test_subscribing_without_keywords_someone_new_is_a_usage_error_and_someone_subscribed_is_named(cli, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli("subscribe", "ada@example.org")
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == ("notifier subscribe: error: the following arguments are "
                                                        "required: -k/--keywords (a keyword profile)")
    assert cli("subscribe", "ada@example.org", "-k", "agents")[0] == 0
    code, _, err = cli("subscribe", "ada@example.org")
    assert code == 1 and "a subscriber with address 'ada@example.org' already exists" in err


def test_a_profile_given_twice_or_added_again_is_stored_once(cli):
    """`edit --add-keywords agents` of someone with 'agents' stored it a second time, and said "updated"."""
    assert cli("subscribe", "ada@example.org", "-k", "agents", "-k", " agents", "-k", "kv cache")[0] == 0
    assert cli("edit", "ada@example.org", "--add-keywords", "kv cache") == (
        0, "nothing changed: ada@example.org has these settings already\n", "")
    assert json.loads(cli("subscribers", "--json")[1])["profiles"] == ["agents", "kv cache"]


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


def test_unsubscribing_a_config_file_subscriber_sticks_and_subscribe_brings_them_back(cli, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[[subscribers]]\nemail = 'ada@example.org'\nkeywords = 'from the file'\n")
    code, out, _ = cli("--config", str(path), "unsubscribe", "ada@example.org")
    assert code == 0 and "it stays unsubscribed" in out
    code, out, _ = cli("--config", str(path), "subscribers", "--all", "--json")
    assert json.loads(out)["active"] is False                  # the next start did not bring it back
    cli("--config", str(path), "subscribe", "ada@example.org", "-k", "from the cli")
    code, out, _ = cli("--config", str(path), "subscribers", "--json")
    sub = json.loads(out)
    assert sub["active"] is True and sub["profiles"] == ["from the file"]      # the file still wins


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
    assert err == ("notifier: error: --threshold must be between 0.05 and 0.95 "
                   f"(lower sends more papers, higher fewer), not {shown}\n")
    assert thresholds(cli) == {"bob@example.org": 0.3}


@pytest.mark.parametrize("argv, hint", [
    (["subscribe", "ada@example.org", "--keywords", "-diffusion,moe"], "--keywords=-diffusion,moe"),
    (["edit", "ada@example.org", "-k", "-diffusion,moe"], "--keywords=-diffusion,moe"),
    (["match", "--papers", "p.jsonl", "--profile", "-moe"], "--profile=-moe"),
    (["match", "--papers", "p.jsonl", "--profile", '-"kv-cache",moe'], """--profile='-"kv-cache",moe'"""),
], ids=["subscribe", "edit_short_option", "match", "match_needing_quotes"])
def test_a_profile_starting_with_a_dash_is_a_usage_error_that_says_how_to_write_it(cli, capsys, argv, hint):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and capsys.readouterr().err.splitlines()[-1].endswith(
        f"expected one argument (a value starting with '-' goes after '=': {hint})")
    assert cli("subscribe", "ada@example.org", "--keywords=-diffusion,moe")[:2] == (0, "subscribed ada@example.org "
                                                                                   "(email, daily at 07:30 UTC)\n")


@pytest.mark.parametrize("argv, line", [
    (["profile", "check", "-diffusion,moe"], "notifier profile check: error: the following arguments are required: TEXT "
     "(a value starting with '-' goes after '--': notifier profile check -- -diffusion,moe)"),
    (["profile", "check"], "notifier profile check: error: the following arguments are required: TEXT"),
    (["profile", "check", "moe", "--papers"], "notifier profile check: error: argument --papers: expected one argument"),
], ids=["dashed_profile", "no_profile", "no_value"])
def test_a_missing_value_says_how_to_give_one_starting_with_a_dash_only_when_one_was(capsys, argv, line):
    """`notifier profile check -diffusion,moe` said only that TEXT was missing; and a value left out was
    answered with how to write '-diffusion,moe', a profile nobody had typed."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and capsys.readouterr().err.splitlines()[-1] == line

def test_config_and_verbose_work_after_the_command_too_and_never_undo_one_given_before(cli, tmp_path):
    """`notifier fetch -c FILE` said "unrecognized arguments: -c FILE"."""
    berlin, tokyo = tmp_path / "berlin.toml", tmp_path / "tokyo.toml"
    berlin.write_text('[schedule]\ntimezone = "Europe/Berlin"\n')
    tokyo.write_text('[schedule]\ntimezone = "Asia/Tokyo"\n')
    assert cli("subscribe", "ada@example.org", "-k", "moe", "-c", str(berlin), "-v")[1] == \
        "subscribed ada@example.org (email, daily at 07:30 Europe/Berlin)\n"
    assert cli("-c", str(tokyo), "subscribe", "bob@example.org", "-k", "moe")[1] == \
        "subscribed bob@example.org (email, daily at 07:30 Asia/Tokyo)\n"
    assert cli("profile", "check", "moe", "--config", str(tokyo))[0] == 0


@pytest.mark.parametrize("name", ["config", "run"])
def test_a_configuration_file_named_like_a_command_is_read_as_the_file(cli, tmp_path, monkeypatch, name):
    """`notifier -c config subscribe ...` took `config` for the command and refused subscribe's options."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text('[schedule]\ntimezone = "Asia/Tokyo"\n')
    assert cli("-c", name, "subscribe", "ada@example.org", "-k", "moe")[1] == \
        "subscribed ada@example.org (email, daily at 07:30 Asia/Tokyo)\n"


def test_edit_with_pause_and_resume_together_is_a_usage_error(cli, capsys):
    cli("subscribe", "ada@example.org", "-k", "mamba")
    with pytest.raises(SystemExit) as exit_:
        main(["edit", "ada@example.org", "--pause", "--resume"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == ("notifier edit: error: argument --resume: not allowed with "
                                                        "argument --pause")


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


def test_a_stored_profile_a_newer_check_refuses_does_not_stop_an_edit_of_other_settings(cli, db_url):
    """'distill, -distillation' (it can never match) was accepted before the profile check
    compared stems; `edit --time` re-checked it and refused the new time."""
    from notifier.store import Store

    cli("subscribe", "ada@example.org", "-k", "mamba")
    store = Store(db_url)
    store.update_subscriber(store.find_subscriber("ada@example.org").id, profile=json.dumps(["distill, -distillation"]))
    assert cli("edit", "ada@example.org", "--time", "09:00")[0] == 0
    assert store.find_subscriber("ada@example.org").delivery_time == "09:00"
    code, _, err = cli("edit", "ada@example.org", "-k", "distill, -distillation, moe")    # typed anew: checked
    assert code == 1 and "is also excluded by '-distillation'" in err


def test_an_edit_or_preview_that_keeps_a_stored_profile_that_no_longer_reads_says_how_to_replace_it(cli, db_url):
    """`notifier status` says such a subscriber's digests wait 'until it is edited'; `edit --time`
    named the profile's error without saying that --keywords is the edit that helps, and `preview`
    gave the error alone, naming neither the subscriber nor that the profile is a stored one."""
    from notifier.store import Store

    cli("subscribe", "ada@example.org", "-k", "agents")
    store = Store(db_url)
    store.update_subscriber(store.find_subscriber("ada@example.org").id, profile=json.dumps(["+-agents"]))
    for argv in (["edit", "ada@example.org", "--time", "09:00"], ["preview", "ada@example.org"]):
        one_line_error(cli(*argv), "ada@example.org: the stored profile '+-agents' no longer reads (two operators in "
                                   "term '+-agents': use one, + (required) or - (excluded)); `notifier edit "
                                   "ada@example.org --keywords TEXT` replaces it")
    assert cli("edit", "ada@example.org", "--keywords", "+agents", "--time", "09:00")[0] == 0
    assert store.find_subscriber("ada@example.org").delivery_time == "09:00"
    store.close()


def one_line_error(result, message):
    code, _, err = result
    assert (code, err) == (1, f"notifier: error: {message}\n")


@pytest.mark.parametrize("days", ["-1", "0", "99999999999"])
def test_prune_refuses_an_age_out_of_range_and_keeps_the_raw_records(cli, days):
    one_line_error(cli("prune", "--older-than", days), f"--older-than {days} must be between 1 and 36500 days")


def test_prune_without_an_age_keeps_the_raw_records_of_the_configured_retention_days(cli, db_url, tmp_path):
    from freezegun import freeze_time

    from notifier.models import Paper
    from notifier.store import Store

    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n[general]\nretention_days = 10\n')
    store = Store(db_url)
    for day, pid in (("2026-06-20", "2606.00001"), ("2026-06-22", "2606.00002")):
        with freeze_time(f"{day} 08:00"):
            store.ingest([Paper(pid, f"Agents, {day}", raw={"id": pid})], source="hf_daily", digest_day=day)
    with freeze_time("2026-07-01 12:00"):              # 11 days after the first, 9 after the second
        code, out, _ = cli("--config", str(config), "prune")
    assert code == 0 and out.splitlines()[0] == ("pruned the raw source records of 1 paper not updated for 10 days "
                                                 "(papers and sightings kept)"), out
    store.close()


def test_prune_drops_web_sign_ups_whose_confirmation_link_expired(cli, db_url):
    from freezegun import freeze_time

    from notifier.store import Store

    store = Store(db_url)
    with freeze_time("2026-07-01 08:00"):
        old = [store.add_signup("never@example.org", {}), store.add_signup("yes@example.org", {})]
        store.confirm_signup(old[1])
    with freeze_time("2026-07-03 07:00"):
        recent = store.add_signup("later@example.org", {})
    with freeze_time("2026-07-03 08:01"):                        # the first two links (48 hours) expired a minute ago
        code, out, _ = cli("prune")
    assert code == 0 and out.splitlines()[-1] == "pruned 2 web sign-ups whose confirmation link expired (older than 48 hours)"
    assert [store.get_signup(i) is not None for i in (*old, recent)] == [False, False, True]
    store.close()


def test_weekly_day_must_be_a_weekday(cli):
    one_line_error(cli("subscribe", "ada@example.org", "-k", "x", "--frequency", "weekly:monkey"),
                   "--frequency 'weekly:monkey' must be daily, weekly or weekly:DAY (mon..sun)")
    assert cli("subscribe", "ada@example.org", "-k", "x", "--frequency", "weekly:Friday")[0] == 0
    _, out, _ = cli("subscribers", "--json")
    assert json.loads(out)["weekday"] == "fri"


def test_a_time_zone_in_lower_case_is_answered_with_the_zone_meant(cli):
    message = "--timezone: unknown time zone 'utc': did you mean Etc/UTC or UTC?"
    one_line_error(cli("subscribe", "ada@example.org", "-k", "x", "--timezone", "utc"), message)
    cli("subscribe", "ada@example.org", "-k", "x")
    one_line_error(cli("edit", "ada@example.org", "--timezone", "utc"), message)


def test_empty_timezone_is_refused_not_replaced_by_the_default(cli):
    message = "--timezone: unknown time zone '' (use an IANA name such as Europe/Berlin)"
    one_line_error(cli("subscribe", "ada@example.org", "-k", "x", "--timezone", ""), message)
    cli("subscribe", "ada@example.org", "-k", "x", "--timezone", "Europe/Berlin")
    one_line_error(cli("edit", "ada@example.org", "--timezone", ""), message)
    _, out, _ = cli("subscribers", "--json")
    assert json.loads(out)["timezone"] == "Europe/Berlin"


@pytest.mark.parametrize("target,kind", [("/", "Is a directory"), ("missing/folder/digest.txt", "No such file or directory"),
                                         ("/proc/x", "No such file or directory")],
                         ids=["directory", "missing_folder", "proc"])
def test_preview_output_that_cannot_be_written_is_one_line(cli, tmp_path, target, kind):
    cli("subscribe", "ada@example.org", "-k", "x")
    target = target if target.startswith("/") else str(tmp_path / target)
    one_line_error(cli("preview", "ada@example.org", "--output", target), f"--output {target}: cannot write: {kind}")


@pytest.mark.parametrize("url,why", [("http://[::1", "Invalid IPv6 URL"), ("https://", "no host")])
def test_parse_of_a_malformed_url_is_one_line(cli, url, why):
    one_line_error(cli("parse", url), f"{url}: cannot read: not a valid URL ({why})")


@pytest.mark.parametrize("line,message", [
    ('{"id": "1", "title": "t", "abstract": 5}', 'line 2: "abstract" must be a string, not a number'),
    ("[1, 2]", "line 2: expected a JSON object (a paper), not a list; one paper a line, as `notifier parse PATH "
               "--jsonl` writes them"),
    ('{"id": "1", "title": "t", "authors": ["Ada", 3]}', 'line 2: "authors" must be a list of strings'),
    ('{"id": "1", "title": ["t"]}', 'line 2: "title" must be a string, not a list'),
    ('{"id": "1", "title": "t", "upvotes": "many"}', 'line 2: "upvotes" must be a whole number, not a string'),
    ('{"title": "t"}', 'line 2: a paper needs an "id" (or "arxiv_id")'),
], ids=["abstract_number", "list_line", "author_number", "title_list", "upvotes_text", "no_id"])
@pytest.mark.parametrize("command", [["match", "--profile", "moe"], ["profile", "check", "moe"]])
def test_papers_file_with_a_wrong_type_is_one_line_naming_the_line(cli, tmp_path, line, message, command):
    """A saved HF API answer (a list of papers on one line) got no word of what `--papers` reads."""
    papers = tmp_path / "papers.jsonl"
    papers.write_text("\n" + line + "\n")           # a blank first line: the number is the file's line
    one_line_error(cli(*command, "--papers", str(papers)), f"{papers}: {message}")


@pytest.mark.parametrize("option,value,message", [
    ("--max-items", "-1", "--max-items -1 must be at least 1"),
    ("--max-items", "0", "--max-items 0 must be at least 1"),
    ("--upvote-weight", "nan", "--upvote-weight nan must be between 0 and 5"),
    ("--upvote-weight", "-1", "--upvote-weight -1 must be between 0 and 5"),
])
def test_match_refuses_out_of_range_options(cli, tmp_path, option, value, message):
    papers = tmp_path / "papers.jsonl"
    papers.write_text('{"id": "1", "title": "moe"}\n')
    one_line_error(cli("match", "--papers", str(papers), "--profile", "moe", option, value), message)


def test_subscribing_a_webhook_whose_secret_is_not_set_warns_loudly(cli, monkeypatch):
    monkeypatch.delenv("TEAM_HOOK", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    code, out, err = cli("subscribe", "webhook:TEAM_HOOK", "-k", "x")
    assert code == 0 and out.startswith("subscribed webhook:TEAM_HOOK")
    assert err == ("notifier: warning: webhook:TEAM_HOOK: $TEAM_HOOK is not set here (nor "
                   "$CREDENTIALS_DIRECTORY/TEAM_HOOK); its digests fail until the service has the webhook URL in it\n")
    monkeypatch.setenv("OTHER_HOOK", "https://hooks.slack.com/services/T/B/x")
    assert cli("subscribe", "webhook:OTHER_HOOK", "-k", "x")[2] == ""


def test_subscribing_a_profile_with_a_terminal_escape_is_refused(cli):
    one_line_error(cli("subscribe", "ada@example.org", "-k", "moe, \x1b[2Jrag"),
                   "profile 'moe, U+001B[2Jrag': invisible control character U+001B at position 6: "
                   "retype the profile without it")
    assert cli("subscribers", "--json")[1] == ""


@pytest.mark.parametrize("text,message", [
    ("[database]\nurl = 'notaurl'\n", "line 2: 'database.url' must be sqlite:///PATH"),
    ("subscribers = 5\n", "line 1: 'subscribers' must be a list of [[subscribers]] tables, not 5"),
    ("[matching]\nmax_items = 1000000000000\n", "line 2: 'matching.max_items' must be between 1 and 100, not 1000000000000"),
])
def test_bad_config_stops_every_command_with_one_line(cli, tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    code, _, err = cli("--config", str(path), "status")
    assert code == 1 and err.startswith(f"notifier: error: {path}: {message}") and err.count("\n") == 1


def test_keywords_given_twice_are_two_profiles_of_their_own(cli):
    assert cli("subscribe", "ada@example.org", "--keywords", '"kv cache", MoE', "--keywords", "mamba")[0] == 0
    code, out, _ = cli("subscribers", "--json")
    assert code == 0 and json.loads(out)["profiles"] == ['"kv cache", MoE', "mamba"]


def test_match_reads_papers_from_standard_input_as_parse_jsonl_writes_them(cli, monkeypatch):
    """`notifier parse --jsonl FEED | notifier match --papers - ...` said '-: cannot read: No such file or directory'."""
    import io

    paper = {"id": "2606.00001", "title": "Mamba at scale", "abstract": "A state space model, Mamba, at scale."}
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(paper).encode() + b"\n")))
    code, out, err = cli("match", "--papers", "-", "--profile", "mamba", "--json")
    assert (code, err) == (0, "") and [m["id"] for m in json.loads(out) if m["selected"]] == ["2606.00001"]


def test_match_given_standard_input_for_two_files_is_a_usage_error_naming_them(cli, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli("match", "--papers", "-", "--profiles", "-")
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith("error: --papers and --profiles would both read standard input (-): "
                                            "give all but one a file\n")
