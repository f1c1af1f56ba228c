import json
from importlib.resources import files

import pytest

from notifier.cli import main
from notifier.config import Config
from notifier.parse import parse_text
from notifier.store import Store
from pg import BACKEND, postgres_server, postgres_url  # noqa: F401  (fixtures)

SAMPLE_DAYS = ("hf_daily_papers_api_2026-06-12.json", "hf_daily_papers_api_2026-08-03_3items.json")     # the demo's


def pytest_report_header(config):
    return f"database backend: {BACKEND} (NOTIFIER_TEST_BACKEND)"


@pytest.fixture(autouse=True)
def state_directory(tmp_path_factory, monkeypatch):
    """A command run without a configured state_dir keeps its database in a fresh temp folder (the
    lowest-priority default, systemd's STATE_DIRECTORY), never in the tester's ~/.local/state: one
    test (or another checkout's suite) can no longer leave a database there that the next one reads."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def db_url(request, tmp_path):
    """SQLite in a temp folder; with NOTIFIER_TEST_BACKEND=postgres a fresh PostgreSQL database."""
    if BACKEND == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'notifier.sqlite'}"


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


@pytest.fixture
def cli(tmp_path, db_url, monkeypatch, capsys):
    """Run `notifier ARGS...` in process on the test's database -> (exit code, stdout, stderr)."""
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", db_url)

    def run(*argv):
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture
def hf():
    """A Hugging Face stand-in on 127.0.0.1 (tests/hf_server.py)."""
    from hf_server import HFStandIn

    server = HFStandIn()
    yield server
    server.close()


@pytest.fixture
def cfg(config, hf):
    """The test config, fetching from the HF stand-in without retries or pacing."""
    config.sources.hf_daily.base_url = hf.url
    config.sources.max_attempts = 1
    config.sources.hf_daily.min_interval_seconds = 0
    return config


@pytest.fixture
def arxiv_cfg(cfg, hf):
    """arXiv cs.LG alone, its RSS listing from the stand-in (``hf.rss``), no pacing."""
    cfg.sources.hf_daily.enabled = False
    cfg.sources.arxiv.enabled, cfg.sources.arxiv.categories = True, ["cs.LG"]
    cfg.sources.arxiv.base_url, cfg.sources.arxiv.min_interval_seconds = hf.url, 0
    return cfg


@pytest.fixture
def smtp_recorder():
    """A real SMTP server (aiosmtpd) on 127.0.0.1 -> (its Recorder, its port)."""
    from aiosmtpd.controller import Controller

    from smtp_server import Recorder, free_port

    handler = Recorder()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield handler, ctl.port
    ctl.stop()


@pytest.fixture(scope="module")
def sample_papers():
    """The papers of the bundled sample days (what `notifier demo` stores)."""
    return [p for name in SAMPLE_DAYS for p in parse_text(files("notifier.samples").joinpath(name).read_text())]


@pytest.fixture(scope="module")
def samples(sample_papers, tmp_path_factory):
    """The bundled sample days as `notifier match --papers` reads them."""
    path = tmp_path_factory.mktemp("samples") / "papers.jsonl"
    path.write_text("".join(json.dumps({"id": p.arxiv_id, "title": p.title, "abstract": p.abstract}) + "\n"
                            for p in sample_papers))
    return path
