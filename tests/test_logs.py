"""Log lines as journald and a terminal get them: through our real handler (redacting filter and
key=value formatter), from real sends and fetches against local stand-ins."""
import contextlib
import io
import json
import re
import logging
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from digests import digest

from notifier.channels import Senders
from notifier.logs import event, make_handler
from slack_server import FakeSlack


@pytest.fixture
def captured():
    """Our handler on the root logger, writing to a buffer; -> (buffer, set_level)."""
    root, buf = logging.getLogger(), io.StringIO()
    handler, level = make_handler(buf, journald=True), root.level
    root.addHandler(handler)
    yield buf, root.setLevel
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])          # DEBUG: `notifier -v`
def test_webhook_url_and_token_never_reach_the_log_even_from_the_sdk_retrying(slack, captured, config, level):
    buf, set_level = captured
    set_level(level)
    hook = slack.url + "/hook/T0001/B0001/s3cretHookPart"
    slack.replies["/hook/T0001/B0001/s3cretHookPart"] = [(429, {"Retry-After": "0"}, "rate_limited")]
    slack.replies["/api/chat.postMessage"] = [(429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"})]
    config.slack.api_url, config.slack.token_env = slack.url + "/api/", "TEST_SLACK_TOKEN"
    with Senders(config, env={"TEAM_HOOK": hook, "TEST_SLACK_TOKEN": "xoxb-1111-s3cretToken"}) as senders:
        assert senders.get("slack", "webhook:TEAM_HOOK").send(digest(1, channel="slack")).state == "sent"
        assert senders.get("slack", "#papers").send(digest(1, channel="slack")).state == "sent"
    out = buf.getvalue()
    assert len(slack.hooks("/hook/T0001/B0001/s3cretHookPart")) == 2 and len(slack.posts()) == 2   # retried
    assert "Going to retry" in out or "retry handler" in out            # the SDK did log the retry ...
    assert "s3cretHookPart" not in out and "s3cretToken" not in out      # ... without the secrets
    assert "[redacted]" in out


def test_a_refused_slack_post_is_reported_once_by_the_pipeline_not_again_by_the_sdk(slack, captured, config):
    buf, set_level = captured
    set_level(logging.INFO)
    slack.replies["/api/chat.postMessage"] = [(302, {"Location": "http://slack.example.net/api/"}, "")]
    config.slack.api_url, config.slack.token_env = slack.url + "/api/", "TEST_SLACK_TOKEN"
    with Senders(config, env={"TEST_SLACK_TOKEN": "xoxb-1111-s3cretToken"}) as senders:
        result = senders.get("slack", "#papers").send(digest(1, channel="slack"))
    assert result.state == "retry" and "redirect to slack.example.net refused" in result.error
    assert "redirect to slack.example.net" not in buf.getvalue()      # the SDK's own ERROR line is dropped
    logging.getLogger("slack_sdk.web.base_client").error("Failed to parse the response body")
    assert "Failed to parse the response body" in buf.getvalue()        # its other lines still pass


def test_slack_urls_and_tokens_are_redacted_wherever_they_are_logged(captured):
    buf, set_level = captured
    set_level(logging.INFO)
    log = logging.getLogger("notifier.test")
    event(log, "delivery sent", subscriber="https://hooks.slack.com/services/T0/B0/abcdefSECRET",
          error="auth failed for xoxp-123-456-SECRET")
    log.warning("header Authorization: Bearer hf_abcdefghSECRETxyz")
    assert "SECRET" not in buf.getvalue() and buf.getvalue().count("[redacted]") == 3


class ErrorSource:
    """An HF API stand-in that answers every day with a JSON error crafted to forge a log line."""

    def __init__(self, error: str):
        body = json.dumps({"error": error}).encode()

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                ok = self.path.startswith("/api/")
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if ok else 0))
                self.end_headers()
                self.wfile.write(body if ok else b"")

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@contextlib.contextmanager
def failing_source(config, error: str):
    """``config``'s HF source is an ErrorSource answering ``error``, tried once, while in the block."""
    source = ErrorSource(error)
    config.sources.hf_daily.base_url, config.sources.max_attempts = source.url, 1
    config.sources.hf_daily.min_interval_seconds = 0
    try:
        yield source
    finally:
        source.server.shutdown()


def test_source_text_cannot_forge_a_journald_line(captured, config):
    from notifier.context import open_context
    from notifier.fetch_cycle import fetch_cycle

    buf, set_level = captured
    set_level(logging.INFO)
    with failing_source(config, "rate limited\n<2>notifier.alerts: ALERT forged\r\x1b[2K"), open_context(config) as ctx:
        [report] = fetch_cycle(ctx, days=[date(2026, 7, 1)])
    assert report.outcome == "failed" and "\n<2>" in report.error      # the source really sent it
    lines = buf.getvalue().splitlines()
    assert lines and all(line.startswith(("<3>", "<4>", "<6>")) for line in lines), lines
    assert not any("<2>" in line.split(":", 1)[0] for line in lines)
    failed = [ln for ln in lines if ln.startswith("<3>notifier.pipeline: fetch failed")]
    assert failed and '\\n<2>notifier.alerts: ALERT forged\\r\\x1b[2K' in failed[0]


KEY_VALUE_LINE = re.compile(r'<\d>[\w.]+: [^=]+( \w+=("(?:[^"\\]|\\.)*"|[^\s"]+))*')


def test_an_alert_is_one_key_value_line_with_its_text_in_a_field(captured, config):
    """An alert's text was the message ("ALERT source hf_daily ..."): the one event a log reader
    could not pick out by its message nor read as key=value. Now ``alert text="..."``."""
    from datetime import timedelta

    from notifier.alerts import raise_alerts
    from notifier.context import open_context
    from notifier.fetch_cycle import fetch_cycle

    buf, set_level = captured
    set_level(logging.INFO)
    with failing_source(config, "rate limited\n<2>forged"), open_context(config) as ctx:
        fetch_cycle(ctx, days=[date(2026, 7, 1)])
        [text] = raise_alerts(ctx, now=ctx.now() + timedelta(hours=25))
    [line] = [ln for ln in buf.getvalue().splitlines() if ln.startswith("<3>notifier.alerts:")]
    assert KEY_VALUE_LINE.fullmatch(line), line
    assert line == '<3>notifier.alerts: alert text="' + text.replace("\n", "\\n") + '"'
    assert text.startswith("source hf_daily has not been fetched successfully") and "\\n<2>forged" in line


@pytest.mark.parametrize("journald", [True, False])
def test_an_unexpected_fetch_error_is_one_key_value_line_with_its_traceback(config, journald):
    """A bug while fetching is logged like every other event: one line, key=value, the traceback
    escaped into a field (journald would otherwise cut it into lines, or drop it)."""
    import httpx

    from notifier.fetch import Fetcher
    from notifier.context import open_context
    from notifier.fetch_cycle import fetch_cycle

    def broken(request):
        raise RuntimeError("a bug\nin two lines")
    root, buf = logging.getLogger(), io.StringIO()
    handler, level = make_handler(buf, journald=journald), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with open_context(config) as ctx:
            ctx.fetcher = Fetcher.from_config(config, client=httpx.Client(transport=httpx.MockTransport(broken)))
            fetch_cycle(ctx, days=[date(2026, 7, 1)])
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    [line] = buf.getvalue().splitlines()
    line = line if journald else "<3>" + line.split(" ", 2)[2]            # time and level: "<3>" under journald
    assert KEY_VALUE_LINE.fullmatch(line), line
    assert line.startswith('<3>notifier.pipeline: fetch failed source=hf_daily day=2026-07-01 '
                           'error="unexpected RuntimeError: a bug\\nin two lines" traceback="Traceback (most recent')
    assert '\\n  File \\"' in line and line.endswith('RuntimeError: a bug\\nin two lines\\n"')


def key_value_lines(buf) -> list[str]:
    lines = buf.getvalue().splitlines()
    assert lines and all(KEY_VALUE_LINE.fullmatch(line) for line in lines), lines
    return lines


def test_fetch_retries_and_the_html_fallback_are_logged_as_key_value_events(captured, hf):
    """A source that is down: each retry and each failed way of reading the day is one event,
    its message fixed and its facts in fields (journald can then be filtered on them)."""
    from notifier.config import Config
    from notifier.fetch import Fetcher

    buf, set_level = captured
    set_level(logging.WARNING)                   # httpx's own INFO lines are off in the service too
    hf.down = True
    config = Config()
    config.sources.hf_daily.base_url, config.sources.max_attempts = hf.url, 2
    config.sources.hf_daily.min_interval_seconds = 0
    with Fetcher.from_config(config, sleep=lambda s: None, jitter=lambda lo, hi: hi) as fetcher:
        assert not fetcher.fetch_hf_day(date(2026, 7, 1)).ok
    api, page = f"{hf.url}/api/daily_papers", f"{hf.url}/papers/date/2026-07-01"
    assert key_value_lines(buf) == [
        f'<4>notifier.fetch: fetch retry url={api} attempt=1 error="HTTP 503" delay=1.0',
        f'<3>notifier.fetch: HF API failed day=2026-07-01 error="GET {api} failed after 2 attempts: HTTP 503"',
        f'<4>notifier.fetch: fetch retry url={page} attempt=1 error="HTTP 503" delay=1.0',
        f'<3>notifier.fetch: HF HTML fallback failed day=2026-07-01 error="GET {page} failed after 2 attempts: '
        'HTTP 503"']


def test_layout_drift_is_logged_as_a_key_value_event(captured):
    from pathlib import Path

    from notifier.parse import parse_text

    buf, set_level = captured
    set_level(logging.INFO)
    parse_text((Path(__file__).parent / "fixtures/hf/hf_day_page_cards_only_built.html").read_text(encoding="utf-8"))
    assert key_value_lines(buf) == [
        "<4>notifier.parse: HF page layout drift, reading <article> cards (no DailyPapers hydration data) cards=3"]


def test_the_preparing_process_dying_is_logged_as_a_key_value_event(captured, monkeypatch):
    from notifier import channels
    from notifier.channels import PreparedAhead
    from test_send_speed import build_job, made

    buf, set_level = captured
    set_level(logging.INFO)
    monkeypatch.setattr(channels, "AHEAD_CHUNK", 2)
    with PreparedAhead(build_job, made, {"suffix": "!"}, {i: (i,) for i in range(4, 10)}) as ahead:
        assert ahead.take(4) == ("message 4!", 1) and ahead.take(7) is None          # 6 ended the process
    [line] = key_value_lines(buf)
    assert line.startswith("<4>notifier.channels: preparing messages ahead stopped, preparing them in line "
                           'error="BrokenProcessPool: ')


def test_main_run_in_process_logs_through_one_handler_and_leaves_none_behind(monkeypatch, capsys, tmp_path):
    """`main()` called in process (tests, a script) left its handler on the root logger, bound to
    that run's stderr: later lines went to a closed stream ("--- Logging error --- I/O operation
    on closed file") or to the first caller's. Each run now logs to its own stderr, through one
    handler, and takes it off after."""
    import notifier.commands.status as status
    from notifier.cli import main

    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path))
    root, runs = logging.getLogger(), []

    def run(args):
        runs.append([h for h in root.handlers if getattr(h, "_notifier", False)])
        event(logging.getLogger("notifier.test"), "ran", run=len(runs))
        return 0
    monkeypatch.setattr(status, "run", run)
    before = (list(root.handlers), root.level)
    assert main(["status"]) == 0
    first = capsys.readouterr().err
    assert main(["-v", "status"]) == 0
    second = capsys.readouterr().err
    assert [len(handlers) for handlers in runs] == [1, 1]
    assert "ran run=1" in first and "ran run=2" in second and "ran run=1" not in second
    assert (list(root.handlers), root.level) == before


def test_the_smtp_password_read_for_sending_never_reaches_the_log(captured, config):
    buf, set_level = captured
    set_level(logging.INFO)
    config.email.host, config.email.username, config.email.password_env = "127.0.0.1", "bot", "TEST_SMTP_PASSWORD"
    with Senders(config, env={"TEST_SMTP_PASSWORD": "pw-Hunter2-smtp"}) as senders:
        senders.get("email", "ann@example.org")
    event(logging.getLogger("notifier.test"), "delivery failed", error="535 login as bot with pw-Hunter2-smtp refused")
    assert "Hunter2" not in buf.getvalue() and "[redacted]" in buf.getvalue()


def test_the_web_signing_keys_read_by_notifier_web_never_reach_the_log(captured, config, tmp_path):
    from notifier.web.app import create_app

    buf, set_level = captured
    set_level(logging.INFO)
    config.web.public_url = "https://papers.example.org"
    env = {config.web.secret_env: "web-key-0123456789abcdef0123456789",
           config.web.slack_signing_secret_env: "slack-sign-s3cret"}
    app = create_app(config, env=env)
    try:
        event(logging.getLogger("notifier.test"), "signature check", got=env[config.web.secret_env],
              slack=env[config.web.slack_signing_secret_env])
    finally:
        app.web.close()
    assert "web-key-0123" not in buf.getvalue() and "slack-sign-s3cret" not in buf.getvalue()
    assert buf.getvalue().count("[redacted]") == 2


def on_screen(output: str) -> list[str]:
    """The lines a terminal shows after ``output``: as much of one as rich's progress bar uses
    (carriage return, new line, erase line, cursor up; colours and cursor hiding ignored)."""
    lines, row, col = [""], 0, 0
    for token in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|.", output, re.S):
        if token in "\r\n":
            row, col = row + (token == "\n"), 0
            lines += [""] * (row + 1 - len(lines))
        elif token == "\x1b[2K":
            lines[row] = ""
        elif re.fullmatch(r"\x1b\[\d*A", token):
            row -= int(token[2:-1] or 1)
        elif not token.startswith("\x1b"):
            lines[row] = lines[row][:col].ljust(col) + token + lines[row][col + 1:]
            col += 1
    return [line.rstrip() for line in lines if line.strip()]


def read_all(terminal: int) -> str:
    """Everything written to a pty whose other end is closed: one read returns a chunk of it (once,
    only the first write, the cursor hiding); Linux answers EIO when none is left."""
    import os

    chunks = []
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:
            return b"".join(chunks).decode()
        if not chunk:
            return b"".join(chunks).decode()
        chunks.append(chunk)


def test_a_line_logged_while_a_progress_bar_runs_on_a_terminal_gets_a_line_of_its_own(monkeypatch):
    """It landed right after the bar's text ("Fetching ━━━ 0% -:--:--2026-... WARNING ..."), and
    that line stayed on the screen when the bar went."""
    import os
    import pty
    import sys

    from rich.progress import Progress

    from notifier.logs import progress_console, stderr_logging

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    root = logging.getLogger()      # a handler of ours left by another test would be used, not this one
    monkeypatch.setattr(root, "handlers", [h for h in root.handlers if not getattr(h, "_notifier", False)])
    terminal, tty = pty.openpty()
    with os.fdopen(tty, "w", buffering=1) as stderr:
        monkeypatch.setattr(sys, "stderr", stderr)
        with stderr_logging(), Progress(console=progress_console(), transient=True) as bar:
            task = bar.add_task("Fetching", total=2)
            logging.getLogger("notifier.fetch").warning("hf_daily answered 503; trying again")
            bar.advance(task)
    output = read_all(terminal)
    os.close(terminal)
    assert [re.sub(r"^\S+ ", "TIME ", line) for line in on_screen(output)] == [
        "TIME WARNING notifier.fetch: hf_daily answered 503; trying again"], repr(output)
