"""`notifier demo` as a new user runs it: no network, no config, a real outbox."""
import email
import json
import re
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
README_FOLDER = "/home/ada/digest-notifier"      # where the README's sample run was


def demo(folder):
    return subprocess.run([sys.executable, "-m", "notifier", "demo", "--dir", str(folder)],
                          capture_output=True, text=True, timeout=120)


def test_demo_delivers_matching_papers_to_the_outbox_and_nothing_twice(tmp_path):
    first = demo(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Fetched 30 papers" in first.stdout and "30 new" in first.stdout
    emls = list((tmp_path / "outbox").glob("*.eml"))
    slacks = list((tmp_path / "outbox").glob("*.json"))
    assert len(emls) == 1 and len(slacks) == 1

    msg = email.message_from_bytes(emls[0].read_bytes(), policy=policy.default)
    assert msg["To"] == "ada@example.org" and msg["Message-ID"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Speculative Decoding" in body        # VIA-SD, matches "speculative decoding"
        assert "MiniMax Sparse Attention" in body    # matches "sparse attention"
        assert "PianoKontext" not in body             # matches nothing
    slack = json.loads(slacks[0].read_text())
    payload = json.dumps(slack)
    assert "WebChallenger" in payload or "EvoBrowseComp" in payload
    assert "MiniMax Sparse Attention" not in payload

    second = demo(tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 new" in second.stdout and second.stdout.count("nothing new to deliver") == 2
    assert len(list((tmp_path / "outbox").iterdir())) == 2


def test_a_demo_that_cannot_write_its_outbox_says_so_exits_1_and_delivers_when_run_again(tmp_path, capsys):
    """A link named outbox to a folder that is gone: the deliveries wait for a retry. The demo said
    so but exited 0, and the next run told "nothing new to deliver (already sent ...)" while
    nothing had been, and sent nothing once the link was gone. (A file named outbox is refused
    before anything is done: test_a_file_named_outbox_in_the_demo_dir_is_one_line_saying_so.)"""
    from freezegun import freeze_time

    from notifier.cli import main

    (tmp_path / "outbox").symlink_to(tmp_path / "moved")
    with freeze_time("2026-06-12 08:00:00"):
        assert main(["demo", "--dir", str(tmp_path)]) == 1
    assert capsys.readouterr().out.count("-> retry: could not write to outbox") == 2
    (tmp_path / "outbox").unlink()
    with freeze_time("2026-06-12 08:00:30"):      # the demo retries after seconds, not five minutes
        assert main(["demo", "--dir", str(tmp_path)]) == 0
    second = capsys.readouterr().out
    assert "already sent" not in second and second.count("-> written to the outbox: ") == 2
    assert len(list((tmp_path / "outbox").iterdir())) == 2


def test_the_readme_shows_what_the_demo_prints(tmp_path):
    shown = re.search(r"What the demo prints, .*?:\n\n```\n(.*?)```", README.read_text(encoding="utf-8"), re.S)[1]
    printed = demo(tmp_path).stdout

    def same(text: str, folder: str) -> str:         # the folder, and the day and moment it ran, aside
        return re.sub(r"\d{4}-\d{2}-\d{2}(\.\d+\.)[0-9a-f]+(?=\.(eml|json))", r"DAY\1WHEN", text.replace(folder, "FOLDER"))
    assert same(printed, str(tmp_path.resolve())) == same(shown, README_FOLDER)


def test_a_demo_dir_that_is_a_file_or_under_one_is_one_line_saying_so(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for folder, culprit in [(tmp_path / "notes.txt", "it"), (tmp_path / "notes.txt" / "demo", tmp_path / "notes.txt")]:
        assert cli("demo", "--dir", str(folder)) == (
            1, "", f"notifier: error: --dir {folder}: {culprit} is a file, not a folder; "
                   "name a folder (a missing one is created)\n")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_file_named_outbox_in_the_demo_dir_is_one_line_saying_so(cli, tmp_path):
    """It said "[Errno 17] File exists" for each digest, after storing the papers."""
    (tmp_path / "outbox").write_text("mine")
    assert cli("demo", "--dir", str(tmp_path)) == (
        1, "", f"notifier: error: --dir {tmp_path}: {tmp_path / 'outbox'} is a file, not a folder; "
               "name a folder (a missing one is created)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox"]


@pytest.mark.parametrize("name", ["what?", "100%41 done"], ids=["question-mark", "percent"])
def test_a_demo_dir_whose_path_a_database_url_cannot_hold_is_one_line_and_makes_nothing(cli, tmp_path, name):
    """'what?' put the database in a file 'what' beside it, while the demo named what?/notifier-demo.sqlite."""
    folder = tmp_path / "demos" / name
    assert cli("demo", "--dir", str(folder)) == (
        1, "", f"notifier: error: --dir {folder}: a '?' or '%' in the path cannot go into the database URL; "
               "name another folder\n")
    assert not (tmp_path / "demos").exists()
