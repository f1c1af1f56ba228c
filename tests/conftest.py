import os

import pytest

from notifier.config import Config
from notifier.store import Store


@pytest.fixture
def db_url(tmp_path):
    """SQLite in a temp folder, or NOTIFIER_TEST_DATABASE_URL (e.g. a PostgreSQL test database)."""
    return os.environ.get("NOTIFIER_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'notifier.sqlite'}"


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


@pytest.fixture
def config(tmp_path, db_url):
    c = Config()
    c.general.state_dir = str(tmp_path)
    c.general.outbox_dir = str(tmp_path / "outbox")
    c.database.url = db_url
    c.slack.token_env = ""
    return c
