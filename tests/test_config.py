import pytest

from notifier.config import load_config, read_secret
from notifier.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid_and_documents_every_section():
    config = load_config("config.example.toml", env={})
    assert config.email.security == "starttls" and config.sources.hf_daily.base_url == "https://huggingface.co"


@pytest.mark.parametrize("text,message", [
    ("[email]\nhots = 'x'\n", "unknown key 'email.hots' (did you mean 'host'?)"),
    ("[email]\nport = 'x'\n", "'email.port' must be int, not str"),
    ("[email]\nsecurity = 'ssl'\n", "'email.security' must be starttls, tls or none, not 'ssl'"),
    ("[schedule]\ntime = '7am'\n", "'schedule.time' must be HH:MM (24-hour), not '7am'"),
    ("[schedule]\ntimezone = 'Mars/Olympus'\n", "unknown time zone 'Mars/Olympus'"),
    ("[sources.arxiv]\ncategories = 'cs.LG'\n", "'sources.arxiv.categories' must be a list of strings"),
    ("[[subscribers]]\nemail = 'a@example.org'\n", "'subscribers[0].keywords' is required"),
    ("[[subscribers]]\nkeywords = 'x'\n", "'subscribers[0]' needs exactly one of 'email' or 'slack'"),
    ("[email\n", "not valid TOML"),
    ("[matching]\nthreshold = 'low'\n", "'matching.threshold' must be float, not str"),
], ids=["typo", "wrong_type", "security", "time", "timezone", "list", "no_keywords", "no_address", "toml",
        "threshold_type"])
def test_bad_config_is_one_line_naming_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text,message", [
    ("[matching]\nthreshold = 1.5\n",
     "'matching.threshold' must be between 0.05 and 0.95 (lower sends more papers, higher fewer), not 1.5"),
    ("[matching]\nthreshold = 0\n",
     "'matching.threshold' must be between 0.05 and 0.95 (lower sends more papers, higher fewer), not 0"),
    ("[matching]\nthreshold = nan\n",
     "'matching.threshold' must be between 0.05 and 0.95 (lower sends more papers, higher fewer), not nan"),
    ("[[subscribers]]\nemail = 'a@example.org'\nkeywords = 'x'\nthreshold = 0.01\n",
     "'subscribers[0].threshold' must be between 0.05 and 0.95 (lower sends more papers, higher fewer), not 0.01"),
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
