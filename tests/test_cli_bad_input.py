"""Bad input found by fuzzing the command line (JSON-lines files, options, dates, database URLs):
each is one line on stderr naming the file and line or the option, exit 1, and nothing written."""
import json

import pytest

from test_cli import one_line_error

PAPERS = '{"id": "2601.00001", "title": "Mixture of experts", "abstract": "MoE routing."}\n'
HUGE_NUMBER = "9" * 5000            # past Python's 4300-digit limit for int(str)
DEEP = "[" * 100_000 + "]" * 100_000  # past the JSON decoder's recursion limit


def files(tmp_path, **texts):
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    return [str(tmp_path / name) for name in texts]


def feedback_run(cli, tmp_path, vote: dict, where: str):
    """`match` with ``vote`` as --feedback's line 1, or (where="profiles") as line 1's own feedback."""
    papers, = files(tmp_path, **{"papers.jsonl": PAPERS})
    if where == "feedback":
        votes, = files(tmp_path, **{"votes.jsonl": json.dumps(vote) + "\n"})
        return cli("match", "--papers", papers, "--profile", "moe", "--json", "--feedback", votes), f"{votes}: line 1"
    profiles, = files(tmp_path, **{"profiles.jsonl": json.dumps({"id": "p", "profile": "moe", "feedback": [vote]}) + "\n"})
    return cli("match", "--papers", papers, "--profiles", profiles), f"{profiles}: line 1: feedback: line 1"


@pytest.mark.parametrize("vote,message", [
    ({"id": "2602.00001", "vote": 1, "title": 5}, ': "title" must be a string, not a number'),
    ({"id": "2602.00001", "vote": -1, "abstract": ["routing"]}, ': "abstract" must be a string, not a list'),
    ({"id": "2602.00001", "vote": 1, "title": "t", "authors": "Ada"}, ': "authors" must be a list of strings, not a string'),
    ({"id": ["2602.00001"], "vote": 1, "title": "t"}, ': expected {"id": PAPER_ID, "vote": 1 or -1}'),
    ({"id": {"a": 1}, "vote": 1}, ': expected {"id": PAPER_ID, "vote": 1 or -1}'),
    ({"id": True, "vote": 1, "title": "t"}, ': expected {"id": PAPER_ID, "vote": 1 or -1}'),
], ids=["title_number", "abstract_list", "authors_text", "id_list", "id_object", "id_true"])
@pytest.mark.parametrize("where", ["feedback", "profiles"])
def test_vote_with_a_wrong_type_is_one_line_naming_the_line(cli, tmp_path, vote, message, where):
    result, line = feedback_run(cli, tmp_path, vote, where)
    one_line_error(result, line + message)


@pytest.mark.parametrize("profile", [None, 5, ["moe", "rag"], {"text": "moe"}, True],
                         ids=["null", "number", "list", "object", "true"])
def test_profiles_line_whose_profile_is_not_text_is_one_line(cli, tmp_path, profile):
    papers, profiles = files(tmp_path, **{"papers.jsonl": PAPERS,
                                          "profiles.jsonl": json.dumps({"id": "p", "profile": profile}) + "\n"})
    one_line_error(cli("match", "--papers", papers, "--profiles", profiles),
                   f'{profiles}: line 1: expected {{"id", "profile": TEXT}}')


@pytest.mark.parametrize("line,why", [
    (f'{{"id": "1", "title": "moe", "upvotes": {HUGE_NUMBER}}}', "Exceeds the limit (4300 digits) for integer string conversion"),
    (f'{{"id": "1", "title": "moe", "extra": {DEEP}}}', "maximum recursion depth exceeded while decoding a JSON array"),
], ids=["huge_number", "deep_nesting"])
@pytest.mark.parametrize("role", ["papers", "profiles", "feedback", "profile_check"])
def test_json_line_beyond_the_decoders_limits_is_one_line_naming_the_line(cli, tmp_path, line, why, role):
    good, bad = files(tmp_path, **{"good.jsonl": PAPERS, "bad.jsonl": "\n" + line + "\n"})
    argv = {"papers": ["match", "--papers", bad, "--profile", "moe"],
            "profiles": ["match", "--papers", good, "--profiles", bad],
            "feedback": ["match", "--papers", good, "--profile", "moe", "--feedback", bad],
            "profile_check": ["profile", "check", "moe", "--papers", bad]}[role]
    code, _, err = cli(*argv)
    assert code == 1 and err.startswith(f"notifier: error: {bad}: line 2: not valid JSON ({why}") and err.count("\n") == 1


def test_subscribers_import_of_a_json_line_beyond_the_decoders_limits_names_the_line(cli, tmp_path):
    path, = files(tmp_path, **{"subs.jsonl": f'{{"address": "a@example.org", "profiles": "x", "max_items": {HUGE_NUMBER}}}\n'})
    code, _, err = cli("subscribers", "import", path)
    assert code == 1 and f"{path}: line 1: not valid JSON (Exceeds the limit (4300 digits)" in err
    assert "Traceback" not in err and cli("subscribers", "--json")[1] == ""


@pytest.mark.parametrize("argv,option", [
    (["preview", "ada@example.org", "--date", ""], "--date"),
    (["run", "--dry-run", "--date", ""], "--date"),
    (["fetch", "--date", ""], "--date"),
    (["fetch", "--since", ""], "--since"),
], ids=["preview", "run", "fetch", "fetch_since"])
def test_empty_date_is_refused_not_taken_for_no_date(cli, argv, option):
    cli("subscribe", "ada@example.org", "-k", "moe")
    one_line_error(cli(*argv), f"{option} '' must be a date as YYYY-MM-DD")


@pytest.mark.parametrize("argv,message", [
    (["preview", "ada@example.org", "--date", "2026-02-30"], "--date '2026-02-30' does not exist: February has 28 days in 2026"),
    (["run", "--dry-run", "--date", "2024-02-31"], "--date '2024-02-31' does not exist: February has 29 days in 2024"),
    (["fetch", "--date", "2026-04-31"], "--date '2026-04-31' does not exist: April has 30 days in 2026"),
    (["fetch", "--since", "2026-13-01"], "--since '2026-13-01' does not exist: there is no month 13"),
], ids=["preview", "run_leap_year", "fetch", "fetch_since_month"])
def test_a_day_that_does_not_exist_is_named_so_not_as_a_wrong_format(cli, argv, message):
    cli("subscribe", "ada@example.org", "-k", "moe")
    one_line_error(cli(*argv), message)


@pytest.mark.parametrize("option,value,message", [
    ("--max-items", "0", "--max-items 0 must be between 1 and 100"),
    ("--time", "24:00", "--time '24:00' must be HH:MM (24-hour)"),
    ("--threshold", "0", "--threshold must be between 0.05 and 0.95 (lower sends more papers, higher fewer), not 0"),
], ids=["max_items", "time", "threshold"])
def test_a_setting_out_of_range_names_the_option_as_typed(cli, option, value, message):
    cli("subscribe", "ada@example.org", "-k", "moe")
    one_line_error(cli("subscribe", "bob@example.org", "-k", "moe", option, value), message)
    one_line_error(cli("edit", "ada@example.org", option, value), message)


@pytest.mark.parametrize("value,message", [("8080", "--listen must be host:port, e.g. 127.0.0.1:8080, not '8080'"),
                                           ("127.0.0.1:0", "--listen port 0 is out of range: use 1 to 65535")],
                         ids=["no_host", "port_zero"])
def test_a_bad_listen_address_names_the_option_as_typed(cli, value, message):
    """It said "--listen: 'web.listen' must be ...", a key of a file that was not involved."""
    one_line_error(cli("web", "--listen", value), message)

@pytest.mark.parametrize("url", ["foo", "sqlite://", "sqlite:///", "mysql://db/notifier", "sqlite:///copy.sqlite?mode=ro"],
                         ids=["not_a_url", "in_memory", "no_path", "mysql", "query"])
def test_db_copy_to_an_unsupported_url_is_one_line_and_copies_nothing(cli, tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    cli("subscribe", "ada@example.org", "-k", "moe")
    code, out, err = cli("db", "copy", "--to", url)
    assert code == 1 and err.startswith("notifier: error: --to must be sqlite:///PATH") and err.count("\n") == 1
    assert url in err and out == "" and not list(tmp_path.glob("copy*"))


def test_db_copy_without_a_target_is_one_line(cli):
    one_line_error(cli("db", "copy", "--to", ""),
                   "--to needs the target database's URL, e.g. postgresql+psycopg://notifier@db/notifier")


@pytest.mark.parametrize("target,kind", [("missing/subscribers.csv", "No such file or directory"), ("out", "Is a directory")],
                         ids=["missing_folder", "directory"])
def test_export_that_cannot_be_written_is_one_line_and_leaves_no_file(cli, tmp_path, monkeypatch, target, kind):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    cli("subscribe", "ada@example.org", "-k", "moe")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = cli("subscribers", "export", target, "--format", "csv")
    assert (code, err) == (1, f"notifier: error: {target}: cannot write: {kind}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_export_replaces_the_file_whole(cli, tmp_path):
    cli("subscribe", "ada@example.org", "-k", "moe")
    path = tmp_path / "subs.jsonl"
    path.write_text("old\n" * 1000)
    assert cli("subscribers", "export", str(path))[0] == 0
    assert [json.loads(line)["address"] for line in path.read_text().splitlines()] == ["ada@example.org"]
    assert [p.name for p in tmp_path.glob(".notifier-*")] == []


@pytest.fixture
def cli_at_hf(cfg, cli, tmp_path):
    """`notifier --config C ARGS...` fetching from the local HF stand-in, on 2026-07-01 08:00 UTC."""
    from freezegun import freeze_time

    path = tmp_path / "c.toml"
    path.write_text(f'[sources]\nmax_attempts = 1\n[sources.hf_daily]\nbase_url = "{cfg.sources.hf_daily.base_url}"\n'
                    "min_interval_seconds = 0\n")

    def run(*argv):
        with freeze_time("2026-07-01 08:00"):
            return cli("--config", str(path), *argv)
    return run


@pytest.mark.parametrize("argv", [["fetch", "--date", "2026-07-02"], ["run", "--date", "2026-07-02"],
                                  ["run", "--dry-run", "--date", "9999-12-31"], ["fetch", "--since", "2026-07-02"]],
                         ids=["fetch", "run", "run_far", "fetch_since"])
def test_a_future_day_is_refused_before_any_request_and_records_no_failed_fetch(cli_at_hf, hf, argv):
    option = argv[-2]
    one_line_error(cli_at_hf(*argv), f"{option} {argv[-1]} is in the future (today is 2026-07-01)")
    assert hf.paths == []
    code, out, _ = cli_at_hf("status")
    assert code == 0 and "no fetch yet" in out


@pytest.mark.parametrize("option,value,message", [
    ("--name", "Ada\x1b[2J", "--name: control character U+001B at position 4: a name is one line of visible text"),
    ("--name", "Ada\nBcc: eve@example.org", "--name: control character U+000A at position 4: a name is one line of visible text"),
    ("--name", "A" * 201, "--name: 201 characters, at most 200"),
    ("--time", "", "--time '' must be HH:MM (24-hour)"),
    ("--frequency", "weekly:", "--frequency 'weekly:' must be daily, weekly or weekly:DAY (mon..sun)"),
    ("--frequency", "daily:", "--frequency 'daily:' must be daily, weekly or weekly:DAY (mon..sun)"),
], ids=["name_escape", "name_newline", "name_long", "empty_time", "weekly_no_day", "daily_colon"])
def test_subscriber_setting_that_was_stored_as_typed_is_refused_in_one_line(cli, option, value, message):
    cli("subscribe", "ada@example.org", "-k", "moe", "--name", "Ada")
    before = cli("subscribers", "--json")[1]
    one_line_error(cli("subscribe", "bob@example.org", "-k", "moe", option, value), message)
    one_line_error(cli("edit", "ada@example.org", option, value), message)
    assert cli("subscribers", "--json")[1] == before


def test_typed_profile_with_a_self_excluded_term_is_refused_by_every_command(cli, tmp_path):
    message = "term 'moe' is also excluded by '-MoE': no paper could match it; remove one"
    papers, profiles = files(tmp_path, **{"papers.jsonl": PAPERS,
                                          "profiles.jsonl": '{"id": 1, "profile": "rag"}\n{"id": 2, "profile": "moe, -MoE"}\n'})
    one_line_error(cli("subscribe", "ada@example.org", "-k", "moe, -MoE"), f"profile 'moe, -MoE': {message}")
    one_line_error(cli("profile", "check", "moe, -MoE", "--papers", papers), message)
    one_line_error(cli("match", "--papers", papers, "--profile", "moe, -MoE"), message)
    assert cli("subscribers", "--json")[1] == ""
    # a batch (often generated, like the stored profiles it stands for) is scored as it is
    code, out, _ = cli("match", "--papers", papers, "--profiles", profiles)
    assert code == 0 and [json.loads(line)["profile"] for line in out.splitlines()] == [1, 2]


@pytest.mark.parametrize("argv,message", [
    (["preview", "nobody\nBcc: x"], "no subscriber 'nobody\\nBcc: x' (see `notifier subscribers`)"),
    (["unsubscribe", "\x1b[2Jnobody"], "no subscriber '\\x1b[2Jnobody' (see `notifier subscribers`)"),
    (["vote", "ada@example.org", "2601.1\nx", "up"], "'2601.1\\nx' is not a paper's arXiv id (2606.01234) nor a link to one (arxiv.org, huggingface.co/papers)"),
    (["parse", "no\nfile.json"], "no\\nfile.json: cannot read: No such file or directory"),
    (["match", "--papers", "no\u202efile.jsonl", "--profile", "moe"], "no\\u202efile.jsonl: cannot read: No such file or directory"),
    (["-c", "no\nconfig.toml", "status"], "no\\nconfig.toml: no such configuration file"),
    (["subscribers", "import", "subs\n.txt"],
     "subs\\n.txt: cannot tell the format from the name; name it .csv or .jsonl, or give --format"),
], ids=["preview", "unsubscribe", "vote", "parse", "match", "config", "import"])
def test_a_control_character_in_a_quoted_value_is_escaped_and_the_error_stays_one_line(cli, argv, message):
    cli("subscribe", "ada@example.org", "-k", "moe")
    one_line_error(cli(*argv), message)


def test_a_report_of_several_bad_lines_escapes_each_and_keeps_one_a_line(cli, tmp_path):
    path = tmp_path / "subs.jsonl"
    path.write_text(json.dumps({"address": "\x1b[2J@example.org", "profiles": "x"}) + "\n{broken\n")
    code, _, err = cli("subscribers", "import", str(path))
    assert code == 1 and err.splitlines() == [
        f"notifier: error: {path}: line 1: 'U+001B[2J@example.org' is not a valid e-mail address",
        f"{path}: line 2: not valid JSON (Expecting property name enclosed in double quotes)",
        f"{path}: nothing imported (2 bad lines)"]


def test_preview_output_replaces_the_file_whole_with_the_usual_permissions(cli, tmp_path):
    import os

    cli("subscribe", "ada@example.org", "-k", "moe")
    path = tmp_path / "digest.html"
    path.write_text("EARLIER-PREVIEW\n" * 1000)
    assert cli("preview", "ada@example.org", "--format", "html", "--output", str(path))[0] == 0
    umask = os.umask(0o022)
    os.umask(umask)
    assert "EARLIER-PREVIEW" not in path.read_text() and path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert list(tmp_path.glob(".notifier-*")) == []


def test_a_run_mailing_digests_without_any_unsubscribe_link_warns_and_a_dry_run_does_not(cli, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[sources.hf_daily]\nenabled = false\n[email]\nhost = "127.0.0.1"\n')
    code, out, err = cli("--config", str(path), "run")
    assert (code, out) == (0, "no digest due\n") and "no unsubscribe link" in err and "unsubscribe_mailto" in err
    assert cli("--config", str(path), "run", "--dry-run")[2] == ""          # sends nothing: nothing to warn about


@pytest.mark.parametrize("command", ["run", "serve"])
def test_run_or_serve_without_the_smtp_password_it_logs_in_with_is_one_line_naming_the_variable(
        cli, tmp_path, monkeypatch, command):
    monkeypatch.delenv("NO_SUCH_PW", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    path = tmp_path / "c.toml"
    path.write_text('[sources.hf_daily]\nenabled = false\n[email]\nhost = "127.0.0.1"\nusername = "bot"\n'
                    'password_env = "NO_SUCH_PW"\nunsubscribe_mailto = "leave@example.org"\n')
    one_line_error(cli("--config", str(path), command), f"{path}: 'email.password_env': $NO_SUCH_PW is not set "
                   "(nor $CREDENTIALS_DIRECTORY/NO_SUCH_PW); the SMTP login as 'bot' needs it")
    if command == "serve":                                             # it would run on from here
        return
    assert cli("--config", str(path), "run", "--dry-run")[0] == 0      # sends nothing: needs no password
    monkeypatch.setenv("NO_SUCH_PW", "s3cret")
    assert cli("--config", str(path), "run") == (0, "no digest due\n", "")


def test_a_file_that_cannot_be_decoded_is_reported_unreadable_before_a_bad_line_above_the_bytes(cli, tmp_path):
    """JSON lines are read a line at a time; a file with a bad line and, further down, bytes that are
    not UTF-8 is still reported as unreadable (as when it was read whole first), not by its bad line."""
    good, = files(tmp_path, **{"good.jsonl": PAPERS})
    bad = tmp_path / "bad.jsonl"
    head = PAPERS.encode() + b"{not json\n" + PAPERS.encode()
    bad.write_bytes(head + b'{"id": "2", "title": "\xff"}\n')
    for argv in (["match", "--papers", str(bad), "--profile", "moe"], ["match", "--papers", good, "--profiles", str(bad)]):
        one_line_error(cli(*argv), f"{bad}: cannot read: 'utf-8' codec can't decode byte 0xff in position "
                                   f"{len(head) + 22}: invalid start byte")


def test_of_several_bad_json_lines_the_first_is_named(cli, tmp_path):
    papers, profiles = files(tmp_path, **{"papers.jsonl": PAPERS,
                                          "profiles.jsonl": '{"id": "a", "profile": "moe"}\n\n{"id": \n[1,]\n'})
    one_line_error(cli("match", "--papers", papers, "--profiles", profiles),
                   f"{profiles}: line 3: not valid JSON (Expecting value)")


@pytest.mark.parametrize("argv", [
    ["parse", "{missing}"],
    ["match", "--papers", "{missing}", "--profile", "moe"],
    ["profile", "check", "moe", "--papers", "{missing}"],
    ["subscribers", "import", "{missing}"],
], ids=["parse", "match", "profile_check", "import"])
def test_a_missing_file_is_worded_alike_by_every_command(cli, tmp_path, argv):
    """`parse` said "cannot read X: reason" where the others say "X: cannot read: reason"."""
    missing = tmp_path / "nowhere.jsonl"
    one_line_error(cli(*[word.format(missing=missing) for word in argv]), f"{missing}: cannot read: No such file or directory")
