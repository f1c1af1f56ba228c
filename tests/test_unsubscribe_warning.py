"""The warning that email digests go out without an unsubscribe link (config.unsubscribe_missing):
said by a timer's `run` once a day, by one typed in a terminal every time."""
from freezegun import freeze_time


def test_a_timer_run_warns_of_the_missing_unsubscribe_link_once_a_day_and_a_run_in_a_terminal_every_time(
        cli, tmp_path, monkeypatch):
    """Every 15 minutes the timer's run logged the same WARNING: 96 lines a day in journald. Now the
    first run of the (UTC) day says it; one typed in a terminal (rich's test: TTY_COMPATIBLE=1
    stands in for one) always does, as the operator is there to read it."""
    path = tmp_path / "c.toml"
    path.write_text('[sources.hf_daily]\nenabled = false\n[email]\nhost = "127.0.0.1"\n')
    monkeypatch.delenv("CI", raising=False)
    warned = []
    for moment in ("07-01 07:00", "07-01 07:15", "07-01 23:45", "07-02 00:00", "07-02 00:15"):
        with freeze_time(f"2026-{moment}"):
            warned.append("no unsubscribe link" in cli("--config", str(path), "run")[2])
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    with freeze_time("2026-07-02 00:30"):
        in_terminal = ["no unsubscribe link" in cli("--config", str(path), "run")[2] for _ in range(2)]
    assert warned == [True, False, False, True, False] and in_terminal == [True, True]
