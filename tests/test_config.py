import json
import re
from pathlib import Path

import pytest

from notifier.config import load_config, read_secret
from notifier.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_shows_the_range_of_every_bounded_key_on_its_line():
    """Its header says numbers must be 'within the range shown as [low-high]'."""
    from notifier.config import BOUNDS

    section, lines = "", {}
    for line in (Path(__file__).parents[1] / "config.example.toml").read_text(encoding="utf-8").splitlines():
        header = re.match(r"\[([\w.]+)\]", line)
        section = header[1] if header else section
        key = re.match(r"#? ?(\w+) *=", line)
        if key and not header:
            lines.setdefault(f"{section}.{key[1]}", line)
    for key, (low, high) in BOUNDS.items():
        assert f"[{low}-{high}]" in lines[key], key


def settings(table, prefix=""):
    """(dotted name, value) of every setting of a config dataclass, its tables read through."""
    from dataclasses import fields, is_dataclass

    for f in fields(table):
        value = getattr(table, f.name)
        if is_dataclass(value):
            yield from settings(value, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, value


def test_example_config_documents_every_key_a_file_may_set():
    """The README says every key is documented there: [[subscribers]]' `name` was not."""
    from dataclasses import fields

    from notifier.config import Config, SubscriberSpec

    keys = [name.rstrip("_") for name, _ in settings(Config()) if name not in ("path", "subscribers")]
    text = (Path(__file__).parents[1] / "config.example.toml").read_text(encoding="utf-8")
    wanted = [*keys, *(f"subscribers.{f.name}" for f in fields(SubscriberSpec))]
    assert [k for k in wanted if not re.search(rf"^#? ?{k.rsplit('.', 1)[-1]} *=", text, re.M)] == []


def test_example_config_is_valid_and_documents_every_section():
    config = load_config("config.example.toml", env={})
    assert config.email.security == "starttls" and config.sources.hf_daily.base_url == "https://huggingface.co"


@pytest.mark.parametrize("text,message", [
    ("[email]\nhots = 'x'\n", "unknown key 'email.hots' (did you mean 'host'?)"),
    ("[email]\nport = 'x'\n", "'email.port' must be a whole number, not 'x'"),
    ("[general]\nretention_days = 30.5\n", "'general.retention_days' must be a whole number, not 30.5"),
    ("[general]\nsend_empty = 'yes'\n", "'general.send_empty' must be true or false, not 'yes'"),
    ("[schedule]\ntime = 07:00:00\n", "'schedule.time' must be a string in quotes, not 07:00:00"),
    ("[general]\ncontact = true\n", "'general.contact' must be a string in quotes, not true"),
    ("[email]\nsecurity = 'ssl'\n", "'email.security' must be starttls, tls or none, not 'ssl'"),
    ("[schedule]\ntime = '7am'\n", "'schedule.time' must be HH:MM (24-hour), not '7am'"),
    ("[schedule]\ntimezone = 'Mars/Olympus'\n", "unknown time zone 'Mars/Olympus'"),
    ("[sources.arxiv]\ncategories = 'cs.LG'\n", "'sources.arxiv.categories' must be a list of strings"),
    ("[[subscribers]]\nemail = 'a@example.org'\n", "'subscribers[0].keywords' is required"),
    ("[[subscribers]]\nkeywords = 'x'\n", "'subscribers[0]' needs exactly one of 'email' or 'slack'"),
    ("[email\n", "not valid TOML"),
    ("[matching]\nthreshold = 'low'\n", "'matching.threshold' must be a number, not 'low'"),
], ids=["typo", "wrong_type", "fraction_for_whole_number", "string_for_bool", "toml_time", "bool_for_string", "security", "time", "timezone", "list", "no_keywords", "no_address", "toml",
        "threshold_type"])
def test_bad_config_is_one_line_naming_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)



@pytest.mark.parametrize("text,message", [
    ("[general]\ncontact = 'a@example.org'\n\n# how long\nretention_days = '90'\n",
     "line 5: 'general.retention_days' must be a whole number, not '90'"),
    ('[general]\ncontact = """\n[email]\nport = 1\n"""\nretention_days = 1.5\n',
     "line 6: 'general.retention_days' must be a whole number, not 1.5"),
    ('[sources.arxiv]\ncategories = [\n  "cs.LG",  # [web]\n  "cs.CL",\n]\nenable = true\n',
     "line 6: unknown key 'sources.arxiv.enable' (did you mean 'enabled'?)"),
    ("[sources]\nhf_daily.max_catchup_days = 'x'\n", "line 2: 'sources.hf_daily.max_catchup_days' must be a whole number"),
    ("[general]\ncontact = ''\nemail = { host = 'smtp.example.org', port = 'x' }\n",
     "line 3: unknown key 'general.email'"),
    ("\nemail = { host = 'smtp.example.org', port = 'x' }\n", "line 2: 'email.port' must be a whole number, not 'x'"),
    ('[ "schedule" ]\ntime = 7\n', "line 2: 'schedule.time' must be a string in quotes, not 7"),
    ("[[subscribers]]\nemail = 'a@example.org'\nkeywords = 'x'\n[[subscribers]]\nemail = 'b@example.org'\n"
     "keywords = 'y'\nmax_items = 'ten'\n", "line 7: 'subscribers[1].max_items' must be a whole number, not 'ten'"),
], ids=["after_blank_and_comment", "after_multiline_string", "after_multiline_array", "dotted_key", "misplaced_table",
        "inline_table", "quoted_header", "second_subscriber"])
def test_a_wrong_value_or_unknown_key_names_the_line_it_is_on(tmp_path, text, message):
    """tomllib gives no lines: the line is found in the text, past strings and arrays that span lines."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value).startswith(f"{path}: {message}")

def test_a_file_saved_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes("\ufeff[general]\ncontact = 'zoë@example.org'\n".encode("utf-8"))
    assert load_config(path, env={}).general.contact == "zoë@example.org"


SUBSCRIBER = "[[subscribers]]\nemail = 'a@example.org'\nkeywords = 'x'\n"


@pytest.mark.parametrize("key,hint", [
    ("thresold", "did you mean 'threshold'?"),
    ("frequncy", "did you mean 'frequency'?"),
    ("zone", "did you mean 'timezone'?"),
    ("Email", "did you mean 'email'?"),
    ("active", "known keys: email, frequency, keywords, max_items, name, profiles, slack, threshold, time, timezone"),
    ("tz", "known keys: email, frequency, keywords, max_items, name, profiles, slack, threshold, time, timezone"),
], ids=["typo", "typo2", "part", "case", "no_close_key", "too_short"])
def test_an_unknown_subscriber_key_is_answered_with_a_close_key_or_the_known_ones(tmp_path, key, hint):
    path = write(tmp_path, SUBSCRIBER + f"{key} = 'x'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == f"{path}: line 4: unknown key 'subscribers[0].{key}' ({hint})"


@pytest.mark.parametrize("text,message", [
    ("[sources.hf_daily]\nmax_attempts = 2\n", "line 2: unknown key 'sources.hf_daily.max_attempts' (it is a key of [sources])"),
    ("[sources]\nenabled = true\n", "line 2: unknown key 'sources.enabled' (it is a key of [sources.hf_daily], [sources.arxiv])"),
    ("[web]\nport = 8080\n", "line 2: unknown key 'web.port' (known keys: confirm_hours, forwarded_allow_ips, "
     "limit_per_address, limit_per_client, link_days, listen, max_body_bytes, public_url, secret_env, "
     "slack_signing_secret_env, slack_targets)"),
    ("contact = 'ops@example.org'\n[general]\n", "line 1: unknown key 'contact' (it is a key of [general])"),
    ("timeout_seconds = 30\n", "line 1: unknown key 'timeout_seconds' (it is a key of [sources], [email])"),
    ("genral = 1\n", "line 1: unknown key 'genral' (did you mean 'general'?)"),
], ids=["parent", "children", "unrelated_table_not_offered", "above_every_header", "above_every_header_two_homes",
        "top_level_typo"])
def test_a_key_put_in_a_table_above_or_below_its_own_is_answered_with_where_it_belongs(tmp_path, text, message):
    """A key typed above every header (`contact = ...` on line 1) was answered with the names of all tables."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == f"{path}: {message}"


@pytest.mark.parametrize("text,message", [
    ("[matching]\nthreshold = 1.5\n",
     "line 2: 'matching.threshold' must be between 0.05 and 0.95 (lower sends more papers, higher fewer), not 1.5"),
    ("[matching]\nthreshold = 0\n",
     "line 2: 'matching.threshold' must be between 0.05 and 0.95 (lower sends more papers, higher fewer), not 0"),
    ("[matching]\nthreshold = nan\n",
     "line 2: 'matching.threshold' must be between 0.05 and 0.95 (lower sends more papers, higher fewer), not nan"),
    ("[[subscribers]]\nemail = 'a@example.org'\nkeywords = 'x'\nthreshold = 0.01\n",
     "line 4: subscribers[0] (a@example.org): threshold must be between 0.05 and 0.95 (lower sends more papers, "
     "higher fewer), not 0.01"),
], ids=["above", "zero", "nan", "subscriber"])
def test_out_of_range_threshold_is_refused_at_load_in_one_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == f"{path}: {message}"


def test_threshold_is_unset_by_default_and_read_from_matching_and_subscribers(tmp_path):
    assert load_config(None, env={}).matching.threshold is None
    path = write(tmp_path, "[matching]\nthreshold = 0.25\n"
                           "[[subscribers]]\nemail = 'a@example.org'\nkeywords = 'x'\nthreshold = 0.7\n"
                           "[[subscribers]]\nemail = 'b@example.org'\nkeywords = 'y'\n")
    config = load_config(path, env={})
    assert config.matching.threshold == 0.25
    assert [s.threshold for s in config.subscribers] == [0.7, None]


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml: no such configuration file"):
        load_config(tmp_path / "nope.toml", env={})


def test_a_missing_file_named_by_the_environment_says_so(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.toml: no such configuration file \(named by \$NOTIFIER_CONFIG\)"):
        load_config(None, env={"NOTIFIER_CONFIG": str(tmp_path / "nope.toml")})


def test_environment_overrides_database_and_state_dir(tmp_path):
    config = load_config(None, env={"NOTIFIER_DATABASE_URL": "sqlite:///x.db", "NOTIFIER_STATE_DIR": str(tmp_path)})
    assert config.database_url == "sqlite:///x.db" and config.state_dir == tmp_path


def test_state_dir_defaults_to_systemd_state_directory():
    assert str(load_config(None, env={"STATE_DIRECTORY": "/var/lib/notifier"}).state_dir) == "/var/lib/notifier"


def test_secret_comes_from_env_then_systemd_credentials(tmp_path):
    (tmp_path / "SMTP_PW").write_text("from-credential\n")
    assert read_secret("SMTP_PW", env={"SMTP_PW": "from-env"}) == "from-env"
    assert read_secret("SMTP_PW", env={"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "from-credential"
    assert read_secret("SMTP_PW", env={}) is None


def test_config_command_redacts_database_password(tmp_path, capsys):
    from notifier.cli import main

    path = write(tmp_path, "[database]\nurl = 'postgresql://notifier:s3cret@db/notifier'\n")
    assert main(["--config", str(path), "config"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out and "notifier:***@db" in out


def test_config_command_warns_in_one_form_of_the_missing_secret_and_unsubscribe_link_run_and_serve_would(tmp_path, capsys,
                                                                                                 monkeypatch):
    from notifier.cli import main

    monkeypatch.delenv("NOTIFIER_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    path = write(tmp_path, "[email]\nhost = 'smtp.example.org'\nusername = 'ada'\n")
    assert main(["--config", str(path), "config"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["email"]["host"] == "smtp.example.org"
    assert err.splitlines()[1] == (             # after the line naming the file read
        f"notifier: warning: {path}: 'email.password_env': $NOTIFIER_SMTP_PASSWORD is not set (nor "
        "$CREDENTIALS_DIRECTORY/NOTIFIER_SMTP_PASSWORD); the SMTP login as 'ada' needs it; `notifier run` and "
        "`notifier serve` refuse to start without it here")
    assert err.splitlines()[2] == (             # in the same form: it was a log line, time stamp and all
        "notifier: warning: email digests go out without an unsubscribe link: set [web] public_url and "
        "NOTIFIER_WEB_SECRET (one-click links, which Gmail and Yahoo ask of bulk senders) or [email] unsubscribe_mailto")


@pytest.mark.parametrize("token", ["", "xoxb-1"], ids=["no_token", "token"])
def test_config_command_warns_that_slack_digests_go_to_the_outbox_folder_without_a_token(tmp_path, capsys,
                                                                                         monkeypatch, token):
    """With SMTP set up and the Slack token only in the service's credentials (or nowhere), `run`
    reported Slack digests "sent": they were files in the outbox folder."""
    from notifier.cli import main

    monkeypatch.setenv("NOTIFIER_SLACK_TOKEN", token)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    path = write(tmp_path, f"[general]\noutbox_dir = '{tmp_path / 'out'}'\n[email]\nhost = 'smtp.example.org'\n"
                           "unsubscribe_mailto = 'leave@example.org'\n")
    assert main(["--config", str(path), "config"]) == 0
    assert capsys.readouterr().err.splitlines()[1:] == ([] if token else [
        "notifier: warning: $NOTIFIER_SLACK_TOKEN is not set here (nor $CREDENTIALS_DIRECTORY/NOTIFIER_SLACK_TOKEN): "
        f"digests to Slack channels and users are written to {tmp_path / 'out'} instead (webhook: subscribers need "
        "no token)"])


@pytest.mark.parametrize("text,message", [
    ("[general]\nretention_days = -1\n", "'general.retention_days' must be between 1 and 36500, not -1"),
    ("[general]\nretention_days = 0\n", "'general.retention_days' must be between 1 and 36500, not 0"),
    ("[matching]\nmax_items = 1000000000000\n", "'matching.max_items' must be between 1 and 100, not 1000000000000"),
    ("[matching]\nupvote_weight = nan\n", "'matching.upvote_weight' must be between 0 and 5, not nan"),
    ("[sources.hf_daily]\nmin_interval_seconds = inf\n",
     "'sources.hf_daily.min_interval_seconds' must be between 0 and 60, not inf"),
    ("[sources]\ntimeout_seconds = 0\n", "'sources.timeout_seconds' must be between 1 and 600, not 0"),
    ("[sources]\nmax_attempts = 0\n", "'sources.max_attempts' must be between 1 and 20, not 0"),
    ("[email]\ntimeout_seconds = -5\n", "'email.timeout_seconds' must be between 1 and 600, not -5"),
    ("[delivery]\nmax_attempts = -1\n", "'delivery.max_attempts' must be between 1 and 100, not -1"),
    ("[delivery]\nretry_base_seconds = 0\n", "'delivery.retry_base_seconds' must be between 1 and 86400, not 0"),
    ("[alerts]\nsource_failure_hours = 0\n", "'alerts.source_failure_hours' must be between 1 and 720, not 0"),
], ids=["retention_negative", "retention_zero", "max_items_huge", "upvote_nan", "interval_inf", "timeout_zero",
        "attempts_zero", "email_timeout_negative", "delivery_attempts", "retry_base", "alert_hours"])
def test_numbers_out_of_their_range_are_refused_naming_file_line_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == f"{path}: line 2: {message}"


def test_the_default_threshold_shown_is_the_one_the_matcher_uses():
    from notifier.config import DEFAULT_THRESHOLD
    from notifier.match import RELATIVE_THRESHOLD

    assert DEFAULT_THRESHOLD == RELATIVE_THRESHOLD      # `notifier subscribers` prints it without loading the matcher


def test_every_numeric_key_has_a_declared_range():
    from notifier.config import BOUNDS, Config

    numeric = {name for name, value in settings(Config())
               if isinstance(value, (int, float)) and not isinstance(value, bool)}
    assert numeric | {"matching.threshold"} == set(BOUNDS)


@pytest.mark.parametrize("url", ["mysql://x", "notaurl", "sqlite://relative.sqlite", "postgresql+pg8000://db/notifier",
                                 "postgresql://db", "sqlite:///"])
def test_unsupported_database_url_is_refused_at_load(tmp_path, url):
    path = write(tmp_path, f"[database]\nurl = '{url}'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == (f"{path}: line 2: 'database.url' must be sqlite:///PATH (three slashes, then the file; "
                              f"sqlite:////abs/path) or postgresql+psycopg://USER@HOST/DATABASE, not '{url}'")


def test_database_url_from_the_environment_is_checked_too_and_its_password_hidden():
    with pytest.raises(ConfigError) as err:
        load_config(None, env={"NOTIFIER_DATABASE_URL": "mysql://me:hunter2@db/x"})
    assert str(err.value).startswith("NOTIFIER_DATABASE_URL must be sqlite:///PATH")
    assert "hunter2" not in str(err.value) and "'mysql://me:***@db/x'" in str(err.value)


@pytest.mark.parametrize("url", ["sqlite:///relative.sqlite", "sqlite:////var/lib/notifier/n.sqlite",
                                 "postgresql+psycopg://notifier@localhost/notifier",
                                 "postgresql+psycopg://u:p@db:5432/notifier?sslmode=require",
                                 "postgresql://notifier@db/notifier", "postgresql+psycopg:///notifier?host=/run/postgresql"])
def test_supported_database_urls_are_accepted(tmp_path, url):
    assert load_config(write(tmp_path, f"[database]\nurl = '{url}'\n"), env={}).database_url == url


@pytest.mark.parametrize("text,shown", [("subscribers = 5\n", "5"), ("[subscribers]\nemail = 'a@example.org'\n", "a table")],
                         ids=["number", "one_bracket_table"])
def test_subscribers_that_is_not_a_list_of_tables_is_one_line(tmp_path, text, shown):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == f"{path}: line 1: 'subscribers' must be a list of [[subscribers]] tables, not {shown}"


@pytest.mark.parametrize("text,message", [
    ("[general]\ncontact.address = 'a@example.org'\n", "'general.contact' must be a string in quotes, not a table"),
    ("[[general]]\ncontact = 'a@example.org'\n", "'general' must be a table, not a list"),
    ("[email]\nport = [587]\n", "'email.port' must be a whole number, not a list"),
], ids=["dotted_key_for_a_value", "array_of_tables", "list_for_a_number"])
def test_a_table_or_list_where_a_value_belongs_is_named_in_tomls_words(tmp_path, text, message):
    """They were shown as Python wrote them: "not {'address': 'a@example.org'}", "not dict"."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value).endswith(f": {message}")


def test_config_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes("[general]\ncontact = 'Jos\u00e9'\n".encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == f"{path}: not UTF-8 text (byte 0xe9 at offset 24); save it as UTF-8"


ADA = "[[subscribers]]\nemail = 'a@example.org'\nkeywords = 'x'\n"


@pytest.mark.parametrize("text,message", [
    ("[schedule]\ntimezone = 'utc'\n", "line 2: 'schedule.timezone': unknown time zone 'utc': did you mean Etc/UTC or UTC?"),
    ("[schedule]\ntimezone = 'Berlin'\n", "line 2: 'schedule.timezone': unknown time zone 'Berlin': did you mean Europe/Berlin?"),
    ("[[subscribers]]\nemail = 'a@example.org'\nkeywords = 'x'\ntimezone = 'new york'\n",
     "line 4: subscribers[0] (a@example.org): timezone: unknown time zone 'new york': did you mean America/New_York?"),
    ("[schedule]\ntimezone = 'Europe/Berln'\n",
     "line 2: 'schedule.timezone': unknown time zone 'Europe/Berln': did you mean Europe/Berlin?"),
    ("[schedule]\ntimezone = 'GMT+2'\n",
     "line 2: 'schedule.timezone': unknown time zone 'GMT+2' (use an IANA name such as Europe/Berlin)"),
    ("[schedule]\ntimezone = 'CEST'\n",
     "line 2: 'schedule.timezone': unknown time zone 'CEST' (use an IANA name such as Europe/Berlin)"),
], ids=["schedule_lower_case", "schedule_city", "subscriber_city", "misspelt", "offset_not_etc_of_the_other_sign",
        "abbreviation_not_a_near_one"])
def test_a_time_zone_in_other_capitals_or_a_city_is_answered_with_the_zone_meant(tmp_path, text, message):
    """'utc' got "use an IANA name such as Europe/Berlin", as if UTC were not one; 'Europe/Berln' got
    no zone, and 'GMT+2' got Etc/GMT+2, which is UTC-2."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == f"{path}: {message}"


def test_a_subscriber_entry_holds_several_profiles_as_repeated_keywords_do(cli, tmp_path):
    """`keywords` held one profile, where `notifier subscribe` takes --keywords again for each."""
    path = write(tmp_path, "[[subscribers]]\nemail = 'ada@example.org'\nprofiles = ['kv cache, MoE', 'mamba']\n"
                           "[[subscribers]]\nemail = 'bob@example.org'\nkeywords = 'diffusion'\n")
    code, out, _ = cli("--config", str(path), "subscribers", "--json")
    assert code == 0 and [json.loads(line)["profiles"] for line in out.splitlines()] == [
        ["kv cache, MoE", "mamba"], ["diffusion"]]


@pytest.mark.parametrize("entry,message", [
    ("email = 'b@example.org'\nkeywords = 'x'\nprofiles = ['y']",
     "line 4: 'subscribers[1]' has both 'keywords' and 'profiles': put every profile in 'profiles'"),
    ("email = 'b@example.org'\nprofiles = ['  ']", "line 4: 'subscribers[1].keywords' is required (or 'profiles', a list of several)"),
    ("email = 'b@example.org'\nprofiles = 'x'", "line 6: 'subscribers[1].profiles' must be a list of strings, e.g. "
     "['kv cache, MoE', 'mamba']: one profile goes in 'keywords'"),
    ("email = 'b@example.org'\nkeywords = ['x', 'y']", "line 6: 'subscribers[1].keywords' must be a string in quotes, "
     "not a list: several profiles go in 'profiles'"),
    ("email = 'b@example.org'\nprofiles = ['x', 'y,,z']", "line 6: subscribers[1] (b@example.org): profile 'y,,z': empty term after 'y': remove the extra comma"),
], ids=["both", "blank", "not_a_list", "keywords_a_list", "bad_profile"])
def test_a_subscriber_entry_with_profiles_wrongly_is_one_line_naming_it(tmp_path, entry, message):
    path = write(tmp_path, ADA + "[[subscribers]]\n" + entry + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == f"{path}: {message}"


@pytest.mark.parametrize("entry,message", [
    ("email = 'ada@example'\nkeywords = 'x'", "line 5: subscribers[1] (ada@example): 'ada@example' is not a valid e-mail address"),
    ("slack = 'general'\nkeywords = 'x'", "line 5: subscribers[1] (general): 'general' is neither an e-mail address nor a Slack target (#channel, "
     "channel id C…, user id U… or @U…, https://hooks.slack.com/… or webhook:ENV_NAME)"),
    ("email = '#papers'\nkeywords = 'x'", "line 5: subscribers[1] (#papers): '#papers' is not an e-mail address"),
    ("email = 'b@example.org'\nkeywords = 'x,,y'", "line 6: subscribers[1] (b@example.org): profile 'x,,y': empty term after 'x': remove the extra comma"),
    ("email = 'b@example.org'\nkeywords = 'x'\ntime = '7:5'",
     "line 7: subscribers[1] (b@example.org): time '7:5' must be HH:MM (24-hour)"),
    ("email = 'b@example.org'\nkeywords = 'x'\ntimezone = 'Mars/Olympus'", "line 7: subscribers[1] (b@example.org): timezone: unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin)"),
    ("email = 'b@example.org'\nkeywords = 'x'\nfrequency = 'weekly:monkey'",
     "line 7: subscribers[1] (b@example.org): frequency 'weekly:monkey' must be daily, weekly or weekly:DAY (mon..sun)"),
    ("email = 'b@example.org'\nkeywords = 'x'\nmax_items = 500", "line 7: subscribers[1] (b@example.org): max_items 500 must be between 1 and 100"),
    ("email = 'b@example.org'\nkeywords = 'x'\nmax_items = 0", "line 7: subscribers[1] (b@example.org): max_items 0 must be between 1 and 100"),
    ("email = 'A@Example.org'\nkeywords = 'y'", "line 5: subscribers[1] (A@Example.org): the same subscriber as subscribers[0]"),
], ids=["email", "slack", "email_key_with_slack_target", "profile", "time", "timezone", "frequency", "max_items",
        "max_items_zero", "same_person"])
def test_bad_subscriber_entry_is_refused_at_load_naming_the_line_of_the_key_refused_and_the_entry(tmp_path, entry, message):
    path = write(tmp_path, ADA + "[[subscribers]]\n" + entry + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == f"{path}: {message}"


# Values that used to pass the load (and fail later, at the first fetch, send or alert) or to stop it
# with a traceback or a message broken over two lines: each is now one line naming the file and key.
@pytest.mark.parametrize("text,message", [
    ('[schedule]\ntime = "07:00\\n"\n', "'schedule.time' must be HH:MM (24-hour), not '07:00\\n'"),
    ('[schedule]\ntime = "0\u0667:00"\n', "'schedule.time' must be HH:MM (24-hour), not '0\u0667:00'"),
    ('[schedule]\ntimezone = "UTC\\n"\n', "'schedule.timezone': unknown time zone 'UTC\\n'"),
    (f'[schedule]\ntimezone = "{"A" * 300}"\n', f"'schedule.timezone': unknown time zone '{'A' * 300}'"),
    ('[sources.hf_daily]\nbase_url = "http://"\n', "'sources.hf_daily.base_url' must be an http(s) URL, not 'http://'"),
    ('[sources.arxiv]\nbase_url = "https://a b"\n', "'sources.arxiv.base_url' must be an http(s) URL, not 'https://a b'"),
    ('[sources.arxiv]\napi_url = "export.arxiv.org/api/query"\n',
     "'sources.arxiv.api_url' must be an http(s) URL, not 'export.arxiv.org/api/query'"),
    ('[slack]\napi_url = "https://slack.com:99999/api/"\n',
     "'slack.api_url' must be an http(s) URL, not 'https://slack.com:99999/api/'"),
    ('[web]\npublic_url = "https://papers.example.org\\n"\n',
     "'web.public_url' must be an http(s) URL without query, not 'https://papers.example.org\\n'"),
    ('[web]\nlisten = "127.0.0.1:\u00b2"\n', "'web.listen' must be host:port, e.g. 127.0.0.1:8080, not '127.0.0.1:\u00b2'"),
    ('[web]\nlisten = "127.0.0.1:99999"\n', "'web.listen' port 99999 is out of range: use 1 to 65535"),
    ('[database]\nurl = "sqlite:///x.sqlite\\n"\n', "'database.url' must be sqlite:///PATH"),
    ('[email]\nfrom = "papers@example.org\\r\\nBcc: all@example.org"\n', "'email.from' must be an address"),
    ('[email]\nfrom = "Papers"\n', "'email.from' must be an address, e.g. \"Digests <papers@example.org>\", not 'Papers'"),
    ('[email]\nhost = "smtp example.org"\n', "'email.host' must be a host name, not 'smtp example.org'"),
    ('[general]\ncontact = "ops@example.org\\nX-Evil: 1"\n',
     "'general.contact' must be an e-mail address or an http(s) URL (it is sent in the User-Agent header, so that "
     "the sources' operators can reach you), not 'ops@example.org\\nX-Evil: 1'"),
    ('[general]\ncontact = "ops at example.org"\n',
     "'general.contact' must be an e-mail address or an http(s) URL (it is sent in the User-Agent header, so that "
     "the sources' operators can reach you), not 'ops at example.org'"),
    ('[delivery]\nunknown_policy = "drop"\n', "'delivery.unknown_policy' must be resend or hold, not 'drop'"),
    ('[email]\nunsubscribe_mailto = "unsubscribe"\n', "'email.unsubscribe_mailto' must be an e-mail address, not 'unsubscribe'"),
    ('[alerts]\nemail = "ops"\n', "'alerts.email' must be an e-mail address, not 'ops'"),
    ('[alerts]\nslack = "ops channel"\n', "'alerts.slack' must be a Slack target (#channel, C…, U…), not 'ops channel'"),
    ('[alerts]\nslack = "Ops"\n', "'alerts.slack' must be a Slack target (#channel, C…, U…), not 'Ops': did you mean '#ops'?"),
    ('[web]\nslack_targets = ["#ml-papers", "ml papers"]\n',
     "'web.slack_targets' must be a Slack target (#channel, C…, U…), not 'ml papers'"),
    ('[sources.arxiv]\ncategories = ["cs.LG", "machine learning"]\n',
     "'sources.arxiv.categories': 'machine learning' is no arXiv category: use arXiv's names, e.g. cs.LG or hep-th"),
    ('[sources.arxiv]\ncategories = ["cs.lg"]\n', "'sources.arxiv.categories': 'cs.lg' is no arXiv category: did you mean cs.LG?"),
    ('[sources.arxiv]\ncategories = ["cs.LG+cs.ai"]\n',
     "'sources.arxiv.categories': 'cs.ai' is no arXiv category: did you mean cs.AI?"),
    ('[sources.arxiv]\ncategories = ["hepth"]\n', "'sources.arxiv.categories': 'hepth' is no arXiv category: did you mean hep-th?"),
    ('[sources.arxiv]\ncategories = ["cs.XY"]\n',
     "'sources.arxiv.categories': 'cs.XY' is no arXiv category: use arXiv's names, e.g. cs.LG or hep-th"),
    ('[sources.arxiv]\nenabled = true\ncategories = []\n',
     "'sources.arxiv.categories' is empty while [sources.arxiv] is enabled"),
    ('[general]\ntemplate_dir = "no-such-templates"\n', "'general.template_dir' names no folder: 'no-such-templates'"),
    ('[email]\nca_file = "no-such-ca.pem"\n', "'email.ca_file' names no file: 'no-such-ca.pem'"),
    ('[[subscribers]]\nemail = "a@example.org\\nBcc: b@example.org"\nkeywords = "x"\n',
     "subscribers[0] (a@example.org Bcc: b@example.org): address must be a single line"),
    ('[[subscribers]]\nemail = "a@example.org"\nkeywords = "x"\ntime = "07:30\\n"\n',
     "subscribers[0] (a@example.org): time '07:30\\n' must be HH:MM (24-hour)"),
    ('[email]\npassword_env = "SMTP PASSWORD"\n',
     "'email.password_env' must name an environment variable or credential (letters, digits, _ . -), not 'SMTP PASSWORD'"),
    ('[sources.hf_daily]\ntoken_env = "../../etc/hf-token"\n',
     "'sources.hf_daily.token_env' must name an environment variable or credential (letters, digits, _ . -), "
     "not '../../etc/hf-token'"),
], ids=["time_newline", "time_other_digits", "timezone_newline", "timezone_too_long", "url_no_host", "url_space",
        "api_url_no_scheme", "api_url_port", "public_url_newline", "listen_port_digit", "listen_port_out_of_range",
        "database_url_newline",
        "from_header_injection", "from_no_address", "smtp_host_space", "contact_newline", "contact_no_address", "unknown_policy",
        "mailto", "alerts_email", "alerts_slack", "alerts_slack_no_hash",
        "slack_targets", "arxiv_category", "arxiv_category_case", "arxiv_category_typo_after_plus",
        "arxiv_category_typo", "arxiv_no_such_category", "arxiv_no_category", "template_dir", "ca_file", "subscriber_address_newline",
        "subscriber_time_newline", "secret_name_space", "secret_name_path"])
def test_bad_values_are_refused_at_load_in_one_line_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", [
    '[sources.arxiv]\nenabled = true\ncategories = ["cs.LG", "hep-th", "astro-ph.CO", "cs.LG+cs.AI"]\n',
    '[email]\nfrom = "notifier@localhost"\nca_file = "ca.pem"\nunsubscribe_mailto = "unsubscribe@example.org"\n',
    '[alerts]\nemail = "ops@example.org"\nslack = "#ops"\n[web]\nslack_targets = ["#ml-papers", "C0123456789"]\n',
    '[web]\nlisten = "[::1]:8080"\npublic_url = "http://127.0.0.1:8080/notifier"\n[slack]\napi_url = "http://127.0.0.1:9000/api/"\n',
    '[general]\ntemplate_dir = "."\n',
    '[email]\npassword_env = "smtp.password"\n[slack]\ntoken_env = "slack-bot-token"\n[web]\nsecret_env = ""\n',
    '[general]\ncontact = "ops@example.org"\n[sources.arxiv]\ncategories = ["cs", "physics.optics", "cond-mat.str-el"]\n',
    '[general]\ncontact = "https://papers.example.org/contact"\n',
], ids=["categories", "email", "targets", "urls", "template_dir", "credential_names", "contact_email_and_archives",
        "contact_url"])
def test_good_values_still_load(tmp_path, text, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ca.pem").write_text("-")
    load_config(write(tmp_path, text), env={})


def test_credential_that_is_not_utf8_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "SMTP_PW").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError) as err:
        read_secret("SMTP_PW", env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert str(err.value) == f"{tmp_path / 'SMTP_PW'}: cannot read the credential SMTP_PW: not UTF-8 text"


def test_web_slack_targets_accepts_users_as_the_readme_documents(tmp_path):
    """README: `[web] slack_targets` lists the Slack targets visitors may subscribe ("users"
    allows any user id); the web form honours it, so the config must load with it."""
    config = load_config(write(tmp_path, '[web]\nslack_targets = ["#ml-papers", "users"]\n'), env={})
    assert config.web.slack_targets == ["#ml-papers", "users"]


def test_a_slack_channel_named_in_capitals_in_the_config_is_the_channel_in_lower_case(tmp_path):
    """`[alerts] slack = "#Ops"` was refused as "must be a Slack target", while a subscriber's
    `#Ops` is the channel #ops (Slack's channel names are lower case)."""
    config = load_config(write(tmp_path, '[alerts]\nslack = "#Ops"\n[web]\nslack_targets = ["#ML-Papers", "users"]\n'),
                         env={})
    assert config.alerts.slack == "#ops" and config.web.slack_targets == ["#ml-papers", "users"]


def test_a_schedule_time_without_its_leading_zero_is_read_as_a_subscribers_is(tmp_path):
    """`[schedule] time = "7:30"` was refused as "must be HH:MM", while `subscribe --time 7:30`
    and a [[subscribers]] time "7:30" are 07:30."""
    assert load_config(write(tmp_path, '[schedule]\ntime = "7:30"\n'), env={}).schedule.time == "07:30"


def test_notifier_config_shows_the_sender_under_the_key_the_file_uses(tmp_path):
    """`notifier config` showed "from_" (the Python field), a key the file refuses."""
    from notifier.config import redacted

    shown = redacted(load_config(write(tmp_path, '[email]\nfrom = "Digests <papers@example.org>"\n'), env={}))
    assert shown["email"]["from"] == "Digests <papers@example.org>" and "from_" not in shown["email"]
    assert list(shown["email"])[:6] == ["host", "port", "security", "username", "password_env", "from"]


def test_notifier_config_shows_only_keys_a_file_has_and_says_apart_which_file_it_read(cli, tmp_path):
    """It showed "path": "c.toml" among the tables, a key the file refuses ('unknown key 'path'')."""
    from dataclasses import fields

    from notifier.config import Config

    path = write(tmp_path, "[matching]\nmax_items = 5\n")
    code, out, err = cli("--config", str(path), "config")
    assert code == 0 and set(json.loads(out)) == {f.name for f in fields(Config)} - {"path"}
    assert err == f"notifier: read from {path} (the defaults for every key it does not set)\n"
    assert cli("config")[2] == "notifier: the built-in defaults (no --config, no $NOTIFIER_CONFIG)\n"


SMTP = '[email]\nhost = "smtp.example.org"\nfrom = "digest@example.org"\n'


@pytest.mark.parametrize("text, env, warned", [
    (SMTP, {}, True),
    (SMTP + 'unsubscribe_mailto = "leave@example.org"\n', {}, False),
    (SMTP + '[web]\npublic_url = "https://digest.example.org"\n', {"NOTIFIER_WEB_SECRET": "k" * 32}, False),
    (SMTP + '[web]\npublic_url = "https://digest.example.org"\n', {}, True),      # no key: no links are signed
    ('[general]\nsend_empty = true\n', {}, False),                                  # no SMTP: the outbox
    (SMTP + 'unsubscribe_mailto = "leave@example.org"\n[web]\npublic_url = "http://digest.example.org"\n',
     {"NOTIFIER_WEB_SECRET": "k" * 32}, "no one-click unsubscribe"),             # RFC 8058 needs https
], ids=["smtp-alone", "mailto", "one-click-links", "public-url-without-key", "outbox", "http-links"])
def test_digests_mailed_without_any_unsubscribe_link_or_one_click_are_warned_about_once(tmp_path, caplog, text,
                                                                                       env, warned):
    from notifier.config import warn_unsubscribe_missing

    path = tmp_path / "config.toml"
    path.write_text(text)
    assert warn_unsubscribe_missing(load_config(path, env=env), env=env) == bool(warned)
    expected = [warned if isinstance(warned, str) else "no unsubscribe link"] if warned else []
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == expected
