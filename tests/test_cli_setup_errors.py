"""Mistakes in setting up, met by a new operator's first commands: each is one line saying what
to do, with no file named that is not there ('defaults: ...') and no bare 'File exists'."""
import socket

import pytest

from test_cli import one_line_error


@pytest.fixture
def no_config(monkeypatch):
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    monkeypatch.delenv("NOTIFIER_WEB_SECRET", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)


def web(cli):
    with socket.create_server(("127.0.0.1", 0)) as taken:        # had it started, it would fail here, not serve
        return cli("web", "--listen", f"127.0.0.1:{taken.getsockname()[1]}")


def test_notifier_web_without_a_config_file_says_which_variable_to_set(cli, no_config):
    one_line_error(web(cli), "'web.secret_env': the signing key $NOTIFIER_WEB_SECRET is not set (environment or "
                             "systemd credential): `export NOTIFIER_WEB_SECRET=$(openssl rand -hex 32)`")


def test_notifier_web_without_a_config_file_says_one_is_needed_for_the_public_url(cli, no_config, monkeypatch):
    monkeypatch.setenv("NOTIFIER_WEB_SECRET", "s" * 32)
    one_line_error(web(cli), "'web.public_url' is not set: every link the pages mail starts with it, e.g. "
                             "\"https://papers.example.org\" (\"http://127.0.0.1:8080\" to try them on this machine); "
                             "no configuration file is read: -c FILE or $NOTIFIER_CONFIG names one "
                             "(config.example.toml documents every key)")


def test_notifier_web_with_a_config_file_names_its_line(cli, no_config, tmp_path):
    """With a file, the key's place in it, and the same command."""
    config = tmp_path / "notifier.toml"
    config.write_text('[general]\ncontact = "ops@example.org"\n\n[web]\nsecret_env = "WEB_KEY"\n')
    code, _, err = web(lambda *a: cli("-c", str(config), *a))
    assert (code, err) == (1, f"notifier: error: {config}: line 5: 'web.secret_env': the signing key $WEB_KEY is not "
                              "set (environment or systemd credential): `export WEB_KEY=$(openssl rand -hex 32)`\n")


@pytest.mark.parametrize("below", ["", "sub/folder"], ids=["the_folder", "a_folder_above"])
def test_a_state_folder_that_is_a_file_is_named_as_such(cli, tmp_path, monkeypatch, below):
    in_the_way = tmp_path / "state"
    in_the_way.write_text("")
    monkeypatch.delenv("NOTIFIER_DATABASE_URL")
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(in_the_way / below))
    one_line_error(cli("subscribers"), f"{in_the_way} is a file, not a folder: the database "
                                       f"{in_the_way / below / 'notifier.sqlite'} cannot be kept there")
